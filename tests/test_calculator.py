"""ASE calculator: derivatives against finite differences of the calculator's own energy."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.calculators.calculator import PropertyNotImplementedError

from mmace_fast.calculator import MMACECalculator
from mmace_fast.model import ModelConfig
from mmace_fast.model.io import build_model, save_model

TINY = dict(species=[13, 26], r_cut=3.6, n_bessel=4, radial_mlp=[8], n_channels=4, l_max_sh=2,
            l_max_message=2, l_max_hidden=1, n_layers=2, correlation=2, readout_mlp=[4],
            l_spin_max=2, spin_pair_l_max=1, n_mag_features=3, avg_num_neighbors=10.0,
            e0=[-1.0, -3.0])


SOC_SMALLER = dict(l_max_sh=1, l_max_message=1, l_max_hidden=0, l_spin_max=1)


@pytest.fixture(scope="module", params=[False, True], ids=["nonsoc", "soc"])
def model_and_config(request):
    torch.manual_seed(7)
    kw = dict(TINY, soc=request.param, **(SOC_SMALLER if request.param else {}))
    model, cfg = build_model(kw)
    with torch.no_grad():              # make every term visible
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model, cfg


def _atoms(seed=0, vectors=True):
    rng = np.random.default_rng(seed)
    cell = 2.9 * np.diag([2.0, 1.0, 1.0]) + 0.1 * rng.normal(size=(3, 3))
    frac = np.array([[0, 0, 0], [0.25, 0.5, 0.5], [0.5, 0, 0], [0.75, 0.5, 0.5]])
    a = Atoms(numbers=[26, 13, 26, 13], positions=frac @ cell + 0.08 * rng.normal(size=(4, 3)),
              cell=cell, pbc=True)
    size = rng.uniform(0.5, 2.5, size=4) * rng.choice([-1.0, 1.0], size=4)   # |m| < scale 3
    d = rng.normal(size=(4, 3))
    m = size[:, None] * d / np.linalg.norm(d, axis=1, keepdims=True) if vectors else size
    a.set_initial_magnetic_moments(m)
    return a


def _energy(calc, atoms):
    atoms.calc = calc
    return atoms.get_potential_energy()


def test_forces_are_minus_gradient_of_energy(model_and_config):
    calc = MMACECalculator(model=model_and_config[0], config=model_and_config[1])
    atoms = _atoms()
    atoms.calc = calc
    forces = atoms.get_forces()
    assert np.abs(forces).max() > 1e-3                 # a non-trivial check
    h = 1e-5
    fd = forces.copy()
    for i in (0, 1):                                    # one Fe, one Al: halves the cost
        for k in range(3):
            a = atoms.copy()
            a.positions[i, k] += h
            ep = _energy(calc, a)
            a.positions[i, k] -= 2 * h
            em = _energy(calc, a)
            fd[i, k] = -(ep - em) / (2 * h)
    np.testing.assert_allclose(forces, fd, atol=1e-7 * max(1.0, np.abs(forces).max()))


def test_stress_matches_strain_derivative(model_and_config):
    calc = MMACECalculator(model=model_and_config[0], config=model_and_config[1])
    atoms = _atoms(1)
    atoms.calc = calc
    stress = atoms.get_stress()                         # Voigt xx yy zz yz xz xy, eV/A^3
    assert stress.shape == (6,) and np.abs(stress).max() > 1e-5
    vol = atoms.get_volume()
    h = 1e-6
    fd = np.zeros((3, 3))
    for a_ in range(3):
        for b_ in range(a_, 3):
            eps = np.zeros((3, 3))
            eps[a_, b_] = eps[b_, a_] = h / 2 if a_ != b_ else h
            es = []
            for sgn in (1, -1):
                at = atoms.copy()
                at.set_cell(atoms.cell[:] @ (np.eye(3) + sgn * eps), scale_atoms=True)
                es.append(_energy(calc, at))
            fd[a_, b_] = fd[b_, a_] = (es[0] - es[1]) / (2 * h) / vol
    voigt = [fd[0, 0], fd[1, 1], fd[2, 2], fd[1, 2], fd[0, 2], fd[0, 1]]
    np.testing.assert_allclose(stress, voigt, rtol=1e-6, atol=1e-8)


def test_magforces_are_minus_gradient_over_moments(model_and_config):
    calc = MMACECalculator(model=model_and_config[0], config=model_and_config[1])
    atoms = _atoms(2)
    atoms.calc = calc
    mf = calc.get_property("magforces", atoms)
    assert mf.shape == (4, 3) and np.abs(mf).max() > 1e-3
    m0 = atoms.get_initial_magnetic_moments().copy()
    h = 1e-5
    fd = mf.copy()
    for i in (0, 1):
        for k in range(3):
            es = []
            for sgn in (1, -1):
                m = m0.copy()
                m[i, k] += sgn * h
                atoms.set_initial_magnetic_moments(m)    # changes trigger recalculation
                es.append(atoms.get_potential_energy())
            fd[i, k] = -(es[0] - es[1]) / (2 * h)
    np.testing.assert_allclose(mf, fd, atol=1e-7 * max(1.0, np.abs(mf).max()))


def test_site_energies_collinear_moments_and_model_dir(tmp_path, model_and_config):
    model, cfg = model_and_config
    save_model(tmp_path, model, cfg)
    from_dir = MMACECalculator(str(tmp_path))
    direct = MMACECalculator(model=model, config=cfg)
    atoms = _atoms(3, vectors=False)                    # [n] scalars -> along z
    e_dir = _energy(from_dir, atoms)
    assert from_dir.get_property("energies", atoms).sum() == pytest.approx(e_dir, abs=1e-10)
    assert from_dir.get_property("free_energy", atoms) == e_dir
    vec = atoms.copy()
    vec.set_initial_magnetic_moments(None)
    m = np.zeros((4, 3))
    m[:, 2] = atoms.get_initial_magnetic_moments()
    vec.set_initial_magnetic_moments(m)
    assert _energy(direct, vec) == pytest.approx(e_dir, abs=1e-12)


def test_non_periodic_cluster_and_errors(model_and_config):
    model, cfg = model_and_config
    calc = MMACECalculator(model=model, config=cfg)
    cluster = Atoms("FeAlFe", positions=[[0, 0, 0], [2.4, 0, 0], [1.2, 2.0, 0.3]])
    cluster.set_initial_magnetic_moments([[0, 0, 2.0], [0, 0.1, 0], [1.0, 0, 1.0]])
    cluster.calc = calc
    assert np.isfinite(cluster.get_potential_energy())
    np.testing.assert_allclose(cluster.get_forces().sum(0), 0.0, atol=1e-10)   # translation
    with pytest.raises(PropertyNotImplementedError):
        cluster.get_stress()
    cu = Atoms("Cu", positions=[[0, 0, 0]], cell=3 * np.eye(3), pbc=True)
    cu.calc = calc
    with pytest.raises(ValueError, match="unknown to the model"):
        cu.get_potential_energy()
    with pytest.raises(ValueError, match="model_dir, or model= and config="):
        MMACECalculator()
    assert isinstance(cfg, ModelConfig)
