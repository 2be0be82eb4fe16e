"""The one structure type: atoms in a (partly) periodic cell, validated once.

:class:`Structure` is what every room shares: the data records (:class:`mmace_fast.data.records.
Configuration` adds moments and labels), the baselines' reference and fitted cells
(:mod:`mmace_fast.baseline`), the Monte Carlo lattices (:class:`mmace_fast.mc.lattice.
MaterialLattice` adds sublattice signs) and the frozen evaluator's input
(:meth:`mmace_fast.export.FrozenModel.structure` returns a Configuration). Arrays are normalised
and checked here, in Python, once: dtypes and contiguity, shapes, finite values, a cell that is
not singular along its periodic directions; the Cython layer checks only shapes on the way into
C++. Pure numpy (no torch, no ase at import).

Units: A; conventions in :mod:`mmace_fast.conventions`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from mmace_fast.checks import integer_array


class StructureError(ValueError):
    """Bad structure arrays (shapes, non-finite values, singular cell)."""


def as_pbc(pbc) -> np.ndarray:
    """Periodic flags as [3] bool from a bool, a one-element or a three-element sequence."""
    out = np.asarray(pbc, dtype=bool).reshape(-1)
    if out.shape == (1,):
        out = np.repeat(out, 3)
    if out.shape != (3,):
        raise StructureError(f"pbc must be one or three booleans, got shape {out.shape}")
    return out


def as_moment_vectors(magmoms, n_atoms: int, source: str = "",
                      error: type = StructureError) -> np.ndarray:
    """[n] collinear moments (along z) or [n, 3] vectors -> [n, 3] float64 vectors in muB;
    ``error`` (a ValueError subclass) names ``source`` on a bad shape or non-finite value."""
    m = np.asarray(magmoms, dtype=np.float64)
    where = f" ({source})" if source else ""
    if m.shape == (n_atoms,):
        out = np.zeros((n_atoms, 3))
        out[:, 2] = m
        m = out
    if m.shape != (n_atoms, 3):
        raise error(f"magmoms has shape {m.shape}, expected ({n_atoms},) or ({n_atoms}, 3)"
                    f"{where}")
    if not np.all(np.isfinite(m)):
        raise error(f"non-finite magnetic moments{where}")
    return np.ascontiguousarray(m)


@dataclass
class Structure:
    """Atoms in a cell.

    positions  [n, 3] A, Cartesian
    cell       [3, 3] A, rows are the lattice vectors (ignored along non-periodic directions)
    pbc        [3] bool
    numbers    [n] atomic numbers
    """

    positions: np.ndarray
    cell: np.ndarray
    pbc: np.ndarray
    numbers: np.ndarray

    #: the exception a subclass raises for bad arrays (records: DataError)
    error: ClassVar[type] = StructureError

    def __post_init__(self):
        self.normalise_structure()

    @property
    def where(self) -> str:
        """Suffix naming the structure in error messages ("" if anonymous)."""
        return ""

    def normalise_structure(self) -> None:
        """Dtypes, contiguity and the checks of the four arrays (see the module docstring)."""
        where = self.where
        try:
            self.numbers = np.ascontiguousarray(
                integer_array(self.numbers, "atomic numbers")).reshape(-1)
            self.pbc = as_pbc(self.pbc)
        except ValueError as exc:
            raise self.error(f"{exc}{where}") from None
        self.positions = np.ascontiguousarray(self.positions, dtype=np.float64)
        self.cell = np.ascontiguousarray(self.cell, dtype=np.float64)
        n = len(self.numbers)
        if n == 0:
            raise self.error(f"a structure with no atoms{where}")
        for name, shape in (("positions", (n, 3)), ("cell", (3, 3))):
            arr = getattr(self, name)
            if arr.shape != shape:
                raise self.error(f"{name} has shape {arr.shape}, expected {shape}{where}")
            if not np.all(np.isfinite(arr)):
                raise self.error(f"non-finite values in {name}{where}")
        if self.pbc.any() and abs(np.linalg.det(self.cell[self.pbc][:, self.pbc])) < 1e-12:
            raise self.error(f"singular cell along periodic directions{where}")

    @property
    def n_atoms(self) -> int:
        return len(self.numbers)

    @property
    def volume(self) -> float | None:
        """Cell volume (A^3) if periodic in all three directions, else None."""
        if not self.pbc.all():
            return None
        return float(abs(np.linalg.det(self.cell)))

    @classmethod
    def of(cls, obj) -> "Structure":
        """A Structure (or any subclass, returned as is) or the structure of an ASE Atoms-like
        object."""
        if isinstance(obj, Structure):
            return obj
        cell = obj.cell[:] if hasattr(obj.cell, "array") else obj.cell
        numbers = obj.get_atomic_numbers() if hasattr(obj, "get_atomic_numbers") \
            else obj.numbers
        return Structure(np.asarray(obj.positions), np.asarray(cell), obj.pbc, numbers)

    def repeat(self, reps) -> "Structure":
        """Supercell of reps = (n1, n2, n3) copies along the cell vectors (the copies one after
        the other, each in the order of this cell, as ASE's repeat)."""
        reps = np.broadcast_to(np.asarray(reps, dtype=int), (3,))
        if np.any(reps < 1):
            raise self.error(f"repetitions must be >= 1, got {reps}")
        grid = np.stack(np.meshgrid(*[np.arange(k) for k in reps], indexing="ij"), -1)
        offs = grid.reshape(-1, 3) @ self.cell                       # [n_rep, 3] A
        pos = (offs[:, None, :] + self.positions[None, :, :]).reshape(-1, 3)
        return Structure(pos, self.cell * reps[:, None], self.pbc,
                         np.tile(self.numbers, len(offs)))

    def to_atoms(self):
        """The structure as ASE atoms (imports ase)."""
        from ase import Atoms  # noqa: PLC0415

        return Atoms(numbers=self.numbers, positions=self.positions, cell=self.cell,
                     pbc=self.pbc)
