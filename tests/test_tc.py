"""Tests of mmace_fast.mc.tc on synthetic finite-size-scaling data with known Tc."""
import numpy as np
import pytest

from mmace_fast.mc import tc as TC

TC_TRUE = 1.44293
NU = 0.7112


def u4_scaling(t, L):
    """U4(T, L) = f((T - Tc) L^(1/nu)), f a logistic from 2/3 (ordered) to 4/9 (disordered)."""
    x = (t - TC_TRUE) * L ** (1.0 / NU)
    return 4.0 / 9.0 + (2.0 / 9.0) / (1.0 + np.exp(x))


def synthetic_scans(seed, sizes=(8, 12, 16), sigma=0.002, t=None):
    rng = np.random.default_rng(seed)
    t = np.arange(1.40, 1.49, 0.005) if t is None else t
    return {L: (t, u4_scaling(t, L) + sigma * rng.normal(size=t.size), np.full(t.size, sigma))
            for L in sizes}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_binder_tc_recovers_tc(seed):
    res = TC.binder_tc(synthetic_scans(seed), seed=seed)
    assert len(res.pairs) == 3
    assert 0 < res.tc_err < 0.003
    assert abs(res.tc - TC_TRUE) < 3 * res.tc_err
    assert abs(res.u4 - 5.0 / 9.0) < 0.01               # f(0) of the synthetic scaling function
    lp = res.largest_pair
    assert (lp.L1, lp.L2) == (12.0, 16.0)
    assert abs(lp.tc - TC_TRUE) < 3 * lp.tc_err


def test_binder_tc_error_bar_is_calibrated():
    # the pull (tc - Tc) / tc_err over independent data sets has rms ~ 1 and mean ~ 0
    pulls = []
    for seed in range(40):
        res = TC.binder_tc(synthetic_scans(100 + seed), n_boot=150, seed=seed)
        pulls.append((res.tc - TC_TRUE) / res.tc_err)
    pulls = np.array(pulls)
    assert 0.7 < np.sqrt(np.mean(pulls ** 2)) < 1.5
    assert abs(np.mean(pulls)) < 0.5


def test_binder_crossing_pair_and_unsorted_input():
    scans = synthetic_scans(4, sizes=(8, 16))
    t, u, e = scans[16]
    rev = TC.SizeScan(16, t[::-1], u[::-1], e[::-1])           # unsorted input is sorted
    res = TC.binder_crossing(rev, TC.SizeScan(8, *scans[8]), seed=1)
    assert (res.L1, res.L2) == (8.0, 16.0)
    assert abs(res.tc - TC_TRUE) < 3 * res.tc_err
    assert res.n_boot_failed < 20


def test_single_crossing_has_narrow_range():
    res = TC.binder_tc(synthetic_scans(7), seed=7)
    lo, hi = res.crossing_range
    assert lo <= hi
    assert all(len(p.coarse_roots) >= 1 for p in res.pairs)
    assert hi - lo < 0.02 and lo - 0.01 < res.tc < hi + 0.01


def test_repeated_crossings_widen_the_range():
    # two sizes whose difference changes sign three times on the grid: at 1.0125, 1.0375 and
    # 1.0625 (linear interpolation between the points), e.g. noisy curves near a flat crossing
    t = np.arange(1.0, 1.08, 0.005)
    d = np.zeros(t.size)
    d[t < 1.0124] = 0.01
    d[(t > 1.0126) & (t < 1.0374)] = -0.01
    d[(t > 1.0376) & (t < 1.0624)] = 0.01
    d[t > 1.0626] = -0.01
    u_big = 0.6 - 2.0 * (t - 1.0)                              # decreasing through the range
    scans = {4: (t, u_big + d, np.full(t.size, 0.002)), 6: (t, u_big, np.full(t.size, 0.002))}
    res = TC.binder_tc(scans, seed=0)
    roots = res.pairs[0].coarse_roots
    assert len(roots) == 3
    np.testing.assert_allclose(roots, [1.0125, 1.0375, 1.0625], atol=1e-9)
    assert res.crossing_range == (roots[0], roots[-1])
    assert roots[0] - 0.01 <= res.tc <= roots[-1] + 0.01


def test_fitted_crossing_stays_between_the_data_crossings():
    # FeAl mMACE, head-to-head 2026-12-06 (L = 3 / 4, U4 and errors): the curves cross several
    # times between 80 and 139 K; the cubic fits' difference also vanished at 57 K, on the
    # ordered plateau where both sit near 2/3 -- an artefact that was reported as Tc
    t = np.array([43.9, 55.8, 67.6, 79.5, 91.3, 103.2, 115.0, 126.9, 138.7, 150.6])
    u3 = [0.6631, 0.6602, 0.6590, 0.6387, 0.6245, 0.6250, 0.5764, 0.5581, 0.5321, 0.5271]
    e3 = [0.0011, 0.0021, 0.0012, 0.0104, 0.0101, 0.0170, 0.0194, 0.0229, 0.0331, 0.0222]
    u4 = [0.6654, 0.6638, 0.6631, 0.6536, 0.6185, 0.6405, 0.5528, 0.5649, 0.4933, 0.4809]
    e4 = [0.0002, 0.0006, 0.0006, 0.0018, 0.0103, 0.0073, 0.0288, 0.0180, 0.0413, 0.0339]
    scans = {3: (t, u3, e3), 4: (t, u4, e4)}
    with pytest.raises(TC.NoCrossingError, match="the data cross at 87.91, .*128.7"):
        TC.binder_tc(scans, seed=0)
    # the same curves with the noise taken out of the middle cross once, and there
    u4[5], u4[7] = 0.6150, 0.5400
    res = TC.binder_tc(scans, seed=0)
    assert res.pairs[0].coarse_roots[0] == pytest.approx(87.9, abs=0.1)
    assert 79.5 <= res.tc <= 103.2


def test_no_crossing_raises_with_direction():
    t = np.arange(1.50, 1.60, 0.005)                            # all above Tc
    with pytest.raises(TC.NoCrossingError, match="extend the scan below"):
        TC.binder_tc(synthetic_scans(5, t=t))
    t = np.arange(1.30, 1.40, 0.005)                            # all below Tc
    with pytest.raises(TC.NoCrossingError, match="extend the scan above"):
        TC.binder_tc(synthetic_scans(5, t=t))
    a = TC.SizeScan(8, np.linspace(1.0, 1.1, 5), np.full(5, 0.6), np.full(5, 0.01))
    b = TC.SizeScan(16, np.linspace(1.2, 1.3, 5), np.full(5, 0.6), np.full(5, 0.01))
    with pytest.raises(TC.NoCrossingError, match="share no temperature range"):
        TC.binder_crossing(a, b)


def test_skip_failed_pairs():
    scans = synthetic_scans(9)
    t = np.arange(1.50, 1.60, 0.005)                            # L=24 scanned only above Tc
    scans[24] = (t, u4_scaling(t, 24), np.full(t.size, 0.002))
    with pytest.raises(TC.NoCrossingError, match="L=24"):
        TC.binder_tc(scans)
    res = TC.binder_tc(scans, skip_failed=True, seed=3)
    assert len(res.pairs) == 3 and abs(res.tc - TC_TRUE) < 3 * res.tc_err


def test_bad_input_raises():
    t = np.linspace(1.4, 1.5, 10)
    with pytest.raises(TC.TcError):
        TC.SizeScan(8, t, np.full(9, 0.5), np.full(10, 0.01))
    with pytest.raises(TC.TcError, match="NaN"):
        TC.SizeScan(8, t, np.where(t > 1.45, np.nan, 0.5), np.full(10, 0.01))
    with pytest.raises(TC.TcError, match="duplicate"):
        TC.SizeScan(8, np.r_[t[:-1], t[0]], np.full(10, 0.5), np.full(10, 0.01))
    with pytest.raises(TC.TcError, match="two lattice sizes"):
        TC.binder_tc({8: (t, np.full(10, 0.5), np.full(10, 0.01))})
    with pytest.raises(TC.TcError, match="pairs"):
        TC.binder_tc(synthetic_scans(1), pairs="nearest")


def test_adjacent_pairs():
    res = TC.binder_tc(synthetic_scans(6, sizes=(6, 8, 12, 16)), pairs="adjacent", seed=2)
    assert [(p.L1, p.L2) for p in res.pairs] == [(6.0, 8.0), (8.0, 12.0), (12.0, 16.0)]
    assert abs(res.tc - TC_TRUE) < 3 * res.tc_err


def chi_curve(t, t_peak, width=0.03, height=50.0):
    return height / (1.0 + ((t - t_peak) / width) ** 2)


@pytest.mark.parametrize("seed", [7, 8])
def test_chi_peak_recovers_peak(seed):
    rng = np.random.default_rng(seed)
    t = np.arange(1.40, 1.60, 0.01)
    t_peak = 1.4937
    err = 0.5 * np.ones_like(t)
    chi = chi_curve(t, t_peak) + err * rng.normal(size=t.size)
    res = TC.chi_peak(t, chi, err, seed=seed)
    assert 0 < res.t_peak_err < 0.005
    assert abs(res.t_peak - t_peak) < 3 * res.t_peak_err + 5e-4   # + parabola-vs-Lorentzian bias
    assert abs(res.chi_max - 50.0) < 3 * res.chi_max_err + 1.0


def test_chi_peak_at_edge_raises():
    t = np.linspace(1.0, 1.2, 11)
    with pytest.raises(TC.PeakNotFoundError, match="extend the scan up"):
        TC.chi_peak(t, chi_curve(t, 1.3), np.full(11, 0.1))
    with pytest.raises(TC.PeakNotFoundError, match="extend the scan down"):
        TC.chi_peak(t, chi_curve(t, 0.9), np.full(11, 0.1))


def test_extrapolate_peaks():
    L = np.array([8.0, 12.0, 16.0, 24.0])
    tp = TC_TRUE + 0.8 * L ** (-1.0 / NU)
    res = TC.extrapolate_peaks(L, tp, np.full(4, 1e-3))
    assert abs(res.tc - TC_TRUE) < 1e-10 and abs(res.slope - 0.8) < 1e-9
    assert res.tc_err > 0
