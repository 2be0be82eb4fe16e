"""Neighbour shells per species pair, found on a reference lattice and assigned in any frame.

A shell of the species pair (Za, Zb) (Za <= Zb) is one distinct Za-Zb distance of the
reference structure. Pairs of another frame (a strained and rattled supercell of the
reference) are assigned in one of two ways:

1. ideal sites (default, :meth:`ShellTable.assign_ideal`): the frame cell is written as an
   integer supercell of the reference cell times a deformation, C = (N C_ref) F^T (N the rounded
   integer matrix); positions are undeformed with F^-T and every atom is mapped to its nearest
   reference lattice site. A bond's shell is the shell of its ideal (undeformed, unrattled)
   bond vector, so strain and rattle never move a bond into a neighbouring shell. Used when
   the Green-Lagrange strain of F stays below 0.1 in every component and every atom lies
   within 30 % of the shortest reference distance of its site;
2. distance bins (fallback, :meth:`ShellTable.assign`): the distance divided by the frame's
   length scale s = (v / v_ref)^(1/3) (v = volume per atom) lies in [edge_{k-1}, edge_k), the
   edges being the midpoints between consecutive reference distances (edge_{-1} = 0).

Pairs beyond the last requested shell are not assigned.

Parent-lattice shells (``parent=True``): the distances of a pair are those of the reference's
site lattice with species ignored, so a pair that the ordered reference never has at some
distance still gets a shell there (Fe-Fe nearest neighbours of an Fe antisite in B2 FeAl). Such
a shell has zero counts on the reference: its coupling enters antisite and off-stoichiometric
frames only and drops out of a Monte Carlo run on the ordered lattice.

Bond directions (for Dzyaloshinskii-Moriya classes): a pair is oriented from the atom of species
Za to the atom of species Zb; for Za == Zb the orientation whose first non-zero component is
positive is canonical. The canonical reference directions of each shell are stored and a bond of
a frame gets the index of the nearest one.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from mmace_fast.baseline.geometry import BaselineInputError, Neighbours, Structure, neighbours

log = logging.getLogger(__name__)


@dataclass
class PairShells:
    """Shells of one species pair on the reference lattice.

    pair        (Za, Zb), Za <= Zb
    distances   # [n] A reference shell distances
    edges       # [n] A upper bin edges
    counts_a    # [n] Zb neighbours per Za atom in each shell (mean over Za sites)
    counts_b    # [n] Za neighbours per Zb atom
    directions  list of [n_dir_k, 3] canonical unit bond directions of shell k
    """

    pair: tuple
    distances: np.ndarray
    edges: np.ndarray
    counts_a: np.ndarray
    counts_b: np.ndarray
    directions: list = field(default_factory=list)

    @property
    def n_shells(self) -> int:
        return len(self.distances)


@dataclass
class ShellTable:
    """Shells per species pair of a reference structure (see module docstring)."""

    reference: Structure
    pairs: dict                       #: (Za, Zb) -> PairShells
    volume_per_atom: float | None     #: A^3, None for non-periodic references

    @classmethod
    def from_reference(cls, reference: Structure, species_pairs, n_shells, tol: float = 1e-3,
                       parent: bool = False):
        """Shells of each pair in ``species_pairs``; ``n_shells`` an int or {pair: int};
        ``parent``: distances of the site lattice, species ignored (module docstring)."""
        ref = Structure.of(reference)
        vol = ref.volume
        pairs = {}
        for pair in species_pairs:
            pair = (int(min(pair)), int(max(pair)))
            n = n_shells.get(pair, 0) if isinstance(n_shells, dict) else int(n_shells)
            if n < 1:
                continue
            pairs[pair] = _pair_shells(ref, pair, n, tol, parent)
        return cls(ref, pairs, None if vol is None else vol / ref.n_atoms)

    @property
    def primitive(self) -> np.ndarray:
        """Primitive cell [3, 3] A of the reference's translation group (species kept)."""
        if getattr(self, "_primitive", None) is None:
            self._primitive = primitive_cell(self.reference)
        return self._primitive

    @property
    def max_edge(self) -> float:
        return max((p.edges[-1] for p in self.pairs.values()), default=0.0)

    def scale_of(self, structure: Structure, scale_with_volume: bool) -> float:
        """Length scale s of a frame relative to the reference (1 without volume scaling)."""
        if not scale_with_volume or self.volume_per_atom is None or structure.volume is None:
            return 1.0
        return float((structure.volume / structure.n_atoms / self.volume_per_atom) ** (1 / 3))

    def assign(self, structure: Structure, nb: Neighbours, scale: float = 1.0) -> "Assignment":
        """Shell of every pair-once bond of ``nb`` (a list built on ``structure``)."""
        sel = np.flatnonzero(nb.once)
        d = nb.dist[sel] / scale                                       # [P] A, reference scale

        def match(rows, ps):
            k = np.searchsorted(ps.edges, d[rows], side="right")
            return k, k < ps.n_shells

        return self._assign(structure, nb, sel, nb.vec[sel], match)

    def _assign(self, structure: Structure, nb: Neighbours, sel: np.ndarray, vec: np.ndarray,
                match) -> "Assignment":
        """Common part of both assignments: pair-once bonds ``sel`` (indices into the
        Neighbours arrays) with bond vectors ``vec`` [P, 3] A; ``match(rows, pair_shells)``
        gives (shell index [len(rows)], found mask) for the bonds ``rows`` of one species pair.
        Orientation and direction class come from the same vectors."""
        z = structure.numbers
        zi, zj = z[nb.i[sel]], z[nb.j[sel]]
        lo, hi = np.minimum(zi, zj), np.maximum(zi, zj)
        keys = list(self.pairs)
        pair_idx = np.full(len(sel), -1)
        shell = np.full(len(sel), -1)
        direction = np.full(len(sel), -1)
        orient = np.ones(len(sel))
        for p, key in enumerate(keys):
            ps = self.pairs[key]
            m = np.flatnonzero((lo == key[0]) & (hi == key[1]))
            if len(m) == 0:
                continue
            k, ok = match(m, ps)
            rows = m[ok]
            pair_idx[rows] = p
            shell[rows] = k[ok]
            sign = _orientation(vec[rows], zi[rows], zj[rows], key)
            orient[rows] = sign
            direction[rows] = _nearest_direction(vec[rows] * sign[:, None], k[ok], ps)
        keep = shell >= 0
        return Assignment(keys, sel[keep], pair_idx[keep], shell[keep], orient[keep],
                          direction[keep])

    def ideal_sites(self, structure: Structure, max_strain: float = 0.1,
                    max_disp_frac: float = 0.3):
        """(ideal positions [n, 3] A in the reference frame, supercell matrix [3, 3] A,
        deformation F^-T [3, 3], largest displacement from an ideal site in A) or None when
        the frame is not a deformed supercell."""
        ref = self.reference
        if not (structure.pbc.all() and ref.pbc.all()):
            return None
        c_ref_inv = np.linalg.inv(ref.cell)
        prim = self.primitive
        n_real = structure.cell @ np.linalg.inv(prim)
        n_int = np.round(n_real)
        if abs(np.linalg.det(n_int)) < 0.5:
            return None
        sup = n_int @ prim                                             # [3, 3] ideal cell
        f_inv_t = np.linalg.solve(structure.cell, sup)                 # x0 = x @ F^-T
        f_t = np.linalg.inv(f_inv_t)
        green = 0.5 * (f_t @ f_t.T - np.eye(3))
        if np.abs(green).max() > max_strain:
            return None
        x0 = structure.positions @ f_inv_t
        frac = x0 @ c_ref_inv                                          # [n, 3]
        basis = ref.positions @ c_ref_inv                              # [b, 3]
        diff = frac[:, None, :] - basis[None, :, :]                    # [n, b, 3]
        t = np.round(diff)
        disp = np.linalg.norm((diff - t) @ ref.cell, axis=2)           # [n, b] A
        site = disp.argmin(axis=1)
        ideal = (basis[site] + t[np.arange(len(frac)), site]) @ ref.cell
        dmin = min(p.distances[0] for p in self.pairs.values()) if self.pairs else np.inf
        dmax = float(disp[np.arange(len(frac)), site].max())
        if dmax > max_disp_frac * dmin:
            return None
        return ideal, sup, f_inv_t, dmax

    def assign_ideal(self, structure: Structure, nb: Neighbours, ideal, sup,
                     tol: float = 1e-3) -> "Assignment":
        """Shells from the ideal bond vectors (see module docstring); directions likewise."""
        sel = np.flatnonzero(nb.once)
        vec0 = ideal[nb.j[sel]] - ideal[nb.i[sel]] + nb.shifts[sel] @ sup   # [P, 3] ideal bonds
        d0 = np.linalg.norm(vec0, axis=1)

        def match(rows, ps):
            near = np.abs(d0[rows, None] - ps.distances[None, :])             # [b, n]
            k = near.argmin(axis=1)
            return k, near[np.arange(len(rows)), k] < tol * max(1.0, ps.distances[-1])

        return self._assign(structure, nb, sel, vec0, match)

    def shell_rows(self) -> list:
        """[(pair, shell, distance, counts_a, counts_b)] in design-column order."""
        rows = []
        for key, ps in self.pairs.items():
            for k in range(ps.n_shells):
                rows.append((key, k, float(ps.distances[k]), float(ps.counts_a[k]),
                             float(ps.counts_b[k])))
        return rows


@dataclass
class Assignment:
    """Pair-once bonds of a frame with their shell.

    keys       species pairs in :class:`ShellTable` order
    edge       # [B] index into the Neighbours arrays (the pair-once entry)
    pair       # [B] index into keys
    shell      # [B] shell index within the pair
    orient     # [B] +1 if the bond i->j has the canonical orientation (Za -> Zb), else -1
    direction  # [B] index of the nearest canonical reference direction of the shell
    """

    keys: list
    edge: np.ndarray
    pair: np.ndarray
    shell: np.ndarray
    orient: np.ndarray
    direction: np.ndarray


def primitive_cell(ref: Structure, tol: float = 1e-5) -> np.ndarray:
    """Rows: a primitive basis of the lattice of translations mapping ``ref`` (with its
    species) onto itself."""
    cinv = np.linalg.inv(ref.cell)
    frac = ref.positions @ cinv
    frac -= np.floor(frac + tol)
    z = ref.numbers
    trans = [np.zeros(3)]
    for k in range(1, len(frac)):
        t = frac[k] - frac[0]
        if z[k] != z[0]:
            continue
        moved = frac + t
        moved -= np.floor(moved + tol)
        d = moved[:, None, :] - frac[None, :, :]
        d -= np.round(d)
        match = np.linalg.norm(d, axis=2) < tol
        if all(np.any(match[a] & (z == z[a])) for a in range(len(frac))):
            trans.append(t - np.floor(t + tol))
    n_t = len(trans)
    if n_t == 1:
        return ref.cell.copy()
    vol = abs(np.linalg.det(ref.cell)) / n_t
    grid = np.stack(np.meshgrid(*[np.arange(-1, 2)] * 3, indexing="ij"), -1).reshape(-1, 3)
    pts = np.concatenate([(grid + t) @ ref.cell for t in trans])
    pts = pts[np.linalg.norm(pts, axis=1) > 1e-8]
    pts = pts[np.argsort(np.linalg.norm(pts, axis=1), kind="stable")][:60]
    for a in range(len(pts)):
        for b in range(a + 1, len(pts)):
            for c in range(b + 1, len(pts)):
                basis = np.stack([pts[a], pts[b], pts[c]])
                if abs(abs(np.linalg.det(basis)) - vol) < 1e-6 * vol:
                    return basis
    raise BaselineInputError("could not find a primitive cell of the reference")


def _orientation(vec, zi, zj, key):
    """+1 where the bond i->j is oriented canonically (see module docstring), else -1."""
    if key[0] != key[1]:
        return np.where(zi == key[0], 1.0, -1.0)
    tol = 1e-8 * np.maximum(1.0, np.abs(vec).max(axis=1))
    first = np.where(np.abs(vec[:, 0]) > tol, vec[:, 0],
                     np.where(np.abs(vec[:, 1]) > tol, vec[:, 1], vec[:, 2]))
    return np.where(first > 0, 1.0, -1.0)


def _nearest_direction(vec, shell, ps: PairShells):
    out = np.zeros(len(vec), dtype=np.int64)
    unit = vec / np.linalg.norm(vec, axis=1)[:, None]
    for k in np.unique(shell):
        m = shell == k
        dots = unit[m] @ ps.directions[k].T                    # [b, n_dir]
        out[m] = dots.argmax(axis=1)
    return out


def _pair_shells(ref: Structure, pair, n: int, tol: float, parent: bool = False) -> PairShells:
    za, zb = pair
    na, nbz = np.sum(ref.numbers == za), np.sum(ref.numbers == zb)
    if na == 0 or nbz == 0:
        raise BaselineInputError(f"reference structure has no {pair} pairs (species missing)")
    vol = ref.volume
    density = ref.n_atoms / vol if vol else 1.0
    cutoff = 1.5 * (3.0 * (n + 2) / (4 * np.pi * density)) ** (1 / 3) + 0.5
    for _ in range(40):
        nb = neighbours(ref, cutoff)
        zi, zj = ref.numbers[nb.i], ref.numbers[nb.j]
        m = (zi == za) & (zj == zb)
        lattice = np.ones_like(m) if parent else m            # bonds that define distances
        dist = _cluster(np.sort(nb.dist[lattice]), tol)
        # the last distance must be complete: require one more distinct distance + margin
        if len(dist) > n and dist[n] < cutoff - 2 * tol:
            break
        cutoff *= 1.3
    else:
        raise BaselineInputError(f"could not find {n + 1} shells of {pair} in the reference")
    d = dist[: n + 1]
    edges = 0.5 * (d[:-1] + d[1:])                            # [n]
    k_all = np.searchsorted(edges, nb.dist, side="right")
    counts_a, counts_b, dirs = np.zeros(n), np.zeros(n), []
    for k in range(n):
        mk = m & (k_all == k)
        counts_a[k] = mk.sum() / na
        counts_b[k] = mk.sum() / nbz
        if not mk.any():                   # parent-lattice shell the pair lacks: site bonds
            mk = k_all == k
            vec = nb.vec[mk]
            sign = _orientation(vec, zi[mk], zi[mk], (za, za))
        else:
            vec = nb.vec[mk]
            sign = _orientation(vec, zi[mk], zj[mk], pair)
        unit = vec * sign[:, None] / np.linalg.norm(vec, axis=1)[:, None]
        dirs.append(_cluster_directions(unit))
    log.debug("shells %s: %s A, counts %s", pair, np.round(d[:-1], 4), counts_a)
    return PairShells(pair, d[:-1], edges, counts_a, counts_b, dirs)


def _cluster(sorted_d, tol):
    if len(sorted_d) == 0:
        return sorted_d
    breaks = np.flatnonzero(np.diff(sorted_d) > tol) + 1
    return np.array([g.mean() for g in np.split(sorted_d, breaks)])


def _cluster_directions(unit, tol=1e-6):
    out = []
    for u in unit:
        if not any(abs(u @ v - 1.0) < tol for v in out):
            out.append(u)
    return np.array(out).reshape(-1, 3)
