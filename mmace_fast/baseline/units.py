"""Exchange-constant conventions for reporting fitted constants against the literature.

The project convention (:mod:`mmace_fast.conventions`): H = -sum_{pairs once} J m_i.m_j, J > 0
ferromagnetic, J in eV/muB^2 when it multiplies moment vectors. Literature constants (Pajda et
al. PRB 64, 174402) use unit vectors e_i and count each pair twice,
H = -sum_{i != j} J_ij e_i.e_j. Two steps connect them:

1. moment vectors -> unit vectors:  J_unit = J * M_i * M_j   (eV; M = moment length, muB)
2. pair once -> pair twice:         J_twice = J_once / 2     (conventions.pair_once_to_twice)

and the energy unit (eV -> meV -> mRy).
"""
from __future__ import annotations

import numpy as np

from mmace_fast import conventions as cv


class ConventionError(ValueError):
    """Unknown convention or unit name."""


UNITS = {"eV": 1.0, "meV": 1e-3, "mRy": cv.MRY_IN_EV}   #: value in eV of 1 unit
COUNTING = ("once", "twice")


def to_unit_vectors(j_ev_per_mub2, m_i, m_j):
    """J for moment vectors (eV/muB^2) -> J for unit vectors (eV): J * M_i * M_j (M in muB)."""
    return np.asarray(j_ev_per_mub2, dtype=float) * np.asarray(m_i, float) * np.asarray(m_j, float)


def from_unit_vectors(j_unit_ev, m_i, m_j):
    """Inverse of :func:`to_unit_vectors`."""
    return np.asarray(j_unit_ev, dtype=float) / (np.asarray(m_i, float) * np.asarray(m_j, float))


def convert_exchange(j, *, src_unit: str = "eV", src_count: str = "once",
                     dst_unit: str = "eV", dst_count: str = "once"):
    """Convert exchange constants between energy units (eV, meV, mRy) and pair counting
    (``once``: the project's H = -sum_{i<j} J; ``twice``: H = -sum_{i != j} J)."""
    for u in (src_unit, dst_unit):
        if u not in UNITS:
            raise ConventionError(f"unknown energy unit {u!r}; choose from {sorted(UNITS)}")
    for c in (src_count, dst_count):
        if c not in COUNTING:
            raise ConventionError(f"unknown pair counting {c!r}; choose 'once' or 'twice'")
    j_ev = np.asarray(j, dtype=float) * UNITS[src_unit]
    if src_count == "twice":
        j_ev = cv.pair_twice_to_once(j_ev)
    if dst_count == "twice":
        j_ev = cv.pair_once_to_twice(j_ev)
    return j_ev / UNITS[dst_unit]


def literature_forms(j_once_ev) -> dict:
    """The three reporting forms of pair-once eV constants: once meV, twice meV, twice mRy."""
    return {
        "once_meV": convert_exchange(j_once_ev, dst_unit="meV"),
        "twice_meV": convert_exchange(j_once_ev, dst_unit="meV", dst_count="twice"),
        "twice_mRy": convert_exchange(j_once_ev, dst_unit="mRy", dst_count="twice"),
    }
