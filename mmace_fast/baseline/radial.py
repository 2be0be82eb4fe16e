"""Smooth radial basis for the spin-lattice baseline (NumPy, float64) with first derivatives.

b_n(r) = sqrt(2 / rc) sin(n pi r / rc) / r * u(r / rc),   n = 1..N,
u(t) = 1 - (p+1)(p+2)/2 t^p + p(p+2) t^(p+1) - p(p+1)/2 t^(p+2)  (t < 1), 0 otherwise.

The same Bessel functions and polynomial envelope as the mMACE radial basis
(:class:`mmace_fast.model.mmace.RadialBasis`): u, u', u'' vanish at the cutoff, so energies,
forces and stress built on b_n are smooth at rc.
"""
from __future__ import annotations

import numpy as np


def envelope(t, p: int):
    """u(t) and du/dt  # both [...]; zero for t >= 1."""
    t = np.asarray(t, dtype=np.float64)
    inside = t < 1.0
    u = (1.0 - 0.5 * (p + 1) * (p + 2) * t ** p + p * (p + 2) * t ** (p + 1)
         - 0.5 * p * (p + 1) * t ** (p + 2))
    du = (-0.5 * p * (p + 1) * (p + 2) * t ** (p - 1) + p * (p + 1) * (p + 2) * t ** p
          - 0.5 * p * (p + 1) * (p + 2) * t ** (p + 1))
    return np.where(inside, u, 0.0), np.where(inside, du, 0.0)


class BesselBasis:
    """N Bessel functions times the envelope, cutoff ``r_cut`` (A), envelope power ``p``."""

    def __init__(self, r_cut: float, n: int, p: int = 6):
        if not (np.isfinite(r_cut) and r_cut > 0):
            raise ValueError(f"r_cut must be positive, got {r_cut}")
        if int(n) < 1:
            raise ValueError(f"number of radial functions must be >= 1, got {n}")
        if int(p) < 2:
            raise ValueError(f"envelope power p must be >= 2, got {p}")
        self.r_cut, self.n, self.p = float(r_cut), int(n), int(p)
        self.freq = np.pi * np.arange(1, self.n + 1) / self.r_cut     # [N] 1/A

    def __call__(self, r):
        """Values and d/dr  # ([E, N] 1/A, [E, N] 1/A^2) for distances r [E] A (r > 0)."""
        r = np.asarray(r, dtype=np.float64).reshape(-1)
        if np.any(r <= 0):
            raise ValueError("radial basis needs positive distances")
        pref = np.sqrt(2.0 / self.r_cut)
        wr = self.freq[None, :] * r[:, None]
        s, c = np.sin(wr), np.cos(wr)
        g = pref * s / r[:, None]                                       # [E, N]
        dg = pref * (self.freq[None, :] * c * r[:, None] - s) / r[:, None] ** 2
        u, du = envelope(r / self.r_cut, self.p)
        return g * u[:, None], dg * u[:, None] + g * (du / self.r_cut)[:, None]

    def to_dict(self) -> dict:
        return {"r_cut": self.r_cut, "n": self.n, "p": self.p}
