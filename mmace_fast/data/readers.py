"""Readers: extended XYZ (via ASE) and Materials Project style JSON records -> Configuration.

Units and signs of the returned :class:`~mmace_fast.data.records.Configuration` follow
:mod:`mmace_fast.conventions`: eV, A, muB; forces eV/A; stress eV/A^3 as a 3x3 tensor with the
ASE sign (positive = tensile); magnetic forces -dE/dm in eV/muB.

Extended XYZ
------------
Keys default to the names used by mace's magnetic branch (``REF_energy``, ``REF_forces``,
``REF_stress``, ``REF_magmom``, ``REF_magforces`` and the optional ``REF_magforces_mask``) and
can be changed through :class:`ExtxyzKeys`. Stress is read in eV/A^3 with the ASE sign, as a
3x3 matrix, 9 numbers (row-major) or 6 numbers in Voigt order (xx, yy, zz, yz, xz, xy).
Moments are ``[n]`` (collinear, along z) or ``[n, 3]`` in muB. A key is looked up in
``atoms.info`` / ``atoms.arrays`` first, then in the results of an attached calculator (ASE turns
plain ``energy``/``forces``/``stress``/``magmoms`` columns into a SinglePointCalculator).

Materials Project style JSON (MatPES, MP-ALOE, MPtrj)
-----------------------------------------------------
A record holds ``structure`` (a pymatgen ``Structure.as_dict()``: ``lattice.matrix`` rows are
the lattice vectors in A, ``sites[k].species[0].element``, ``sites[k].xyz`` Cartesian A or
``sites[k].abc`` fractional, ``sites[k].properties.magmom``), ``energy`` (eV), ``forces`` (eV/A)
and ``stress`` in **kbar with the VASP sign** (positive = compressive, i.e. a pressure). The
MatPES documentation (matpes.ai dataset page) states kbar and gives 6 numbers; MatPES's own
training tutorial converts them with ASE's ``voigt_6_to_full_3x3_stress(s) * -0.1`` (GPa, ASE
sign), i.e. ASE Voigt order; that is the default here (``stress_voigt_order="ase"``). Raw VASP
OUTCAR order (xx, yy, zz, xy, yz, zx) is available as ``stress_voigt_order="vasp"``. MPtrj
stores a 3x3 matrix (no ordering question). Conversion:

    sigma_ASE [eV/A^3] = -0.1 * s [kbar] / 160.21766208      (1 eV/A^3 = 160.21766208 GPa)

Moments are taken from a record key (``magmoms``, MPtrj's ``magmom``) or else the final
``magmom`` site property of the structure. MatPES structures carry only ``initial_magmoms``
(the VASP starting guess, not the converged moments - per the MatPES maintainers), which are
NOT used unless asked for explicitly (``magmom_keys=("initial_magmoms",)``).

Accepted top-level layouts: a list of records, a single record, a dict ``{id: record}``, a dict
``{id: {frame_id: record}}`` (MPtrj), or JSON lines (one record per line); ``.gz`` is read
transparently.

Errors
------
Missing moments are an error unless the caller passes ``non_magnetic=True``; then frames
without moments get zero moments (``info["non_magnetic"] = True``) and frames that carry
moments keep them. NaN/inf, wrong shapes, partial occupancies and species outside ``species``
raise :class:`~mmace_fast.data.records.DataError` naming ``file:frame``.
"""
from __future__ import annotations

import gzip
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

from mmace_fast.conventions import EV_PER_A3_IN_GPA
from mmace_fast.data.records import Configuration, DataError, as_moment_vectors

log = logging.getLogger(__name__)

KBAR_IN_GPA = 0.1
#: multiply a VASP-sign stress in kbar by this to get the ASE-sign stress in eV/A^3
VASP_KBAR_TO_ASE_EV_PER_A3 = -KBAR_IN_GPA / EV_PER_A3_IN_GPA

# index pairs of the 6 components in the two orders we meet
_VOIGT_PAIRS = {
    "ase": ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)),
    "vasp": ((0, 0), (1, 1), (2, 2), (0, 1), (1, 2), (0, 2)),
}


# --------------------------------------------------------------------------------------------
# small shared helpers
# --------------------------------------------------------------------------------------------
def voigt_to_matrix(v, order: str = "ase") -> np.ndarray:
    """6 components in ``order`` ("ase": xx yy zz yz xz xy; "vasp": xx yy zz xy yz zx) -> 3x3."""
    if order not in _VOIGT_PAIRS:
        raise ValueError(f"unknown Voigt order {order!r}; expected 'ase' or 'vasp'")
    v = np.asarray(v, dtype=np.float64).reshape(6)
    out = np.empty((3, 3))
    for k, (a, b) in enumerate(_VOIGT_PAIRS[order]):
        out[a, b] = out[b, a] = v[k]
    return out


def stress_to_matrix(s, where: str, voigt_order: str = "ase") -> np.ndarray:
    """A stress given as 3x3, 9 numbers (row-major) or 6 Voigt numbers -> [3, 3] float64."""
    try:
        s = np.asarray(s, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"stress is not numeric ({where}): {exc}") from None
    if s.shape == (3, 3):
        out = s.copy()
    elif s.shape == (9,):
        out = s.reshape(3, 3).copy()
    elif s.shape == (6,):
        out = voigt_to_matrix(s, voigt_order)
    else:
        raise DataError(f"stress has shape {s.shape}, expected (3, 3), (9,) or (6,) ({where})")
    if not np.all(np.isfinite(out)):
        raise DataError(f"non-finite values in stress ({where})")
    return out


def _species_numbers(species: Optional[Iterable]) -> Optional[set]:
    """Species list of atomic numbers or symbols -> set of atomic numbers (None: accept all)."""
    if species is None:
        return None
    from ase.data import atomic_numbers
    out = set()
    for s in species:
        if isinstance(s, str):
            if s not in atomic_numbers:
                raise ValueError(f"unknown chemical symbol {s!r} in species")
            out.add(atomic_numbers[s])
        else:
            out.add(int(s))
    return out


def _check_species(numbers: np.ndarray, allowed: Optional[set], where: str) -> None:
    if allowed is None:
        return
    unknown = sorted(set(int(z) for z in numbers) - allowed)
    if unknown:
        from ase.data import chemical_symbols
        names = ", ".join(f"{chemical_symbols[z]} (Z={z})" for z in unknown)
        raise DataError(f"unknown species {names}; allowed Z = {sorted(allowed)} ({where})")


def _as_float(x, name: str, where: str) -> float:
    try:
        v = float(np.asarray(x, dtype=np.float64).reshape(()))
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} is not a number ({where}): {exc}") from None
    if not np.isfinite(v):
        raise DataError(f"non-finite {name} ({where})")
    return v


def _as_array(x, shape, name: str, where: str) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} is not a numeric array ({where}): {exc}") from None
    if a.shape != shape:
        raise DataError(f"{name} has shape {a.shape}, expected {shape} ({where})")
    if not np.all(np.isfinite(a)):
        raise DataError(f"non-finite values in {name} ({where})")
    return a


def _moments(raw, n: int, where: str) -> np.ndarray:
    """[n] scalars, [n, 3] vectors or a list of pymatgen Magmom dicts -> [n, 3] muB."""
    if isinstance(raw, (list, tuple)):
        raw = [r.get("moment", r.get("magmom")) if isinstance(r, dict) else r for r in raw]
    try:
        m = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"magnetic moments are not numeric ({where}): {exc}") from None
    return as_moment_vectors(m, n, where)


def starting_moments(raw, n: int, where: str = "") -> np.ndarray:
    """The generator's ``initial_magmoms`` -> [n, 3] muB: n signed lengths along z (collinear
    frames; a 1-atom frame stores a bare number) or n x 3 components, flattened or not
    (non-collinear frames). Any other size is a :class:`DataError`."""
    try:
        m = np.asarray(raw, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise DataError(f"starting moments are not numeric ({where}): {exc}") from None
    if m.size == 3 * n:
        m = m.reshape(n, 3)
    elif m.size != n:
        raise DataError(f"starting moments have {m.size} values for {n} atoms ({where})")
    return as_moment_vectors(m, n, where)


def _finish(kw: dict, n: int, non_magnetic: bool, where: str) -> Configuration:
    """Moments policy + construction with the frame named in any error."""
    if kw.get("magmoms") is None:
        if not non_magnetic:
            raise DataError(f"no magnetic moments ({where}); pass non_magnetic=True to read "
                            "this data as non-magnetic (zero moments)")
        kw["magmoms"] = np.zeros((n, 3))
        kw.setdefault("info", {})["non_magnetic"] = True
    kw["source"] = where
    return Configuration(**kw)


# --------------------------------------------------------------------------------------------
# extended XYZ
# --------------------------------------------------------------------------------------------
@dataclass
class ExtxyzKeys:
    """Names of the labels in an extended XYZ file (defaults: mace's magnetic branch)."""

    energy: str = "REF_energy"
    forces: str = "REF_forces"
    stress: str = "REF_stress"
    magmom: str = "REF_magmom"
    magforces: str = "REF_magforces"
    magforces_mask: str = "REF_magforces_mask"
    config_type: str = "config_type"
    weight: str = "config_weight"                 #: multiplies every per-label weight
    energy_weight: str = "config_energy_weight"
    forces_weight: str = "config_forces_weight"
    stress_weight: str = "config_stress_weight"
    magforces_weight: str = "config_magforces_weight"
    split: str = "split"                           #: optional "train" / "valid" / "test"
    #: the SCF's starting moments (the generator's info key; ASE's per-atom array name)
    start_magmoms: str = "initial_magmoms"


def _lookup(atoms, key: str, per_atom: bool):
    """Value of ``key`` in atoms.arrays / atoms.info, else in an attached calculator's results."""
    if not key:
        return None
    store = atoms.arrays if per_atom else atoms.info
    if key in store:
        return store[key]
    other = atoms.info if per_atom else atoms.arrays
    if key in other:
        return other[key]
    calc = getattr(atoms, "calc", None)
    results = getattr(calc, "results", None) or {}
    return results.get(key)


def _weights_from_info(info: dict, keys: ExtxyzKeys, where: str) -> dict:
    base = _as_float(info.get(keys.weight, 1.0), keys.weight, where)
    out = {}
    for name in ("energy_weight", "forces_weight", "stress_weight", "magforces_weight"):
        key = getattr(keys, name)
        out[name] = base * _as_float(info.get(key, 1.0), key, where)
        if out[name] < 0:
            raise DataError(f"negative weight {key} ({where})")
    return out


def atoms_to_configuration(atoms, where: str = "", *, keys: ExtxyzKeys | None = None,
                           species=None, non_magnetic: bool = False) -> Configuration:
    """One ASE Atoms with labels under ``keys`` -> Configuration (errors name ``where``)."""
    keys = keys or ExtxyzKeys()
    n = len(atoms)
    if n == 0:
        raise DataError(f"a frame with no atoms ({where})")
    numbers = np.asarray(atoms.numbers, dtype=np.int64)
    _check_species(numbers, _species_numbers(species), where)
    kw: dict = dict(positions=_as_array(atoms.positions, (n, 3), "positions", where),
                    cell=np.asarray(atoms.cell[:], dtype=np.float64),
                    pbc=np.asarray(atoms.pbc, dtype=bool), numbers=numbers)
    e = _lookup(atoms, keys.energy, per_atom=False)
    kw["energy"] = None if e is None else _as_float(e, keys.energy, where)
    for name, key in (("forces", keys.forces), ("magforces", keys.magforces)):
        v = _lookup(atoms, key, per_atom=True)
        kw[name] = None if v is None else _as_array(v, (n, 3), key, where)
    s = _lookup(atoms, keys.stress, per_atom=False)
    kw["stress"] = None if s is None else stress_to_matrix(s, where, "ase")
    m = _lookup(atoms, keys.magmom, per_atom=True)
    kw["magmoms"] = None if m is None else _moments(m, n, where)
    start = _lookup(atoms, keys.start_magmoms, per_atom=True)
    kw["start_magmoms"] = None if start is None else starting_moments(start, n, where)
    mask = _lookup(atoms, keys.magforces_mask, per_atom=True)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape == (n,):
            mask = np.repeat(mask[:, None], 3, axis=1)
        if mask.shape != (n, 3):
            raise DataError(f"{keys.magforces_mask} has shape {mask.shape}, expected ({n}, 3) "
                            f"or ({n},) ({where})")
        kw["magforces_mask"] = mask.astype(bool)
    info = dict(atoms.info)
    kw.update(_weights_from_info(info, keys, where))
    kw["config_type"] = str(info.get(keys.config_type, "default"))
    if keys.split in info:
        info["split"] = str(info[keys.split])
    consumed = set(vars(keys).values()) - {keys.split}
    kw["info"] = {k: v for k, v in info.items() if _is_plain(v) and k not in consumed}
    return _finish(kw, n, non_magnetic, where)


def _is_plain(v) -> bool:
    return isinstance(v, (str, int, float, bool, np.integer, np.floating))


def read_extxyz(path, *, keys: ExtxyzKeys | None = None, species=None,
                non_magnetic: bool = False, index=":") -> list[Configuration]:
    """Read an extended XYZ file into Configurations (frames named ``path:k`` in errors)."""
    import ase.io
    path = Path(path)
    try:
        frames = ase.io.read(str(path), index=index, format="extxyz")
    except (OSError, ValueError, IndexError, KeyError) as exc:
        raise DataError(f"cannot parse {path} as extended XYZ: {exc}") from exc
    if not isinstance(frames, list):
        frames = [frames]
    out = [atoms_to_configuration(a, f"{path}:{k}", keys=keys, species=species,
                                  non_magnetic=non_magnetic) for k, a in enumerate(frames)]
    log.info("read %d frames from %s", len(out), path)
    return out


# --------------------------------------------------------------------------------------------
# Materials Project style JSON
# --------------------------------------------------------------------------------------------
@dataclass
class MPJsonKeys:
    """Record keys tried in order (first present wins)."""

    energy: Sequence[str] = ("energy", "uncorrected_total_energy")
    forces: Sequence[str] = ("forces", "force")
    stress: Sequence[str] = ("stress",)
    magmom: Sequence[str] = ("magmoms", "magmom")
    #: site properties of ``structure`` tried when no record key holds moments
    site_magmom: Sequence[str] = ("magmom",)
    magforces: Sequence[str] = ("magforces",)
    magforces_mask: Sequence[str] = ("magforces_mask",)
    config_type: Sequence[str] = ("config_type",)
    split: Sequence[str] = ("split",)
    ident: Sequence[str] = ("matpes_id", "mp_id", "task_id", "material_id", "id")


def _first(rec: dict, names: Sequence[str]):
    for k in names:
        if k in rec and rec[k] is not None:
            return rec[k]
    return None


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def _load_records(path: Path) -> list[tuple[str, dict]]:
    """(frame label, record) pairs from any accepted layout."""
    with _open_text(path) as fh:
        text = fh.read()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as first_error:
        data = []
        for lineno, line in enumerate(text.splitlines()):
            if not line.strip():
                continue
            try:
                data.append(json.loads(line))
            except json.JSONDecodeError:
                raise DataError(f"cannot parse {path} as JSON or JSON lines "
                                f"(line {lineno + 1}): {first_error}") from None
    if isinstance(data, dict) and "structure" in data:
        return [("0", data)]
    if isinstance(data, list):
        return [(str(k), r) for k, r in enumerate(data)]
    if isinstance(data, dict):
        out = []
        for key, val in data.items():
            if isinstance(val, dict) and "structure" not in val:   # MPtrj: id -> frames
                out.extend((f"{key}/{fid}", r) for fid, r in val.items())
            else:
                out.append((str(key), val))
        return out
    raise DataError(f"{path}: top level must be a record, a list or a dict of records")


def _structure_arrays(struct: dict, where: str):
    """pymatgen Structure dict -> positions [n,3] A, cell [3,3] A, pbc [3], numbers [n], sites."""
    from ase.data import atomic_numbers
    if not isinstance(struct, dict) or "lattice" not in struct or "sites" not in struct:
        raise DataError(f"'structure' is not a pymatgen Structure dict ({where})")
    lat = struct["lattice"]
    cell = _as_array(lat.get("matrix"), (3, 3), "lattice.matrix", where)
    pbc = np.asarray(lat.get("pbc", (True, True, True)), dtype=bool)
    sites = struct["sites"]
    numbers, positions = [], []
    for k, site in enumerate(sites):
        species = site.get("species", [])
        if len(species) != 1 or abs(float(species[0].get("occu", 1.0)) - 1.0) > 1e-8:
            raise DataError(f"site {k} is not fully occupied by one element ({where})")
        el = species[0].get("element")
        if el not in atomic_numbers:
            raise DataError(f"site {k}: unknown element {el!r} ({where})")
        numbers.append(atomic_numbers[el])
        if site.get("xyz") is not None:
            positions.append(site["xyz"])
        elif site.get("abc") is not None:
            positions.append(np.asarray(site["abc"], dtype=np.float64) @ cell)
        else:
            raise DataError(f"site {k} has neither 'xyz' nor 'abc' ({where})")
    n = len(numbers)
    pos = _as_array(positions, (n, 3), "site positions", where)
    return pos, cell, pbc, np.asarray(numbers, dtype=np.int64), sites


def _site_moments(sites: list, names: Sequence[str]):
    for name in names:
        vals = [s.get("properties", {}).get(name) for s in sites]
        if vals and all(v is not None for v in vals):
            return vals
    return None


def record_to_configuration(rec: dict, where: str, *, keys: MPJsonKeys | None = None,
                            species=None, non_magnetic: bool = False,
                            stress_voigt_order: str = "ase") -> Configuration:
    """One MP-style record -> Configuration; stress converted from VASP-sign kbar."""
    keys = keys or MPJsonKeys()
    if not isinstance(rec, dict) or "structure" not in rec:
        raise DataError(f"record has no 'structure' ({where})")
    pos, cell, pbc, numbers, sites = _structure_arrays(rec["structure"], where)
    n = len(numbers)
    _check_species(numbers, _species_numbers(species), where)
    kw: dict = dict(positions=pos, cell=cell, pbc=pbc, numbers=numbers)
    e = _first(rec, keys.energy)
    kw["energy"] = None if e is None else _as_float(e, "energy", where)
    f = _first(rec, keys.forces)
    kw["forces"] = None if f is None else _as_array(f, (n, 3), "forces", where)
    s = _first(rec, keys.stress)
    kw["stress"] = (None if s is None else
                    VASP_KBAR_TO_ASE_EV_PER_A3 * stress_to_matrix(s, where, stress_voigt_order))
    m = _first(rec, keys.magmom)
    if m is None:
        m = _site_moments(sites, keys.site_magmom)
    kw["magmoms"] = None if m is None else _moments(m, n, where)
    mf = _first(rec, keys.magforces)
    kw["magforces"] = None if mf is None else _as_array(mf, (n, 3), "magforces", where)
    mask = _first(rec, keys.magforces_mask)
    if mask is not None:
        kw["magforces_mask"] = np.asarray(mask, dtype=bool)
    ct = _first(rec, keys.config_type)
    kw["config_type"] = "default" if ct is None else str(ct)
    info = {"id": str(_first(rec, keys.ident) or where)}
    sp = _first(rec, keys.split)
    if sp is not None:
        info["split"] = str(sp)
    kw["info"] = info
    return _finish(kw, n, non_magnetic, where)


def read_mp_json(path, *, keys: MPJsonKeys | None = None, species=None,
                 non_magnetic: bool = False, stress_voigt_order: str = "ase"
                 ) -> list[Configuration]:
    """Read MatPES / MP-ALOE / MPtrj style records (see module docstring for units)."""
    path = Path(path)
    if stress_voigt_order not in _VOIGT_PAIRS:
        raise ValueError(f"unknown stress_voigt_order {stress_voigt_order!r}")
    try:
        records = _load_records(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    out = [record_to_configuration(r, f"{path}:{label}", keys=keys, species=species,
                                   non_magnetic=non_magnetic,
                                   stress_voigt_order=stress_voigt_order)
           for label, r in records]
    log.info("read %d records from %s", len(out), path)
    return out


# --------------------------------------------------------------------------------------------
# dispatch
# --------------------------------------------------------------------------------------------
_JSON_SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz")
_XYZ_SUFFIXES = (".xyz", ".extxyz", ".xyz.gz", ".extxyz.gz")


def read_configurations(path, *, species=None, non_magnetic: bool = False,
                        fmt: str | None = None, **kwargs) -> list[Configuration]:
    """Read ``path`` by format (``fmt`` "extxyz" / "mp_json", or guessed from the suffix)."""
    path = Path(path)
    name = path.name.lower()
    if fmt is None:
        if name.endswith(_JSON_SUFFIXES):
            fmt = "mp_json"
        elif name.endswith(_XYZ_SUFFIXES):
            fmt = "extxyz"
        else:
            raise ValueError(f"cannot guess the format of {path}; pass fmt='extxyz' or "
                             "'mp_json'")
    if not path.exists():
        raise FileNotFoundError(path)
    if fmt == "extxyz":
        return read_extxyz(path, species=species, non_magnetic=non_magnetic, **kwargs)
    if fmt == "mp_json":
        return read_mp_json(path, species=species, non_magnetic=non_magnetic, **kwargs)
    raise ValueError(f"unknown format {fmt!r}; expected 'extxyz' or 'mp_json'")
