"""Periodic cubic test lattices (sc, bcc, fcc) with sublattice signs for antiferromagnets."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_BASIS = {
    "sc": np.array([[0.0, 0.0, 0.0]]),
    "bcc": np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]]),
    "fcc": np.array([[0.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]]),
}


@dataclass
class Lattice:
    """positions [n, 3] A, cell [3, 3] A, pbc [3], staggered [n] +-1 (sc: (-1)^(x+y+z);
    bcc: the two simple-cubic sublattices; fcc: alternating (001) planes, AFM1 order)."""

    kind: str
    L: int
    a: float
    positions: np.ndarray
    cell: np.ndarray
    pbc: np.ndarray
    staggered: np.ndarray

    @property
    def n_sites(self) -> int:
        return len(self.positions)


def cubic_lattice(kind: str, L: int, a: float = 1.0) -> Lattice:
    """L x L x L conventional cubic cells of lattice constant a (A), periodic."""
    if kind not in _BASIS:
        raise ValueError(f"unknown lattice {kind!r}; choose from {sorted(_BASIS)}")
    if int(L) < 1:
        raise ValueError("L must be >= 1")
    if not (np.isfinite(a) and a > 0):
        raise ValueError("lattice constant must be positive")
    L = int(L)
    basis = _BASIS[kind]
    grid = np.stack(np.meshgrid(np.arange(L), np.arange(L), np.arange(L), indexing="ij"), -1)
    grid = grid.reshape(-1, 3)
    frac = (grid[:, None, :] + basis[None, :, :]).reshape(-1, 3)  # [n, 3] in units of a
    if kind == "sc":
        stag = (-1.0) ** grid.sum(axis=1)
    elif kind == "bcc":
        stag = np.tile([1.0, -1.0], len(grid))
    else:
        stag = (-1.0) ** np.round(2 * frac[:, 2]).astype(int)
    return Lattice(kind, L, float(a), frac * a, np.eye(3) * L * a, np.ones(3, bool),
                   stag.astype(float))
