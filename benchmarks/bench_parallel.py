"""Parallel tempering over MPI ranks and data-parallel training: throughput on 1 and 2 ranks.

    python benchmarks/bench_parallel.py [--quick]

Launches itself under ``mpiexec -n 1`` and ``-n 2`` (mmace_fast.mc.mpi, one thread per rank):
4 replicas of Pajda's bcc Fe (L = 8, 1 024 moments; --quick L = 6) and of the Monte Carlo grade
Fe mMACE (free moment lengths, L = 6, 432 atoms; --quick L = 4), one exchange attempt per
sweep. Figures: pt_replica_steps_per_s_{1rank,2ranks} (replica sweeps per second, the
classical model), the same for mMACE, the speedups, and exchange_overhead_fraction (2 ranks:
the share of rank 0's wall time outside its own replicas' sweeps, i.e. the allgather and the
wait for the slower rank).

Data-parallel training: ``torchrun --standalone --nproc_per_node {1,2}`` of this file's
training worker (mmace_fast.training.distributed, gloo, one thread per process) on the shipped
Fe frames with the shipped Fe recipe (model, loss weights, moment-stability prior) and a
global batch of ``--ddp-batch`` frames (default 16: 8 per rank on 2 ranks); figures
ddp_train_configs_per_s_{1proc,2proc} (training frames per second over the timed epochs,
setup and data statistics excluded) and ddp_speedup_2proc.
--quick: 24 frames, an 8-channel one-layer model, three epochs. The last stdout line is one JSON
object.
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
    p.add_argument("--train-worker", default=None, metavar="DIR", help=argparse.SUPPRESS)
    p.add_argument("--ddp-batch", type=int, default=16,
                   help="global batch of the training figures (frames, split over the ranks)")
    p.add_argument("--train-only", action="store_true",
                   help="only the data-parallel training figures")
    args = p.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.quick)
    if args.train_worker:
        return train_worker(args.quick, args.train_worker, args.ddp_batch)
    res = {"quick": args.quick}
    for kind, tag in (() if args.train_only else (("classical", ""), ("mmace", "_mmace"))):
        one, two = _launch(1, kind, args.quick), _launch(2, kind, args.quick)
        res[f"pt_replica_steps_per_s{tag}_1rank"] = one["replica_steps_per_s"]
        res[f"pt_replica_steps_per_s{tag}_2ranks"] = two["replica_steps_per_s"]
        res[f"pt_speedup{tag}_2ranks"] = two["replica_steps_per_s"] / one["replica_steps_per_s"]
        res[f"exchange_overhead_fraction{tag}"] = 1.0 - two["busy_fraction"]
    if not args.train_only:
        res["exchange_overhead_fraction"] = res.pop("exchange_overhead_fraction")
    one, two = (_launch_train(n, args.quick, args.ddp_batch) for n in (1, 2))
    res["ddp_train_configs_per_s_1proc"] = one["configs_per_s"]
    res["ddp_train_configs_per_s_2proc"] = two["configs_per_s"]
    res["ddp_speedup_2proc"] = two["configs_per_s"] / one["configs_per_s"]
    res["ddp_train_frames"] = one["frames"]
    res["ddp_global_batch"] = args.ddp_batch
    res["ddp_final_loss_rel_diff"] = abs(two["loss"] - one["loss"]) / abs(one["loss"])
    print(json.dumps(res))
    return 0


def train_worker(quick: bool, out_dir: str, batch: int) -> None:
    """Under torchrun: time training epochs of the shipped Fe recipe; rank 0 prints JSON."""
    from mmace_fast.compare.headtohead import material_file
    from mmace_fast.models import model_dir
    from mmace_fast.training.config import TrainConfig
    from mmace_fast.training.trainer import Trainer
    recipe = json.loads((model_dir("fe") / "model.json").read_text())["metadata"]["train_config"]
    recipe = {k: v for k, v in recipe.items() if k in TrainConfig.__dataclass_fields__}
    data = Path(out_dir) / "frames.extxyz"
    if quick:
        recipe["model"] = dict(recipe["model"], n_channels=8, n_layers=1, correlation=2)
    cfg = TrainConfig(**dict(recipe, train_file=str(data), valid_file=None, test_file=None,
                             valid_fraction=0.0, out_dir=str(Path(out_dir) / "run"),
                             resume=False, progress=False, batch_size=batch, max_epochs=1,
                             init_from=None))
    tr = Trainer(cfg).setup()
    epochs = 3 if quick else 2
    tr.ctx.barrier()
    t0 = time.perf_counter()
    for _ in range(epochs):
        train = tr.train_epoch()
    tr.ctx.barrier()
    wall = time.perf_counter() - t0
    if tr.ctx.is_main:
        print(json.dumps({"configs_per_s": epochs * len(tr.train_set) / wall, "wall_s": wall,
                          "frames": len(tr.train_set), "loss": train["loss"],
                          "ranks": tr.ctx.world_size, "source": str(material_file("fe"))}))


def _launch_train(nproc: int, quick: bool, batch: int) -> dict:
    import tempfile

    import ase.io
    from mmace_fast.compare.headtohead import material_file
    with tempfile.TemporaryDirectory() as tmp:
        frames = ase.io.read(str(material_file("fe")), index=":24" if quick else ":")
        ase.io.write(str(Path(tmp) / "frames.extxyz"), frames, format="extxyz")
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={nproc}", __file__, "--train-worker", tmp,
               "--ddp-batch", str(batch)] + \
            (["--quick"] if quick else [])
        env = {k: v for k, v in os.environ.items()
               if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
        env["OMP_NUM_THREADS"] = "1"
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env,
                             timeout=3600)
        if out.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    raise SystemExit(main())
