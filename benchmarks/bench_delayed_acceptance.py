"""Delayed acceptance (issue 4 item 5): what screening mMACE trials with a cheap Heisenberg
surrogate saves, side by side in one run.

    python benchmarks/bench_delayed_acceptance.py [--quick]

Model: the shipped bcc Fe mMACE (mmace_fast/models/fe), frozen C++ incremental evaluator, fixed
moment length (the DFT FM moment, direction moves only). Surrogate: a Heisenberg model extracted
from that same frozen mMACE (mmace_fast.baseline.extract: exchange per shell fitted to the
model's energies of random configurations on the same supercell), i.e. the best pairwise
approximation of mMACE at this length. A trial is screened with the surrogate's dE_s and only
survivors pay for the exact mMACE dE (Christen and Fox 2005): the chain is exact either way.

Figures: efficiency = 1 / (err^2 * wall s) of <E> and of <|M|> (blocking errors) with and
without the surrogate at temperatures around mMACE's transition, their ratio ``da_speedup_*``,
the fraction of exact evaluations saved, and the extraction's non-Heisenberg residual. The last
stdout line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import time

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

from mmace_fast.baseline import BaselineModel, to_spin_hamiltonian  # noqa: E402
from mmace_fast.baseline.extract import extract_from_frozen  # noqa: E402
from mmace_fast.baseline.material import reference_structure  # noqa: E402
from mmace_fast.mc.engine import MonteCarlo  # noqa: E402
from mmace_fast.mc.lattice import material_lattice  # noqa: E402
from mmace_fast.mc.mmace_hamiltonian import FrozenMMACEHamiltonian  # noqa: E402
from mmace_fast.mc.stats import blocking_error  # noqa: E402
from mmace_fast.models import load_frozen  # noqa: E402

A_FE = 2.866


def surrogate_from_mmace(ham, lat, moment, n_configs, seed=0):
    """Heisenberg exchange of the frozen mMACE at fixed |m| on ``lat`` as a SpinHamiltonian on
    moment vectors; returns (surrogate, extraction result)."""
    res = extract_from_frozen(ham, lat, reference_structure("fe"), (26,), {26: moment},
                              n_shells=5, n_configs=n_configs, cone_deg=180.0, seed=seed)
    model = BaselineModel(res.design, res.theta, np.diag(res.sigma ** 2))
    return to_spin_hamiltonian(model, lat, magnetic_only=False), res


def efficiency(ham, spins, temperature, n_equil, n_prod, surrogate=None, seed=1):
    mc = MonteCarlo(ham, spins, temperature, seed=seed, move="uniform", surrogate=surrogate)
    mc.equilibrate(n_equil)
    t0 = time.perf_counter()
    s = mc.sample(n_prod)
    dt = time.perf_counter() - t0
    err_e = blocking_error(s.energy).error
    err_m = blocking_error(np.linalg.norm(s.magnetisation, axis=1)).error
    out = {"wall_s": dt, "eff_e": 1.0 / (err_e ** 2 * dt), "eff_m": 1.0 / (err_m ** 2 * dt),
           "mean_e_per_atom": float(np.mean(s.energy)) / ham.n_sites,
           "err_e_per_atom": err_e / ham.n_sites,
           "mean_m_abs": float(np.mean(np.linalg.norm(s.magnetisation, axis=1))),
           "acceptance": mc.acceptance().get("uniform", 0.0)}
    if surrogate is not None:
        out["saved_fraction"] = mc.delayed_acceptance_stats()["saved_fraction"]
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--temperatures", type=float, nargs="+", default=None,
                   help="K (default: around the Fe mMACE transition)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    L, n_conf, n_equil, n_prod = (3, 24, 20, 60) if args.quick else (4, 96, 200, 800)
    temps = args.temperatures or ([700.0] if args.quick else [500.0, 700.0, 900.0])
    frozen = load_frozen("fe")
    lat = material_lattice("bcc_Fe", L, A_FE)
    ham = FrozenMMACEHamiltonian.from_arrays(frozen, lat.positions, lat.cell, lat.pbc,
                                             lat.numbers)
    moment = 2.19
    t0 = time.perf_counter()
    sur, res = surrogate_from_mmace(ham, lat, moment, n_conf)
    t_extract = time.perf_counter() - t0
    spins = lat.moments("FM", moment)
    rows = []
    for t in temps:
        plain = efficiency(ham, spins, t, n_equil, n_prod)
        da = efficiency(ham, spins, t, n_equil, n_prod, surrogate=sur)
        rows.append({"T_K": t, "plain": plain, "delayed": da,
                     "da_speedup_e": da["eff_e"] / plain["eff_e"],
                     "da_speedup_m": da["eff_m"] / plain["eff_m"],
                     "wall_ratio": plain["wall_s"] / da["wall_s"]})
    fig = {
        "model": "fe default (frozen)", "n_atoms": lat.n_sites, "moment_muB": moment,
        "surrogate_shells_J_meV_pair_once_unit": [round(r["unit_once_meV"], 3)
                                                  for r in res.rows],
        "surrogate_non_heisenberg": res.non_heisenberg, "extract_s": t_extract,
        "rows": rows,
        "da_speedup_e_median": float(np.median([r["da_speedup_e"] for r in rows])),
        "da_speedup_m_median": float(np.median([r["da_speedup_m"] for r in rows])),
        "saved_fraction_median": float(np.median([r["delayed"]["saved_fraction"]
                                                  for r in rows])),
        "quick": args.quick,
    }
    os.makedirs(os.path.join(os.path.dirname(__file__), "results"), exist_ok=True)
    if not args.quick:
        with open(os.path.join(os.path.dirname(__file__), "results",
                               "bench_delayed_acceptance.json"), "w") as fh:
            json.dump(fig, fh, indent=1)
    print(json.dumps(fig))


if __name__ == "__main__":
    main()
