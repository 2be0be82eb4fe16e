"""Tiny stand-in with the MMACE call contract, used by the training/calculator tests only while
``mmace_fast.model.MMACE`` does not import yet (TODO: delete once the real model lands).

E = sum_i e0(Z_i) + a2(Z_i)|m_i|^2 + a4(Z_i)|m_i|^4
    + 1/2 sum_edges fc(r) [sum_k u_k B_k(r) + (sum_k w_k B_k(r)) m_i.m_j]
with Bessel functions B_k; forces, stress ((1/V) dE/d strain, ASE sign) and -dE/dm by autograd.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import List, Optional

import torch


@dataclass
class StandInConfig:
    species: List[int]
    r_cut: float = 4.0
    n_bessel: int = 4
    avg_num_neighbors: float = 1.0
    e0: Optional[List[float]] = None
    scale: float = 1.0
    shift: float = 0.0
    extra: dict = field(default_factory=dict)

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d):
        return cls(**d)


class StandInModel(torch.nn.Module):
    def __init__(self, cfg: StandInConfig):
        super().__init__()
        self.cfg = cfg
        n_s = len(cfg.species)
        table = torch.full((119,), -1, dtype=torch.long)
        table[torch.tensor(cfg.species)] = torch.arange(n_s)
        self.register_buffer("z_table", table)
        e0 = torch.tensor(cfg.e0 if cfg.e0 is not None else [0.0] * n_s)
        self.register_buffer("e0", e0)
        self.pair = torch.nn.Parameter(0.1 * torch.randn(cfg.n_bessel))
        self.exchange = torch.nn.Parameter(0.01 * torch.randn(cfg.n_bessel))
        self.landau = torch.nn.Parameter(0.01 * torch.randn(n_s, 2))
        self.readout = torch.nn.Linear(1, 1)          # a named group to freeze in tests

    def _bessel(self, r):
        k = torch.arange(1, self.cfg.n_bessel + 1, dtype=r.dtype)
        rc = self.cfg.r_cut
        b = math.sqrt(2 / rc) * torch.sin(k * math.pi * r[:, None] / rc) / r[:, None]
        fc = (1 - (r / rc) ** 2) ** 2
        return b * fc[:, None]

    def forward(self, batch, forces=True, stress=False, magforces=True, training=False):
        g = batch.n_graphs
        strain = torch.zeros(g, 3, 3, dtype=batch.positions.dtype, requires_grad=stress)
        pos = batch.positions
        if forces:
            pos = pos.detach().requires_grad_(True)
        mag = batch.magmoms.detach().requires_grad_(magforces)
        sym = 0.5 * (strain + strain.transpose(1, 2))
        eye = torch.eye(3, dtype=pos.dtype)
        pos_s = torch.einsum("na,nab->nb", pos, eye + sym[batch.batch])
        cell_s = torch.einsum("gab,gbc->gac", batch.cell, eye + sym)
        j, i = batch.edge_index
        eg = batch.batch[i]
        vec = pos_s[j] - pos_s[i] + torch.einsum("ea,eab->eb", batch.shifts.to(pos.dtype),
                                                  cell_s[eg])
        r = vec.norm(dim=1)
        basis = self._bessel(r)
        mm = (mag[i] * mag[j]).sum(1)
        e_edge = 0.5 * (basis @ self.pair + (basis @ self.exchange) * mm)
        s = self.z_table[batch.numbers]
        m2 = (mag * mag).sum(1)
        e_site = (self.e0[s] + self.landau[s, 0] * m2 + self.landau[s, 1] * m2 ** 2
                  + self.readout(m2[:, None]).squeeze(1) * 0.0 + self.cfg.shift)
        e_site = e_site.index_add(0, i, e_edge)
        energy = torch.zeros(g, dtype=pos.dtype).index_add(0, batch.batch, e_site)
        out = {"energy": energy, "site_energies": e_site}
        inputs = [x for x, want in ((pos, forces), (strain, stress), (mag, magforces)) if want]
        if inputs:
            grads = torch.autograd.grad(energy.sum(), inputs, create_graph=training,
                                        allow_unused=True)
            grads = list(grads)
            if forces:
                out["forces"] = -grads.pop(0)
            if stress:
                vol = torch.linalg.det(batch.cell).abs()
                out["stress"] = grads.pop(0) / vol[:, None, None]
            if magforces:
                out["magforces"] = -grads.pop(0)
        return out
