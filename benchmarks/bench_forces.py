"""Energy + forces + stress + magnetic forces: the C++ evaluator against the torch calculator.

    python benchmarks/bench_forces.py [--quick] [--out benchmarks/results/bench_forces.json]

Both through their ASE calculators on the same structures (the shipped accurate Fe mMACE and
the Monte Carlo grade one; bcc Fe supercells rattled by 0.03 A, random moment directions of
2.2 muB): :class:`mmace_fast.calculator.FrozenCalculator` (C++: neighbour list, evaluation and
one reverse pass) and :class:`mmace_fast.calculator.MMACECalculator` (PyTorch autograd), one
thread each, wall time per call (best of repeats; the first call of each is a warm-up).
Sizes: N = 2 000 (bcc L = 10) and 16 000 (L = 20); --quick N = 128 and 432. Figures:
forces_speedup_vs_torch (accurate model, N = 2 000; goal >= 30), the same at 16 000 and for
the Monte Carlo grade model, seconds per call, and the largest difference between the two
calculators' forces, stress and magnetic forces (they agree to rounding). The stochastic-LLG
rates (Pajda bcc Fe and the shipped Fe mMACE) are bench_spin_dynamics.py's; this benchmark
repeats them at N = 2 000 as llg_atom_steps_per_s_{classical,mmace}. The last stdout line is
one JSON object.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

log = logging.getLogger("bench_forces")


def _atoms(L: int, seed: int = 0):
    from ase.build import bulk
    atoms = bulk("Fe", "bcc", a=2.866, cubic=True).repeat((L, L, L))
    del atoms.arrays["initial_magmoms"]           # ase.build sets collinear moments on Fe
    rng = np.random.default_rng(seed)
    atoms.positions += rng.normal(0.0, 0.03, atoms.positions.shape)
    m = rng.normal(size=(len(atoms), 3))
    atoms.set_initial_magnetic_moments(2.2 * m / np.linalg.norm(m, axis=1)[:, None])
    return atoms


def _time(calc, atoms, repeats: int) -> tuple[float, dict]:
    """Best seconds per call of energy + forces + stress + magnetic forces (fresh results each
    call: the calculator's cache is reset), and the last results."""
    best = np.inf
    for r in range(repeats + 1):
        calc.reset()
        t0 = time.perf_counter()
        calc.calculate(atoms, ["energy", "forces", "stress", "magforces"], ["positions"])
        dt = time.perf_counter() - t0
        if r > 0:
            best = min(best, dt)
    return best, dict(calc.results)


def _max_diff(a: dict, b: dict) -> dict:
    return {k: float(np.abs(np.asarray(a[k]) - np.asarray(b[k])).max())
            for k in ("energy", "forces", "stress", "magforces")}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="N = 128 and 432 (< 1 min)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    import torch
    torch.set_num_threads(1)
    from mmace_fast.models import frozen_calculator, torch_calculator
    sizes = (4, 6) if args.quick else (10, 20)
    res = {"quick": args.quick, "threads": 1, "sizes": [2 * L ** 3 for L in sizes]}
    t_wall = time.perf_counter()
    for grade, tag in (("accurate", ""), ("mc", "_mcgrade")):
        for k, L in enumerate(sizes):
            atoms = _atoms(L)
            n = len(atoms)
            reps = args.repeats if n <= 2000 else 1
            t_cpp, r_cpp = _time(frozen_calculator("fe", grade), atoms, reps)
            t_torch, r_torch = _time(torch_calculator("fe", grade), atoms, reps)
            size = "" if k == 0 else "_large"
            res[f"forces_s_cpp{tag}{size}"] = t_cpp
            res[f"forces_s_torch{tag}{size}"] = t_torch
            res[f"forces_speedup_vs_torch{tag}{size}"] = t_torch / t_cpp
            res[f"max_abs_diff{tag}{size}"] = _max_diff(r_cpp, r_torch)
            log.info("%s N=%d: C++ %.3f s, torch %.3f s, speedup %.1f; max diff %s", grade, n,
                     t_cpp, t_torch, t_torch / t_cpp, res[f"max_abs_diff{tag}{size}"])
    res.update(_llg_rates(args.quick))
    res["wall_s"] = time.perf_counter() - t_wall
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res))
    return 0


def _llg_rates(quick: bool) -> dict:
    """Atom-steps per second of stochastic LLG at 300 K: Pajda's bcc Fe and the shipped Fe
    mMACE (fixed |m| = 2.2 muB), bcc L = 10 (--quick L = 6)."""
    from mmace_fast.dynamics import LLGConfig
    from mmace_fast.export import FrozenModel
    from mmace_fast.mc.lattice import material_lattice
    from mmace_fast.mc.mmace_hamiltonian import FrozenMMACEHamiltonian
    from mmace_fast.mc.presets import pajda_bcc_fe
    from mmace_fast.models import frozen_path
    L = 6 if quick else 10
    out = {}
    pajda, lat = pajda_bcc_fe(L)
    up = np.tile([0.0, 0.0, 1.0], (lat.n_sites, 1))
    out["llg_atom_steps_per_s_classical"] = _llg_rate(
        pajda, up, LLGConfig(temperature=300.0, dt_fs=0.25, alpha=0.1, unit_moment_muB=2.2),
        50 if quick else 300)
    mlat = material_lattice("bcc_Fe", L, 2.866)
    for grade, key in (("accurate", "llg_atom_steps_per_s_mmace"),
                       ("mc", "llg_atom_steps_per_s_mmace_mcgrade")):
        ham = FrozenMMACEHamiltonian(FrozenModel.load(frozen_path("fe", grade)), mlat.positions,
                                     mlat.cell, mlat.pbc, mlat.numbers)
        out[key] = _llg_rate(ham, 2.2 * up, LLGConfig(temperature=300.0, dt_fs=0.25, alpha=0.1),
                             2 if quick else 5)
    out["llg_L"] = L
    return out


def _llg_rate(ham, start, cfg, n_steps: int) -> float:
    from mmace_fast.dynamics import SpinDynamics
    dyn = SpinDynamics(ham, start, cfg)
    dyn.core.run(1, 0)
    t0 = time.perf_counter()
    dyn.core.run(n_steps, 0)
    return n_steps * ham.n_sites / (time.perf_counter() - t0)


if __name__ == "__main__":
    raise SystemExit(main())
