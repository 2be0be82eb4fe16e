"""Curie temperature of bcc Fe with Pajda's exchange (classical MC), with its wall time, and
Wolff vs Metropolis time to the same error bar (sc nearest-neighbour model at Tc).

    python benchmarks/bench_tc.py [--quick]

Efficiency of an update scheme = 1 / (err^2 * seconds) for the mean of |m| at kTc/J = 1.443
(L = 16); 'wolff_speedup' is Metropolis time / Wolff time to reach the same error.
'overrelax_speedup' is the same ratio for Metropolis + one over-relaxation sweep per step vs
Metropolis alone on Pajda's bcc Fe (L = 10, 905 K), with tau_int(|m|) of both. The Fe Tc scan
uses over-relaxation. The last stdout line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import time

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

from mmace_fast.conventions import KB_EV_PER_K  # noqa: E402
from mmace_fast.mc.cli import run_scans  # noqa: E402
from mmace_fast.mc.engine import MonteCarlo  # noqa: E402
from mmace_fast.mc.hamiltonian import SpinHamiltonian  # noqa: E402
from mmace_fast.mc.lattice import cubic_lattice  # noqa: E402
from mmace_fast.mc.presets import FE_TC_EXP, pajda_bcc_fe  # noqa: E402
from mmace_fast.mc.stats import blocking_error, integrated_autocorr_time  # noqa: E402


def fe_efficiency(L, n_steps, **settings):
    """1 / (err^2 * wall seconds) of <|m|> for Pajda bcc Fe at 905 K (near its Tc)."""
    ham, lat = pajda_bcc_fe(L)
    mc = MonteCarlo(ham, np.tile([0, 0, 1.0], (lat.n_sites, 1)), 905.0, seed=5, **settings)
    mc.equilibrate(n_steps // 5)
    t0 = time.perf_counter()
    s = mc.sample(n_steps)
    dt = time.perf_counter() - t0
    mabs = np.linalg.norm(s.magnetisation, axis=1)
    err = blocking_error(mabs).error
    return 1.0 / (err ** 2 * dt), integrated_autocorr_time(mabs).tau


def efficiency(L, n_steps, **settings):
    """1 / (err^2 * wall seconds) of <|m|> at the sc Tc."""
    lat = cubic_lattice("sc", L)
    ham = SpinHamiltonian.from_shells(lat.positions, lat.cell, lat.pbc, [1.0])
    mc = MonteCarlo(ham, np.tile([0, 0, 1.0], (lat.n_sites, 1)), 1.44293 / KB_EV_PER_K,
                    seed=3, **settings)
    mc.equilibrate(n_steps // 5)
    t0 = time.perf_counter()
    s = mc.sample(n_steps)
    dt = time.perf_counter() - t0
    err = blocking_error(np.linalg.norm(s.magnetisation, axis=1)).error
    return 1.0 / (err ** 2 * dt), dt, err


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.quick:
        sizes, temps, n_equil, n_prod, n_eff = (4, 6), np.linspace(820, 1000, 7), 200, 800, 600
    else:
        sizes, temps, n_equil, n_prod, n_eff = ((6, 10, 14), np.linspace(850, 970, 9),
                                                1000, 8000, 6000)
    t0 = time.perf_counter()
    _, tc = run_scans("pajda-fe", sizes, temps, n_equil, n_prod, wolff=0, overrelax=1)
    wall = time.perf_counter() - t0
    e_met, t_met, err_met = efficiency(16, n_eff, move="gaussian")
    e_wolff, t_wolff, err_wolff = efficiency(16, n_eff // 4, metropolis=False, wolff_per_sweep=10)
    n_fe = 4000 if args.quick else 40000
    e_fe_met, tau_met = fe_efficiency(10, n_fe, move="gaussian")
    e_fe_or, tau_or = fe_efficiency(10, n_fe // 2, move="gaussian", overrelax_per_sweep=1)
    print(json.dumps({
        "fe_tc_binder_K": tc.tc_binder, "fe_tc_binder_err_K": tc.tc_binder_err,
        "fe_tc_chi_peak_K": tc.tc_chi if np.isfinite(tc.tc_chi) else None,
        "fe_tc_exp_K": FE_TC_EXP, "fe_sizes": list(sizes), "fe_scan_wall_s": wall,
        "sc_metropolis_err": err_met, "sc_metropolis_s": t_met,
        "sc_wolff_err": err_wolff, "sc_wolff_s": t_wolff,
        "wolff_speedup": e_wolff / e_met,
        "fe_tau_metropolis": tau_met, "fe_tau_overrelax": tau_or,
        "overrelax_speedup": e_fe_or / e_fe_met, "quick": args.quick,
    }))


if __name__ == "__main__":
    main()
