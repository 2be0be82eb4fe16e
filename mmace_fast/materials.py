"""The project's materials: one record per material, the one place each fact about it is written.

Every table that names materials reads :data:`MATERIALS`: the shipped data files
(:mod:`mmace_fast.datasets`), the GPAW settings' reference lattice (:mod:`mmace_fast.data.dft`),
the baselines' reference structures (:mod:`mmace_fast.baseline.material`), the Monte Carlo
lattices and their order patterns (:mod:`mmace_fast.mc.lattice`), the ordering temperatures of
the thermodynamics comparison (:mod:`mmace_fast.compare.thermo`). Adding a material on an
existing prototype is one entry here (plus its GPAW settings and data).
Pure Python: importable from mc/ and export/ (no torch, no ase).
"""
from __future__ import annotations

from dataclasses import dataclass


class MaterialError(KeyError):
    """Unknown material."""

    def __str__(self) -> str:          # KeyError would print the message in quotes
        return str(self.args[0])


@dataclass(frozen=True)
class Material:
    """What the project knows about one material (units in the field comments)."""

    #: the name everywhere: data/<key>.extxyz.gz, models/<key>, the GPAW settings
    #: (mmace_fast.data.dft.settings), the command lines
    key: str
    formula: str                  #: formula unit ("FeAl")
    name: str                     #: human name with the structure ("B2 FeAl")
    prototype: str                #: conventional cell (mmace_fast.prototypes): "bcc_Fe"
    #: A, lattice constant the DFT data were generated at (conventional cell; the in-plane a
    #: of a tetragonal one)
    a: float
    species: tuple[int, ...]      #: atomic numbers of the elements, magnetic ones first
    #: atomic numbers of the species carrying a moment of their own (constrained and
    #: collapse-checked in DFT; induced moments such as Pt's in FePt are not listed)
    magnetic: tuple[int, ...]
    #: order pattern of the ground state (prototypes.PATTERNS; the experimental one, the DFT
    #: one where experiment finds no order): the Monte Carlo runs' default order parameter
    ground_order: str
    #: order patterns worth scanning on the Monte Carlo lattice (mc.lattice.material_lattice);
    #: () = no Monte Carlo lattice, hence no baseline fit and no ordering temperature
    mc_orders: tuple[str, ...] = ()
    c: float | None = None        #: A, c of a tetragonal reference cell (None: cubic)
    spirals: bool = False         #: DFT spin spirals shipped as data/<key>_spirals.extxyz.gz
    t_exp: float | None = None    #: K, experimental ordering temperature (Tc or T_N)
    t_exp_source: str = ""        #: where t_exp comes from

    @property
    def data_file(self) -> str:
        """File name of the shipped frames (under :func:`mmace_fast.datasets.data_dir`)."""
        return f"{self.key}.extxyz.gz"

    @property
    def spirals_file(self) -> str | None:
        """File name of the shipped spin-spiral frames, None where there are none."""
        return f"{self.key}_spirals.extxyz.gz" if self.spirals else None


#: key -> Material; the order is the order of every table derived from it
MATERIALS: dict[str, Material] = {m.key: m for m in (
    Material("fe", "Fe", "bcc Fe", "bcc_Fe", a=2.866, species=(26,), magnetic=(26,),
             ground_order="FM", mc_orders=("FM", "AFM"), spirals=True,
             t_exp=1043.0, t_exp_source="Curie temperature (shared/references.md)"),
    # experimentally paramagnetic (no ordered moment); LSDA/GGA give a ferromagnet (~0.7 muB)
    Material("feal", "FeAl", "B2 FeAl", "b2_FeAl", a=2.91, species=(26, 13), magnetic=(26,),
             ground_order="FM", mc_orders=("FM", "AFM001", "AFMG")),
    # AFM2 is the experimental order; the cubic PBE data put AFM3, then AFM1 lowest (DATA.md),
    # which is why the head-to-head finds each model's preferred order first
    Material("crn", "CrN", "rocksalt CrN", "rocksalt_CrN", a=4.15, species=(24, 7),
             magnetic=(24,), ground_order="AFM2", mc_orders=("FM", "AFM1", "AFM2", "AFM3"),
             t_exp=287.0, t_exp_source="Neel temperature, 273-287 K reported; 287 K: "
             "arXiv 2412.04685 (shared/references.md), the target of issue 6"),
    # the usual room-temperature experimental lattice of bulk ordered FePt (c/a = 0.961; e.g.
    # the lattice of the LDA anisotropy benchmark of Khan et al., arXiv:1604.00176 [verify])
    Material("fept", "FePt", "L1_0 FePt", "l10_FePt", a=3.86, c=3.71, species=(26, 78),
             magnetic=(26,), ground_order="FM"),
)}


def get(key: str) -> Material:
    """The material ``key``; :class:`MaterialError` naming the known keys if there is none."""
    try:
        return MATERIALS[key]
    except KeyError:
        raise MaterialError(f"unknown material {key!r}; known: {sorted(MATERIALS)}") from None


def monte_carlo_materials() -> tuple[str, ...]:
    """Keys of the materials with a Monte Carlo lattice (those with ``mc_orders``)."""
    return tuple(k for k, m in MATERIALS.items() if m.mc_orders)
