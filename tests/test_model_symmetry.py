"""Exact symmetries of the mMACE model (float64, relative tolerance 1e-10).

Each test transforms a random periodic structure with random moments (some tiny) and compares
energies; the "changes" tests assert that a non-symmetry does move the energy, so a model that
ignored moments or geometry would fail them.
"""
import json

import numpy as np
import pytest
import torch

from mmace_fast.data.graph import collate
from mmace_fast.data.records import Configuration
from mmace_fast.model import MMACE, ModelConfig, UnknownSpeciesError
from mmace_fast.model.testing import random_configuration, rotation, small_config

RTOL = 1e-10


def energy(model, conf, with_sites=False):
    out = model(collate([conf], model.config.r_cut), forces=False)
    e = out["energy"].detach()
    return (e[0].item(), out["site_energies"].detach().numpy()) if with_sites else e[0].item()


def transformed(conf, positions=None, cell=None, magmoms=None, numbers=None):
    return Configuration(positions=conf.positions if positions is None else positions,
                         cell=conf.cell if cell is None else cell, pbc=conf.pbc,
                         numbers=conf.numbers if numbers is None else numbers,
                         magmoms=conf.magmoms if magmoms is None else magmoms)


def assert_same(e1, e2):
    assert abs(e1 - e2) <= RTOL * max(1.0, abs(e1)), (e1, e2, abs(e1 - e2))


def assert_differs(e1, e2, threshold=1e-6):
    assert abs(e1 - e2) > threshold * max(1.0, abs(e1)), (e1, e2)


def _model(soc, seed, **kw):
    torch.manual_seed(seed)
    model = MMACE(small_config(soc=soc, **kw))
    with torch.no_grad():   # make the one-body term and scale non-trivial
        model.landau.normal_()
    return model


@pytest.fixture(scope="module")
def models():
    return {"nonsoc": _model(False, 1), "soc": _model(True, 2),
            "nonsoc3": _model(False, 3, species=(26, 13, 7))}


@pytest.fixture(scope="module")
def confs():
    rng = np.random.default_rng(11)
    return [random_configuration(rng, species=(26, 13), n_atoms=5),
            random_configuration(rng, species=(26,), n_atoms=3, a=3.2),
            random_configuration(rng, species=(26, 13, 7), n_atoms=6, a=4.2)]


def _cases(models, confs):
    yield models["nonsoc"], confs[0]
    yield models["nonsoc"], confs[1]
    yield models["soc"], confs[0]
    yield models["nonsoc3"], confs[2]


# ---------------------------------------------------------------- both modes
def test_translation_permutation_images(models, confs):
    rng = np.random.default_rng(5)
    for model, c in _cases(models, confs):
        e0, s0 = energy(model, c, with_sites=True)
        assert_same(e0, energy(model, transformed(c, positions=c.positions + rng.normal(size=3))))
        perm = rng.permutation(c.n_atoms)
        e1, s1 = energy(model, transformed(c, positions=c.positions[perm], numbers=c.numbers[perm],
                                           magmoms=c.magmoms[perm]), with_sites=True)
        assert_same(e0, e1)
        np.testing.assert_allclose(s1, s0[perm], rtol=0, atol=RTOL * max(1, abs(e0)))
        shifts = rng.integers(-2, 3, size=(c.n_atoms, 3))
        assert_same(e0, energy(model, transformed(c, positions=c.positions + shifts @ c.cell)))


def test_supercell_doubles_energy(models, confs):
    for model, c in _cases(models, confs):
        e0 = energy(model, c)
        cell2 = c.cell.copy()
        cell2[0] *= 2
        sup = Configuration(positions=np.concatenate([c.positions, c.positions + c.cell[0]]),
                            cell=cell2, pbc=c.pbc, numbers=np.tile(c.numbers, 2),
                            magmoms=np.tile(c.magmoms, (2, 1)))
        assert_same(2 * e0, energy(model, sup))


def test_time_reversal(models, confs):
    for model, c in _cases(models, confs):
        e0 = energy(model, c)
        assert_same(e0, energy(model, transformed(c, magmoms=-c.magmoms)))
        # flipping only some moments is not a symmetry (moments do matter)
        flip = np.ones(c.n_atoms)
        flip[np.argmax(np.linalg.norm(c.magmoms, axis=1))] = -1
        assert_differs(e0, energy(model, transformed(c, magmoms=c.magmoms * flip[:, None])))


def test_inversion_with_axial_moments(models, confs):
    for model, c in _cases(models, confs):
        assert_same(energy(model, c),
                    energy(model, transformed(c, positions=-c.positions, cell=-c.cell)))


def test_smooth_cutoff(models):
    """A dimer crossing r_cut: energy continuous and equal to the isolated value past r_cut,
    force ~ (r_cut - r)^2 -> 0 (envelope with vanishing value and two derivatives)."""
    for key in ("nonsoc", "soc"):
        model = models[key]
        rc = model.config.r_cut
        m = np.array([[0.3, -1.2, 2.0], [1.1, 0.4, -0.7]])

        def dimer(r):
            return Configuration(positions=[[0, 0, 0], [r, 0.2 * 0, 0]], cell=np.zeros((3, 3)),
                                 pbc=[False] * 3, numbers=[26, 13], magmoms=m)

        def e_f(r):
            out = model(collate([dimer(r)], rc), forces=True)
            return out["energy"].item(), out["forces"][1, 0].item()

        e_far, f_far = e_f(rc + 1e-6)
        assert f_far == 0.0
        e_in, f_in = e_f(rc - 1e-4)
        e_mid, f_mid = e_f(rc - 0.5)
        assert abs(f_mid) > 1e-6                      # the pair does interact inside
        assert abs(e_in - e_far) < 1e-9 * max(1, abs(e_mid - e_far)) + 1e-12
        assert abs(f_in) < 1e-5 * abs(f_mid)


# ---------------------------------------------------------------- non-SOC
def _spatial(c, q):
    return transformed(c, positions=c.positions @ q.T, cell=c.cell @ q.T)


def test_nonsoc_spatial_and_spin_o3(models, confs):
    rng = np.random.default_rng(7)
    for model, c in _cases(models, confs):
        if model.config.soc:
            continue
        e0 = energy(model, c)
        for proper in (True, False):
            q = rotation(rng, proper)
            assert_same(e0, energy(model, _spatial(c, q)))                      # space only
            assert_same(e0, energy(model, transformed(c, magmoms=c.magmoms @ q.T)))  # spin only
            r2 = rotation(rng, not proper)                                      # both, different
            both = _spatial(c, q)
            assert_same(e0, energy(model, transformed(both, magmoms=c.magmoms @ r2.T)))


def test_nonsoc_forces_and_magforces_covariant(models, confs):
    model, c = models["nonsoc"], confs[0]
    rng = np.random.default_rng(8)
    q, s = rotation(rng, False), rotation(rng, True)
    out0 = model(collate([c], model.config.r_cut), magforces=True)
    c2 = transformed(_spatial(c, q), magmoms=c.magmoms @ s.T)
    out1 = model(collate([c2], model.config.r_cut), magforces=True)
    f0, f1 = out0["forces"].detach().numpy(), out1["forces"].detach().numpy()
    g0, g1 = out0["magforces"].detach().numpy(), out1["magforces"].detach().numpy()
    np.testing.assert_allclose(f1, f0 @ q.T, atol=RTOL * np.abs(f0).max())
    np.testing.assert_allclose(g1, g0 @ s.T, atol=RTOL * np.abs(g0).max())


# ---------------------------------------------------------------- SOC
def test_soc_joint_rotation_proper_and_improper(models, confs):
    model, c = models["soc"], confs[0]
    rng = np.random.default_rng(9)
    e0 = energy(model, c)
    for proper in (True, False):
        q = rotation(rng, proper)
        axial = np.linalg.det(q) * c.magmoms @ q.T          # m -> det(Q) Q m
        assert_same(e0, energy(model, transformed(_spatial(c, q), magmoms=axial)))
        # (m -> Q m for improper Q, i.e. moments taken as polar, equals the axial rule followed
        # by time reversal, so with exact T it is a symmetry too and cannot be a negative test)


def test_soc_spin_only_and_space_only_rotations_change_energy(models, confs):
    model, c = models["soc"], confs[0]
    rng = np.random.default_rng(10)
    e0 = energy(model, c)
    q = rotation(rng, True)
    assert_differs(e0, energy(model, transformed(c, magmoms=c.magmoms @ q.T)))
    assert_differs(e0, energy(model, _spatial(c, q)))


def test_soc_forces_and_magforces_covariant(models, confs):
    model, c = models["soc"], confs[0]
    q = rotation(np.random.default_rng(12), False)
    out0 = model(collate([c], model.config.r_cut), magforces=True)
    c2 = transformed(_spatial(c, q), magmoms=np.linalg.det(q) * c.magmoms @ q.T)
    out1 = model(collate([c2], model.config.r_cut), magforces=True)
    f0, f1 = out0["forces"].detach().numpy(), out1["forces"].detach().numpy()
    g0, g1 = out0["magforces"].detach().numpy(), out1["magforces"].detach().numpy()
    np.testing.assert_allclose(f1, f0 @ q.T, atol=RTOL * np.abs(f0).max())
    np.testing.assert_allclose(g1, np.linalg.det(q) * g0 @ q.T, atol=RTOL * np.abs(g0).max())


# ---------------------------------------------------------------- construction
def test_symmetric_contraction_basis_is_equivariant_and_symmetric():
    from e3nn import o3
    from mmace_fast.model.symmetric_contraction import symmetric_basis
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)   # e3nn builds D matrices in the default dtype
    try:
        irr = o3.Irreps("0e+1o+1e+2e")
        basis = symmetric_basis(irr, o3.Irreps("0e+1o"), 3)
        q = -o3.rand_matrix()
        d_in = irr.D_from_matrix(q)
        x = torch.randn(irr.dim)
        for (l, p, nu), u in basis.items():
            d_out = o3.Irrep(l, p).D_from_matrix(q)

            def apply(v):
                t = u
                for _ in range(nu):
                    t = t @ v
                return t
            np.testing.assert_allclose(apply(d_in @ x).numpy(), (apply(x) @ d_out.T).numpy(),
                                       atol=1e-12)
            if nu >= 2:
                np.testing.assert_allclose(u.numpy(), u.transpose(-1, -2).numpy(), atol=1e-13)
        assert basis[(0, 1, 2)].shape[0] == 4          # one invariant per irrep: x.x
    finally:
        torch.set_default_dtype(old)


def test_rebuild_from_config_json_and_state_dict(models, confs):
    for key in ("nonsoc", "soc"):
        model = models[key]
        text = json.dumps(model.config.to_dict())
        torch.manual_seed(123)   # a different init: everything must come from the state_dict
        clone = MMACE(ModelConfig.from_dict(json.loads(text)))
        clone.load_state_dict(model.state_dict())
        assert energy(clone, confs[0]) == energy(model, confs[0])


def test_unknown_species_raises(models):
    c = Configuration(positions=[[0, 0, 0], [1.5, 0, 0]], cell=np.eye(3) * 6, pbc=[True] * 3,
                      numbers=[26, 29], magmoms=np.zeros((2, 3)))
    with pytest.raises(UnknownSpeciesError, match="29"):
        energy(models["nonsoc"], c)
