"""How the mMACE chains are driven near Tc: plain Metropolis, delayed acceptance, and the
"guided" sampler (delayed acceptance + over-relaxation about the surrogate's axis), side by side
in one run.

    python benchmarks/bench_delayed_acceptance.py [--quick] [--grade mc|accurate]

Model: the shipped bcc Fe mMACE of ``--grade`` (frozen C++ incremental evaluator), bcc L^3,
Gaussian direction moves; fixed moment length (the DFT FM moment) and free length (30 %
longitudinal moves, d^3m), each at a temperature just below its Tc. Surrogate: the Heisenberg
model extracted from the same frozen mMACE (mmace_fast.compare.thermo.extracted_surrogate).
Every sampler is exact (tests/test_mc_physics.py, tests/test_mmace_mc.py); they differ in cost
per sweep and in the autocorrelation of what the Tc protocol measures.

Figures per (length mode, sampler): s per sweep, tau_int of E and of |M| (sweeps; ``*_conv``
False when the series was too short for its tau), efficiency = independent samples per second
= 1 / (2 tau_int x s per sweep), and the ratios to plain Metropolis (``gain_m_*`` for |M|, which
carries U4). The last stdout line is one JSON object; the full run writes
benchmarks/results/bench_delayed_acceptance.json.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

from mmace_fast.compare.thermo import extracted_surrogate, mmace_model  # noqa: E402
from mmace_fast.mc.engine import MonteCarlo  # noqa: E402
from mmace_fast.mc.stats import integrated_autocorr_time  # noqa: E402
from mmace_fast.models import load_frozen  # noqa: E402

MOMENT = 2.19                      #: muB, the fitted DFT moment of bcc Fe
#: length mode -> temperature (K) just below the Tc the protocol finds for the MC grade model
#: (bench_mmace_tc: about 1017 K with fixed, about 850 K with free moment lengths)
TEMPERATURES = {"fixed": 1000.0, "free": 840.0}
SAMPLERS = ("plain", "delayed", "guided")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_one(frozen, surrogate, L, free, sampler, temperature, n_equil, n_prod, seed=1):
    model = mmace_model("fe", frozen, MOMENT, free_length=free,
                        surrogate=None if sampler == "plain" else surrogate,
                        overrelax=sampler == "guided")
    system = model.build(L)
    mc = MonteCarlo(system.hamiltonian, system.spins, temperature, seed=seed,
                    active_sites=system.active, surrogate=system.surrogate, **model.settings)
    mc.equilibrate(n_equil)
    t0 = time.perf_counter()
    s = mc.sample(n_prod)
    dt = (time.perf_counter() - t0) / n_prod
    m_abs = np.linalg.norm(s.magnetisation, axis=1)
    te, tm = integrated_autocorr_time(s.energy), integrated_autocorr_time(m_abs)
    out = {"s_per_sweep": dt, "tau_e": float(te.tau), "tau_e_conv": bool(te.converged),
           "tau_m": float(tm.tau), "tau_m_conv": bool(tm.converged),
           "eff_e": 1.0 / (2 * te.tau * dt), "eff_m": 1.0 / (2 * tm.tau * dt),
           "mean_m_abs": float(m_abs.mean()), "acceptance": mc.acceptance()}
    if system.surrogate is not None:
        out["saved_fraction"] = mc.delayed_acceptance_stats()["saved_fraction"]
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="L = 4, 60 sweeps (< 1 min)")
    p.add_argument("--grade", default="mc", choices=("mc", "accurate"))
    p.add_argument("--size", type=int, default=None, help="L (default 8; 4 with --quick)")
    p.add_argument("--sweeps", type=int, default=None, help="production sweeps per run")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    L = args.size or (4 if args.quick else 8)
    n_prod = args.sweeps or (60 if args.quick else 3000)
    n_equil = max(10, n_prod // 4)
    t_all = time.perf_counter()
    frozen = load_frozen("fe", args.grade)
    t0 = time.perf_counter()
    surrogate, info = extracted_surrogate("fe", frozen, MOMENT)
    fig = {"model": f"fe ({args.grade} grade, frozen)", "L": L, "n_atoms": 2 * L ** 3,
           "sweeps": n_prod, "moment_muB": MOMENT, "extract_s": time.perf_counter() - t0,
           "surrogate_non_heisenberg": info["non_heisenberg"], "temperatures_K": TEMPERATURES,
           "cpu": cpu_model(), "quick": args.quick}
    for mode, temperature in TEMPERATURES.items():
        rows = {s: run_one(frozen, surrogate, L, mode == "free", s, temperature, n_equil,
                           n_prod) for s in SAMPLERS}
        fig[mode] = rows
        for s in ("delayed", "guided"):
            fig[f"gain_m_{mode}_{s}"] = rows[s]["eff_m"] / rows["plain"]["eff_m"]
            fig[f"gain_e_{mode}_{s}"] = rows[s]["eff_e"] / rows["plain"]["eff_e"]
    fig["wall_s"] = time.perf_counter() - t_all
    if not args.quick:
        path = Path(__file__).resolve().parent / "results" / "bench_delayed_acceptance.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(fig, indent=1))
    print(json.dumps(fig))


if __name__ == "__main__":
    main()
