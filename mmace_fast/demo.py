"""Main job on the embedded default: Curie temperature of bcc Fe, mMACE vs Heisenberg.

    python -m mmace_fast.demo            (about 10 minutes on 2 cores)
    python -m mmace_fast.demo --quick    (tiny sizes, under a minute; used by the tests)

Every model runs through the same Monte Carlo engine on the same bcc lattices:

1. the classical Heisenberg model fitted (mmace_fast.baseline, fixed lattice, ridge + CV) to
   the shipped GPAW data (data/fe.extxyz.gz), unit spins of the fitted moment length;
2. the shipped mMACE trained on that data (mmace_fast/models/fe), frozen into the C++
   incremental evaluator (no torch), moment lengths free: samples exp(-E/kT) d^3m; when the
   data file has grown since the model was trained (its SHA-256 differs from the one in the
   model's metadata), the demo says so and reports both frame counts;
3. Pajda et al.'s 8-shell LSDA constants (the literature reference).

Each model: a coarse scan at the smallest size brackets the transition, then two sizes scan a
window around it; Tc from the Binder-cumulant crossing (with a bootstrap error) and from the
susceptibility peak. Prints the table against experiment (1043 K), saves scan tables and
checkpoints (a rerun resumes) and, if matplotlib is installed, a plot of |M|, chi and U4.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from mmace_fast.compare.thermo import (T_EXP, TcResult, ferromagnetic_fit, fine_window,
                                       heisenberg_model, locate_transition, mmace_model,
                                       not_ferromagnetic_note, pajda_model, scan_model)
from mmace_fast.mc.presets import mean_field_tc, pajda_fe_exchange_ev
from mmace_fast.mc.scan import critical_temperature

log = logging.getLogger("mmace_fast.demo")
#: centre of the mMACE pre-scan (K): independent of the fitted model, which need not order
MMACE_GUESS_K = 1000.0
#: the shipped GPAW data of bcc Fe (what the shipped mMACE was trained on, or a superset:
#: see :func:`training_data_check`)
DEFAULT_DATA = Path(__file__).resolve().parents[1] / "data" / "fe.extxyz.gz"
COUNTS_BCC = np.array([8, 6, 12, 24, 8, 6, 24, 24])   # bcc shell multiplicities (Pajda)

#: run sizes: (coarse L, coarse T factors of the guess, fine sizes, fine points, rel. width,
#: equilibration / production sweeps of coarse and fine scans)
PLANS = {
    "full": {
        "heisenberg": dict(coarse_L=6, coarse=(0.45, 1.25, 9), sizes=(6, 10), n_fine=9,
                           width=0.12, sweeps_coarse=(300, 1000), sweeps=(500, 3000)),
        "pajda": dict(sizes=(6, 10), temps=(850.0, 970.0, 7), sweeps=(500, 2000)),
        # even sizes only: an odd L cannot host the period-2 (H-, P-point) fluctuations that
        # an antiferromagnetic J2 favours, and orders far above the even sizes (L = 3 at
        # ~500 K, L = 4 at ~350 K for the shipped model); L = 4 (11.5 A) is also the smallest
        # cell longer than the 2-layer receptive field (2 r_cut = 10 A)
        "mmace": dict(coarse_L=4, coarse=(0.2, 1.4, 7), sizes=(4, 6), n_fine=5, width=0.3,
                      sweeps_coarse=(60, 120), sweeps=(80, 200)),
    },
    "quick": {
        # the coarse chi peak of L = 3 with only tens of sweeps is noise-dominated (session 13:
        # a J1-only fit peaked at 1.36 Tc and the fine window missed Tc): a few hundred sweeps
        # (milliseconds here) and a +-30 % window
        "heisenberg": dict(coarse_L=3, coarse=(0.45, 1.25, 7), sizes=(3, 4), n_fine=5,
                           width=0.3, sweeps_coarse=(200, 500), sweeps=(100, 300)),
        "pajda": dict(sizes=(3, 4), temps=(800.0, 1000.0, 4), sweeps=(30, 100)),
        "mmace": dict(coarse_L=2, coarse=(0.3, 1.8, 4), sizes=(2, 3), n_fine=4, width=0.3,
                      sweeps_coarse=(5, 10), sweeps=(5, 15)),
    },
}


def _progress(model, L, k, n, row):
    log.info("  [%s L=%d] %d/%d  T = %7.1f K  |M| = %.3f  U4 = %.3f  (%.0f s)", model.kind, L,
             k + 1, n, row["temperature_K"], row.get("ms_abs", row["m_abs"]),
             row.get("u4_ms", row["u4_m"]), row["wall_s"])


def _window(model, guess, plan, out):
    """Fine-scan temperatures (K): a coarse scan over plan["coarse"] x guess at the smallest
    size locates the chi peak, the window spans plan["width"] around it."""
    lo, hi, n = plan["coarse"]
    t_star = locate_transition(model, plan["coarse_L"], np.linspace(lo * guess, hi * guess, n),
                               *plan["sweeps_coarse"], workdir=out, progress=_progress)
    return fine_window(t_star, plan["width"], plan["n_fine"])


def _run_heisenberg(fit, plan, out):
    model = heisenberg_model("fe", fit)
    temps = _window(model, float(fit.mean_field.get("T_K", 1000.0)), plan, out)
    return scan_model(model, plan["sizes"], temps, *plan["sweeps"], workdir=out,
                      progress=_progress)


def _run_pajda(plan, out):
    lo, hi, n = plan["temps"]
    return scan_model(pajda_model(), plan["sizes"], np.linspace(lo, hi, n), *plan["sweeps"],
                      workdir=out, progress=_progress)


def _quiet_logs(quick):
    """Progress lines from this module; the scan's own per-temperature line is a duplicate, and
    the statistics' short-run warnings are expected at the smoke-test size."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("mmace_fast.mc.scan").setLevel(logging.WARNING)
    if quick:
        logging.getLogger("mmace_fast.mc.stats").setLevel(logging.ERROR)
        logging.getLogger("mmace_fast.mc.tc").setLevel(logging.ERROR)


def _mmace_one_size(L, temps, sweeps, out, moment, quick=False):
    """Worker (own process): one fine mMACE scan; the frozen model is loaded here."""
    _quiet_logs(quick)
    from mmace_fast.models import load_frozen  # noqa: PLC0415

    model = mmace_model("fe", load_frozen("fe"), moment, free_length=True)
    return scan_model(model, [L], temps, *sweeps, workdir=out, progress=_progress).tables[L]


def _run_mmace(moment, guess, plan, out, workers):
    from mmace_fast.models import load_frozen  # noqa: PLC0415

    model = mmace_model("fe", load_frozen("fe"), moment, free_length=True)
    temps = _window(model, guess, plan, out)
    t0 = time.perf_counter()
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futs = {L: pool.submit(_mmace_one_size, L, temps, plan["sweeps"], out, moment)
                    for L in plan["sizes"]}
            tables = {L: f.result() for L, f in futs.items()}
    else:
        tables = {L: _mmace_one_size(L, temps, plan["sweeps"], out, moment)
                  for L in plan["sizes"]}
    try:
        tc = critical_temperature(tables, order="m")
    except ValueError as exc:
        log.warning("mMACE: no Tc estimate (%s)", exc)
        tc = None
    return TcResult(model, tables, tc, time.perf_counter() - t0, "m")


def _plot(results, path, moment):
    """|M|, chi and U4 against T; mMACE's M (muB) is divided by the DFT moment length and its
    chi by its square, so that all models show the order parameter of unit spins."""
    try:
        import matplotlib  # noqa: PLC0415
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        log.info("matplotlib not installed (pip install 'mmace_fast[plot]'): no plot")
        return None
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for res in results:
        scale = moment if res.model.kind.startswith("mmace") else 1.0
        for L, tab in sorted(res.tables.items()):
            t = tab.column("temperature_K")
            lab = f"{res.model.name}, L={L}"
            axes[0].plot(t, tab.column("m_abs") / scale, "o-", ms=3, label=lab)
            axes[1].plot(t, tab.column("chi_m") / scale ** 2, "o-", ms=3, label=lab)
            axes[2].errorbar(t, tab.column("u4_m"), tab.column("u4_m_err"), fmt="o-", ms=3,
                             label=lab)
    for ax, name in zip(axes, ["<|M|> / |m| (per site)", "chi (unit spins)", "Binder U4"]):
        ax.set_xlabel("T (K)")
        ax.set_ylabel(name)
        ax.axvline(T_EXP["fe"], color="k", ls=":", lw=1)
    axes[2].legend(fontsize=6)
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


def _exchange_comparison(fit, moment: float, quick: bool) -> dict:
    """J per shell (meV, unit spins, pair once) of the fitted baseline, of the shipped frozen
    mMACE (extracted from its energies at |m| = ``moment`` on random directions in a 30-degree
    cap around FM, the magnon regime of Pajda's constants) and of Pajda et al.; logged as the
    energy scale behind each model's Tc."""
    from mmace_fast.baseline import extract_from_frozen, reference_structure  # noqa: PLC0415
    from mmace_fast.mc.lattice import material_lattice  # noqa: PLC0415
    from mmace_fast.mc.mmace_hamiltonian import FrozenMMACEHamiltonian  # noqa: PLC0415
    from mmace_fast.models import load_frozen  # noqa: PLC0415

    lat = material_lattice("bcc_Fe", 2 if quick else 3, 2.866)
    ham = FrozenMMACEHamiltonian.from_arrays(load_frozen("fe"), lat.positions, lat.cell,
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
    exp = T_EXP["fe"]
    notes = notes or {}
    print("\nCurie temperature of bcc Fe: same Monte Carlo engine, same lattices")
    print(f"{'model':34s} {'Tc Binder (K)':>14s} {'err':>6s} {'crossings (K)':>14s} "
          f"{'Tc chi (K)':>11s} {'/exp':>6s}")
    for name, tc in rows:
        if tc is None:
            print(f"{name:34s} {'n/a':>14s}  {notes.get(name, '')}")
            continue
        ratio = tc.tc_binder / exp
        lo, hi = tc.tc_binder_range
        cross = f"{lo:.0f}" if round(lo) == round(hi) else f"{lo:.0f}-{hi:.0f}"
        print(f"{name:34s} {tc.tc_binder:14.0f} {tc.tc_binder_err:6.0f} {cross:>14s} "
              f"{tc.tc_chi:11.0f} {ratio:6.3f}")
    print(f"{'experiment':34s} {exp:14.0f}")
    print("(crossings: lowest and highest U4 crossing of the linear interpolants over all pairs "
          "of sizes; a range wider than the error bar means noisy curves that cross repeatedly)")
    print(f"(mean field: fitted Heisenberg {mfa_fit:.0f} K, Pajda 8 shells {mfa_pajda:.0f} K)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    p.add_argument("--out", default="runs/demo_fe", help="tables, checkpoints, plot")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                   help="processes for the two mMACE sizes")
    p.add_argument("--data", default=None,
                   help="data file the Heisenberg baseline is fitted to (default: the shipped "
                        "data/fe.extxyz.gz, the data the shipped mMACE was trained on)")
    args = p.parse_args(argv)
    _quiet_logs(args.quick)
    mode = "quick" if args.quick else "full"
    plan = PLANS[mode]
    out = os.path.join(args.out, mode)
    os.makedirs(out, exist_ok=True)
    t0 = time.perf_counter()

    from mmace_fast.baseline import fit_material  # noqa: PLC0415

    data = args.data or str(DEFAULT_DATA)
    log.info("1/4 fitting the Heisenberg baseline to %s", data)
    from mmace_fast.models import metadata  # noqa: PLC0415
    data_check = training_data_check(data, metadata("fe"))
    fit = fit_material("fe", data_path=data)
    moment = float(fit.moments[26])
    for row in fit.exchange:
        log.info("  J%d = %.2f meV (unit spins, pair once) +- %.2f; %.3f mRy (pair twice)",
                 row["shell"], row["J_unit_once_meV"], row["sigma_unit_once_meV"],
                 row["J_unit_twice_mRy"])
    mfa_fit = float(fit.mean_field.get("T_K", float("nan")))
    exchange = _exchange_comparison(fit, moment, args.quick)
    heis_name, notes = "Heisenberg fitted to the GPAW data", {}
    if ferromagnetic_fit(fit):
        log.info("2/4 Heisenberg scans (fitted, then Pajda)")
        # the fitted Hamiltonian changes with the data and the fitting code: its checkpoints
        # live under a folder named by its parameters, so a rerun never resumes another's
        from mmace_fast.compare.headtohead import fit_key  # noqa: PLC0415
        heis = _run_heisenberg(fit, plan["heisenberg"], os.path.join(out, f"fit_{fit_key(fit)}"))
    else:
        # an FM scan of a model that does not order ferromagnetically is no Curie point
        notes[heis_name] = not_ferromagnetic_note(fit)
        log.warning("the fitted Heisenberg model is %s: its FM scan is skipped", notes[heis_name])
        log.info("2/4 Heisenberg scans (Pajda)")
        heis = None
    pajda = _run_pajda(plan["pajda"], out)
    log.info("3/4 mMACE scans (frozen C++ evaluator, free |m|, d^3m measure)")
    guess = MMACE_GUESS_K          # the pre-scan spans 0.2-1.4 x this, fitted model or not
    workers = 1 if args.quick else max(1, args.workers)
    # likewise the mMACE checkpoints live under the frozen model's content hash
    from mmace_fast.models import frozen_path  # noqa: PLC0415
    mm = _run_mmace(moment, guess, plan["mmace"],
                    os.path.join(out, f"mmace_{_data_key(frozen_path('fe'))}"), workers)
    log.info("4/4 report")
    mfa_pajda = mean_field_tc(pajda_fe_exchange_ev(), COUNTS_BCC)
    _table([(heis_name, heis.tc if heis is not None else None),
            ("mMACE (free |m|, d^3m)", mm.tc), ("Heisenberg, Pajda et al. 2001", pajda.tc)],
           mfa_fit, mfa_pajda, notes)
    plot = _plot([r for r in (heis, mm, pajda) if r is not None],
                 os.path.join(out, "fe_tc.png"), moment)
    wall = time.perf_counter() - t0
    print(f"(tables and checkpoints in {out}{'; plot ' + plot if plot else ''}; {wall:.0f} s)")

    def val(res, key):
        if res is None or res.tc is None:
            return None
        v = getattr(res.tc, key)
        return float(v) if np.isfinite(v) else None

    def span(res):
        if res is None or res.tc is None or not np.all(np.isfinite(res.tc.tc_binder_range)):
            return None
        return [float(t) for t in res.tc.tc_binder_range]

    print(json.dumps({"fe_tc_heis_K": val(heis, "tc_binder"),
                      "fe_tc_heis_err_K": val(heis, "tc_binder_err"),
                      "fe_heis_ferromagnetic": ferromagnetic_fit(fit),
                      "fe_heis_mean_field": fit.mean_field,
                      "fe_exchange_unit_once_meV": exchange,
                      "fe_tc_mmace_K": val(mm, "tc_binder"),
                      "fe_tc_mmace_err_K": val(mm, "tc_binder_err"),
                      "fe_tc_mmace_range_K": span(mm), "fe_tc_heis_range_K": span(heis),
                      "fe_tc_mmace_chi_peak_K": val(mm, "tc_chi"),
                      "fe_tc_pajda_K": val(pajda, "tc_binder"), "fe_tc_exp_K": T_EXP["fe"],
                      "fe_tc_mfa_fit_K": mfa_fit,
                      "fe_data_is_model_training_data": data_check["same"],
                      "fe_data_frames": data_check["data_frames"],
                      "fe_model_training_frames": data_check["model_frames"], "wall_s": wall, "quick": args.quick}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
