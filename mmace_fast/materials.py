"""The project's materials: one record per material, the one place each fact about it is written.

Every table that names materials reads :data:`MATERIALS`: the shipped data files
(:mod:`mmace_fast.datasets`), the GPAW settings' reference lattice (:mod:`mmace_fast.data.dft`),
the baselines' reference structures (:mod:`mmace_fast.baseline.material`), the Monte Carlo
lattices and their order patterns (:mod:`mmace_fast.mc.lattice`), the ordering temperatures of
the thermodynamics comparison (:mod:`mmace_fast.compare.thermo`). Adding a material on an
existing prototype is one entry here (plus its GPAW settings and data).

A user's own material is a :class:`Material` built from any structure ASE reads
(:func:`material_from_structure`): its cell is carried in the record (:class:`UnitCell`) instead
of a prototype name, its order patterns are signs per site of that cell, and every function
that takes a material key also takes such a record (:func:`resolve`). It is not added to
:data:`MATERIALS`, which stays the shipped materials.
Pure Python: importable from mc/ and export/ (no torch; ase only inside the structure helpers).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np


class MaterialError(KeyError):
    """Unknown material."""

    def __str__(self) -> str:          # KeyError would print the message in quotes
        return str(self.args[0])


class MaterialSpecError(ValueError):
    """A user's material that cannot be built (bad structure, species, order signs)."""


#: the order pattern name of a user's sign pattern (:func:`material_from_structure`)
USER_ORDER = "USER"


@dataclass(frozen=True)
class UnitCell:
    """A user's periodic cell: atomic numbers [n], fractional positions [n][3], lattice vectors
    [3][3] A (rows); tuples so that the record stays hashable and immutable."""

    numbers: tuple[int, ...]
    frac: tuple[tuple[float, float, float], ...]
    lattice: tuple[tuple[float, float, float], ...]

    def atoms(self):
        """The cell as ASE atoms, periodic in three directions."""
        from ase import Atoms  # noqa: PLC0415

        return Atoms(numbers=list(self.numbers), scaled_positions=np.array(self.frac),
                     cell=np.array(self.lattice), pbc=True)


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
    #: a user's material: its cell (``prototype`` is then "user" and ``a`` the length of the
    #: first lattice vector); None for the shipped materials, whose cell is the prototype's
    cell: UnitCell | None = None
    #: a user's order patterns: (name, sign +-1 per site of ``cell``, 0 on non-magnetic sites)
    order_signs: tuple[tuple[str, tuple[int, ...]], ...] = ()

    @property
    def data_file(self) -> str:
        """File name of the shipped frames (under :func:`mmace_fast.datasets.data_dir`)."""
        return f"{self.key}.extxyz.gz"

    @property
    def spirals_file(self) -> str | None:
        """File name of the shipped spin-spiral frames, None where there are none."""
        return f"{self.key}_spirals.extxyz.gz" if self.spirals else None

    def unit_cell(self):
        """ASE atoms of the material's cell: the user's cell, or the prototype's conventional
        cell at ``a`` (and ``c``)."""
        if self.cell is not None:
            return self.cell.atoms()
        from mmace_fast.prototypes import conventional_cell  # noqa: PLC0415  (ase)

        return conventional_cell(self.prototype, self.a, self.c)


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


MaterialLike = Union[str, Material]


def resolve(material: MaterialLike) -> Material:
    """A :class:`Material` from a registry key or a material record (returned as is)."""
    return material if isinstance(material, Material) else get(material)


def material_from_structure(atoms, key: str, magnetic, signs=None, t_exp: float | None = None,
                            t_exp_source: str = "") -> Material:
    """A user's material from a periodic cell (ASE atoms: read from CIF, POSCAR, extxyz, ...).

    magnetic: the species carrying a moment of their own (symbols or atomic numbers); signs:
    the order of their moments, one +-1 per magnetic site of the cell in the cell's order (the
    pattern :data:`USER_ORDER`), None for a ferromagnet. The Monte Carlo lattices are L x L x L
    repeats of this cell, so an antiferromagnetic order must be periodic with it (give the
    magnetic cell)."""
    from ase.data import atomic_numbers  # noqa: PLC0415

    if not key or not str(key).replace("_", "").replace("-", "").isalnum():
        raise MaterialSpecError(f"material name {key!r}: letters, digits, '-' and '_' only")
    if key in MATERIALS:
        raise MaterialSpecError(f"{key!r} is a shipped material; give your material another name")
    if len(atoms) == 0 or not np.all(atoms.pbc):
        raise MaterialSpecError("the structure must be a periodic cell (pbc in 3 directions) "
                                "with at least one atom")
    lattice = np.asarray(atoms.cell[:], dtype=float)
    if abs(np.linalg.det(lattice)) < 1e-6:
        raise MaterialSpecError("the structure's cell has zero volume")
    numbers = [int(z) for z in atoms.get_atomic_numbers()]
    mag = []
    for x in ([magnetic] if isinstance(magnetic, (str, int)) else list(magnetic)):
        z = atomic_numbers.get(x) if isinstance(x, str) else int(x)
        if z is None or z not in numbers:
            raise MaterialSpecError(f"magnetic species {x!r} is not in the structure "
                                    f"(atomic numbers {sorted(set(numbers))})")
        mag.append(z)
    if not mag:
        raise MaterialSpecError("name at least one magnetic species")
    is_mag = np.isin(numbers, mag)
    orders = ("FM",)
    order_signs = ()
    if signs is not None:
        signs = [int(s) for s in signs]
        if len(signs) != int(is_mag.sum()) or any(s not in (-1, 1) for s in signs):
            raise MaterialSpecError(f"give one sign (+1 or -1) per magnetic site of the cell: "
                                    f"{int(is_mag.sum())} sites, got {signs}")
        full = np.zeros(len(numbers), dtype=int)
        full[is_mag] = signs
        order_signs = ((USER_ORDER, tuple(int(v) for v in full)),)
        orders = ("FM", USER_ORDER)
    species = tuple(mag) + tuple(sorted(set(numbers) - set(mag)))
    from ase.data import chemical_symbols  # noqa: PLC0415

    formula = atoms.get_chemical_formula(mode="metal")
    cell = UnitCell(tuple(numbers),
                    tuple(tuple(float(v) for v in r) for r in atoms.get_scaled_positions()),
                    tuple(tuple(float(v) for v in r) for r in lattice))
    return Material(key, formula, f"{formula} ({', '.join(chemical_symbols[z] for z in mag)} "
                    "magnetic, user cell)", "user", a=float(np.linalg.norm(lattice[0])),
                    species=species, magnetic=tuple(mag), ground_order=orders[-1],
                    mc_orders=orders, t_exp=t_exp, t_exp_source=t_exp_source or
                    ("given by the user" if t_exp is not None else ""), cell=cell,
                    order_signs=order_signs)


def add_structure_flags(parser) -> None:
    """The command-line flags of a user's material (:func:`material_from_flags`)."""
    g = parser.add_argument_group("a user's material (instead of a shipped one)")
    g.add_argument("--structure", default=None,
                   help="periodic cell in any format ASE reads (CIF, POSCAR, extxyz, ...); the "
                        "Monte Carlo lattices are L x L x L repeats of it")
    g.add_argument("--magnetic", nargs="+", default=None,
                   help="species carrying a moment, e.g. --magnetic Mn (required with "
                        "--structure)")
    g.add_argument("--order", nargs="+", type=int, default=None,
                   help="starting order: one sign (1 or -1) per magnetic site of the cell, in "
                        "the file's order (default ferromagnetic)")
    g.add_argument("--name", default=None, help="name of the material (default: the "
                                                "structure file's stem)")
    g.add_argument("--t-exp", type=float, default=None,
                   help="K, an experimental ordering temperature to print beside the results")


def material_from_flags(args) -> Material:
    """The user's material of :func:`add_structure_flags`' flags (reads ``args.structure``)."""
    import os  # noqa: PLC0415

    from ase.io import read  # noqa: PLC0415

    if not args.magnetic:
        raise MaterialSpecError("--structure needs --magnetic (the species carrying a moment)")
    if not os.path.exists(args.structure):
        raise MaterialSpecError(f"structure file {args.structure} not found")
    try:
        atoms = read(args.structure)
    except Exception as exc:
        raise MaterialSpecError(f"cannot read {args.structure}: {exc}") from None
    key = args.name or os.path.splitext(os.path.basename(args.structure))[0] or "user"
    return material_from_structure(atoms, key, args.magnetic, args.order, t_exp=args.t_exp)
