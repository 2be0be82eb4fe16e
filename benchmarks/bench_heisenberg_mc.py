"""Trial moves per second of the Metropolis engine, side by side with peers in one run.

    python benchmarks/bench_heisenberg_mc.py [--quick]

sc 32^3 nearest-neighbour Heisenberg (kT/J = 1.443) and bcc Fe 16^3 with Pajda's 8 shells
(112 neighbours, 950 K), one thread. Peers: a float64 NumPy checkerboard (benchmarks/peers.py)
and Spirit 2.2.0 (speed only: its Metropolis is biased, see shared/references.md) when installed.
Each timing is repeated, interleaved, and the best of the repeats is kept (this machine is noisy).
The last stdout line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from peers import numpy_checkerboard_sc, spirit_sc  # noqa: E402

from mmace_fast.conventions import KB_EV_PER_K  # noqa: E402
from mmace_fast.mc.engine import MonteCarlo  # noqa: E402
from mmace_fast.mc.hamiltonian import SpinHamiltonian  # noqa: E402
from mmace_fast.mc.lattice import cubic_lattice  # noqa: E402
from mmace_fast.mc.presets import pajda_bcc_fe  # noqa: E402


def ours(ham, n_sites, temperature, n_sweeps, move):
    mc = MonteCarlo(ham, np.tile([0, 0, 1.0], (n_sites, 1)), temperature, seed=1, move=move)
    mc.equilibrate(2)
    t0 = time.perf_counter()
    mc.equilibrate(n_sweeps, adapt=False)
    return n_sweeps * n_sites / (time.perf_counter() - t0)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeats", type=int, default=None)
    args = p.parse_args(argv)
    sweeps_sc, sweeps_fe, reps = (10, 2, 2) if args.quick else (60, 10, 5)
    reps = args.repeats or reps
    sc = cubic_lattice("sc", 32)
    ham_sc = SpinHamiltonian.from_shells(sc.positions, sc.cell, sc.pbc, [1.0])
    t_sc = 1.443 / KB_EV_PER_K
    ham_fe, fe = pajda_bcc_fe(16)
    best = {k: 0.0 for k in ("sc_uniform", "sc_gaussian", "fe_uniform", "numpy", "spirit")}
    for _ in range(reps):
        best["sc_uniform"] = max(best["sc_uniform"],
                                 ours(ham_sc, sc.n_sites, t_sc, sweeps_sc, "uniform"))
        best["sc_gaussian"] = max(best["sc_gaussian"],
                                  ours(ham_sc, sc.n_sites, t_sc, sweeps_sc, "gaussian"))
        best["fe_uniform"] = max(best["fe_uniform"],
                                 ours(ham_fe, fe.n_sites, 950.0, sweeps_fe, "uniform"))
        best["numpy"] = max(best["numpy"], numpy_checkerboard_sc(32, max(2, sweeps_sc // 4)))
        sp = spirit_sc(32, max(2, sweeps_sc // 4))
        best["spirit"] = max(best["spirit"], sp or 0.0)
    out = {
        "moves_per_s_sc": best["sc_uniform"],
        "moves_per_s_sc_gaussian": best["sc_gaussian"],
        "moves_per_s_bcc_fe": best["fe_uniform"],
        "numpy_moves_per_s_sc": best["numpy"],
        "spirit_moves_per_s_sc": best["spirit"] or None,
        "ratio_vs_numpy": best["sc_uniform"] / best["numpy"],
        "ratio_vs_spirit": best["sc_uniform"] / best["spirit"] if best["spirit"] else None,
        "repeats": reps, "quick": args.quick,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
