"""Flat spin spirals of a fitted baseline: E(q) for any q, commensurate with the cell or not.

A flat spiral in the xy plane puts the moment of site i at m_i = M_i (cos q.x_i, sin q.x_i, 0)
(x_i the position in A, q in 1/A). With the pair couplings of the model's spin Hamiltonian on
the reference cell (:func:`~mmace_fast.baseline.model.to_spin_hamiltonian`; its bond vectors
r_ij include the periodic images), the energy of the infinite spiral per cell is

    E(q) = sum_{pairs} [ -m_i^T (J + T) m_j(r_ij) - B (m_i . m_j(r_ij))^2 ] + sum_i e_site(m_i)
           + constant,   m_j(r_ij) = M_j (cos q.(x_i + r_ij), sin q.(x_i + r_ij), 0),

exactly, for any q (the same expression as the DFT generalised-Bloch spirals of DATA.md).
``relax=True`` minimises over the moment length of each magnetic species at every q (the
Landau terms decide), as the self-consistent DFT spiral does.
"""
from __future__ import annotations

import numpy as np

from mmace_fast.baseline.geometry import BaselineInputError, Structure
from mmace_fast.baseline.model import BaselineModel, to_spin_hamiltonian


def _site_energy(terms, m):
    """Single-site terms of a SpinHamiltonian's ``terms`` for moments m [n, 3]."""
    e = 0.0
    r2 = np.sum(m * m, axis=1)
    for key, power in (("a2", 1), ("a4", 2), ("a6", 3)):
        if terms[key] is not None:
            e += float(np.sum(terms[key] * r2 ** power))
    if terms["Ku"] is not None:
        e -= float(np.sum(terms["Ku"] * np.sum(m * terms["axis"], axis=1) ** 2))
    if terms["Kc"] is not None:
        e -= float(np.sum(terms["Kc"] * np.sum(m ** 4, axis=1)))
    return e


def spiral_energy(ham, positions, q, lengths) -> float:
    """E(q) (eV per cell, without ham.energy_offset) of a flat xy spiral; ``positions`` [n, 3]
    of the Hamiltonian's sites, q [3] 1/A, lengths [n] muB."""
    t = ham.terms
    i, j = t["pair_i"], t["pair_j"]
    phase_i = positions @ q
    phase_j = phase_i[i] + ham.bond_vectors @ q
    m = lengths[:, None] * np.stack([np.cos(phase_i), np.sin(phase_i), np.zeros_like(phase_i)], 1)
    mj = lengths[j, None] * np.stack([np.cos(phase_j), np.sin(phase_j), np.zeros_like(phase_j)],
                                     1)
    mi = m[i]
    dot = np.sum(mi * mj, axis=1)
    e = -float(np.sum(t["J"] * dot)) if t["J"] is not None else 0.0
    if t["T"] is not None:
        e -= float(np.einsum("pa,pab,pb->", mi, t["T"], mj))
    if t["B"] is not None:
        e -= float(np.sum(t["B"] * dot ** 2))
    return e + _site_energy(t, m)


def spiral_energies(model: BaselineModel, reference, qs, moment_lengths: dict,
                    relax: bool = False) -> dict:
    """E(q) per atom of ``reference`` for flat spirals with wave vectors qs [Q, 3] (1/A).

    moment_lengths {Z: M}: lengths used (and starting point when ``relax``). Returns
    energy [Q] eV/atom (including the model's constants), lengths [Q, n_magnetic_species] muB.
    """
    from scipy.optimize import minimize

    ref = Structure.of(reference)
    ham = to_spin_hamiltonian(model, ref)                  # moment vectors, Landau included
    pos = ref.positions[ham.sites]
    species = sorted(set(ref.numbers[ham.sites].tolist()))
    missing = set(species) - set(int(k) for k in moment_lengths)
    if missing:
        raise BaselineInputError(f"moment_lengths lacks species {sorted(missing)}")
    z = ref.numbers[ham.sites]
    qs = np.atleast_2d(np.asarray(qs, dtype=np.float64))
    energies, lengths = [], []
    for q in qs:
        def e_of(ms):
            lens = np.zeros(len(z))
            for k, s in enumerate(species):
                lens[z == s] = ms[k]
            return spiral_energy(ham, pos, q, lens)
        m0 = np.array([moment_lengths[s] for s in species], dtype=float)
        if relax:
            opt = minimize(e_of, m0, bounds=[(0.0, 3.0 * v + 1.0) for v in m0],
                           method="L-BFGS-B")
            m0 = opt.x
        energies.append((e_of(m0) + ham.energy_offset) / ref.n_atoms)
        lengths.append(m0)
    return {"q": qs, "energy": np.array(energies), "lengths": np.array(lengths),
            "species": species}
