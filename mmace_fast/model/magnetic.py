"""Moment features with exact spin symmetries (see :mod:`mmace_fast.model.mmace` for the proofs).

All features are built from
    m~_i = m_i / moment_scale(Z_i)           (dimensionless)
    x_i  = |m~_i|^2                          (even in m)
    phi_k(i) = T_k(1 - 2 x_i), k < n_mag     Chebyshev polynomials of x: even in m, smooth
    Y_l(m~_i)                                solid harmonics |m~|^l Y_l(m~/|m~|): homogeneous
                                             polynomials of degree l, Y_l(-m) = (-1)^l Y_l(m),
                                             smooth at m = 0 (e3nn, normalize=False, component)
"""
from __future__ import annotations

import torch
from e3nn import o3
from torch import nn

from mmace_fast.model.ops import PairCoupling, irreps_blocks, per_channel_irreps


def chebyshev(y: torch.Tensor, n: int) -> torch.Tensor:
    """[..., n]: T_0(y) .. T_{n-1}(y) by the three-term recurrence."""
    out = [torch.ones_like(y)]
    if n > 1:
        out.append(y)
    for _ in range(2, n):
        out.append(2.0 * y * out[-1] - out[-2])
    return torch.stack(out, dim=-1)


class MomentFeatures(nn.Module):
    """Per-atom moment features: (x, phi, Y) from moments and species indices.

    buffer ``moment_scale  # [n_species] muB``.
    """

    def __init__(self, moment_scale, n_mag: int, l_spin_max: int):
        super().__init__()
        self.register_buffer("moment_scale", torch.as_tensor(moment_scale, dtype=torch.float64))
        self.n_mag = n_mag
        self.l_spin_max = l_spin_max
        # moments are axial vectors: every solid harmonic of m is even under inversion
        self.irreps_spin = per_channel_irreps(l_spin_max, "even")

    def forward(self, magmoms: torch.Tensor, species: torch.Tensor):
        mt = magmoms / self.moment_scale[species].unsqueeze(-1)   # [n, 3] dimensionless
        x = (mt * mt).sum(-1)                                      # [n]
        phi = chebyshev(1.0 - 2.0 * x, self.n_mag)                 # [n, n_mag]
        ys = o3.spherical_harmonics(list(range(self.l_spin_max + 1)), mt, normalize=False,
                                    normalization="component")     # [n, (Ls+1)^2]
        return x, phi, ys


def spin_invariants(ys_i: torch.Tensor, ys_j: torch.Tensor, l_spin_max: int) -> torch.Tensor:
    """c_l = Y_l(m~_i) . Y_l(m~_j) / (2l+1) = |m~_i|^l |m~_j|^l P_l(cos theta_ij)  # [E, Ls+1].

    Invariant under any common O(3) transformation of all moments (hence T-even)."""
    outs = []
    for l in range(l_spin_max + 1):
        a, b = l * l, (l + 1) * (l + 1)
        outs.append((ys_i[:, a:b] * ys_j[:, a:b]).sum(-1) / (2 * l + 1))
    return torch.stack(outs, dim=-1)


def non_soc_edge_scalars(c: torch.Tensor, phi_i: torch.Tensor, phi_j: torch.Tensor,
                         centre_spin: bool) -> torch.Tensor:
    """Edge spin scalars sigma_ij for the non-SOC model.

    centre_spin: c_l(i, j) phi_p(i) phi_q(j) for all (l, p, q)  # [E, (Ls+1) n^2]
    otherwise:   phi_q(j)                                       # [E, n]
    """
    if not centre_spin:
        return phi_j
    s = c[:, :, None, None] * phi_i[:, None, :, None] * phi_j[:, None, None, :]
    return s.reshape(s.shape[0], s.shape[1] * s.shape[2] * s.shape[3])


def soc_edge_scalars(phi_i: torch.Tensor, phi_j: torch.Tensor, centre_spin: bool) -> torch.Tensor:
    """Edge magnitude scalars for the SOC model: phi_p(i) phi_q(j) (or phi_q(j))."""
    if not centre_spin:
        return phi_j
    s = phi_i[:, :, None] * phi_j[:, None, :]
    return s.reshape(s.shape[0], s.shape[1] * s.shape[2])


class SpinPairTensor(nn.Module):
    """SOC spin-pair tensor S_ij = [Y_la(m~_i) x Y_lb(m~_j)]_L, all blocks T-even.

    Kept paths: la + lb even (T-parity (-1)^(la+lb) = +1), L <= l_pair_max. Without
    ``centre_spin`` only la = 0 (sender harmonics of even lb). Every block is 'Le' (axial
    moments), and the block with la = lb = L = 0 equals 1, so plain bond harmonics survive.
    """

    def __init__(self, l_spin_max: int, l_pair_max: int, centre_spin: bool):
        super().__init__()
        irr = per_channel_irreps(l_spin_max, "even")

        def keep(la, pa, lb, pb, lo):
            if (la + lb) % 2 != 0 or lo > l_pair_max:
                return False
            return centre_spin or la == 0

        self.coupling = PairCoupling(irr, irr, keep)
        self.irreps_out = self.coupling.irreps_out

    def forward(self, ys_i: torch.Tensor, ys_j: torch.Tensor) -> torch.Tensor:
        return self.coupling(ys_i, ys_j)


def bond_spin_attributes(irreps_sh: o3.Irreps, irreps_pair: o3.Irreps, l_max: int):
    """PairCoupling Y(r_ij) x S_ij -> blocks with l <= l_max (edge attributes of SOC messages)."""
    def keep(la, pa, lb, pb, lo):
        return lo <= l_max

    return PairCoupling(irreps_sh, irreps_pair, keep)


def irreps_parities(irreps: o3.Irreps) -> set:
    return {(l, p) for l, p, _, _ in irreps_blocks(irreps)}
