"""Command line: spin dynamics and magnons of the classical spin models and the frozen mMACE
(torch-free).

    mmace dynamics run --model pajda-fe --L 8 --temperature 300 --time-fs 2000 --out runs/llg
    mmace dynamics run --model fitted --material fe --longitudinal --temperature 600 --out runs/llg
    mmace dynamics run --model mmace --material fe --grade mc --longitudinal --out runs/llg_mmace
    mmace dynamics magnons --model pajda-fe --L 10 --temperature 10 --out runs/magnons

Models: ``pajda-fe`` (Pajda et al.'s bcc Fe exchange, unit vectors of the DFT moment) or
``fitted`` (the Heisenberg-plus-anisotropy baseline fitted to a material's data: the shipped
data of --material, or your own with --data; unit vectors of the fitted moment, or with
--longitudinal moment vectors in muB with the fitted Landau terms). ``run`` writes an extended
XYZ trajectory (moments in muB), a checkpoint (a rerun resumes, a changed request is refused)
and summary.json (time averages with block errors); ``magnons`` writes magnons.json with the
S(q, omega) peaks beside linear spin-wave theory (for the pair models; the peaks alone for
``mmace``). ``mmace``: the shipped frozen model of --material (``--grade accurate`` or ``mc``),
moment vectors in muB starting ferromagnetic at the data's moment; its magnetic forces come
from the C++ reverse pass.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

log = logging.getLogger("mmace_fast.dynamics")


def build_model(model: str, L: int, material: str = "fe", data=None, longitudinal=False,
                grade: str = "accurate"):
    """(Hamiltonian, positions [n, 3] A, cell [3, 3] A, symbols [n], start [n, 3],
    unit_moment_muB, cubic cell side a) of a named model on L^3 conventional cells."""
    from mmace_fast.materials import get as get_material  # noqa: PLC0415

    if model == "mmace":
        from ase.data import chemical_symbols  # noqa: PLC0415

        from mmace_fast.mc.lattice import material_lattice  # noqa: PLC0415
        from mmace_fast.mc.mmace_hamiltonian import FrozenMMACEHamiltonian  # noqa: PLC0415
        from mmace_fast.models import load_frozen  # noqa: PLC0415

        if data is not None:
            raise ValueError("--data is for --model fitted; mmace uses the shipped model")
        mat = get_material(material)
        lat = material_lattice(mat.prototype, L, mat.a)
        ham = FrozenMMACEHamiltonian(load_frozen(material, grade), lat.positions, lat.cell,
                                     lat.pbc, lat.numbers)
        lengths = {int(z): (_data_moment(material) if int(z) in mat.magnetic else 0.0)
                   for z in set(np.asarray(lat.numbers).tolist())}
        start = np.array([[0.0, 0.0, lengths[int(z)]] for z in lat.numbers])
        return (ham, lat.positions, lat.cell, [chemical_symbols[int(z)] for z in lat.numbers],
                start, 1.0, mat.a)

    if model == "pajda-fe":
        if longitudinal:
            raise ValueError("Pajda's model has fixed moment lengths (no --longitudinal)")
        from mmace_fast.mc.presets import FE_A, pajda_bcc_fe  # noqa: PLC0415

        ham, lat = pajda_bcc_fe(L)
        unit = _data_moment("fe")
        return (ham, lat.positions, lat.cell, ["Fe"] * lat.n_sites,
                np.tile([0.0, 0.0, 1.0], (lat.n_sites, 1)), unit, FE_A)
    if model == "fitted":
        from mmace_fast.baseline import fit_material, to_spin_hamiltonian  # noqa: PLC0415
        from mmace_fast.mc.lattice import material_lattice  # noqa: PLC0415

        mat = get_material(material)
        fit = fit_material(material, data_path=None if data is None else str(data))
        lat = material_lattice(mat.prototype, L, mat.a)
        moments = {int(z): float(m) for z, m in dict(fit.moments).items()}
        ham = to_spin_hamiltonian(fit.model, lat, moment_lengths=None if longitudinal
                                  else moments)
        sites = getattr(ham, "sites", np.arange(lat.n_sites))
        numbers = np.asarray(lat.numbers)[sites]
        from ase.data import chemical_symbols  # noqa: PLC0415

        if longitudinal:
            start = np.array([[0.0, 0.0, moments[int(z)]] for z in numbers])
            unit = 1.0
        else:
            if len(set(moments.values())) > 1:
                raise ValueError("unit-vector dynamics needs one moment length for every "
                                 f"magnetic species (fitted: {moments}): use --longitudinal")
            start = np.tile([0.0, 0.0, 1.0], (len(sites), 1))
            unit = next(iter(moments.values()))
        return (ham, np.asarray(lat.positions)[sites], lat.cell,
                [chemical_symbols[int(z)] for z in numbers], start, unit, mat.a)
    raise ValueError(f"unknown model {model!r} (pajda-fe, fitted or mmace)")


def _data_moment(material: str) -> float:
    """muB: the moment of the material's shipped data (the fitted baseline's moment)."""
    from mmace_fast.baseline import fit_material  # noqa: PLC0415

    return float(next(iter(dict(fit_material(material).moments).values())))


def _block(x, n_blocks=20):
    x = np.asarray(x, dtype=float)
    if len(x) < 2 * n_blocks:
        return float(x.mean()) if len(x) else float("nan"), float("nan")
    b = x[: len(x) // n_blocks * n_blocks].reshape(n_blocks, -1).mean(axis=1)
    return float(b.mean()), float(b.std(ddof=1) / np.sqrt(n_blocks))


def _run(args) -> int:
    from ase import Atoms  # noqa: PLC0415

    from mmace_fast.dynamics.llg import LLGConfig, SpinDynamics  # noqa: PLC0415

    ham, pos, cell, symbols, start, unit, _ = build_model(args.model, args.L, args.material,
                                                          args.data, args.longitudinal,
                                                          args.grade)
    cfg = LLGConfig(temperature=args.temperature, dt_fs=args.dt, alpha=args.alpha,
                    longitudinal=args.longitudinal, unit_moment_muB=unit, seed=args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    every = max(1, int(round(args.sample_fs / args.dt)))
    n_steps = int(round(args.time_fs / args.dt / every)) * every
    atoms = Atoms(symbols, positions=pos, cell=cell, pbc=True)
    dyn = SpinDynamics(ham, start, cfg)
    s = dyn.run(n_steps, every, checkpoint=out / "checkpoint.npz",
                trajectory=out / "trajectory.extxyz" if args.trajectory_every else None,
                trajectory_every=args.trajectory_every, atoms=atoms)
    n = ham.n_sites
    k0 = int(len(s.energy) * args.discard)
    e, de = _block(s.energy[k0:] / n)
    m, dm = _block(np.linalg.norm(s.M[k0:], axis=1) * unit)
    summary = dict(model=args.model, material=args.material, L=args.L, n_sites=n,
                   settings=dict(vars(cfg), eta=dyn.core.get_settings()["eta"]),
                   steps=dyn.steps, time_fs=dyn.time_fs, samples=len(s.energy),
                   discarded_fraction=args.discard, energy_per_site_ev=e,
                   energy_per_site_err_ev=de, magnetisation_muB=m, magnetisation_err_muB=dm,
                   errors="block errors of 20 blocks (no autocorrelation check: a bound)")
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"{args.model} L={args.L} T={args.temperature} K, {dyn.time_fs:.0f} fs: "
          f"E/site = {e:.5f} +- {de:.5f}+ eV, |M| = {m:.4f} +- {dm:.4f}+ muB per site "
          "(block errors without an autocorrelation check: lower bounds)")
    return 0


def _magnons(args) -> int:
    from mmace_fast.dynamics.magnons import cubic_q_path, magnon_spectrum  # noqa: PLC0415

    ham, pos, cell, _, start, unit, a = build_model(args.model, args.L, args.material, args.data,
                                                    grade=args.grade)
    labels, q = cubic_q_path(args.L, a)
    out = Path(args.out)
    spec = magnon_spectrum(ham, pos, cell, labels, q, args.temperature, unit, dt_fs=args.dt,
                           alpha=args.alpha, t_equil_fs=args.equil_fs, t_prod_fs=args.time_fs,
                           seed=args.seed, workdir=out, start=start,
                           length=float(np.linalg.norm(start, axis=1).max()))
    (out / "magnons.json").write_text(json.dumps(spec.as_dict(), indent=1) + "\n")
    print(f"magnons of {args.model} (L = {args.L}, {args.temperature} K; resolution "
          f"{spec.resolution_mev:.2f} meV)")
    print(f"{'q (2 pi / a)':>14} {'S(q,w) peak':>12} {'LSWT':>8}  (meV)")
    for lab, pk, e in zip(labels, spec.peak_mev, spec.lswt_mev if spec.lswt_mev is not None
                          else [float("nan")] * len(labels)):
        print(f"{lab:>14} {pk:12.1f} {e:8.1f}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="mmace dynamics", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, help_ in (("run", "a trajectory: time averages, extxyz, checkpoint"),
                        ("magnons", "S(q, omega) peaks against linear spin-wave theory")):
        s = sub.add_parser(name, help=help_)
        s.add_argument("--model", default="pajda-fe", choices=("pajda-fe", "fitted", "mmace"))
        s.add_argument("--material", default="fe",
                       help="registry material of --model fitted or mmace")
        s.add_argument("--grade", default="accurate", choices=("accurate", "mc"),
                       help="which shipped mMACE (--model mmace)")
        s.add_argument("--data", default=None, help="your own data (extxyz) for --model fitted")
        s.add_argument("--L", type=int, default=8, help="conventional cells per side")
        s.add_argument("--temperature", type=float, default=300.0 if name == "run" else 10.0)
        s.add_argument("--dt", type=float, default=0.125, help="time step (fs)")
        s.add_argument("--alpha", type=float, default=0.1 if name == "run" else 0.005,
                       help="Gilbert damping")
        s.add_argument("--time-fs", type=float, default=2000.0 if name == "run" else 4000.0,
                       help="length of the (production) run, fs")
        s.add_argument("--seed", type=int, default=0)
        s.add_argument("--out", required=True)
        if name == "run":
            s.add_argument("--longitudinal", action="store_true",
                           help="free moment lengths (Ma-Dudarev), --model fitted or mmace")
            s.add_argument("--sample-fs", type=float, default=1.0)
            s.add_argument("--trajectory-every", type=int, default=100,
                           help="samples between trajectory frames (0: none)")
            s.add_argument("--discard", type=float, default=0.2,
                           help="fraction of the samples left out of the averages")
        else:
            s.add_argument("--equil-fs", type=float, default=1000.0)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.cmd == "magnons":
        args.longitudinal = False
    try:
        return _run(args) if args.cmd == "run" else _magnons(args)
    except ValueError as exc:
        p.error(str(exc))
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
