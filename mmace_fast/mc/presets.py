"""Literature spin models used as embedded defaults and physics tests.

bcc Fe, Pajda et al., PRB 64, 174402 (2001), cond-mat/0007441: LSDA exchange constants in the
"each pair twice" convention H = -sum_{i != j} J_ij e_i.e_j with unit vectors e, in mRy, for the
shells listed in shared/references.md (shell vectors in units of a; values flagged [verify] there:
only their first two digits are relied on). Converted here to the project convention (pairs once,
eV, unit vectors): J_once = 2 J_twice.
"""
from __future__ import annotations

import numpy as np

from mmace_fast import conventions as cv
from mmace_fast.materials import get as get_material
from mmace_fast.mc.hamiltonian import SpinHamiltonian
from mmace_fast.mc.lattice import Lattice, cubic_lattice

FE_A = get_material("fe").a              #: A, bcc Fe lattice constant (experiment, the DFT one)
FE_TC_EXP = get_material("fe").t_exp     #: K
PAJDA_SHELLS = np.array([[0.5, 0.5, 0.5], [1, 0, 0], [1, 1, 0], [1.5, 0.5, 0.5], [1, 1, 1],
                         [2, 0, 0], [1.5, 1.5, 0.5], [2, 1, 1]])        #: units of a
PAJDA_J_MRY = np.array([1.432, 0.815, -0.016, -0.126, -0.146, 0.062, 0.001, 0.015])  #: pair twice


def pajda_fe_exchange_ev() -> np.ndarray:
    """Pajda's 8 shells in the project convention: pair-once J in eV (unit vectors)."""
    return cv.mry_to_ev(cv.pair_twice_to_once(PAJDA_J_MRY))


def pajda_bcc_fe(L: int, a: float = FE_A) -> tuple[SpinHamiltonian, Lattice]:
    """Classical Heisenberg model of bcc Fe (unit spins) on L^3 conventional cells."""
    lat = cubic_lattice("bcc", L, a)
    dist = np.linalg.norm(PAJDA_SHELLS, axis=1) * a
    ham = SpinHamiltonian.from_distances(lat.positions, lat.cell, lat.pbc, dist,
                                         pajda_fe_exchange_ev(), tol=1e-3 * a)
    return ham, lat


def mean_field_tc(J_once, counts) -> float:
    """Mean-field Tc (K) of a classical Heisenberg FM with unit spins: kTc = sum_k z_k J_k / 3."""
    return float(np.dot(counts, J_once) / 3.0 / cv.KB_EV_PER_K)
