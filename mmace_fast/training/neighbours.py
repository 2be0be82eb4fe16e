"""Neighbour list used by the training statistics.

TODO(neighbours): switch to ``mmace_fast.neighbours.neighbour_list`` (the project's C++ list)
once that module exists; this wrapper already prefers it and falls back to ASE with the same
semantics: full list (i->j and j->i), no self pair at zero shift, self-images included when the
cutoff exceeds the cell, r_ij = positions[j] - positions[i] + shifts @ cell.
"""
from __future__ import annotations

import numpy as np


def neighbour_list(positions, cell, pbc, cutoff: float):
    """(i int64 [P], j int64 [P], shifts int64 [P, 3]) for all pairs closer than ``cutoff`` A."""
    try:
        from mmace_fast.neighbours import neighbour_list as _nl
    except ImportError:
        _nl = None
    if _nl is not None:
        return _nl(positions, cell, pbc, cutoff)
    from ase.neighborlist import primitive_neighbor_list
    i, j, s = primitive_neighbor_list("ijS", np.asarray(pbc, bool), np.asarray(cell, float),
                                      np.asarray(positions, float), float(cutoff),
                                      self_interaction=False)
    return i.astype(np.int64), j.astype(np.int64), s.astype(np.int64)
