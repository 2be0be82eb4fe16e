"""Train one small mMACE per material on the shipped GPAW data; held-out errors, moments, orderings.

The pipeline itself is the release of the shipped models (mmace_fast.training.release, the
recipes in mmace_fast.models.recipes, the checks in mmace_fast.training.release_checks;
``mmace models train``); this script drives it to compare training choices (--model-set,
--train-set, --data-dir) and prints the figures as one JSON line.

    nice -n 10 python benchmarks/bench_dft_models.py [--quick] [--materials fe feal crn]
                                                     [--out runs/dft_models] [--ship]

For each material (bcc Fe, B2 FeAl, rocksalt CrN; data/<material>.extxyz.gz, see DATA.md):

1. snapshot: the data file is read once into memory (the DFT pipeline rewrites it from time to
   time), its SHA-256 and frame counts recorded, and the bytes written to the run directory;
   training reads only that snapshot, so a run is reproducible from (snapshot, seed);
   For Fe the DFT spin spirals (data/fe_spirals.extxyz.gz, 1-atom Bloch calculations) enter as
   their real-space commensurate supercells (mmace_fast.data.spirals.spiral_training_frames:
   E = n E_1, F = 0, -dE/dm = 0), split by mmace_fast.data.spirals.spiral_split (q = 0.4 H,
   0.4 N and 0.4 P held out, every other q a training frame) and reported as spiral errors;
2. training: a small mMACE (``MODEL`` below: non-SOC, except the SOC variant for FePt, see
   ``MODEL_OVERRIDES``; per-material moment scales) with the
   project's trainer on the file's fixed ``train`` split, ``valid`` split for the plateau
   scheduler / early stopping / best model (EMA weights), seed 0, one thread;
3. held-out errors of the best model on the ``test`` split (also on train / valid): MAE of
   energy (meV/atom), forces (meV/A), stress (meV/A^3) and magnetic forces (meV/muB; the
   collinear frames label -dE/dm = 0, the SCF stationarity, see DATA.md);
4. moments: the ``ideal*`` cells (unstrained magnetic states at the reference lattice) are
   relaxed in their moments with the trained model (collinear, signed lengths along z,
   mmace_fast.model.relax) starting from the DFT *starting* moments (``initial_magmoms``),
   and the relaxed moments on the magnetic species compared with the DFT converged moments;
5. ordering: the energies per atom of the ideal cells (at the DFT moments, and after the
   moment relaxation) against DFT: every pair of states further apart in DFT than
   ``--tie-mev`` (default 1 meV/atom; closer pairs are k-sampling-level ties, DATA.md) must
   have the same sign of the energy difference.

Caveat printed with the results: with the data still small, the ideal cells are mostly in the
training split, so the orderings test the fit, not a prediction.

``--ship`` copies the best model of every material into mmace_fast/models/<material>/
(model.pt state_dict + model.json config, with the data provenance in its metadata), the
embedded defaults loaded by ``mmace_fast.models.load_default``.
Every full or quick run writes ``<out>/<full|quick>/<material>/results.json`` (the command and
the evaluation). ``--ship-run`` ships the model of such an earlier full run without training
again (training is deterministic, so it is the model ``--ship`` would have made); it refuses a
run whose data snapshot no longer has the SHA-256 its results were computed on.
``--compare-shipped`` evaluates the model shipped now on the same snapshot and split (keys
``<m>_shipped_*``), so a retraining is judged against the model it would replace.
``--evaluate-shipped`` trains nothing: it evaluates the shipped models on the current data
files (same keys; ``<m>_model_data_frames`` / ``<m>_model_data_current`` say what each model
was trained on), the error table of the embedded defaults.
``--quick``: a tiny model and a few epochs (the pipeline end to end in well under a minute).
The last stdout line is one JSON object: per material <m>_e_mae_mev_atom, <m>_f_mae_mev_a,
<m>_s_mae_mev_a3, <m>_magf_mae_mev_mub (test split), <m>_n_test,
<m>_frame_e_err_mev_atom (every frame: split and model - DFT energy, meV/atom) and
<m>_e_max_err_heldout_mev_atom (the largest |error| over valid and test), <m>_moment_dft_mub,
<m>_moment_relaxed_mub (reference state), <m>_moment_max_err_mub (over all magnetic ideal
states), <m>_relax_gain_max_mev_atom (largest energy the moment relaxation gains over an ideal
state: a few meV/atom is a fit error, tens a hole in the moment landscape),
<m>_moment_other_max_mub (largest relaxed moment on a non-magnetic species),
<m>_induced_relax_max_mub and <m>_induced_relax_max_mev_atom (the ideal cells relaxed from
their DFT moments with +-0.1 / +-0.3 muB on the non-magnetic sites in three sign patterns: the
largest |m_relaxed - m_DFT| left there and the largest energy above the DFT-moment state),
<m>_ordering_ok,
<m>_ordering_relaxed_ok, <m>_states (per state: DFT and model
energies, meV/atom relative to the lowest, and moments), <m>_data_sha256, <m>_frames,
<m>_train_s, <m>_spiral_e_mae_{train,test}_mev_atom and <m>_spirals (per spiral: path, q,
split, DFT and model E(q) - E(0) in meV/atom at the DFT moment), for Fe fe_dispersion (the
model's E(q) - E(0) along Gamma-P and at H, N, P beside Pajda's constants, meV/atom) and
fe_e_p_mev (the model at P), for the spin-orbit material
(L1_0 FePt, SOC model) <m>_anisotropy (per direction of the ideal cell: polar angle, DFT and
model E - E([001]) in meV per formula unit, and the torques dE/dtheta on the Fe moments, DFT
and model, and on the other moments, model), <m>_anisotropy_{k1,k2}_{dft,model}_mev_fu
(E = K1 sin^2 + K2 sin^4) and <m>_anisotropy_torque_other_max_mev_rad (the largest model torque
on the Pt moments, whose DFT torque is 0: the model must tell a tilt of Fe from a tilt of Pt),
plus the settings. Materials without a data file are skipped
(logged) unless named with --materials, which then fails.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

from mmace_fast.data.spirals import SPIRAL_TEST_X  # noqa: E402
from mmace_fast.models.recipes import (MODEL, MODEL_OVERRIDES, QUICK_MODEL,  # noqa: E402
                                       QUICK_TRAIN, TRAIN, TRAIN_OVERRIDES)
from mmace_fast.training import release  # noqa: E402
from mmace_fast.training.release import MATERIALS  # noqa: E402
# the pipeline's functions, by their old names here (benchmarks that import them from this
# script: bench_finetune, bench_uncertainty, bench_arch_table)
from mmace_fast.models.recipes import (MOMENT_SCALE, model_settings,  # noqa: E402,F401
                                       train_settings)
from mmace_fast.training.release import (RESULTS_NAME, ShipRunError,  # noqa: E402,F401
                                         data_file, n_frames, ship_run, snapshot)
from mmace_fast.training.release_checks import (BULKY, evaluate_material,  # noqa: E402,F401
                                                relax_start)

log = logging.getLogger("bench_dft_models")
ROOT = Path(__file__).resolve().parent.parent


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny model, few epochs (< 1 min)")
    p.add_argument("--materials", nargs="+", default=None, choices=MATERIALS,
                   help="default: every material with a data file")
    p.add_argument("--out", default=str(ROOT / "runs" / "dft_models"), help="run directory")
    p.add_argument("--data-dir", default=None,
                   help="read <material>.extxyz.gz (and _spirals) from here instead of data/")
    p.add_argument("--tie-mev", type=float, default=1.0,
                   help="DFT energy differences below this (meV/atom) are not ordered")
    p.add_argument("--max-epochs", type=int, default=None, help="override TRAIN's max_epochs")
    p.add_argument("--patience", type=int, default=None, help="override TRAIN's patience")
    p.add_argument("--train-set", action="append", metavar="KEY=VALUE",
                   help="override any training setting (JSON value), repeatable")
    p.add_argument("--model-set", action="append", metavar="KEY=VALUE",
                   help="override an architecture setting of MODEL (JSON value, e.g. "
                        "n_layers=1), repeatable; not with --ship")
    p.add_argument("--ship", action="store_true",
                   help="copy the trained models to mmace_fast/models/ (not with --quick)")
    p.add_argument("--ship-run", action="store_true",
                   help="ship the models of an earlier full run in --out (no training)")
    p.add_argument("--grade", default="accurate", choices=("accurate", "mc"),
                   help="--ship / --ship-run into models/<material> (accurate) or "
                        "models/<material>_mc (the Monte Carlo grade model)")
    p.add_argument("--compare-shipped", action="store_true",
                   help="also evaluate the currently shipped model of each material on the "
                        "same snapshot and split (keys <m>_shipped_*): the old-vs-new "
                        "comparison before --ship replaces it")
    p.add_argument("--evaluate-shipped", action="store_true",
                   help="no training: evaluate the shipped model of each material on the "
                        "current data and split (the error table of the embedded defaults; "
                        "<m>_model_data_frames says what each was trained on)")
    args = p.parse_args(argv)
    if args.evaluate_shipped and (args.quick or args.ship or args.ship_run
                                  or args.compare_shipped or args.train_set or args.model_set
                                  or args.max_epochs is not None or args.patience is not None):
        p.error("--evaluate-shipped trains nothing: it takes only --materials, --out, "
                "--data-dir and --tie-mev")
    if args.data_dir is not None:
        release.DATA_DIR = Path(args.data_dir).resolve()
    if (args.ship or args.ship_run) and args.quick:
        p.error("--ship and --ship-run need a full run (no --quick)")
    arch = release.model_changes(args)
    if arch and (args.ship or args.ship_run):
        p.error("--model-set trains a variant for comparison; --ship replaces the shipped model "
                "with MODEL's architecture only")
    if args.ship_run:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
        torch.set_default_dtype(torch.float64)
        runs = [(m, Path(args.out) / "full" / m) for m in args.materials or MATERIALS]
        runs = [(m, d) for m, d in runs
                if args.materials or (d / release.RESULTS_NAME).exists()]
        if not runs:
            p.error(f"no finished full run under {Path(args.out) / 'full'}")
        for material, run_dir in runs:
            try:
                release.ship_run(material, run_dir, args.grade)
            except release.ShipRunError as exc:
                p.error(str(exc))
        return
    missing = [m for m in (args.materials or []) if not release.data_file(m).exists()]
    if missing:
        p.error(f"no data file for {missing} ({[str(release.data_file(m)) for m in missing]}); "
                "collect the DFT frames first (DATA.md)")
    release.run_settings()
    command = " ".join(["python benchmarks/bench_dft_models.py",
                        *(argv if argv is not None else sys.argv[1:])])   # as run: provenance
    materials = args.materials or [
        m for m in MATERIALS if release.data_file(m).exists()
        and release.n_frames(release.data_file(m)) >= release.MIN_FRAMES]
    skipped = [m for m in MATERIALS if m not in materials]
    if skipped and args.materials is None:
        log.info("no data file or fewer than %d frames yet (a campaign just started), "
                 "skipped: %s", release.MIN_FRAMES, skipped)
    if args.evaluate_shipped:
        print(json.dumps(release.evaluate_shipped_all(materials, Path(args.out), args)))
        return
    result = {}
    t_all = time.perf_counter()
    for material in materials:
        run_dir = Path(args.out) / ("quick" if args.quick else "full") / material
        snap = release.snapshot(material, run_dir)
        model, mcfg, seconds = release.train_material(material, snap, run_dir, args.quick,
                                                      model_changes=arch,
                                                      **release.train_changes(args))
        res = release.evaluate_material(material, model, mcfg, snap, 1e-3 * args.tie_mev)
        res.update(data_sha256=snap["sha256"], frames=sum(snap["counts"].values()),
                   split_counts=snap["counts"], train_s=round(seconds, 1))
        log.info("%s: %s", material, json.dumps({k: v for k, v in res.items()
                                                  if k not in BULKY}))
        for name, row in res["states"].items():
            log.info("  %-22s %s", name, row)
        for row in res.get("spirals", []):
            log.info("  spiral %s", row)
        if args.compare_shipped:
            res.update(release.shipped_comparison(material, snap, 1e-3 * args.tie_mev))
        release.write_run_results(run_dir, material, command, res)
        if args.ship:
            release.ship(material, run_dir, snap, res, command, args.grade)
        result.update({f"{material}_{k}": v for k, v in res.items()})
    result.update(quick=args.quick, tie_mev=args.tie_mev, threads=1, dtype="float64",
                  model=dict(QUICK_MODEL if args.quick else MODEL, **arch),
                  model_overrides={m: MODEL_OVERRIDES[m] for m in materials
                                   if m in MODEL_OVERRIDES},
                  train={k: v for k, v in (QUICK_TRAIN if args.quick else TRAIN).items()},
                  train_overrides={m: TRAIN_OVERRIDES[m] for m in materials
                                   if m in TRAIN_OVERRIDES},
                  spiral_test_x=list(SPIRAL_TEST_X),
                  wall_s=round(time.perf_counter() - t_all, 1),
                  caveat="ideal cells are mostly in the training split: orderings test the fit")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
