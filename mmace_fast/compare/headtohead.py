"""Head-to-head of mMACE and the Heisenberg baselines (issue 6): accuracy, Fe spirals, Tc.

Each stage returns a JSON-able dict (arrays as lists) so the benchmark can cache it:

- :func:`accuracy_stage`   per material: errors on the test split and on valid + test of the
  shipped mMACE, the spin-lattice baseline (fitted on train + valid), the fixed-lattice
  baseline and a non-magnetic MMACE (zero moments); baseline / mMACE error ratios; the ordering
  of the ideal-cell magnetic states; parity data.
- :func:`spiral_stage`     bcc Fe flat spirals E(q) along Gamma-H, -N and -P: mMACE on
  commensurate supercells (moments at the DFT FM length, and relaxed in length), both
  baselines (fixed and relaxed lengths), DFT where ``data/fe_spirals.extxyz.gz`` exists.
- :func:`thermo_stage`     ordering temperatures through :mod:`mmace_fast.compare.thermo`:
  a coarse pre-scan on the smallest size picks the window around the susceptibility peak,
  then scans of two (or more) sizes give Binder crossings with bootstrap errors. For CrN the
  order that each model actually prefers is found first (low-T runs started from AFM1, AFM2,
  AFM3, FM; the lowest <E> that keeps its order wins) and the scan uses that order parameter.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Optional

import numpy as np

from mmace_fast import datasets
from mmace_fast.compare import accuracy as acc

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
MATERIALS = ("fe", "feal", "crn")
MAGNETIC_Z = {"fe": 26, "feal": 26, "crn": 24}
#: DFT reference moment length (muB) of the magnetic species: the lowest ideal cell (DATA.md)
#: is read from the data; these are only fallbacks
MOMENT_FALLBACK = {"fe": 2.19, "feal": 0.78, "crn": 2.40}


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


def read_material(material: str):
    """The material's frames and its spiral supercells (what the shipped mMACE trained on)."""
    from mmace_fast.data.spirals import read_with_spirals
    return read_with_spirals(data_dir() / f"{material}.extxyz.gz")


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


def accuracy_stage(material: str, workdir, quick: bool = False, nm_budget_s: float = 90.0
                   ) -> dict:
    """See the module docstring. ``workdir`` holds the non-magnetic model run."""
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
    nm = acc.train_nonmagnetic(material, Path(workdir) / f"nonmagnetic_{material}",
                               time_budget_s=nm_budget_s, quick=quick,
                               max_epochs=30 if quick else 300,
                               data_path=data_dir() / f"{material}.extxyz.gz")
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
    from mmace_fast.training.modelio import cutoff_of
    from mmace_fast.training.trainer import predict

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
    path = data_dir() / "fe_spirals.extxyz.gz"
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
    lat = material_lattice("bcc_Fe", L, 2.866)
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
    a = 2.866
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
#: coarse pre-scan ranges (K) per material for mMACE (no mean-field estimate available)
MMACE_RANGE = {"fe": (150.0, 2600.0), "crn": (20.0, 900.0), "feal": (10.0, 600.0)}


def choose_window(temps, chi, n_fine: int, order=None) -> dict:
    """Fine temperatures around the transition seen in a coarse scan.

    With ``order`` (the order parameter <|m|> per coarse temperature): the steepest drop of the
    order parameter between neighbours T_k < T_k+1, widened by half the step on each side (a
    first-order jump, as in CrN, sits between two coarse points and its chi peak can fall on
    either side). Without it: linear between the coarse neighbours of the chi peak. ``edge``
    flags a transition at an end of the coarse range (outside it, or absent)."""
    temps = np.asarray(temps, float)
    chi = np.asarray(chi, float)
    if temps.size < 3 or temps.size != chi.size:
        raise acc.AccuracyError("need >= 3 coarse temperatures with chi values")
    srt = np.argsort(temps)
    temps, chi = temps[srt], chi[srt]
    k_chi = int(np.nanargmax(chi))
    t_pk = float(temps[k_chi])
    if order is not None:
        m = np.asarray(order, float)[srt]
        k = int(np.argmax(m[:-1] - m[1:]))
        step = temps[k + 1] - temps[k]
        lo, hi = max(temps[k] - 0.5 * step, 0.5 * temps[k]), temps[k + 1] + 0.5 * step
        edge = "high" if m[-1] > 0.6 * m[0] else None
        method = "order_parameter_drop"
    else:
        lo, hi = temps[max(k_chi - 1, 0)], temps[min(k_chi + 1, temps.size - 1)]
        edge = "low" if k_chi == 0 else "high" if k_chi == temps.size - 1 else None
        method = "chi_peak"
    fine = np.linspace(lo, hi, n_fine)
    return {"t_peak": t_pk, "edge": edge, "method": method, "temperatures": fine.tolist()}


def _scan(model, sizes, temps, n_equil, n_prod, seed, workdir, progress=None):
    from mmace_fast.compare.thermo import scan_model
    return scan_model(model, sizes, temps, n_equil, n_prod, seed=seed, workdir=workdir,
                      progress=progress)


def _tables_json(res, order_key) -> dict:
    out = {}
    for L, tab in res.tables.items():
        out[int(L)] = {c: tab.column(c).tolist() for c in
                       ("temperature_K", f"{order_key}_abs", f"chi_{order_key}",
                        f"u4_{order_key}", f"u4_{order_key}_err", "e_per_site", "c_kb")}
    return out


def order_check(make, orders, temperature: float, size: int, n_equil: int, n_prod: int,
                workdir, norm: float = 1.0, seed: int = 0) -> dict:
    """Start ``make(order)`` (a ModelSystem) in each order at ``temperature`` on size ``size``;
    <E> per site and the own order parameter <|m_s|> / ``norm`` (the moment length: 1 = fully
    ordered). The preferred order: lowest <E> among those whose order parameter stays above
    0.5 (all of them if none does)."""
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
    alive = {o: r for o, r in res.items() if r["order_abs"] > 0.5} or res
    best = min(alive, key=lambda o: alive[o]["e_per_site_meV"])
    return {"temperature_K": temperature, "runs": res, "preferred": best}


def _prescan(model, L, temps, n_equil, n_prod, seed, workdir, order_key, n_fine):
    from mmace_fast.mc.scan import temperature_scan
    system = model.build(L)
    settings = dict(model.settings)
    tab = temperature_scan(system, temps, n_equil, n_prod, seed=seed,
                           workdir=str(Path(workdir) / "prescan" / model.kind / f"L{L}"),
                           **settings)
    win = choose_window(tab.column("temperature_K"), tab.column(f"chi_{order_key}"), n_fine,
                        order=tab.column(f"{order_key}_abs"))
    win["coarse"] = {c: tab.column(c).tolist() for c in
                     ("temperature_K", f"{order_key}_abs", f"chi_{order_key}", f"u4_{order_key}")}
    return win


def _extension(temps, chi, n_extend: int) -> tuple[list, list]:
    """Temperatures to add when chi [n] of the largest size peaks at an edge of the window
    temps [n] (K, increasing): ``n_extend`` more at the same spacing below the lowest (never
    below 0 K) or above the highest. Returns (below, above); both empty for an interior peak."""
    temps = np.asarray(temps, float)
    if n_extend <= 0 or temps.size < 2:
        return [], []
    k = int(np.argmax(np.asarray(chi, float)))
    step = float(temps[1] - temps[0])
    if k == 0:
        return [float(temps[0] - j * step) for j in range(n_extend, 0, -1)
                if temps[0] - j * step > 0], []
    if k == temps.size - 1:
        step = float(temps[-1] - temps[-2])
        return [], [float(temps[-1] + j * step) for j in range(1, n_extend + 1)]
    return [], []


def thermo_model(model, material: str, plan: dict, workdir, seed: int = 0,
                 t_range=None, order_key: str = "m") -> dict:
    """Pre-scan + window + multi-size scan of one ModelSystem; JSON-able result.

    The window is stored in <workdir>/<kind>/window.json and reused by a rerun (so a resumed run
    continues the same scans). If the susceptibility of the largest size peaks at the lowest
    window temperature, ``plan["extend"]`` further temperatures below it (same spacing) are
    scanned for every size and merged into the tables before the Binder / chi analysis; likewise
    above the highest window temperature when it peaks there."""
    import json as _json

    from mmace_fast.mc.scan import critical_temperature
    from mmace_fast.mc.table import ScanTable
    t0 = time.perf_counter()
    wfile = Path(workdir) / model.kind / "window.json"
    if wfile.exists():
        win = _json.loads(wfile.read_text())
    else:
        lo, hi = t_range
        coarse = np.geomspace(lo, hi, plan["n_coarse"]).tolist()
        win = _prescan(model, plan["sizes"][0], coarse, plan["pre_equil"], plan["pre_prod"],
                       seed, workdir, order_key, plan["n_fine"])
        wfile.parent.mkdir(parents=True, exist_ok=True)
        wfile.write_text(_json.dumps(_jsonable(win)))
    res = _scan(model, plan["sizes"], win["temperatures"], plan["n_equil"], plan["n_prod"],
                seed, str(workdir))
    tables = dict(res.tables)
    big = tables[max(tables)]
    temps = big.column("temperature_K")
    extended, extended_above = _extension(temps, big.column(f"chi_{order_key}"),
                                          int(plan.get("extend", 0)))
    for side, more, sub in (("lower", extended, "ext"), ("upper", extended_above, "ext_up")):
        if not more:
            continue
        log.info("%s: chi peaks at the window's %s edge; extending to %.0f K",
                 model.name, side, more[0] if side == "lower" else more[-1])
        ext = _scan(model, plan["sizes"], more, plan["n_equil"], plan["n_prod"], seed,
                    str(Path(workdir) / sub))
        tables = {L: ScanTable(sorted(list(ext.tables[L]) + list(tab),
                                      key=lambda row: row["temperature_K"]), tab.metadata)
                  for L, tab in tables.items()}
        res.tables = tables
    tc = None
    try:
        tc = critical_temperature(tables, order=order_key)
    except ValueError as exc:
        log.warning("%s: no Tc estimate (%s)", model.name, exc)
    out = {"name": model.name, "kind": model.kind, "material": material, "window": win,
           "extended_below": extended, "extended_above": extended_above,
           "sizes": list(plan["sizes"]), "n_equil": plan["n_equil"], "n_prod": plan["n_prod"],
           "tables": _tables_json(res, order_key), "order_key": order_key,
           "tc_binder_K": None, "wall_s": time.perf_counter() - t0}
    if tc is not None:
        out.update(tc.as_dict())
        out["tc_binder_K"] = tc.tc_binder
    if out["tc_binder_K"] is None:
        out["reason"] = "no Binder crossing inside the window"
        out.update(_chi_fallback(res, order_key))
    return _jsonable(out)


#: a Binder crossing whose U4 lies below this is rejected: for a 3-component order parameter
#: U4 runs from 4/9 (disordered) to 2/3 (ordered) and crosses near 0.62 at a continuous
#: transition; crossings near or below 4/9 are noise in the disordered phase
U4_CROSS_MIN = 0.5
#: a dip of U4 below this on the largest size is the signature of a first-order transition
#: (two coexisting phases: <m^4> > (5/3) <m^2>^2)
U4_FIRST_ORDER = 0.3


def fill_fallbacks(thermo_result: dict, workdir) -> dict:
    """Final transition temperature of every model of a thermo stage: ``tc_K``, ``tc_err_K``,
    ``tc_method``.

    - "binder_crossing" when the crossing is accepted (U4* >= :data:`U4_CROSS_MIN`);
      otherwise it is kept as ``tc_binder_rejected_K`` with a reason;
    - "chi_peak_largest_L": bootstrap parabola through the susceptibility maximum of the
      largest size (scan tables read from <workdir>/thermo_<material>/<kind>/L<L>/scan.json);
    - "chi_max_grid": the grid temperature of that maximum, error half the grid step (when no
      parabola fits, e.g. a first-order spike).
    ``first_order`` (T of the U4 dip of the largest size) is set when U4 dips below
    :data:`U4_FIRST_ORDER`."""
    from mmace_fast.mc.table import ScanTable
    from mmace_fast.mc.tc import chi_peak
    root = Path(workdir) / f"thermo_{thermo_result['material']}"
    for kind, r in thermo_result.get("models", {}).items():
        base = root / thermo_result["fit_dir"] if (kind == "heisenberg" and
                                                   thermo_result.get("fit_dir")) else root
        ok = r.get("order_key", "m")
        tc, u4c = r.get("tc_binder_K"), r.get("u4_cross")
        if tc is not None and u4c is not None and u4c < U4_CROSS_MIN:
            r["tc_binder_rejected_K"] = tc
            r["tc_binder_K"] = None
            r["reason"] = (f"spurious Binder crossing at {tc:.0f} K rejected: U4* = {u4c:.3f} "
                           f"< {U4_CROSS_MIN} (disordered value 4/9)")
        if r.get("tc_binder_K") is not None:
            r.update(tc_K=r["tc_binder_K"], tc_err_K=r.get("tc_binder_err_K"),
                     tc_method="binder_crossing")
        tabs = r.get("tables") or {}
        if not tabs:
            continue
        big = tabs[max(tabs, key=int)]
        t = np.asarray(big["temperature_K"], float)
        u4 = np.asarray(big[f"u4_{ok}"], float)
        if u4.size and np.nanmin(u4) < U4_FIRST_ORDER:
            r["first_order"] = {"T_K": float(t[int(np.nanargmin(u4))]),
                                "u4_min": float(np.nanmin(u4))}
        if r.get("tc_K") is not None:
            continue
        path = base / kind / f"L{max(int(k) for k in tabs)}" / "scan.json"
        try:
            tab = ScanTable.from_json(path)
            pk = chi_peak(tab.column("temperature_K"), tab.column(f"chi_{ok}"),
                          tab.column(f"chi_{ok}_err"), n_boot=400, seed=0)
            r.update(tc_K=float(pk.t_peak), tc_err_K=float(pk.t_peak_err),
                     tc_method="chi_peak_largest_L")
        except (ValueError, OSError) as exc:
            chi = np.asarray(big[f"chi_{ok}"], float)
            k = int(np.nanargmax(chi))
            step = float(np.min(np.diff(np.sort(t)))) if t.size > 1 else float("nan")
            r.update(tc_K=float(t[k]), tc_err_K=0.5 * step, tc_method="chi_max_grid",
                     chi_note=str(exc))
            srt = np.sort(t)
            if t[k] in (srt[0], srt[-1]):
                # a maximum on the scan's last point is no peak: the transition lies beyond
                r["tc_bound"] = "lower" if t[k] == srt[-1] else "upper"
    return thermo_result


def _chi_fallback(res, order_key) -> dict:
    """Susceptibility peak of the largest size when the Binder crossing failed."""
    from mmace_fast.mc.tc import chi_peak
    big = res.tables[max(res.tables)]
    try:
        p = chi_peak(big.column("temperature_K"), big.column(f"chi_{order_key}"),
                     big.column(f"chi_{order_key}_err"), n_boot=400, seed=0)
        return {"tc_chi_peak_K": float(p.t_peak), "tc_chi_peak_err_K": float(p.t_peak_err)}
    except ValueError as exc:
        return {"chi_note": str(exc)}


def thermo_plans(quick: bool) -> dict:
    """MC effort per model kind (sizes, sweeps)."""
    if quick:
        h = dict(sizes=(2, 4), n_coarse=5, pre_equil=20, pre_prod=40, n_fine=4, n_equil=20,
                 n_prod=40)
        return {"heisenberg": h, "pajda": h,
                "mmace": dict(sizes=(2, 2), n_coarse=3, pre_equil=2, pre_prod=8, n_fine=3,
                              n_equil=2, n_prod=8)}
    h = dict(sizes=(4, 6, 8), n_coarse=12, pre_equil=200, pre_prod=600, n_fine=9,
             n_equil=500, n_prod=2000)
    return {"heisenberg": h, "pajda": h,
            "mmace": dict(sizes=(3, 4), n_coarse=10, pre_equil=30, pre_prod=60, n_fine=7,
                          n_equil=100, n_prod=300, extend=3)}


#: mMACE sizes per material (CrN's AFM2 / AFM3 patterns need even L; L = 4 is 256 Cr + 256 N,
#: ~8x the cost of L = 2 per sweep, hence fewer sweeps and temperatures). Fe: even sizes, as in
#: the main job: an odd L cannot host the period-2 (H-, P-point) fluctuations an
#: antiferromagnetic J2 favours and orders far above the even sizes (a 3/4 crossing compares
#: incompatible curves); L = 4 (11.5 A) is the smallest cell longer than the 2-layer receptive
#: field (10 A)
MMACE_SIZES = {"crn": (2, 4), "fe": (4, 6)}
MMACE_CRN = dict(n_fine=6, n_equil=60, n_prod=200)
#: Fe at L = 4 / 6 (128 / 432 atoms): the sweeps of the free-length scans for both mMACE kinds
MMACE_FE = dict(n_fine=5, n_equil=60, n_prod=200)
#: free-length mMACE on Fe: fewer temperatures and sweeps (budget of the full run)
MMACE_FREE = dict(n_fine=5, n_equil=60, n_prod=200)


def fit_key(fit) -> str:
    """First 12 hex digits of the sha256 of a fitted baseline's parameter names and values."""
    import hashlib
    names = ",".join(p.name for p in fit.model.design.params).encode()
    theta = np.ascontiguousarray(fit.model.theta, dtype=np.float64).tobytes()
    return hashlib.sha256(names + theta).hexdigest()[:12]


def thermo_stage(material: str, workdir, quick: bool = False, fit=None,
                 kinds=("heisenberg", "mmace_fixed", "mmace_free", "pajda")) -> dict:
    """Ordering temperatures of ``material`` with the models in ``kinds`` (see module doc)."""
    from mmace_fast.baseline import fit_material
    from mmace_fast.compare import thermo
    from mmace_fast.models import load_frozen

    t0 = time.perf_counter()
    workdir = Path(workdir) / f"thermo_{material}"
    plans = thermo_plans(quick)
    if fit is None:
        fit = fit_material(material, kind="fixed_lattice", configs=read_material(material),
                           root=str(ROOT))
    # the fitted model changes with the data (and the fitting code): its scans live under a
    # folder named by its parameters, so a rerun never resumes a checkpoint of another
    # Hamiltonian; the mMACE scans likewise live under the frozen model's content hash (a
    # retrained model starts afresh); Pajda's constants never change
    import hashlib
    from mmace_fast.models import frozen_path
    fit_dir = workdir / f"fit_{fit_key(fit)}"
    moment = float(fit.moments[MAGNETIC_Z[material]])
    frozen = load_frozen(material)
    mmace_key = hashlib.sha256(frozen_path(material).read_bytes()).hexdigest()[:12]
    mmace_dir = workdir / f"mmace_{mmace_key}_m{moment:.3f}"
    mf = float(fit.mean_field.get("T_K", 1000.0) or 1000.0)
    out = {"material": material, "moment": moment, "mean_field_heis_K": mf, "models": {},
           "order_checks": {}, "fit_dir": fit_dir.name, "mmace_dir": mmace_dir.name}
    default_order = thermo.MATERIALS[material][2]
    orders = {"heisenberg": default_order, "mmace": default_order}
    if material == "crn":
        t_check = 30.0
        for fam, make in (("heisenberg", lambda o: thermo.heisenberg_model(material, fit, o)),
                          ("mmace", lambda o: thermo.mmace_model(material, frozen, moment,
                                                                 False, order=o))):
            pl = plans["mmace" if fam == "mmace" else "heisenberg"]
            size = 2 if (quick or fam == "mmace") else 4
            chk = order_check(make, ("FM", "AFM1", "AFM2", "AFM3"), t_check, size,
                              pl["pre_equil"], pl["pre_prod"],
                              (fit_dir if fam == "heisenberg" else mmace_dir) / f"check_{fam}",
                              norm=moment if fam == "mmace" else 1.0)
            out["order_checks"][fam] = chk
            orders[fam] = chk["preferred"]
    for kind in kinds:
        if kind == "pajda" and material != "fe":
            continue
        fam = "mmace" if kind.startswith("mmace") else "heisenberg"
        order = orders[fam]
        if kind == "heisenberg":
            if not float(fit.mean_field.get("T_K", 1.0) or 0.0) > 0.0:
                out["models"][kind] = {"name": "Heisenberg (fitted)", "kind": kind,
                                       "tc_binder_K": None, "order": order,
                                       "reason": "no exchange on the ordered lattice (mean-field "
                                                 "T = 0): the fitted model does not order"}
                log.warning("%s heisenberg: no exchange on the ordered lattice; scan skipped",
                            material)
                continue
            if order == "FM" and not thermo.ferromagnetic_fit(fit):
                out["models"][kind] = {"name": "Heisenberg (fitted)", "kind": kind,
                                       "tc_binder_K": None, "order": order,
                                       "reason": thermo.not_ferromagnetic_note(fit)}
                log.warning("%s heisenberg: %s; FM scan skipped", material,
                            out["models"][kind]["reason"])
                continue
            ms = thermo.heisenberg_model(material, fit, order)
            rng = (0.15 * mf, 1.3 * mf)
        elif kind == "pajda":
            ms = thermo.pajda_model()
            rng = (300.0, 1600.0)
        else:
            ms = thermo.mmace_model(material, frozen, moment, kind == "mmace_free", order=order)
            rng = MMACE_RANGE[material]
        plan = dict(plans["mmace" if fam == "mmace" else kind])
        if fam == "mmace" and not quick and material in MMACE_SIZES:
            plan["sizes"] = MMACE_SIZES[material]
            plan.update({"crn": MMACE_CRN, "fe": MMACE_FE}[material])
        if kind == "mmace_free" and not quick:
            plan.update(MMACE_FREE)
        log.info("%s %s: order %s, pre-scan %.0f-%.0f K", material, kind, order, *rng)
        try:
            wd = (fit_dir if kind == "heisenberg" else
                  mmace_dir if fam == "mmace" else workdir)
            r = thermo_model(ms, material, plan, wd,
                             t_range=rng, order_key="m" if order == "FM" else "ms")
        except Exception as exc:                 # keep the other models' results
            log.exception("%s %s failed", material, kind)
            r = {"name": ms.name, "kind": kind, "tc_binder_K": None,
                 "reason": f"failed: {exc}"}
        r["order"] = order
        out["models"][kind] = r
    out["wall_s"] = time.perf_counter() - t0
    return _jsonable(out)
