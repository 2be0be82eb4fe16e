"""Cost against accuracy of mMACE architectures on the shipped Fe data (issue 29, item 1).

    python benchmarks/bench_arch_table.py --train      # train every missing variant (hours)
    python benchmarks/bench_arch_table.py              # the table from the finished runs
    python benchmarks/bench_arch_table.py --quick      # tiny models, few epochs (< 1 min)

Each variant is the shipped Fe recipe (``bench_dft_models.py``: MODEL, TRAIN and Fe's
TRAIN_OVERRIDES, the fixed split of ``data/fe.extxyz.gz`` and its spirals) with the
architecture changes of VARIANTS, trained by ``bench_dft_models.py --materials fe --model-set
...`` in a subprocess into ``runs/arch/<name>`` (``--out``). Training is resumable per variant:
a variant with a ``results.json`` is done, and ``--train`` skips it. The queue writes its PID to
``<out>/queue.pid`` and refuses to start while that process lives.

The table: held-out (test) E / F / magF errors, the held-out spirals, the disorder energy
(random-direction cell, model against DFT where a frame exists; else the model's value), the
relaxed FM moment, and the trial moves/s of the frozen model in the Monte Carlo engine on bcc
Fe L = 10 (2 000 atoms, Gaussian + 30 % longitudinal moves at 1 000 K, one thread). The last
stdout line is one JSON object; the full run also writes
``benchmarks/results/bench_arch_table.json``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

log = logging.getLogger("bench_arch_table")
ROOT = Path(__file__).resolve().parent.parent

#: name -> --model-set changes to MODEL (bench_dft_models.py); the shipped Fe model is
#: "L2_C16_c3_r5" (2 layers, 16 channels, correlation 3, r_cut 5 A)
VARIANTS = {
    "L1_C16_c3_r5": dict(n_layers=1),
    "L1_C16_c3_r6": dict(n_layers=1, r_cut=6.0),
    "L1_C8_c3_r5": dict(n_layers=1, n_channels=8),
    "L1_C32_c3_r5": dict(n_layers=1, n_channels=32),
    "L1_C16_c2_r5": dict(n_layers=1, correlation=2),
    "L2_C8_c3_r5": dict(n_channels=8),
    "L2_C16_c2_r5": dict(correlation=2),
    "L2_C32_c3_r5": dict(n_channels=32),
}
SHIPPED = "L2_C16_c3_r5"
RESULTS_NAME = "results.json"


def result_path(out: Path, name: str, quick: bool) -> Path:
    return out / name / ("quick" if quick else "full") / "fe" / RESULTS_NAME


def train_command(out: Path, name: str, quick: bool) -> list[str]:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_dft_models.py"), "--materials",
           "fe", "--out", str(out / name)]
    cmd += [f"--model-set={k}={json.dumps(v)}" for k, v in VARIANTS[name].items()]
    return cmd + (["--quick"] if quick else [])


def pid_alive(pid_file: Path) -> int | None:
    """PID recorded in ``pid_file`` if that process still runs, else None."""
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def train_missing(out: Path, names: list[str], quick: bool) -> None:
    """Train the variants without results, one after another (a PID file guards the queue)."""
    out.mkdir(parents=True, exist_ok=True)
    pid_file = out / ("queue_quick.pid" if quick else "queue.pid")
    other = pid_alive(pid_file)
    if other is not None and other != os.getpid():
        raise SystemExit(f"a training queue already runs (PID {other}, {pid_file})")
    pid_file.write_text(f"{os.getpid()}\n")
    try:
        for name in names:
            if result_path(out, name, quick).exists():
                log.info("%s: done, skipped", name)
                continue
            t0 = time.perf_counter()
            log_file = out / f"{name}{'_quick' if quick else ''}.log"
            log.info("%s: training (%s)", name, log_file)
            with open(log_file, "w") as fh:
                rc = subprocess.run(train_command(out, name, quick), stdout=fh,
                                    stderr=subprocess.STDOUT, cwd=str(ROOT)).returncode
            if rc != 0:
                raise SystemExit(f"{name}: training failed (exit {rc}), see {log_file}")
            log.info("%s: trained in %.0f s", name, time.perf_counter() - t0)
    finally:
        if pid_alive(pid_file) == os.getpid():
            pid_file.unlink()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny models, few epochs (< 1 min)")
    p.add_argument("--train", action="store_true", help="train the variants without results")
    p.add_argument("--variants", nargs="+", default=None, choices=sorted(VARIANTS))
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "arch")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    names = args.variants or list(VARIANTS)
    if args.quick:
        names = names[:1]
    if args.train or args.quick:
        train_missing(args.out, names, args.quick)


if __name__ == "__main__":
    main()
