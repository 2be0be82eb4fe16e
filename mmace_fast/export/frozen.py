"""Torch-free loading and evaluation of a frozen mMACE file through the C++ evaluator.

    from mmace_fast.export import FrozenModel
    model = FrozenModel.load("fe.mmace")          # validated: magic, version, hash, arrays
    e = model.energy(atoms)                        # eV; moments from atoms' initial magmoms
    e_i = model.site_energies(positions=..., cell=..., pbc=..., numbers=..., magmoms=...)
    f_m = model.magforces(atoms)                   # -dE/dm [n, 3] eV/muB, C++ reverse pass
    out = model.evaluate(atoms)                    # energies, forces, stress, magforces

The neighbour list is the project's C++ cell list (:func:`mmace_fast.neighbours.neighbour_list`,
the one the PyTorch model is trained with), with the model's cutoff.
"""
from __future__ import annotations

import json
import logging
import os

import numpy as np

from mmace_fast import _core
from mmace_fast.checks import integer_array
from mmace_fast.data.records import Configuration
from mmace_fast.export import format as fmt
from mmace_fast.export.domain import DomainWatch
from mmace_fast.neighbours import neighbour_list
from mmace_fast.structure import Structure

log = logging.getLogger(__name__)


class UnknownSpeciesError(ValueError):
    """A structure contains an element the frozen model does not know."""


class FrozenModel:
    """A frozen mMACE model: the parsed file plus its C++ evaluator (``core``).

    Attributes: ``sha256`` (file identity), ``header`` (model_config, species, r_cut,
    versions), ``species`` (atomic numbers), ``r_cut`` (A), ``config`` (ModelConfig dict).
    """

    def __init__(self, frozen: fmt.FrozenFile, source: str = "<memory>"):
        self.source = source
        self.header = frozen.header
        self.arrays = frozen.arrays
        self.sha256 = frozen.sha256
        self.config = dict(self.header.get("model_config", {}))
        self.species = [int(z) for z in self.arrays["species"]] if "species" in self.arrays else []
        _check_header(self.header, self.arrays, source)
        self.r_cut = float(self.arrays["radial.r_cut"])
        self.core = _core.FrozenModelCore(self.arrays)
        self.watch = DomainWatch(None, source)

    def set_domain(self, domain) -> None:
        """Watch ``domain`` (a :class:`~mmace_fast.export.domain.TrainingDomain` or None):
        the first structure evaluated outside it logs a warning."""
        self.watch = DomainWatch(domain, f"frozen model {self.source}")

    @property
    def domain(self):
        return self.watch.domain

    @classmethod
    def load(cls, path) -> "FrozenModel":
        """Read, validate and build the evaluator of a frozen-model file."""
        path = os.fspath(path)
        return cls(fmt.read(path), path)

    @classmethod
    def from_bytes(cls, data: bytes) -> "FrozenModel":
        return cls(fmt.decode(data), "<bytes>")

    # -------------------------------------------------------------------- structures
    def check_species(self, numbers) -> np.ndarray:
        numbers = np.ascontiguousarray(integer_array(numbers, "atomic numbers")).reshape(-1)
        unknown = sorted(set(numbers.tolist()) - set(self.species))
        if unknown:
            raise UnknownSpeciesError(f"atomic numbers {unknown} are not species of the frozen "
                                      f"model {self.source} (knows {self.species})")
        return numbers

    def structure(self, atoms=None, *, positions=None, cell=None, pbc=None, numbers=None,
                  magmoms=None, nonmagnetic: bool = False) -> Configuration:
        """The structure to evaluate, validated once (:class:`mmace_fast.structure.Structure`
        rules), as a :class:`~mmace_fast.data.records.Configuration` with moments [n, 3] muB:
        from ``atoms`` (ASE atoms, moments from their initial magnetic moments; or a
        Structure / Configuration, moments from its ``magmoms``) or from keyword arrays;
        keywords override the atoms' values. A structure without moments is refused (a
        magnetic model would silently evaluate it at zero moments) unless
        ``nonmagnetic=True`` says that zero moments are meant."""
        if isinstance(atoms, Structure):
            positions = atoms.positions if positions is None else positions
            cell = atoms.cell if cell is None else cell
            pbc = atoms.pbc if pbc is None else pbc
            numbers = atoms.numbers if numbers is None else numbers
            if magmoms is None:
                magmoms = getattr(atoms, "magmoms", None)
        elif atoms is not None:
            positions = atoms.get_positions() if positions is None else positions
            cell = atoms.cell[:] if cell is None else cell
            pbc = atoms.pbc if pbc is None else pbc
            numbers = atoms.get_atomic_numbers() if numbers is None else numbers
            if magmoms is None and atoms.has("initial_magmoms"):
                magmoms = atoms.get_initial_magnetic_moments()
        if positions is None or numbers is None:
            raise ValueError("give atoms, or positions and numbers")
        if magmoms is None and not nonmagnetic:
            raise ValueError("no magnetic moments given: pass magmoms (muB per atom, [n] or "
                             "[n, 3]; for ASE atoms set_initial_magnetic_moments), or "
                             "nonmagnetic=True to evaluate at zero moments")
        n = len(positions)
        st = Configuration(positions=positions, cell=np.zeros((3, 3)) if cell is None else cell,
                           pbc=False if pbc is None else pbc, numbers=numbers,
                           magmoms=np.zeros((n, 3)) if magmoms is None else magmoms,
                           source="structure")
        self.check_species(st.numbers)
        if self.watch.domain is not None and not self.watch.warned:
            self.watch(st.positions, st.cell, st.pbc, st.numbers, st.magmoms)
        return st

    def edges(self, positions, cell, pbc):
        """(receiver i, sender j, shifts S) of the model's neighbour list: r_ij = x_j - x_i +
        S @ cell (S is zero along non-periodic directions)."""
        return neighbour_list(positions, cell, pbc, self.r_cut)

    def site_energies(self, atoms=None, *, bond_tol: float = 1e-9, **arrays) -> np.ndarray:
        """Site energies [n] eV (sum = total energy). Bonds equal to ``bond_tol`` A share their
        geometry caches (0: none shared)."""
        st = self.structure(atoms, **arrays)
        i, j, s = self.edges(st.positions, st.cell, st.pbc)
        return self.core.site_energies(st.positions, st.cell, st.numbers, st.magmoms, i, j, s,
                                       bond_tol)

    def evaluate(self, atoms=None, *, bond_tol: float = 1e-9, **arrays) -> dict:
        """Everything from one evaluation and one C++ reverse pass: {"energy": eV,
        "energies": [n] eV, "magforces": [n, 3] eV/muB (-dE/dm), "forces": [n, 3] eV/A,
        "stress": [3, 3] eV/A^3 (dE/d(strain) / volume, None unless periodic in all three
        directions), "virial_ev": [3, 3] eV (dE/d(strain))}."""
        st = self.structure(atoms, **arrays)
        h = self._evaluator(st, bond_tol)
        dm, dx, ds = h.gradients()
        energies = h.site_energies()
        vol = st.volume
        stress = ds / vol if vol else None
        return {"energy": float(energies.sum()), "energies": energies, "magforces": -dm,
                "forces": -dx, "stress": stress, "virial_ev": ds}

    def magforces(self, atoms=None, *, bond_tol: float = 1e-9, **arrays) -> np.ndarray:
        """-dE/dm [n, 3] eV/muB (the reverse pass without the positional part)."""
        return self._evaluator(self.structure(atoms, **arrays), bond_tol).effective_field()

    def _evaluator(self, st: dict, bond_tol: float):
        """The C++ evaluator of a structure (:meth:`structure`'s record) at its moments."""
        i, j, s = self.edges(st.positions, st.cell, st.pbc)
        return _core.FrozenMMACECore(self.core, st.positions, st.cell, st.numbers, i, j, s,
                                     st.magmoms, bond_tol=bond_tol)

    def energy(self, atoms=None, **arrays) -> float:
        """Total energy, eV."""
        return float(self.site_energies(atoms, **arrays).sum())

    def __repr__(self):
        return (f"FrozenModel({self.source!r}, species={self.species}, r_cut={self.r_cut}, "
                f"sha256={self.sha256[:12]})")


def _check_header(header: dict, arrays: dict, source: str) -> None:
    """Cross-checks between the header and the arrays (the C++ side checks the arrays)."""
    species = header.get("species")
    if species is not None and "species" in arrays and \
            [int(z) for z in arrays["species"]] != [int(z) for z in species]:
        raise fmt.FrozenFormatError(f"{source}: header species {species} disagree with the "
                                    f"species array {arrays['species'].tolist()}")
    r_cut = header.get("r_cut")
    if r_cut is not None and "radial.r_cut" in arrays and \
            float(arrays["radial.r_cut"]) != float(r_cut):
        raise fmt.FrozenFormatError(f"{source}: header r_cut {r_cut} disagrees with the arrays")
    if "radial.r_cut" not in arrays:
        raise fmt.FrozenFormatError(f"{source}: missing array 'radial.r_cut'")
    log.debug("frozen model %s: %s", source, json.dumps(header.get("versions", {})))
