"""Periodic cubic test lattices (sc, bcc, fcc) with sublattice signs for antiferromagnets."""
from __future__ import annotations

import itertools

from dataclasses import dataclass

import numpy as np

from mmace_fast.materials import MATERIALS
from mmace_fast.structure import Structure

_BASIS = {
    "sc": np.array([[0.0, 0.0, 0.0]]),
    "bcc": np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]]),
    "fcc": np.array([[0.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]]),
}


@dataclass
class Lattice(Structure):
    """A classical spin lattice: a :class:`mmace_fast.structure.Structure` (positions [n, 3] A,
    cell [3, 3] A, pbc [3]) whose sites carry no element (numbers [n] = 0), with staggered [n]
    +-1 (sc: (-1)^(x+y+z); bcc: the two simple-cubic sublattices; fcc: alternating (001)
    planes, AFM1 order)."""

    kind: str
    L: int
    a: float
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
    return Lattice(frac * a, np.eye(3) * L * a, np.ones(3, bool), np.zeros(len(frac), int),
                   kind=kind, L=L, a=float(a), staggered=stag.astype(float))


# --- the project's materials ------------------------------------------------------------------

#: prototype -> (magnetic species (atomic numbers), order patterns worth scanning), for every
#: material of the registry (mmace_fast.materials) that has a Monte Carlo lattice
MATERIAL_ORDERS = {m.prototype: (m.magnetic, m.mc_orders) for m in MATERIALS.values()
                   if m.mc_orders}


@dataclass
class MaterialLattice(Structure):
    """L x L x L conventional cells of a material prototype (mmace_fast.prototypes), or of a
    user's cell: a :class:`mmace_fast.structure.Structure` (positions [n, 3] A, cell [3, 3] A,
    pbc [3], numbers [n]) with magnetic [n] bool (sites carrying a moment: Fe, Cr) and signs
    {order: [n] +-1 on magnetic sites, 0 elsewhere} (the sublattice signs of each order
    pattern, for the staggered order parameter).
    """

    prototype: str
    L: int
    a: float
    magnetic: np.ndarray
    signs: dict
    incommensurate: tuple = ()     #: orders whose period does not fit this supercell
    #: False for a user's cell (mmace_fast.materials.UnitCell): its orders are sign lists, not
    #: functions of position, and have no symmetry-equivalent domains to add
    patterned: bool = True

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


    def domain_patterns(self, order: str) -> np.ndarray:
        """The symmetry-equivalent domains of ``order``: [D, n] sign patterns (+-1 on magnetic
        sites, 0 elsewhere), row 0 the pattern itself.

        The cubic point group (48 operations about a magnetic site) and the translations of
        the magnetic sublattice map the pattern onto its domains (AFM1 on fcc: layering along
        x, y or z; AFM3: three wavevectors of the star of (1, 1/2, 0), each with two phases).
        Patterns equal up to a global sign count once; the rest are checked to be mutually
        orthogonal, so that the staggered vectors Ms_d = sum_i s_d,i m_i / n of an ordered
        state in any one domain have sum_d |Ms_d|^2 = |m|^2, and the norm over d is the order
        parameter whatever domain the chain orders into. A single-pattern parameter sees one
        domain only: a chain ordered in another reads as disordered, which on small CrN
        lattices (L = 6, 2026-12-07) produced spurious first-order dips of U4."""
        from mmace_fast.prototypes import PATTERNS  # noqa: PLC0415

        if order not in self.signs:
            raise ValueError(f"order {order!r} has no sign pattern on this lattice (known: "
                             f"{sorted(self.signs)}; incommensurate: {list(self.incommensurate)})")
        base = self.signs[order]
        if not self.patterned:
            return base[None, :].copy()
        mag = np.flatnonzero(self.magnetic)
        u = self.positions[mag] / self.a                           # [n_mag, 3] units of a
        u0 = u[0]
        in_cell = u[np.all((u - u0 > -1e-9) & (u - u0 < 1 - 1e-9), axis=1)]
        shifts = np.unique(np.round(np.vstack([in_cell - u0, np.eye(3)]), 9), axis=0)
        pattern = PATTERNS[order]
        found = {}
        for perm in itertools.permutations(range(3)):
            for flips in itertools.product((1.0, -1.0), repeat=3):
                v = (u - u0)[:, perm] * np.asarray(flips) + u0
                for t in shifts:
                    s = np.array([pattern(x) for x in v + t], dtype=float)
                    s *= np.sign(s[np.flatnonzero(s)[0]])            # canonical global sign
                    found.setdefault(s.tobytes(), s)
        own = base[mag] * np.sign(base[mag][np.flatnonzero(base[mag])[0]])
        rest = sorted((s for k, s in found.items() if k != own.tobytes()),
                      key=lambda s: tuple(s))
        rows = np.array([base[mag]] + rest)
        gram = rows @ rows.T
        if not np.allclose(gram, len(mag) * np.eye(len(rows))):
            raise ValueError(f"the domains of {order} on {self.prototype} are not mutually "
                             "orthogonal sign patterns: the order parameter needs a basis "
                             "of their span instead")
        out = np.zeros((len(rows), self.n_sites))
        out[:, mag] = rows
        return out


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
    return MaterialLattice(atoms.positions.copy(), np.array(atoms.cell), np.ones(3, bool),
                           atoms.numbers.copy(), prototype=prototype, L=L, a=float(a),
                           magnetic=magnetic, signs=signs, incommensurate=tuple(bad))


def lattice_of(material, L: int) -> MaterialLattice:
    """Periodic L^3 supercell of a material (a registry key or a
    :class:`mmace_fast.materials.Material`): the prototype's lattice for the shipped materials
    (:func:`material_lattice`), L x L x L repeats of the user's cell with its sign patterns
    otherwise."""
    from mmace_fast.materials import resolve  # noqa: PLC0415

    m = resolve(material)
    if m.cell is None:
        return material_lattice(m.prototype, L, m.a)
    if int(L) < 1:
        raise ValueError("L must be >= 1")
    L = int(L)
    atoms = m.cell.atoms().repeat((L, L, L))
    magnetic = np.isin(atoms.numbers, m.magnetic)
    signs = {"FM": np.where(magnetic, 1.0, 0.0)}
    for name, s in m.order_signs:       # ase's repeat lists the copies of the cell one by one
        signs[name] = np.tile(np.asarray(s, dtype=float), L ** 3)
    return MaterialLattice(atoms.positions.copy(), np.array(atoms.cell), np.ones(3, bool),
                           atoms.numbers.copy(), prototype=f"user:{m.key}", L=L, a=m.a,
                           magnetic=magnetic, signs=signs, patterned=False)
