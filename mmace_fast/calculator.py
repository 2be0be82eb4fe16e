"""ASE calculator for mMACE models.

    from mmace_fast.calculator import MMACECalculator
    atoms.set_initial_magnetic_moments(m)      # [n] (collinear, along z) or [n, 3] muB
    atoms.calc = MMACECalculator("runs/fe")     # directory with model.pt + model.json
    atoms.get_potential_energy(); atoms.get_forces(); atoms.get_stress()
    atoms.calc.get_property("magforces", atoms) # -dE/dm, [n, 3] eV/muB

    atoms.calc = FrozenCalculator("mmace_fast/models/fe/model.mmace")   # torch-free, C++
    atoms.get_forces(); atoms.get_stress(); atoms.calc.get_property("magforces", atoms)

    atoms.calc = CommitteeCalculator("mmace_fast/models/fe_mc/committee")
    atoms.get_forces()                           # committee mean
    atoms.calc.results["forces_std"]             # recalibrated committee spread, [n, 3] eV/A

Properties of both: ``energy`` / ``free_energy`` (eV), ``energies`` (site energies, eV), ``forces``
(eV/A), ``stress`` (eV/A^3, ASE sign = positive tensile, Voigt order xx yy zz yz xz xy; only
for fully periodic cells) and ``magforces`` (-dE/dm, eV/muB). Moments are read from
``atoms.get_initial_magnetic_moments()``; changing them triggers a recalculation (ASE compares
``initial_magmoms`` in ``check_state``). The committee calculator returns the committee mean
of each property and adds ``<property>_std`` (the spread over members, recalibrated by the
committee's factors; ``energies_std`` raw) and ``energy_members`` [K] eV. The frozen
calculator (C++ evaluator, no torch) gives every property of the torch one: energies from the
evaluator, forces, stress and magnetic forces from one reverse pass through it (equal to
torch's autograd to rounding); it is the default for inference
(:func:`mmace_fast.models.frozen_calculator`).
"""
from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from mmace_fast.data.records import Configuration, as_moment_vectors
from mmace_fast.export.domain import DomainWatch, TrainingDomain


def atoms_configuration(atoms, species: set, nonmagnetic: bool) -> Configuration:
    """The Configuration a model sees for ``atoms``; refuses species outside ``species`` (when
    known) and atoms without initial moments unless ``nonmagnetic``."""
    numbers = atoms.get_atomic_numbers()
    unknown = sorted(set(int(z) for z in numbers) - species) if species else []
    if unknown:
        raise ValueError(f"atoms contain species {unknown} unknown to the model "
                         f"(knows {sorted(species)})")
    if not atoms.has("initial_magmoms") and not nonmagnetic:
        raise ValueError("atoms carry no initial magnetic moments: set them "
                         "(atoms.set_initial_magnetic_moments, muB), or create the "
                         "calculator with nonmagnetic=True to evaluate at zero moments")
    m = as_moment_vectors(atoms.get_initial_magnetic_moments(), len(atoms), "atoms")
    return Configuration(positions=atoms.get_positions(), cell=atoms.cell[:], pbc=atoms.pbc,
                         numbers=numbers, magmoms=m, source="atoms")


class MMACECalculator(Calculator):
    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress",
                              "magforces"]

    def __init__(self, model_dir=None, *, model=None, config=None, nonmagnetic: bool = False,
                 **kwargs):
        """Either a saved model directory, or ``model=`` an MMACE module with ``config=`` its
        ModelConfig. The model runs in float64 on CPU. Atoms without initial magnetic moments
        are refused (a magnetic model would silently see zero moments) unless
        ``nonmagnetic=True``."""
        self.nonmagnetic = bool(nonmagnetic)
        super().__init__(**kwargs)
        import torch
        from mmace_fast.model.io import cutoff_of, load_model, model_config_dict
        if model_dir is not None:
            if model is not None:
                raise ValueError("give either model_dir or model=, not both")
            model, config, self.metadata = load_model(model_dir)
        elif model is None or config is None:
            raise ValueError("MMACECalculator needs model_dir, or model= and config=")
        else:
            self.metadata = {}
        self.model = model.to(torch.float64).eval()
        self.model_config = config
        self.cutoff = cutoff_of(config)
        self.species = set(int(z) for z in model_config_dict(config).get("species", []))
        dom = self.metadata.get("training_domain")
        #: warns once when a structure lies clearly outside the model's training data
        self.watch = DomainWatch(None if dom is None else TrainingDomain.from_dict(dom),
                                 f"mMACE {model_dir or 'model'}")

    def _configuration(self, atoms) -> Configuration:
        return atoms_configuration(atoms, self.species, self.nonmagnetic)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        """Energies only when only energies are asked for (about 3x cheaper); otherwise all
        derivatives from one backward pass."""
        super().calculate(atoms, properties, system_changes)
        from mmace_fast.model.io import predict
        periodic = bool(np.all(self.atoms.pbc))
        if "stress" in properties and not periodic:
            raise PropertyNotImplementedError("stress needs a cell periodic in all directions")
        derivatives = any(p in properties for p in ("forces", "stress", "magforces"))
        conf = self._configuration(self.atoms)
        if not self.watch.warned:
            self.watch(conf.positions, conf.cell, conf.pbc, conf.numbers, conf.magmoms)
        out = predict(self.model, [conf], self.cutoff, forces=derivatives,
                      stress=derivatives and periodic, magforces=derivatives)
        energy = float(out["energy"][0])
        self.results = {"energy": energy, "free_energy": energy,
                        "energies": out["site_energies"].numpy().copy()}
        if derivatives:
            self.results["forces"] = out["forces"].numpy().copy()
            self.results["magforces"] = out["magforces"].numpy().copy()
            if periodic:
                self.results["stress"] = full_3x3_to_voigt_6_stress(out["stress"][0].numpy())


class FrozenCalculator(Calculator):
    """ASE calculator on a frozen model file (:class:`mmace_fast.export.FrozenModel`): energies,
    forces, stress and magnetic forces from the C++ evaluator, without torch."""
    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress",
                              "magforces"]

    def __init__(self, frozen=None, *, nonmagnetic: bool = False, bond_tol: float = 1e-9,
                 **kwargs):
        """frozen: a path to a ``.mmace`` file or a FrozenModel. Atoms without initial magnetic
        moments are refused unless ``nonmagnetic=True`` (as in MMACECalculator)."""
        self.nonmagnetic = bool(nonmagnetic)
        self.bond_tol = float(bond_tol)
        super().__init__(**kwargs)
        from mmace_fast.export import FrozenModel
        if frozen is None:
            raise ValueError("FrozenCalculator needs a frozen model file or FrozenModel")
        self.model = frozen if isinstance(frozen, FrozenModel) else FrozenModel.load(frozen)
        self.species = set(int(z) for z in self.model.species)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        conf = atoms_configuration(self.atoms, self.species, self.nonmagnetic)
        periodic = bool(np.all(self.atoms.pbc))
        if "stress" in properties and not periodic:
            raise PropertyNotImplementedError("stress needs a cell periodic in all directions")
        arrays = dict(positions=conf.positions, cell=conf.cell, pbc=conf.pbc,
                      numbers=conf.numbers, magmoms=conf.magmoms, bond_tol=self.bond_tol)
        if not any(p in properties for p in ("forces", "stress", "magforces")):
            e = self.model.site_energies(**arrays)
            energy = float(e.sum())
            self.results = {"energy": energy, "free_energy": energy, "energies": np.asarray(e)}
            return
        out = self.model.evaluate(**arrays)
        self.results = {"energy": out["energy"], "free_energy": out["energy"],
                        "energies": out["energies"], "forces": out["forces"],
                        "magforces": out["magforces"]}
        if out["stress"] is not None:
            self.results["stress"] = full_3x3_to_voigt_6_stress(out["stress"])


class CommitteeCalculator(Calculator):
    """ASE calculator of a committee directory (:mod:`mmace_fast.export.committee`): the
    committee mean of every property, and its spread as ``<property>_std``."""
    implemented_properties = MMACECalculator.implemented_properties

    def __init__(self, directory=None, *, committee=None, nonmagnetic: bool = False, **kwargs):
        self.nonmagnetic = bool(nonmagnetic)
        super().__init__(**kwargs)
        from mmace_fast.model.committee import Committee
        if (directory is None) == (committee is None):
            raise ValueError("give either a committee directory or committee=")
        self.committee = committee if committee is not None else Committee.load(directory)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        periodic = bool(np.all(self.atoms.pbc))
        if "stress" in properties and not periodic:
            raise PropertyNotImplementedError("stress needs a cell periodic in all directions")
        derivatives = any(p in properties for p in ("forces", "stress", "magforces"))
        conf = atoms_configuration(self.atoms, set(self.committee.species), self.nonmagnetic)
        per = self.committee.predict([conf], derivatives=derivatives, stress=periodic)
        stats = self.committee.summarise(per)
        energy = float(stats["energy"][0])
        self.results = {"energy": energy, "free_energy": energy,
                        "energy_std": float(stats["energy_std"][0]),
                        "energy_members": per["energy"][:, 0].copy(),
                        "energies": stats["site_energies"], "energies_std":
                        stats["site_energies_std"]}
        if derivatives:
            for key in ("forces", "magforces"):
                self.results[key] = stats[key]
                self.results[key + "_std"] = stats[key + "_std"]
            if periodic:
                self.results["stress"] = full_3x3_to_voigt_6_stress(stats["stress"][0])
                self.results["stress_std"] = full_3x3_to_voigt_6_stress(stats["stress_std"][0])
