"""Weighted loss on energy per atom, forces, stress and magnetic forces.

Each term is a masked, weighted mean over the labelled entries of the batch:

    L = w_E <e_g (dE_g / n_g)^2> + w_F <f_a |dF_a|^2 / 3> + w_S <s_g |dS_g|^2 / 9>
        + w_M <m_ak dM_ak^2>_mask

with per-frame weights e_g, f_a, s_g, m_ak (the magforces mask zeroes undefined components)
and (dE, dF, dS, dM) prediction minus reference in eV, eV/A, eV/A^3, eV/muB. With
``kind="huber"`` the square is replaced by the Huber function of width ``delta``.
The means divide by the number of labelled entries, not by the weights.

Longitudinal moment-stability prior (:func:`moment_stability_penalty`, optional). A converged
collinear SCF state is a local minimum of the DFT energy E(M) over the local moments (the
Kohn-Sham state minimises the functional; only symmetry-pinned states such as the non-magnetic
one can be saddles, and those have small moments). The labels give E and dE/dM = 0 there but
no curvature, so a model may put a maximum or a wiggle at the DFT moments and moment relaxation
then runs away. The prior scales the moments of the "magnetic" sites (|m| above a threshold)
of each training frame by s (one s per batch from a golden-ratio sequence filling a range
[lo, hi] evenly, :func:`stability_scale`; deterministic and resumable from the call count) and
asks that the energy along that ray rise away from the DFT moments:

    c_g(s) = (dE/ds) / ((s - 1) sum_i |m_i|^2) = -sum_i F_m,i(s m) . m_i / ((s - 1) sum |m_i|^2)

(an effective curvature, eV/muB^2, equal to the curvature for a quadratic well) must exceed
a threshold t(s); penalty = mean_g relu(t(s) - c_g)^2. Frames without magnetic sites do not
enter. Two threshold profiles:

* ``"constant"``: t(s) = c_min, the well is at least as stiff as a parabola of curvature c_min
  everywhere in the range (suits moments far above the Landau inflection, e.g. Fe's 2.2 muB
  with the range starting at s = 0.3);
* ``"landau"``: t(s) = c_min s (s + 1) / 2, the effective curvature of the quartic Landau well
  E = a m^2 + b m^4 (a < 0) whose minimum has curvature c_min (for that well
  c(s) = 4 b m0^2 s (s + 1) / 2 exactly). It tends to 0 as s -> 0, so the range may reach down
  to small s: it asks for E to fall monotonically from the non-magnetic state to the DFT
  moment, as a Landau well does, without forbidding the negative curvature a Landau well has
  below its inflection point (s < 1/sqrt(3)); a constant threshold there contradicts the
  physics and, for a small moment (FeAl's Fe, 0.78 muB), left a spurious barrier below the
  constrained range through which moment relaxation fell to zero.

Induced-moment prior (:func:`induced_moment_penalty`, optional, same weight and c_min). The ray
above cannot constrain the species that carry no moment of their own (Al in FeAl, N in CrN,
Pt's small induced moment in FePt): their DFT moments are ~0, the labels only say dE/dM = 0
there, and a model trained with a large force weight was seen to lower FeAl's energy by
2.9 eV/atom by putting -2.9 muB on Al (moment relaxation from the FM state). The prior moves
the moments of the sites of the listed species by r u_i (u_i random unit vectors, r from a
range by the same golden-ratio sequence; every other site keeps its DFT moment) and asks for
an energy that rises away from the DFT state:

    c_g(r) = sum_i (dE/dr)_i / (r n_g) = -sum_i F_m,i(m0 + r u) . u_i / (r n_g) >= c_min

(n_g the number of such sites in frame g; c_g = the curvature for E = c/2 sum |m_i - m0_i|^2);
penalty = mean_g relu(c_min - c_g)^2 over the frames that contain such sites. The directions
are random unit vectors (``"random"``) or, on every other call (``"mixed"``), each frame's
moment axis with a random sign per site: with several induced sites per cell, random 3-D
directions almost never probe the collinear sign patterns a collinear moment relaxation
follows, and a CrN model trained with random directions only was seen to relax orthorhombic
AFM2 into a minimum with +-0.26 muB on N, 16.6 meV/atom above the DFT state, behind a barrier
at ~0.1 muB (below the radius range then used, [0.3, 2.0] muB).

Collapse prior (:func:`collapse_penalty`, optional, same weight). A DFT frame whose SCF started
from magnetic moments m_s and converged to zero moments m0 (FeAl's G-type AFM starts, antisite
starts) says that the energy has no minimum on the way from m0 to m_s: the SCF would have
stopped there. The labels at m0 (E, dE/dM = 0) cannot say so, and models trained on FeAl were
seen to invent a G-type AFM minimum at ~0.5 muB that DFT does not have. On the straight path
m(s) = m0 + s (m_s - m0), s from a range in (0, 1] by the golden-ratio sequence, the prior asks
for an energy that rises from the converged state:

    c_g(s) = (dE/ds) / (s sum_i |m_s,i - m0_i|^2) = -sum_i F_m,i(m(s)) . (m_s,i - m0_i)
             / (s sum_i |m_s,i - m0_i|^2) >= c_collapse

(c_g = the curvature for E = c/2 sum |m - m0|^2); penalty = mean_g relu(c_collapse - c_g)^2
over the collapsed frames of the training set (all of them every step: they are few).
"""

from __future__ import annotations

import torch

from mmace_fast.training.config import INDUCED_DIRECTION_MODES, STABILITY_PROFILES
from mmace_fast.training.data import Targets


def _penalty(diff: torch.Tensor, kind: str, delta: float) -> torch.Tensor:
    if kind == "mse":
        return diff * diff
    return 2.0 * torch.nn.functional.huber_loss(diff, torch.zeros_like(diff), reduction="none",
                                                delta=delta)


def _masked_mean(values: torch.Tensor, weights: torch.Tensor, count=None) -> torch.Tensor:
    """sum(weights * values) / count, count = the labelled entries (weights > 0) here unless
    given (data-parallel training divides a rank's share by the global batch's count)."""
    if count is None:
        count = int((weights > 0).sum())
    if int(count) == 0:
        return values.new_zeros(())
    return (weights * values).sum() / count


#: the loss terms and the mask each is a mean over
LOSS_MASKS = {"energy": "energy_mask", "forces": "forces_mask", "stress": "stress_mask",
              "magforces": "magforces_mask"}


def label_counts(t: Targets) -> dict:
    """{term: number of labelled entries} of a batch: the denominators of the loss's means
    (:class:`WeightedLoss` takes those of the global batch in data-parallel training)."""
    return {k: int((getattr(t, m) > 0).sum()) for k, m in LOSS_MASKS.items()}


class WeightedLoss(torch.nn.Module):
    """Loss of :mod:`mmace_fast.training.loss`; ``forward`` returns (total, per-term dict)."""

    def __init__(self, energy_weight=1.0, forces_weight=100.0, stress_weight=1.0,
                 magforces_weight=100.0, kind: str = "mse", huber_delta: float = 0.01):
        super().__init__()
        if kind not in ("mse", "huber"):
            raise ValueError(f"loss kind must be 'mse' or 'huber', got {kind!r}")
        self.weights = {"energy": float(energy_weight), "forces": float(forces_weight),
                        "stress": float(stress_weight), "magforces": float(magforces_weight)}
        self.kind, self.delta = kind, float(huber_delta)

    def forward(self, out: dict, t: Targets, counts: dict | None = None):
        """counts: {term: denominator} (:func:`label_counts` of the global batch when ``t`` is
        one rank's share of it); None: the labelled entries of ``t``."""
        p = lambda d: _penalty(d, self.kind, self.delta)  # noqa: E731
        c = counts or {}
        terms = {}
        if self.weights["energy"] > 0:
            d = (out["energy"] - t.energy) / t.n_atoms                        # [G] eV/atom
            terms["energy"] = _masked_mean(p(d), t.energy_mask, c.get("energy"))
        if self.weights["forces"] > 0 and "forces" in out:
            terms["forces"] = _masked_mean(p(out["forces"] - t.forces), t.forces_mask,
                                           c.get("forces"))
        if self.weights["stress"] > 0 and "stress" in out and t.has_stress:
            terms["stress"] = _masked_mean(p(out["stress"] - t.stress), t.stress_mask,
                                           c.get("stress"))
        if self.weights["magforces"] > 0 and "magforces" in out and t.has_magforces:
            terms["magforces"] = _masked_mean(p(out["magforces"] - t.magforces),
                                              t.magforces_mask, c.get("magforces"))
        total = sum(self.weights[k] * v for k, v in terms.items())
        if not terms:
            total = out["energy"].sum() * 0.0
        return total, {k: float(v.detach()) for k, v in terms.items()}


GOLDEN = 0.6180339887498949


def stability_scale(k: int, lo: float, hi: float, gap: float = 0.02) -> float:
    """k-th moment scale factor in [lo, hi]: lo + (hi - lo) frac(0.5 + k g), g the golden
    ratio's fractional part (low-discrepancy: any interval of the range is visited); values
    within ``gap`` of 1 (no information, 0/0) move to 1 +- gap."""
    u = (0.5 + k * GOLDEN) % 1.0
    s = lo + (hi - lo) * u
    if abs(s - 1.0) < gap:
        s = 1.0 + gap if s >= 1.0 else 1.0 - gap
    return s


def stability_threshold(scale: float, min_curvature: float, profile: str = "constant") -> float:
    """t(s), eV/muB^2: the least effective curvature asked for at moment scale factor s."""
    if profile == "constant":
        return min_curvature
    if profile == "landau":
        return min_curvature * scale * (scale + 1.0) / 2.0
    raise ValueError(f"stability profile must be one of {STABILITY_PROFILES}, got {profile!r}")


def induced_directions(n: int, call: int, seed: int = 0) -> torch.Tensor:
    """[n, 3] unit vectors, a pure function of (call, seed) (training stays resumable)."""
    gen = torch.Generator().manual_seed(1_000_003 * int(seed) + int(call))
    v = torch.randn(n, 3, generator=gen, dtype=torch.float64)
    return v / v.norm(dim=1, keepdim=True)


def moment_axes(magmoms: torch.Tensor, graph: torch.Tensor, n_graphs: int) -> torch.Tensor:
    """[G, 3] unit vectors: the direction of each graph's largest moment (z where a graph has
    no moment). For a collinear frame this is its moment axis (up to sign)."""
    m = magmoms.detach()                                                # [N, 3] muB
    norm = m.norm(dim=1)                                                # [N] muB
    largest = norm.new_zeros(n_graphs).scatter_reduce(0, graph, norm, "amax")   # [G]
    is_largest = (norm == largest[graph]) & (norm > 1e-9)               # [N]
    site = torch.full((n_graphs,), -1, dtype=torch.long, device=m.device)
    site.scatter_reduce_(0, graph[is_largest],
                         torch.arange(len(norm), device=m.device)[is_largest], "amax")
    axes = m.new_zeros(n_graphs, 3)
    axes[:, 2] = 1.0
    has = site >= 0
    axes[has] = m[site[has]] / norm[site[has], None]
    return axes


def collinear_induced_directions(magmoms: torch.Tensor, graph: torch.Tensor, n_graphs: int,
                                 call: int, seed: int = 0) -> torch.Tensor:
    """[N, 3] unit vectors sigma_i a_g(i): each site along its frame's moment axis a_g
    (:func:`moment_axes`) with a random sign sigma_i = +-1, a pure function of (call, seed).
    These are the sign patterns a collinear moment relaxation explores (one ray per pattern),
    which random 3-D directions almost never hit when a frame has several induced sites."""
    gen = torch.Generator().manual_seed(1_000_003 * int(seed) + int(call) + 500_009)
    signs = torch.randint(0, 2, (len(graph),), generator=gen).to(magmoms.dtype) * 2.0 - 1.0
    return signs[:, None] * moment_axes(magmoms, graph, n_graphs)[graph]


def induced_directions_for(mode: str, batch, call: int, seed: int = 0) -> torch.Tensor:
    """[N, 3] directions of the induced-moment prior for this call: ``"random"`` always random
    unit vectors; ``"mixed"`` alternates random (even calls) and collinear sign patterns (odd
    calls, :func:`collinear_induced_directions`)."""
    if mode not in INDUCED_DIRECTION_MODES:
        raise ValueError(f"induced direction mode must be one of {INDUCED_DIRECTION_MODES}, "
                         f"got {mode!r}")
    if mode == "mixed" and call % 2 == 1:
        return collinear_induced_directions(batch.magmoms, batch.batch, batch.n_graphs,
                                            call, seed)
    return induced_directions(len(batch.numbers), call, seed)


def induced_moment_penalty(model, batch, induced: torch.Tensor, radius: float,
                           directions: torch.Tensor, min_curvature: float) -> torch.Tensor:
    """Mean over frames with induced sites of relu(c_min - c_g(r))^2 (module docstring).

    induced     [N] bool, the sites whose species carries no moment of its own
    radius      r, muB
    directions  [N, 3] unit vectors u_i (rows of other sites are ignored)"""
    return _mean(*induced_moment_parts(model, batch, induced, radius, directions,
                                       min_curvature), batch.magmoms)


def _mean(total: torch.Tensor, count: int, like: torch.Tensor) -> torch.Tensor:
    return total / count if count else like.new_zeros(())


def induced_moment_parts(model, batch, induced: torch.Tensor, radius: float,
                         directions: torch.Tensor, min_curvature: float) -> tuple:
    """(sum over frames with induced sites of relu(c_min - c_g(r))^2, number of such frames):
    :func:`induced_moment_penalty` before the mean (graph kept)."""
    m0 = batch.magmoms                                                  # [N, 3] muB
    mask = induced.to(m0.dtype)                                         # [N]
    u = directions.to(m0.dtype) * mask[:, None]                         # [N, 3]
    out = model(batch.with_magmoms(m0 + radius * u), forces=False, magforces=True,
                training=True)
    de_dr_atom = -(out["magforces"] * u).sum(-1)                        # [N] eV/muB
    g = batch.n_graphs
    de_dr = m0.new_zeros(g).index_add(0, batch.batch, de_dr_atom)      # [G] eV/muB
    count = m0.new_zeros(g).index_add(0, batch.batch, mask)            # [G]
    has = count > 0
    if not bool(has.any()):
        return m0.new_zeros(()), 0
    curvature = de_dr[has] / (radius * count[has])                     # [G'] eV/muB^2
    return (torch.relu(min_curvature - curvature) ** 2).sum(), int(has.sum())


def moment_stability_penalty(model, batch, scale: float, min_moment: float,
                             min_curvature: float, profile: str = "constant") -> torch.Tensor:
    """Mean over frames of relu(t(s) - c_g(s))^2 (see the module docstring); graph kept."""
    return _mean(*moment_stability_parts(model, batch, scale, min_moment, min_curvature,
                                         profile), batch.magmoms)


def moment_stability_parts(model, batch, scale: float, min_moment: float,
                           min_curvature: float, profile: str = "constant") -> tuple:
    """(sum over frames with magnetic sites of relu(t(s) - c_g(s))^2, number of such frames):
    :func:`moment_stability_penalty` before the mean (graph kept)."""
    threshold = stability_threshold(scale, min_curvature, profile)
    m0 = batch.magmoms                                                  # [N, 3] muB
    norm2 = (m0 * m0).sum(-1)                                           # [N]
    magnetic = (norm2 > min_moment ** 2).to(m0.dtype)                   # [N]
    factor = 1.0 + (scale - 1.0) * magnetic
    out = model(batch.with_magmoms(m0 * factor[:, None]), forces=False, magforces=True,
                training=True)
    de_ds_atom = -(out["magforces"] * m0).sum(-1) * magnetic            # [N] eV
    g = batch.n_graphs
    de_ds = m0.new_zeros(g).index_add(0, batch.batch, de_ds_atom)       # [G] eV
    weight = m0.new_zeros(g).index_add(0, batch.batch, norm2 * magnetic)   # [G] muB^2
    has = weight > 0
    if not bool(has.any()):
        return m0.new_zeros(()), 0
    curvature = de_ds[has] / ((scale - 1.0) * weight[has])             # [G'] eV/muB^2
    return (torch.relu(threshold - curvature) ** 2).sum(), int(has.sum())


def collapse_penalty(model, batch, start: torch.Tensor, scale: float,
                     min_curvature: float) -> torch.Tensor:
    """Mean over frames of relu(c_collapse - c_g(s))^2 (module docstring); graph kept.

    start  [N, 3] muB, the SCF's starting moments m_s (batch.magmoms are the converged m0)
    scale  s in (0, 1], the fraction of the way from m0 to m_s"""
    m0 = batch.magmoms                                                  # [N, 3] muB
    d = start.to(m0.dtype) - m0                                         # [N, 3] muB
    out = model(batch.with_magmoms(m0 + scale * d), forces=False, magforces=True,
                training=True)
    de_ds_atom = -(out["magforces"] * d).sum(-1)                        # [N] eV
    g = batch.n_graphs
    de_ds = m0.new_zeros(g).index_add(0, batch.batch, de_ds_atom)      # [G] eV
    weight = m0.new_zeros(g).index_add(0, batch.batch, (d * d).sum(-1))  # [G] muB^2
    has = weight > 0
    if not bool(has.any()):
        return m0.new_zeros(())
    curvature = de_ds[has] / (scale * weight[has])                     # [G'] eV/muB^2
    return (torch.relu(min_curvature - curvature) ** 2).mean()
