"""Multiple-histogram reweighting against exact results and direct simulations."""
import numpy as np
import pytest

from mmace_fast.conventions import KB_EV_PER_K
from mmace_fast.mc.engine import MonteCarlo
from mmace_fast.mc.hamiltonian import SpinHamiltonian
from mmace_fast.mc.lattice import cubic_lattice
from mmace_fast.mc.reweight import (MultiHistogram, ReweightedCurves, StatsError,
                                    binder_crossing, reweighted_curves)
from mmace_fast.mc.stats import summarize

J = 0.01   # eV: dimer E = -J c, c = s1.s2 uniform in [-1, 1] at infinite temperature


def _dimer_samples(temps, n, seed=0):
    """Exact i.i.d. samples of the dimer energy: p(c) ~ exp(beta J c) on [-1, 1]."""
    rng = np.random.default_rng(seed)
    out = []
    for t in temps:
        x = J / (KB_EV_PER_K * t)
        u = rng.random(n)
        c = np.log(np.exp(-x) + u * (np.exp(x) - np.exp(-x))) / x       # inverse CDF
        out.append(-J * c)
    return out


def _langevin(x):
    return 1.0 / np.tanh(x) - 1.0 / x


def test_free_energies_and_reweighted_energy_match_the_exact_dimer():
    temps = np.array([30.0, 60.0, 120.0, 240.0])
    es = _dimer_samples(temps, 20000)
    mh = MultiHistogram.solve(es, temps)
    x = J / (KB_EV_PER_K * temps)
    log_z = np.log(np.sinh(x) / x)                       # Z up to a constant
    exact_f = -(log_z - log_z[0])                        # f = -ln Z, gauge f_0 = 0
    # mh.f belongs to the shifted energies E - e_shift: f_k(shifted) = f_k - beta_k e_shift
    f_unshifted = mh.f + mh.betas * mh.e_shift
    np.testing.assert_allclose(f_unshifted - f_unshifted[0], exact_f, atol=0.02)
    for t in (40.0, 85.0, 170.0):
        lw = mh.log_weights(t)
        e = np.dot(np.exp(lw), mh.energies) + mh.e_shift
        assert e == pytest.approx(-J * _langevin(J / (KB_EV_PER_K * t)), abs=1.5e-4)
        assert mh.effective_samples(t) > 1000


def test_one_simulation_at_its_own_temperature_is_the_plain_average():
    (e,) = _dimer_samples([80.0], 500, seed=3)
    mh = MultiHistogram.solve([e], [80.0])
    w = np.exp(mh.log_weights(80.0))
    np.testing.assert_allclose(w, 1.0 / len(e), rtol=1e-12)
    assert np.dot(w, mh.energies) + mh.e_shift == pytest.approx(e.mean(), rel=1e-12)


def _sc_run(t_red, seed, n_prod=3000):
    lat = cubic_lattice("sc", 4)
    ham = SpinHamiltonian.from_shells(lat.positions, lat.cell, lat.pbc, [1e-3])
    mc = MonteCarlo(ham, np.tile([0, 0, 1.0], (lat.n_sites, 1)), t_red * 1e-3 / KB_EV_PER_K,
                    seed=seed, move="gaussian", overrelax_per_sweep=1)
    s = mc.run(300, n_prod)
    return {"energy": s.energy, "magnetisation": s.magnetisation}, lat.n_sites


def test_reweighted_curves_agree_with_direct_runs_between_the_simulated_temperatures():
    """sc Heisenberg L = 4 at kT/J = 1.2, 1.4, 1.6; reweighted to 1.3 and 1.5 against direct
    runs there (independent seeds), within the combined errors."""
    sims = [_sc_run(t, seed=10 + k) for k, t in enumerate((1.2, 1.4, 1.6))]
    n = sims[0][1]
    kelvin = lambda t: t * 1e-3 / KB_EV_PER_K                       # noqa: E731
    grid = kelvin(np.array([1.2, 1.3, 1.4, 1.5, 1.6]))
    rw = reweighted_curves([s for s, _ in sims], kelvin(np.array([1.2, 1.4, 1.6])), n, grid,
                           n_blocks=20)
    assert rw.reliable.all()
    for g, t in ((1, 1.3), (3, 1.5)):
        direct = summarize(_sc_run(t, seed=50 + g, n_prod=6000)[0], n, kelvin(t))
        for key in ("e_per_site", "m_abs", "u4_m", "chi_m"):
            err = np.hypot(rw.errors[key][g], direct[f"{key}_err"])
            assert abs(rw.values[key][g] - direct[key]) < 4 * err, (t, key, rw.values[key][g],
                                                                     direct[key], err)
    # at a simulated temperature the reweighted E stays close to that simulation's own mean
    own = summarize(sims[1][0], n, kelvin(1.4))
    assert abs(rw.values["e_per_site"][2] - own["e_per_site"]) < 4 * rw.errors["e_per_site"][2]


def _curves(grid, u4, reps):
    g = len(grid)
    z = np.zeros(g)
    vals = {"u4_m": np.asarray(u4, float), "e_per_site": z, "c_kb": z, "m_abs": z, "chi_m": z}
    return ReweightedCurves(np.asarray(grid, float), vals, {k: z for k in vals},
                            {"u4_m": np.asarray(reps, float)}, np.full(g, 1e4),
                            np.ones(g, bool), n_blocks=len(reps))


def test_binder_crossing_of_known_lines_and_its_jackknife_error():
    grid = np.linspace(900.0, 1000.0, 11)
    a = 0.6 - 0.002 * (grid - 950.0)                  # crosses b at 950 K
    b = 0.6 - 0.004 * (grid - 950.0)
    shifts = np.linspace(-1.0, 1.0, 10)               # replicate crossings 950 + s * 0.5 K
    ra = np.array([0.6 - 0.002 * (grid - 950.0 - s) for s in shifts])
    rb = np.array([0.6 - 0.004 * (grid - 950.0 - s) for s in shifts])
    cr = binder_crossing(_curves(grid, a, ra), _curves(grid, b, rb))
    assert cr.temperature == pytest.approx(950.0, abs=1e-9)
    spread = np.sqrt(9 / 10 * np.sum((950 + shifts - 950 - shifts.mean()) ** 2))
    assert cr.error == pytest.approx(spread, rel=1e-9)
    assert cr.n_replicates_ok == 10 and cr.u4 == pytest.approx(0.6)
    assert binder_crossing(_curves(grid, a, ra), _curves(grid, a + 0.1, ra + 0.1)) is None


def test_bad_input():
    with pytest.raises(StatsError, match="repeat"):
        MultiHistogram.solve([np.ones(5), np.ones(5)], [100.0, 100.0])
    with pytest.raises(StatsError, match="non-finite"):
        MultiHistogram.solve([np.array([1.0, np.nan])], [100.0])
    with pytest.raises(StatsError, match="2 energy series for 1"):
        MultiHistogram.solve([np.ones(5), np.ones(5)], [100.0])
    with pytest.raises(StatsError, match="order"):
        reweighted_curves([], [], 1, [1.0], order="x")
