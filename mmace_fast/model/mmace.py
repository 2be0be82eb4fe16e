"""mMACE: MACE with magnetic moments as explicit degrees of freedom and exact symmetries.

Computation order (what an exporter / C++ evaluator follows; names are state_dict keys)
-----------------------------------------------------------------------------------------
Inputs: positions [n,3] A, cell [G,3,3], numbers [n], magmoms [n,3] muB, edges (sender j,
receiver i, integer shift S) with r_ij = x_j - x_i + S @ cell (see mmace_fast.data.graph).
0. species index s_i = z_table[Z_i]; onehot_i [n_species].
1. moment features (``moment_features``): m~ = m / moment_scale[s]; x = |m~|^2;
   d = (1 + x^4)^(1/4); phi_i = T_k(1 - 2x/d), k < n_mag_features; u = m~ / sqrt(d); harmonics
   Ys_i = Y_{0..l_spin_max}(u_i) (e3nn component normalisation, normalize=False). phi and Ys
   are bounded for all moments (see mmace_fast.model.magnetic), so the network part of E is.
2. node attributes a_i = onehot_i (x) phi_i flattened [n_species * n_mag] (centre_spin) or
   onehot_i (no centre spin). Embedding h0_i = a_i @ embedding.weight / sqrt(n_attr)  [n, C, 1].
3. geometry (once, before the layers): r = |r_ij|, Y(r_ij) (normalize=True, component,
   l <= l_max_sh), radial basis b_n(r) = sqrt(2/rc) sin(n pi r/rc)/r * u(r/rc), with
   u(t) = 1 - (p+1)(p+2)/2 t^p + p(p+2) t^(p+1) - p(p+1)/2 t^(p+2) for t < 1 else 0.
4. edge spin quantities:
   non-SOC: c_l = Y_l(u_i).Y_l(u_j)/(2l+1), l <= l_spin_max; sigma_ij = c_l phi_p(i) phi_q(j)
            (centre_spin) or phi_q(j); edge attributes psi_ij = Y(r_ij).
   SOC:     sigma_ij = phi_p(i) phi_q(j) (or phi_q(j)); spin-pair tensor
            S_ij = [Ys_la(u_i) x Ys_lb(u_j)]_L (``spin_pair.coupling.cg``, la+lb even);
            psi_ij = [Y(r_ij) x S_ij]_l blocks (``bond_spin.cg``), l <= l_max_message
            (ops.PairCoupling: out = einsum("ni,nj,ijk->nk", a, b, cg)).
5. for each layer t (``layers.t``):
   w_ij   = radial_mlp(b) * (sigma_ij @ spin_weight)       [E, C*P] -> [E, C, P] (channel-major)
            (radial MLP: bias-free, h <- silu(h @ W_k / sqrt(fan_in)), no activation at the end)
   u_j    = linear_up(h_j)                                 per-l channel mixing / sqrt(C)
   msg_ij = sum_paths w_ij[c, p] cg_p(u_j[c, block1], psi_ij[block2])
            (``tp.cg_g``, ``tp.path_g``, ``tp.target_g``: see ops.ChannelwiseTP)
   A_i    = linear(sum_{j} msg_ij / avg_num_neighbors)
   B_i    = symmetric_contraction(A_i, a_i)                (U_k_nu buffers, W_k_nu weights)
   h_i    = linear_out(B_i) + skip(h_i, a_i)               (skip: attribute-dependent linear)
   e_i^t  = readout(h_i[:, :, 0e])   linear (t < last) or MLP silu (last), bias-free, / sqrt(fan_in)
6. E_i = e0[s_i] + scale * sum_t e_i^t + shift + sum_{k=1..K} a_k(s_i) x_i^k;
   E = sum_i E_i. Forces, stress, magnetic forces by autograd.
   Landau coefficients (``MMACE.landau_coefficients()``, [n_species, K] eV): a_k = landau[:, k-1]
   for k < K, and the top one a_K = softplus(landau[:, K-1]) = log(1 + exp(landau[:, K-1])),
   i.e. ``landau[:, K-1]`` holds the RAW pre-softplus value. a_K > 0 by construction (in
   float64 for raw > -745), so the one-body term, hence E (the network part is bounded in m),
   is bounded below and grows as |m|^(2K): moments are always confined. K = 1 gives a_1 > 0
   (minimum at m = 0). Models saved before this parametrisation (model.json format
   "mmace_fast.model/1", checkpoint format "mmace_fast.checkpoint/1") stored a_K itself in
   ``landau[:, K-1]``; mmace_fast.model.io converts them on load
   (raw = softplus^-1(a_K), refused when a_K <= 0).

How each symmetry is guaranteed (exact, float64; tested in tests/test_model_symmetry.py)
-----------------------------------------------------------------------------------------
- translation / permutation / periodic images: only r_ij enter, sums over edges and atoms.
- supercells: the neighbour list gives the same local environments; site energies are local.
- smooth cutoff: b_n(r) and all its first two derivatives vanish at r_cut (u(1) = u'(1) =
  u''(1) = 0) and the radial MLP is bias-free with silu(0) = 0, so w_ij -> 0 smoothly.
- time reversal T: m -> -m, both modes. phi and x depend on |m|^2 only. Solid harmonics obey
  Y_l(-m) = (-1)^l Y_l(m). Every place where moments enter uses products with
  la + lb even: c_l (l with l), S_ij (la + lb even by construction). So every feature of the
  model is T-even and E(m) = E(-m) holds identically: no odd-T feature exists to be coupled.
- non-SOC, spatial O(3): moments enter only through scalars (c_l, phi), so the spatial part is
  an ordinary MACE on natural-parity irreps with energy 0e.
- non-SOC, spin O(3) (independent of space, improper included): c_l = Y_l(m_i).Y_l(m_j) is
  invariant since Y_l(Q m) = D_l(Q) Y_l(m) (times det(Q)^l for improper Q, which cancels in the
  product of two degree-l harmonics) and D_l is orthogonal; phi depends on |m| only.
- SOC, joint O(3): moments are axial (1e): under Q, r -> Q r, m -> det(Q) Q m. Solid harmonics
  of m are labelled 'le' (even) and transform with D_l(det(Q) Q) = D_l(R), R = det(Q) Q proper,
  which is exactly how e3nn's 'le' irrep of Q acts. All couplings are Wigner 3j with the e3nn
  parity selection rule, so A, B and h are equivariant and the 0e readout is invariant.
  Inversion (r -> -r, m unchanged) is the special case Q = -1.
- SOC, a spin-only rotation is NOT a symmetry: S_ij couples to Y(r_ij) (tested to change E).
- magnetic forces at m = 0: all moment features are smooth (d = (1 + x^4)^(1/4) >= 1)
  functions of the components of m, so dE/dm is defined everywhere (non-magnetic sites with
  tiny moments included). u = m~/sqrt(d) is a scalar even function times m, so the
  rotation and T arguments above hold verbatim with u in place of m~.
"""
from __future__ import annotations

import logging
import math
from typing import Dict, List, Optional

import torch
from e3nn import o3
from torch import nn

from mmace_fast.data.graph import Batch
from mmace_fast.model.config import ModelConfig
from mmace_fast.model.magnetic import (MomentFeatures, SpinPairTensor, bond_spin_attributes,
                                       non_soc_edge_scalars, soc_edge_scalars, spin_invariants)
from mmace_fast.model.ops import (ChannelwiseTP, ElementLinear, EquivariantLinear,
                                  per_channel_irreps, scalar_slice)
from mmace_fast.model.symmetric_contraction import SymmetricContraction

logger = logging.getLogger(__name__)


class UnknownSpeciesError(ValueError):
    """An atom's element is not in the model's species list."""


class LandauCoefficientError(ValueError):
    """A top Landau coefficient a_K <= 0 (not representable: a_K = softplus(raw) > 0)."""


#: initial top Landau coefficient a_K, eV (raw parameter = softplus^-1 of it)
LANDAU_TOP_INIT = 0.01


def softplus(x: torch.Tensor) -> torch.Tensor:
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)), exact in float64 for every x (torch's
    softplus switches to x above a threshold of 20)."""
    return torch.clamp(x, min=0.0) + torch.log1p(torch.exp(-x.abs()))


def inverse_softplus(y: torch.Tensor) -> torch.Tensor:
    """softplus^-1(y) = log(exp(y) - 1) for y > 0, written to be stable for small and large y."""
    return y + torch.log(-torch.expm1(-y))


def landau_raw_from_coefficients(a: torch.Tensor) -> torch.Tensor:
    """Effective Landau coefficients [n_species, K] -> the raw ``landau`` parameter values."""
    raw = a.clone()
    if a.shape[-1] == 0:
        return raw
    top = a[..., -1]
    if bool((top <= 0).any()) or not bool(torch.isfinite(top).all()):
        raise LandauCoefficientError(
            f"top Landau coefficients a_K must be finite and > 0 (a_K = softplus(raw)), got "
            f"{top.tolist()}")
    raw[..., -1] = inverse_softplus(top)
    return raw


def polynomial_envelope(t: torch.Tensor, p: int) -> torch.Tensor:
    """u(t) with u(0) = 1 and u, u', u'' = 0 at t = 1; zero for t >= 1."""
    u = (1.0 - 0.5 * (p + 1) * (p + 2) * t ** p + p * (p + 2) * t ** (p + 1)
         - 0.5 * p * (p + 1) * t ** (p + 2))
    return u * (t < 1.0).to(t.dtype)


class RadialBasis(nn.Module):
    """Bessel functions times the polynomial envelope  # [E, n_bessel]. buffer ``freq`` = n pi."""

    def __init__(self, r_cut: float, n_bessel: int, p: int):
        super().__init__()
        self.r_cut, self.p = float(r_cut), int(p)
        self.register_buffer("freq", math.pi * torch.arange(1, n_bessel + 1, dtype=torch.float64))

    def forward(self, r: torch.Tensor) -> torch.Tensor:  # r [E] A
        t = r / self.r_cut
        pref = math.sqrt(2.0 / self.r_cut)
        b = pref * torch.sin(self.freq * t.unsqueeze(-1)) / r.unsqueeze(-1)
        return b * polynomial_envelope(t, self.p).unsqueeze(-1)


class MLP(nn.Module):
    """Bias-free MLP: h <- silu(h @ weight_k / sqrt(fan_in)), no activation after the last."""

    def __init__(self, widths: List[int]):
        super().__init__()
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.randn(a, b, dtype=torch.float64))
             for a, b in zip(widths[:-1], widths[1:])])

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        last = len(self.weights) - 1
        for k, w in enumerate(self.weights):
            h = h @ w / math.sqrt(w.shape[0])
            if k < last:
                h = torch.nn.functional.silu(h)
        return h


class InteractionLayer(nn.Module):
    """One mMACE layer: message, neighbour sum, symmetric contraction, skip, readout."""

    def __init__(self, cfg: ModelConfig, irreps_h_in: o3.Irreps, irreps_psi: o3.Irreps,
                 irreps_a: o3.Irreps, irreps_h_out: o3.Irreps, n_sigma: int, n_attr: int,
                 last: bool):
        super().__init__()
        c = cfg.n_channels
        self.linear_up = EquivariantLinear(irreps_h_in, irreps_h_in, c, c)
        self.tp = ChannelwiseTP(irreps_h_in, irreps_psi, irreps_a)
        self.n_paths = self.tp.n_paths
        self.radial_mlp = MLP([cfg.n_bessel] + list(cfg.radial_mlp) + [self.n_paths * c])
        self.spin_weight = nn.Parameter(
            torch.randn(n_sigma, self.n_paths * c, dtype=torch.float64) / math.sqrt(n_sigma))
        self.linear = EquivariantLinear(irreps_a, irreps_a, c, c)
        self.symmetric_contraction = SymmetricContraction(irreps_a, irreps_h_out,
                                                          cfg.correlation, c, n_attr)
        self.linear_out = EquivariantLinear(irreps_h_out, irreps_h_out, c, c)
        self.skip = ElementLinear(irreps_h_in, irreps_h_out, c, c, n_attr)
        self.avg_num_neighbors = float(cfg.avg_num_neighbors)
        self.last = last
        self.scalar_index = scalar_slice(irreps_h_out)[0]   # position of 0e in h_out
        if last:
            self.readout = MLP([c] + list(cfg.readout_mlp) + [1])
        else:
            self.readout = MLP([c, 1])

    def forward(self, h, attrs, psi, radial, sigma, sender, receiver):
        n_edges = psi.shape[0]
        c = h.shape[1]
        w = self.radial_mlp(radial) * (sigma @ self.spin_weight)     # [E, P*C]
        w = w.reshape(n_edges, c, self.n_paths)
        u = self.linear_up(h)
        msg = self.tp(u[sender], psi, w)                               # [E, C, D_A]
        a = torch.zeros(h.shape[0], c, msg.shape[2], dtype=msg.dtype, device=msg.device)
        a = a.index_add(0, receiver, msg) / self.avg_num_neighbors
        a = self.linear(a)
        b = self.symmetric_contraction(a, attrs)
        h_new = self.linear_out(b) + self.skip(h, attrs)
        e = self.readout(h_new[:, :, self.scalar_index]).squeeze(-1)   # [n]
        return h_new, e


class MMACE(nn.Module):
    """Magnetic MACE. ``MMACE(ModelConfig(...))``; see the module docstring."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        cfg = config
        cfg.validate()
        self.config = cfg
        n_sp = len(cfg.species)
        z_table = torch.full((119,), -1, dtype=torch.int64)
        for k, z in enumerate(cfg.species):
            z_table[z] = k
        self.register_buffer("z_table", z_table)
        scale = cfg.moment_scale if cfg.moment_scale is not None else [3.0] * n_sp
        self.moment_features = MomentFeatures(scale, cfg.n_mag_features, cfg.l_spin_max)
        e0 = cfg.e0 if cfg.e0 is not None else [0.0] * n_sp
        self.register_buffer("e0", torch.as_tensor(e0, dtype=torch.float64))
        self.register_buffer("scale", torch.tensor(float(cfg.scale), dtype=torch.float64))
        self.register_buffer("shift", torch.tensor(float(cfg.shift), dtype=torch.float64))
        # Landau coefficients a_1..a_{K-1} (start at 0) and the raw top one (a_K = softplus(raw),
        # starts at LANDAU_TOP_INIT eV: a weak confinement the data can strengthen)
        landau = torch.zeros(n_sp, cfg.landau_order, dtype=torch.float64)
        if cfg.landau_order > 0:
            landau[:, -1] = inverse_softplus(torch.tensor(LANDAU_TOP_INIT, dtype=torch.float64))
        self.landau = nn.Parameter(landau)
        self.n_attr = n_sp * cfg.n_mag_features if cfg.centre_spin else n_sp
        self.embedding = nn.Parameter(torch.randn(self.n_attr, cfg.n_channels,
                                                  dtype=torch.float64))
        self.radial_basis = RadialBasis(cfg.r_cut, cfg.n_bessel, cfg.cutoff_p)
        parity_rule = "both" if cfg.soc else "natural"
        self.irreps_sh = per_channel_irreps(cfg.l_max_sh, "natural")
        irreps_a = per_channel_irreps(cfg.l_max_message, parity_rule)
        n_mag, ls = cfg.n_mag_features, cfg.l_spin_max
        if cfg.soc:
            self.spin_pair = SpinPairTensor(ls, cfg.spin_pair_l_max, cfg.centre_spin)
            self.bond_spin = bond_spin_attributes(self.irreps_sh, self.spin_pair.irreps_out,
                                                  cfg.l_max_message)
            irreps_psi = self.bond_spin.irreps_out
            n_sigma = n_mag * n_mag if cfg.centre_spin else n_mag
        else:
            irreps_psi = self.irreps_sh
            n_sigma = (ls + 1) * n_mag * n_mag if cfg.centre_spin else n_mag
        self.irreps_psi = irreps_psi
        irreps_h = o3.Irreps("0e")
        layers = []
        for t in range(cfg.n_layers):
            last = t == cfg.n_layers - 1
            irreps_out = o3.Irreps("0e") if last else per_channel_irreps(cfg.l_max_hidden,
                                                                         parity_rule)
            layers.append(InteractionLayer(cfg, irreps_h, irreps_psi, irreps_a, irreps_out,
                                           n_sigma, self.n_attr, last))
            irreps_h = irreps_out
        self.layers = nn.ModuleList(layers)

    # ------------------------------------------------------------------ helpers
    def landau_coefficients(self) -> torch.Tensor:
        """Effective Landau coefficients a_k  # [n_species, K] eV (per unit x^k).

        a_k = landau[:, k-1] for k < K; a_K = softplus(landau[:, K-1]) > 0 (differentiable;
        what an exporter writes out)."""
        raw = self.landau
        if raw.shape[1] == 0:
            return raw
        return torch.cat([raw[:, :-1], softplus(raw[:, -1:])], dim=1)

    @torch.no_grad()
    def set_landau_coefficients(self, coefficients) -> None:
        """Set the effective a_k  # [n_species, K] eV (top column must be > 0)."""
        a = torch.as_tensor(coefficients, dtype=self.landau.dtype)
        if a.shape != self.landau.shape:
            raise ValueError(f"Landau coefficients need shape {tuple(self.landau.shape)}, got "
                             f"{tuple(a.shape)}")
        self.landau.copy_(landau_raw_from_coefficients(a))

    def species_index(self, numbers: torch.Tensor) -> torch.Tensor:
        """[n] int64 index into ``config.species``; raises on unknown elements."""
        idx = self.z_table[numbers]
        if bool((idx < 0).any()):
            bad = sorted(set(numbers[idx < 0].tolist()))
            raise UnknownSpeciesError(f"atomic numbers {bad} not in model species "
                                      f"{self.config.species}")
        return idx

    def site_energies(self, positions: torch.Tensor, cell: torch.Tensor,
                      magmoms: torch.Tensor, batch: Batch) -> torch.Tensor:
        """E_i  # [n_atoms] eV for the given (possibly strained) positions, cells and moments."""
        cfg = self.config
        species = self.species_index(batch.numbers)
        sender, receiver = batch.edge_index[0], batch.edge_index[1]
        onehot = torch.nn.functional.one_hot(species, len(cfg.species)).to(positions.dtype)
        x, phi, ys = self.moment_features(magmoms, species)
        if cfg.centre_spin:
            attrs = (onehot[:, :, None] * phi[:, None, :]).reshape(onehot.shape[0], -1)
        else:
            attrs = onehot
        h = (attrs @ self.embedding / math.sqrt(self.n_attr)).unsqueeze(-1)   # [n, C, 1]

        shift_vec = torch.einsum("ek,ekl->el", batch.shifts.to(positions.dtype),
                                 cell[batch.batch[receiver]])
        vec = positions[sender] - positions[receiver] + shift_vec           # [E, 3] A
        r = vec.norm(dim=-1)
        y_bond = o3.spherical_harmonics(list(range(cfg.l_max_sh + 1)), vec, normalize=True,
                                        normalization="component")         # [E, D_sh]
        radial = self.radial_basis(r)                                        # [E, n_bessel]
        if cfg.soc:
            sigma = soc_edge_scalars(phi[receiver], phi[sender], cfg.centre_spin)
            pair = self.spin_pair(ys[receiver], ys[sender])
            psi = self.bond_spin(y_bond, pair)
        else:
            c = spin_invariants(ys[receiver], ys[sender], cfg.l_spin_max)
            sigma = non_soc_edge_scalars(c, phi[receiver], phi[sender], cfg.centre_spin)
            psi = y_bond

        e_layers = torch.zeros_like(x)
        for layer in self.layers:
            h, e = layer(h, attrs, psi, radial, sigma, sender, receiver)
            e_layers = e_layers + e
        powers = torch.stack([x ** (k + 1) for k in range(cfg.landau_order)], dim=-1) \
            if cfg.landau_order > 0 else x.new_zeros(x.shape[0], 0)
        e_landau = (powers * self.landau_coefficients()[species]).sum(-1)
        return self.e0[species] + self.scale * e_layers + self.shift + e_landau

    # ------------------------------------------------------------------ forward
    def forward(self, batch: Batch, forces: bool = True, stress: bool = False,
                magforces: bool = False, training: bool = False) -> Dict[str, torch.Tensor]:
        """Energies and (autograd) derivatives. ``training=True`` keeps the graph
        (create_graph) so that force losses can be back-propagated."""
        positions = batch.positions
        cell = batch.cell
        magmoms = batch.magmoms
        if forces or stress:
            positions = positions.detach().clone().requires_grad_(True)
        if magforces:
            magmoms = magmoms.detach().clone().requires_grad_(True)
        strain = None
        pos_used, cell_used = positions, cell
        if stress:
            strain = torch.zeros(batch.n_graphs, 3, 3, dtype=positions.dtype,
                                 device=positions.device, requires_grad=True)
            sym = 0.5 * (strain + strain.transpose(1, 2))
            pos_used = positions + torch.einsum("ni,nij->nj", positions, sym[batch.batch])
            cell_used = cell + torch.einsum("gki,gij->gkj", cell, sym)
        site = self.site_energies(pos_used, cell_used, magmoms, batch)
        energy = torch.zeros(batch.n_graphs, dtype=site.dtype, device=site.device)
        energy = energy.index_add(0, batch.batch, site)
        out = {"energy": energy, "site_energies": site}
        inputs, names = [], []
        if forces:
            inputs.append(positions)
            names.append("forces")
        if stress:
            inputs.append(strain)
            names.append("stress")
        if magforces:
            inputs.append(magmoms)
            names.append("magforces")
        if inputs:
            grads = torch.autograd.grad(energy.sum(), inputs, create_graph=training,
                                        allow_unused=True)
            for name, g, inp in zip(names, grads, inputs):
                if g is None:
                    g = torch.zeros_like(inp)
                if name == "stress":
                    vol = torch.linalg.det(cell).abs()
                    safe = torch.where(vol > 0, vol, torch.ones_like(vol))
                    g = torch.where((vol > 0)[:, None, None], g / safe[:, None, None],
                                    torch.zeros_like(g))
                    out["stress"] = g
                else:
                    out[name] = -g
        return out

    @classmethod
    def from_dict(cls, config: dict, state_dict: Optional[dict] = None) -> "MMACE":
        model = cls(ModelConfig.from_dict(config))
        if state_dict is not None:
            model.load_state_dict(state_dict)
        return model
