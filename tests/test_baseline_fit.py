"""Baseline fitting: exact recovery of the constants of data made by the project's own
SpinHamiltonian, statistical coverage of the stated uncertainties under noise, the CV choice of
the regulariser, degenerate parameters flagged, and the per-frame split respected."""
import numpy as np
import pytest

from mmace_fast.baseline.fit import FitError, QuantityWeights, Rows, ridge_cv
from mmace_fast.baseline.fixed_lattice import FixedLatticeDesign, FixedLatticeSpec
from mmace_fast.baseline.geometry import Structure
from mmace_fast.baseline.material import fit_material, reference_structure
from mmace_fast.baseline.model import BaselineModel, fit_frames, to_spin_hamiltonian
from mmace_fast.baseline.spin_lattice import SpinLatticeDesign, SpinLatticeSpec
from mmace_fast.data.records import Configuration

SIG_E, SIG_M = 1e-3, 1e-2          # eV/atom, eV/muB


def _fe_design(**kw):
    args = dict(n_shells=3, biquadratic_shells=1, landau_order=2, volume_order=1,
                lattice_background=False, landau_volume_order=1)
    args.update(kw)
    return FixedLatticeDesign(FixedLatticeSpec((26,), (26,), **args), reference_structure("fe"))


def _true_theta(design, seed):
    rng = np.random.default_rng(seed)
    th = np.zeros(design.n_params)
    for c, p in enumerate(design.params):
        th[c] = {"e0": -8.0, "volume": 1.0, "J": 0.01 / (p.index + 1), "B": 0.002,
                 "landau": -0.05 if p.index == 2 else 0.01, "landau_v": 0.3,
                 "D": 0.003, "Ku": 0.004, "Kc": 0.001, "shear": 2.0, "rattle": 1.0,
                 "J_v": 0.02}[p.kind]
        th[c] *= 1.0 + 0.3 * rng.normal()
    return th


def _frames(design, theta, n, seed, noise_e=0.0, noise_m=0.0, strain=0.0, rattle=0.0,
            max_rep=2):
    """Frames whose spin energy and -dE/dm come from the C++ SpinHamiltonian of the true
    model (to_spin_hamiltonian), plus the model's constants; optional Gaussian noise."""
    rng = np.random.default_rng(seed)
    true = BaselineModel(design, theta, np.zeros((len(theta),) * 2))
    ref = design.reference
    out = []
    for k in range(n):
        reps = rng.integers(1, max_rep + 1, size=3)
        reps[k % 3] = max_rep
        st = ref.repeat(reps)
        f = np.eye(3) + strain * rng.normal(size=(3, 3))
        st = Structure(st.positions @ f + rattle * rng.normal(size=st.positions.shape),
                       st.cell @ f, st.pbc, st.numbers)
        m = rng.normal(size=(st.n_atoms, 3)) * 1.3
        ham = to_spin_hamiltonian(true, st, magnetic_only=False)
        e = ham.energy(m) + ham.energy_offset + noise_e * st.n_atoms * rng.normal()
        mf = ham.effective_field(m) + noise_m * rng.normal(size=m.shape)
        out.append(Configuration(positions=st.positions, cell=st.cell, pbc=st.pbc,
                                 numbers=st.numbers, magmoms=m, energy=e, magforces=mf))
    return out


def test_noise_free_recovery_to_1e8():
    des = _fe_design()
    th = _true_theta(des, 0)
    frames = _frames(des, th, 30, 1, strain=0.02, rattle=0.03)
    fit = fit_frames(des, frames, QuantityWeights.from_sigmas(energy=SIG_E, magforces=SIG_M))
    assert fit.ridge.lam == pytest.approx(fit.ridge.lambdas[0])          # smallest on the grid
    np.testing.assert_allclose(fit.theta, th, rtol=1e-8, atol=1e-8 * np.abs(th).max())


def test_noise_free_recovery_of_soc_terms_two_species():
    """B2 with both species magnetic, free DMI vectors, uniaxial and cubic anisotropy."""
    ref = reference_structure("feal")
    des = FixedLatticeDesign(FixedLatticeSpec((13, 26), (13, 26), n_shells=2, dmi="free",
                                              dmi_shells=1, uniaxial=True, cubic=True,
                                              volume_order=0, lattice_background=False,
                                              landau_volume_order=0), ref)
    th = _true_theta(des, 2)
    rng = np.random.default_rng(5)
    for c, p in enumerate(des.params):          # distinct E0 per species
        if p.kind == "e0":
            th[c] = -5.0 - p.species[0] / 10
        if p.kind == "D":
            th[c] = 0.003 * rng.normal()
    frames = _frames(des, th, 24, 3, max_rep=3)     # period 3: DMI of a bond class survives
    for k, fr in enumerate(frames[::3]):        # antisite swaps make E0 per species identifiable
        fr.numbers[0] = 13 if fr.numbers[0] == 26 else 26
        true = BaselineModel(des, th, np.zeros((len(th),) * 2))
        p = true.predict(fr)
        fr.energy, fr.magforces = p["energy"], p["magforces"]
    fit = fit_frames(des, frames, QuantityWeights.from_sigmas(energy=SIG_E, magforces=SIG_M))
    np.testing.assert_allclose(fit.theta, th, rtol=1e-8, atol=1e-8 * np.abs(th).max())
    assert any(p.kind == "D" for p in des.params)


def test_uncertainties_cover_the_error_under_noise():
    """error / sigma is O(1): pooled mean of z^2 near 1 over seeds, no |z| beyond 4.5."""
    des = _fe_design()
    th = _true_theta(des, 0)
    z = []
    for seed in range(6):
        frames = _frames(des, th, 30, 100 + seed, noise_e=SIG_E, noise_m=SIG_M, strain=0.02)
        fit = fit_frames(des, frames, QuantityWeights.from_sigmas(energy=SIG_E,
                                                                 magforces=SIG_M))
        assert fit.ridge.sigma2 == pytest.approx(1.0, abs=0.3)        # noise scale recovered
        z.append((fit.theta - th) / fit.sigma)
    z = np.concatenate(z)
    assert 0.5 < np.mean(z ** 2) < 1.6
    assert np.abs(z).max() < 4.5


def test_cv_regulariser_small_without_noise_large_with_heavy_noise():
    des = _fe_design(n_shells=2, biquadratic_shells=0)
    th = _true_theta(des, 1)
    w = QuantityWeights.from_sigmas(energy=SIG_E, magforces=SIG_M)
    clean = fit_frames(des, _frames(des, th, 20, 7), w)
    noisy = fit_frames(des, _frames(des, th, 20, 7, noise_e=0.3, noise_m=3.0), w)
    assert clean.ridge.lam <= 1e-11
    assert noisy.ridge.lam >= 1e-4
    assert noisy.ridge.lam > 1e6 * clean.ridge.lam
    curve = clean.ridge.cv_score
    assert np.all(np.isfinite(curve)) and curve[0] < curve[-1]


def test_degenerate_columns_are_flagged_and_unique_ones_are_not():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(60, 3))
    A = np.column_stack([a, a[:, 0]])                # column 3 duplicates column 0
    y = A @ np.array([1.0, 2.0, 3.0, 0.0]) + 0.01 * rng.normal(size=60)
    rows = Rows(A, y, np.ones(60), np.arange(60), np.zeros(60, int))
    fit = ridge_cv(rows, np.ones(4))
    assert fit.prior_fraction[0] == pytest.approx(0.5, abs=0.05)
    assert fit.prior_fraction[3] == pytest.approx(0.5, abs=0.05)
    assert fit.prior_fraction[1] < 0.01 and fit.prior_fraction[2] < 0.01
    assert fit.theta[0] + fit.theta[3] == pytest.approx(1.0, abs=0.01)
    with pytest.raises(FitError):
        ridge_cv(rows, np.ones(4), lambdas=[-1.0])


def test_spin_lattice_fit_recovers_its_own_model():
    """Energies, forces, stress and magnetic forces made by a spin-lattice model are fitted
    back exactly (noise free)."""
    spec = SpinLatticeSpec((26,), (26,), r_cut=4.0, n_pair=3, n_density=2, l_max_density=1,
                           r_cut_exchange=4.0, n_exchange=2, n_landau_density=1, n_exchange3=1,
                           r_cut3=3.0)
    des = SpinLatticeDesign(spec)
    rng = np.random.default_rng(3)
    th = rng.normal(size=des.n_params) * 0.05
    true = BaselineModel(des, th, np.zeros((len(th),) * 2))
    ref = reference_structure("fe")
    frames = []
    for k in range(13):
        st = ref.repeat((2, 1, 1) if k % 2 else (1, 1, 2))
        f = np.eye(3) + 0.03 * rng.normal(size=(3, 3))
        st = Structure(st.positions @ f + 0.1 * rng.normal(size=st.positions.shape),
                       st.cell @ f, st.pbc, st.numbers)
        m = rng.normal(size=(st.n_atoms, 3)) * 1.5
        c = Configuration(positions=st.positions, cell=st.cell, pbc=st.pbc, numbers=st.numbers,
                          magmoms=m)
        p = true.predict(c)
        c.energy, c.forces, c.stress, c.magforces = (p["energy"], p["forces"], p["stress"],
                                                     p["magforces"])
        frames.append(c)
    fit = fit_frames(des, frames[:-1])
    np.testing.assert_allclose(fit.theta, th, rtol=1e-4, atol=1e-5 * np.abs(th).max())
    new, ref_p = fit.predict(frames[-1]), true.predict(frames[-1])    # a frame not fitted
    for q in ("energy", "forces", "stress", "magforces"):
        np.testing.assert_allclose(new[q], ref_p[q], rtol=1e-7, atol=1e-8)


def test_fit_material_respects_the_split():
    """Test frames are never fitted: changing a test label leaves the constants unchanged."""
    des = _fe_design(n_shells=1, biquadratic_shells=0, lattice_background=True)
    th = _true_theta(des, 4)
    frames = _frames(des, th, 16, 9, noise_e=1e-3, noise_m=1e-2, strain=0.01)
    for k, fr in enumerate(frames):
        fr.info["split"] = "test" if k % 4 == 0 else ("valid" if k % 4 == 1 else "train")
        fr.config_type = "ideal" if k == 1 else "x"
    a = fit_material("fe", configs=frames, n_shells=1)
    frames[0].energy += 5.0
    b = fit_material("fe", configs=frames, n_shells=1)
    assert (a.n_fit, a.n_test) == (12, 4)
    np.testing.assert_array_equal(a.model.theta, b.model.theta)
    assert b.test_errors["energy"]["mae"] > a.test_errors["energy"]["mae"] + 50.0


@pytest.mark.parametrize("n_true", [1, 3])
def test_fit_material_selects_the_exchange_range_by_cv(n_true):
    """Frames of a J1..J_n model (small noise): the CV choice of the number of shells (1..3)
    is n whenever the longer range is resolvable, and the constants are recovered."""
    des = _fe_design(n_shells=n_true, biquadratic_shells=0, lattice_background=True)
    th = _true_theta(des, 11)
    frames = _frames(des, th, 24, 12, noise_e=1e-4, noise_m=1e-3, strain=0.01)
    res = fit_material("fe", configs=frames, biquadratic_shells=0)
    assert [t["n_shells"] for t in res.selection] == [1, 2, 3]
    best = min(res.selection, key=lambda t: t["cv_score"])["n_shells"]
    j = {r["shell"]: r["J"] for r in res.exchange}
    if n_true == 3:
        assert best == 3 and sorted(j) == [1, 2, 3]
    else:
        assert best in (1, 2, 3) and 1 in j
    for k in range(n_true):
        want = th[des.column("J", (26, 26), k)]
        assert j[k + 1] == pytest.approx(want, rel=0.02, abs=2e-4)


def test_posterior_draws_have_the_fits_mean_and_covariance():
    """Draws from N(theta, cov): sample mean within 4 standard errors, sample covariance within
    10 % of cov (4000 draws), reproducible by seed; other fields shared."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 3))
    cov = a @ a.T + 0.1 * np.eye(3)
    model = BaselineModel(design=None, theta=np.array([1.0, -2.0, 0.5]), cov=cov)
    draws = model.posterior_draws(4000, seed=1)
    th = np.array([d.theta for d in draws])
    se = np.sqrt(np.diag(cov) / len(draws))
    assert np.all(np.abs(th.mean(0) - model.theta) < 4 * se)
    assert np.allclose(np.cov(th.T), cov, rtol=0, atol=0.1 * np.max(np.abs(cov)))
    assert np.array_equal(model.posterior_draws(2, seed=1)[1].theta, draws[1].theta)
    assert draws[0].cov is cov and model.theta[0] == 1.0
