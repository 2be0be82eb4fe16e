"""Magnons: linear spin-wave theory of a Heisenberg ferromagnet and the dynamical structure
factor S(q, omega) of a spin dynamics trajectory.

Linear spin-wave theory (Bravais lattice, one moment per cell, H = -sum_pairs-once J_ij e_i.e_j,
vectors of length s in the Hamiltonian's unit and unit_moment_muB muB per unit): the moments
precess as dm/dt = -gamma m x h, so a spin wave of wave vector q has
    hbar omega(q) = g s (J(0) - J(q)) / unit_moment_muB,   J(q) = sum_j J_0j exp(i q.r_0j),
(conventions: :mod:`mmace_fast.conventions`, hbar omega in eV). A conical spiral of cone angle
theta is an exact solution of the undamped equations with frequency cos(theta) times this.

Shapes and units: q [n_q, 3] 1/A (cartesian, 2 pi included); bond vectors [P, 3] A; energies
returned in meV.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from mmace_fast import conventions as cv

log = logging.getLogger(__name__)


def exchange_transform(bond_vectors, J, q) -> np.ndarray:
    """sum over the pair-once bonds of a cell of 2 J cos(q.r) [n_q] (bond_vectors [P, 3] A,
    J [P]): n_sites times J(q) of a Bravais lattice of n_sites sites."""
    d = np.asarray(bond_vectors, dtype=np.float64).reshape(-1, 3)
    J = np.asarray(J, dtype=np.float64).reshape(-1)
    q = np.asarray(q, dtype=np.float64).reshape(-1, 3)
    if len(d) != len(J):
        raise ValueError(f"{len(d)} bond vectors for {len(J)} couplings")
    return 2.0 * np.cos(q @ d.T) @ J


def lswt_energies(bond_vectors, J, n_sites, q, length=1.0, unit_moment_muB=1.0) -> np.ndarray:
    """hbar omega(q) [n_q] meV of the ferromagnet (see the module docstring)."""
    if n_sites < 1:
        raise ValueError("n_sites must be >= 1")
    jq = exchange_transform(bond_vectors, J, q) / n_sites
    j0 = exchange_transform(bond_vectors, J, np.zeros((1, 3)))[0] / n_sites
    return 1e3 * cv.G_SPIN * length * (j0 - jq) / unit_moment_muB


def bond_vectors_of(hamiltonian, positions, cell) -> np.ndarray:
    """[P, 3] A: the bond vectors r_j - r_i + shift @ cell of a Hamiltonian's pair-once list
    (``hamiltonian.bond_vectors`` of a fitted baseline, or ``hamiltonian.shells`` of one built
    from shells or distances)."""
    bv = getattr(hamiltonian, "bond_vectors", None)
    if bv is not None:
        return np.asarray(bv, dtype=np.float64).reshape(-1, 3)
    sh = getattr(hamiltonian, "shells", None)
    if sh is None:
        raise ValueError("the Hamiltonian keeps no pair list with bond vectors (build it with "
                         "from_shells or from_distances, or from a fitted baseline)")
    pos = np.asarray(positions, dtype=np.float64)
    return pos[sh.pair_j] - pos[sh.pair_i] + sh.shift @ np.asarray(cell, dtype=np.float64)


def cubic_q_path(L: int, a: float) -> tuple[list, np.ndarray]:
    """Wave vectors of an L x L x L supercell of a cubic cell (side a, A) along Gamma-H
    (h, 0, 0), Gamma-N (h, h, 0) and Gamma-P (h, h, h), h = k / L in units of 2 pi / a (up to
    H = (1, 0, 0), N = (1/2, 1/2, 0), P = (1/2, 1/2, 1/2) of bcc). Returns (labels, q [n_q, 3]
    1/A)."""
    if L < 2:
        raise ValueError("L must be >= 2")
    labels, fr = [], []
    for k in range(1, L + 1):
        labels.append(f"GH {k}/{L}")
        fr.append((k / L, 0.0, 0.0))
    for k in range(1, L // 2 + 1):
        labels.append(f"GN {k}/{L}")
        fr.append((k / L, k / L, 0.0))
    for k in range(1, L // 2 + 1):
        labels.append(f"GP {k}/{L}")
        fr.append((k / L, k / L, k / L))
    return labels, 2 * np.pi / a * np.asarray(fr)


def frozen_magnon_mev(de_per_site, moment_muB: float):
    """hbar omega = 2 g dE / M in meV from the energy cost dE (eV per site) of a flat spiral over
    the ferromagnet at moment M (muB): the frozen-magnon relation of :func:`adiabatic_magnons`,
    for spiral energies from anywhere (e.g. DFT)."""
    return 1e3 * 2 * cv.G_SPIN * np.asarray(de_per_site, dtype=float) / moment_muB


def adiabatic_magnons(hamiltonian, positions, q, length: float, unit_moment_muB: float = 1.0,
                      cone_deg: float = 90.0) -> np.ndarray:
    """Frozen-magnon energies hbar omega(q) [n_q] meV of any Hamiltonian with energies (the
    frozen mMACE included): the planar spiral of wave vector q (commensurate with the cell) at
    moment length ``length`` costs dE(q) per site over the ferromagnet, and
    hbar omega = 2 g dE(q) / M (M = length * unit_moment_muB), which is linear spin-wave theory
    exactly for a Heisenberg model (Halilov et al., PRB 58, 293 (1998), adiabatic magnons).
    ``cone_deg`` < 90: the conical spiral of that cone angle theta about z instead, with
    dE(q, theta) / sin^2(theta) in place of dE(q): as theta -> 0 the linear spin-wave energy of
    any energy model (what small-amplitude spin dynamics precesses at), equal to the planar
    figure only where E(q, theta) is proportional to sin^2(theta), as for a Heisenberg model.
    Every site carries a moment and the sites form one Bravais lattice (one magnon branch):
    lattices with non-magnetic sites or several magnetic sublattices are not handled here."""
    pos = np.asarray(positions, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64).reshape(-1, 3)
    n = len(pos)
    if not 0.0 < cone_deg <= 90.0:
        raise ValueError(f"cone_deg must be in (0, 90], got {cone_deg}")
    planar = cone_deg == 90.0
    theta = np.radians(cone_deg)
    fm = np.tile([length, 0.0, 0.0] if planar else [0.0, 0.0, length], (n, 1))
    e_fm = hamiltonian.energy(fm)
    out = np.empty(len(q))
    for k, qk in enumerate(q):
        ph = pos @ qk
        if planar:
            sp = length * np.stack([np.cos(ph), np.sin(ph), np.zeros(n)], axis=1)
        else:
            sp = length * np.stack([np.sin(theta) * np.cos(ph), np.sin(theta) * np.sin(ph),
                                    np.full(n, np.cos(theta))], axis=1)
        de = (hamiltonian.energy(sp) - e_fm) / n / np.sin(theta) ** 2
        out[k] = frozen_magnon_mev(de, length * unit_moment_muB)
    return out


@dataclass
class StructureFactor:
    """S(q, omega) [n_q, n_omega] (arbitrary units, summed over x, y, z) on energies
    [n_omega] meV >= 0, with the peak energy per q [n_q] meV (parabolic refinement of the
    maximum; the resolution is the grid spacing)."""

    energies_mev: np.ndarray
    s: np.ndarray
    peak_mev: np.ndarray
    resolution_mev: float


def structure_factor(mq, dt_fs: float) -> StructureFactor:
    """S(q, omega) from m(q, t) [n_t, n_q, 3] complex sampled every dt_fs (a Hann window over
    the whole series; the mean over time of each component is removed, so the static order
    at q = 0 does not mask its precession)."""
    mq = np.asarray(mq)
    if mq.ndim != 3 or mq.shape[2] != 3:
        raise ValueError(f"mq has shape {mq.shape}, expected (n_t, n_q, 3)")
    nt = mq.shape[0]
    if nt < 8:
        raise ValueError("at least 8 samples are needed")
    if not dt_fs > 0:
        raise ValueError("dt_fs must be > 0")
    x = (mq - mq.mean(axis=0)) * np.hanning(nt)[:, None, None]
    f = np.fft.fft(x, axis=0)                                   # [n_t, n_q, 3]
    power = (np.abs(f) ** 2).sum(axis=2)                        # [n_t, n_q]
    omega = 2 * np.pi * np.fft.fftfreq(nt, d=dt_fs)             # rad/fs
    # a precessing moment has one sign of omega; fold both onto |omega|
    order = np.argsort(omega)
    omega, power = omega[order], power[order]
    e = np.abs(omega) * cv.HBAR_EV_FS * 1e3                     # meV
    grid = np.unique(np.round(e, 12))
    s = np.zeros((mq.shape[1], len(grid)))
    idx = np.searchsorted(grid, np.round(e, 12))
    np.add.at(s.T, idx, power)
    peak = np.array([_peak(grid, row) for row in s])
    return StructureFactor(grid, s, peak, float(grid[1] - grid[0]))


def _peak(x, y) -> float:
    k = int(np.argmax(y[1:])) + 1 if len(y) > 2 else int(np.argmax(y))   # omega = 0 left out
    if 0 < k < len(y) - 1:
        a, b, c = y[k - 1], y[k], y[k + 1]
        den = a - 2 * b + c
        if den < 0:
            return float(x[k] + 0.5 * (a - c) / den * (x[1] - x[0]))
    return float(x[k])


@dataclass
class MagnonSpectrum:
    """Peaks of S(q, omega) of a trajectory beside linear spin-wave theory.

    labels [n_q]; q [n_q, 3] 1/A; peak_mev [n_q]; lswt_mev [n_q] (None when the Hamiltonian
    has no Heisenberg pair list); resolution_mev (frequency grid spacing); mean_moment: <|M|>
    per site over the production run in the Hamiltonian's unit (the thermal renormalisation of
    the ferromagnet's precession frequencies, about <|M|> / length at low T); settings.
    """

    labels: list
    q: np.ndarray
    peak_mev: np.ndarray
    lswt_mev: Optional[np.ndarray]
    resolution_mev: float
    mean_moment: float
    settings: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return dict(labels=list(self.labels), q=self.q.tolist(), peak_mev=self.peak_mev.tolist(),
                    lswt_mev=None if self.lswt_mev is None else self.lswt_mev.tolist(),
                    resolution_mev=self.resolution_mev, mean_moment=self.mean_moment,
                    settings=self.settings)


def magnon_spectrum(hamiltonian, positions, cell, labels, q, temperature: float,
                    unit_moment_muB: float, length: float = 1.0, dt_fs: float = 0.125,
                    alpha: float = 0.005, t_equil_fs: float = 1000.0, t_prod_fs: float = 4000.0,
                    sample_fs: float = 1.0, seed: int = 0, workdir=None,
                    start=None) -> MagnonSpectrum:
    """S(q, omega) of the ferromagnet at ``temperature`` (K) by stochastic LLG: thermalised
    from the ferromagnet along z with strong damping (alpha 0.5) for t_equil_fs, then sampled
    every sample_fs over t_prod_fs with the weak damping ``alpha`` (which broadens each peak by
    about alpha omega). The integrator's phase error grows as (omega dt)^2: at dt 0.25 fs the
    400 meV magnons of Fe come out about 1.5 % low, at the default 0.125 fs about 0.4 %.
    workdir: checkpoints of both stages (a rerun resumes). start: the ferromagnet [n, 3] to
    start from (default: every site at ``length`` along z; moment-vector models with sites of
    other lengths, e.g. a non-magnetic species at 0, pass theirs)."""
    from mmace_fast.dynamics.llg import LLGConfig, SpinDynamics  # noqa: PLC0415

    every = int(round(sample_fs / dt_fs))
    if every < 1 or abs(every * dt_fs - sample_fs) > 1e-9 * sample_fs:
        raise ValueError("sample_fs must be a whole number of time steps")
    n_eq = int(round(t_equil_fs / dt_fs / every)) * every
    n_prod = int(round(t_prod_fs / dt_fs / every)) * every
    pos = np.asarray(positions, dtype=np.float64)
    n = len(pos)
    wd = None if workdir is None else Path(workdir)
    start = (np.tile([0.0, 0.0, length], (n, 1)) if start is None
             else np.asarray(start, dtype=np.float64))
    eq = SpinDynamics(hamiltonian, start, LLGConfig(temperature=temperature, dt_fs=dt_fs,
                                                    alpha=0.5, unit_moment_muB=unit_moment_muB,
                                                    seed=seed))
    eq.run(n_eq, every, checkpoint=None if wd is None else wd / "equilibration.npz")
    prod = SpinDynamics(hamiltonian, eq.spins,
                        LLGConfig(temperature=temperature, dt_fs=dt_fs, alpha=alpha,
                                  unit_moment_muB=unit_moment_muB, seed=seed + 1),
                        positions=pos, q_points=q)
    s = prod.run(n_prod, every, checkpoint=None if wd is None else wd / "production.npz")
    sf = structure_factor(s.mq, every * dt_fs)
    try:
        lswt = lswt_energies(bond_vectors_of(hamiltonian, pos, cell), hamiltonian.terms["J"], n,
                             q, length=length, unit_moment_muB=unit_moment_muB)
    except (ValueError, AttributeError, KeyError, TypeError) as exc:
        log.info("no linear spin-wave reference: %s", exc)
        lswt = None
    return MagnonSpectrum(list(labels), np.asarray(q), sf.peak_mev, lswt, sf.resolution_mev,
                          float(np.linalg.norm(s.M, axis=1).mean()),
                          dict(temperature=temperature, dt_fs=dt_fs, alpha=alpha,
                               t_equil_fs=n_eq * dt_fs, t_prod_fs=n_prod * dt_fs,
                               sample_fs=every * dt_fs, unit_moment_muB=unit_moment_muB,
                               length=length, n_sites=n, seed=seed))
