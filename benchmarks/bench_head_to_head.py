"""Head-to-head of mMACE and the Heisenberg baselines on the project's DFT data (issue 6).

    nice -n 10 python benchmarks/bench_head_to_head.py [--quick] [--stages accuracy spirals
        thermo_fe thermo_crn thermo_feal] [--workdir runs/head_to_head] [--nm-budget 90]
        [--threads 1]

Stages (code: mmace_fast/compare/headtohead.py), each cached as <workdir>/<stage>.json together
with the SHA-256 of the data files it read, so a rerun only recomputes stages whose data
changed (the Monte Carlo scans are checkpointed under the workdir as well: a killed run
resumes). Several processes may run different ``--stages`` at the same time; a final run
without ``--stages`` assembles everything.

1. accuracy (fe, feal, crn): MAE / RMSE of the shipped mMACE, the spin-lattice and
   fixed-lattice baselines (fitted on train + valid) and a non-magnetic MMACE (zero moments,
   trained for at most ``--nm-budget`` s) on the test split and on valid + test; ordering of the
   ideal-cell magnetic states;
2. spirals: Fe E(q) along Gamma-H and Gamma-N (mMACE on commensurate supercells, baselines, DFT
   spirals when shipped);
3. thermo_<m>: ordering temperatures (fitted Heisenberg, mMACE fixed |m|; for Fe also free |m|
   and Pajda) by the one Tc protocol of the demo (mmace_fast.mc.protocol; see
   headtohead.thermo_stage). ``--threads`` replicas run concurrently.

The full run writes benchmarks/results/head_to_head.json and PNG plots in benchmarks/results/;
``--quick`` (Fe only, tiny scans and models) writes into the workdir only. The last stdout line is
one JSON object: fe_e_mae_ratio, fe_f_mae_ratio, fe_magf_mae_ratio, crn_f_mae_ratio,
feal_f_mae_ratio (spin-lattice baseline MAE / mMACE MAE on valid + test), fe_tc_mmace_k,
fe_tc_heis_k, crn_tn_mmace_k, crn_tn_heis_k (K, with ``*_err``, ``*_method`` and ``*_reliable``:
false when the error is a lower bound), null with a ``*_reason`` where a figure cannot be
computed, plus further figures.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import logging
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mmace_fast.compare import headtohead as hh  # noqa: E402
from mmace_fast.compare import report  # noqa: E402

log = logging.getLogger("bench_head_to_head")
ALL_STAGES = ("accuracy", "spirals", "thermo_fe", "thermo_crn", "thermo_feal")


def data_sha(materials) -> dict:
    """Content hashes of what a stage reads: the DFT files and the shipped frozen models (a
    retrained model invalidates the cache like new data does)."""
    from mmace_fast.models import UnknownModelError, frozen_path
    out = {}
    for m in materials:
        for name in (f"{m}.extxyz.gz", f"{m}_spirals.extxyz.gz"):
            p = hh.data_dir() / name
            if p.exists():          # content hash: a rewrite with a new gzip header is no change
                out[name] = hashlib.sha256(gzip.decompress(p.read_bytes())).hexdigest()
        for grade in ("accurate", "mc"):          # the thermo stage may use either
            try:
                out[f"model:{m}" + ("" if grade == "accurate" else f":{grade}")] = \
                    hashlib.sha256(frozen_path(m, grade).read_bytes()).hexdigest()
            except UnknownModelError:
                pass
    return out


def stage_materials(stage: str, quick: bool) -> tuple:
    if stage.startswith("thermo_"):
        return (stage.split("_", 1)[1],)
    if stage == "spirals":
        return ("fe",)
    return ("fe",) if quick else hh.MATERIALS


def run_stage(stage: str, workdir: Path, quick: bool, nm_budget: float, threads: int = 1
              ) -> dict:
    mats = stage_materials(stage, quick)
    cache = workdir / f"{stage}.json"
    sha = data_sha(mats)
    if stage.startswith("thermo_"):       # a cached stage of another procedure is recomputed
        sha["thermo_version"] = hh.THERMO_VERSION
    if cache.exists():
        d = json.loads(cache.read_text())
        if d.get("data_sha256") == sha:
            log.info("%s: cached (%s)", stage, cache)
            return d["result"]
        log.info("%s: data or models changed since the cache, recomputing", stage)
    t0 = time.perf_counter()
    if stage == "accuracy":
        from mmace_fast.training.nonmagnetic import train_nonmagnetic
        res = {m: hh.accuracy_stage(m, workdir, quick=quick, nm_budget_s=nm_budget,
                                    train_nonmagnetic=train_nonmagnetic)
               for m in mats}
    elif stage == "spirals":
        res = hh.spiral_stage(quick=quick)
    else:
        names = ("heis", "mmace_fixed", "pajda") if quick and mats[0] == "fe" else None
        res = hh.thermo_stage(mats[0], workdir, quick=quick, names=names, threads=threads)
    log.info("%s done in %.0f s", stage, time.perf_counter() - t0)
    workdir.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps({"data_sha256": sha, "result": res}))
    os.replace(tmp, cache)
    return res


def assemble(results: dict) -> dict:
    out = {"accuracy": results.get("accuracy", {}), "spirals": results.get("spirals")}
    out["thermo"] = {k.split("_", 1)[1]: v for k, v in results.items() if k.startswith("thermo_")}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--stages", nargs="+", choices=ALL_STAGES, default=None)
    p.add_argument("--workdir", default=None)
    p.add_argument("--data-dir", default=None,
                   help="read the DFT files from here (a snapshot of data/ taken before the "
                        "run, while the pipeline keeps rewriting data/); sets MMACE_DATA_DIR")
    p.add_argument("--nm-budget", type=float, default=90.0,
                   help="wall-clock budget (s) of each non-magnetic model's training")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--threads", type=int, default=1,
                   help="parallel-tempering replicas run concurrently in the thermo stages")
    args = p.parse_args(argv)
    if args.threads < 1:
        p.error("--threads must be >= 1")
    if args.data_dir:
        if not (Path(args.data_dir) / "fe.extxyz.gz").exists():
            p.error(f"--data-dir {args.data_dir}: no fe.extxyz.gz there")
        os.environ["MMACE_DATA_DIR"] = str(Path(args.data_dir).resolve())
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("mmace_fast.mc", "mmace_fast.training", "mmace_fast.baseline"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    workdir = Path(args.workdir or ROOT / "runs" / ("head_to_head_quick" if args.quick
                                                     else "head_to_head"))
    stages = args.stages or (("accuracy", "spirals", "thermo_fe") if args.quick else ALL_STAGES)
    t0 = time.perf_counter()
    results = {s: run_stage(s, workdir, args.quick, 5.0 if args.quick else args.nm_budget,
                            args.threads)
               for s in stages}
    full = assemble(results)
    summ = report.summary(full)
    summ.update({"quick": args.quick, "stages": list(stages),
                 "data_dir": os.path.relpath(hh.data_dir(), ROOT),
                 "wall_s": round(time.perf_counter() - t0, 1)})
    full["summary"] = summ
    out_dir = workdir if args.quick or args.stages else ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    if not args.quick and not args.stages:
        (out_dir / "head_to_head.json").write_text(json.dumps(full, indent=1))
        (workdir / "head_to_head.md").write_text(report.markdown(full))
    if not args.no_plots:
        summ["plots"] = [os.path.relpath(x, ROOT) for x in report.plots(full, out_dir)]
    print(report.markdown(full))
    print(json.dumps(summ))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
