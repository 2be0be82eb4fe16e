"""The frozen mMACE as a Monte Carlo Hamiltonian (fixed geometry, moments as the variables).

    from mmace_fast.export import FrozenModel
    from mmace_fast.mc.engine import MonteCarlo
    from mmace_fast.mc.mmace_hamiltonian import FrozenMMACEHamiltonian
    ham = FrozenMMACEHamiltonian.from_atoms("fe.mmace", atoms)      # or a FrozenModel
    mc = MonteCarlo(ham, spins, temperature=800.0, move="gaussian", p_longitudinal=0.3)

The energy of a trial move comes from the C++ incremental evaluator
(src_cpp/include/mmace/evaluator.hpp): exact (equal to the difference of two full evaluations
to rounding), with a cost independent of the number of atoms. The model depends on |m|, so
``variable_length`` is True and longitudinal moves are allowed; with the engine's moves the chain
samples exp(-E/kT) d^3m (:data:`mmace_fast.conventions.MEASURE`). No torch is imported.
Magnetic forces -dE/dm (``effective_field``, and ``core.field_at`` at other moments, what spin
dynamics calls) come from one reverse-mode pass through the evaluator's cached features
(src_cpp/src/evaluator_gradient.cpp; equal to torch's autograd to rounding).
"""
from __future__ import annotations

import hashlib
import logging
import os

import numpy as np

from mmace_fast import _core
from mmace_fast.export.frozen import FrozenModel
from mmace_fast.mc.hamiltonian import CoreHamiltonian

log = logging.getLogger(__name__)


def _as_model(model) -> FrozenModel:
    if isinstance(model, FrozenModel):
        return model
    if isinstance(model, (str, os.PathLike)):
        return FrozenModel.load(model)
    raise TypeError(f"expected a FrozenModel or a path to a frozen-model file, got {type(model)}")


class FrozenMMACEHamiltonian(CoreHamiltonian):
    """Frozen mMACE on a fixed structure for :class:`mmace_fast.mc.engine.MonteCarlo`.

    model: FrozenModel or path; positions [n, 3] A; cell [3, 3] A; pbc [3]; numbers [n].
    bond_tol (A): bonds equal to this tolerance share their geometry caches (exact for a
    perfect lattice up to the rounding of the positions; 0 disables sharing).
    cache_edge_weights: keep the edge weights of layers >= 2 instead of recomputing them (exact
    either way; off by default: on one core recomputing them is as fast as reading them back
    from memory, and they take P * C * 8 bytes per edge, 208 kB per atom for the bcc-Fe
    reference model).
    moments [n, 3] muB: initial moments (the MonteCarlo driver sets its own).
    edges: (i, j, shifts) of the model's neighbour list of this structure, if already known.
    """

    def __init__(self, model, positions, cell, pbc, numbers, bond_tol: float = 1e-9,
                 cache_edge_weights: bool = False,
                 moments=None, edges=None):
        self.model = _as_model(model)
        # without moments the zeros are placeholders: the MonteCarlo driver sets its own
        st = self.model.structure(positions=positions, cell=cell, pbc=pbc, numbers=numbers,
                                  magmoms=moments, nonmagnetic=moments is None)
        self.positions, self.cell, self.pbc = st.positions, st.cell, st.pbc
        self.numbers = st.numbers
        self.bond_tol = float(bond_tol)
        # (i, j, shifts) of the model's neighbour list; a committee passes its first member's
        # (the same cutoff and structure: one neighbour search for all members)
        self.edges = self.model.edges(self.positions, self.cell, self.pbc) if edges is None \
            else edges
        i, j, s = self.edges
        self.core = _core.FrozenMMACECore(self.model.core, self.positions, self.cell,
                                          self.numbers, i, j, s, st.magmoms, self.bond_tol,
                                          bool(cache_edge_weights))
        self.n_sites = len(self.positions)
        #: reasons why this structure lies outside the model's training domain ([] = inside
        #: or no domain recorded); the first such structure per model logs a warning
        self.extrapolation = self.model.watch(self.positions, self.cell, self.pbc,
                                              self.numbers, st.magmoms)
        mem = self.memory()
        log.info("frozen mMACE Hamiltonian: %d sites, %d edges, %d distinct bonds, caches "
                 "%.1f kB/atom", self.n_sites, self.core.n_edges, self.core.n_bonds,
                 mem["per_atom"] / 1024)

    @classmethod
    def from_atoms(cls, model, atoms, moments=None, use_magmoms: bool = True,
                   **kw) -> "FrozenMMACEHamiltonian":
        """From an ASE Atoms. Starting moments: ``moments`` [n, 3] muB if given, else the
        atoms' initial magnetic moments (collinear ones along z) unless ``use_magmoms`` is
        False (then zero)."""
        if moments is None and use_magmoms:
            moments = atoms.get_initial_magnetic_moments()
        return cls(model, atoms.get_positions(), atoms.cell[:], atoms.pbc,
                   atoms.get_atomic_numbers(), moments=moments, **kw)

    @classmethod
    def from_arrays(cls, model, positions, cell, pbc, numbers, **kw) -> "FrozenMMACEHamiltonian":
        return cls(model, positions, cell, pbc, numbers, **kw)

    # -- evaluation: energy, site_energies, delta_energy, effective_field (CoreHamiltonian)

    def memory(self) -> dict:
        """Cache sizes in bytes (geometry, nodes, scratch, total, per_atom)."""
        mem = self.core.memory()
        mem["total"] = sum(mem.values())
        mem["per_atom"] = mem["total"] / self.n_sites
        return mem

    def geometry_hash(self) -> str:
        h = hashlib.sha256(b"FrozenMMACEHamiltonian/geometry")
        for arr in (self.positions, self.cell, self.pbc.astype(np.int64), self.numbers):
            h.update(np.ascontiguousarray(arr).tobytes())
        h.update(repr(self.bond_tol).encode())
        return h.hexdigest()

    def content_hash(self) -> str:
        """sha256 of (model file identity, geometry): identifies the Hamiltonian in checkpoints."""
        return hashlib.sha256(f"{self.model.sha256}:{self.geometry_hash()}".encode()).hexdigest()
