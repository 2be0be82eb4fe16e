"""Exchange extraction: exact recovery from the project's SpinHamiltonian, zero residual for an
mMACE that is exactly Heisenberg by construction, a finite non-Heisenberg residual for a random
mMACE, and the cap sampling of directions."""
import numpy as np
import pytest

from mmace_fast.baseline.extract import (extract_exchange, extract_from_mmace,
                                         hamiltonian_energy_fn, random_directions)
from mmace_fast.baseline.material import reference_structure
from mmace_fast.mc.hamiltonian import SpinHamiltonian
from mmace_fast.mc.presets import PAJDA_J_MRY, PAJDA_SHELLS, pajda_fe_exchange_ev

torch = pytest.importorskip("torch")

M_FE = 2.2


def test_recovers_spin_hamiltonian_exchange():
    ref = reference_structure("fe")
    st = ref.repeat(3)
    j = pajda_fe_exchange_ev()[:5] / M_FE ** 2                          # eV/muB^2
    ham = SpinHamiltonian.from_distances(st.positions, st.cell, st.pbc,
                                         np.linalg.norm(PAJDA_SHELLS[:5], axis=1) * 2.866, j)
    res = extract_exchange(hamiltonian_energy_fn(ham), st, ref, [26], {26: M_FE}, n_shells=5,
                           n_configs=24)
    got = np.array([r["value"] for r in res.rows])
    np.testing.assert_allclose(got, j, rtol=1e-8)
    np.testing.assert_allclose([r["unit_twice_mRy"] for r in res.rows], PAJDA_J_MRY[:5],
                               rtol=1e-8)
    assert res.non_heisenberg < 1e-8
    # energies alone (no magnetic forces) also suffice
    res_e = extract_exchange(hamiltonian_energy_fn(ham), st, ref, [26], {26: M_FE}, n_shells=5,
                             n_configs=24, sigma_magforce=None)
    np.testing.assert_allclose([r["value"] for r in res_e.rows], j, rtol=1e-7)


def _model(**kw):
    from mmace_fast.model import MMACE
    from mmace_fast.model.testing import small_config
    torch.manual_seed(0)
    return MMACE(small_config(species=(26,), **kw))


def test_heisenberg_by_construction_mmace_has_zero_residual():
    """One layer, correlation 1, spin harmonics up to l = 1, linear readout: at fixed moment
    lengths E = const + sum_pairs w(r) m_i.m_j exactly."""
    model = _model(n_layers=1, correlation=1, l_spin_max=1, readout_mlp=[], r_cut=3.0)
    res = extract_from_mmace(model, reference_structure("fe"), {26: M_FE}, n_configs=24)
    assert len(res.rows) == 2                                         # shells inside 3.0 A
    assert res.energy_spread_mev > 1e-3
    assert res.non_heisenberg < 1e-8
    assert res.magforce_rmse_mev < 1e-8 * res.magforce_spread_mev + 1e-12


def test_random_mmace_has_finite_non_heisenberg_content():
    model = _model()
    ref = reference_structure("fe")
    a = extract_from_mmace(model, ref, {26: M_FE}, n_configs=24, seed=3)
    b = extract_from_mmace(model, ref, {26: M_FE}, n_configs=24, seed=3)
    vals = np.array([r["value"] for r in a.rows])
    assert np.all(np.isfinite(vals)) and np.all(np.isfinite([r["sigma"] for r in a.rows]))
    np.testing.assert_array_equal(vals, [r["value"] for r in b.rows])
    assert a.non_heisenberg > 1e-3


def test_cap_sampling_is_uniform_in_cos_theta():
    rng = np.random.default_rng(0)
    ground = np.tile([1.0, 1.0, 0.0], (20000, 1)) / np.sqrt(2)
    d = random_directions(rng, ground, 40.0)
    cos = d @ ground[0]
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0, rtol=1e-12)
    assert cos.min() >= np.cos(np.deg2rad(40.0)) - 1e-12
    assert cos.mean() == pytest.approx((1 + np.cos(np.deg2rad(40.0))) / 2, abs=3e-3)
    full = random_directions(rng, ground, 180.0)
    assert np.abs(full.mean(axis=0)).max() < 0.03


def test_frozen_extraction_equals_torch_extraction():
    """The torch-free route (frozen C++ evaluator, energies only) fits the same constants as
    the torch model on the same configurations (the evaluators agree to 1e-10)."""
    from mmace_fast.baseline.extract import extract_from_frozen
    from mmace_fast.export.testing import frozen_from_torch
    from mmace_fast.mc.mmace_hamiltonian import FrozenMMACEHamiltonian

    model = _model().eval()
    frozen, _ = frozen_from_torch(model)
    ref = reference_structure("fe")
    st = ref.repeat((2, 2, 2))
    ham = FrozenMMACEHamiltonian.from_arrays(frozen, st.positions, st.cell, st.pbc, st.numbers)
    kw = dict(n_shells=3, n_configs=16, cone_deg=60.0, sigma_magforce=None, seed=2)
    a = extract_from_frozen(ham, st, ref, (26,), {26: M_FE}, **kw)
    b = extract_from_mmace(model, ref, {26: M_FE}, reps=(2, 2, 2), **kw)
    va, vb = (np.array([r["value"] for r in x.rows]) for x in (a, b))
    assert np.abs(va).max() > 1e-6
    np.testing.assert_allclose(va, vb, rtol=1e-7, atol=1e-12)
    with pytest.raises(Exception, match="no magnetic forces"):
        extract_from_frozen(ham, st, ref, (26,), {26: M_FE}, n_configs=8, sigma_magforce=1e-2)
