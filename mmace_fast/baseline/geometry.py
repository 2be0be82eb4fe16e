"""Structures and neighbour lists shared by the baseline design matrices."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmace_fast.neighbours import neighbour_list, pairs_once


class BaselineInputError(ValueError):
    """Bad input to a baseline builder (shapes, species, missing labels)."""


@dataclass
class Structure:
    """A periodic (or partly periodic) arrangement of atoms.

    positions  # [n, 3] A
    cell       # [3, 3] A, rows are lattice vectors
    pbc        # [3] bool
    numbers    # [n] atomic numbers
    """

    positions: np.ndarray
    cell: np.ndarray
    pbc: np.ndarray
    numbers: np.ndarray

    def __post_init__(self):
        self.positions = np.ascontiguousarray(self.positions, dtype=np.float64)
        self.cell = np.ascontiguousarray(self.cell, dtype=np.float64)
        self.pbc = np.asarray(self.pbc, dtype=bool).reshape(-1)
        if self.pbc.shape == (1,):
            self.pbc = np.repeat(self.pbc, 3)
        self.numbers = np.ascontiguousarray(self.numbers, dtype=np.int64).reshape(-1)
        n = len(self.numbers)
        if self.positions.shape != (n, 3):
            raise BaselineInputError(f"positions has shape {self.positions.shape}, "
                                     f"expected ({n}, 3)")
        if self.cell.shape != (3, 3) or self.pbc.shape != (3,):
            raise BaselineInputError("cell must be [3, 3] and pbc [3]")
        if not np.all(np.isfinite(self.positions)) or not np.all(np.isfinite(self.cell)):
            raise BaselineInputError("non-finite positions or cell")

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
        """From a Structure, a Configuration or an ASE Atoms-like object."""
        if isinstance(obj, Structure):
            return obj
        cell = obj.cell[:] if hasattr(obj.cell, "array") else obj.cell
        return cls(obj.positions, cell, obj.pbc, obj.numbers)

    def repeat(self, reps) -> "Structure":
        """Supercell of reps = (n1, n2, n3) copies along the cell vectors."""
        reps = np.broadcast_to(np.asarray(reps, dtype=int), (3,))
        if np.any(reps < 1):
            raise BaselineInputError(f"repetitions must be >= 1, got {reps}")
        grid = np.stack(np.meshgrid(*[np.arange(k) for k in reps], indexing="ij"), -1)
        offs = grid.reshape(-1, 3) @ self.cell                       # [n_rep, 3] A
        pos = (offs[:, None, :] + self.positions[None, :, :]).reshape(-1, 3)
        return Structure(pos, self.cell * reps[:, None], self.pbc,
                         np.tile(self.numbers, len(offs)))


@dataclass
class Neighbours:
    """Full directed neighbour list within a cutoff.

    i, j    # [E] centre and neighbour index
    shifts  # [E, 3] integer image shifts
    vec     # [E, 3] A, r_ij = x_j - x_i + shifts @ cell
    dist    # [E] A
    once    # [E] bool, selects each unordered pair (incl. periodic images) once
    """

    i: np.ndarray
    j: np.ndarray
    shifts: np.ndarray
    vec: np.ndarray
    dist: np.ndarray
    once: np.ndarray


def neighbours(structure: Structure, cutoff: float) -> Neighbours:
    """Full list of :class:`Neighbours` within ``cutoff`` (A)."""
    s = structure
    i, j, sh, d = neighbour_list(s.positions, s.cell, s.pbc, cutoff, return_distances=True)
    vec = s.positions[j] - s.positions[i] + sh @ s.cell
    return Neighbours(i, j, sh, vec, d, pairs_once(i, j, sh))


def species_pair(za: int, zb: int) -> tuple[int, int]:
    """Canonical (sorted) unordered species pair."""
    return (int(za), int(zb)) if za <= zb else (int(zb), int(za))
