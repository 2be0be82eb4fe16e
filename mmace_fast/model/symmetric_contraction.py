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

Evaluation (an implementation detail; any order gives the same B up to rounding): since U is
totally symmetric in its D indices, sum_{d1..dnu} U[.., d1..dnu] A_d1 ... A_dnu equals
sum_t Ut[.., t] P_t over sorted index tuples t = (d1 <= ... <= dnu), with the monomials
P_t = A_d1 ... A_dnu and Ut[t] the sum of U over all orderings of t. All monomials of all
orders that any output uses are built per (node, channel) by one gather-multiply per order
(P_t = P_prefix(t) * A_last(t)), then one matrix product with the folded basis
``Ut  # [T, sum_k sum_nu eta M]`` gives every (k, nu, eta, m) projection, and the
node-dependent weights W(a_i) = sum_a a_i[a] W[a, eta, c] finish the sum over eta. This costs
~T (~D^nu / nu!) per (node, channel) instead of n_attr D^nu for a Horner evaluation with
attribute-dependent folded weights. The folded basis and the index tensors are non-persistent
buffers derived from the U_k_nu buffers at construction (state_dict unchanged).
"""
from __future__ import annotations

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

        self._build_monomials()

    def _load_from_state_dict(self, *args, **kwargs):
        """Load U_k_nu / W_k_nu, then rebuild the plan from the loaded U: the basis is unique
        only up to a rotation within each (k, nu) space, and the one a model was trained with
        (stored in its state_dict) can differ from the one this machine's LAPACK computes at
        construction; the folded basis must follow the stored U that the weights W belong to."""
        super()._load_from_state_dict(*args, **kwargs)
        self._build_monomials()

    # ------------------------------------------------------------------ evaluation plan
    def _build_monomials(self) -> None:
        """Sorted index tuples (monomials) per order, the gather plan and the folded basis, in
        the dtype and on the device of the U buffers (also after .to() and a load)."""
        d = self.irreps_in.dim
        dtype, device = self.U_0_1.dtype, self.U_0_1.device
        # folded basis columns per (k, nu): Ut_nu  # [T_nu, eta * M]
        folded: Dict[Tuple[int, int], Dict[Tuple[int, ...], torch.Tensor]] = {}
        used: Dict[int, set] = {nu: set() for nu in range(1, self.correlation + 1)}
        for k, (l, p, _, _) in enumerate(self.out_blocks):
            for nu in range(1, self.correlation + 1):
                u = getattr(self, f"U_{k}_{nu}")                   # [eta, M, D x nu]
                eta, m = u.shape[0], u.shape[1]
                if eta == 0:
                    continue
                flat = u.reshape(eta * m, -1)                         # [eta M, D^nu]
                sums: Dict[Tuple[int, ...], torch.Tensor] = {}
                for idx in torch.nonzero(flat.abs().sum(0) > 0).flatten().tolist():
                    key = tuple(sorted(_unravel(idx, d, nu)))
                    sums[key] = sums[key] + flat[:, idx] if key in sums else flat[:, idx].clone()
                folded[(k, nu)] = sums
                used[nu].update(sums)
        # every prefix of a used monomial is needed to build it
        for nu in range(self.correlation, 1, -1):
            used[nu - 1].update(t[:-1] for t in used[nu])
        self.monomials = {nu: sorted(used[nu]) for nu in used}
        position, start = {}, 0
        for nu in range(1, self.correlation + 1):
            for j, t in enumerate(self.monomials[nu]):
                position[t] = start + j
            start += len(self.monomials[nu])
            if nu == 1:
                self.register_buffer("mono_1", torch.tensor([t[0] for t in self.monomials[1]],
                                                            dtype=torch.int64, device=device),
                                     persistent=False)
            else:
                prev = {t: j for j, t in enumerate(self.monomials[nu - 1])}
                self.register_buffer(f"mono_{nu}_prefix", torch.tensor(
                    [prev[t[:-1]] for t in self.monomials[nu]], dtype=torch.int64,
                    device=device), persistent=False)
                self.register_buffer(f"mono_{nu}_last", torch.tensor(
                    [t[-1] for t in self.monomials[nu]], dtype=torch.int64, device=device),
                    persistent=False)
        n_mono = start
        self.identity_first = self.monomials[1] == [(i,) for i in range(d)]
        # one column block per (k, nu), columns (eta, m); weights W_k_nu stacked along eta
        cols, self.block_plan = [], []   # per k: (col_start, eta_total, M, eta_start)
        col, eta_at = 0, 0
        self.weight_names = []
        for k, (l, p, _, _) in enumerate(self.out_blocks):
            m = 2 * l + 1
            eta_k = 0
            for nu in range(1, self.correlation + 1):
                if (k, nu) not in folded:
                    continue
                eta = getattr(self, f"U_{k}_{nu}").shape[0]
                block = torch.zeros(n_mono, eta * m, dtype=dtype, device=device)
                for t, v in folded[(k, nu)].items():
                    block[position[t]] = v
                cols.append(block)
                self.weight_names.append(f"W_{k}_{nu}")
                eta_k += eta
            self.block_plan.append((col, eta_k, m, eta_at))
            col += eta_k * m
            eta_at += eta_k
        self.register_buffer("folded_basis", torch.cat(cols, dim=1), persistent=False)

    def monomials_of(self, a: torch.Tensor) -> torch.Tensor:
        """All used monomials P_t(A)  # [n, C, T] (orders 1..correlation side by side)."""
        p1 = a if self.identity_first else a.index_select(2, self.mono_1)
        parts, prev = [p1], p1
        for nu in range(2, self.correlation + 1):
            prev = prev.index_select(2, getattr(self, f"mono_{nu}_prefix")) \
                * a.index_select(2, getattr(self, f"mono_{nu}_last"))
            parts.append(prev)
        return torch.cat(parts, dim=2) if len(parts) > 1 else parts[0]

    def forward(self, a: torch.Tensor, attrs: torch.Tensor) -> torch.Tensor:
        n, c = a.shape[0], a.shape[1]
        proj = self.monomials_of(a) @ self.folded_basis              # [n, C, sum eta M]
        w = torch.cat([getattr(self, name) for name in self.weight_names], dim=1)
        wn = (attrs @ w.reshape(w.shape[0], -1)).reshape(n, w.shape[1], c)   # [n, eta, C]
        outs = []
        for col, eta_k, m, eta_at in self.block_plan:
            q = proj[:, :, col:col + eta_k * m].reshape(n, c, eta_k, m)
            wk = wn[:, eta_at:eta_at + eta_k, :].transpose(1, 2).unsqueeze(-1)   # [n, C, eta, 1]
            outs.append((q * wk).sum(2))
        return torch.cat(outs, dim=2) if len(outs) > 1 else outs[0]


def _unravel(flat_index: int, d: int, nu: int) -> Tuple[int, ...]:
    """Row-major multi-index of ``flat_index`` in a [d] * nu array."""
    out = []
    for _ in range(nu):
        out.append(flat_index % d)
        flat_index //= d
    return tuple(reversed(out))
