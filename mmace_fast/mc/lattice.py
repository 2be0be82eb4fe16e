"""Periodic cubic test lattices (sc, bcc, fcc) with sublattice signs for antiferromagnets."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmace_fast.materials import MATERIALS

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


# --- the project's materials ------------------------------------------------------------------

#: prototype -> (magnetic species (atomic numbers), order patterns worth scanning), for every
#: material of the registry (mmace_fast.materials) that has a Monte Carlo lattice
MATERIAL_ORDERS = {m.prototype: (m.magnetic, m.mc_orders) for m in MATERIALS.values()
                   if m.mc_orders}


@dataclass
class MaterialLattice:
    """L x L x L conventional cells of a material prototype (mmace_fast.prototypes).

    positions [n, 3] A, cell [3, 3] A, pbc [3], numbers [n], magnetic [n] bool (sites carrying
    a moment: Fe, Cr), signs {order: [n] +-1 on magnetic sites, 0 elsewhere} (the sublattice
    signs of each order pattern, for the staggered order parameter).
    """

    prototype: str
    L: int
    a: float
    positions: np.ndarray
    cell: np.ndarray
    pbc: np.ndarray
    numbers: np.ndarray
    magnetic: np.ndarray
    signs: dict
    incommensurate: tuple = ()     #: orders whose period does not fit this supercell

    @property
    def n_sites(self) -> int:
        return len(self.positions)

    def moments(self, order: str, length: float) -> np.ndarray:
        """Collinear moments [n, 3] muB along z in the given order, 0 on non-magnetic sites."""
        if order in self.incommensurate:
            raise ValueError(f"order {order} is not periodic on the {self.L}^3 supercell of "
                             f"{self.prototype} (its magnetic cell needs another L, e.g. even)")
        if order not in self.signs:
            raise ValueError(f"unknown order {order!r} for {self.prototype}; "
                             f"choose from {sorted(self.signs)}")
        m = np.zeros((self.n_sites, 3))
        m[:, 2] = length * self.signs[order]
        return m


def material_lattice(prototype: str, L: int, a: float) -> MaterialLattice:
    """Periodic L^3 supercell of the conventional cell of ``prototype`` at lattice constant a."""
    from mmace_fast.prototypes import PATTERNS, conventional_cell  # noqa: PLC0415  (ase)

    if prototype not in MATERIAL_ORDERS:
        raise ValueError(f"unknown prototype {prototype!r}; choose from {sorted(MATERIAL_ORDERS)}")
    if int(L) < 1:
        raise ValueError("L must be >= 1")
    if not (np.isfinite(a) and a > 0):
        raise ValueError("lattice constant must be positive")
    L = int(L)
    atoms = conventional_cell(prototype, float(a)).repeat((L, L, L))
    mag_species, orders = MATERIAL_ORDERS[prototype]
    magnetic = np.isin(atoms.numbers, mag_species)
    u = atoms.positions / a                                    # [n, 3] in units of a
    signs, bad = {}, []
    for order in orders:
        s = np.array([PATTERNS[order](ui) for ui in u], dtype=float)
        # the pattern must repeat with the supercell: same sign one supercell vector away
        periodic = all(np.array_equal(s, [PATTERNS[order](ui + L * e) for ui in u])
                       for e in np.eye(3))
        if periodic:
            signs[order] = np.where(magnetic, s, 0.0)
        else:
            bad.append(order)
    return MaterialLattice(prototype, L, float(a), atoms.positions.copy(),
                           np.array(atoms.cell), np.ones(3, bool), atoms.numbers.copy(),
                           magnetic, signs, tuple(bad))
