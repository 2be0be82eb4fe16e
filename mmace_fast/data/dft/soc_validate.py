"""Finite-difference validation of the spin-orbit constrained labels (L1_0 FePt).

The same five-run check as :mod:`.nc_validate`, on a rattled 2-atom FePt cell with the Fe
moment held 50 deg from the c axis, where the only magnetic force on Fe is the
magnetocrystalline-anisotropy torque (one Fe per cell: no exchange torque), so the rotation
check tests the spin-orbit part of the labels alone:

    python -m mmace_fast.data.dft.soc_validate --outdir dft_fept_dev/soc_check

Runs: centre; the largest force component displaced by +-h; the Fe target rotated by
+-dtheta about y (polar angle 50 -/+ dtheta). Reduced cutoff and k mesh by default (the
consistency of the labels is a property of the method, not of the basis); everything else
(LDA, SOC, smearing, SCF criteria, penalty) as in the data. Checks, with <.> the mean of the
two end points (trapezoid rule) and E = REF_energy (penalty not included):

  position, penalised energy  -(Ep(+h) - Ep(-h)) / 2h  vs  F_centre          (fixed targets u)
  position, label energy      E(+h) - E(-h)  vs  -<F>.dx - sum_a <magF_a>.(M_a(+) - M_a(-))
  rotation, label energy      E(+) - E(-)    vs  -sum_a <magF_a>.(M_a(+) - M_a(-))
  rotation, Simpson           E(+) - E(-)    vs  (dtheta / 3) (tau(-) + 4 tau(0) + tau(+)),
                              tau = dE/dtheta = -magF_Fe . (y x M_Fe) from each run's labels

The anisotropy torque is small (~0.7 meV/rad here) and its angular dependence makes the
trapezoid rule err by a few per cent over 2 dtheta = 10 deg; Simpson's rule with the centre
run is the sharper test of the magnetic-force labels.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path

import numpy as np

from .noncollinear import run_noncollinear
from .settings import get_settings
from .structures import build_atoms, rotation_matrix

log = logging.getLogger(__name__)


def _trap(f_p, f_m, d) -> float:
    return -0.5 * float(np.sum((np.asarray(f_p) + np.asarray(f_m)) * np.asarray(d)))


def validate(outdir: Path, h: float = 0.01, dtheta_deg: float = 5.0, ecut: float = 400.0,
             kpts=(4, 4, 3), penalty: float = 0.8, theta_deg: float = 50.0) -> dict:
    st = dataclasses.replace(get_settings("fept"), ecut_ev=ecut)
    kp = {"size": list(kpts), "gamma": True}
    th = np.radians(theta_deg)
    u0 = np.array([np.sin(th), 0.0, np.cos(th)])
    spec = {"id": "fept-soccheck-000", "family": "soccheck", "material": "fept",
            "prototype": "l10_FePt", "cell": "l10_prim", "order": "NC",
            "directions": [u0.tolist()] * 2, "rattle": 0.05, "rattle_seed": 7,
            "strain": np.diag([0.01, -0.005, 0.0]).tolist()}
    atoms = build_atoms(spec)
    u = np.array([u0, u0])
    outdir.mkdir(parents=True, exist_ok=True)
    results_path = outdir / "runs.json"
    done = json.loads(results_path.read_text()) if results_path.exists() else {}

    def run(tag, at, uu):
        """One constrained SOC run; finished runs are kept in runs.json (resumable)."""
        if tag not in done:
            fr, _ = run_noncollinear(at, st, uu, penalty, st.start_moment,
                                     txt=str(outdir / f"{tag}.txt"), kpts=kp)
            done[tag] = {k: fr.info[k] for k in ("REF_energy", "energy_with_penalty",
                                                 "penalty_energy", "penalty_energy_gpaw",
                                                 "energy_spinorbit", "wall_time_s")}
            done[tag]["angle_to_target_deg"] = np.atleast_1d(
                fr.info["angle_to_target_deg"]).tolist()
            for k in ("REF_forces", "REF_magmom", "REF_magforces", "orbital_magmom"):
                done[tag][k] = fr.arrays[k].tolist()
            results_path.write_text(json.dumps(done, indent=1))
            log.info("%s %s", tag, {k: done[tag][k] for k in ("REF_energy", "penalty_energy",
                                                              "angle_to_target_deg")})
        return {k: (np.asarray(v) if isinstance(v, list) else v) for k, v in done[tag].items()}

    c = run("centre", atoms, u)
    i, k = np.unravel_index(np.argmax(np.abs(c["REF_forces"])), c["REF_forces"].shape)
    ap, am = atoms.copy(), atoms.copy()
    ap.positions[i, k] += h
    am.positions[i, k] -= h
    xp, xm = run("x_plus", ap, u), run("x_minus", am, u)
    dth = np.radians(dtheta_deg)
    up = u.copy()
    um = u.copy()
    up[0] = rotation_matrix([0, 1, 0], dth) @ u[0]
    um[0] = rotation_matrix([0, 1, 0], -dth) @ u[0]
    rp, rm = run("rot_plus", atoms, up), run("rot_minus", atoms, um)
    y = np.array([0.0, 1.0, 0.0])

    def torque(r):
        """dE/dtheta (eV/rad) of rotating the Fe moment about y: -magF_0 . (y x M_0)."""
        return -float(np.dot(r["REF_magforces"][0], np.cross(y, r["REF_magmom"][0])))
    dx = np.zeros((len(atoms), 3))
    dx[i, k] = 2 * h
    f_an = float(c["REF_forces"][i, k])
    res = {
        "settings": {"ecut_ev": ecut, "kpts": list(kpts), "penalty_ev": penalty, "h_A": h,
                     "dtheta_deg": dtheta_deg, "theta_deg": theta_deg, "xc": st.xc,
                     "soc": st.soc, "strain": spec["strain"], "rattle_A": spec["rattle"]},
        "centre": {k2: (v.tolist() if isinstance(v, np.ndarray) else v) for k2, v in c.items()},
        "position": {
            "atom": int(i), "axis": "xyz"[k],
            "F_analytic": f_an,
            "F_fd_penalised": -(xp["energy_with_penalty"] - xm["energy_with_penalty"]) / (2 * h),
            "F_fd_label_only": -(xp["REF_energy"] - xm["REF_energy"]) / (2 * h),
            "dE_label": xp["REF_energy"] - xm["REF_energy"],
            "dE_predicted": _trap(xp["REF_forces"], xm["REF_forces"], dx)
            + _trap(xp["REF_magforces"], xm["REF_magforces"],
                    xp["REF_magmom"] - xm["REF_magmom"]),
        },
        "rotation": {
            "dE_label": rp["REF_energy"] - rm["REF_energy"],
            "dE_predicted": _trap(rp["REF_magforces"], rm["REF_magforces"],
                                  rp["REF_magmom"] - rm["REF_magmom"]),
            "dE_penalised": rp["energy_with_penalty"] - rm["energy_with_penalty"],
            "torque_ev_rad": [torque(rm), torque(c), torque(rp)],
            "dE_predicted_simpson": dth / 3 * (torque(rm) + 4 * torque(c) + torque(rp)),
        },
        "wall_time_s": float(sum(r["wall_time_s"] for r in (c, xp, xm, rp, rm))),
    }
    (outdir / "result.json").write_text(json.dumps(res, indent=1))
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--outdir", default="dft_runs/soc_check")
    p.add_argument("--ecut", type=float, default=400.0)
    p.add_argument("--kpts", type=int, nargs=3, default=[4, 4, 3])
    p.add_argument("--penalty", type=float, default=0.8)
    p.add_argument("--dtheta", type=float, default=5.0)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    res = validate(Path(args.outdir), ecut=args.ecut, kpts=tuple(args.kpts),
                   penalty=args.penalty, dtheta_deg=args.dtheta)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
