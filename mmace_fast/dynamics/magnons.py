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

from dataclasses import dataclass

import numpy as np

from mmace_fast import conventions as cv


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
    """[P, 3] A: r_j - r_i + shift @ cell of the pair-once bonds of a Hamiltonian built from
    shells or distances (``hamiltonian.shells``)."""
    sh = getattr(hamiltonian, "shells", None)
    if sh is None:
        raise ValueError("the Hamiltonian keeps no pair list with shifts (build it with "
                         "from_shells or from_distances)")
    pos = np.asarray(positions, dtype=np.float64)
    return pos[sh.pair_j] - pos[sh.pair_i] + sh.shift @ np.asarray(cell, dtype=np.float64)


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
