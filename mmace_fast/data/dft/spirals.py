"""Flat spin spirals of bcc Fe (LDA, GPAW's generalised Bloch theorem): energy-only test set.

A spiral with wave vector q has m(R) = |m| (cos(q.R), sin(q.R), 0) on the lattice sites R of the
1-atom primitive cell; GPAW 26.7 takes q in scaled (reciprocal-cell) coordinates,
``mode={'name': 'pw', 'ecut': ..., 'qspiral': q_c}``, initial moments along x, symmetry off.
Only energies and moments are defined (forces and stress crash in this mode). q = 0 is the
ferromagnet, q = H = (2 pi / a)(1, 0, 0) the B2-type antiferromagnet of the 2-atom cubic cell;
E(q) along Gamma-H and Gamma-N is the classic source of exchange constants. Gamma-P (added in
2026-12-06) reaches P = (2 pi / a)(1/2, 1/2, 1/2), where nearest neighbours are perpendicular
and second neighbours antiparallel: a non-collinear state no collinear cell can represent, and
the direction in which a model with an antiferromagnetic J2 goes soft.
"""
from __future__ import annotations

import numpy as np
from ase import Atoms

from .settings import MaterialSettings

#: high-symmetry points of bcc in Cartesian units of 2 pi / a
BCC_POINTS = {"G": (0.0, 0.0, 0.0), "H": (1.0, 0.0, 0.0), "N": (0.5, 0.5, 0.0),
              "P": (0.5, 0.5, 0.5)}


def q_scaled(atoms: Atoms, q_cart_2pi_a, a: float) -> np.ndarray:
    """q in Cartesian units of 2 pi / a -> scaled coordinates of ``atoms``' reciprocal cell
    (q_c[i] = q . a_i / 2 pi)."""
    q = np.asarray(q_cart_2pi_a, dtype=float) * 2 * np.pi / a             # [3] 1/A
    return atoms.cell.array @ q / (2 * np.pi)


#: path end points of the DFT spirals, in the order their specs are numbered (appending a path
#: keeps the ids of the earlier ones): Gamma-H, Gamma-N (2026-12-04), Gamma-P (2026-12-06)
SPIRAL_ENDS = ("H", "N", "P")


def spiral_path(n_per_segment: int = 5,
                ends: tuple[str, ...] = SPIRAL_ENDS) -> list[tuple[str, list[float]]]:
    """(label, q in 2 pi / a) along Gamma-``end`` for each of ``ends``, Gamma included once
    (as the first point of the first path)."""
    out = []
    for j, end in enumerate(ends):
        qe = np.array(BCC_POINTS[end])
        for k in range(0 if j == 0 else 1, n_per_segment + 1):
            x = k / n_per_segment
            out.append((f"G{end}_{x:.2f}", np.round(x * qe, 8).tolist()))
    return out


def run_spiral(atoms: Atoms, st: MaterialSettings, q_cart_2pi_a, moment: float,
               txt: str | None, a: float, kpts=None) -> tuple[Atoms, dict]:
    """One spiral SCF; returns an energy-only labelled Atoms."""
    from .noncollinear import check_functional  # noqa: PLC0415
    from .runner import configure_gpaw_environment, kpoint_mesh, provenance  # noqa: PLC0415

    check_functional(st)
    setup_path = configure_gpaw_environment()
    import time  # noqa: PLC0415

    from gpaw import FermiDirac  # noqa: PLC0415
    from gpaw.new.ase_interface import GPAW  # noqa: PLC0415

    if len(atoms) != 1:
        raise ValueError("spin spirals are run in the 1-atom primitive cell")
    q_c = q_scaled(atoms, q_cart_2pi_a, a)
    kp = kpts if kpts is not None else {"density": st.kpts_density, "gamma": st.kpts_gamma}
    work = Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    work.calc = GPAW(mode={"name": "pw", "ecut": st.ecut_ev, "qspiral": q_c.tolist()},
                     xc=st.xc, kpts=kp, occupations=FermiDirac(st.smearing_ev),
                     convergence={"energy": st.conv_energy, "density": st.conv_density},
                     symmetry="off", magmoms=[[moment, 0.0, 0.0]], txt=txt)
    t0 = time.perf_counter()
    e_free = work.get_potential_energy(force_consistent=True)
    wall = time.perf_counter() - t0
    calc = work.calc
    m_av = np.asarray(calc.get_non_collinear_magnetic_moments(), dtype=float)  # [1, 3] muB
    out = Atoms(work.numbers, positions=work.positions, cell=work.cell, pbc=work.pbc)
    out.info.update({k: v for k, v in atoms.info.items() if k in ("config_id", "config_type")})
    out.info["REF_energy"] = float(e_free)
    out.info["energy_extrapolated"] = float(work.get_potential_energy())
    out.arrays["REF_magmom"] = m_av          # moment of the atom at R = 0 (spiral frame)
    out.info["spiral"] = True
    out.info["qspiral_cart_2pi_over_a"] = np.asarray(q_cart_2pi_a, dtype=float)
    out.info["qspiral_scaled"] = q_c
    out.info["initial_magmoms"] = np.array([moment, 0.0, 0.0])
    out.info["converged_magmoms"] = m_av.ravel()
    out.info["scf_iterations"] = int(calc.get_number_of_iterations())
    out.info["wall_time_s"] = float(wall)
    out.info["kpts_mesh"] = (np.array(kpoint_mesh(work, st)) if kpts is None else np.zeros(3))
    out.info["noncollinear"] = True
    out.info["symmetry"] = "off"
    out.info.update(st.as_info())
    out.info.update(provenance(calc, setup_path))
    return out, {"wall_time_s": wall}
