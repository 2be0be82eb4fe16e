"""GPAW spin-DFT reference-data generator (optional: needs GPAW, see DATA.md).

settings    the protocol settings per material (shared/dft_protocol.md), as data
structures  configuration specs, builders and the deterministic manifest
runner      one calculation in one process -> one extended-XYZ frame
queue       the resumable queue, outcome checks, collection into data/<material>.extxyz.gz
fdcheck     finite-difference check of forces against the free-energy label
cli         ``python -m mmace_fast.data.dft run|collect|fdcheck|manifest``
"""
