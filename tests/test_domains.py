"""Order parameters that see every domain of an antiferromagnet: the symmetry-equivalent sign
patterns of each order (MaterialLattice.domain_patterns), one staggered vector per pattern in
the engine, and the Binder cumulant of a many-component order parameter on the 3-component
scale."""
import itertools

import numpy as np
import pytest

from mmace_fast.compare.thermo import _order_parameter
from mmace_fast.mc import stats
from mmace_fast.mc.engine import MonteCarlo
from mmace_fast.mc.hamiltonian import SpinHamiltonian
from mmace_fast.mc.lattice import material_lattice
from mmace_fast.mc.reweight import reweighted_curves
from mmace_fast.prototypes import PATTERNS

#: (prototype, a, L, order, number of domains)
ORDERS = [("bcc_Fe", 2.866, 4, "AFM", 1), ("b2_FeAl", 2.91, 4, "AFM001", 3),
          ("b2_FeAl", 2.91, 4, "AFMG", 1), ("rocksalt_CrN", 4.15, 4, "AFM1", 3),
          ("rocksalt_CrN", 4.15, 4, "AFM2", 12), ("rocksalt_CrN", 4.15, 4, "AFM3", 6)]


@pytest.mark.parametrize("proto,a,L,order,n_domains", ORDERS)
def test_domain_patterns_are_orthogonal_and_hold_every_image_of_the_order(proto, a, L, order,
                                                                          n_domains):
    lat = material_lattice(proto, L, a)
    p = lat.domain_patterns(order)
    assert p.shape == (n_domains, lat.n_sites)
    assert np.array_equal(p[0], lat.signs[order])
    mag = lat.magnetic
    assert np.all(p[:, ~mag] == 0) and np.all(np.abs(p[:, mag]) == 1)
    assert np.array_equal(p @ p.T, mag.sum() * np.eye(n_domains))
    # every cubic image of the pattern (about another magnetic site, shifted by a lattice
    # vector) lies in the span: its projection keeps its whole norm
    u = lat.positions[mag] / a
    rng = np.random.default_rng(0)
    ops = list(itertools.product(itertools.permutations(range(3)),
                                 itertools.product((1, -1), repeat=3)))
    for k in rng.choice(len(ops), size=6, replace=False):
        perm, flips = ops[k]
        origin = u[rng.integers(len(u))]
        img = np.array([PATTERNS[order](x) for x in (u - origin)[:, list(perm)]
                        * np.array(flips) + u[0] + np.array([0, 1, 0])], dtype=float)
        proj = (p[:, mag] @ img) / mag.sum()
        assert np.sum(proj ** 2) == pytest.approx(1.0, abs=1e-12)


def test_fm_has_no_staggered_weights_and_single_domain_orders_keep_their_signs():
    lat = material_lattice("bcc_Fe", 3, 2.866)
    assert _order_parameter(lat, "FM") is None
    lat = material_lattice("bcc_Fe", 4, 2.866)
    assert np.array_equal(_order_parameter(lat, "AFM"), lat.signs["AFM"])    # [n], as before
    crn = material_lattice("rocksalt_CrN", 2, 4.15)
    assert _order_parameter(crn, "AFM1").shape == (3, crn.n_sites)
    with pytest.raises(ValueError, match="no sign pattern"):
        material_lattice("rocksalt_CrN", 3, 4.15).domain_patterns("AFM3")   # odd L


def test_engine_tracks_one_staggered_vector_per_domain():
    """A CrN AFM1 state layered along x (not the pattern's own z): the single pattern reads
    ~0, the domain vectors read |m| in the x-domain; the incremental sums after many moves
    equal a recomputation from the final moments."""
    lat = material_lattice("rocksalt_CrN", 2, 4.15)
    p = lat.domain_patterns("AFM1")
    mag = np.flatnonzero(lat.magnetic)
    n = lat.n_sites
    x_domain = next(d for d in range(3) if not np.array_equal(p[d], p[0]))
    spins = np.zeros((n, 3))
    spins[:, 2] = 2.0 * p[x_domain]
    ham = SpinHamiltonian(n, a2=np.full(n, -0.1), a4=np.full(n, 0.01))   # N: never moved
    mc = MonteCarlo(ham, spins, 50.0, seed=3, sublattice_signs=p, active_sites=mag,
                    move="gaussian", sigma=0.3, p_longitudinal=0.3, sigma_long=0.1)
    e, m, ms = mc.core.run(1, 1, False, True)
    assert ms.shape == (1, 9)
    per = ms[0].reshape(3, 3)
    assert np.linalg.norm(per[0]) < 0.2                       # one sweep from exactly 0
    assert np.linalg.norm(per[x_domain]) == pytest.approx(2.0, rel=0.2)
    mc.sample(200)
    last = mc.samples.staggered[-1].reshape(3, 3)
    want = (p[:, mag] @ mc.spins[mag]) / len(mag)
    assert np.allclose(last, want, rtol=0, atol=1e-10)
    single = MonteCarlo(ham, spins, 50.0, seed=3, sublattice_signs=p[0], active_sites=mag)
    assert single.core.n_patterns == 1
    with pytest.raises(ValueError, match="n_patterns"):
        MonteCarlo(ham, spins, 50.0, sublattice_signs=p[:, :-1])


def test_binder_on_the_three_component_scale_for_any_number_of_components():
    rng = np.random.default_rng(1)
    for n_comp in (3, 9, 18):
        gauss = rng.normal(size=(200000, n_comp))
        assert stats.binder_cumulant(gauss, 20).value == pytest.approx(4 / 9, abs=0.01)
        fixed = gauss / np.linalg.norm(gauss, axis=1, keepdims=True)
        assert stats.binder_cumulant(fixed, 20).value == pytest.approx(2 / 3, abs=1e-12)
    m = rng.normal(size=(1000, 3))
    a2 = np.sum(m * m, axis=1)
    old = stats.jackknife(lambda m2, m4: 1.0 - m4 / (3.0 * m2 * m2), a2, a2 * a2, n_blocks=10)
    new = stats.binder_cumulant(m, 10)
    assert new.value == pytest.approx(old.value, rel=1e-12)      # n = 3: the usual formula
    assert new.error == pytest.approx(old.error, rel=1e-9)
    # the reweighted curves use the same scale
    series = [{"energy": rng.normal(size=4000) * 0.01, "magnetisation": rng.normal(size=(4000, 3)),
               "staggered": rng.normal(size=(4000, 18))} for _ in range(2)]
    curves = reweighted_curves(series, [100.0, 101.0], 100, [100.5], order="ms", n_blocks=4)
    assert curves.values["u4_m"][0] == pytest.approx(4 / 9, abs=0.02)


def test_summary_of_one_temperature_takes_several_staggered_vectors():
    rng = np.random.default_rng(2)
    n = 400
    series = {"energy": rng.normal(size=n), "magnetisation": rng.normal(size=(n, 3)),
              "staggered": rng.normal(size=(n, 9))}
    out = stats.summarize(series, n_sites=64, temperature_K=100.0, n_blocks=10)
    assert out["u4_ms"] == pytest.approx(stats.binder_cumulant(series["staggered"], 10).value)
    assert out["ms_abs"] == pytest.approx(np.mean(np.linalg.norm(series["staggered"], axis=1)))
    series["magnetisation"] = rng.normal(size=(n, 9))          # M stays a 3-vector
    with pytest.raises(stats.StatsError, match="magnetisation must be"):
        stats.summarize(series, n_sites=64, temperature_K=100.0)


def test_chi_peak_error_is_at_least_half_the_grid_spacing():
    """Replicates that all peak at one grid point give a jackknife error of 0: the reported
    error is then half the grid spacing, never 0."""
    from mmace_fast.mc.protocol import _chi_peak
    from mmace_fast.mc.reweight import ReweightedCurves
    grid = np.linspace(70.0, 75.0, 11)
    chi = np.exp(-((grid - 72.5) / 1.0) ** 2)
    curves = ReweightedCurves.__new__(ReweightedCurves)
    curves.grid = grid
    curves.reliable = np.ones_like(grid, dtype=bool)
    curves.values = {"chi_m": chi}
    curves.replicates = {"chi_m": [chi.copy() for _ in range(5)]}
    peak = _chi_peak(curves)
    assert peak["t"] == 72.5 and peak["t_err"] == pytest.approx(0.25)
