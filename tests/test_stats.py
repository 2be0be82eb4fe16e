"""Tests of mmace_fast.mc.stats against processes with known statistics."""
import numpy as np
import pytest
from scipy.signal import lfilter

from mmace_fast.conventions import KB_EV_PER_K
from mmace_fast.mc import stats as S


def ar1(phi: float, n: int, seed: int) -> np.ndarray:
    """Stationary AR(1) series x_t = phi x_{t-1} + e_t with unit-variance noise."""
    rng = np.random.default_rng(seed)
    e = rng.normal(size=n)
    e[0] /= np.sqrt(1.0 - phi ** 2)            # start in the stationary distribution
    return lfilter([1.0], [1.0, -phi], e)


def ar1_tau(phi: float) -> float:
    return (1.0 + phi) / (2.0 * (1.0 - phi))


@pytest.mark.parametrize("phi", [0.0, 0.6, 0.9])
def test_tau_int_ar1(phi):
    x = ar1(phi, 100_000, seed=11)
    res = S.integrated_autocorr_time(x, c=6.0)
    exact = ar1_tau(phi)
    assert res.converged
    assert abs(res.tau - exact) < 0.1 * exact
    assert abs(res.tau - exact) < 4 * res.tau_err + 0.01


def test_tau_int_columns_independent():
    x = np.stack([ar1(0.0, 50_000, 1), ar1(0.8, 50_000, 2)], axis=1)   # [n, 2]
    res = S.integrated_autocorr_time(x)
    assert res.tau.shape == (2,)
    assert abs(res.tau[0] - 0.5) < 0.05
    assert abs(res.tau[1] - ar1_tau(0.8)) < 0.1 * ar1_tau(0.8)


def test_tau_int_short_series_flags_nonconvergence():
    x = ar1(0.995, 400, seed=3)          # tau ~ 200 samples: cannot be resolved from 400
    res = S.integrated_autocorr_time(x)
    assert not res.converged


def test_blocking_iid_matches_sigma_over_sqrt_n():
    rng = np.random.default_rng(5)
    n, sigma = 20_000, 2.5
    x = rng.normal(1.0, sigma, size=n)
    res = S.blocking_error(x)
    assert res.converged
    assert abs(res.error - sigma / np.sqrt(n)) < 0.08 * sigma / np.sqrt(n)


def test_blocking_ar1_finds_plateau():
    phi = 0.9
    n = 2 ** 17
    x = ar1(phi, n, seed=7)
    res = S.blocking_error(x)
    sigma = 1.0 / np.sqrt(1.0 - phi ** 2)
    exact = sigma * np.sqrt(2.0 * ar1_tau(phi) / n)
    assert res.converged and res.level > 2          # raw-data error would be ~4x too small
    assert abs(res.error - exact) < 0.15 * exact
    assert res.errors[0] < 0.4 * exact


def test_jackknife_matches_delta_method_iid():
    rng = np.random.default_rng(9)
    n, mu, sigma = 40_000, 2.0, 1.0
    x = rng.normal(mu, sigma, size=n)
    res = S.jackknife(lambda m: np.exp(m), x, n_blocks=200)
    delta = np.exp(mu) * sigma / np.sqrt(n)          # |f'(mu)| sigma / sqrt(n)
    assert abs(res.error - delta) < 0.15 * delta
    assert abs(res.value - np.exp(mu)) < 4 * delta


def test_jackknife_ratio_of_means_and_bias():
    rng = np.random.default_rng(10)
    n = 20_000
    x = rng.normal(0.0, 1.0, size=n)
    # f = mean^2 has bias sigma^2 / n at mu = 0; the jackknife must estimate it
    res = S.jackknife(lambda m: m * m, x, n_blocks=200)
    assert abs(res.bias - 1.0 / n) < 0.3 / n
    assert abs(res.naive - res.value - res.bias) < 1e-15
    # two series: ratio of means, delta method with independent numerator and denominator
    y = rng.normal(4.0, 1.0, size=n)
    z = rng.normal(2.0, 0.5, size=n)
    r = S.jackknife(lambda a, b: a / b, y, z, n_blocks=200)
    delta = 2.0 * np.sqrt((1.0 / 4.0) ** 2 + (0.5 / 2.0) ** 2) / np.sqrt(n)
    assert abs(r.error - delta) < 0.15 * delta


def test_jackknife_bad_input():
    with pytest.raises(S.StatsError):
        S.jackknife(np.mean, np.arange(10.0), np.arange(9.0))
    with pytest.raises(S.StatsError):
        S.jackknife(np.mean, np.arange(10.0), n_blocks=20)
    with pytest.raises(S.StatsError):
        S.jackknife(np.mean, np.array([1.0, np.nan, 2.0]), n_blocks=2)


def test_binder_isotropic_gaussian_is_four_ninths():
    rng = np.random.default_rng(12)
    m = rng.normal(size=(100_000, 3))
    res = S.binder_cumulant(m)
    assert abs(res.value - 4.0 / 9.0) < max(4 * res.error, 1e-3)
    assert res.error < 0.005


def test_binder_fixed_length_is_two_thirds():
    rng = np.random.default_rng(13)
    aligned = np.tile([0.0, 0.0, 2.2], (1000, 1))
    res = S.binder_cumulant(aligned)
    assert abs(res.value - 2.0 / 3.0) < 1e-12
    v = rng.normal(size=(1000, 3))                      # random directions, fixed length
    v *= 1.7 / np.linalg.norm(v, axis=1, keepdims=True)
    assert abs(S.binder_cumulant(v).value - 2.0 / 3.0) < 1e-12


def test_specific_heat_and_susceptibility_units():
    rng = np.random.default_rng(14)
    n_sites, t_k = 1000, 300.0
    kt = KB_EV_PER_K * t_k
    sd_e = 0.05                                        # eV, total-energy fluctuation
    e = -100.0 + rng.normal(0.0, sd_e, size=50_000)
    c = S.specific_heat(e, n_sites, t_k)
    exact = sd_e ** 2 / (n_sites * kt ** 2)
    assert abs(c.value - exact) < max(4 * c.error, 0.03 * exact)
    m_norm = 0.3 + rng.normal(0.0, 0.01, size=50_000)  # per-site |m|
    chi = S.susceptibility(m_norm, n_sites, t_k)
    exact_chi = n_sites * 0.01 ** 2 / kt
    assert abs(chi.value - exact_chi) < max(4 * chi.error, 0.03 * exact_chi)


def _fake_run(n=4000, seed=21):
    rng = np.random.default_rng(seed)
    m = np.zeros((n, 3))
    m[:, 2] = 0.8 + 0.01 * ar1(0.7, n, seed)
    m[:, :2] = 0.01 * rng.normal(size=(n, 2))
    return {
        "energy": -2.0 * 512 + 0.1 * ar1(0.5, n, seed + 1),
        "magnetisation": m,
        "staggered": 0.01 * rng.normal(size=(n, 3)),
        "acceptance": rng.uniform(0.4, 0.6, size=n),
    }


def test_summarize_keys_and_values():
    s = _fake_run()
    out = S.summarize(s, n_sites=512, temperature_K=100.0)
    for key in ("e_per_site", "e_per_site_err", "tau_e", "c_kb", "c_kb_err", "m_abs", "m_abs_err",
                "m_x", "m_z_err", "chi_m", "chi_m_err", "u4_m", "u4_m_err", "ms_abs", "chi_ms",
                "u4_ms", "acceptance"):
        assert key in out and np.isfinite(out[key]), key
    assert abs(out["e_per_site"] + 2.0) < 1e-3
    assert abs(out["m_z"] - 0.8) < 3e-3
    assert abs(out["tau_e"] - ar1_tau(0.5)) < 0.5
    assert abs(out["u4_m"] - 2.0 / 3.0) < 1e-3          # nearly fixed-length order parameter
    assert abs(out["u4_ms"] - 4.0 / 9.0) < 0.05         # isotropic Gaussian
    assert 0.45 < out["acceptance"] < 0.55


def test_summarize_rejects_bad_input():
    s = _fake_run(n=64)
    with pytest.raises(S.StatsError, match="missing"):
        S.summarize({"energy": s["energy"]}, 512, 100.0)
    with pytest.raises(S.StatsError, match="temperature"):
        S.summarize(s, 512, 0.0)
    bad = dict(s, magnetisation=s["magnetisation"][:, :2])
    with pytest.raises(S.StatsError):
        S.summarize(bad, 512, 100.0)
    bad = dict(s, energy=np.where(np.arange(64) == 3, np.nan, s["energy"]))
    with pytest.raises(S.StatsError, match="NaN"):
        S.summarize(bad, 512, 100.0)
    with pytest.raises(S.StatsError, match="unknown"):
        S.summarize(dict(s, mag=1), 512, 100.0)
    with pytest.raises(S.StatsError):
        S.summarize(s, 0, 100.0)


def test_weighted_mean():
    m, e, chi2 = S.weighted_mean([1.0, 3.0], [1.0, 1.0])
    assert m == 2.0 and abs(e - np.sqrt(0.5)) < 1e-15 and abs(chi2 - 2.0) < 1e-12
