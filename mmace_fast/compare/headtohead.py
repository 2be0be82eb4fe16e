"""Head-to-head of mMACE and the Heisenberg baselines (issue 6): accuracy, Fe spirals, Tc.

Each stage returns a JSON-able dict (arrays as lists) so the benchmark can cache it:

- :func:`accuracy_stage`   per material: errors on the test split and on valid + test of the
  shipped mMACE, the spin-lattice baseline (fitted on train + valid), the fixed-lattice
  baseline and a non-magnetic MMACE (zero moments); baseline / mMACE error ratios; the ordering
  of the ideal-cell magnetic states; parity data.
- :func:`spiral_stage`     bcc Fe flat spirals E(q) along Gamma-H, -N and -P: mMACE on
  commensurate supercells (moments at the DFT FM length, and relaxed in length), both
  baselines (fixed and relaxed lengths), DFT where ``data/fe_spirals.extxyz.gz`` exists.
- :func:`thermo_stage`     ordering temperatures by the one Tc protocol
  (:mod:`mmace_fast.mc.protocol`: parallel tempering, reweighted Binder crossings, stopping
  rule, chi-peak fallback, first-order flag) with the models the demo builds
  (:func:`mmace_fast.compare.thermo.tc_models`). For CrN the order that each model actually
  prefers is found first (low-T runs started from AFM1, AFM2, AFM3, FM; the lowest <E> that
  keeps its order wins) and the protocol uses that order parameter.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Optional

import numpy as np

from mmace_fast import datasets
from mmace_fast.compare import accuracy as acc
from mmace_fast.materials import get as get_material
from mmace_fast.materials import monte_carlo_materials

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
#: the materials compared: every material of the registry (mmace_fast.materials) with a Monte
#: Carlo lattice, hence a fitted baseline and an ordering temperature
MATERIALS = monte_carlo_materials()


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating,)):
        x = float(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x


def data_dir() -> Path:
    """Where the DFT data files are read (:func:`mmace_fast.datasets.data_dir`)."""
    return datasets.data_dir()


def material_file(material: str) -> Path:
    """The material's shipped frames under :func:`data_dir`."""
    return data_dir() / get_material(material).data_file


def read_material(material: str):
    """The material's frames and its spiral supercells (what the shipped mMACE trained on)."""
    from mmace_fast.data.spirals import read_with_spirals
    return read_with_spirals(material_file(material))


# =========================================================================== accuracy
def ideal_states(configs, predictors: dict) -> list[dict]:
    """Energies per atom (eV) of the ``ideal*`` frames: DFT and each predictor at the DFT
    moments."""
    out = []
    for c in configs:
        if not c.config_type.startswith("ideal") or c.energy is None:
            continue
        n = len(c.numbers)
        row = {"state": c.config_type, "split": str(c.info.get("split", "train")),
               "dft": float(c.energy) / n}
        for name, p in predictors.items():
            try:
                row[name] = float(p(c)["energy"]) / n
            except Exception as exc:            # a model that cannot evaluate a cell
                log.warning("%s on %s: %s", name, c.config_type, exc)
                row[name] = None
        out.append(row)
    return out


def accuracy_stage(material: str, workdir, quick: bool = False, nm_budget_s: float = 90.0,
                   train_nonmagnetic=None) -> dict:
    """See the module docstring. ``workdir`` holds the non-magnetic model run, trained by
    ``train_nonmagnetic`` (:func:`mmace_fast.training.nonmagnetic.train_nonmagnetic`, passed in
    by the caller; None: no non-magnetic row)."""
    from mmace_fast.baseline import fit_material
    from mmace_fast.models import load_default

    t0 = time.perf_counter()
    configs = read_material(material)
    model, cfg, meta = load_default(material)
    preds = {"mmace": acc.mmace_predictor(model, cfg)}
    fits = {}
    for kind in ("spin_lattice", "fixed_lattice"):
        fits[kind] = fit_material(material, kind=kind, configs=configs, root=str(ROOT),
                                  select=not quick)
        preds[kind] = acc.baseline_predictor(fits[kind].model)
    if train_nonmagnetic is not None:
        nm = train_nonmagnetic(material, Path(workdir) / f"nonmagnetic_{material}",
                               time_budget_s=nm_budget_s, quick=quick,
                               max_epochs=30 if quick else 300,
                               data_path=material_file(material))
        preds["nonmagnetic"] = acc.nonmagnetic_predictor(nm["model"], nm["config"])
    sets = {"test": acc.select_split(configs, ["test"]),
            "valid_test": acc.select_split(configs, ["valid", "test"])}
    errors, parity = {}, {}
    for sname, frames in sets.items():
        errors[sname] = {}
        for name, p in preds.items():
            fr = acc.predict_frames(p, frames)
            errors[sname][name] = acc.error_stats(fr)
            if sname == "valid_test":
                parity[name] = {q: [a.tolist() for a in acc.paired(fr, q)]
                                for q in acc.QUANTITIES if q in errors[sname][name]}
    ratios = {s: {name: acc.error_ratios(errors[s][name], errors[s]["mmace"])
                  for name in preds if name != "mmace"} for s in sets}
    states = ideal_states(configs, {k: preds[k] for k in ("mmace", "fixed_lattice",
                                                           "spin_lattice")})
    ordering = acc.ordering_check(states, ["mmace", "fixed_lattice", "spin_lattice"])
    return _jsonable({
        "material": material, "n_frames": len(configs),
        "splits": {s: sum(str(c.info.get("split", "train")) == s for c in configs)
                   for s in ("train", "valid", "test")},
        "mmace_training_frames": meta.get("data_split_counts"),
        "errors": errors, "ratios": ratios, "parity": parity, "states": states,
        "ordering": ordering,
        "nonmagnetic": {"epochs": nm["epochs"], "best_epoch": nm["best_epoch"],
                        "train_s": nm["train_s"]},
        "baseline_moments": {k: f.moments for k, f in fits.items()},
        "baseline_mean_field": {k: f.mean_field for k, f in fits.items()},
        "wall_s": time.perf_counter() - t0})


# =========================================================================== spirals
def spiral_path(n_per_segment: int = 5) -> list[tuple[str, float, list]]:
    """(path, x, q in 2 pi / a) along Gamma-H (q = x (1,0,0)), Gamma-N (q = x (1/2,1/2,0)) and
    Gamma-P (q = x (1/2,1/2,1/2))."""
    from mmace_fast.data.dft.spirals import BCC_POINTS, SPIRAL_ENDS
    out = []
    for path, end in ((f"Gamma-{e}", BCC_POINTS[e]) for e in SPIRAL_ENDS):
        for k in range(n_per_segment + 1):
            x = k / n_per_segment
            out.append((path, x, [x * e for e in end]))
    return out


def mmace_spiral_energy(model, cfg, q, a: float, moment: float, relax: bool) -> tuple:
    """(E per atom eV, length muB, n_atoms) of a flat spiral on the commensurate bcc supercell."""
    from ase.build import bulk
    from scipy.optimize import minimize_scalar

    from mmace_fast.data.spirals import spiral_structure
    from mmace_fast.data.records import Configuration
    from mmace_fast.model.io import cutoff_of, predict

    prim = bulk("Fe", "bcc", a=a)
    sc, m = spiral_structure(prim, q, a, 1.0)
    cutoff = cutoff_of(cfg)
    n = len(sc)

    def energy(length: float) -> float:
        conf = Configuration(positions=sc.positions, cell=np.array(sc.cell), pbc=np.ones(3, bool),
                             numbers=sc.numbers, magmoms=m * length)
        out = predict(model, [conf], cutoff, stress=False, magforces=False, forces=False)
        return float(out["energy"][0]) / n
    if not relax:
        return energy(moment), moment, n
    opt = minimize_scalar(energy, bounds=(0.3, 3.5), method="bounded",
                          options={"xatol": 1e-3})
    return float(opt.fun), float(opt.x), n


def dft_spirals(a: float) -> list[dict]:
    """DFT spiral frames (data/fe_spirals.extxyz.gz): q (2 pi / a), E per atom (eV), |m|."""
    path = data_dir() / get_material("fe").spirals_file
    if not path.exists():
        return []
    import ase.io
    out = []
    for at in ase.io.read(str(path), index=":", format="extxyz"):
        q = np.asarray(at.info.get("qspiral_cart_2pi_over_a"), dtype=float).reshape(3)
        m = np.asarray(at.info.get("converged_magmoms", [np.nan] * 3), dtype=float)
        out.append({"q": q.tolist(), "energy": float(at.info["REF_energy"]) / len(at),
                    "moment": float(np.linalg.norm(m.reshape(-1, 3), axis=1).mean())})
    return out


def _match_dft(dft: list, q) -> Optional[dict]:
    for d in dft:
        if np.allclose(d["q"], q, atol=1e-6):
            return d
    return None


def pajda_spiral_energy(q, a: float) -> float:
    """E(q) per atom (eV) of Pajda et al.'s 8-shell constants (unit vectors; a reference for the
    small-q stiffness of LSDA Fe, not fitted to our data)."""
    from ase.build import bulk

    from mmace_fast.data.spirals import heisenberg_spiral_energy
    from mmace_fast.mc.presets import PAJDA_SHELLS, pajda_fe_exchange_ev
    prim = bulk("Fe", "bcc", a=a)
    return heisenberg_spiral_energy(prim.cell.array, q, a, 1.0,
                                    np.linalg.norm(PAJDA_SHELLS, axis=1) * a,
                                    pajda_fe_exchange_ev())


def disorder_energy(fits: dict, moment: float, L: int = 3, n_samples: int = 12,
                    seed: int = 0) -> dict:
    """<E(random directions)> - E(FM) per Fe atom (meV) at |m| = ``moment`` on L^3 bcc cells:
    the energy scale that sets a classical Tc (for a Heisenberg model it is sum_j J_0j M^2 / 2
    per atom, i.e. ~ (3/2) kTc^MFA). mMACE (frozen), the fitted baselines (unit-vector spin
    Hamiltonians, exchange only) and Pajda's constants (closed form)."""
    from mmace_fast.baseline import to_spin_hamiltonian
    from mmace_fast.compare import thermo
    from mmace_fast.mc.lattice import material_lattice
    from mmace_fast.mc.presets import pajda_fe_exchange_ev
    from mmace_fast.models import load_frozen

    rng = np.random.default_rng(seed)
    fe = get_material("fe")
    lat = material_lattice(fe.prototype, L, fe.a)
    n = lat.n_sites
    dirs = rng.normal(size=(n_samples, n, 3))
    dirs /= np.linalg.norm(dirs, axis=2)[..., None]
    fm = np.tile([0.0, 0.0, 1.0], (n, 1))
    out = {}
    ham = thermo.mmace_model("fe", load_frozen("fe"), moment, False).build(L).hamiltonian
    e = np.array([ham.energy(d * moment) for d in dirs])
    out["mmace"] = {"mean": float((e.mean() - ham.energy(fm * moment)) / n * 1e3),
                    "sem": float(e.std(ddof=1) / np.sqrt(n_samples) / n * 1e3)}
    for kind, fit in fits.items():
        h = to_spin_hamiltonian(fit.model, lat, moment_lengths={26: moment})
        e = np.array([h.energy(d[h.sites]) for d in dirs])
        out[kind] = {"mean": float((e.mean() - h.energy(fm[h.sites])) / n * 1e3),
                     "sem": float(e.std(ddof=1) / np.sqrt(n_samples) / n * 1e3)}
    z = np.array([8, 6, 12, 24, 8, 6, 24, 24])
    out["pajda"] = {"mean": float(0.5 * np.sum(z * pajda_fe_exchange_ev()) * 1e3), "sem": 0.0}
    return out


def spiral_stage(quick: bool = False, fits: Optional[dict] = None) -> dict:
    """Fe E(q) - E(0) (meV/atom) and moment lengths along Gamma-H, Gamma-N and Gamma-P."""
    from mmace_fast.baseline import fit_material, spiral_energies
    from mmace_fast.data.spirals import spiral_split
    from mmace_fast.models import load_default

    t0 = time.perf_counter()
    a = get_material("fe").a
    model, cfg, _ = load_default("fe")
    configs = read_material("fe")
    if fits is None:
        fits = {k: fit_material("fe", kind=k, configs=configs, root=str(ROOT), select=not quick)
                for k in ("fixed_lattice", "spin_lattice")}
    moment = fits["fixed_lattice"].moments[26]
    path = spiral_path(2 if quick else 5)
    dft = dft_spirals(a)
    rows = []
    for pname, x, q in path:
        row = {"path": pname, "x": x, "q": q}
        for relax in (False, True):
            tag = "relaxed" if relax else "fixed"
            e, m, n = mmace_spiral_energy(model, cfg, q, a, moment, relax)
            row[f"mmace_{tag}"] = {"e": e, "m": m, "n_atoms": n}
            for kind, fit in fits.items():
                r = spiral_energies(fit.model, fit.reference,
                                    np.array(q)[None] * 2 * np.pi / a, {26: moment}, relax=relax)
                row[f"{kind}_{tag}"] = {"e": float(r["energy"][0]),
                                        "m": float(r["lengths"][0][0])}
        row["pajda"] = {"e": pajda_spiral_energy(q, a), "m": None}
        d = _match_dft(dft, q)
        row["dft"] = None if d is None else {"e": d["energy"], "m": d["moment"]}
        # was this DFT point a training frame of the models (read_with_spirals)?
        row["dft_split"] = None if d is None or not any(q) else spiral_split(q)
        rows.append(row)
    # energies relative to q = 0 of each source
    keys = [k for k in rows[0] if isinstance(rows[0][k], dict)]
    for k in keys:
        e0 = rows[0][k]["e"] if rows[0][k] else None
        if e0 is None:
            d0 = _match_dft(dft, [0.0, 0.0, 0.0])
            e0 = d0["energy"] if d0 else None
        for r in rows:
            if r.get(k) and e0 is not None:
                r[k]["de_mev"] = (r[k]["e"] - e0) * 1e3
    try:
        disorder = disorder_energy(fits, moment, L=2 if quick else 3,
                                   n_samples=4 if quick else 12)
    except Exception as exc:                     # a diagnostic: never lose the spirals
        log.warning("disorder energy failed: %s", exc)
        disorder = {"error": str(exc)}
    return _jsonable({"a": a, "moment": moment, "rows": rows, "n_dft": len(dft),
                      "disorder_energy_mev": disorder,
                      "dft_note": None if dft else "no DFT spiral frames yet "
                      "(data/fe_spirals.extxyz.gz absent)",
                      "wall_s": time.perf_counter() - t0})


# =========================================================================== thermo
#: version of the thermo stage's procedure and result layout: part of the benchmark's cache key
#: and of the checkpoint folders, so a cached stage or chain of another procedure is recomputed,
#: never reported as this one's (5: the order parameter sums over the domains of an order)
THERMO_VERSION = 5

#: effort of the Tc protocol (:class:`mmace_fast.mc.protocol.TcProtocol` fields but the bracket
#: and threads) per mode and model family; mMACE per material. mMACE sizes are even (CrN's
#: AFM2 / AFM3 patterns need them; on bcc Fe an odd L cannot host the period-2 fluctuations an
#: antiferromagnetic J2 favours), each size capped in wall time
CLASSICAL_FULL = dict(sizes=(6, 10, 14), n_bracket_replicas=10, bracket_sweeps=(300, 600),
                      n_replicas=8, n_equil=500, min_prod=2000, chunk=2000, max_prod=8000,
                      target_u4_err=0.003, max_wall_s=120.0)
MMACE_FULL = dict(n_bracket_replicas=8, bracket_sweeps=(100, 200), n_replicas=6, n_equil=150,
                  min_prod=400, chunk=400, max_prod=4000, target_u4_err=0.005,
                  max_wall_s=300.0)
MMACE_SIZES = {"fe": (6, 8, 10), "crn": (2, 4), "feal": (4, 6)}
#: the models of each material's thermo stage (names of compare.thermo.tc_models)
THERMO_MODELS = {"fe": ("heis", "pajda", "mmace_fixed", "mmace_free"),
                 "crn": ("heis", "mmace_fixed"), "feal": ("heis", "mmace_fixed")}
#: result keys of the thermo stage per tc_models name (the report's and summary's kinds)
KIND_OF = {"heis": "heisenberg", "pajda": "pajda", "mmace_fixed": "mmace_fixed",
           "mmace_free": "mmace_free"}


def thermo_plan(material: str, family: str, quick: bool) -> dict:
    """TcProtocol settings (no bracket) of one model family ("classical" or "mmace")."""
    from mmace_fast.compare.thermo import SMOKE_PLANS
    if quick:
        plan = dict(SMOKE_PLANS[family])
        if family == "mmace" and material == "crn":
            plan["sizes"] = (2, 4)          # the AFM patterns need even L
        return plan
    if family == "classical":
        return dict(CLASSICAL_FULL)
    return dict(MMACE_FULL, sizes=MMACE_SIZES[material])


def order_check(make, orders, temperature: float, size: int, n_equil: int, n_prod: int,
                workdir, norm: float = 1.0, seed: int = 0) -> dict:
    """Start ``make(order)`` (a ModelSystem) in each order at ``temperature`` on size ``size``;
    <E> per site and the own order parameter <|m_s|> / ``norm`` (the moment length: 1 = fully
    ordered). The preferred order and the starts that found lower states outside the listed
    orders: :func:`preferred_order` (the latter logged and recorded as a warning)."""
    from mmace_fast.mc.scan import temperature_scan
    res = {}
    for o in orders:
        ms = make(o)
        system = ms.build(int(size))
        tab = temperature_scan(system, [temperature], n_equil, n_prod, seed=seed,
                               workdir=str(Path(workdir) / f"order_{o}"), **ms.settings)
        row = tab[0]
        key = "m_abs" if o == "FM" else "ms_abs"
        res[o] = {"e_per_site_meV": float(row["e_per_site"]) * 1e3,
                  "e_err_meV": float(row["e_per_site_err"]) * 1e3,
                  "order_abs": float(row[key]) / norm}
    best, lower = preferred_order(res)
    out = {"temperature_K": temperature, "runs": res, "preferred": best}
    if lower:
        out["lower_unlisted"] = lower
        out["warning"] = (f"starts {lower} left their order for states below the preferred "
                          f"{best}: the model's ground state is none of {list(orders)}, and a "
                          f"transition temperature of {best} is not its ordering temperature")
        log.warning("order check: %s", out["warning"])
    return out


def preferred_order(runs: dict, n_sigma: float = 3.0) -> tuple:
    """(preferred order, starts below it). The preferred order: lowest <E> among the starts
    whose order parameter stays above 0.5 (all of them if none does). Starts that lost their
    order and ended more than ``n_sigma`` combined errors below it found a state outside the
    listed orders."""
    alive = {o: r for o, r in runs.items() if r["order_abs"] > 0.5} or runs
    best = min(alive, key=lambda o: alive[o]["e_per_site_meV"])
    b = runs[best]
    lower = [o for o, r in runs.items() if o not in alive and r["e_per_site_meV"]
             < b["e_per_site_meV"] - n_sigma * np.hypot(r["e_err_meV"], b["e_err_meV"])]
    return best, lower


def fit_key(fit) -> str:
    """First 12 hex digits of the sha256 of a fitted baseline's parameter names and values."""
    import hashlib
    names = ",".join(p.name for p in fit.model.design.params).encode()
    theta = np.ascontiguousarray(fit.model.theta, dtype=np.float64).tobytes()
    return hashlib.sha256(names + theta).hexdigest()[:12]


def protocol_entry(res, model, order: str) -> dict:
    """The thermo stage's JSON record of one model's :class:`TcProtocolResult` ``res``:
    ``tc_K`` / ``tc_err_K`` / ``tc_method`` (None with a ``reason`` when the protocol found
    neither a crossing nor a peak), whether the error can be believed, the protocol's note,
    every pair's crossing, the first-order flag and the reweighted curves of every size."""
    d = res.as_dict()
    ok = bool(np.isfinite(res.tc))
    used = None
    if res.method in ("binder_largest_pair", "binder_widest_pair"):
        L1, L2 = (d["sizes"][-2:] if res.method == "binder_largest_pair"
                  else (d["sizes"][0], d["sizes"][-1]))
        used = next((p for p in res.pairs if (p["L1"], p["L2"]) == (L1, L2)), None)
    out = {"name": model.name, "kind": model.kind, "material": model.material, "order": order,
           "order_key": "m" if order == "FM" else "ms",
           "tc_K": res.tc if ok else None, "tc_err_K": res.tc_err if ok else None,
           "tc_method": res.method, "errors_reliable": res.errors_reliable, "note": res.note,
           "u4_cross": used["u4"] if used else None,
           "sizes": d["sizes"], "sweeps": [r.sweeps for r in res.runs],
           "stops": [r.stop for r in res.runs], "pairs": d["pairs"],
           "extrapolated": d["extrapolated"], "chi_peak": d["chi_peak"],
           "first_order": d["first_order"], "curves": d["curves"], "centre_K": res.centre,
           "protocol": d["protocol"], "wall_s": res.wall_s}
    if not ok:
        out["reason"] = ("no U4 crossing of the largest sizes and no interior chi peak in the "
                         "window")
    return _jsonable(out)


def thermo_stage(material: str, workdir, quick: bool = False, fit=None, names=None,
                 sampler: str = "guided", threads: int = 1, grade: Optional[str] = None
                 ) -> dict:
    """Ordering temperatures of ``material`` by the one Tc protocol
    (:func:`mmace_fast.compare.thermo.protocol_tc`) for the models ``names`` (default
    :data:`THERMO_MODELS`), built by :func:`mmace_fast.compare.thermo.tc_models` as in the demo.
    For CrN the order each family prefers is found first (:func:`order_check`) and the protocol
    uses its order parameter. Checkpoints live under folders named by what defines each model
    (the fitted parameters, the frozen file's content and the sampler): a rerun resumes, and
    never resumes another model's chains. ``grade``: which shipped mMACE (default the Monte
    Carlo grade where one is shipped, as in the demo, else the accurate one)."""
    import hashlib

    from mmace_fast.baseline import fit_material
    from mmace_fast.compare import thermo
    from mmace_fast.mc.protocol import TcProtocol
    from mmace_fast.models import available, frozen_path, load_frozen

    t0 = time.perf_counter()
    workdir = Path(workdir) / f"thermo_{material}"
    names = tuple(names or THERMO_MODELS[material])
    if fit is None:
        fit = fit_material(material, kind="fixed_lattice", configs=read_material(material),
                           root=str(ROOT))
    fit_dir = workdir / f"fit_{fit_key(fit)}_v{THERMO_VERSION}"
    moment = float(max(fit.moments.values()))
    grade = grade or ("mc" if material in available("mc") else "accurate")
    frozen = load_frozen(material, grade)
    mmace_key = hashlib.sha256(frozen_path(material, grade).read_bytes()).hexdigest()[:12]
    mmace_dir = workdir / f"mmace_{mmace_key}_m{moment:.3f}_{sampler}_v{THERMO_VERSION}"
    mf = float(fit.mean_field.get("T_K", 0.0) or 0.0)
    out = {"material": material, "moment": moment, "mean_field_heis_K": mf, "models": {},
           "order_checks": {}, "fit_dir": fit_dir.name, "mmace_dir": mmace_dir.name,
           "sampler": sampler, "mmace_grade": grade, "version": THERMO_VERSION}
    default_order = thermo.MATERIALS[material][2]
    orders = {"classical": default_order, "mmace": default_order}
    if material == "crn":
        for fam, make in (("classical", lambda o: thermo.heisenberg_model(material, fit, o)),
                          ("mmace", lambda o: thermo.mmace_model(material, frozen, moment,
                                                                 False, order=o))):
            pl = thermo_plan(material, fam, quick)
            size = 2 if (quick or fam == "mmace") else 4
            chk = order_check(make, ("FM", "AFM1", "AFM2", "AFM3"), 30.0, size,
                              pl["bracket_sweeps"][0], pl["bracket_sweeps"][1],
                              (fit_dir if fam == "classical" else mmace_dir) / f"check_{fam}",
                              norm=moment if fam == "mmace" else 1.0)
            out["order_checks"][fam] = chk
            orders[fam] = chk["preferred"]
    models, notes = {}, {}
    for fam in ("classical", "mmace"):            # one build per family: one surrogate
        wanted = [n for n in names if n.startswith("mmace") == (fam == "mmace")]
        if wanted:
            built, why = thermo.tc_models(material, wanted, fit, frozen, moment,
                                          sampler=sampler, order=orders[fam])
            models.update(built)
            notes.update(why)
    for name in names:
        fam = "mmace" if name.startswith("mmace") else "classical"
        order = orders[fam]
        kind = KIND_OF[name]
        if name not in models:
            out["models"][kind] = {"name": name, "kind": kind, "order": order, "tc_K": None,
                                   "reason": notes[name]}
            log.warning("%s %s: %s; not run", material, kind, notes[name])
            continue
        ms, bracket = models[name]
        protocol = TcProtocol(**thermo_plan(material, fam, quick), bracket=bracket,
                              threads=threads)
        wd = fit_dir if name == "heis" else mmace_dir if fam == "mmace" else workdir
        log.info("%s %s: order %s, bracket %.0f-%.0f K", material, kind, order, *bracket)
        try:
            res = thermo.protocol_tc(ms, protocol, workdir=str(wd))
            r = protocol_entry(res, ms, order)
        except Exception as exc:                 # keep the other models' results
            log.exception("%s %s failed", material, kind)
            r = {"name": ms.name, "kind": kind, "order": order, "tc_K": None,
                 "reason": f"failed: {exc}"}
        if fam == "mmace" and "surrogate" in notes:
            r["surrogate"] = notes["surrogate"]
        out["models"][kind] = r
    out["wall_s"] = time.perf_counter() - t0
    return _jsonable(out)
