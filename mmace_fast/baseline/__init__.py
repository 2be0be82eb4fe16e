"""Classical baselines fitted to the same data as mMACE (issue 6).

- :mod:`.fixed_lattice`: Heisenberg-plus-anisotropy model on a reference lattice (exchange per
  shell and species pair, biquadratic, DMI, single-ion, Landau, lattice background), the
  Hamiltonian of spin Monte Carlo (:func:`to_spin_hamiltonian`).
- :mod:`.spin_lattice`: J(r) on a smooth radial basis, three-body exchange, an explicit linear
  lattice potential; energies, forces, stress and magnetic forces for any geometry.
- :mod:`.fit`: rows, ridge regression with k-fold CV over frames, covariance.
- :mod:`.material`: ``fit_material("fe")`` on the shipped data, constants in the project's and
  the literature's conventions (:mod:`.units`), test errors, mean-field Tc.
- :mod:`.extract`: exchange constants of a trained mMACE (or any energy function).
- :mod:`.spiral`: flat spin spirals E(q) of a fitted model (any q, moment lengths relaxed).

Conventions: :mod:`mmace_fast.conventions` (eV, A, muB; H = -sum over pairs once; J > 0 FM).
"""
from mmace_fast.baseline.extract import extract_exchange, extract_from_frozen, extract_from_mmace
from mmace_fast.baseline.fit import FitError, QuantityWeights, ridge_cv
from mmace_fast.baseline.fixed_lattice import FixedLatticeDesign, FixedLatticeSpec
from mmace_fast.baseline.geometry import BaselineInputError, Structure
from mmace_fast.baseline.material import MaterialFit, fit_material, reference_structure
from mmace_fast.baseline.model import (BaselineModel, errors, fit_frames, mean_field_tc,
                                       to_spin_hamiltonian)
from mmace_fast.baseline.spin_lattice import SpinLatticeDesign, SpinLatticeSpec
from mmace_fast.baseline.spiral import spiral_energies
from mmace_fast.baseline.units import convert_exchange, literature_forms

__all__ = [
    "BaselineInputError", "BaselineModel", "FitError", "FixedLatticeDesign", "FixedLatticeSpec",
    "MaterialFit", "QuantityWeights", "SpinLatticeDesign", "SpinLatticeSpec", "Structure",
    "convert_exchange", "errors", "extract_exchange", "extract_from_frozen", "extract_from_mmace",
    "fit_frames", "fit_material", "literature_forms", "mean_field_tc", "reference_structure",
    "ridge_cv", "spiral_energies", "to_spin_hamiltonian",
]
