"""Flat spin spirals on periodic supercells, for any energy model (mMACE, Heisenberg, DFT).

A flat spiral with wave vector q (1/A) on a Bravais lattice puts m(R) = |m| (cos q.R, sin q.R, 0)
on the site at R. A model without the generalised Bloch theorem (mMACE, the classical baselines)
needs a supercell whose translations T all satisfy q.T in 2 pi Z; :func:`commensurate_supercell`
finds the smallest one (its size is the denominator of q in the primitive reciprocal basis).

Units: q in Cartesian units of 2 pi / a (as in :mod:`mmace_fast.data.dft.spirals`), lengths A,
moments muB, energies eV. For an isotropic Heisenberg model with pair-once constants J(R)
(conventions: E = -sum_pairs J m_i.m_j) the energy per atom is
    E(q) / N = -(|m|^2 / 2) sum_{R != 0} J(R) cos(q.R),
which :func:`heisenberg_spiral_energy` evaluates as an independent check.
"""
from __future__ import annotations

import itertools
from fractions import Fraction
from math import gcd
from pathlib import Path

import numpy as np
from ase import Atoms

from mmace_fast.data.dft.spirals import BCC_POINTS, SPIRAL_ENDS

__all__ = ["SpiralError", "commensurate_supercell", "spiral_moments", "spiral_structure",
           "heisenberg_spiral_energy", "spiral_path_of", "spiral_split", "spiral_training_atoms",
           "spiral_training_frames", "spirals_file_of", "read_with_spirals", "SPIRAL_TEST_X"]


class SpiralError(ValueError):
    """q is not rational on the lattice (within tolerance) or needs too large a supercell."""


def _scaled_rational(prim_cell: np.ndarray, q_cart: np.ndarray, max_den: int, tol: float):
    """q in the primitive reciprocal basis as integers p [3] over a common denominator d."""
    qc = prim_cell @ q_cart / (2 * np.pi)                     # [3] dimensionless
    fr = [Fraction(float(x)).limit_denominator(max_den) for x in qc]
    if max(abs(float(f) - x) for f, x in zip(fr, qc)) > tol:
        raise SpiralError(f"q = {qc} (reciprocal-cell units) is not rational with denominator "
                          f"<= {max_den}")
    d = 1
    for f in fr:
        d = d * f.denominator // gcd(d, f.denominator)
    p = np.array([int(f * d) for f in fr], dtype=np.int64)
    return p, d


def commensurate_supercell(prim_cell, q_cart_2pi_a, a: float, max_den: int = 48,
                           tol: float = 1e-8) -> np.ndarray:
    """Integer matrix M [3, 3] (rows: supercell vectors in primitive units, det M = index d)
    with q.T in 2 pi Z for every row T = M[k] @ prim_cell, choosing short vectors."""
    prim = np.asarray(prim_cell, dtype=float)                 # [3, 3] A, rows
    q = np.asarray(q_cart_2pi_a, dtype=float) * 2 * np.pi / a  # [3] 1/A
    p, d = _scaled_rational(prim, q, max_den, tol)
    if d == 1:
        return np.eye(3, dtype=np.int64)
    rng = range(-d, d + 1)
    cands = [np.array(r) for r in itertools.product(rng, rng, rng)
             if any(r) and int(np.dot(p, r)) % d == 0]
    cands.sort(key=lambda r: (np.linalg.norm(r @ prim), tuple(r)))
    target = d // gcd(d, int(np.gcd.reduce(np.abs(p))) or d)
    arr = np.array(cands)                                     # [K, 3] sorted by length
    best = None
    n = min(len(arr), 40)
    for i, j in itertools.combinations(range(n), 2):
        c = np.cross(arr[i], arr[j])
        if not c.any():
            continue
        ok = np.flatnonzero(np.abs(arr @ c) == target)       # det [r_i, r_j, r_k] = index
        if len(ok):
            best = np.array([arr[i], arr[j], arr[ok[0]]])
            break
    if best is None:
        raise SpiralError(f"no supercell of index {target} found for q (try a larger search)")
    if np.linalg.det(best) < 0:
        best[[0, 1]] = best[[1, 0]]
    return best.astype(np.int64)


def spiral_moments(positions, q_cart_2pi_a, a: float, moment: float,
                   origin=None) -> np.ndarray:
    """m_i = moment (cos q.r_i, sin q.r_i, 0)  # [n, 3] muB (r relative to ``origin``)."""
    r = np.asarray(positions, dtype=float)
    if origin is not None:
        r = r - np.asarray(origin, dtype=float)
    q = np.asarray(q_cart_2pi_a, dtype=float) * 2 * np.pi / a
    phase = r @ q
    return moment * np.stack([np.cos(phase), np.sin(phase), np.zeros_like(phase)], axis=1)


def spiral_structure(prim: Atoms, q_cart_2pi_a, a: float, moment: float, **kw):
    """(supercell Atoms, moments [n, 3] muB) of a flat spiral on a 1-atom primitive cell."""
    if len(prim) != 1:
        raise SpiralError("spirals are built on a 1-atom primitive cell")
    m = commensurate_supercell(prim.cell.array, q_cart_2pi_a, a, **kw)
    sc = prim.copy()
    sc.set_initial_magnetic_moments(None)
    from ase.build import make_supercell  # noqa: PLC0415

    sc = make_supercell(sc, m)
    moms = spiral_moments(sc.positions, q_cart_2pi_a, a, moment, origin=prim.positions[0])
    return sc, moms


def heisenberg_spiral_energy(prim_cell, q_cart_2pi_a, a: float, moment: float,
                             shell_distances, J_shells, tol: float = 1e-4) -> float:
    """E(q) per atom (eV) of an isotropic pair-once Heisenberg model on a Bravais lattice, by
    the direct lattice sum over the given shells."""
    prim = np.asarray(prim_cell, dtype=float)
    dists = np.asarray(shell_distances, dtype=float)
    J = np.asarray(J_shells, dtype=float)
    rmax = dists.max() + 2 * tol
    vol = abs(np.linalg.det(prim))
    spacing = min(vol / np.linalg.norm(np.cross(prim[(k + 1) % 3], prim[(k + 2) % 3]))
                  for k in range(3))                          # smallest interplanar distance
    nmax = int(np.ceil(rmax / spacing)) + 1
    q = np.asarray(q_cart_2pi_a, dtype=float) * 2 * np.pi / a
    rng = np.arange(-nmax, nmax + 1)
    n = np.stack(np.meshgrid(rng, rng, rng, indexing="ij"), -1).reshape(-1, 3)
    R = n @ prim                                               # [K, 3] A
    d = np.linalg.norm(R, axis=1)
    e = 0.0
    for dk, jk in zip(dists, J):
        sel = np.abs(d - dk) < tol
        e += jk * np.cos(R[sel] @ q).sum()
    return -0.5 * moment ** 2 * e


# --------------------------------------------------------------------------------------------
# DFT spirals as real-space training frames
# --------------------------------------------------------------------------------------------
#: fractions x of the path (q = x H or x N) whose DFT spirals are held out (split "test"):
#: the middle of both paths, an interpolation test of the magnon dispersion; every other
#: q != 0 spiral is a training frame. Along Gamma-H the spiral energy measures
#: 8 J1 (1 - cos pi x) + 2 J2 (1 - cos 2 pi x) + ..., along Gamma-N 4 (J1 + J2)(1 - cos pi x)
#: + ...: only both paths together separate J1 from J2 (which sets the disorder energy);
#: along Gamma-P, 8 J1 (1 - cos^3(pi x / 2)) + 6 J2 (1 - cos pi x) + ... reaches the
#: non-collinear P state (nearest neighbours perpendicular, second neighbours antiparallel).
SPIRAL_TEST_X = (0.4,)

#: end points of the paths, q in 2 pi / a (the generator's table of bcc points)
_PATH_ENDS = {f"G{end}": np.array(BCC_POINTS[end]) for end in SPIRAL_ENDS}


def spiral_path_of(q_cart_2pi_a, tol: float = 1e-9) -> str:
    """"GH" for q along (1, 0, 0), "GN" along (1, 1, 0), "GP" along (1, 1, 1) (2 pi / a; the
    path up to its cubic equivalents), "G" for q = 0, else "other"."""
    q = np.asarray(q_cart_2pi_a, dtype=float).reshape(3)
    if np.linalg.norm(q) < tol:
        return "G"
    u = q / np.linalg.norm(q)
    for name, end in _PATH_ENDS.items():
        if np.allclose(np.abs(u), end / np.linalg.norm(end), atol=1e-9):
            return name
    return "other"


def spiral_split(q_cart_2pi_a) -> str:
    """"test" for the held-out fractions ``SPIRAL_TEST_X`` of either path, else "train"."""
    q = np.abs(np.asarray(q_cart_2pi_a, dtype=float).reshape(3))
    path = spiral_path_of(q)
    if path not in _PATH_ENDS:
        return "train"
    x = float(np.linalg.norm(q) / np.linalg.norm(_PATH_ENDS[path]))
    return "test" if any(abs(x - t) < 1e-6 for t in SPIRAL_TEST_X) else "train"


def spiral_training_atoms(frame: Atoms, split: str | None = None) -> Atoms:
    """A DFT flat spiral computed with the generalised Bloch theorem on a 1-atom cell (a frame
    of ``data/fe_spirals.extxyz.gz``) as the equivalent real-space frame: the commensurate
    supercell with m_i = |m| (cos q.r_i, sin q.r_i, 0) and the labels that DFT defines there.

    Without spin-orbit coupling the spiral on the supercell is the same state as the Bloch
    calculation (every site equivalent up to a global spin rotation), so
      energy      = n_sc E_1 (eV; E_1 the frame's free energy per atom),
      forces      = 0 (inversion through a site combined with the spin rotation C2 about that
                    site's moment maps the state onto itself; a polar vector must vanish),
      magforces   = 0, all components defined (the same operation leaves only the longitudinal
                    component, which vanishes at the self-consistent moment length),
      stress      : not defined (GPAW gives none in spiral mode) and not set.
    |m| is the frame's converged moment; ``split`` defaults to :func:`spiral_split` of its q.
    Raises SpiralError for a frame that is not a 1-atom
    spiral, or whose stored q is inconsistent with its cell."""
    if not frame.info.get("spiral", False) or len(frame) != 1:
        raise SpiralError(f"{frame.info.get('config_id', '?')}: not a 1-atom spiral frame")
    cid = str(frame.info.get("config_id", "spiral"))
    q = np.asarray(frame.info["qspiral_cart_2pi_over_a"], dtype=float).reshape(3)
    a = float(frame.info["dft_lattice_a"])
    q_scaled = np.asarray(frame.info["qspiral_scaled"], dtype=float).reshape(3)
    if not np.allclose(frame.cell.array @ q / a, q_scaled, atol=1e-8):
        raise SpiralError(f"{cid}: q = {q} (2 pi / a, a = {a}) is not the stored reciprocal-cell "
                          f"q {q_scaled} for this cell")
    moment = float(np.linalg.norm(np.asarray(frame.arrays["REF_magmom"], dtype=float)[0]))
    e_atom = float(frame.info["REF_energy"])                       # eV, 1-atom cell
    sc, moms = spiral_structure(frame, q, a, moment)
    n = len(sc)
    out = Atoms(numbers=sc.numbers, positions=sc.positions, cell=sc.cell.array, pbc=True)
    out.arrays["REF_magmom"] = moms                                # [n, 3] muB
    out.arrays["REF_forces"] = np.zeros((n, 3))                    # [n, 3] eV/A
    out.arrays["REF_magforces"] = np.zeros((n, 3))                 # [n, 3] eV/muB
    out.arrays["REF_magforces_mask"] = np.ones((n, 3), dtype=bool)
    out.info.update({
        "REF_energy": e_atom * n,
        "config_id": f"{cid}-sc{n}", "config_type": str(frame.info.get("config_type", "spiral")),
        "split": str(split if split is not None else spiral_split(q)),
        "spiral_source_id": cid, "spiral_path": spiral_path_of(q),
        "qspiral_cart_2pi_over_a": q, "magforces_source": "spiral_symmetry_and_scf",
    })
    return out


def spirals_file_of(data_file) -> Path:
    """data/<material>.extxyz.gz -> data/<material>_spirals.extxyz.gz (may not exist)."""
    p = Path(data_file)
    stem = p.name.split(".")[0]
    return p.with_name(f"{stem}_spirals.extxyz.gz")


def spiral_training_frames(spirals_file) -> list:
    """Every q != 0 spiral of a spirals file as its real-space supercell (Atoms with REF_
    labels and the split of :func:`spiral_split`); [] when the file does not exist. The q = 0
    spiral is the ferromagnet of the 1-atom cell, already a frame of the main file."""
    import ase.io  # noqa: PLC0415

    path = Path(spirals_file)
    if not path.exists():
        return []
    frames = ase.io.read(str(path), index=":", format="extxyz")
    return [spiral_training_atoms(fr) for fr in frames
            if spiral_path_of(fr.info["qspiral_cart_2pi_over_a"]) != "G"]


def read_with_spirals(data_file) -> list:
    """Configurations of a material's data file followed by those of its spiral supercells
    (``spirals_file_of``), i.e. every frame a model of that material is trained or tested on;
    the baselines and the head-to-head read the data through this, as the mMACE training does."""
    from mmace_fast.data.readers import atoms_to_configuration, read_extxyz  # noqa: PLC0415

    sp = spirals_file_of(data_file)
    return read_extxyz(data_file) + [atoms_to_configuration(a, f"{sp}:spiral:{k}")
                                     for k, a in enumerate(spiral_training_frames(sp))]
