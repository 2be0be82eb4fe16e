"""Equivariant building blocks whose every coupling coefficient is an explicit buffer.

Feature layout ("channel-outer"): a node or edge feature is a tensor ``x  # [n, C, D]`` where C is
the number of channels and D the dimension of the per-channel irreps (e3nn ``Irreps`` with every
multiplicity 1, e.g. "0e+1o+2e" -> D = 9; components of one irrep contiguous, e3nn order).
Edge attributes (bond harmonics, spin-pair tensors) are ``[n_edges, D]`` with irreps that may
repeat (one block per coupling path).

Nothing here re-derives coefficients at run time: Wigner 3j blocks (times the normalisation
constants) are computed once at construction with the pinned e3nn and registered as buffers, so
they travel in ``state_dict`` and an exporter dumps them (see :class:`ChannelwiseTP`).
"""
from __future__ import annotations

import math
from typing import List, Sequence, Tuple

import torch
from e3nn import o3
from torch import nn


class IrrepsError(ValueError):
    """Inconsistent irreps specification."""


def irreps_blocks(irreps: o3.Irreps) -> List[Tuple[int, int, int, int]]:
    """Expand irreps into blocks of multiplicity 1: list of (l, p, start, stop) in D."""
    out = []
    start = 0
    for mul, ir in o3.Irreps(irreps):
        for _ in range(mul):
            out.append((ir.l, ir.p, start, start + ir.dim))
            start += ir.dim
    return out


def per_channel_irreps(l_max: int, parities: str) -> o3.Irreps:
    """Irreps with one copy per l up to ``l_max``.

    parities: "natural" -> parity (-1)^l (0e+1o+2e...), "both" -> both parities of every l,
    "even" -> all 'e'.
    """
    items = []
    for l in range(l_max + 1):
        nat = (-1) ** l
        if parities == "natural":
            items.append((1, (l, nat)))
        elif parities == "both":
            items.append((1, (l, 1)))
            items.append((1, (l, -1)))
        elif parities == "even":
            items.append((1, (l, 1)))
        else:
            raise IrrepsError(f"unknown parity rule {parities!r}")
    return o3.Irreps(items).sort().irreps.simplify()


def coupling_block(l1: int, l2: int, l3: int, dtype=torch.float64) -> torch.Tensor:
    """sqrt(2 l3 + 1) * w3j(l1, l2, l3): component-normalised coupling  # [2l1+1, 2l2+1, 2l3+1]."""
    return o3.wigner_3j(l1, l2, l3, dtype=dtype) * math.sqrt(2 * l3 + 1)


class EquivariantLinear(nn.Module):
    """Per-l channel mixing on ``[n, C_in, D]`` -> ``[n, C_out, D']``.

    For every irrep present in both ``irreps_in`` and ``irreps_out`` (per-channel irreps, each
    irrep once) a weight ``weight_k  # [C_in, C_out]`` and
    out[:, :, block_out] = einsum(x[:, :, block_in], W) / sqrt(C_in). Output irreps absent from the
    input stay zero.
    """

    def __init__(self, irreps_in: o3.Irreps, irreps_out: o3.Irreps, c_in: int, c_out: int):
        super().__init__()
        self.irreps_in = o3.Irreps(irreps_in)
        self.irreps_out = o3.Irreps(irreps_out)
        self.c_in, self.c_out = c_in, c_out
        bin_ = {(l, p): (a, b) for l, p, a, b in irreps_blocks(self.irreps_in)}
        self.pairs = []  # (slice_in, slice_out)
        self.weights = nn.ParameterList()
        for l, p, a, b in irreps_blocks(self.irreps_out):
            if (l, p) in bin_:
                self.pairs.append((bin_[(l, p)], (a, b)))
                self.weights.append(nn.Parameter(torch.randn(c_in, c_out, dtype=torch.float64)))
        self.norm = 1.0 / math.sqrt(c_in)
        self.dim_out = self.irreps_out.dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [n, C_in, D_in]
        blocks = {}
        for ((a, b), (c, d)), w in zip(self.pairs, self.weights):
            blocks[c] = torch.einsum("ncm,cd->ndm", x[:, :, a:b], w) * self.norm
        outs = []
        for l, p, c, d in irreps_blocks(self.irreps_out):
            if c in blocks:
                outs.append(blocks[c])
            else:
                outs.append(x.new_zeros(x.shape[0], self.c_out, d - c))
        return torch.cat(outs, dim=2)


class ElementLinear(nn.Module):
    """Attribute-dependent per-l channel mixing (MACE's skip tensor product with node attributes).

    out[i, d, block] = sum_{a, c} attrs[i, a] W_l[a, c, d] x[i, c, block] / sqrt(C_in * n_attr).
    """

    def __init__(self, irreps_in: o3.Irreps, irreps_out: o3.Irreps, c_in: int, c_out: int,
                 n_attr: int):
        super().__init__()
        self.irreps_out = o3.Irreps(irreps_out)
        bin_ = {(l, p): (a, b) for l, p, a, b in irreps_blocks(o3.Irreps(irreps_in))}
        self.pairs = []
        self.weights = nn.ParameterList()
        for l, p, a, b in irreps_blocks(self.irreps_out):
            if (l, p) in bin_:
                self.pairs.append((bin_[(l, p)], (a, b)))
                self.weights.append(
                    nn.Parameter(torch.randn(n_attr, c_in, c_out, dtype=torch.float64)))
        self.c_out = c_out
        self.norm = 1.0 / math.sqrt(c_in * n_attr)

    def forward(self, x: torch.Tensor, attrs: torch.Tensor) -> torch.Tensor:
        blocks = {}
        for ((a, b), (c, d)), w in zip(self.pairs, self.weights):
            wi = torch.einsum("na,acd->ncd", attrs, w)  # [n, C_in, C_out]
            blocks[c] = torch.einsum("ncm,ncd->ndm", x[:, :, a:b], wi) * self.norm
        outs = []
        for l, p, c, d in irreps_blocks(self.irreps_out):
            outs.append(blocks[c] if c in blocks else x.new_zeros(x.shape[0], self.c_out, d - c))
        return torch.cat(outs, dim=2)


class ChannelwiseTP(nn.Module):
    """Channel-wise ("uvu") tensor product with per-item, per-path, per-channel weights.

    x1  # [n, C, D1]  per-channel irreps ``irreps1`` (each irrep once)
    x2  # [n, D2]     irreps ``irreps2`` (irreps may repeat: each block is its own path source)
    w   # [n, C, P]   path weights (e.g. radial MLP outputs), channel-major
    out # [n, C, Dout] per-channel irreps ``irreps_out`` (each irrep once)

    Paths: every (block1, block2, ir_out) with ir_out in ir1 x ir2 (triangle and parity) and
    ir_out in irreps_out, listed in ``self.paths`` as (l1, l2, l3, start1, stop1, start2, stop2,
    start_out, stop_out). Path p has the coefficient tensor
    cg_p = sqrt(2 l3 + 1) w3j(l1, l2, l3) / sqrt(n_paths(ir_out)), and
        out[:, c, out_block] += w[:, c, p] * einsum("m,k,mkj->j", x1[:, c, b1], x2[:, b2], cg_p).
    Storage for evaluation, grouped by block1 = b (one buffer set per irrep of x1):
        ``cg_{b}        # [D2, 2 l1 + 1, J_b]`` the cg_p of all paths from b side by side
                          (cg_b[k, m, j] = cg_p[m, k - start2, j - offset_p]),
        ``path_{b}      # [J_b] int64`` the path p of each column,
        ``target_{b}    # [J_b] int64`` the output component (index in Dout) of each column.
    """

    def __init__(self, irreps1: o3.Irreps, irreps2: o3.Irreps, irreps_out: o3.Irreps):
        super().__init__()
        self.irreps1, self.irreps2 = o3.Irreps(irreps1), o3.Irreps(irreps2)
        self.irreps_out = o3.Irreps(irreps_out)
        out_blocks = {(l, p): (a, b) for l, p, a, b in irreps_blocks(self.irreps_out)}
        raw = []
        for l1, p1, a1, b1 in irreps_blocks(self.irreps1):
            for l2, p2, a2, b2 in irreps_blocks(self.irreps2):
                for l3 in range(abs(l1 - l2), l1 + l2 + 1):
                    key = (l3, p1 * p2)
                    if key in out_blocks:
                        raw.append((l1, l2, l3, a1, b1, a2, b2) + out_blocks[key])
        if not raw:
            raise IrrepsError(f"no coupling paths {irreps1} x {irreps2} -> {irreps_out}")
        counts = {}
        for r in raw:
            counts[r[7]] = counts.get(r[7], 0) + 1
        self.paths = raw
        self.n_paths = len(raw)
        self.dim_out = self.irreps_out.dim
        d2 = self.irreps2.dim
        self.groups = []   # (start1, stop1) per buffer set
        for g, (l1, p1, a1, b1) in enumerate(irreps_blocks(self.irreps1)):
            cols, pidx, tidx = [], [], []
            for k, (q1, l2, l3, s1, e1, a2, b2, c0, d0) in enumerate(raw):
                if s1 != a1:
                    continue
                cg = coupling_block(q1, l2, l3) / math.sqrt(counts[c0])
                full = torch.zeros(2 * l1 + 1, d2, 2 * l3 + 1, dtype=torch.float64)
                full[:, a2:b2, :] = cg
                cols.append(full)
                pidx += [k] * (2 * l3 + 1)
                tidx += list(range(c0, d0))
            if not cols:
                continue
            self.register_buffer(f"cg_{len(self.groups)}",
                                 torch.cat(cols, dim=2).permute(1, 0, 2).contiguous())
            self.register_buffer(f"path_{len(self.groups)}", torch.tensor(pidx))
            self.register_buffer(f"target_{len(self.groups)}", torch.tensor(tidx))
            # the same scatter as a 0/1 matrix [J, Dout] (a matmul is faster than index_add)
            scatter = torch.zeros(len(tidx), self.dim_out, dtype=torch.float64)
            scatter[torch.arange(len(tidx)), torch.tensor(tidx)] = 1.0
            self.register_buffer(f"scatter_{len(self.groups)}", scatter, persistent=False)
            # path -> column expansion is a gather, w.index_select(2, path_b): a 0/1 [P, J]
            # matmul does P times the work (FePt's SOC layer, P = 286: training step of the
            # layer 378 -> 133 ms with forces and double backward, 2026-12-07)
            self.groups.append((a1, b1))

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        n, c = x1.shape[0], x1.shape[1]
        out = x1.new_zeros(n, c, self.dim_out)
        for g, (a1, b1) in enumerate(self.groups):
            cg = getattr(self, f"cg_{g}")                                  # [D2, m1, J]
            d2, m1, jb = cg.shape
            gmat = (x2 @ cg.reshape(d2, m1 * jb)).reshape(n, m1, jb)
            if m1 == 1:   # l1 = 0: the bmm is an outer product
                y = x1[:, :, a1:b1] * gmat                                 # [n, C, J]
            else:
                y = torch.bmm(x1[:, :, a1:b1], gmat)                       # [n, C, J]
            y = y * w.index_select(2, getattr(self, f"path_{g}"))          # w[:, :, path_g]
            out = out + y @ getattr(self, f"scatter_{g}")
        return out


class PairCoupling(nn.Module):
    """Coupling of two single-copy irreps vectors into a list of output blocks (no weights).

    a  # [n, Da] irreps_a (each irrep once), b  # [n, Db] irreps_b
    out # [n, Dout]: one block per path (la, lb, l_out, ...) in ``self.paths``, filtered by
    ``keep(la, pa, lb, pb, l_out)``; path coefficients sqrt(2 l_out + 1) w3j(la, lb, l_out)
    stored side by side in the buffer ``cg  # [Da, Db, Dout]``:
    out = einsum("ni,nj,ijk->nk", a, b, cg). ``self.irreps_out`` lists the blocks (irreps may
    repeat).
    """

    def __init__(self, irreps_a: o3.Irreps, irreps_b: o3.Irreps, keep):
        super().__init__()
        self.paths = []
        items = []
        blocks = []
        da, db = o3.Irreps(irreps_a).dim, o3.Irreps(irreps_b).dim
        for la, pa, a0, a1 in irreps_blocks(o3.Irreps(irreps_a)):
            for lb, pb, b0, b1 in irreps_blocks(o3.Irreps(irreps_b)):
                for lo in range(abs(la - lb), la + lb + 1):
                    if keep(la, pa, lb, pb, lo):
                        full = torch.zeros(da, db, 2 * lo + 1, dtype=torch.float64)
                        full[a0:a1, b0:b1] = coupling_block(la, lb, lo)
                        blocks.append(full)
                        self.paths.append((la, lb, lo, a0, a1, b0, b1))
                        items.append((1, (lo, pa * pb)))
        if not self.paths:
            raise IrrepsError("pair coupling has no paths")
        self.register_buffer("cg", torch.cat(blocks, dim=2))
        self.irreps_out = o3.Irreps(items)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        n, da, db = a.shape[0], a.shape[1], b.shape[1]
        outer = (a.unsqueeze(2) * b.unsqueeze(1)).reshape(n, da * db)
        return outer @ self.cg.reshape(da * db, -1)


def scalar_slice(irreps: o3.Irreps) -> Tuple[int, int]:
    """(start, stop) of the 0e block in per-channel irreps."""
    for l, p, a, b in irreps_blocks(o3.Irreps(irreps)):
        if l == 0 and p == 1:
            return a, b
    raise IrrepsError(f"irreps {irreps} have no 0e block")


def sequence_to_irreps(items: Sequence[Tuple[int, int]]) -> o3.Irreps:
    return o3.Irreps([(1, (l, p)) for l, p in items])
