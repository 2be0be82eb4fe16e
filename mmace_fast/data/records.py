"""Configuration record: one atomic structure with its magnetic moments and reference labels.

Units follow :mod:`mmace_fast.conventions` (eV, A, muB). Labels that a frame does not carry are
``None``; weights say how much each label counts in a loss.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Optional

import numpy as np

from mmace_fast.structure import Structure, StructureError
from mmace_fast.structure import as_moment_vectors as _as_moment_vectors


class DataError(StructureError):
    """Bad input data; the message names the file and frame where known."""


@dataclass
class Configuration(Structure):
    """One frame: a :class:`mmace_fast.structure.Structure` with moments and labels.

    positions     [n, 3] A
    cell          [3, 3] A, rows are lattice vectors
    pbc           [3] bool
    numbers       [n] atomic numbers
    magmoms       [n, 3] muB moment vectors (collinear data: (0, 0, s)); None only for frames
                  declared non-magnetic
    energy        eV (free energy for smeared DFT), or None
    forces        [n, 3] eV/A, or None
    stress        [3, 3] eV/A^3, ASE sign (positive = tensile), or None
    magforces     [n, 3] eV/muB, -dE/dm, or None
    magforces_mask [n, 3] bool: which magforce components the reference defines (e.g. only the
                  transverse ones of a direction constraint); None means all where magforces is set
    start_magmoms [n, 3] muB, the moments the reference SCF started from (DFT frames), or None;
                  a frame whose magnetic start converged to zero moments tells the training
                  that the energy has no minimum between the two (collapse prior, training/loss)
    """

    magmoms: Optional[np.ndarray] = None
    energy: Optional[float] = None
    forces: Optional[np.ndarray] = None
    stress: Optional[np.ndarray] = None
    magforces: Optional[np.ndarray] = None
    magforces_mask: Optional[np.ndarray] = None
    start_magmoms: Optional[np.ndarray] = None
    energy_weight: float = 1.0
    forces_weight: float = 1.0
    stress_weight: float = 1.0
    magforces_weight: float = 1.0
    config_type: str = "default"
    source: str = ""          # "file:frame" for error messages
    info: dict = field(default_factory=dict)

    error: ClassVar[type] = DataError

    @property
    def where(self) -> str:
        return f" ({self.source})" if self.source else ""

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Normalise and check everything once: the structure
        (:meth:`~mmace_fast.structure.Structure.normalise_structure`), then moments and labels;
        :class:`DataError` naming ``source`` on bad shapes or non-finite values."""
        self.normalise_structure()
        n = len(self.numbers)
        where = self.where
        if self.magmoms is not None:
            self.magmoms = as_moment_vectors(self.magmoms, n, self.source)
        if self.start_magmoms is not None:
            self.start_magmoms = as_moment_vectors(self.start_magmoms, n, self.source)
        for name in ("magmoms", "start_magmoms"):
            if getattr(self, name) is not None:
                _check(getattr(self, name), (n, 3), name, where)
        if self.energy is not None and not np.isfinite(self.energy):
            raise DataError(f"non-finite energy{where}")
        for name, shape in (("forces", (n, 3)), ("stress", (3, 3)), ("magforces", (n, 3))):
            val = getattr(self, name)
            if val is not None:
                val = np.asarray(val, dtype=np.float64)
                setattr(self, name, val)
                _check(val, shape, name, where)
        if self.magforces_mask is not None:
            self.magforces_mask = np.asarray(self.magforces_mask, dtype=bool)
            if self.magforces_mask.shape != (n, 3):
                raise DataError(f"magforces_mask has shape {self.magforces_mask.shape}, "
                                f"expected {(n, 3)}{where}")


def as_moment_vectors(magmoms, n_atoms: int, source: str = "") -> np.ndarray:
    """[n] collinear moments (along z) or [n, 3] vectors -> [n, 3] float64 vectors in muB;
    :class:`DataError` naming ``source`` otherwise."""
    return _as_moment_vectors(magmoms, n_atoms, source, error=DataError)


def _check(arr, shape, name, where):
    if arr.shape != shape:
        raise DataError(f"{name} has shape {arr.shape}, expected {shape}{where}")
    if not np.all(np.isfinite(arr)):
        raise DataError(f"non-finite values in {name}{where}")
