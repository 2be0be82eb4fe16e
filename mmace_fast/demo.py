"""Main job on the embedded default: Curie temperature of bcc Fe, mMACE vs Heisenberg.

    python -m mmace_fast.demo            (about 15 minutes on 2 cores)
    python -m mmace_fast.demo --quick    (tiny sizes, under a minute; used by the tests)

Every model runs through the same Monte Carlo engine on the same bcc lattices, and through the
one Tc protocol (:mod:`mmace_fast.mc.protocol`: parallel tempering, stopping rule,
multiple-histogram-reweighted Binder crossings of three sizes):

1. the classical Heisenberg model fitted (mmace_fast.baseline, fixed lattice, ridge + CV) to
   the shipped GPAW data (data/fe.extxyz.gz and its spirals), unit spins of the fitted moment;
2. the shipped Monte Carlo grade mMACE trained on that data (mmace_fast/models/fe_mc: one
   message-passing layer), frozen into the C++ incremental evaluator (no torch), moment
   lengths free: samples exp(-E/kT) d^3m; ``--grade accurate`` takes the two-layer model
   instead (about 20 times slower per trial). When the data file is not the one the model was
   trained on (SHA-256 against its metadata), the demo says so;
3. Pajda et al.'s 8-shell LSDA constants (the literature reference).

Prints the table against experiment (1043 K) with the sizes and sweeps each model used and
whether its error bar is converged (else it is reported as a lower bound), saves the protocol
results and checkpoints (a rerun resumes) and, if matplotlib is installed, a plot of the
reweighted U4 and chi curves.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

import numpy as np

from mmace_fast.compare.thermo import SMOKE_PLANS, T_EXP, ferromagnetic_fit
from mmace_fast.datasets import shipped_path
from mmace_fast.materials import get as get_material
from mmace_fast.mc.presets import mean_field_tc, pajda_fe_exchange_ev

log = logging.getLogger("mmace_fast.demo")
#: the shipped GPAW data of bcc Fe (what the shipped mMACE was trained on, or a superset:
#: see :func:`training_data_check`), a key of mmace_fast.datasets.SHIPPED
DEFAULT_DATA = "fe"
COUNTS_BCC = np.array([8, 6, 12, 24, 8, 6, 24, 24])   # bcc shell multiplicities (Pajda)
#: demo rows: (key in the JSON line, model name of compare.thermo.tc_models, label)
ROWS = (("heis", "heis", "Heisenberg fitted to the GPAW data"),
        ("mmace", "mmace_free", "mMACE (free |m|, d^3m)"),
        ("pajda", "pajda", "Heisenberg, Pajda et al. 2001"))

#: Tc protocol settings (mmace_fast.mc.protocol.TcProtocol) per model family. mMACE: even
#: sizes only (an odd L cannot host the period-2 H- and P-point fluctuations an
#: antiferromagnetic J2 favours), each size capped in wall time so the job stays ~10 min
PLANS = {
    "full": {
        "classical": dict(sizes=(6, 10, 14), n_bracket_replicas=10, bracket_sweeps=(300, 600),
                          n_replicas=8, n_equil=500, min_prod=2000, chunk=2000, max_prod=8000,
                          target_u4_err=0.003, max_wall_s=60.0),
        "mmace": dict(sizes=(6, 8, 10), n_bracket_replicas=8, bracket_sweeps=(100, 200),
                      n_replicas=6, n_equil=150, min_prod=400, chunk=400, max_prod=2000,
                      target_u4_err=0.005, max_wall_s=150.0),
    },
    "quick": SMOKE_PLANS,
}


def _quiet_logs(quick):
    """Progress lines from this module and the protocol's per-size lines; per-lattice setup
    lines are noise here, and the statistics' short-run warnings are expected at the
    smoke-test size."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in ("mmace_fast.mc.hamiltonian", "mmace_fast.mc.mmace_hamiltonian",
                 "mmace_fast.mc.tempering"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if quick:
        for name in ("mmace_fast.mc.stats", "mmace_fast.mc.reweight", "mmace_fast.mc.protocol"):
            logging.getLogger(name).setLevel(logging.ERROR)


def _plot(results: dict, path, moment):
    """Reweighted U4 and chi (per size) of every model; mMACE's chi is divided by the squared
    moment length so that all models show the order parameter of unit spins."""
    try:
        import matplotlib  # noqa: PLC0415
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        log.info("matplotlib not installed (pip install 'mmace_fast[plot]'): no plot")
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for label, res in results.items():
        scale = moment if label.startswith("mMACE") else 1.0
        for L, c in sorted(res.curves.items()):
            ok = c.reliable
            axes[0].plot(c.grid[ok], c.values["u4_m"][ok], "-", label=f"{label}, L={L}")
            axes[1].plot(c.grid[ok], c.values["chi_m"][ok] / scale ** 2, "-")
    for ax, name in zip(axes, ["Binder U4 (reweighted)", "chi (unit spins, reweighted)"]):
        ax.set_xlabel("T (K)")
        ax.set_ylabel(name)
        ax.axvline(T_EXP["fe"], color="k", ls=":", lw=1)
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _data_key(path) -> str:
    """First 12 hex digits of the sha256 of a data file's content (gzip or plain)."""
    import gzip  # noqa: PLC0415
    import hashlib  # noqa: PLC0415

    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return hashlib.sha256(raw).hexdigest()[:12]


def training_data_check(data_path, metadata: dict) -> dict:
    """Whether ``data_path`` and its spirals file (``data.spirals.spirals_file_of``) are the
    files the shipped model was trained on.

    Compares the SHA-256 of each file's bytes with ``metadata["data_sha256"]`` and
    ``metadata["spirals_sha256"]`` (the bench hashes the gzip files it snapshots; a hash the
    model does not record is not compared). Returns {"same": bool | None (None: the model
    records no hash), "data_frames": frames in ``data_path``, "model_frames":
    metadata["data_frames"]} and logs a warning when they differ: the Heisenberg fit then sees
    frames mMACE never saw."""
    import hashlib  # noqa: PLC0415

    import ase.io  # noqa: PLC0415

    from mmace_fast.data.spirals import spirals_file_of  # noqa: PLC0415

    files = {"data_sha256": Path(data_path), "spirals_sha256": spirals_file_of(data_path)}
    differ = []
    for key, path in files.items():
        recorded = metadata.get(key)
        if recorded is None:
            continue
        sha = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None
        if sha != recorded:
            differ.append(f"{path.name} (sha256 {str(sha)[:12]}, model {recorded[:12]})")
    n_data = len(ase.io.read(str(data_path), index=":"))
    same = None if metadata.get("data_sha256") is None else not differ
    out = {"same": same, "data_frames": n_data, "model_frames": metadata.get("data_frames")}
    if differ:
        log.warning("not the shipped mMACE's training data: %s; %d frames here, %s in training: "
                    "the fitted Heisenberg model sees frames mMACE did not",
                    ", ".join(differ), n_data, out["model_frames"])
    return out


def _exchange_comparison(fit, moment: float, quick: bool, grade: str = "mc") -> dict:
    """J per shell (meV, unit spins, pair once) of the fitted baseline, of the shipped frozen
    mMACE of ``grade`` (extracted from its energies at |m| = ``moment`` on random directions in
    a 30-degree cap around FM, the magnon regime of Pajda's constants) and of Pajda et al.;
    logged as the energy scale behind each model's Tc."""
    from mmace_fast.baseline import extract_from_frozen, reference_structure  # noqa: PLC0415
    from mmace_fast.mc.lattice import material_lattice  # noqa: PLC0415
    from mmace_fast.mc.mmace_hamiltonian import FrozenMMACEHamiltonian  # noqa: PLC0415
    from mmace_fast.models import load_frozen  # noqa: PLC0415

    fe = get_material("fe")
    lat = material_lattice(fe.prototype, 2 if quick else 3, fe.a)
    ham = FrozenMMACEHamiltonian.from_arrays(load_frozen("fe", grade), lat.positions, lat.cell,
                                             lat.pbc, lat.numbers)
    n_shells = 3 if quick else 5
    res = extract_from_frozen(ham, lat, reference_structure("fe"), (26,), {26: moment},
                              n_shells=n_shells, n_configs=16 if quick else 48, cone_deg=30.0)
    out = {"fitted": [r["J_unit_once_meV"] for r in fit.exchange],
           "mmace": [r["unit_once_meV"] for r in res.rows],
           "pajda": (pajda_fe_exchange_ev()[:n_shells] * 1e3).tolist(),
           "mmace_non_heisenberg": res.non_heisenberg}
    log.info("  exchange, meV (unit spins, pair once): shell  fitted  mMACE(30 deg cap)  Pajda")
    for k in range(n_shells):
        f = out["fitted"][k] if k < len(out["fitted"]) else float("nan")
        log.info("    J%d  %8.1f  %8.1f  %8.1f", k + 1, f, out["mmace"][k], out["pajda"][k])
    return out


def _table(rows, mfa_fit, mfa_pajda, notes=None):
    """rows: [(label, TcProtocolResult or None)]."""
    exp = T_EXP["fe"]
    notes = notes or {}
    print("\nCurie temperature of bcc Fe: same Monte Carlo engine, same lattices, one protocol")
    print(f"{'model':32s} {'Tc (K)':>7s} {'err':>5s} {'pairs (K)':>11s} {'chi (K)':>8s} "
          f"{'sizes':>9s} {'sweeps':>15s} {'/exp':>6s}")
    for name, res in rows:
        if res is None or not np.isfinite(res.tc):
            why = notes.get(name) or (res.note if res is not None else "")
            print(f"{name:32s} {'n/a':>7s}  {why}")
            continue
        ts = [p["tc"] for p in res.pairs if np.isfinite(p["tc"])]
        pairs = f"{min(ts):.0f}-{max(ts):.0f}" if ts else "-"
        chi = f"{res.chi_peak['t']:.0f}" if res.chi_peak else "-"
        sizes = ",".join(str(r.L) for r in res.runs)
        sweeps = ",".join(str(r.sweeps) for r in res.runs)
        err = f"{res.tc_err:.0f}" + ("" if res.errors_reliable else "+")
        print(f"{name:32s} {res.tc:7.0f} {err:>5s} {pairs:>11s} {chi:>8s} {sizes:>9s} "
              f"{sweeps:>15s} {res.tc / exp:6.3f}")
    print(f"{'experiment':32s} {exp:7.0f}")
    print("(Tc: U4 crossing of the two largest sizes, reweighted, jackknife error; 'err+' is a "
          "lower bound: a size stopped on its budget before tau_int and the U4 error converged; "
          "pairs: the crossings of every pair of sizes; sweeps: production per size)")
    for name, res in rows:
        if res is not None and res.note:
            print(f"  {name}: {res.note}")
    print(f"(mean field: fitted Heisenberg {mfa_fit:.0f} K, Pajda 8 shells {mfa_pajda:.0f} K)")


def _run_model(kind, model, bracket, plan, out, threads):
    """One model through the Tc protocol; checkpoints under ``out``."""
    from mmace_fast.compare.thermo import protocol_tc  # noqa: PLC0415
    from mmace_fast.mc.protocol import TcProtocol  # noqa: PLC0415

    family = "mmace" if kind.startswith("mmace") else "classical"
    protocol = TcProtocol(**plan[family], bracket=bracket, threads=threads)
    t0 = time.perf_counter()
    res = protocol_tc(model, protocol, workdir=out)
    log.info("  %s: Tc = %.0f +- %.0f K (%s%s), %.0f s", model.name, res.tc, res.tc_err,
             res.method, "" if res.errors_reliable else ", error a lower bound",
             time.perf_counter() - t0)
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    p.add_argument("--out", default="runs/demo_fe", help="tables, checkpoints, plot")
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1),
                   help="parallel-tempering replicas run concurrently")
    p.add_argument("--grade", default="mc", choices=("mc", "accurate"),
                   help="the shipped Fe mMACE: Monte Carlo grade (default) or accurate")
    p.add_argument("--data", default=None,
                   help="data file the Heisenberg baseline is fitted to (default: the shipped "
                        "data/fe.extxyz.gz, the data the shipped mMACE was trained on)")
    args = p.parse_args(argv)
    if args.threads < 1:
        p.error("--threads must be >= 1")
    _quiet_logs(args.quick)
    mode = "quick" if args.quick else "full"
    plan = PLANS[mode]
    out = os.path.join(args.out, mode)
    os.makedirs(out, exist_ok=True)
    t0 = time.perf_counter()

    from mmace_fast.baseline import fit_material  # noqa: PLC0415
    from mmace_fast.compare.headtohead import fit_key  # noqa: PLC0415
    from mmace_fast.compare.thermo import tc_models  # noqa: PLC0415
    from mmace_fast.models import frozen_path, load_frozen, metadata  # noqa: PLC0415

    data = args.data or str(shipped_path(DEFAULT_DATA))
    log.info("1/4 fitting the Heisenberg baseline to %s", data)
    data_check = training_data_check(data, metadata("fe", args.grade))
    fit = fit_material("fe", data_path=data)
    moment = float(fit.moments[26])
    for row in fit.exchange:
        log.info("  J%d = %.2f meV (unit spins, pair once) +- %.2f; %.3f mRy (pair twice)",
                 row["shell"], row["J_unit_once_meV"], row["sigma_unit_once_meV"],
                 row["J_unit_twice_mRy"])
    mfa_fit = float(fit.mean_field.get("T_K", float("nan")))
    exchange = _exchange_comparison(fit, moment, args.quick, args.grade)
    models, skipped = tc_models("fe", [k for _, k, _ in ROWS], fit,
                                load_frozen("fe", args.grade), moment)
    notes = {label: skipped[kind] for _, kind, label in ROWS if kind in skipped}
    for label, why in notes.items():
        log.warning("%s is %s: its FM scan is skipped", label, why)
    # checkpoints live under folders named by what defines each model (the fitted
    # parameters, the frozen file's content), so a rerun never resumes another model's chains
    folders = {"heis": f"fit_{fit_key(fit)}", "pajda": "pajda",
               "mmace_free": f"mmace_{_data_key(frozen_path('fe', args.grade))}_guided"}
    results = {}
    for key, kind, label in ROWS:
        if kind not in models:
            continue
        log.info("%s/4 %s: Tc protocol", "3" if kind.startswith("mmace") else "2", label)
        model, bracket = models[kind]
        results[key] = _run_model(kind, model, bracket, plan, os.path.join(out, folders[kind]),
                                  args.threads)
    log.info("4/4 report")
    mfa_pajda = mean_field_tc(pajda_fe_exchange_ev(), COUNTS_BCC)
    _table([(label, results.get(key)) for key, _, label in ROWS], mfa_fit, mfa_pajda, notes)
    plot = _plot({label: results[key] for key, _, label in ROWS if key in results},
                 os.path.join(out, "fe_tc.png"), moment)
    wall = time.perf_counter() - t0
    print(f"(protocol results and checkpoints in {out}{'; plot ' + plot if plot else ''}; "
          f"{wall:.0f} s)")

    def val(key, attr):
        res = results.get(key)
        if res is None:
            return None
        v = getattr(res, attr)
        return float(v) if np.isfinite(v) else None

    fig = {"fe_heis_ferromagnetic": ferromagnetic_fit(fit), "fe_heis_mean_field": fit.mean_field,
           "fe_exchange_unit_once_meV": exchange, "fe_tc_exp_K": T_EXP["fe"],
           "fe_tc_mfa_fit_K": mfa_fit, "mmace_grade": args.grade,
           "fe_data_is_model_training_data": data_check["same"],
           "fe_data_frames": data_check["data_frames"],
           "fe_model_training_frames": data_check["model_frames"], "wall_s": wall,
           "quick": args.quick}
    for key, _, _ in ROWS:
        res = results.get(key)
        fig[f"fe_tc_{key}_K"] = val(key, "tc")
        fig[f"fe_tc_{key}_err_K"] = val(key, "tc_err")
        fig[f"fe_tc_{key}_reliable"] = None if res is None else res.errors_reliable
        fig[f"fe_tc_{key}_method"] = None if res is None else res.method
        fig[f"fe_tc_{key}_sizes"] = None if res is None else [r.L for r in res.runs]
        fig[f"fe_tc_{key}_sweeps"] = None if res is None else [r.sweeps for r in res.runs]
        fig[f"fe_tc_{key}_pairs_K"] = (None if res is None else
                                       [[q["L1"], q["L2"], q["tc"] if np.isfinite(q["tc"])
                                         else None] for q in res.pairs])
    print(json.dumps(fig))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
