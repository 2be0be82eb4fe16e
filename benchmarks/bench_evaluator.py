"""Frozen mMACE in C++: full-energy speed vs PyTorch and incremental Monte Carlo trial moves/s.

    python benchmarks/bench_evaluator.py [--quick]

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
  cell, i.e. propose / accept / reject as in production, for both models and both sizes;
  size_ratio = t_trial(16000) / t_trial(2000);
- speed-up per trial over recomputing the full energy in PyTorch: t_torch_full(N) / t_trial(N)
  (at 16000 with t_torch_full extrapolated linearly from 2000, flagged in the output);
- cache memory per atom (geometry, node caches, scratch);
- a cost model of one trial (touched nodes per layer, edge messages, FLOPs) and the achieved
  GFLOP/s, to say where the time goes.

The last stdout line is one JSON object (keys: full_energy_speedup, moves_per_s_2layer,
moves_per_s_1layer, size_ratio_2layer, size_ratio_1layer, mem_kb_per_atom_2layer, ...).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
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
    t = best(lambda: mc.sample(sweeps), repeats) / (sweeps * n_active)
    mem = ham.memory()
    return dict(t_trial=t, acceptance=mc.acceptance(), mem_per_atom=mem["per_atom"],
                mem=mem, n_bonds=int(ham.core.n_bonds), touched=ham.core.last_touched())


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
        d_in = 1 if t == 0 else (cfg["l_max_hidden"] + 1) ** 2
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
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import torch
    torch.set_num_threads(1)
    from mmace_fast import _core
    from mmace_fast.export import FrozenModel, export_model
    from mmace_fast.export.testing import random_model

    quick = args.quick
    reps_small, reps_big = (5, 10) if quick else (10, 20)
    repeats = args.repeats or (2 if quick else 3)
    n_active = 40 if quick else 200
    sweeps = {1: (3 if quick else 10), 2: (1 if quick else 2)}
    small, big = bcc(reps_small), bcc(reps_big)
    n_small, n_big = len(small["numbers"]), len(big["numbers"])
    result = dict(quick=quick, n_small=n_small, n_big=n_big, threads=1,
                  openmp_enabled=bool(_core.openmp_enabled()))
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
