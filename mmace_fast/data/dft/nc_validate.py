"""Finite-difference validation of the non-collinear constraint labels (see noncollinear.py).

Runs a canted, slightly distorted Fe2 cell five times (centre, atom displaced +-h, one target
direction rotated +-dtheta) at reduced settings (the consistency of the labels is a property of
the method, not of the cutoff) and writes one JSON summary:

    python -m mmace_fast.data.dft.nc_validate --out dft_runs/nc_check/result.json

Checks:
  position, penalised energy  -(Ep(+h) - Ep(-h)) / 2h  vs  F_centre          (fixed targets u)
  position, label energy      E(+h) - E(-h)  vs  -<F>.dx - sum_a <magF_a>.(M_a(+) - M_a(-))
  rotation, label energy      E(+) - E(-)    vs  -sum_a <magF_a>.(M_a(+) - M_a(-))
with <.> the mean of the two end points (trapezoid rule, second-order accurate), E = REF_energy
(penalty not included), magF = REF_magforces, M = REF_magmom.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
from ase import Atoms

from .noncollinear import run_noncollinear
from .settings import get_settings

log = logging.getLogger(__name__)


def fe2_canted(a: float = get_settings("fe").lattice_a) -> tuple[Atoms, np.ndarray]:
    atoms = Atoms("Fe2", positions=[[0, 0, 0], [0.5 * a + 0.04, 0.5 * a - 0.03, 0.5 * a + 0.02]],
                  cell=np.eye(3) * a, pbc=True)
    th = np.radians(60.0)
    u = np.array([[0, 0, 1.0], [np.sin(th), 0, np.cos(th)]])
    return atoms, u


def rotate_y(u: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    r = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return u @ r.T


def _trap(f_p, f_m, d):
    return -0.5 * float(np.sum((np.asarray(f_p) + np.asarray(f_m)) * np.asarray(d)))


def validate(outdir: Path, h: float = 0.01, dtheta_deg: float = 2.0, ecut: float = 400.0,
             kpts=(4, 4, 4), penalty: float = 0.8) -> dict:
    st = dataclasses.replace(get_settings("fe"), ecut_ev=ecut)
    kp = {"size": list(kpts), "gamma": True}
    atoms, u = fe2_canted()
    outdir.mkdir(parents=True, exist_ok=True)

    def run(tag, at, uu):
        fr, _ = run_noncollinear(at, st, uu, penalty, st.start_moment,
                                 txt=str(outdir / f"{tag}.txt"), kpts=kp)
        log.info("%s E=%.6f Epen=%.6f (gpaw %.6f) angles=%s", tag, fr.info["REF_energy"],
                 fr.info["penalty_energy"], fr.info["penalty_energy_gpaw"],
                 fr.info["angle_to_target_deg"])
        return fr

    c = run("centre", atoms, u)
    ap, am = atoms.copy(), atoms.copy()
    ap.positions[1, 0] += h
    am.positions[1, 0] -= h
    xp, xm = run("x_plus", ap, u), run("x_minus", am, u)
    dth = np.radians(dtheta_deg)
    up, um = u.copy(), u.copy()
    up[1] = rotate_y(u[1:2], dth)[0]
    um[1] = rotate_y(u[1:2], -dth)[0]
    rp, rm = run("rot_plus", atoms, up), run("rot_minus", atoms, um)

    def ef(fr, key="REF_energy"):
        return float(fr.info[key])

    dx = np.zeros((2, 3))
    dx[1, 0] = 2 * h
    res = {
        "settings": {"ecut_ev": ecut, "kpts": list(kpts), "penalty_ev": penalty, "h_A": h,
                     "dtheta_deg": dtheta_deg, "xc": st.xc},
        "centre": {"E": ef(c), "E_pen": ef(c, "penalty_energy"),
                   "E_pen_gpaw": ef(c, "penalty_energy_gpaw"),
                   "F_1x": float(c.arrays["REF_forces"][1, 0]),
                   "magmom": c.arrays["REF_magmom"].tolist(),
                   "magforces": c.arrays["REF_magforces"].tolist(),
                   "angles_deg": np.asarray(c.info["angle_to_target_deg"]).tolist()},
        "position": {
            "F_analytic": float(c.arrays["REF_forces"][1, 0]),
            "F_fd_penalised": -(ef(xp, "energy_with_penalty") - ef(xm, "energy_with_penalty"))
            / (2 * h),
            "F_fd_label_only": -(ef(xp) - ef(xm)) / (2 * h),
            "dE_label": ef(xp) - ef(xm),
            "dE_predicted": _trap(xp.arrays["REF_forces"], xm.arrays["REF_forces"], dx)
            + _trap(xp.arrays["REF_magforces"], xm.arrays["REF_magforces"],
                    xp.arrays["REF_magmom"] - xm.arrays["REF_magmom"]),
        },
        "rotation": {
            "dE_label": ef(rp) - ef(rm),
            "dE_predicted": _trap(rp.arrays["REF_magforces"], rm.arrays["REF_magforces"],
                                  rp.arrays["REF_magmom"] - rm.arrays["REF_magmom"]),
            "dE_penalised": ef(rp, "energy_with_penalty") - ef(rm, "energy_with_penalty"),
        },
        "wall_time_s": float(sum(f.info["wall_time_s"] for f in (c, xp, xm, rp, rm))),
    }
    (outdir / "result.json").write_text(json.dumps(res, indent=1))
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--outdir", default="dft_runs/nc_check")
    p.add_argument("--ecut", type=float, default=400.0)
    p.add_argument("--k", type=int, default=4)
    p.add_argument("--penalty", type=float, default=0.8)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    res = validate(Path(args.outdir), ecut=args.ecut, kpts=(args.k,) * 3, penalty=args.penalty)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
