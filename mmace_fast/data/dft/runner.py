"""Run ONE GPAW calculation for one configuration spec and write one extended-XYZ frame.

Meant to run in its own process (``python -m mmace_fast.data.dft.runner SPEC OUT``) so that a
crash, a hang or a memory blow-up of one calculation cannot take the queue down. The frame is
written to ``OUT + '.tmp'`` and renamed, so a file at ``OUT`` is always complete. On failure a
JSON file ``OUT + '.error.json'`` describes the error and the exit status is non-zero.

Labels written (units of :mod:`mmace_fast.conventions`):
  info  REF_energy     free energy (force_consistent=True), eV
        REF_stress     [3, 3] eV/A^3, ASE sign (positive = tensile), periodic cells only
  arrays REF_forces    [n, 3] eV/A
        REF_magmom     [n, 3] muB; collinear runs: (0, 0, m_i), m_i the converged local moments
        REF_magforces  [n, 3] eV/muB and REF_magforces_mask [n, 3] (0/1): only where defined, see
                       :func:`collinear_magforces`
Specs with ``order = "NC"`` run the constrained non-collinear path (:mod:`.noncollinear`; no
stress); for a spin-orbit material (``settings.soc``, L1_0 FePt) that path adds GPAW's
self-consistent SOC, and every spec of such a material must be ``NC`` (no collinear run).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import sys
import time
import traceback
from pathlib import Path

import numpy as np
from ase import Atoms

from .settings import MaterialSettings, get_settings, gpaw_parameters
from .structures import build_atoms

log = logging.getLogger(__name__)


def configure_gpaw_environment() -> str:
    """Point GPAW at the gpaw-data setups and pin one thread; returns the setup path.

    GPAW 26.7 finds the ``gpaw_data`` package by itself, but a user's ~/.gpaw/rc.py or an
    inherited GPAW_SETUP_PATH could put other setups first; the generator sets
    GPAW_SETUP_PATH to gpaw_data.datapath() explicitly so that every frame uses the same
    setups. Must run before ``import gpaw``."""
    import gpaw_data  # noqa: PLC0415

    path = str(gpaw_data.datapath())
    os.environ["GPAW_SETUP_PATH"] = path
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    return path


def collinear_magforces(n_atoms: int) -> tuple[np.ndarray, np.ndarray]:
    """Magnetic forces of a converged collinear, unconstrained, non-SOC SCF state.

    A self-consistent state is stationary with respect to every variation of the
    magnetisation density, hence of the local moments: -dE/dm_i = 0 longitudinally (the moment
    length is relaxed) and transversally (without SOC a collinear state has no torque). The
    label is therefore zero with every component defined (mask all ones). Returns
    (magforces [n, 3] eV/muB, mask [n, 3] int)."""
    return np.zeros((n_atoms, 3)), np.ones((n_atoms, 3), dtype=int)


def kpoint_mesh(atoms: Atoms, st: MaterialSettings) -> list[int]:
    """Monkhorst-Pack sizes that GPAW derives from ``{'density': D, 'gamma': True}``."""
    from ase.calculators.calculator import kpts2sizeandoffsets  # noqa: PLC0415

    size, _ = kpts2sizeandoffsets(density=st.kpts_density, gamma=st.kpts_gamma, atoms=atoms)
    return [int(s) for s in size]


def provenance(calc, setup_path: str) -> dict:
    """Versions of GPAW, ASE, gpaw-data and the fingerprints of the setups used."""
    import ase  # noqa: PLC0415
    import gpaw  # noqa: PLC0415
    import gpaw_data  # noqa: PLC0415

    setups = {}
    for s in calc.setups:
        fname = Path(getattr(s, "filename", "") or "").name
        setups[s.symbol] = f"{fname}:{s.fingerprint}"
    return {
        "gpaw_version": gpaw.__version__,
        "ase_version": ase.__version__,
        "gpaw_data_version": gpaw_data.__version__,
        "setup_path": setup_path,
        "setups": ";".join(f"{k}={v}" for k, v in sorted(setups.items())),
        "host": platform.node(),
    }


def run_calculation(atoms: Atoms, st: MaterialSettings, txt: str | None) -> tuple[Atoms, dict]:
    """Run GPAW on ``atoms`` (initial moments set); return a label-carrying Atoms + timings."""
    setup_path = configure_gpaw_environment()
    from gpaw import GPAW  # noqa: PLC0415

    m0 = atoms.get_initial_magnetic_moments().copy()                    # [n] muB
    if m0.ndim != 1:
        raise ValueError("run_calculation is collinear: initial moments must be [n]")
    work = atoms.copy()
    work.calc = GPAW(**gpaw_parameters(st, txt=txt))
    t0 = time.perf_counter()
    e_free = work.get_potential_energy(force_consistent=True)          # eV
    e_extrap = work.get_potential_energy()                              # eV (sigma -> 0)
    forces = work.get_forces()                                          # [n, 3] eV/A
    stress = work.get_stress(voigt=False) if work.pbc.all() else None  # [3, 3] eV/A^3
    wall = time.perf_counter() - t0
    calc = work.calc
    m = np.asarray(calc.get_magnetic_moments(), dtype=float)            # [n] muB
    out = Atoms(work.numbers, positions=work.positions, cell=work.cell, pbc=work.pbc)
    out.info.update({k: v for k, v in atoms.info.items() if k in ("config_id", "config_type")})
    out.info["REF_energy"] = float(e_free)
    out.info["energy_extrapolated"] = float(e_extrap)
    if stress is not None:
        out.info["REF_stress"] = np.asarray(stress, dtype=float)
    out.arrays["REF_forces"] = np.asarray(forces, dtype=float)
    mvec = np.zeros((len(out), 3))
    mvec[:, 2] = m
    out.arrays["REF_magmom"] = mvec
    mf, mask = collinear_magforces(len(out))
    out.arrays["REF_magforces"] = mf
    out.arrays["REF_magforces_mask"] = mask
    out.info["magforces_source"] = "scf_stationary_collinear"
    out.info["initial_magmoms"] = m0
    out.info["converged_magmoms"] = m
    out.info["total_magmom"] = float(calc.get_magnetic_moment())
    out.info["scf_iterations"] = int(calc.get_number_of_iterations())
    out.info["wall_time_s"] = float(wall)
    out.info["kpts_mesh"] = np.array(kpoint_mesh(work, st))
    out.info["noncollinear"] = False
    out.info["symmetry"] = "default"
    out.info.update(st.as_info())
    out.info.update(provenance(calc, setup_path))
    return out, {"wall_time_s": wall}


def write_atomic(atoms: Atoms, path: str | Path) -> None:
    """Write extended XYZ to ``path.tmp`` and rename onto ``path``."""
    from ase.io import write  # noqa: PLC0415

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    write(tmp, atoms, format="extxyz")
    os.replace(tmp, path)


def write_json_atomic(obj, path: str | Path) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=_json_default))
    os.replace(tmp, path)


def _json_default(x):
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    raise TypeError(type(x))


def atoms_from_spec_file(spec_path: str | Path) -> tuple[dict, Atoms]:
    """Spec JSON -> (spec, atoms). A spec with 'displace' = [atom, axis, dx_A] moves one atom
    after building (used for finite-difference checks)."""
    spec = json.loads(Path(spec_path).read_text())
    atoms = build_atoms(spec)
    if "displace" in spec:
        i, axis, dx = spec["displace"]
        atoms.positions[int(i), int(axis)] += float(dx)
        atoms.info["displace"] = np.array([float(i), float(axis), float(dx)])
    return spec, atoms


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Run one GPAW calculation for one spec.")
    p.add_argument("spec", help="spec JSON file")
    p.add_argument("out", help="output .extxyz path")
    p.add_argument("--txt", default=None, help="GPAW text log")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    err_path = Path(args.out + ".error.json")
    t0 = time.perf_counter()
    try:
        spec, atoms = atoms_from_spec_file(args.spec)
        st = get_settings(spec["material"])
        if spec["order"] == "SPIRAL":
            from .spirals import run_spiral  # noqa: PLC0415
            frame, _ = run_spiral(atoms, st, spec["q_cart_2pi_a"],
                                  float(spec.get("moment", st.start_moment)), args.txt,
                                  float(spec.get("a", st.lattice_a)))
        elif st.soc and spec["order"] != "NC":
            raise ValueError(f"{spec['id']}: {st.material} is a spin-orbit material; its specs "
                             f"must be non-collinear (order 'NC'), got {spec['order']!r}")
        elif spec["order"] == "NC":
            from .noncollinear import run_noncollinear  # noqa: PLC0415
            frame, _ = run_noncollinear(atoms, st, spec["directions"],
                                        float(spec.get("penalty_ev", 0.8)),
                                        float(spec.get("moment", st.start_moment)), args.txt)
        else:
            frame, _ = run_calculation(atoms, st, args.txt)
        frame.info["wall_time_total_s"] = time.perf_counter() - t0
        ru = resource.getrusage(resource.RUSAGE_SELF)
        frame.info["cpu_time_s"] = float(ru.ru_utime + ru.ru_stime)   # whole child process
        if "displace" in atoms.info:
            frame.info["displace"] = atoms.info["displace"]
        write_atomic(frame, args.out)
    except Exception as exc:  # noqa: BLE001  (recorded for the queue, then re-signalled)
        kind = type(exc).__name__
        if "ConvergenceError" in kind:
            reason = "scf_not_converged"
        else:
            reason = "error"
        write_json_atomic({"reason": reason, "exception": kind, "message": str(exc),
                           "traceback": traceback.format_exc(),
                           "wall_time_s": time.perf_counter() - t0}, err_path)
        log.error("calculation failed: %s: %s", kind, exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
