"""Spin dynamics (torch-free): stochastic Landau-Lifshitz-Gilbert and Ma-Dudarev Langevin
dynamics of any Hamiltonian with magnetic forces (llg.py), magnons from linear spin-wave theory
and from the dynamical structure factor of a trajectory (magnons.py)."""
from mmace_fast.dynamics.llg import LLGConfig, LLGSamples, SpinDynamics
from mmace_fast.dynamics.magnons import (StructureFactor, bond_vectors_of, lswt_energies,
                                         structure_factor)

__all__ = ["LLGConfig", "LLGSamples", "SpinDynamics", "StructureFactor", "bond_vectors_of",
           "lswt_energies", "structure_factor"]
