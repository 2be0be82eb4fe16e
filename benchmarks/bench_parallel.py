"""Parallel tempering over MPI ranks: replica steps per second on 1 and 2 ranks.

    python benchmarks/bench_parallel.py [--quick]

Launches itself under ``mpiexec -n 1`` and ``-n 2`` (mmace_fast.mc.mpi, one thread per rank):
4 replicas of Pajda's bcc Fe (L = 8, 1 024 moments; --quick L = 6) and of the Monte Carlo grade
Fe mMACE (free moment lengths, L = 6, 432 atoms; --quick L = 4), one exchange attempt per
sweep. Figures: pt_replica_steps_per_s_{1rank,2ranks} (replica sweeps per second, the
classical model), the same for mMACE, the speedups, and exchange_overhead_fraction (2 ranks:
the share of rank 0's wall time outside its own replicas' sweeps, i.e. the allgather and the
wait for the slower rank). Data-parallel training (issue 32 item 2) is not built yet: its
figures are null. The last stdout line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _system(kind: str, quick: bool):
    from mmace_fast.mc.lattice import material_lattice
    from mmace_fast.mc.presets import pajda_bcc_fe
    if kind == "classical":
        L = 6 if quick else 8
        _, lat = pajda_bcc_fe(L)
        return ((lambda r: pajda_bcc_fe(L)[0]), np.tile([0, 0, 1.0], (lat.n_sites, 1)),
                np.geomspace(850.0, 1000.0, 4), dict(move="gaussian", overrelax_per_sweep=1),
                40 if quick else 200)
    from mmace_fast.export import FrozenModel
    from mmace_fast.mc.mmace_hamiltonian import FrozenMMACEHamiltonian
    from mmace_fast.models import frozen_path
    L = 4 if quick else 6
    lat = material_lattice("bcc_Fe", L, 2.866)
    model = FrozenModel.load(frozen_path("fe", "mc"))
    return ((lambda r: FrozenMMACEHamiltonian(model, lat.positions, lat.cell, lat.pbc,
                                              lat.numbers)),
            np.tile([0, 0, 2.19], (lat.n_sites, 1)), np.geomspace(750.0, 900.0, 4),
            dict(move="gaussian", p_longitudinal=0.3, sigma_long=0.3), 10 if quick else 40)


def worker(kind: str, quick: bool) -> None:
    """Under mpiexec: time the production sweeps; rank 0 prints one JSON line."""
    from mmace_fast.mc.mpi import MPIParallelTempering
    build, start, temps, settings, steps = _system(kind, quick)
    pt = MPIParallelTempering(build, start, temps, seed=1, **settings)
    pt.equilibrate(2)
    busy = [0.0]
    run_replicas = pt._run_replicas

    def timed(*a, **kw):
        t = time.perf_counter()
        out = run_replicas(*a, **kw)
        busy[0] += time.perf_counter() - t
        return out

    pt._run_replicas = timed
    pt.comm.Barrier()
    t0 = time.perf_counter()
    pt.sample(steps, 1)
    wall = time.perf_counter() - t0
    if pt.rank == 0:
        print(json.dumps({"replica_steps_per_s": pt.n_replicas * steps / wall, "wall_s": wall,
                          "busy_fraction": busy[0] / wall, "ranks": pt.size}))


def _launch(ranks: int, kind: str, quick: bool) -> dict:
    mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or \
        shutil.which("mpiexec")
    if mpiexec is None:
        raise SystemExit("mpiexec not found: pip install \"mmace_fast[mpi]\"")
    cmd = [mpiexec, "-n", str(ranks), sys.executable, __file__, "--worker", kind] + \
        (["--quick"] if quick else [])
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=900)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smaller lattices, fewer sweeps")
    p.add_argument("--worker", default=None, choices=("classical", "mmace"),
                   help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.quick)
    res = {"quick": args.quick}
    for kind, tag in (("classical", ""), ("mmace", "_mmace")):
        one, two = _launch(1, kind, args.quick), _launch(2, kind, args.quick)
        res[f"pt_replica_steps_per_s{tag}_1rank"] = one["replica_steps_per_s"]
        res[f"pt_replica_steps_per_s{tag}_2ranks"] = two["replica_steps_per_s"]
        res[f"pt_speedup{tag}_2ranks"] = two["replica_steps_per_s"] / one["replica_steps_per_s"]
        res[f"exchange_overhead_fraction{tag}"] = 1.0 - two["busy_fraction"]
    res["exchange_overhead_fraction"] = res.pop("exchange_overhead_fraction")
    res["ddp_train_configs_per_s_1proc"] = None
    res["ddp_train_configs_per_s_2proc"] = None
    res["ddp_note"] = "data-parallel training is not built yet (issue 32 item 2)"
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
