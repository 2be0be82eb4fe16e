"""Neighbour lists shared by the baseline design matrices, on the one structure type
(:class:`mmace_fast.structure.Structure`, re-exported here)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmace_fast.neighbours import neighbour_list, pairs_once
from mmace_fast.structure import Structure  # noqa: F401  (the one structure type, re-exported)


class BaselineInputError(ValueError):
    """Bad input to a baseline builder (shapes, species, missing labels)."""


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
