"""Spin dynamics: atom-steps per second, and the magnons of bcc Fe from it and from spirals.

    python benchmarks/bench_spin_dynamics.py [--quick]
        [--out benchmarks/results/bench_spin_dynamics.json]

1. Rates (one thread, best of 3): stochastic LLG of Pajda's bcc Fe (unit vectors, 8 shells,
   112 neighbours) at 300 K, and Ma-Dudarev dynamics (free |m|) of the Heisenberg-plus-Landau
   model fitted to the shipped Fe data, both on bcc L = 10 (2 000 atoms; --quick L = 6), and
   of the shipped Fe mMACE (accurate and Monte Carlo grade, fixed |m| = the DFT moment, its
   magnetic forces from the C++ reverse pass; a few steps).
2. Magnons of Pajda's model: peaks of S(q, omega) of a 10 K stochastic LLG run against linear
   spin-wave theory of the same pair list, along Gamma-H, Gamma-N, Gamma-P (q commensurate with
   L); max and mean relative deviation.
3. Adiabatic (frozen-magnon) energies 2 g dE_spiral(q) / M on the same q of every model we have:
   Pajda (equal to its LSWT), the fitted Heisenberg model, the shipped Monte Carlo grade and
   accurate mMACE (torch-free energies of planar spirals at |m| = the DFT moment), and the DFT
   spirals of the shipped data where their q lies on the path (their moment lengths relaxed,
   so above ~0.4 of Gamma-H they are not the fixed-length figure of the models).

4. With ``--mmace``: S(q, omega) of the Monte Carlo grade Fe mMACE (bcc L = 8, 10 K, dt 0.25 fs,
   500 + 4 000 fs; --quick L = 4, 100 + 400 fs) against the same model's frozen magnons, planar
   and small-angle (5 degree cones: its linear spin-wave energies), and the DFT spirals on the
   same q (resumable in ``--mmace-workdir``; the settings are those of
   ``mmace dynamics magnons --model mmace --grade mc --L 8 --temperature 10 --dt 0.25
   --equil-fs 500 --time-fs 4000``, so a run of that command is picked up).

The last stdout line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

from mmace_fast.dynamics import LLGConfig, SpinDynamics  # noqa: E402
from mmace_fast.dynamics.magnons import (adiabatic_magnons, cubic_q_path,  # noqa: E402
                                         frozen_magnon_mev, magnon_spectrum)
from mmace_fast.mc.presets import FE_A, pajda_bcc_fe  # noqa: E402

log = logging.getLogger("bench_spin_dynamics")
ROOT = Path(__file__).resolve().parent.parent


def _rate(ham, start, cfg, n_steps, repeats=3) -> float:
    """Best atom-steps per second over ``repeats`` runs of n_steps."""
    best = 0.0
    for r in range(repeats):
        dyn = SpinDynamics(ham, start, cfg)
        dyn.run(10, 10)
        t0 = time.perf_counter()
        dyn.core.run(n_steps, 0)
        best = max(best, n_steps * ham.n_sites / (time.perf_counter() - t0))
    return best


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="L = 6, short runs (< 1 min)")
    p.add_argument("--out", type=Path, default=None, help="JSON file (full runs: "
                   "benchmarks/results/bench_spin_dynamics.json)")
    p.add_argument("--mmace", action="store_true",
                   help="also S(q, omega) of the Monte Carlo grade Fe mMACE (about 12 min)")
    p.add_argument("--mmace-workdir", type=Path,
                   default=ROOT / "runs" / "magnons_mmace" / "fe_mc_L8")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    L = 6 if args.quick else 10
    t_wall = time.perf_counter()
    from mmace_fast.baseline import fit_material, to_spin_hamiltonian
    from mmace_fast.export import FrozenModel
    from mmace_fast.mc.lattice import material_lattice
    from mmace_fast.mc.mmace_hamiltonian import FrozenMMACEHamiltonian
    from mmace_fast.models import frozen_path

    fit = fit_material("fe")
    M = float(fit.moments[26])                       # muB, the DFT moment of the data
    pajda, lat = pajda_bcc_fe(L)
    mlat = material_lattice("bcc_Fe", L, FE_A)
    fitted_unit = to_spin_hamiltonian(fit.model, mlat, moment_lengths={26: M})
    fitted_free = to_spin_hamiltonian(fit.model, mlat)                 # muB vectors + Landau
    n = lat.n_sites
    up = np.tile([0.0, 0.0, 1.0], (n, 1))
    steps = 50 if args.quick else 300
    rates = {
        "llg_atom_steps_per_s_classical": _rate(
            pajda, up, LLGConfig(temperature=300.0, dt_fs=0.25, alpha=0.1, unit_moment_muB=M),
            steps),
        "llg_atom_steps_per_s_classical_longitudinal": _rate(
            fitted_free, M * up, LLGConfig(temperature=300.0, dt_fs=0.25, alpha=0.1,
                                           longitudinal=True), steps),
    }
    for grade, key in (("accurate", "llg_atom_steps_per_s_mmace"),
                       ("mc", "llg_atom_steps_per_s_mmace_mcgrade")):
        ham = FrozenMMACEHamiltonian(FrozenModel.load(frozen_path("fe", grade)), mlat.positions,
                                     mlat.cell, mlat.pbc, mlat.numbers)
        rates[key] = _rate(ham, M * up, LLGConfig(temperature=300.0, dt_fs=0.25, alpha=0.1),
                           2 if args.quick else 5, repeats=1)
    log.info("rates %s", rates)

    labels, q = cubic_q_path(L, FE_A)
    t0 = time.perf_counter()
    spec = magnon_spectrum(pajda, lat.positions, lat.cell, labels, q, temperature=10.0,
                           unit_moment_muB=M, t_equil_fs=300.0 if args.quick else 1000.0,
                           t_prod_fs=1500.0 if args.quick else 6000.0)
    t_spec = time.perf_counter() - t0
    rel = spec.peak_mev / spec.lswt_mev - 1
    resolved = spec.lswt_mev > 20 * spec.resolution_mev       # peaks far above the grid step
    ad = {"pajda": adiabatic_magnons(pajda, lat.positions, q, 1.0, M),
          "fitted_heisenberg": adiabatic_magnons(fitted_unit, mlat.positions, q, 1.0, M)}
    for grade, key in (("mc", "mmace_fe_mc"), ("accurate", "mmace_fe")):
        ham = FrozenMMACEHamiltonian(FrozenModel.load(frozen_path("fe", grade)), mlat.positions,
                                     mlat.cell, mlat.pbc, mlat.numbers)
        ad[key] = adiabatic_magnons(ham, mlat.positions, q, M)
    from mmace_fast.compare.headtohead import dft_spirals
    dft = {tuple(np.round(d["q"], 6)): d["energy"] for d in dft_spirals(FE_A)}
    q_frac = np.round(q * FE_A / (2 * np.pi), 6)
    if (0.0, 0.0, 0.0) in dft:      # DFT spirals (moment lengths relaxed), where q matches
        e0 = dft[(0.0, 0.0, 0.0)]
        ad["dft_spirals"] = np.array([frozen_magnon_mev(dft[tuple(f)] - e0, M)
                                      if tuple(f) in dft else np.nan for f in q_frac])
    header = f"{'q':>9} {'LSWT':>7} {'S(q,w)':>7} " + " ".join(f"{k:>17}" for k in ad)
    lines = [header] + [
        f"{lab:>9} {e:7.1f} {pk:7.1f} " + " ".join(f"{ad[k][i]:17.1f}" for k in ad)
        for i, (lab, e, pk) in enumerate(zip(labels, spec.lswt_mev, spec.peak_mev))]
    log.info("magnon energies (meV), Pajda LSWT and S(q, omega) peaks at 10 K, adiabatic of "
             "every model:\n%s", "\n".join(lines))
    out = dict(quick=args.quick, L=L, n_atoms=n, moment_muB=M, **rates,
               magnon_max_rel_dev_lswt=float(np.abs(rel).max()),
               magnon_mean_abs_rel_dev_lswt=float(np.abs(rel).mean()),
               magnon_max_rel_dev_lswt_resolved=float(np.abs(rel[resolved]).max()),
               magnon_max_abs_dev_mev=float(np.abs(spec.peak_mev - spec.lswt_mev).max()),
               magnon_resolution_mev=spec.resolution_mev, magnon_spectrum=spec.as_dict(),
               magnon_spectrum_wall_s=t_spec,
               adiabatic_magnons_mev={k: [None if np.isnan(x) else float(x) for x in v]
                                      for k, v in ad.items()},
               wall_s=time.perf_counter() - t_wall)
    if args.mmace:
        out.update(mmace_spectrum(args.quick, args.mmace_workdir, M))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out))
    return 0


#: cone angle (degrees) of the small-angle frozen magnons: the linear spin-wave reference
SMALL_CONE_DEG = 5.0


def mmace_spectrum(quick: bool, workdir: Path, M: float) -> dict:
    """S(q, omega) peaks of the Monte Carlo grade Fe mMACE beside its adiabatic magnons and
    the DFT spirals on the same q (meV), and their largest relative deviation."""
    from mmace_fast.compare.headtohead import dft_spirals
    from mmace_fast.export import FrozenModel
    from mmace_fast.mc.lattice import material_lattice
    from mmace_fast.mc.mmace_hamiltonian import FrozenMMACEHamiltonian
    from mmace_fast.models import frozen_path
    L = 4 if quick else 8
    lat = material_lattice("bcc_Fe", L, FE_A)
    ham = FrozenMMACEHamiltonian(FrozenModel.load(frozen_path("fe", "mc")), lat.positions,
                                 lat.cell, lat.pbc, lat.numbers)
    labels, q = cubic_q_path(L, FE_A)
    start = np.tile([0.0, 0.0, M], (lat.n_sites, 1))
    t0 = time.perf_counter()
    spec = magnon_spectrum(ham, lat.positions, lat.cell, labels, q, 10.0, 1.0, length=M,
                           dt_fs=0.25, t_equil_fs=100.0 if quick else 500.0,
                           t_prod_fs=400.0 if quick else 4000.0,
                           workdir=None if quick else workdir, start=start)
    wall = time.perf_counter() - t0
    adiabatic = adiabatic_magnons(ham, lat.positions, q, M)
    small = adiabatic_magnons(ham, lat.positions, q, M, cone_deg=SMALL_CONE_DEG)
    dft = {tuple(np.round(d["q"], 6)): d["energy"] for d in dft_spirals(FE_A)}
    q_frac = np.round(q * FE_A / (2 * np.pi), 6)
    dft_mev = np.array([frozen_magnon_mev(dft[tuple(f)] - dft[(0.0, 0.0, 0.0)], M)
                        if tuple(f) in dft and (0.0, 0.0, 0.0) in dft else np.nan
                        for f in q_frac])
    rel = spec.peak_mev / small - 1
    resolved = small > 20 * spec.resolution_mev
    log.info("mMACE (fe_mc) magnons at 10 K, L = %d (meV): q, S(q, w) peak, small-angle and "
             "planar frozen magnons, DFT planar spirals\n%s", L,
             "\n".join(f"{lab:>9} {pk:7.1f} {sm:7.1f} {ad:7.1f} {d:7.1f}" for lab, pk, sm, ad, d
                       in zip(labels, spec.peak_mev, small, adiabatic, dft_mev)))
    return {"mmace_magnon_L": L, "mmace_magnon_spectrum": spec.as_dict(),
            "mmace_magnon_small_angle_mev": [float(x) for x in small],
            "mmace_magnon_planar_mev": [float(x) for x in adiabatic],
            "mmace_magnon_dft_mev": [None if np.isnan(x) else float(x) for x in dft_mev],
            "mmace_magnon_max_rel_dev_small_angle_resolved": float(np.abs(rel[resolved]).max())
            if resolved.any() else None,
            "mmace_magnon_mean_abs_rel_dev_small_angle": float(np.abs(rel).mean()),
            "mmace_magnon_max_rel_dev_planar": float(np.abs(spec.peak_mev / adiabatic
                                                            - 1).max()),
            "mmace_magnon_wall_s": wall}


if __name__ == "__main__":
    raise SystemExit(main())
