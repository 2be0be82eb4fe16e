"""Monte Carlo against exact results: Boltzmann histograms, dimers, high-T isotropy,
longitudinal d^3m measure, low-T equipartition, Wolff vs Metropolis, Binder crossing (sc FM/AFM).
Fixed seeds; every assertion is a z-test against the blocking error (or a literature value)."""
import numpy as np
import pytest
from scipy import integrate

from mmace_fast.conventions import KB_EV_PER_K
from mmace_fast.mc.engine import MonteCarlo
from mmace_fast.mc.hamiltonian import SpinHamiltonian
from mmace_fast.mc.lattice import cubic_lattice
from mmace_fast.mc.stats import binder_cumulant, blocking_error, summarize
from mmace_fast.mc.tc import binder_tc

DIRECTION_MOVES = ["uniform", "gaussian", "hinzke_nowak"]


def _z(values, expected):
    """|mean - expected| in units of the blocking standard error."""
    err = blocking_error(values).error
    return abs(np.mean(values) - expected) / err


def _kelvin(kt_ev):
    return kt_ev / KB_EV_PER_K


@pytest.mark.parametrize("move", DIRECTION_MOVES)
def test_single_spin_uniaxial_boltzmann_histogram(move):
    K, kt = 1.0, 0.5                                  # K/kT = 2, easy axis z
    ham = SpinHamiltonian(1, Ku=[K], axis=[[0, 0, 1.0]])
    mc = MonteCarlo(ham, [[1.0, 0, 0]], _kelvin(kt), seed=7, move=move, sigma=0.8)
    mc.equilibrate(2000)
    u = mc.sample(200_000, sample_every=2).magnetisation[:, 2]     # cos(theta)
    edges = np.linspace(-1, 1, 11)
    w = lambda x: np.exp(K * x * x / kt)                          # noqa: E731
    norm = integrate.quad(w, -1, 1)[0]
    expect = np.array([integrate.quad(w, a, b)[0] / norm for a, b in zip(edges[:-1], edges[1:])])
    z = []
    for k, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        ind = ((u >= a) & (u < b)).astype(float)
        z.append(_z(ind, expect[k]))
    assert max(z) < 4.5, z
    assert np.mean(np.square(z)) < 2.5, z


@pytest.mark.parametrize("move", DIRECTION_MOVES)
def test_heisenberg_dimer_langevin(move):
    J, kt = 1.0, 1.0 / 1.7                            # x = J/kT = 1.7
    x = J / kt
    ham = SpinHamiltonian(2, [0], [1], J=[J])
    mc = MonteCarlo(ham, [[0, 0, 1.0], [1.0, 0, 0]], _kelvin(kt), seed=3, move=move)
    mc.equilibrate(2000)
    dot = -mc.sample(100_000).energy / J             # m1.m2
    assert _z(dot, 1 / np.tanh(x) - 1 / x) < 4.0


@pytest.mark.parametrize("move", DIRECTION_MOVES)
def test_high_temperature_isotropy(move):
    """No hemisphere bias: <m> = 0 and <m_z^2> = 1/3 at 1e5 K."""
    lat = cubic_lattice("sc", 4)
    ham = SpinHamiltonian.from_shells(lat.positions, lat.cell, lat.pbc, [1e-4])
    rng = np.random.default_rng(0)
    start = rng.normal(size=(lat.n_sites, 3))
    start /= np.linalg.norm(start, axis=1)[:, None]
    mc = MonteCarlo(ham, start, 1e5, seed=11, move=move)
    mc.equilibrate(100)
    mz = []
    for _ in range(2000):
        mc.sample(1)
        mz.append(mc.spins[:, 2])
    mz = np.array(mz)                                 # [samples, sites]
    assert _z(mz.mean(axis=1), 0.0) < 4.5
    assert _z((mz ** 2).mean(axis=1), 1 / 3) < 4.5


def test_flip_move_two_state_balance():
    """Flip moves alone in a field: a two-state chain with P(up) = 1 / (1 + exp(-2 h/kT))."""
    h, kt = 0.3, 0.5
    ham = SpinHamiltonian(1, field=[[0, 0, h]])
    mc = MonteCarlo(ham, [[0, 0, 1.0]], _kelvin(kt), seed=9, move="flip")
    up = (mc.sample(100_000).magnetisation[:, 2] > 0).astype(float)
    assert _z(up, 1 / (1 + np.exp(-2 * h / kt))) < 4.5


def test_longitudinal_single_site_d3m_measure():
    """E = a|m|^2 + b|m|^4 sampled with exp(-E/kT) d^3m: density of r ~ r^2 exp(-E(r)/kT)."""
    a, b, kt = -0.4, 0.1, 0.15
    ham = SpinHamiltonian(1, a2=[a], a4=[b])
    mc = MonteCarlo(ham, [[0, 0, 1.0]], _kelvin(kt), seed=5, move="gaussian",
                    p_longitudinal=0.5, sigma_long=0.4)
    mc.equilibrate(5000)
    r = np.linalg.norm(mc.sample(200_000).magnetisation, axis=1)
    w = lambda r, p: r ** (2 + p) * np.exp(-(a * r * r + b * r ** 4) / kt)  # noqa: E731
    z0 = integrate.quad(w, 0, np.inf, args=(0,))[0]
    for p in (1, 2, 4):
        exact = integrate.quad(w, 0, np.inf, args=(p,))[0] / z0
        assert _z(r ** p, exact) < 4.5, p
    # the |m|-symmetric measure d|m| would give a visibly different <r^2>
    z_alt = integrate.quad(lambda r: np.exp(-(a * r * r + b * r ** 4) / kt), 0, np.inf)[0]
    alt = integrate.quad(lambda r: r * r * np.exp(-(a * r * r + b * r ** 4) / kt), 0,
                         np.inf)[0] / z_alt
    assert _z(r ** 2, alt) > 10


def test_low_temperature_equipartition():
    """Classical Heisenberg FM at low T: E/N = E0 + kT (two transverse degrees of freedom)."""
    J, kt = 1.0, 0.02
    lat = cubic_lattice("sc", 6)
    ham = SpinHamiltonian.from_shells(lat.positions, lat.cell, lat.pbc, [J])
    mc = MonteCarlo(ham, np.tile([0, 0, 1.0], (lat.n_sites, 1)), _kelvin(kt), seed=2,
                    move="gaussian", sigma=0.1)
    mc.equilibrate(2000)
    e = mc.sample(6000).energy / lat.n_sites
    # first correction is O(kT^2); at kT = 0.02 J it is below 1e-4 J
    assert abs(np.mean(e) - (-3 * J + kt)) < 4.5 * blocking_error(e).error + 2e-4


def _scan_u4(L, kts, J=1.0, seed=0, n_equil=400, n_prod=3000, staggered=False, wolff=2):
    lat = cubic_lattice("sc", L)
    ham = SpinHamiltonian.from_shells(lat.positions, lat.cell, lat.pbc, [J])
    start = np.tile([0, 0, 1.0], (lat.n_sites, 1))
    if staggered:
        start *= lat.staggered[:, None]
    u4, err = [], []
    for k, kt in enumerate(kts):
        mc = MonteCarlo(ham, start, _kelvin(kt), seed=seed, stream=k, move="gaussian",
                        sublattice_signs=lat.staggered, wolff_per_sweep=wolff)
        mc.equilibrate(n_equil)
        s = mc.sample(n_prod)
        b = binder_cumulant(s.staggered if staggered else s.magnetisation, n_blocks=30)
        u4.append(b.value)
        err.append(b.error)
    return np.array(u4), np.array(err)


@pytest.mark.parametrize("afm", [False, True])
def test_binder_crossing_simple_cubic(afm):
    """sc NN classical Heisenberg: kTc/J = 1.44293 (Chen, Ferrenberg, Landau 1993), within 1%;
    the antiferromagnet (staggered order parameter) has the same Tc on this bipartite lattice."""
    kts = np.array([1.40, 1.42, 1.44, 1.46, 1.48])
    J = -1.0 if afm else 1.0
    scans = {L: (kts, *_scan_u4(L, kts, J=J, seed=L, staggered=afm, n_prod=8000, wolff=4))
             for L in (8, 16)}
    res = binder_tc(scans, n_boot=200)
    assert res.tc == pytest.approx(1.44293, rel=0.01), res
    assert res.tc_err < 0.005  # the 1% test is meaningful


@pytest.mark.parametrize("kt", [1.2, 1.5, 2.0])
def test_wolff_and_metropolis_agree(kt):
    lat = cubic_lattice("sc", 6)
    ham = SpinHamiltonian.from_shells(lat.positions, lat.cell, lat.pbc, [1.0])
    start = np.tile([0, 0, 1.0], (lat.n_sites, 1))
    out = {}
    for name, kw in (("metropolis", dict(move="hinzke_nowak")),
                     ("wolff", dict(metropolis=False, wolff_per_sweep=8))):
        mc = MonteCarlo(ham, start, _kelvin(kt), seed=4, **kw)
        mc.equilibrate(500)
        s = mc.sample(8000)
        out[name] = summarize({"energy": s.energy, "magnetisation": s.magnetisation},
                              lat.n_sites, _kelvin(kt), n_blocks=40)
    a, b = out["metropolis"], out["wolff"]
    for key in ("e_per_site", "u4_m"):
        err = np.hypot(a[key + "_err"], b[key + "_err"])
        assert abs(a[key] - b[key]) < 4.5 * err, (key, a[key], b[key], err)


@pytest.mark.slow
@pytest.mark.parametrize("kind,tc,kts", [("bcc", 2.054, [2.00, 2.03, 2.06, 2.09, 2.12]),
                                         ("fcc", 3.18, [3.10, 3.14, 3.18, 3.22, 3.26])])
def test_binder_crossing_bcc_fcc(kind, tc, kts):
    kts = np.array(kts)
    scans = {}
    for L in (6, 10):
        lat = cubic_lattice(kind, L)
        ham = SpinHamiltonian.from_shells(lat.positions, lat.cell, lat.pbc, [1.0])
        u4, err = [], []
        for k, kt in enumerate(kts):
            mc = MonteCarlo(ham, np.tile([0, 0, 1.0], (lat.n_sites, 1)), _kelvin(kt), seed=L,
                            stream=k, move="gaussian", wolff_per_sweep=2)
            mc.equilibrate(500)
            b = binder_cumulant(mc.sample(4000).magnetisation, n_blocks=30)
            u4.append(b.value)
            err.append(b.error)
        scans[L] = (kts, np.array(u4), np.array(err))
    res = binder_tc(scans, n_boot=200)
    assert res.tc == pytest.approx(tc, rel=0.01), res


def test_frozen_partner_langevin_with_active_sites():
    """One active spin (|m1| = 2) in the exchange field of a frozen one (|m2| = 1.5):
    <m1.m2> = |m1||m2| L(J|m1||m2|/kT); the frozen moment never changes and M is per active
    site (M = m1)."""
    J, a, b, kt = 0.3, 2.0, 1.5, 0.5
    x = J * a * b / kt
    ham = SpinHamiltonian(2, [0], [1], J=[J])
    m2 = np.array([0.6, 0.0, 0.8]) * b
    mc = MonteCarlo(ham, [[a, 0, 0], m2], _kelvin(kt), seed=11, move="gaussian",
                    active_sites=[0])
    mc.equilibrate(2000)
    s = mc.sample(100_000)
    dot = -s.energy / J
    assert _z(dot, a * b * (1 / np.tanh(x) - 1 / x)) < 4.0
    np.testing.assert_array_equal(mc.spins[1], m2)
    np.testing.assert_allclose(s.magnetisation[-1], mc.spins[0], atol=1e-14)


def test_overrelaxation_is_microcanonical_for_isotropic_exchange():
    """Reflections about the exchange + Zeeman field conserve E exactly: every one accepted."""
    lat = cubic_lattice("bcc", 3)
    ham = SpinHamiltonian.from_shells(lat.positions, lat.cell, lat.pbc, [1.0, 0.4],
                                      field=[0.2, 0.0, 0.1])
    m = np.random.default_rng(5).normal(size=(lat.n_sites, 3))
    mc = MonteCarlo(ham, m, 100.0, seed=1, metropolis=False, overrelax_per_sweep=1)
    e0 = mc.energy
    e = mc.sample(50).energy
    np.testing.assert_allclose(e, e0, rtol=0, atol=1e-11 * abs(e0))
    assert mc.acceptance()["overrelax"] == 1.0
    assert not np.allclose(mc.spins, m)
    assert ham.core.total_energy() == pytest.approx(e0, rel=1e-12)


def _partner_projection(J, Ku, kt, d):
    """<u.d> for a unit spin u with weight exp((J u.d + Ku u_z^2) / kT), by 2-d quadrature."""
    def weight(theta, phi, f):
        u = np.array([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)])
        return f(u) * np.exp((J * u @ d + Ku * u[2] ** 2) / kt) * np.sin(theta)

    z = integrate.dblquad(lambda t, p: weight(t, p, lambda u: 1.0), 0, 2 * np.pi, 0, np.pi)[0]
    num = integrate.dblquad(lambda t, p: weight(t, p, lambda u: u @ d), 0, 2 * np.pi, 0,
                            np.pi)[0]
    return num / z


def test_overrelaxation_with_anisotropy_samples_boltzmann():
    """Active spin in a frozen partner's exchange field plus uniaxial anisotropy (reflections
    change E and are Metropolis-corrected): <m1.d> equals the 2-d quadrature."""
    J, Ku, kt = 0.5, 0.6, 0.4
    d = np.array([np.sin(0.7), 0.0, np.cos(0.7)])
    ham = SpinHamiltonian(2, [0], [1], J=[J], Ku=[Ku, 0.0], axis=[[0, 0, 1.0]] * 2)
    mc = MonteCarlo(ham, [[1.0, 0, 0], d], _kelvin(kt), seed=4, move="gaussian", sigma=0.3,
                    active_sites=[0], overrelax_per_sweep=1)
    mc.equilibrate(2000)
    s = mc.sample(100_000)
    proj = s.magnetisation @ d
    expected = _partner_projection(J, Ku, kt, d)
    assert 0.05 < mc.acceptance()["overrelax"] < 0.95     # really Metropolis-corrected
    assert _z(proj, expected) < 4.0


def test_overrelaxation_needs_an_axis_provider():
    ham = SpinHamiltonian(2, [0], [1], J=[1.0])
    with pytest.raises(ValueError, match="negative|>= 0"):
        MonteCarlo(ham, [[0, 0, 1.0], [1.0, 0, 0]], 100.0, overrelax_per_sweep=-1)


@pytest.mark.parametrize("j_surrogate", [0.5, 1.6])
def test_delayed_acceptance_keeps_dimer_exact(j_surrogate):
    """A wrong surrogate (J_s != J, anisotropy missing) only changes efficiency: the chain still
    samples the exact target (dimer Langevin and anisotropic frozen-partner quadrature)."""
    J, kt = 1.0, 1.0 / 1.7
    x = J / kt
    ham = SpinHamiltonian(2, [0], [1], J=[J])
    sur = SpinHamiltonian(2, [0], [1], J=[j_surrogate])
    mc = MonteCarlo(ham, [[0, 0, 1.0], [1.0, 0, 0]], _kelvin(kt), seed=3, move="gaussian",
                    surrogate=sur)
    mc.equilibrate(2000)
    dot = -mc.sample(100_000).energy / J
    assert _z(dot, 1 / np.tanh(x) - 1 / x) < 4.0
    st = mc.delayed_acceptance_stats()
    assert st["screened"] > 0 and st["exact"] > 0
    assert mc.energy == pytest.approx(ham.core.total_energy(), abs=1e-12)


def test_delayed_acceptance_with_anisotropy_and_overrelaxation():
    J, Ku, kt = 0.5, 0.6, 0.4
    d = np.array([np.sin(0.7), 0.0, np.cos(0.7)])
    ham = SpinHamiltonian(2, [0], [1], J=[J], Ku=[Ku, 0.0], axis=[[0, 0, 1.0]] * 2)
    sur = SpinHamiltonian(2, [0], [1], J=[0.8 * J])                  # no anisotropy at all
    mc = MonteCarlo(ham, [[1.0, 0, 0], d], _kelvin(kt), seed=9, move="gaussian", sigma=0.3,
                    active_sites=[0], overrelax_per_sweep=1, surrogate=sur)
    mc.equilibrate(2000)
    proj = mc.sample(100_000).magnetisation @ d
    expected = _partner_projection(J, Ku, kt, d)
    assert _z(proj, expected) < 4.0


def test_delayed_acceptance_with_exact_surrogate_never_rejects_in_stage_two():
    lat = cubic_lattice("sc", 3)
    ham = SpinHamiltonian.from_shells(lat.positions, lat.cell, lat.pbc, [1.0])
    sur = SpinHamiltonian.from_shells(lat.positions, lat.cell, lat.pbc, [1.0])
    mc = MonteCarlo(ham, np.tile([0, 0, 1.0], (lat.n_sites, 1)), _kelvin(1.4), seed=2,
                    move="uniform", surrogate=sur)
    mc.sample(200)
    tried, acc = mc.core.get_stats()
    st = mc.delayed_acceptance_stats()
    assert st["exact"] == acc[0] and st["screened"] == tried[0] - acc[0]
