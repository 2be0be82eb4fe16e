"""A committee of frozen mMACE models as one Monte Carlo Hamiltonian: the chain samples the
committee mean E = (1/K) sum_k E_k, and every member's energy is known along it.

    from mmace_fast.models import load_frozen_committee
    ham = CommitteeMMACEHamiltonian(load_frozen_committee("fe"), positions, cell, pbc, numbers)
    mc = MonteCarlo(ham, spins, temperature=900.0)

The members share one neighbour list (one pass over the geometry); each keeps its own
incremental evaluator (src_cpp/include/mmace/mean_hamiltonian.hpp), so a trial costs about K
single-member trials (``committee_mc_cost_ratio`` in benchmarks/bench_uncertainty.py measures
it). What a committee chain is for: the members' energies on the mean's samples
(``member_energies``) reweight them to each member where the distributions overlap, instead of
one chain per member. No torch.
"""
from __future__ import annotations

import hashlib

import numpy as np

from mmace_fast import _core
from mmace_fast.mc.hamiltonian import CoreHamiltonian
from mmace_fast.mc.mmace_hamiltonian import FrozenMMACEHamiltonian


class CommitteeMMACEHamiltonian(CoreHamiltonian):
    """The mean of K frozen models (a :class:`mmace_fast.export.committee.FrozenCommittee` or
    a list of FrozenModels / paths, all with the same cutoff and species) on one structure:
    positions [n, 3] A, cell [3, 3] A, pbc [3], numbers [n]; ``kw`` as
    :class:`FrozenMMACEHamiltonian` (bond_tol, moments)."""

    def __init__(self, committee, positions, cell, pbc, numbers, **kw):
        models = list(getattr(committee, "members", committee))
        if not models:
            raise ValueError("a committee needs at least one member")
        first = FrozenMMACEHamiltonian(models[0], positions, cell, pbc, numbers, **kw)
        cuts = {first.model.r_cut}
        self.members = [first]
        for m in models[1:]:
            h = FrozenMMACEHamiltonian(m, positions, cell, pbc, numbers,
                                       edges=first.edges, **kw)
            cuts.add(h.model.r_cut)
            self.members.append(h)
        if len(cuts) != 1:
            raise ValueError(f"committee members differ in cutoff ({sorted(cuts)} A): they "
                             "cannot share one neighbour list")
        self.n_sites = first.n_sites
        self.core = _core.MeanHamiltonianCore([h.core for h in self.members])

    @classmethod
    def from_arrays(cls, committee, positions, cell, pbc, numbers, **kw):
        return cls(committee, positions, cell, pbc, numbers, **kw)

    def member_energies(self, spins) -> np.ndarray:
        """Each member's total energy [K] eV at moments [n, 3] muB."""
        self.core.set_spins(spins)
        return self.core.member_energies()

    def content_hash(self) -> str:
        """sha256 over the members' (model, geometry) identities, in order."""
        h = hashlib.sha256(b"CommitteeMMACEHamiltonian")
        for m in self.members:
            h.update(m.content_hash().encode())
        return h.hexdigest()
