"""Ordering temperatures of one material with several models through the same Monte Carlo engine.

Model kinds (all on :func:`mmace_fast.mc.lattice.lattice_of` supercells, so every model sees
the same sites and order parameter):

- ``heisenberg``  the fitted fixed-lattice baseline (:mod:`mmace_fast.baseline`) on unit vectors
                  with the fitted moment length folded into the couplings (classical Heisenberg
                  plus anisotropy); magnetic sites only; over-relaxation is available.
- ``mmace_fixed`` the frozen mMACE (C++ incremental evaluator) with every moment kept at the
                  length ``moment`` (direction moves only): samples exp(-E/kT) dOmega per site.
- ``mmace_free``  the frozen mMACE with longitudinal moves as well: samples exp(-E/kT) d^3m
                  (:data:`mmace_fast.conventions.MEASURE`), the moment lengths fluctuate.
- ``pajda``       (bcc Fe only) Pajda et al.'s 8-shell constants, unit spins.

Non-magnetic atoms (Al, N) carry zero moments in mMACE and are not moved (MC active sites).
The order parameter is the staggered magnetisation of the material's order pattern (``order``,
e.g. AFM2 for CrN) summed in quadrature over its symmetry-equivalent domains
(:meth:`mmace_fast.mc.lattice.MaterialLattice.domain_patterns`), or the plain magnetisation for
``FM``.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from mmace_fast.materials import MATERIALS as REGISTRY
from mmace_fast.materials import MaterialError, MaterialLike, monte_carlo_materials, resolve
from mmace_fast.mc.lattice import MaterialLattice, lattice_of
from mmace_fast.mc.scan import System

log = logging.getLogger(__name__)

MODEL_KINDS = ("heisenberg", "mmace_fixed", "mmace_free", "pajda")

#: material -> (prototype, reference lattice constant (A, the DFT reference of each data set),
#: ground-state order pattern), for every material of the registry (mmace_fast.materials) with
#: a Monte Carlo lattice
MATERIALS = {k: (REGISTRY[k].prototype, REGISTRY[k].a, REGISTRY[k].ground_order)
             for k in monte_carlo_materials()}

#: experimental ordering temperatures (K) where the registry has one (sources there)
T_EXP = {k: m.t_exp for k, m in REGISTRY.items() if m.t_exp is not None}


class ThermoError(ValueError):
    """Unknown model kind / material or inconsistent inputs."""


@dataclass
class ModelSystem:
    """How to build the Monte Carlo system of one model at any size L, and its MC settings."""

    name: str
    kind: str
    material: str
    build: Callable[[int], System]
    settings: dict = field(default_factory=dict)


def _order_parameter(lat: MaterialLattice, order: str, sites: Optional[np.ndarray] = None
                     ) -> Optional[np.ndarray]:
    """Staggered weights of ``order`` on ``sites`` (default all): [n] signs where the order has
    one domain, [D, n] patterns of its D symmetry-equivalent domains otherwise
    (:meth:`MaterialLattice.domain_patterns`: the order parameter sees every domain); None for
    FM (the plain magnetisation)."""
    if order == "FM":
        return None
    p = lat.domain_patterns(order)
    p = p if sites is None else p[:, sites]
    return np.ascontiguousarray(p[0] if len(p) == 1 else p, dtype=float)


#: a fitted model whose mean-field ordering mode has less ferromagnetic weight than this is
#: not a ferromagnet: an FM scan of it measures no Curie point
MIN_FM_WEIGHT = 0.5


def ferromagnetic_fit(fit) -> bool:
    """Is the fitted Heisenberg model's mean-field ordering mode the ferromagnet?"""
    return float(fit.mean_field.get("fm_weight", 1.0)) >= MIN_FM_WEIGHT


def not_ferromagnetic_note(fit) -> str:
    mf = fit.mean_field
    q = ", ".join(f"{x:g}" for x in mf.get("q", ()))
    return (f"not a ferromagnet: mean-field ordering at q = ({q}) 2pi/a, "
            f"T = {mf.get('T_K', float('nan')):.0f} K")


def heisenberg_model(material: MaterialLike, fit, order: Optional[str] = None,
                     moment: Optional[float] = None) -> ModelSystem:
    """The fitted fixed-lattice baseline ``fit`` (a :class:`mmace_fast.baseline.MaterialFit`)
    as a classical Heisenberg(+anisotropy) model of unit vectors, lengths = fitted moments.
    ``material``: a registry key or a user's :class:`mmace_fast.materials.Material`."""
    from mmace_fast.baseline import to_spin_hamiltonian  # noqa: PLC0415

    mat = _material(material)
    material = mat.key
    order = order or mat.ground_order
    lengths = dict(fit.moments) if moment is None else {z: float(moment) for z in fit.moments}

    def build(L: int) -> System:
        lat = lattice_of(mat, L)
        ham = to_spin_hamiltonian(fit.model, lat, moment_lengths=lengths, magnetic_only=True)
        sites = np.asarray(ham.sites)
        spins = np.zeros((len(sites), 3))
        spins[:, 2] = lat.signs[order][sites] if order != "FM" else 1.0
        return System(ham, spins, _order_parameter(lat, order, sites),
                      label=f"{material} heisenberg L={L}")

    return ModelSystem("Heisenberg (fitted)", "heisenberg", material, build,
                       {"move": "gaussian", "overrelax_per_sweep": 1})


def mmace_model(material: MaterialLike, frozen, moment: float, free_length: bool,
                order: Optional[str] = None, surrogate=None,
                overrelax: bool = False) -> ModelSystem:
    """The frozen mMACE (a :class:`mmace_fast.export.FrozenModel` or a path) on ``material``'s
    lattice; moments of length ``moment`` (muB) on the magnetic sites in the order pattern.

    surrogate: a :class:`mmace_fast.baseline.BaselineModel` on moment vectors (the fitted
    baseline's ``.model``, or :func:`extracted_surrogate` of this mMACE) that screens every
    trial (delayed acceptance); overrelax: one guided over-relaxation sweep per step about the
    surrogate's exchange field. Either only changes efficiency: the chain samples mMACE."""
    from mmace_fast.mc.mmace_hamiltonian import FrozenMMACEHamiltonian  # noqa: PLC0415

    mat = _material(material)
    material = mat.key
    order = order or mat.ground_order
    if overrelax and surrogate is None:
        raise ThermoError("guided over-relaxation takes its axis from a surrogate: pass one")

    def build(L: int) -> System:
        lat = lattice_of(mat, L)
        ham = FrozenMMACEHamiltonian.from_arrays(frozen, lat.positions, lat.cell, lat.pbc,
                                                 lat.numbers)
        spins = lat.moments(order, moment)
        active = np.flatnonzero(lat.magnetic)
        signs = _order_parameter(lat, order)
        sur = None
        if surrogate is not None:
            from mmace_fast.baseline import to_spin_hamiltonian  # noqa: PLC0415

            sur = to_spin_hamiltonian(surrogate, lat, magnetic_only=False)
        return System(ham, spins, signs, label=f"{material} mmace L={L}", active=active,
                      surrogate=sur)

    kind = "mmace_free" if free_length else "mmace_fixed"
    name = "mMACE, free |m| (d^3m)" if free_length else f"mMACE, |m| = {moment:.2f} muB"
    settings = {"move": "gaussian"}
    if free_length:
        settings.update(p_longitudinal=0.3, sigma_long=0.1)
    if overrelax:
        settings["overrelax_per_sweep"] = 1
    return ModelSystem(name, kind, material, build, settings)


def extracted_surrogate(material: MaterialLike, frozen, moment: float, L: int = 4,
                        n_shells: int = 5, n_configs: int = 96, seed: int = 0):
    """The pairwise Heisenberg approximation of the frozen mMACE (a BaselineModel on moment
    vectors, for :func:`mmace_model`'s ``surrogate``): exchange per shell and species pair
    fitted to the model's energies of ``n_configs`` uniformly random directions (the
    paramagnet and, by their spread, the ordered regime near Tc) at |m| = ``moment`` on the
    material's L^3 supercell. No longitudinal terms: for free moment lengths it screens length
    moves by exchange alone. Returns (model, info {non_heisenberg, energy_rmse_mev,
    n_configs})."""
    from mmace_fast.baseline import BaselineModel, extract_from_frozen  # noqa: PLC0415
    from mmace_fast.baseline import reference_structure  # noqa: PLC0415
    from mmace_fast.mc.mmace_hamiltonian import FrozenMMACEHamiltonian  # noqa: PLC0415

    mat = _material(material)
    lat = lattice_of(mat, L)
    ham = FrozenMMACEHamiltonian.from_arrays(frozen, lat.positions, lat.cell, lat.pbc,
                                             lat.numbers)
    species = sorted({int(z) for z in np.asarray(lat.numbers)[lat.magnetic]})
    res = extract_from_frozen(ham, lat, reference_structure(mat), species,
                              {z: float(moment) for z in species}, n_shells=n_shells,
                              n_configs=n_configs, cone_deg=180.0, seed=seed)
    model = BaselineModel(res.design, res.theta, np.diag(res.sigma ** 2))
    return model, {"non_heisenberg": res.non_heisenberg, "n_configs": n_configs,
                   "energy_rmse_mev": res.energy_rmse_mev}


def pajda_model() -> ModelSystem:
    """Pajda et al.'s bcc Fe constants (unit spins) on the same bcc lattices."""
    from mmace_fast.mc.presets import pajda_bcc_fe  # noqa: PLC0415

    def build(L: int) -> System:
        ham, lat = pajda_bcc_fe(L)
        return System(ham, np.tile([0.0, 0.0, 1.0], (lat.n_sites, 1)), None,
                      label=f"fe pajda L={L}")

    return ModelSystem("Heisenberg (Pajda 2001)", "pajda", "fe", build,
                       {"move": "gaussian", "overrelax_per_sweep": 1})


def _material(material: MaterialLike):
    """The material record of a key or record; ThermoError where it has no Monte Carlo
    lattice."""
    try:
        mat = resolve(material)
    except MaterialError:
        mat = None
    if mat is None or not mat.mc_orders:
        raise ThermoError(f"unknown material {material!r}; choose from "
                          f"{sorted(MATERIALS)} or build one from a structure "
                          "(mmace_fast.materials.material_from_structure)")
    return mat


def protocol_tc(model: ModelSystem, protocol, workdir: Optional[str] = None, seed: int = 0,
                centre: Optional[float] = None):
    """Tc of ``model`` by the one Tc protocol (:func:`mmace_fast.mc.protocol.run_tc_protocol`):
    parallel tempering, reweighted Binder crossings, stopping rule. The order parameter is the
    one the model's systems carry (staggered where they have sublattice signs). Checkpoints
    live under ``workdir/<model kind>``."""
    from mmace_fast.mc.protocol import run_tc_protocol  # noqa: PLC0415

    wd = None if workdir is None else os.path.join(workdir, model.kind)
    return run_tc_protocol(model.build, model.settings, protocol, workdir=wd, seed=seed,
                           centre=centre)


#: bracket (K) of the Tc protocol's first stage per material and model kind; the fitted
#: Heisenberg model's is a fraction of its own mean-field temperature (HEIS_BRACKET x T_MF: the
#: classical-spin Tc of a short-ranged model lies at 0.6-0.7 T_MF on bcc, lower where frustrated)
BRACKETS = {
    "fe": {"pajda": (780.0, 1050.0), "mmace_fixed": (650.0, 1400.0),
           "mmace_free": (650.0, 1400.0)},
    "crn": {"mmace_fixed": (60.0, 400.0), "mmace_free": (60.0, 400.0)},
    "feal": {"mmace_fixed": (30.0, 400.0), "mmace_free": (30.0, 400.0)},
}
HEIS_BRACKET = {"fe": (0.55, 1.0), "crn": (0.15, 1.0), "feal": (0.2, 1.0)}
#: the fitted model's bracket (fractions of T_MF) on a user's material: wide enough for
#: frustrated lattices, whose Tc lies far below mean field
DEFAULT_HEIS_BRACKET = (0.15, 1.0)
#: the names :func:`tc_models` knows (``pajda`` is bcc Fe only)
TC_MODEL_NAMES = ("heis", "pajda", "mmace_fixed", "mmace_free")


#: how the mMACE chains are driven: "guided" = delayed acceptance with the Heisenberg model
#: extracted from the same mMACE plus one guided over-relaxation sweep per step (exact; the
#: measured gain is in benchmarks/RESULTS.md), "plain" = Metropolis alone
MMACE_SAMPLERS = ("guided", "plain")


def tc_models(material: MaterialLike, names, fit, frozen=None, moment: Optional[float] = None,
              sampler: str = "guided", order: Optional[str] = None,
              brackets: Optional[dict] = None,
              surrogate: Optional[tuple] = None) -> tuple[dict, dict]:
    """The models of ``material`` whose ordering temperatures the demo, bench_mmace_tc and the
    head-to-head compare, as {name: (ModelSystem, bracket K)} for ``names`` among
    :data:`TC_MODEL_NAMES`: "heis" (``fit``, a fitted baseline; skipped with a note when it
    does not order in ``order``), "pajda" (bcc Fe only), "mmace_fixed" and "mmace_free"
    (``frozen``, moments of length ``moment`` muB, default the fitted moment of the most
    magnetic species; driven by ``sampler``, one of :data:`MMACE_SAMPLERS`). ``order``: the
    order pattern, default the material's. ``brackets``: {name: (t_low, t_high) K} overriding
    :data:`BRACKETS` (a user's material has none: the mMACE rows need one). ``surrogate``: the
    (model, info) of :func:`extracted_surrogate` for this ``frozen`` and ``moment`` where the
    caller has made it already (else the guided sampler extracts it). Returns (models,
    notes {name: why skipped, or "surrogate": how the guided sampler's surrogate was
    made})."""
    if sampler not in MMACE_SAMPLERS:
        raise ThermoError(f"unknown sampler {sampler!r}; choose from {MMACE_SAMPLERS}")
    mat = _material(material)
    material = mat.key
    order = order or mat.ground_order
    brackets = {**BRACKETS.get(material, {}), **(brackets or {})}
    unknown = sorted(set(names) - set(TC_MODEL_NAMES))
    if unknown:
        raise ThermoError(f"unknown model names {unknown}; choose from {TC_MODEL_NAMES}")
    models, notes = {}, {}
    moment = float(max(fit.moments.values()) if moment is None else moment)
    if "heis" in names:
        t_mf = float(fit.mean_field.get("T_K", 0.0) or 0.0)
        if not t_mf > 0.0:
            notes["heis"] = ("no exchange on the ordered lattice (mean-field T = 0): the "
                             "fitted model does not order")
        elif order == "FM" and not ferromagnetic_fit(fit):
            notes["heis"] = not_ferromagnetic_note(fit)
        else:
            models["heis"] = (heisenberg_model(mat, fit, order), brackets.get("heis") or
                              tuple(f * t_mf for f in HEIS_BRACKET.get(material,
                                                                       DEFAULT_HEIS_BRACKET)))
    if "pajda" in names:
        if material != "fe":
            notes["pajda"] = "Pajda et al.'s constants are for bcc Fe only"
        else:
            models["pajda"] = (pajda_model(), BRACKETS["fe"]["pajda"])
    made, surrogate = surrogate, None
    for name, free in (("mmace_fixed", False), ("mmace_free", True)):
        if name in names:
            if frozen is None:
                raise ThermoError(f"{name} needs a frozen mMACE")
            if sampler == "guided" and surrogate is None:
                surrogate, info = made or extracted_surrogate(mat, frozen, moment)
                notes["surrogate"] = (f"Heisenberg extracted from the mMACE at |m| = "
                                      f"{moment:.2f} muB (non-Heisenberg residual "
                                      f"{info['non_heisenberg']:.2f})")
            if name not in brackets:
                raise ThermoError(f"{name} on {material}: no bracket known; give one "
                                  "(brackets={name: (t_low, t_high)} K)")
            models[name] = (mmace_model(mat, frozen, moment, free_length=free, order=order,
                                        surrogate=surrogate, overrelax=surrogate is not None),
                            tuple(brackets[name]))
    return models, notes


#: Tc-protocol settings (mmace_fast.mc.protocol.TcProtocol fields but the bracket) of the
#: smoke tests of the demo and bench_mmace_tc (seconds; the numbers mean nothing)
SMOKE_PLANS = {
    "classical": dict(sizes=(3, 4), n_bracket_replicas=6, bracket_sweeps=(50, 100),
                      n_replicas=4, n_equil=50, min_prod=200, chunk=200, max_prod=200,
                      target_u4_err=0.01),
    "mmace": dict(sizes=(2, 3), n_bracket_replicas=4, bracket_sweeps=(5, 10), n_replicas=3,
                  n_equil=5, min_prod=10, chunk=10, max_prod=10, target_u4_err=0.05),
}
