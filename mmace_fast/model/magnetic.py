"""Moment features with exact spin symmetries (see :mod:`mmace_fast.model.mmace` for the proofs).

All features are built from
    m~_i = m_i / moment_scale(Z_i)           (dimensionless; moment_scale is per element)
    x_i  = |m~_i|^2                          (even in m)
    d_i  = (1 + x_i^4)^(1/4)                 (smooth, even; d ~ 1 + x^4/4 for small x)
    q_i  = x_i / d_i  in [0, 1)              (bounded, monotone in |m|, smooth at m = 0)
    phi_k(i) = T_k(1 - 2 q_i), k < n_mag     Chebyshev polynomials: |phi_k| <= 1 for every m
    u_i  = m~_i / sqrt(d_i),  |u_i|^2 = q_i  (odd in m, smooth at m = 0, |u| < 1)
    Y_l(u_i) = d_i^(-l/2) Y_l(m~_i)          solid harmonics |u|^l Y_l(u/|u|) (e3nn,
                                             normalize=False, component): |Y_l|^2 < 2l+1

Boundedness (why): plain solid harmonics |m~|^l Y_l and Chebyshev polynomials of x grow
without bound for |m| > moment_scale and compound through the layers and the symmetric
contraction (E ~ 1e30 eV at |m| = 5 muB for a random model). With the per-element envelope
(1 + x^4)^(-l/8) per harmonic (equivalently: harmonics of the squashed vector u) and the
magnitude variable q, every moment feature lies in a fixed bounded set for all m, so for fixed
geometry the network energy is bounded in the moments. The envelope is flat below
moment_scale (d = 1.014 at |m| = 0.7 moment_scale, 1.19 at |m| = moment_scale) so features
there stay close to the polynomial ones that represent J m_i.m_j and K m_z^2 exactly; the
gentler (1 + x)^(-l/2) was tried and fits the expressiveness benchmarks markedly worse.
Only the optional explicit one-body Landau term sum_k a_k x^k (mmace.py) stays polynomial:
it is what confines |m| (a_K > 0).

Symmetries are unchanged: u = g(|m|) m with a scalar even g, so Y_l(Q u) = D_l(Q) Y_l(u)
(rotations, and axial/SOC or spin-O(3)/non-SOC parity as before), Y_l(u(-m)) = (-1)^l Y_l(u(m))
(T-parity (-1)^l per harmonic), phi depends on |m|^2 only (T-even). All features are smooth
(real-analytic) functions of the components of m, including at m = 0, so magnetic forces are
defined there.
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

    x is the unbounded |m~|^2 (for the explicit Landau term only); phi and Y are bounded (see the
    module docstring). buffer ``moment_scale  # [n_species] muB``.
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
        d = (1.0 + x ** 4) ** 0.25                                 # [n] envelope
        phi = chebyshev(1.0 - 2.0 * x / d, self.n_mag)             # [n, n_mag], |phi| <= 1
        u = mt / torch.sqrt(d).unsqueeze(-1)                       # [n, 3], |u|^2 = x/d < 1
        ys = o3.spherical_harmonics(list(range(self.l_spin_max + 1)), u, normalize=False,
                                    normalization="component")     # [n, (Ls+1)^2], bounded
        return x, phi, ys


def spin_invariants(ys_i: torch.Tensor, ys_j: torch.Tensor, l_spin_max: int) -> torch.Tensor:
    """c_l = Y_l(u_i) . Y_l(u_j) / (2l+1) = |u_i|^l |u_j|^l P_l(cos theta_ij)  # [E, Ls+1].

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
    """SOC spin-pair tensor S_ij = [Y_la(u_i) x Y_lb(u_j)]_L, all blocks T-even.

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
