"""Common pieces of the linear baseline models: parameter labels, per-frame design blocks,
and helpers that turn per-bond derivatives into forces and stress columns.

A linear model has E = sum_k theta_k x_k(R, m). Every design builder returns, per frame, a
:class:`FrameDesign` holding x and the derivatives the labels need, with the signs of the labels:

    energy     # [p]        eV per unit parameter (x_k)
    forces     # [n, 3, p]  -dx_k/dR   eV/A
    stress     # [3, 3, p]  (1/V) dx_k/d(strain)   eV/A^3 (ASE sign, positive = tensile)
    magforces  # [n, 3, p]  -dx_k/dm   eV/muB

so that predicted labels are ``block @ theta``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np


@dataclass(frozen=True)
class Param:
    """One linear parameter: ``kind`` (e0, volume, J, B, D, Ku, Kc, landau, pair, density,
    Jr, Br, landau_rho), the species it belongs to, an index (shell / basis function / power),
    an optional component, and the unit of the parameter."""

    kind: str
    species: tuple
    index: int = 0
    component: str = ""
    unit: str = "eV"
    penalty: float = 1.0      #: relative ridge penalty (small for reference energies E0)

    @property
    def name(self) -> str:
        sp = "-".join(str(z) for z in self.species)
        comp = f"_{self.component}" if self.component else ""
        return f"{self.kind}[{sp}]{self.index}{comp}"


@dataclass
class FrameDesign:
    """Design block of one frame (see module docstring for shapes and units)."""

    energy: np.ndarray
    magforces: Optional[np.ndarray] = None
    forces: Optional[np.ndarray] = None
    stress: Optional[np.ndarray] = None
    n_atoms: int = 0
    info: dict = field(default_factory=dict)

    def predict(self, theta) -> dict:
        theta = np.asarray(theta, dtype=np.float64)
        out = {"energy": float(self.energy @ theta)}
        for name in ("forces", "stress", "magforces"):
            val = getattr(self, name)
            if val is not None:
                out[name] = val @ theta
        return out


def accumulate_bond_derivatives(n_atoms: int, i, j, vec, dxdr, volume):
    """Forces and stress columns from per-bond derivatives.

    i, j   # [B] atoms of bond b, vector r_b = x_j - x_i + shift @ cell  (A)
    vec    # [B, 3] A
    dxdr   # [B, 3, q] dx/dr_b for q features
    Returns forces [n, 3, q] (-dx/dR, eV/A per unit parameter) and stress [3, 3, q]
    ((1/V) sum_b dx/dr_b (x) r_b, symmetrised; None if the volume is None).
    """
    q = dxdr.shape[2]
    forces = np.zeros((n_atoms, 3, q))
    np.add.at(forces, i, dxdr)          # R_i enters r_b with a minus sign: -dx/dR_i = +dx/dr
    np.add.at(forces, j, -dxdr)
    stress = None
    if volume is not None:
        vir = np.einsum("bak,bc->ack", dxdr, vec)
        stress = 0.5 * (vir + vir.transpose(1, 0, 2)) / volume
    return forces, stress
