"""Spin spirals on commensurate supercells: the supercell energy of a Heisenberg model equals the
direct lattice sum E(q), for every q on the DFT path (Gamma-H, Gamma-N), and bad q raise."""
import numpy as np
import pytest
from ase.build import bulk

from mmace_fast.compare.spirals import (SpiralError, commensurate_supercell,
                                        heisenberg_spiral_energy, spiral_structure)
from mmace_fast.data.dft.spirals import spiral_path
from mmace_fast.mc.hamiltonian import SpinHamiltonian

A = 2.866
SHELLS = A * np.array([np.sqrt(3) / 2, 1.0, np.sqrt(2), np.sqrt(11) / 2])
J = np.array([1.2e-3, 0.6e-3, -0.1e-3, -0.2e-3])               # eV, pair once


@pytest.mark.parametrize("label,q", spiral_path(5))
def test_supercell_energy_equals_lattice_sum(label, q):
    prim = bulk("Fe", "bcc", a=A)
    sc, m = spiral_structure(prim, q, A, 2.2)
    M = commensurate_supercell(prim.cell.array, q, A)
    qv = np.asarray(q) * 2 * np.pi / A
    # every supercell translation is a multiple of 2 pi for q
    phases = (M @ prim.cell.array) @ qv / (2 * np.pi)
    np.testing.assert_allclose(phases, np.round(phases), atol=1e-9)
    assert len(sc) == round(abs(np.linalg.det(M)))
    ham = SpinHamiltonian.from_distances(sc.positions, sc.cell.array, np.ones(3, bool),
                                         SHELLS, J)
    e_sc = ham.energy(m) / len(sc)
    e_sum = heisenberg_spiral_energy(prim.cell.array, q, A, 2.2, SHELLS, J)
    assert e_sc == pytest.approx(e_sum, rel=1e-12, abs=1e-15)
    np.testing.assert_allclose(np.linalg.norm(m, axis=1), 2.2)


def test_ferromagnet_and_h_point_limits():
    prim = bulk("Fe", "bcc", a=A)
    e0 = heisenberg_spiral_energy(prim.cell.array, [0, 0, 0], A, 1.0, SHELLS[:1], J[:1])
    eh = heisenberg_spiral_energy(prim.cell.array, [1, 0, 0], A, 1.0, SHELLS[:1], J[:1])
    assert e0 == pytest.approx(-0.5 * 8 * J[0])                # 8 nearest neighbours
    assert eh == pytest.approx(+0.5 * 8 * J[0])                # B2-type antiferromagnet


def test_irrational_q_and_multi_atom_cells_raise():
    prim = bulk("Fe", "bcc", a=A)
    with pytest.raises(SpiralError):
        commensurate_supercell(prim.cell.array, [np.sqrt(2) / 10, 0, 0], A, max_den=24)
    with pytest.raises(SpiralError):
        spiral_structure(bulk("Fe", "bcc", a=A, cubic=True), [0.2, 0, 0], A, 2.0)
