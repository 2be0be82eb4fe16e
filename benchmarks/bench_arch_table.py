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

from mmace_fast.materials import get as get_material  # noqa: E402
from mmace_fast.pidfile import pid_lock  # noqa: E402

log = logging.getLogger("bench_arch_table")
ROOT = Path(__file__).resolve().parent.parent

#: name -> --model-set changes to MODEL (bench_dft_models.py); the shipped Fe model is
#: "L2_C16_c3_r5" (2 layers, 16 channels, correlation 3, r_cut 5 A)
VARIANTS = {
    "L1_C16_c3_r5": dict(n_layers=1),
    "L1_C16_c3_r6": dict(n_layers=1, r_cut=6.0),
    "L1_C8_c3_r5": dict(n_layers=1, n_channels=8),
    "L1_C8_c2_r5": dict(n_layers=1, n_channels=8, correlation=2),
    "L1_C8_c2_r6": dict(n_layers=1, n_channels=8, correlation=2, r_cut=6.0),
    "L1_C8_c2_r5_l1": dict(n_layers=1, n_channels=8, correlation=2, l_max_sh=1,
                           l_max_message=1),
    "L2_C16_c3_r5": dict(),                      # the shipped architecture, same data
    "L1_C16_c2_r5": dict(n_layers=1, correlation=2),
    "L1_C32_c3_r5": dict(n_layers=1, n_channels=32),
    "L2_C8_c3_r5": dict(n_channels=8),
    "L2_C16_c2_r5": dict(correlation=2),
    "L2_C32_c3_r5": dict(n_channels=32),
}
SHIPPED = "L2_C16_c3_r5"
RESULTS_NAME = "results.json"
#: accuracy columns read from each run's results.json (release_checks.evaluate_material)
ACCURACY_KEYS = {"test_e": "e_mae_mev_atom", "test_f": "f_mae_mev_a",
                 "test_magf": "magf_mae_mev_mub", "valid_e": "e_mae_valid_mev_atom",
                 "valid_f": "f_mae_valid_mev_a", "valid_magf": "magf_mae_valid_mev_mub",
                 "spirals_test_e": "spiral_e_mae_test_mev_atom", "e_p_mev": "e_p_mev",
                 "moment_relaxed": "moment_relaxed_mub", "ordering_ok": "ordering_ok",
                 "train_s": "train_s"}
A_FE = get_material("fe").a      # A, the DFT reference lattice constant of the Fe data
MOMENT = 2.2          # muB


def result_path(out: Path, name: str, quick: bool) -> Path:
    return out / name / ("quick" if quick else "full") / "fe" / RESULTS_NAME


def train_command(out: Path, name: str, quick: bool) -> list[str]:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_dft_models.py"), "--materials",
           "fe", "--out", str(out / name)]
    cmd += [f"--model-set={k}={json.dumps(v)}" for k, v in VARIANTS[name].items()]
    return cmd + (["--quick"] if quick else [])


def train_missing(out: Path, names: list[str], quick: bool) -> None:
    """Train the variants without results, one after another (a PID file guards the queue)."""
    out.mkdir(parents=True, exist_ok=True)
    pid_file = out / ("queue_quick.pid" if quick else "queue.pid")
    with pid_lock(pid_file, "a training queue"):
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


def frozen_path(out: Path, name: str, quick: bool) -> Path:
    """The variant's frozen model, exported once from its trained state_dict."""
    run = out / name / ("quick" if quick else "full") / "fe"
    path = run / "model.mmace"
    if not path.exists():
        from mmace_fast.export import export_model
        from mmace_fast.model.io import load_model
        model, _, _ = load_model(run / "model")
        export_model(model, path)
    return path


def bcc_fe(L: int):
    from mmace_fast.mc.lattice import material_lattice
    return material_lattice("bcc_Fe", L, A_FE)


def trial_rate(frozen, L: int, sweeps: int, repeats: int, n_active: int) -> dict:
    """Trial moves/s of the engine with the frozen model on bcc Fe L^3 (Gaussian direction
    moves + 30 % longitudinal moves at 1000 K, random moments of 2.2 muB, n_active random
    sites), best of ``repeats``; and the receivers a trial touches per layer."""
    import numpy as np
    from mmace_fast.mc.engine import MonteCarlo
    from mmace_fast.mc.mmace_hamiltonian import FrozenMMACEHamiltonian
    lat = bcc_fe(L)
    rng = np.random.default_rng(0)
    m = rng.normal(size=(lat.n_sites, 3))
    m *= MOMENT / np.linalg.norm(m, axis=1, keepdims=True)
    ham = FrozenMMACEHamiltonian.from_arrays(frozen, lat.positions, lat.cell, lat.pbc,
                                             lat.numbers, moments=m)
    active = np.sort(rng.choice(lat.n_sites, size=min(n_active, lat.n_sites), replace=False))
    mc = MonteCarlo(ham, m, 1000.0, seed=2, active_sites=active, move="gaussian", sigma=0.3,
                    p_longitudinal=0.3, sigma_long=0.1)
    mc.sample(1)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        mc.sample(sweeps)
        best = min(best, (time.process_time() - t0) / (sweeps * len(active)))
    return {"moves_per_s": 1.0 / best, "touched": [int(x) for x in ham.core.last_touched()]}


def disorder_energy(frozen, L: int = 3, n_samples: int = 8) -> float:
    """Mean energy (meV/atom) of random-direction moments of 2.2 muB over the ferromagnet at
    the same length, bcc Fe L^3 at the DFT lattice constant (the paramagnetic energy scale that
    sets Tc)."""
    import numpy as np
    from mmace_fast.mc.mmace_hamiltonian import FrozenMMACEHamiltonian
    lat = bcc_fe(L)
    ham = FrozenMMACEHamiltonian.from_arrays(frozen, lat.positions, lat.cell, lat.pbc,
                                             lat.numbers)
    fm = np.tile([0.0, 0.0, MOMENT], (lat.n_sites, 1))
    ham.core.set_spins(fm)
    e_fm = ham.core.total_energy()
    rng = np.random.default_rng(7)
    es = []
    for _ in range(n_samples):
        m = rng.normal(size=(lat.n_sites, 3))
        m *= MOMENT / np.linalg.norm(m, axis=1, keepdims=True)
        ham.core.set_spins(m)
        es.append(ham.core.total_energy())
    return 1e3 * (float(np.mean(es)) - e_fm) / lat.n_sites


def table_row(out: Path, name: str, quick: bool, L: int, sweeps: int, repeats: int,
              n_active: int) -> dict:
    from mmace_fast.export import FrozenModel
    res = json.loads(result_path(out, name, quick).read_text())
    res = res.get("results", res)
    row = {"variant": name, **VARIANTS[name]}
    row.update({k: res.get(v) for k, v in ACCURACY_KEYS.items()})
    frozen = FrozenModel.load(frozen_path(out, name, quick))
    row["disorder_mev_atom"] = disorder_energy(frozen)
    rate = trial_rate(frozen, L, sweeps, repeats, n_active)
    row[f"moves_per_s_L{L}"] = rate["moves_per_s"]
    row["touched_per_layer"] = rate["touched"]
    log.info("%s: %s", name, {k: (round(v, 3) if isinstance(v, float) else v)
                              for k, v in row.items()})
    return row


def shipped_row(L: int, sweeps: int, repeats: int, n_active: int) -> dict:
    """The shipped Fe model (mmace_fast/models/fe): its speed and disorder energy measured here,
    its accuracy as recorded at shipping (its own data snapshot and split; the same-data
    comparison is the L2_C16_c3_r5 variant)."""
    from mmace_fast.export import FrozenModel
    from mmace_fast.models import frozen_path, metadata
    res = metadata("fe").get("results", {})
    row = {"variant": "shipped (L2_C16_c3_r5)"}
    row.update({k: res.get(v) for k, v in ACCURACY_KEYS.items()})
    frozen = FrozenModel.load(frozen_path("fe"))
    row["disorder_mev_atom"] = disorder_energy(frozen)
    rate = trial_rate(frozen, L, max(1, sweeps // 2), repeats, n_active)
    row[f"moves_per_s_L{L}"] = rate["moves_per_s"]
    row["touched_per_layer"] = rate["touched"]
    return row


def format_table(rows: list[dict], L: int) -> str:
    cols = ["variant", "test_e", "test_f", "test_magf", "valid_f", "spirals_test_e", "e_p_mev",
            "disorder_mev_atom", "moment_relaxed", f"moves_per_s_L{L}"]
    lines = [" | ".join(cols), " | ".join("---" for _ in cols)]
    for r in rows:
        lines.append(" | ".join(f"{r[c]:.3g}" if isinstance(r[c], float) else str(r[c])
                                for c in cols))
    return "\n".join(lines)


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
    if args.train:
        train_missing(args.out, names, args.quick)
        return
    if args.quick:
        train_missing(args.out, names, True)
    L, sweeps, repeats, n_active = (4, 1, 1, 40) if args.quick else (10, 2, 3, 300)
    t0 = time.perf_counter()
    done = [n for n in names if result_path(args.out, n, args.quick).exists()]
    missing = [n for n in names if n not in done]
    if missing:
        log.warning("not trained yet (run --train): %s", missing)
    rows = [shipped_row(L, sweeps, repeats, n_active)]
    rows += [table_row(args.out, n, args.quick, L, sweeps, repeats, n_active) for n in done]
    log.info("cost against accuracy (E meV/atom, F meV/A, magF meV/muB):\n%s",
             format_table(rows, L))
    result = {"quick": args.quick, "L": L, "rows": rows, "missing": missing,
              "wall_s": time.perf_counter() - t0}
    if not args.quick:
        path = ROOT / "benchmarks" / "results" / "bench_arch_table.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
