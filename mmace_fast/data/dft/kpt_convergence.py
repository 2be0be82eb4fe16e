"""k-point convergence of magnetic energy differences at the protocol cutoff (ideal cells).

    python -m mmace_fast.data.dft.kpt_convergence --material crn --densities 3.5 5.0
    python -m mmace_fast.data.dft.kpt_convergence --material fept --mode collinear --densities ...
    python -m mmace_fast.data.dft.kpt_convergence --material fept --mode soc --densities ...

``collinear``: runs the ideal cells of the listed states at each k density (everything else from
settings.py; for a spin-orbit material the SOC is switched off, i.e. plain collinear LSDA with
GPAW's default symmetry) and writes E(state) - E(FM) per atom and the moments per density.
``soc`` (spin-orbit materials): the ideal primitive cell, ferromagnetic along each of ``--axes``
(non-collinear, SOC, Fe directions constrained, symmetry off: exactly the data's settings), and
the magnetocrystalline anisotropy E(axis) - E([001]) per formula unit and per atom.
``torque`` (spin-orbit materials, half the cost of ``soc``): ONE constrained run per density
with the Fe moment at polar angle ``--theta`` (default 45 deg) from c in the xz plane; the
labelled magnetic force gives the anisotropy torque dE/dtheta = -|M_Fe| magF_Fe . e_theta
(rotation at fixed length; Pt is unconstrained, its magnetic force is zero), which for
E = K1 sin^2 + K2 sin^4 is (K1 + 2 K2 sin^2) sin 2theta, i.e. K1 + K2 (the [100] - [001]
energy) at 45 deg.
``ordering`` (collinear, SOC off): each AFM state against FM computed *in the same cell* with
the same mesh (:data:`SAME_CELL_STATES`), so no k-sampling difference between a 2-atom and a
4-atom cell enters the difference.
Results go to ``<outdir>/result.json`` (rewritten after every calculation, so a partial run
keeps what it has). The protocol asks for differences within 1 meV/atom of a denser mesh.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path

import numpy as np

from .runner import kpoint_mesh, run_calculation
from .settings import get_settings
from .structures import FEPT_AXES, build_atoms

log = logging.getLogger(__name__)

STATES = {
    "crn": [("FM", "prim_fcc", "rocksalt_CrN"), ("NM", "prim_fcc", "rocksalt_CrN"),
            ("AFM1", "tet_afm1", "rocksalt_CrN")],
    "feal": [("FM", "cubic", "b2_FeAl"), ("NM", "cubic", "b2_FeAl")],
    "fe": [("FM", "cubic", "bcc_Fe"), ("AFM", "cubic", "bcc_Fe")],
    # L1_0 FePt, collinear without SOC: FM (2 atoms) and Fe layers alternating along c (4 atoms;
    # the AFM001 pattern puts Fe at z = 0 and z = c in opposite directions)
    "fept": [("FM", "l10_prim", "l10_FePt"), ("AFM001", "l10_prim_1x1x2", "l10_FePt")],
}

#: (cell, prototype, orders) computed in one cell each, FM first: FePt's layered AFM (Fe planes
#: alternating along c, across the Pt plane) and in-plane checkerboard (antiparallel nearest
#: Fe neighbours at a/sqrt2, the conventional fct cell; B2-type sign rule "AFM")
SAME_CELL_STATES = {
    "fept": [("l10_prim_1x1x2", "l10_FePt", ["FM", "AFM001"]),
             ("l10_conv", "l10_FePt", ["FM", "AFM"])],
}

#: ideal primitive cell of each spin-orbit material for the anisotropy test
SOC_CELLS = {"fept": ("l10_prim", "l10_FePt")}


def _moments(fr) -> list:
    m = fr.info["converged_magmoms"]
    return m.tolist() if hasattr(m, "tolist") else [m]


def _collinear_settings(material: str, density: float, ecut: float | None):
    """The material's settings at k density ``density`` with SOC off (and ``ecut`` eV)."""
    st = dataclasses.replace(get_settings(material), kpts_density=density, soc=False)
    return st if ecut is None else dataclasses.replace(st, ecut_ev=ecut)


def _ideal_state(material: str, st, cell: str, proto: str, order: str, txt: Path) -> dict:
    """One collinear ideal-cell calculation: energy per atom (eV), mesh, moments, wall time."""
    atoms = build_atoms({"id": f"k{st.kpts_density}-{cell}-{order}", "family": "kconv",
                         "material": material, "prototype": proto, "cell": cell,
                         "order": order})
    fr, _ = run_calculation(atoms, st, txt=str(txt))
    return {"E_per_atom": fr.info["REF_energy"] / len(fr), "mesh": kpoint_mesh(atoms, st),
            "moments": _moments(fr), "wall_s": fr.info["wall_time_s"]}


def run(material: str, densities: list[float], outdir: Path, ecut: float | None = None) -> dict:
    """Collinear magnetic energy differences (SOC off) per k density."""
    outdir.mkdir(parents=True, exist_ok=True)
    res: dict = {"material": material, "mode": "collinear", "soc": False,
                 "densities": densities, "states": {}}
    for d in densities:
        st = _collinear_settings(material, d, ecut)
        res["ecut_ev"] = st.ecut_ev
        row = {}
        for order, cell, proto in STATES[material]:
            row[order] = _ideal_state(material, st, cell, proto, order,
                                      outdir / f"D{d}_{order}.txt")
            log.info("D=%s %s %s", d, order, row[order])
        e_fm = row["FM"]["E_per_atom"]
        for k in row:
            row[k]["E_minus_FM_meV"] = 1000 * (row[k]["E_per_atom"] - e_fm)
        res["states"][str(d)] = row
        (outdir / "result.json").write_text(json.dumps(res, indent=1))
    return res


def run_ordering(material: str, densities: list[float], outdir: Path,
                 ecut: float | None = None) -> dict:
    """E(AFM) - E(FM) per atom with both states in the same cell and mesh (SOC off)."""
    if material not in SAME_CELL_STATES:
        raise SystemExit(f"no same-cell states for {material!r}; known: {sorted(SAME_CELL_STATES)}")
    outdir.mkdir(parents=True, exist_ok=True)
    res: dict = {"material": material, "mode": "ordering", "soc": False,
                 "densities": densities, "states": {}}
    for d in densities:
        st = _collinear_settings(material, d, ecut)
        res["ecut_ev"] = st.ecut_ev
        row: dict = {}
        for cell, proto, orders in SAME_CELL_STATES[material]:
            for order in orders:
                key = f"{cell}:{order}"
                row[key] = _ideal_state(material, st, cell, proto, order,
                                        outdir / f"D{d}_{cell}_{order}.txt")
                log.info("D=%s %s %s", d, key, row[key])
            e_fm = row[f"{cell}:FM"]["E_per_atom"]
            for order in orders:
                row[f"{cell}:{order}"]["E_minus_FM_meV"] = 1000 * (
                    row[f"{cell}:{order}"]["E_per_atom"] - e_fm)
            res["states"][str(d)] = row
            (outdir / "result.json").write_text(json.dumps(res, indent=1))
    return res


def run_anisotropy(material: str, densities: list[float], outdir: Path,
                   axes: tuple[str, ...] = ("001", "100"), ecut: float | None = None,
                   penalty_ev: float = 0.8) -> dict:
    """Self-consistent SOC, FM along each axis of :data:`FEPT_AXES`, per k density:
    E(axis) - E(first axis) in meV per formula unit (one magnetic atom per primitive cell)."""
    from .noncollinear import run_noncollinear  # noqa: PLC0415

    cell, proto = SOC_CELLS[material]
    outdir.mkdir(parents=True, exist_ok=True)
    res: dict = {"material": material, "mode": "soc", "soc": True, "axes": list(axes),
                 "densities": densities, "penalty_ev": penalty_ev, "states": {}}
    path = outdir / "result.json"
    target_ecut = ecut if ecut is not None else get_settings(material).ecut_ev
    if path.exists():                          # resume: keep finished (D, axis) results
        old = json.loads(path.read_text())
        if old.get("mode") == "soc" and old.get("ecut_ev") == target_ecut:
            res["states"] = old.get("states", {})
    for d in densities:
        st = dataclasses.replace(get_settings(material), kpts_density=d)
        if ecut is not None:
            st = dataclasses.replace(st, ecut_ev=ecut)
        res["ecut_ev"] = st.ecut_ev
        row = res["states"].setdefault(str(d), {})
        for axis in axes:
            if axis in row:
                continue
            u = np.asarray(FEPT_AXES[axis], dtype=float)
            atoms = build_atoms({"id": f"k{d}-{axis}", "family": "kconv", "material": material,
                                 "prototype": proto, "cell": cell, "order": "NC",
                                 "directions": [u.tolist()] * 2})
            fr, _ = run_noncollinear(atoms, st, [u] * len(atoms), penalty_ev, st.start_moment,
                                     txt=str(outdir / f"D{d}_{axis}.txt"))
            row[axis] = {"E": fr.info["REF_energy"], "E_per_atom": fr.info["REF_energy"] / len(fr),
                         "penalty_energy": fr.info["penalty_energy"],
                         "mesh": kpoint_mesh(atoms, st),
                         "magmom": fr.arrays["REF_magmom"].tolist(),
                         "orbital_magmom": fr.arrays["orbital_magmom"].tolist(),
                         "angle_to_target_deg": np.atleast_1d(
                             fr.info["angle_to_target_deg"]).tolist(),
                         "scf_iterations": fr.info["scf_iterations"],
                         "wall_s": fr.info["wall_time_s"]}
            log.info("D=%s %s E=%.6f", d, axis, row[axis]["E"])
            ref = row.get(axes[0])
            if ref is not None:
                for k in row:
                    n_fu = len(fr) // 2                       # FePt: 2 atoms per formula unit
                    row[k]["E_minus_first_meV_fu"] = 1000 * (row[k]["E"] - ref["E"]) / n_fu
                    row[k]["E_minus_first_meV_atom"] = 1000 * (row[k]["E"] - ref["E"]) / len(fr)
            path.write_text(json.dumps(res, indent=1))
    return res


def torque_per_fu(magmom, magforces, numbers, theta_deg: float, per_fu: int = 2) -> float:
    """dE/dtheta (meV per formula unit per radian) of a ferromagnetic cell whose moments are
    rotated together about y at fixed lengths, from the labelled magnetic forces:
    dE/dtheta = -sum_a magF_a . dM_a/dtheta with dM_a/dtheta = y x M_a (the moments move
    with the rotation; unconstrained atoms carry zero magnetic force)."""
    m = np.asarray(magmom, dtype=float)                                  # [n, 3] muB
    f = np.asarray(magforces, dtype=float)                               # [n, 3] eV/muB
    dm = np.cross(np.array([0.0, 1.0, 0.0]), m)                          # [n, 3] muB / rad
    n_fu = len(np.asarray(numbers)) / per_fu
    return float(-1e3 * np.sum(f * dm) / n_fu)


def run_torque(material: str, densities: list[float], outdir: Path, theta_deg: float = 45.0,
               ecut: float | None = None, penalty_ev: float = 0.8) -> dict:
    """Self-consistent SOC, FM at polar angle ``theta_deg`` in the xz plane, per k density:
    the anisotropy torque dE/dtheta (meV per formula unit) from the labelled magnetic force."""
    from .noncollinear import run_noncollinear  # noqa: PLC0415
    from .structures import polar_direction  # noqa: PLC0415

    cell, proto = SOC_CELLS[material]
    outdir.mkdir(parents=True, exist_ok=True)
    path = outdir / "result.json"
    target_ecut = ecut if ecut is not None else get_settings(material).ecut_ev
    res: dict = {"material": material, "mode": "torque", "soc": True, "theta_deg": theta_deg,
                 "densities": densities, "penalty_ev": penalty_ev, "ecut_ev": target_ecut,
                 "states": {}}
    if path.exists():                          # resume: keep finished densities
        old = json.loads(path.read_text())
        if (old.get("mode") == "torque" and old.get("ecut_ev") == target_ecut
                and old.get("theta_deg") == theta_deg):
            res["states"] = old.get("states", {})
    u = np.asarray(polar_direction(theta_deg), dtype=float)
    for d in densities:
        if str(d) in res["states"]:
            continue
        st = dataclasses.replace(get_settings(material), kpts_density=d, ecut_ev=target_ecut)
        atoms = build_atoms({"id": f"k{d}-th{theta_deg:g}", "family": "kconv",
                             "material": material, "prototype": proto, "cell": cell,
                             "order": "NC", "directions": [u.tolist()] * 2})
        fr, _ = run_noncollinear(atoms, st, [u] * len(atoms), penalty_ev, st.start_moment,
                                 txt=str(outdir / f"D{d}_th{theta_deg:g}.txt"))
        m, f = fr.arrays["REF_magmom"], fr.arrays["REF_magforces"]
        res["states"][str(d)] = {
            "torque_mev_fu": torque_per_fu(m, f, fr.numbers, theta_deg),
            "E_per_atom": fr.info["REF_energy"] / len(fr), "mesh": kpoint_mesh(atoms, st),
            "magmom": m.tolist(), "magforces": f.tolist(),
            "orbital_magmom": fr.arrays["orbital_magmom"].tolist(),
            "angle_to_target_deg": np.atleast_1d(fr.info["angle_to_target_deg"]).tolist(),
            "scf_iterations": fr.info["scf_iterations"], "wall_s": fr.info["wall_time_s"]}
        log.info("D=%s theta=%g torque %.4f meV/f.u.", d, theta_deg,
                 res["states"][str(d)]["torque_mev_fu"])
        path.write_text(json.dumps(res, indent=1))
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--material", default="crn")
    p.add_argument("--densities", type=float, nargs="+", default=[3.5, 5.0])
    p.add_argument("--mode", choices=("auto", "collinear", "soc", "torque", "ordering"),
                   default="auto", help="auto: soc for spin-orbit materials, else collinear")
    p.add_argument("--axes", nargs="+", default=["001", "100"], choices=sorted(FEPT_AXES))
    p.add_argument("--ecut", type=float, default=None, help="override the cutoff (eV)")
    p.add_argument("--theta", type=float, default=45.0, help="polar angle (deg) of --mode torque")
    p.add_argument("--outdir", default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    mode = args.mode
    if mode == "auto":
        mode = "soc" if get_settings(args.material).soc else "collinear"
    out = Path(args.outdir or f"dft_runs/kconv_{args.material}")
    if mode == "torque":
        res = run_torque(args.material, args.densities, out, args.theta, args.ecut)
    elif mode == "ordering":
        res = run_ordering(args.material, args.densities, out, args.ecut)
    elif mode == "soc":
        res = run_anisotropy(args.material, args.densities, out, tuple(args.axes), args.ecut)
    else:
        res = run(args.material, args.densities, out, args.ecut)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
