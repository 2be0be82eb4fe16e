"""Forces, stress and magnetic forces of mMACE equal central finite differences of its energy."""
import numpy as np
import pytest
import torch

from mmace_fast.data.graph import collate
from mmace_fast.data.records import Configuration
from mmace_fast.model import MMACE
from mmace_fast.model.testing import random_configuration, small_config

STEP = 1e-5
RTOL = 1e-6


def _energy(model, positions, cell, magmoms, conf):
    c = Configuration(positions=positions, cell=cell, pbc=conf.pbc, numbers=conf.numbers,
                      magmoms=magmoms)
    return model(collate([c], model.config.r_cut), forces=False)["energy"].item()


@pytest.fixture(scope="module", params=[False, True], ids=["nonsoc", "soc"])
def setup(request):
    torch.manual_seed(4)
    model = MMACE(small_config(soc=request.param))
    with torch.no_grad():
        model.landau.normal_()
    conf = random_configuration(np.random.default_rng(3), n_atoms=4, a=3.6)
    out = model(collate([conf], model.config.r_cut), forces=True, stress=True, magforces=True)
    return model, conf, {k: v.detach().numpy() for k, v in out.items()}


def _compare(analytic, numeric):
    scale = np.abs(numeric).max()
    assert scale > 1e-4   # the derivative is not trivially zero
    np.testing.assert_allclose(analytic, numeric, rtol=0, atol=RTOL * scale)


def test_forces_finite_difference(setup):
    model, c, out = setup
    num = np.zeros_like(c.positions)
    for a in range(c.n_atoms):
        for k in range(3):
            p, m = c.positions.copy(), c.positions.copy()
            p[a, k] += STEP
            m[a, k] -= STEP
            num[a, k] = -(_energy(model, p, c.cell, c.magmoms, c)
                          - _energy(model, m, c.cell, c.magmoms, c)) / (2 * STEP)
    _compare(out["forces"], num)


def test_stress_finite_difference(setup):
    """sigma = (1/V) dE/d(strain), strain applied to positions and cell (ASE sign)."""
    model, c, out = setup
    vol = abs(np.linalg.det(c.cell))
    num = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            eps = np.zeros((3, 3))
            eps[i, j] = eps[j, i] = STEP / 2 if i != j else STEP
            es = []
            for sgn in (1, -1):
                f = np.eye(3) + sgn * eps
                es.append(_energy(model, c.positions @ f, c.cell @ f, c.magmoms, c))
            num[i, j] = (es[0] - es[1]) / (2 * STEP) / vol
    _compare(out["stress"][0], num)
    np.testing.assert_allclose(out["stress"][0], out["stress"][0].T, atol=1e-14)


def test_magforces_finite_difference(setup):
    model, c, out = setup
    num = np.zeros_like(c.magmoms)
    for a in range(c.n_atoms):
        for k in range(3):
            p, m = c.magmoms.copy(), c.magmoms.copy()
            p[a, k] += STEP
            m[a, k] -= STEP
            num[a, k] = -(_energy(model, c.positions, c.cell, p, c)
                          - _energy(model, c.positions, c.cell, m, c)) / (2 * STEP)
    _compare(out["magforces"], num)


def test_magforces_defined_at_zero_moment():
    """Solid harmonics are polynomials: -dE/dm at an exactly zero moment is finite and equals
    the finite difference (a normalised Y(m/|m|) would give NaN or a wrong one-sided limit)."""
    torch.manual_seed(5)
    model = MMACE(small_config(soc=True))
    c = random_configuration(np.random.default_rng(6), n_atoms=4, a=3.6)
    mag = c.magmoms.copy()
    mag[1] = 0.0
    batch = collate([Configuration(positions=c.positions, cell=c.cell, pbc=c.pbc,
                                   numbers=c.numbers, magmoms=mag)], model.config.r_cut)
    g = model(batch, forces=False, magforces=True)["magforces"].detach().numpy()
    assert np.all(np.isfinite(g))
    num = np.zeros(3)
    for k in range(3):
        p, m = mag.copy(), mag.copy()
        p[1, k] += STEP
        m[1, k] -= STEP
        num[k] = -(_energy(model, c.positions, c.cell, p, c)
                   - _energy(model, c.positions, c.cell, m, c)) / (2 * STEP)
    _compare(g[1], num)


def test_training_mode_keeps_graph():
    torch.manual_seed(7)
    model = MMACE(small_config(soc=False, n_layers=1))
    c = random_configuration(np.random.default_rng(8), n_atoms=3, a=3.4)
    out = model(collate([c], model.config.r_cut), forces=True, magforces=True, training=True)
    loss = (out["forces"] ** 2).sum() + (out["magforces"] ** 2).sum()
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and any(float(g.abs().sum()) > 0 for g in grads)


def test_batched_equals_separate():
    torch.manual_seed(9)
    model = MMACE(small_config(soc=False))
    rng = np.random.default_rng(10)
    confs = [random_configuration(rng, n_atoms=n, a=3.5) for n in (3, 4)]
    both = model(collate(confs, model.config.r_cut), stress=True, magforces=True)
    for g, c in enumerate(confs):
        one = model(collate([c], model.config.r_cut), stress=True, magforces=True)
        sl = slice(sum(x.n_atoms for x in confs[:g]), sum(x.n_atoms for x in confs[:g + 1]))
        assert abs(both["energy"][g].item() - one["energy"][0].item()) < 1e-12
        for key in ("forces", "magforces"):
            np.testing.assert_allclose(both[key][sl].detach(), one[key].detach(), atol=1e-12)
        np.testing.assert_allclose(both["stress"][g].detach(), one["stress"][0].detach(),
                                   atol=1e-12)


def test_landau_parameter_gradient_finite_difference():
    """dE/d(raw landau), including the softplus on the top column, equals finite differences
    (what training back-propagates through)."""
    torch.manual_seed(11)
    model = MMACE(small_config(soc=False, landau_order=3))
    with torch.no_grad():
        model.landau.normal_()
    c = random_configuration(np.random.default_rng(12), n_atoms=4, a=3.6, tiny_fraction=0.0)
    batch = collate([c], model.config.r_cut)
    e = model(batch, forces=False)["energy"].sum()
    (g,) = torch.autograd.grad(e, model.landau)
    num = np.zeros(tuple(model.landau.shape))
    for s in range(num.shape[0]):
        for k in range(num.shape[1]):
            es = []
            for sgn in (1, -1):
                with torch.no_grad():
                    model.landau[s, k] += sgn * STEP
                es.append(model(batch, forces=False)["energy"].item())
                with torch.no_grad():
                    model.landau[s, k] -= sgn * STEP
            num[s, k] = (es[0] - es[1]) / (2 * STEP)
    _compare(g.numpy(), num)
