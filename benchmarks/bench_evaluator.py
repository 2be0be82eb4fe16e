"""Frozen mMACE in C++: full-energy speed vs PyTorch and incremental Monte Carlo trial moves/s.

    python benchmarks/bench_evaluator.py [--quick]
    python benchmarks/bench_evaluator.py --shipped-only [--baseline DIR] [--rounds N]

Reference model (random weights; speed does not depend on them): non-SOC, centre spin, 2 layers,
64 channels, bond harmonics and messages up to l = 2, hidden features 0e + 1o, correlation 2
(body order 3), r_cut 5 A, 8 Bessel functions, radial MLP [64, 64], readout MLP [16], 4 moment
magnitude features, spin harmonics up to l = 2, Landau order 2; plus the same with 1 layer.
System: bcc Fe, a = 2.83 A (58 neighbours within 5 A), N = 2000 and 16000 atoms (10^3 and 20^3
cubic cells), random moments of 2.2 muB. One thread for both codes (OMP_NUM_THREADS=1,
torch.set_num_threads(1)); timings are the best of ``repeats`` runs (the box is shared).

Measured:
- full energy (site energies of all atoms) of the C++ evaluator and of the PyTorch model on the
  same structure and neighbour list (built beforehand for both; the C++ time with the list is
  also given); PyTorch at N = 16000 would need > 10 GB and minutes per call, so torch is timed
  at N = 2000 only and per-atom costs are compared;
- incremental trial moves/s: the C++ Monte Carlo engine (mmace_fast.mc.engine, Gaussian
  direction moves + 30% longitudinal moves at 1000 K) on ``n_active`` random sites of the big
  cell, i.e. propose / accept / reject as in production, for both models and both sizes (trials
  only: the full re-evaluation a chain makes once per checkpoint chunk is not in the timed calls);
  size_ratio = t_trial(16000) / t_trial(2000);
- speed-up per trial over recomputing the full energy in PyTorch: t_torch_full(N) / t_trial(N)
  (at 16000 with t_torch_full extrapolated linearly from 2000, flagged in the output);
- cache memory per atom (geometry, node caches, scratch);
- a cost model of one trial (touched nodes per layer, edge messages, FLOPs) and the achieved
  GFLOP/s, to say where the time goes.

Shipped model (also ``--shipped-only``, no torch): trial moves/s of the shipped Fe mMACE
(mmace_fast/models/fe/model.mmace: 16 channels, correlation 3) on bcc Fe L = 6 and 10 (432 and
2000 atoms), same engine settings; keys moves_per_s_shipped_fe_L6 / _L10; the Monte Carlo grade
model (mmace_fast/models/fe_mc) likewise (moves_per_s_mcgrade_fe_l10); the full run adds
size_ratio_2e3_1e5 (t_trial at L = 40, 128 000 atoms, over L = 10).

Before / after (``--baseline DIR``): DIR is another checkout with its extension built (e.g.
``git worktree`` or ``git archive`` of an older commit + ``python setup.py build_ext
--inplace``). Each case (shipped Fe L = 6, 10; with ``--shipped-only`` also the two reference
models, exported once to a temporary file both trees read) is then timed in fresh subprocesses,
alternating this tree and DIR for ``--rounds`` rounds and keeping the best of each, so that
both see the same load of a shared machine; both wall and process CPU time are recorded (the
CPU time is the steadier figure when other jobs share the cores). Keys
before_after[case] = {this, baseline: moves/s (CPU), ratio, ...}; ``--shipped-only`` writes
benchmarks/results/bench_evaluator_shipped.json.

The last stdout line is one JSON object (keys: full_energy_speedup, moves_per_s_2layer,
moves_per_s_1layer, size_ratio_2layer, size_ratio_1layer, mem_kb_per_atom_2layer, ...).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

log = logging.getLogger("bench_evaluator")
ROOT = Path(__file__).resolve().parent.parent
A_FE = 2.83


def reference_config(n_layers: int) -> dict:
    return dict(species=[26], r_cut=5.0, n_bessel=8, cutoff_p=6, radial_mlp=[64, 64],
                n_channels=64, l_max_sh=2, l_max_message=2, l_max_hidden=1, n_layers=n_layers,
                correlation=2, readout_mlp=[16], avg_num_neighbors=58.0, soc=False,
                l_spin_max=2, n_mag_features=4, moment_scale=[2.2], centre_spin=True,
                landau_order=2)


def bcc(reps: int, seed: int = 0) -> dict:
    from ase.build import bulk
    atoms = bulk("Fe", "bcc", a=A_FE, cubic=True).repeat((reps, reps, reps))
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(len(atoms), 3))
    m *= 2.2 / np.linalg.norm(m, axis=1, keepdims=True)
    return dict(positions=atoms.positions, cell=np.array(atoms.cell[:]), pbc=atoms.pbc,
                numbers=atoms.numbers, magmoms=m)


def best(fn, repeats: int) -> float:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)


# ---------------------------------------------------------------------- full energy
def torch_full_time(model, st: dict, repeats: int) -> float:
    import torch
    from mmace_fast.data.graph import collate
    from mmace_fast.data.records import Configuration
    conf = Configuration(positions=st["positions"], cell=st["cell"], pbc=st["pbc"],
                         numbers=st["numbers"], magmoms=st["magmoms"])
    batch = collate([conf], model.config.r_cut)

    def run():
        with torch.no_grad():
            model.site_energies(batch.positions, batch.cell, batch.magmoms, batch)
    run()
    return best(run, repeats)


def cpp_full_times(frozen, st: dict, repeats: int) -> tuple[float, float]:
    """(time without, with the neighbour list), s."""
    i, j, s = frozen.edges(st["positions"], st["cell"], st["pbc"])

    def core():
        frozen.core.site_energies(st["positions"], st["cell"], st["numbers"], st["magmoms"],
                                  i, j, s)

    def with_list():
        frozen.site_energies(**st)
    core()
    return best(core, repeats), best(with_list, repeats)


# ---------------------------------------------------------------------- incremental
def trial_time(frozen, st: dict, n_active: int, sweeps: int, repeats: int, **cache) -> dict:
    """Seconds per trial move of the C++ MC engine on n_active random sites."""
    from mmace_fast.mc.engine import MonteCarlo
    from mmace_fast.mc.mmace_hamiltonian import FrozenMMACEHamiltonian
    ham = FrozenMMACEHamiltonian(frozen, st["positions"], st["cell"], st["pbc"],
                                 st["numbers"], moments=st["magmoms"], **cache)
    rng = np.random.default_rng(1)
    active = np.sort(rng.choice(len(st["numbers"]), size=n_active, replace=False))
    mc = MonteCarlo(ham, st["magmoms"], temperature=1000.0, seed=2, active_sites=active,
                    move="gaussian", sigma=0.3, p_longitudinal=0.3, sigma_long=0.1)
    mc.sample(1)                                   # warm-up: scratch buffers grow once
    # trials only: no full re-evaluation per timed call (a chain resynchronises once per
    # checkpoint chunk, not per few sweeps), no samples
    t = best(lambda: mc.core.run(sweeps, 0, False, False), repeats) / (sweeps * n_active)
    mem = ham.memory()
    return dict(t_trial=t, acceptance=mc.acceptance(), mem_per_atom=mem["per_atom"],
                mem=mem, n_bonds=int(ham.core.n_bonds), touched=ham.core.last_touched())


# ---------------------------------------------------------------- shipped model, before / after
SHIPPED_FE = ROOT / "mmace_fast" / "models" / "fe" / "model.mmace"

# Run in a fresh interpreter with a checkout's root first on sys.path, so that the same timing
# code measures this tree and a baseline tree (whose own benchmark script may predate it). Uses
# only long-standing APIs. argv: root, model path, L, n_active, sweeps, repeats.
_WORKER = r"""
import json, os, sys, time
os.environ["OMP_NUM_THREADS"] = "1"
root, model, L, n_active, sweeps, repeats = sys.argv[1:7]
sys.path.insert(0, root)
import numpy as np
from ase.build import bulk
from mmace_fast.export import FrozenModel
from mmace_fast.mc.engine import MonteCarlo
from mmace_fast.mc.mmace_hamiltonian import FrozenMMACEHamiltonian
L, n_active, sweeps, repeats = int(L), int(n_active), int(sweeps), int(repeats)
atoms = bulk("Fe", "bcc", a=2.83, cubic=True).repeat((L, L, L))
rng = np.random.default_rng(0)
m = rng.normal(size=(len(atoms), 3))
m *= 2.2 / np.linalg.norm(m, axis=1, keepdims=True)
ham = FrozenMMACEHamiltonian(FrozenModel.load(model), atoms.positions, atoms.cell[:], atoms.pbc,
                             atoms.numbers, moments=m)
active = np.sort(np.random.default_rng(1).choice(len(atoms), size=min(n_active, len(atoms)),
                                                 replace=False))
mc = MonteCarlo(ham, m, temperature=1000.0, seed=2, active_sites=active, move="gaussian",
                sigma=0.3, p_longitudinal=0.3, sigma_long=0.1)
mc.sample(1)
cpu, wall = [], []
for _ in range(repeats):
    c0, w0 = time.process_time(), time.perf_counter()
    mc.sample(sweeps)
    cpu.append((time.process_time() - c0) / (sweeps * len(active)))
    wall.append((time.perf_counter() - w0) / (sweeps * len(active)))
print(json.dumps(dict(t_cpu=min(cpu), t_wall=min(wall), n_atoms=len(atoms))))
"""


def worker_trial_time(root: Path, model: Path, reps: int, n_active: int, sweeps: int,
                      repeats: int) -> dict:
    """Seconds per trial (best CPU and wall time) of the checkout at ``root``, in a subprocess."""
    cmd = [sys.executable, "-c", _WORKER, str(root), str(model), str(reps), str(n_active),
           str(sweeps), str(repeats)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=str(root),
                         env=dict(os.environ, OMP_NUM_THREADS="1"))
    if out.returncode != 0:
        raise RuntimeError(f"trial worker failed in {root}:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def before_after(cases: dict, baseline: Path, rounds: int, n_active: int, repeats: int) -> dict:
    """cases: name -> (model path, L, sweeps). Alternates this tree and ``baseline``."""
    best = {(name, tree): dict(t_cpu=float("inf"), t_wall=float("inf"))
            for name in cases for tree in ("this", "baseline")}
    for r in range(rounds):
        for name, (model, reps, sweeps) in cases.items():
            for tree, root in (("this", ROOT), ("baseline", baseline)):
                d = worker_trial_time(root, model, reps, n_active, sweeps, repeats)
                b = best[(name, tree)]
                b["t_cpu"] = min(b["t_cpu"], d["t_cpu"])
                b["t_wall"] = min(b["t_wall"], d["t_wall"])
            log.info("round %d/%d %s: this %.0f, baseline %.0f moves/s (CPU time)", r + 1, rounds,
                     name, 1 / best[(name, "this")]["t_cpu"], 1 / best[(name, "baseline")]["t_cpu"])
    out = {}
    for name in cases:
        t, b = best[(name, "this")], best[(name, "baseline")]
        out[name] = dict(this=1 / t["t_cpu"], baseline=1 / b["t_cpu"],
                         ratio=b["t_cpu"] / t["t_cpu"], this_wall=1 / t["t_wall"],
                         baseline_wall=1 / b["t_wall"], ratio_wall=b["t_wall"] / t["t_wall"])
    return out


def shipped_trials(quick: bool, repeats: int, n_active: int) -> dict:
    """Trial moves/s of the shipped Fe models on bcc L = 6 and 10, in this process: the
    accurate model (keys moves_per_s_shipped_fe_L6 / _L10, also moves_per_s_shipped_fe_l10)
    and the Monte Carlo grade one (moves_per_s_mcgrade_fe_l10); and the cost per trial of the
    accurate model at L = 40 (128 000 atoms) over L = 10 (2 000 atoms), size_ratio_2e3_1e5
    (full run only: building the 128 000-atom caches takes minutes)."""
    from mmace_fast.export import FrozenModel
    from mmace_fast.models import frozen_path
    result = {}
    for grade, key in (("accurate", "shipped_fe"), ("mc", "mcgrade_fe")):
        frozen = FrozenModel.load(frozen_path("fe", grade))
        for reps in (6, 10):
            st = bcc(reps)
            r = trial_time(frozen, st, n_active, 1 if quick else 3, repeats)
            result[f"moves_per_s_{key}_L{reps}"] = 1.0 / r["t_trial"]
            result[f"acceptance_{key}_L{reps}"] = r["acceptance"]
            result[f"mem_kb_per_atom_{key}_L{reps}"] = r["mem_per_atom"] / 1024
            log.info("%s L=%d (N=%d): %.3g moves/s (%.3f ms/trial), caches %.1f kB/atom", key,
                     reps, len(st["numbers"]), 1.0 / r["t_trial"], 1e3 * r["t_trial"],
                     r["mem_per_atom"] / 1024)
        result[f"moves_per_s_{key}_l10"] = result[f"moves_per_s_{key}_L10"]
    if not quick:
        frozen = FrozenModel.load(frozen_path("fe"))
        big = trial_time(frozen, bcc(40), n_active, 3, repeats)
        result["t_trial_s_shipped_fe_L40"] = big["t_trial"]
        result["size_ratio_2e3_1e5"] = big["t_trial"] * result["moves_per_s_shipped_fe_L10"]
        log.info("shipped Fe L=40 (N=128000): %.3g moves/s; size ratio L40/L10 %.2f",
                 1.0 / big["t_trial"], result["size_ratio_2e3_1e5"])
    return result


def shipped_only(args) -> dict:
    result = dict(quick=args.quick, threads=1)
    repeats = args.repeats or (2 if args.quick else 3)
    n_active = 40 if args.quick else 200
    result.update(shipped_trials(args.quick, repeats, n_active))
    if args.baseline is not None:
        cases = {f"shipped_fe_L{reps}": (SHIPPED_FE, reps, 1 if args.quick else 2)
                 for reps in (6, 10)}
        with tempfile.TemporaryDirectory() as tmp:
            if not args.quick:                     # reference models, exported once
                from mmace_fast.export import export_model
                from mmace_fast.export.testing import random_model
                for n_layers in (2, 1):
                    path = Path(tmp) / f"ref{n_layers}.mmace"
                    export_model(random_model(reference_config(n_layers), seed=0), path)
                    cases[f"reference_{n_layers}layer_L10"] = (path, 10, 2 if n_layers == 2 else 6)
            result["baseline"] = str(args.baseline)
            result["before_after"] = before_after(cases, Path(args.baseline), args.rounds,
                                                  n_active, 2)
        for name, d in result["before_after"].items():
            log.info("%s: %.0f -> %.0f moves/s (CPU time), x%.2f (wall x%.2f)", name,
                     d["baseline"], d["this"], d["ratio"], d["ratio_wall"])
    if not args.quick:
        out = ROOT / "benchmarks" / "results" / "bench_evaluator_shipped.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    return result


def cost_model(cfg: dict, st: dict) -> dict:
    """Work of one trial at a site far from the cell boundary: nodes whose layer input changes,
    edge messages, and floating-point operations (multiply-adds counted as 2)."""
    from mmace_fast.neighbours import neighbour_list
    i, j, _ = neighbour_list(st["positions"], st["cell"], st["pbc"], cfg["r_cut"])
    n = len(st["numbers"])
    out_nb = [[] for _ in range(n)]
    in_nb = [[] for _ in range(n)]
    for a, b in zip(i, j):                          # edge b -> a (sender b, receiver a)
        out_nb[b].append(a)
        in_nb[a].append(b)
    deg = len(i) / n
    c = cfg["n_channels"]
    k = 0
    s_t = {k}
    per_layer = []
    d_a = (cfg["l_max_message"] + 1) ** 2
    for t in range(cfg["n_layers"]):
        last = t == cfg["n_layers"] - 1
        receivers = set(s_t)
        for v in s_t | {k}:
            receivers.update(out_nb[v])
        edges = sum(len(out_nb[v]) for v in s_t) + sum(1 for v in in_nb[k] if v not in s_t)
        d_out = 1 if last else (cfg["l_max_hidden"] + 1) ** 2
        n_paths = 3 if t == 0 else 7              # reference model: 0e x Y -> A; (0e+1o) x Y -> A
        tp_terms = 9 * 2 if t == 0 else 45 + 21   # multiply-adds per channel per edge message
        n_kappa = (cfg["l_spin_max"] + 1) * cfg["n_mag_features"]
        flops_edges = 2 * edges * c * (tp_terms + n_kappa * n_paths + n_paths)
        flops_nodes = 2 * len(receivers) * c * c * (d_a + d_out + (1 if last else 0))
        flops_recv = 2 * len(receivers) * n_kappa * cfg["n_mag_features"] * n_paths * c
        per_layer.append(dict(nodes_in=len(s_t), receivers=len(receivers), edge_messages=edges,
                              gflop=(flops_edges + flops_nodes + flops_recv) / 1e9))
        s_t = receivers
    return dict(neighbours=deg, layers=per_layer,
                gflop_per_trial=sum(x["gflop"] for x in per_layer))


# ---------------------------------------------------------------------- main
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes and few trials (< 1 min)")
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--shipped-only", action="store_true",
                   help="only the shipped Fe model (no torch unless --baseline)")
    p.add_argument("--baseline", type=Path, default=None,
                   help="another built checkout, timed alternately with this one")
    p.add_argument("--rounds", type=int, default=3, help="alternations with --baseline")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.shipped_only:
        print(json.dumps(shipped_only(args)))
        return
    import torch
    torch.set_num_threads(1)
    from mmace_fast.export import FrozenModel, export_model
    from mmace_fast.export.testing import random_model

    quick = args.quick
    reps_small, reps_big = (5, 10) if quick else (10, 20)
    repeats = args.repeats or (2 if quick else 3)
    n_active = 40 if quick else 200
    sweeps = {1: (3 if quick else 10), 2: (1 if quick else 2)}
    small, big = bcc(reps_small), bcc(reps_big)
    n_small, n_big = len(small["numbers"]), len(big["numbers"])
    result = dict(quick=quick, n_small=n_small, n_big=n_big, threads=1)
    with tempfile.TemporaryDirectory() as tmp:
        for n_layers in (2, 1):
            cfg = reference_config(n_layers)
            model = random_model(cfg, seed=0)
            path = Path(tmp) / f"ref{n_layers}.mmace"
            export_model(model, path)
            frozen = FrozenModel.load(path)
            tag = f"{n_layers}layer"
            # full energy, same structure and list for both codes
            t_torch = torch_full_time(model, small, max(1, repeats - 1))
            t_cpp, t_cpp_nl = cpp_full_times(frozen, small, repeats)
            t_cpp_big, _ = cpp_full_times(frozen, big, max(1, repeats - 1))
            result[f"torch_full_s_{tag}"] = t_torch
            result[f"cpp_full_s_{tag}"] = t_cpp
            result[f"cpp_full_with_list_s_{tag}"] = t_cpp_nl
            result[f"cpp_full_s_big_{tag}"] = t_cpp_big
            result[f"full_energy_speedup_{tag}"] = t_torch / t_cpp
            log.info("%s full energy N=%d: torch %.3f s, C++ %.4f s (%.4f s with the list): "
                     "%.1fx; C++ N=%d %.3f s", tag, n_small, t_torch, t_cpp, t_cpp_nl,
                     t_torch / t_cpp, n_big, t_cpp_big)
            # incremental trials
            for label, st in (("small", small), ("big", big)):
                r = trial_time(frozen, st, n_active, sweeps[n_layers], repeats)
                result[f"t_trial_s_{label}_{tag}"] = r["t_trial"]
                result[f"moves_per_s_{label}_{tag}"] = 1.0 / r["t_trial"]
                result[f"mem_kb_per_atom_{label}_{tag}"] = r["mem_per_atom"] / 1024
                result[f"acceptance_{label}_{tag}"] = r["acceptance"]
                result[f"n_bonds_{label}_{tag}"] = r["n_bonds"]
                log.info("%s N=%d: %.3g moves/s (%.3f ms/trial), caches %.1f kB/atom %s, "
                         "%d distinct bonds", tag, len(st["numbers"]), 1.0 / r["t_trial"],
                         1e3 * r["t_trial"], r["mem_per_atom"] / 1024, r["mem"], r["n_bonds"])
            # with the optional edge-weight cache (exact too; memory for speed)
            rc = trial_time(frozen, small, n_active, sweeps[n_layers], repeats,
                            cache_edge_weights=True)
            result[f"moves_per_s_small_cached_{tag}"] = 1.0 / rc["t_trial"]
            result[f"mem_kb_per_atom_small_cached_{tag}"] = rc["mem_per_atom"] / 1024
            log.info("%s N=%d with the edge-weight cache: %.3g moves/s, %.1f kB/atom", tag, n_small,
                     1.0 / rc["t_trial"], rc["mem_per_atom"] / 1024)
            cm = cost_model(cfg, big)
            result[f"cost_model_{tag}"] = cm
            t_big = result[f"t_trial_s_big_{tag}"]
            result[f"gflops_achieved_{tag}"] = cm["gflop_per_trial"] / t_big
            result[f"size_ratio_{tag}"] = (result[f"t_trial_s_big_{tag}"] /
                                           result[f"t_trial_s_small_{tag}"])
            per_trial_small = t_torch / result[f"t_trial_s_small_{tag}"]
            per_trial_big = t_torch * n_big / n_small / result[f"t_trial_s_big_{tag}"]
            result[f"speedup_vs_torch_recompute_small_{tag}"] = per_trial_small
            result[f"speedup_vs_torch_recompute_big_{tag}_extrapolated"] = per_trial_big
            log.info("%s: size ratio %.2f, %.3g GFLOP/trial, %.1f GFLOP/s; per-trial speed-up "
                     "over torch recomputation %.3g (N=%d), %.3g (N=%d, extrapolated)", tag,
                     result[f"size_ratio_{tag}"], cm["gflop_per_trial"],
                     result[f"gflops_achieved_{tag}"], per_trial_small, n_small, per_trial_big,
                     n_big)
    result.update(shipped_trials(quick, repeats, n_active))
    result.update(
        full_energy_speedup=result["full_energy_speedup_2layer"],
        moves_per_s_2layer=result["moves_per_s_big_2layer"],
        moves_per_s_1layer=result["moves_per_s_big_1layer"],
        size_ratio_2layer=result["size_ratio_2layer"],
        size_ratio_1layer=result["size_ratio_1layer"],
        mem_kb_per_atom_2layer=result["mem_kb_per_atom_big_2layer"],
        mem_kb_per_atom_1layer=result["mem_kb_per_atom_big_1layer"],
        speedup_vs_torch_recompute_2layer=result["speedup_vs_torch_recompute_small_2layer"],
        speedup_vs_torch_recompute_1layer=result["speedup_vs_torch_recompute_small_1layer"],
    )
    if not quick:
        out = ROOT / "benchmarks" / "results" / "bench_evaluator.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
