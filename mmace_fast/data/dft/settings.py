"""GPAW settings per material, as data, exactly as fixed in ``shared/dft_protocol.md``.

Nothing here imports GPAW: the settings are plain dataclasses so that structure builders, the
manifest and the tests work without it. :func:`gpaw_parameters` turns them into the keyword
arguments of ``gpaw.GPAW``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ase.data import chemical_symbols

from mmace_fast.materials import get as get_material


class SettingsError(ValueError):
    """Unknown material or inconsistent settings."""


@dataclass(frozen=True)
class MaterialSettings:
    """Reference-calculation settings for one material (one functional per data set).

    ecut_ev          plane-wave cutoff, eV
    kpts_density     ASE k-point density D (points per inverse Angstrom, 2 pi included),
                     used with gamma=True for every cell of the material
    smearing_ev      Fermi-Dirac width, eV
    conv_energy      SCF energy criterion, eV per valence electron
    conv_density     SCF density criterion, electrons per valence electron
    lattice_a        reference lattice constant, A (cubic; for tetragonal L1_0 the in-plane a of
                     the conventional cell); the registry's (mmace_fast.materials)
    lattice_c        c of a tetragonal reference cell, A (None: cubic); the registry's
    magnetic_species symbols expected to carry a moment (used by the collapse check)
    start_moment     |initial moment| for magnetic species in magnetic starts, muB
    collapse_below   a magnetic-species site started with |m| >= 1 muB that ends below this
                     |m| (muB) is a moment collapse
    nonmagnetic_physical  True where converging to a non-magnetic state is a physical outcome
                     (B2 FeAl): such frames are kept, with a note, instead of rejected
    soc              self-consistent spin-orbit coupling (GPAW ``soc=True``; non-collinear LDA
                     only): every calculation of the material is non-collinear and constrained
    """

    material: str
    xc: str
    ecut_ev: float
    kpts_density: float
    lattice_a: float
    magnetic_species: tuple[str, ...]
    start_moment: float
    collapse_below: float
    nonmagnetic_physical: bool = False
    smearing_ev: float = 0.1
    conv_energy: float = 1e-6
    conv_density: float = 1e-5
    kpts_gamma: bool = True
    mode: str = "pw"
    spinpol: bool = True
    notes: str = ""
    extra: dict = field(default_factory=dict)
    lattice_c: float | None = None
    soc: bool = False

    def as_info(self) -> dict:
        """Flat dict of the settings for a frame's info (extxyz-safe scalars/strings).

        ``lattice_c`` and ``soc`` appear only where set (tetragonal / spin-orbit materials), so
        that frames of the cubic, SOC-free materials keep exactly the keys they always had."""
        d = asdict(self)
        d.pop("extra")
        if d["lattice_c"] is None:
            d.pop("lattice_c")
        if not d["soc"]:
            d.pop("soc")
        d["magnetic_species"] = ",".join(self.magnetic_species)
        return {f"dft_{k}": v for k, v in d.items()}


def _settings(key: str, notes: str, **kw) -> MaterialSettings:
    """Settings of the registry's material ``key`` (mmace_fast.materials): the reference lattice
    and the magnetic species come from the registry, the rest from ``kw``; ``notes`` is
    formatted with the registry's lattice constants ``a`` and ``c`` (A)."""
    m = get_material(key)
    return MaterialSettings(material=key, lattice_a=m.a, lattice_c=m.c,
                            magnetic_species=tuple(chemical_symbols[z] for z in m.magnetic),
                            notes=notes.format(a=m.a, c=m.c), **kw)


MATERIALS: dict[str, MaterialSettings] = {
    # bcc Fe: LDA (PW92) at the experimental lattice; the non-collinear constraint and spin
    # spirals in GPAW are LDA-only, so the whole Fe set is LDA.
    "fe": _settings(
        "fe", xc="LDA", ecut_ev=600.0, kpts_density=4.5, start_moment=2.5, collapse_below=0.3,
        notes="bcc Fe, LDA (PW92), a_ref = {a} A (experiment)"),
    # B2 FeAl: PBE, collinear. GGA gives ~0.7 muB on Fe; non-magnetic outcomes are physical.
    "feal": _settings(
        "feal", xc="PBE", ecut_ev=600.0, kpts_density=4.5, start_moment=1.5, collapse_below=0.1,
        nonmagnetic_physical=True,
        notes="B2 FeAl, PBE, a_ref = {a} A"),
    # rocksalt CrN: PBE, collinear, 800 eV (500 eV gives a wrong stress). k density chosen by
    # the protocol's test (kpt_convergence.py, ideal cells, 800 eV): against D = 6.0, AFM1 - FM
    # is off by 2.2 meV/atom at D = 3.5 and by 0.5 at D = 4.5 (NM - FM: 1.5 and 0.1), so D = 4.5.
    "crn": _settings(
        "crn", xc="PBE", ecut_ev=800.0, kpts_density=4.5, start_moment=3.0, collapse_below=0.5,
        notes="rocksalt CrN, PBE, a_ref = {a} A (exp. 4.14-4.15)"),
    # L1_0 FePt, the spin-orbit showcase: LDA (GPAW's non-collinear mode, hence soc=True and
    # the spin-direction constraint, is LDA-only), every calculation non-collinear with
    # self-consistent SOC, symmetry off. Lattice: the registry's experimental a and c. Only Fe
    # is a magnetic species: Pt carries an induced moment (~0.3-0.35 muB, it vanishes by
    # symmetry in the AFM cells) and is neither constrained nor collapse-checked (starts at
    # zero). k density from the protocol's test (kpt_convergence.py, DATA.md "FePt"):
    # collinear E(AFM001) - E(FM) at D = 3.5 within 0.6 meV/atom of D = 8, and the spin-orbit
    # anisotropy torque (K1 + K2, 400 eV) 3.65 / 3.57 meV/f.u. at D = 3.5 / 4.5 (2 %), so
    # D = 3.5 (half the k-points of 4.5 without symmetry).
    "fept": _settings(
        "fept", xc="LDA", ecut_ev=600.0, kpts_density=3.5, start_moment=2.8, collapse_below=0.5,
        soc=True,
        notes="L1_0 FePt, LDA (PW92) + self-consistent SOC, a = {a} A, c = {c} A (exp.)"),
}


def get_settings(material: str) -> MaterialSettings:
    """Settings for ``material`` ('fe', 'feal', 'crn', 'fept')."""
    try:
        return MATERIALS[material]
    except KeyError:
        raise SettingsError(f"unknown material {material!r}; known: {sorted(MATERIALS)}") from None


#: SCF iteration cap of the collinear runs (GPAW's default is 333)
MAX_SCF_ITERATIONS = 60


def gpaw_parameters(settings: MaterialSettings, txt: str | None = None) -> dict:
    """Keyword arguments for ``gpaw.GPAW`` (collinear, default symmetry).

    Imports GPAW lazily (PW and FermiDirac objects). Raises SettingsError for a spin-orbit
    material: those runs are non-collinear (:mod:`.noncollinear`)."""
    if settings.soc:
        raise SettingsError(f"{settings.material}: spin-orbit settings have no collinear run; "
                            "use noncollinear.run_noncollinear")
    from gpaw import PW, FermiDirac  # noqa: PLC0415  (optional dependency)

    return dict(
        mode=PW(settings.ecut_ev),
        xc=settings.xc,
        kpts={"density": settings.kpts_density, "gamma": settings.kpts_gamma},
        occupations=FermiDirac(settings.smearing_ev),
        convergence={"energy": settings.conv_energy, "density": settings.conv_density},
        # converged collinear cells need 20-30 iterations; a random up/down pattern whose SCF
        # wanders between magnetic states (fe-bcc4_random-002: 100 iterations at 1e-3 eV) is
        # stopped here and recorded as an SCF failure instead of running into the timeout
        maxiter=MAX_SCF_ITERATIONS,
        spinpol=settings.spinpol,
        txt=txt,
    )
