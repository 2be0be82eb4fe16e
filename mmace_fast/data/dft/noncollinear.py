"""Non-collinear LDA calculations with GPAW's spin-direction constraint, and their labels.

GPAW 26.7 (``gpaw.new.constraints.SpinDirectionConstraint``) adds, per constrained atom a with
target direction u_a (unit vector) and strength lambda (``penalty``, eV per muB^2), the penalty

    P_a = lambda * (|M_a|^2 - (u_a . M_a)^2) = lambda * |M_a,perp|^2,

where M_a is the PAW-sphere spin moment built from the atomic density matrix and the N0
partial-wave overlaps - the same local moment GPAW reports as the non-collinear magnetic
moment. The penalty potential enters the Hamiltonian (hence the forces) but its energy is NOT
added to the reported energy.

Labels (derivation; checked by finite differences, see DATA.md)
-----------------------------------------------------------------
Let E(R, M) = min { E_KS[n] : local moments of n equal M } (constrained DFT). The penalised SCF
finds n* minimising E_KS + sum_a P_a; n* also minimises E_KS among densities with its own moments
M*, so

    E(R, M*) = E_KS[n*]                    (reported free energy, penalty NOT included)
    -dE/dM_a (R, M*) = +dP_a/dM_a = 2 lambda (M*_a - u_a (u_a . M*_a))     [eV/muB]
    -dE/dR   (R, M*) = GPAW forces      (envelope theorem: d/dR of E_KS + P at fixed u equals
                                         dE/dR at fixed M, because dE/dM + dP/dM = 0 at M*)

So the frame is labelled at the converged moments M* (REF_magmom) with REF_energy = E_KS (free
energy), REF_forces = GPAW forces and REF_magforces = 2 lambda M*_perp (all three components
defined, mask 1; unconstrained atoms have zero magnetic force, being SCF-relaxed). The penalised
energy E_KS + sum P (``energy_with_penalty``) is stored too: it is the function whose derivative
at fixed target directions is the GPAW force, which is what a plain finite difference of the
energy at fixed u checks.

Spin-orbit coupling (materials with ``settings.soc``, L1_0 FePt)
----------------------------------------------------------------
GPAW 26.7 takes ``soc=True`` as a calculator parameter (``gpaw.dft.Parameters``: "Enable
spin-orbit coupling"); with non-collinear ``magmoms`` it adds, in every SCF step and inside
every PAW sphere, dH_soc = <phi_i| (1/r) dV/dr L |phi_j> alpha^2/4 (``gpaw.spinorbit.soc``, V the
spherical all-electron potential from the current on-site density) to the spin components of
the atomic Hamiltonian and the term Tr(D^{x,y,z} dH_soc) (``spinorbit``) to the energy
(``gpaw/new/pot_calc.py``). The penalty acts on the same spin moments M_a as without SOC; the
orbital moments are not constrained (stored as ``orbital_magmom``, not a label). The derivation
above only uses that the SCF minimises E_KS + sum_a P_a over densities, whatever E_KS contains,
so it holds unchanged with E_KS including the SOC energy: the labels keep their form, and
REF_magforces now also carries the anisotropy torque on each Fe spin (balanced by the
penalty). One caveat: GPAW builds dH_soc from dV/dr of the current density but leaves the
derivative of dV/dr with respect to the density out of the Hamiltonian, so the SOC SCF is not
exactly variational in E_KS; the finite-difference check in DATA.md ("FePt") measures what
this does to the force-energy consistency.
"""
from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.units import Ha

from .settings import MaterialSettings


class NonCollinearError(ValueError):
    """Bad constraint input (directions, penalty, functional)."""


def unit_directions(directions) -> np.ndarray:
    """[n, 3] directions -> unit vectors; raises on zero vectors."""
    u = np.asarray(directions, dtype=float)
    if u.ndim != 2 or u.shape[1] != 3:
        raise NonCollinearError(f"directions must be [n, 3], got shape {u.shape}")
    norm = np.linalg.norm(u, axis=1)
    if np.any(norm < 1e-12):
        raise NonCollinearError("zero-length constraint direction")
    return u / norm[:, None]


def penalty_energy(m_av: np.ndarray, u_av: np.ndarray, penalty_ev: float,
                   constrained: np.ndarray) -> np.ndarray:
    """Per-atom penalty lambda (|M|^2 - (u.M)^2) [n] eV for moments m_av [n, 3] muB."""
    m_av = np.asarray(m_av, dtype=float)
    par = np.einsum("av,av->a", m_av, u_av)
    e = penalty_ev * (np.einsum("av,av->a", m_av, m_av) - par**2)
    return np.where(constrained, e, 0.0)


def constraint_magforces(m_av: np.ndarray, u_av: np.ndarray, penalty_ev: float,
                         constrained: np.ndarray) -> np.ndarray:
    """-dE/dM [n, 3] eV/muB at the converged moments: 2 lambda (M - u (u.M)) on constrained
    atoms, zero on the others."""
    m_av = np.asarray(m_av, dtype=float)
    par = np.einsum("av,av->a", m_av, u_av)
    f = 2.0 * penalty_ev * (m_av - u_av * par[:, None])
    return np.where(np.asarray(constrained)[:, None], f, 0.0)


def check_functional(st: MaterialSettings) -> None:
    if st.xc != "LDA":
        raise NonCollinearError(f"GPAW's non-collinear constraint is LDA-only; {st.material} "
                                f"uses {st.xc}")


def gpaw_noncollinear_parameters(st: MaterialSettings, m0_av: np.ndarray, extensions: list,
                                 txt: str | None, kpts=None) -> dict:
    """Keyword arguments of ``gpaw.new.ase_interface.GPAW`` for a constrained non-collinear run:
    symmetry off, initial moment vectors ``m0_av`` [n, 3] muB, ``soc=True`` only for
    spin-orbit materials (so the SOC-free runs keep exactly their former input)."""
    from gpaw import PW, FermiDirac  # noqa: PLC0415

    kp = kpts if kpts is not None else {"density": st.kpts_density, "gamma": st.kpts_gamma}
    params = dict(mode=PW(st.ecut_ev), xc=st.xc, kpts=kp,
                  occupations=FermiDirac(st.smearing_ev),
                  convergence={"energy": st.conv_energy, "density": st.conv_density},
                  symmetry="off", magmoms=m0_av, extensions=extensions, txt=txt)
    if st.soc:
        params["soc"] = True
    return params


def soc_extras(calc) -> dict:
    """Spin-orbit by-products of a finished SOC run: orbital moments [n, 3] muB (GPAW's
    ``get_orbital_magnetic_moments``, PAW spheres) and the ``spinorbit`` energy term (eV)."""
    out = {"orbital_magmom": np.asarray(calc.get_orbital_magnetic_moments(), dtype=float)}
    energies = getattr(calc.dft.energies, "_energies", {})
    if "spinorbit" in energies:
        out["energy_spinorbit"] = float(energies["spinorbit"] * Ha)
    return out


def run_noncollinear(atoms: Atoms, st: MaterialSettings, directions, penalty_ev: float,
                     moment: float, txt: str | None, kpts=None) -> tuple[Atoms, dict]:
    """Constrained non-collinear SCF (symmetry off), with self-consistent spin-orbit coupling
    when ``st.soc``. Returns a labelled Atoms and extras.

    directions  [n, 3] target directions; atoms of non-magnetic species are unconstrained
    moment      initial |m| (muB) along the target directions on constrained atoms (the
                others start at zero)
    kpts        override of the k-point input (validation runs only)"""
    from .runner import configure_gpaw_environment, kpoint_mesh, provenance  # noqa: PLC0415

    check_functional(st)
    setup_path = configure_gpaw_environment()
    import time  # noqa: PLC0415

    from gpaw.new.ase_interface import GPAW  # noqa: PLC0415
    from gpaw.new.constraints import SpinDirectionConstraint  # noqa: PLC0415

    u_av = unit_directions(directions)
    if len(u_av) != len(atoms):
        raise NonCollinearError(f"{len(u_av)} directions for {len(atoms)} atoms")
    constrained = np.array([s in st.magnetic_species for s in atoms.get_chemical_symbols()])
    m0_av = np.where(constrained[:, None], moment * u_av, 0.0)             # [n, 3] muB
    ext = SpinDirectionConstraint({int(a): u_av[a].tolist() for a in np.flatnonzero(constrained)},
                                  penalty=penalty_ev)
    work = Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    work.calc = GPAW(**gpaw_noncollinear_parameters(st, m0_av, [ext], txt, kpts))
    t0 = time.perf_counter()
    e_free = work.get_potential_energy(force_consistent=True)              # eV, no penalty
    e_extrap = work.get_potential_energy()
    forces = work.get_forces()                                             # [n, 3] eV/A
    wall = time.perf_counter() - t0
    calc = work.calc
    m_av = np.asarray(calc.get_non_collinear_magnetic_moments(), dtype=float)  # [n, 3] muB
    # penalty from GPAW's own routine on the final density matrices (cross-check of m_av)
    dens = calc.dft.density
    e_pen_gpaw = 0.0
    for a, D_sii in dens.D_asii.items():
        setup = calc.dft.setups[a]
        e_a, _ = ext.calculate(np.asarray(D_sii[1:4]).real, a, setup.l_j, setup.N0_q,
                               return_energy=True)
        e_pen_gpaw += e_a * Ha
    e_pen_av = penalty_energy(m_av, u_av, penalty_ev, constrained)
    out = Atoms(work.numbers, positions=work.positions, cell=work.cell, pbc=work.pbc)
    out.info.update({k: v for k, v in atoms.info.items() if k in ("config_id", "config_type")})
    out.info["REF_energy"] = float(e_free)
    out.info["energy_extrapolated"] = float(e_extrap)
    out.info["penalty_energy"] = float(e_pen_av.sum())
    out.info["penalty_energy_gpaw"] = float(e_pen_gpaw)
    out.info["energy_with_penalty"] = float(e_free + e_pen_av.sum())
    out.arrays["REF_forces"] = np.asarray(forces, dtype=float)
    out.arrays["REF_magmom"] = m_av
    out.arrays["REF_magforces"] = constraint_magforces(m_av, u_av, penalty_ev, constrained)
    out.arrays["REF_magforces_mask"] = np.ones((len(out), 3), dtype=int)
    out.arrays["constraint_direction"] = u_av
    out.arrays["constrained"] = constrained.astype(int)
    out.info["magforces_source"] = "spin_direction_constraint: 2*penalty*(M - u(u.M))"
    out.info["penalty_ev_per_muB2"] = float(penalty_ev)
    out.info["initial_magmoms"] = m0_av.ravel()
    out.info["converged_magmoms"] = m_av.ravel()
    out.info["angle_to_target_deg"] = np.degrees(np.arccos(np.clip(
        np.einsum("av,av->a", m_av, u_av) / np.maximum(np.linalg.norm(m_av, axis=1), 1e-12),
        -1, 1)))
    out.info["scf_iterations"] = int(calc.get_number_of_iterations())
    out.info["wall_time_s"] = float(wall)
    out.info["kpts_mesh"] = (np.array(kpoint_mesh(work, st)) if kpts is None
                             else np.array(kpts if isinstance(kpts, (list, tuple)) else [0]))
    if st.soc:
        extra = soc_extras(calc)
        out.arrays["orbital_magmom"] = extra.pop("orbital_magmom")
        out.info.update(extra)
        out.info["soc"] = True
    out.info["noncollinear"] = True
    out.info["symmetry"] = "off"
    out.info.update(st.as_info())
    out.info.update(provenance(calc, setup_path))
    return out, {"wall_time_s": wall}
