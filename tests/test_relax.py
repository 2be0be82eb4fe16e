"""Moment relaxation reaches analytic minima."""
import numpy as np
import pytest
import torch

from mmace_fast.data.graph import collate
from mmace_fast.data.records import Configuration, DataError
from mmace_fast.model import MMACE
from mmace_fast.model.relax import relax_moments
from mmace_fast.model.testing import random_configuration, small_config

A_FE, B_FE = -0.245, 1.0     # E1 = a x + b x^2, x = (|m| / 2 muB)^2 -> x* = 0.1225, |m*| = 0.7
A_AL, B_AL = 0.5, 1.0        # minimum at m = 0


def landau_only_model(soc):
    torch.manual_seed(0)
    model = MMACE(small_config(soc=soc, species=(26, 13), moment_scale=[2.0, 2.0]))
    with torch.no_grad():
        model.scale.zero_()                   # switch off the learned many-body part
    model.set_landau_coefficients([[A_FE, B_FE], [A_AL, B_AL]])
    return model


def feal_b2(magmoms):
    a = 2.87
    return Configuration(positions=[[0, 0, 0], [a / 2] * 3], cell=np.eye(3) * a,
                         pbc=[True] * 3, numbers=[26, 13], magmoms=magmoms)


@pytest.mark.parametrize("soc", [False, True])
@pytest.mark.parametrize("fix_directions", [False, True])
def test_landau_minimum_feal(soc, fix_directions):
    model = landau_only_model(soc)
    m_init = np.array([[0.3, -0.2, 1.5], [0.1, 0.05, 0.2]])
    m, e = relax_moments(model, feal_b2(m_init), fix_directions=fix_directions)
    np.testing.assert_allclose(np.linalg.norm(m[0]), 0.7, atol=1e-7)
    np.testing.assert_allclose(m[0] / np.linalg.norm(m[0]), m_init[0] / np.linalg.norm(m_init[0]),
                               atol=1e-7)                       # direction-independent energy
    np.testing.assert_allclose(m[1], 0.0, atol=1e-6)
    x = 0.1225
    assert abs(e - (A_FE * x + B_FE * x * x)) < 1e-12


def test_full_model_relaxation_is_stationary():
    torch.manual_seed(1)
    model = MMACE(small_config(soc=False))
    with torch.no_grad():   # a deep one-body well keeps the random many-body part local
        model.scale.fill_(0.02)
    model.set_landau_coefficients([[-2.0, 4.0], [1.0, 4.0]])
    c = random_configuration(np.random.default_rng(2), n_atoms=4, a=3.6, tiny_fraction=0.0)
    e_start = model(collate([c], model.config.r_cut), forces=False)["energy"].item()
    m, e = relax_moments(model, c)
    relaxed = Configuration(positions=c.positions, cell=c.cell, pbc=c.pbc, numbers=c.numbers,
                            magmoms=m)
    g = model(collate([relaxed], model.config.r_cut), forces=False, magforces=True)["magforces"]
    assert e < e_start
    assert float(g.abs().max()) < 1e-6


def test_missing_moments_raise():
    c = feal_b2(None)
    with pytest.raises(DataError):
        relax_moments(landau_only_model(False), c)


@pytest.mark.parametrize("soc", [False, True])
@pytest.mark.parametrize("fix_directions", [False, True])
def test_frozen_relaxation_reaches_the_torch_minimum(soc, fix_directions):
    """The torch-free relaxation (C++ energies and -dE/dm, scipy L-BFGS) finds the minimum
    the torch one finds, on a model with a many-body part."""
    from mmace_fast.export import FrozenModel, export_model
    from mmace_fast.export.relax import relax_moments as relax_frozen
    torch.manual_seed(3)
    model = MMACE(small_config(soc=soc, species=(26, 13), moment_scale=[2.0, 2.0])).double()
    with torch.no_grad():
        model.scale.fill_(0.05)
    model.set_landau_coefficients([[A_FE, B_FE], [A_AL, B_AL]])
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        export_model(model, f"{tmp}/m.mmace")
        frozen = FrozenModel.load(f"{tmp}/m.mmace")
    m_init = np.array([[0.3, -0.2, 1.5], [0.1, 0.05, 0.2]])
    conf = feal_b2(m_init)
    m_ref, e_ref = relax_moments(model, conf, fix_directions=fix_directions, gtol=1e-10)
    m, e = relax_frozen(frozen, positions=conf.positions, cell=conf.cell, pbc=conf.pbc,
                        numbers=conf.numbers, magmoms=m_init, fix_directions=fix_directions,
                        gtol=1e-10, strict=True)
    assert e == pytest.approx(e_ref, abs=1e-10)
    # lengths and relative angles (without SOC a global rotation of the moments costs nothing,
    # and this model's SOC anisotropy is too shallow to pin the directions to 1e-6)
    np.testing.assert_allclose(m @ m.T, m_ref @ m_ref.T, atol=1e-6)
    assert e < frozen.energy(positions=conf.positions, cell=conf.cell, pbc=conf.pbc,
                             numbers=conf.numbers, magmoms=m_init)
