"""The network part of the mMACE energy is bounded in the moments (no blow-up beyond
moment_scale), and the moment features themselves obey their stated bounds and parities."""
import numpy as np
import pytest
import torch

from mmace_fast.data.graph import collate
from mmace_fast.data.records import Configuration
from mmace_fast.model import MMACE
from mmace_fast.model.magnetic import MomentFeatures
from mmace_fast.model.testing import small_config

# a 4-atom FeAl cell (B2-like, doubled along x)
A = 2.9
POSITIONS = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5], [1.0, 0.0, 0.0], [1.5, 0.5, 0.5]]) * A
CELL = np.diag([2 * A, A, A])
NUMBERS = np.array([26, 13, 26, 13])
SIZES = np.concatenate([np.linspace(0.0, 5.0, 11), np.linspace(6.0, 20.0, 8)])   # muB
E_BOUND = 50.0   # eV for the whole 4-atom cell; random tiny models give |E| ~ 1


def _energies(model, magmoms_of_size):
    """Energies [len(SIZES)] eV, all sizes in one batch."""
    confs = [Configuration(positions=POSITIONS, cell=CELL, pbc=np.array([True] * 3),
                           numbers=NUMBERS, magmoms=magmoms_of_size(s)) for s in SIZES]
    return model(collate(confs, model.config.r_cut), forces=False)["energy"].detach().numpy()


@pytest.mark.parametrize("soc,seed", [(False, 0), (False, 1), (True, 2)])
def test_energy_bounded_as_one_moment_grows(soc, seed):
    torch.manual_seed(seed)
    model = MMACE(small_config(soc=soc, moment_scale=[3.0, 3.0], landau_order=0))
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(4, 3))
    direction = base[0] / np.linalg.norm(base[0])

    def moments(s):
        m = base.copy()
        m[0] = s * direction          # one Fe moment grows from 0 to 20 muB
        return m

    e = _energies(model, moments)
    assert np.all(np.isfinite(e)), e
    assert np.max(np.abs(e)) < E_BOUND, e
    # the moment does matter (a model ignoring it would pass the bound trivially)
    assert np.ptp(e) > 1e-3, e
    # and it saturates: from 10 to 20 muB the change is small compared to the range
    assert abs(e[-1] - e[-3]) < 0.5 * np.ptp(e) + 1e-12, e


def test_all_moments_large_bounded():
    torch.manual_seed(3)
    model = MMACE(small_config(soc=False, moment_scale=[3.0, 3.0], landau_order=0))
    rng = np.random.default_rng(3)
    d = rng.normal(size=(4, 3))
    d /= np.linalg.norm(d, axis=1)[:, None]
    e = _energies(model, lambda s: s * d)
    assert np.all(np.isfinite(e)) and np.max(np.abs(e)) < E_BOUND, e


def test_moment_feature_bounds_and_parity():
    feats = MomentFeatures([3.0, 0.5], n_mag=5, l_spin_max=3)
    rng = np.random.default_rng(0)
    m = torch.as_tensor(rng.normal(size=(400, 3)) * np.logspace(-8, 4, 400)[:, None])
    species = torch.as_tensor(rng.integers(0, 2, size=400))
    x, phi, ys = feats(m, species)
    assert torch.all(phi.abs() <= 1.0 + 1e-12)
    for l in range(4):
        norm2 = (ys[:, l * l:(l + 1) ** 2] ** 2).sum(-1)
        assert torch.all(norm2 < 2 * l + 1 + 1e-9)   # |Y_l(u)|^2 = (2l+1) |u|^(2l), |u| < 1
        xm, phim, ysm = feats(-m, species)
        assert torch.allclose(ysm[:, l * l:(l + 1) ** 2], (-1) ** l * ys[:, l * l:(l + 1) ** 2],
                              rtol=0, atol=1e-14)
    assert torch.equal(phim, phi)
    # large moments saturate: T_k(-1) = (-1)^k
    big = feats(torch.tensor([[1e8, 0.0, 0.0]], dtype=torch.float64),
                torch.tensor([0]))[1]
    assert torch.allclose(big[0], torch.tensor([(-1.0) ** k for k in range(5)],
                                               dtype=torch.float64), atol=1e-12)


def test_landau_top_order_confines():
    """The explicit one-body term is the only unbounded part: a positive top coefficient makes
    E grow with |m| (what confines moments in Monte Carlo)."""
    torch.manual_seed(0)
    model = MMACE(small_config(soc=False, moment_scale=[3.0, 3.0], landau_order=2))
    with torch.no_grad():
        model.landau.zero_()
        model.landau[:, 1] = 0.1
    e = _energies(model, lambda s: np.array([[s, 0, 0], [0, 0, 0.1], [0, 0.1, 0], [0.1, 0, 0]]))
    assert e[-1] > e[-5] and e[-1] > 0.1 * (20.0 / 3.0) ** 4 - E_BOUND, e
