"""GPAW spin-DFT reference-data generator (optional: needs GPAW, see DATA.md).

settings         the protocol settings per material (shared/dft_protocol.md), as data
structures       configuration specs, builders and the deterministic manifest
runner           one calculation in one process -> one extended-XYZ frame
noncollinear     constrained non-collinear LDA runs and their labels (penalty, magnetic forces)
spirals          flat spin spirals (energy-only test set)
queue            the resumable queue, outcome checks, collection into data/<material>.extxyz.gz
pipeline         the background run over all materials, cheapest work first
fdcheck          finite-difference check of forces against the free-energy label
nc_validate      finite-difference validation of the non-collinear labels
spiral_validate  q = 0 / q = H checks of the spiral code path
kpt_convergence  k-point convergence of magnetic energy differences
cli              ``python -m mmace_fast.data.dft run|collect|fdcheck|pipeline|summary|manifest``
"""
