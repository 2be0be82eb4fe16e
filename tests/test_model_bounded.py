"""The network part of the mMACE energy is bounded in the moments (no blow-up beyond
moment_scale), and the moment features themselves obey their stated bounds and parities."""
import numpy as np
import pytest
import torch

from mmace_fast.data.graph import collate
from mmace_fast.data.records import Configuration
from mmace_fast.model import LandauCoefficientError, MMACE
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
    model.set_landau_coefficients([[0.0, 0.1], [0.0, 0.1]])
    e = _energies(model, lambda s: np.array([[s, 0, 0], [0, 0, 0.1], [0, 0.1, 0], [0.1, 0, 0]]))
    assert e[-1] > e[-5] and e[-1] > 0.1 * (20.0 / 3.0) ** 4 - E_BOUND, e


@pytest.mark.parametrize("order", [1, 2, 3])
def test_landau_top_coefficient_positive_for_any_raw_value(order):
    torch.manual_seed(order)
    model = MMACE(small_config(soc=False, landau_order=order))
    raw = torch.tensor([[-30.0] * order, [25.0] * order])
    with torch.no_grad():
        model.landau.copy_(raw)
    a = model.landau_coefficients()
    assert a.shape == (2, order)
    assert torch.all(a[:, -1] > 0), a
    # lower orders are the raw values; the top one is softplus of the raw one
    assert torch.equal(a[:, :-1], raw[:, :-1])
    np.testing.assert_allclose(a[:, -1].detach(), np.log1p(np.exp(raw[:, -1].numpy())),
                               rtol=1e-14)
    # set_landau_coefficients inverts it; a non-positive top coefficient is refused
    target = torch.tensor([[-0.3] * (order - 1) + [1e-6], [0.2] * (order - 1) + [40.0]])
    model.set_landau_coefficients(target)
    np.testing.assert_allclose(model.landau_coefficients().detach(), target, rtol=1e-12)
    with pytest.raises(LandauCoefficientError):
        model.set_landau_coefficients(torch.zeros(2, order))
    with pytest.raises(ValueError):
        model.set_landau_coefficients(torch.ones(3, order))


def test_landau_order_zero_has_no_coefficients():
    model = MMACE(small_config(soc=False, landau_order=0))
    assert model.landau_coefficients().shape == (2, 0)


@pytest.mark.parametrize("soc,seed", [(False, 4), (True, 5)])
def test_energy_bounded_below_for_random_raw_landau(soc, seed):
    """Random model, random raw Landau parameters (strongly negative lower orders and a
    negative raw top value): E is bounded below as all moments grow, and grows at large |m|."""
    torch.manual_seed(seed)
    model = MMACE(small_config(soc=soc, moment_scale=[3.0, 3.0], landau_order=3))
    with torch.no_grad():
        model.landau.normal_()
        model.landau[:, :-1] -= 2.0          # a_1, a_2 ~ -2 eV: a deep well at finite |m|
        model.landau[:, -1] = -3.0           # a_3 = softplus(-3) = 0.049 eV
    rng = np.random.default_rng(seed)
    d = rng.normal(size=(4, 3))
    d /= np.linalg.norm(d, axis=1)[:, None]
    sizes = np.concatenate([np.linspace(0.0, 6.0, 13), [10.0, 20.0, 40.0, 80.0, 160.0]])
    confs = [Configuration(positions=POSITIONS, cell=CELL, pbc=np.array([True] * 3),
                           numbers=NUMBERS, magmoms=s * d) for s in sizes]
    e = model(collate(confs, model.config.r_cut), forces=False)["energy"].detach().numpy()
    assert np.all(np.isfinite(e))
    # lower bound: network part (|E_net| < E_BOUND) + min of the one-body polynomials
    a = model.landau_coefficients().detach().numpy()
    x = np.linspace(0, (160.0 / 3.0) ** 2, 400001)
    poly_min = sum(min(np.polyval(np.r_[a[s][::-1], 0.0], x)) for s in model.species_index(
        torch.as_tensor(NUMBERS)).tolist())
    assert e.min() > poly_min - E_BOUND, (e.min(), poly_min)
    # the well is real (E dips below E(m = 0)) and the top order wins at large |m|
    assert e.min() < e[0] - 0.1
    assert e[-1] > e[0] + 100.0 and np.all(np.diff(e[-4:]) > 0), e
