"""Classical Heisenberg-plus-anisotropy spin Hamiltonian (the baseline and the MC test bed).

    E = sum_{pairs once} [ -J m_i.m_j - m_i^T T m_j - B (m_i.m_j)^2 ]
      + sum_i [ -Ku (m_i.n_i)^2 - Kc (mx^4 + my^4 + mz^4) - h.m_i
                + a2|m_i|^2 + a4|m_i|^4 + a6|m_i|^6 ]

Units and conventions: :mod:`mmace_fast.conventions` (pairs counted once, J > 0 ferromagnetic).
The arithmetic is in C++ (src_cpp/src/spin_hamiltonian.cpp); this module builds the pair list
(from explicit pairs or from neighbour shells of a lattice) and validates input.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import numpy as np

from mmace_fast import _core
from mmace_fast.checks import integer_array
from mmace_fast.neighbours import neighbour_list, pairs_once

log = logging.getLogger(__name__)


@dataclass
class Shells:
    """Neighbour shells of a structure: distinct pair distances (A) and the pair-once list.

    distances [n_shells] A; pair_i, pair_j [P]; shift [P, 3]; shell [P] index into distances.
    """

    distances: np.ndarray
    pair_i: np.ndarray
    pair_j: np.ndarray
    shift: np.ndarray
    shell: np.ndarray


def find_shells(positions, cell, pbc, n_shells, tol=1e-4, max_cutoff=None):
    """The first ``n_shells`` distinct neighbour distances and every pair (once) within them."""
    if n_shells < 1:
        raise ValueError("n_shells must be >= 1")
    positions = np.asarray(positions, dtype=np.float64)
    vol = abs(np.linalg.det(np.asarray(cell, dtype=float)))
    density = len(positions) / vol if vol > 0 else 1.0
    cutoff = 1.2 * (3.0 * (n_shells + 2) / (4.0 * np.pi * density)) ** (1.0 / 3.0) + 0.5
    while True:
        i, j, s, d = neighbour_list(positions, cell, pbc, cutoff, return_distances=True)
        uniq = _cluster(np.sort(d), tol)
        if len(uniq) > n_shells or (max_cutoff is not None and cutoff >= max_cutoff):
            break
        cutoff *= 1.3
    if len(uniq) < n_shells:
        raise ValueError(f"only {len(uniq)} shells found within {cutoff:.3f} A")
    dist = uniq[:n_shells]
    keep = pairs_once(i, j, s) & (d < dist[-1] + tol)
    shell = np.abs(d[keep][:, None] - dist[None, :]).argmin(axis=1)
    return Shells(dist, i[keep], j[keep], s[keep], shell)


def _cluster(sorted_d, tol):
    """Distinct values of a sorted array, merging values closer than ``tol``."""
    if len(sorted_d) == 0:
        return sorted_d
    breaks = np.flatnonzero(np.diff(sorted_d) > tol) + 1
    return np.array([g.mean() for g in np.split(sorted_d, breaks)])


class CoreHamiltonian:
    """Python face of a C++ Hamiltonian (``self.core``, a ``_core.HamiltonianBase``): energies
    of given moments [n, 3] muB. Subclasses set ``core`` and ``n_sites`` and define
    ``content_hash()`` (the Monte Carlo driver's checkpoints use it)."""

    core = None
    n_sites = 0

    @property
    def variable_length(self) -> bool:
        return self.core.variable_length

    def energy(self, spins) -> float:
        """Total energy (eV) of moments [n, 3] muB."""
        self.core.set_spins(spins)
        return self.core.total_energy()

    def site_energies(self, spins) -> np.ndarray:
        """[n] eV, summing to :meth:`energy`."""
        self.core.set_spins(spins)
        return self.core.site_energies()

    def effective_field(self, spins) -> np.ndarray:
        """-dE/dm [n, 3] eV/muB (where the Hamiltonian provides it)."""
        self.core.set_spins(spins)
        return self.core.effective_field()

    def delta_energy(self, spins, i, m_new) -> float:
        """E(spins with m_i = m_new) - E(spins), eV, from the local (incremental) update."""
        self.core.set_spins(spins)
        return self.core.delta_energy(int(i), m_new)


class SpinHamiltonian(CoreHamiltonian):
    """Classical spin Hamiltonian on explicit pairs.

    n_sites: number of moments. pair_i, pair_j [P]: each unordered pair once (self-image pairs
    i == j allowed). J [P] eV/muB^2, T [P, 3, 3], B [P]. Site terms, each [n] or scalar
    (broadcast): Ku with axis [n, 3] or [3]; Kc; field [n, 3] or [3] (eV/muB); a2, a4, a6.
    """

    def __init__(self, n_sites, pair_i=(), pair_j=(), J=None, T=None, B=None, Ku=None,
                 axis=None, Kc=None, field=None, a2=None, a4=None, a6=None):
        n = int(n_sites)
        if n < 1:
            raise ValueError("n_sites must be >= 1")
        pi = integer_array(pair_i, "pair_i").reshape(-1)
        pj = integer_array(pair_j, "pair_j").reshape(-1)
        if pi.shape != pj.shape:
            raise ValueError(f"pair_i and pair_j differ in length ({pi.size} vs {pj.size})")
        if pi.size and (pi.min() < 0 or pj.min() < 0 or pi.max() >= n or pj.max() >= n):
            raise ValueError("pair index out of range [0, n_sites)")
        npairs = pi.size
        self.n_sites = n
        self.terms = {
            "pair_i": pi, "pair_j": pj,
            "J": _pair_array(J, (npairs,), "J"),
            "T": _pair_array(T, (npairs, 3, 3), "T"),
            "B": _pair_array(B, (npairs,), "B"),
            "Ku": _site_array(Ku, n, (), "Ku"),
            "axis": _unit_axes(axis, n) if axis is not None else None,
            "Kc": _site_array(Kc, n, (), "Kc"),
            "field": _site_array(field, n, (3,), "field"),
            "a2": _site_array(a2, n, (), "a2"),
            "a4": _site_array(a4, n, (), "a4"),
            "a6": _site_array(a6, n, (), "a6"),
        }
        self._check_landau()
        kw = {k: v for k, v in self.terms.items() if k not in ("pair_i", "pair_j")}
        self.core = _core.SpinHamiltonianCore(n, pi.astype(np.int32), pj.astype(np.int32), **kw)

    # -- builders -----------------------------------------------------------------------------
    @classmethod
    def from_shells(cls, positions, cell, pbc, J_shells, tol=1e-4, **site_terms):
        """Isotropic exchange J_shells[k] (pair-once, eV per moment product) on the k-th shell."""
        J_shells = np.asarray(J_shells, dtype=np.float64).reshape(-1)
        sh = find_shells(positions, cell, pbc, len(J_shells), tol=tol)
        log.info("shells at %s A with %s pairs", np.round(sh.distances, 4),
                 np.bincount(sh.shell, minlength=len(J_shells)))
        ham = cls(len(positions), sh.pair_i, sh.pair_j, J=J_shells[sh.shell], **site_terms)
        ham.shells = sh
        return ham

    @classmethod
    def from_distances(cls, positions, cell, pbc, distances, J, tol=1e-3, **site_terms):
        """Isotropic exchange J[k] (pair-once) on every pair at distance distances[k] (A)."""
        distances = np.asarray(distances, dtype=np.float64).reshape(-1)
        J = np.asarray(J, dtype=np.float64).reshape(-1)
        if distances.shape != J.shape:
            raise ValueError("distances and J differ in length")
        if np.any(distances <= 0) or not np.all(np.isfinite(distances)):
            raise ValueError("distances must be positive and finite")
        i, j, s, d = neighbour_list(positions, cell, pbc, distances.max() + 2 * tol,
                                    return_distances=True)
        once = pairs_once(i, j, s)
        near = np.abs(d[:, None] - distances[None, :])       # [P, k]
        k = near.argmin(axis=1)
        keep = once & (near[np.arange(len(d)), k] < tol)
        missing = set(range(len(distances))) - set(k[keep].tolist())
        if missing:
            raise ValueError(f"no pairs found at distances {distances[sorted(missing)]}")
        ham = cls(len(positions), i[keep], j[keep], J=J[k[keep]], **site_terms)
        ham.shells = Shells(distances, i[keep], j[keep], s[keep], k[keep])
        return ham

    # -- evaluation (energy, site_energies, effective_field, delta_energy: CoreHamiltonian) --
    @property
    def wolff_compatible(self) -> bool:
        return self.core.wolff_compatible

    def content_hash(self) -> str:
        """sha256 over every coefficient: identifies the Hamiltonian in checkpoints."""
        h = hashlib.sha256(f"SpinHamiltonian:{self.n_sites}".encode())
        for key in sorted(self.terms):
            val = self.terms[key]
            h.update(key.encode())
            if val is not None:
                h.update(np.ascontiguousarray(val).tobytes())
        return h.hexdigest()

    def _check_landau(self):
        a2, a4, a6 = (self.terms[k] for k in ("a2", "a4", "a6"))
        if a2 is None and a4 is None and a6 is None:
            return
        z = np.zeros(self.n_sites)
        a4v = z if a4 is None else a4
        a6v = z if a6 is None else a6
        bad = ~((a6v > 0) | ((a6v == 0) & (a4v > 0)))
        if bad.any():
            raise ValueError("longitudinal terms must be bounded below: on every site the highest "
                             f"Landau coefficient must be > 0 (sites {np.flatnonzero(bad)[:5]})")


def per_site_from_species(numbers, table: dict, name: str = "coefficient") -> np.ndarray:
    """Per-site values [n] from a per-species table {Z: value}; unknown species raise."""
    numbers = np.asarray(numbers, dtype=np.int64).reshape(-1)
    unknown = sorted(set(numbers.tolist()) - set(int(z) for z in table))
    if unknown:
        raise ValueError(f"{name}: no value for species {unknown} (table has {sorted(table)})")
    return np.array([float(table[int(z)]) for z in numbers])


def landau_from_species(numbers, table: dict) -> dict:
    """Landau coefficients per site from {Z: (a2, a4[, a6])}: returns dict(a2=, a4=, a6=)."""
    out = {}
    for k, key in enumerate(("a2", "a4", "a6")):
        out[key] = per_site_from_species(
            numbers, {z: (c[k] if k < len(c) else 0.0) for z, c in table.items()}, f"Landau {key}")
    return out


def _pair_array(x, shape, name):
    if x is None:
        return None
    a = np.asarray(x, dtype=np.float64)
    if a.shape != shape:
        raise ValueError(f"{name} has shape {a.shape}, expected {shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"non-finite values in {name}")
    return np.ascontiguousarray(a)


def _site_array(x, n, tail, name):
    if x is None:
        return None
    a = np.asarray(x, dtype=np.float64)
    if a.shape == tail:
        a = np.array(np.broadcast_to(a, (n,) + tail))   # a writable copy, also for n = 1
    if a.shape != (n,) + tail:
        raise ValueError(f"{name} has shape {a.shape}, expected {(n,) + tail} or {tail}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"non-finite values in {name}")
    return np.ascontiguousarray(a)


def _unit_axes(axis, n):
    a = _site_array(axis, n, (3,), "axis")
    norms = np.linalg.norm(a, axis=1)
    if np.any(norms == 0):
        raise ValueError("anisotropy axis must be non-zero")
    return np.ascontiguousarray(a / norms[:, None])
