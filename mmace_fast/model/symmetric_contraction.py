"""Symmetric contraction (MACE product basis) with explicit generalised Clebsch-Gordan tensors.

For per-channel input irreps V (dimension D, each irrep once) and an output irrep L, the
correlation-nu basis is a set of tensors ``U  # [eta, 2L+1, D, ..., D]`` (nu trailing D's),
totally symmetric in the D indices and equivariant: the span of all maps Sym^nu(V) -> L. They
are built once here (iterated Wigner 3j couplings, symmetrised, orthonormalised by SVD) and
stored as buffers ``U_{k}_{nu}`` (k = index of the output irrep), so the C++ evaluator reads them
from the exported file and never re-derives them.

Forward, per output block L and node i, channel c, with node attributes a_i (one-hot species
times centre-moment magnitude features) and weights ``W_{k}_{nu}  # [n_attr, eta, C]``:

    B_i[c, M] = sum_nu sum_eta (sum_a a_i[a] W[a, eta, c]) U[eta, M, d1..dnu]
                * A_i[c, d1] ... A_i[c, dnu]

evaluated Horner-style from nu_max down to 1 (contract the last index with A, add the
next-lower order, repeat), as in MACE.
"""
from __future__ import annotations

import functools
import string
from typing import Dict, List, Tuple

import torch
from e3nn import o3
from torch import nn

from mmace_fast.model.ops import irreps_blocks

_TOL = 1e-9


def _orthonormal_rows(t: torch.Tensor) -> torch.Tensor:
    """Orthonormal basis of the row span of ``t  # [k, ...]`` (flattened), same trailing shape."""
    if t.shape[0] == 0:
        return t
    flat = t.reshape(t.shape[0], -1)
    _, s, vh = torch.linalg.svd(flat, full_matrices=False)
    if s.numel() == 0 or s[0] < _TOL:
        return t[:0]
    rank = int((s > _TOL * max(1.0, float(s[0]))).sum())
    return vh[:rank].reshape((rank,) + tuple(t.shape[1:]))


def _symmetrise_last(t: torch.Tensor, order: int) -> torch.Tensor:
    """Symmetrise ``t  # [k, D*order, M]`` over its D indices, given it is already symmetric in
    the first order-1 of them: average over transpositions of each index with the last."""
    acc = t.clone()
    last = order  # dims: 0 = k, 1..order = D indices, order+1 = M
    for j in range(1, order):
        acc = acc + t.transpose(j, last)
    return acc / order


def symmetric_basis(irreps_in: o3.Irreps, irreps_out: o3.Irreps, correlation: int
                    ) -> Dict[Tuple[int, int, int], torch.Tensor]:
    """{(l_out, p_out, nu): U  # [eta, 2l+1, D x nu]} for nu = 1..correlation (float64)."""
    blocks = irreps_blocks(o3.Irreps(irreps_in))
    d = o3.Irreps(irreps_in).dim
    l_in_max = max(b[0] for b in blocks)
    l_out_max = max(ir.l for _, ir in o3.Irreps(irreps_out))
    wanted = {(ir.l, ir.p) for _, ir in o3.Irreps(irreps_out)}
    emb = {}
    for l, p, a, b in blocks:
        e = torch.zeros(d, 2 * l + 1, dtype=torch.float64)
        e[a:b] = torch.eye(2 * l + 1, dtype=torch.float64)
        emb[(l, p)] = e
    level = {key: e.unsqueeze(0) for key, e in emb.items()}  # nu = 1: [k, D, M]
    result = {}
    for nu in range(1, correlation + 1):
        if nu > 1:
            cap = l_out_max + (correlation - nu) * l_in_max
            cand: Dict[Tuple[int, int], List[torch.Tensor]] = {}
            for (lt, pt), basis in level.items():
                for (lb, pb), e in emb.items():
                    for lo in range(abs(lt - lb), min(lt + lb, cap) + 1):
                        w3j = o3.wigner_3j(lt, lb, lo, dtype=torch.float64)
                        # basis [k, D.., mt], e [D, mb], w3j [mt, mb, mo] -> [k, D.., D, mo]
                        new = torch.einsum("k...t,eb,tbo->k...eo", basis, e, w3j)
                        cand.setdefault((lo, pt * pb), []).append(new)
            level = {}
            for key, lst in cand.items():
                t = _symmetrise_last(torch.cat(lst, dim=0), nu)
                t = _orthonormal_rows(t)
                if t.shape[0] > 0:
                    level[key] = t
        for (l, p), basis in level.items():
            if (l, p) in wanted:
                # [k, D.., M] -> [k, M, D..]
                perm = (0, basis.dim() - 1) + tuple(range(1, basis.dim() - 1))
                result[(l, p, nu)] = basis.permute(*perm).contiguous()
    return result


class SymmetricContraction(nn.Module):
    """B = sum_nu W_nu(attrs) . U_nu . A^nu per output irrep (see module docstring).

    A      # [n, C, D_in]   per-channel irreps ``irreps_in``
    attrs  # [n, n_attr]    node attributes
    out    # [n, C, D_out]  per-channel irreps ``irreps_out``
    """

    def __init__(self, irreps_in: o3.Irreps, irreps_out: o3.Irreps, correlation: int,
                 n_channels: int, n_attr: int):
        super().__init__()
        self.irreps_in, self.irreps_out = o3.Irreps(irreps_in), o3.Irreps(irreps_out)
        self.correlation = correlation
        basis = symmetric_basis(self.irreps_in, self.irreps_out, correlation)
        self.out_blocks = irreps_blocks(self.irreps_out)
        self.n_channels = n_channels
        self.etas: List[List[int]] = []
        for k, (l, p, _, _) in enumerate(self.out_blocks):
            etas = []
            for nu in range(1, correlation + 1):
                u = basis.get((l, p, nu))
                if u is None:
                    u = torch.zeros((0, 2 * l + 1) + (self.irreps_in.dim,) * nu,
                                    dtype=torch.float64)
                self.register_buffer(f"U_{k}_{nu}", u)
                eta = u.shape[0]
                etas.append(eta)
                self.register_parameter(
                    f"W_{k}_{nu}",
                    nn.Parameter(torch.randn(n_attr, eta, n_channels, dtype=torch.float64)
                                 / max(eta, 1)))
            if sum(etas) == 0:
                raise ValueError(f"output irrep l={l} p={p} unreachable from {irreps_in} "
                                 f"with correlation {correlation}")
            self.etas.append(etas)

    def _block(self, k: int, a: torch.Tensor, attrs: torch.Tensor) -> torch.Tensor:
        letters = string.ascii_lowercase[8:8 + self.correlation]  # i.. for D indices
        out = None
        for nu in range(self.correlation, 0, -1):
            u = getattr(self, f"U_{k}_{nu}")
            w = getattr(self, f"W_{k}_{nu}")
            idx = letters[:nu]
            if u.shape[0] > 0:
                # node-independent folded weights [n_attr, C, M, D..]
                wf = torch.einsum(f"em{idx},aec->acm{idx}", u, w)
                if out is None:
                    # contract A first, then attributes: avoids an [n, C, M, D^nu] temporary
                    t = torch.einsum(f"acm{idx},nc{idx[-1]}->nacm{idx[:-1]}", wf, a)
                    out = torch.einsum(f"nacm{idx[:-1]},na->ncm{idx[:-1]}", t, attrs)
                    continue
                c = torch.einsum(f"acm{idx},na->ncm{idx}", wf, attrs) + out
            else:
                if out is None:
                    continue
                c = out
            out = torch.einsum(f"ncm{idx},nc{idx[-1]}->ncm{idx[:-1]}", c, a)
        return out

    def forward(self, a: torch.Tensor, attrs: torch.Tensor) -> torch.Tensor:
        return torch.cat([self._block(k, a, attrs) for k in range(len(self.out_blocks))], dim=2)
