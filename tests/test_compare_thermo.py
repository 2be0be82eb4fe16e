"""compare.thermo builds the same lattice for every model: the Heisenberg system reproduces the
fitted baseline's energy, the mMACE system moves only magnetic sites and carries the material's
order pattern."""
import numpy as np
import pytest

from mmace_fast.compare.thermo import ThermoError, heisenberg_model, mmace_model, pajda_model
from mmace_fast.mc.engine import MonteCarlo


def test_heisenberg_system_matches_the_fit():
    from mmace_fast.baseline import fit_material, to_spin_hamiltonian
    from mmace_fast.mc.lattice import material_lattice

    fit = fit_material("fe")
    sys2 = heisenberg_model("fe", fit).build(2)
    lat = material_lattice("bcc_Fe", 2, 2.866)
    ref = to_spin_hamiltonian(fit.model, lat, moment_lengths=dict(fit.moments))
    rng = np.random.default_rng(0)
    u = rng.normal(size=(lat.n_sites, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    assert sys2.hamiltonian.energy(u) == pytest.approx(ref.energy(u), rel=1e-12)
    np.testing.assert_allclose(np.linalg.norm(sys2.spins, axis=1), 1.0)


def test_mmace_system_on_crn_moves_only_cr_and_orders_afm2():
    from mmace_fast.models import load_frozen

    model = mmace_model("crn", load_frozen("crn"), 2.3, free_length=True)
    with pytest.raises(ValueError, match="not periodic"):
        model.build(1)
    system = model.build(2)
    m0 = system.spins.copy()
    assert set(np.flatnonzero(np.linalg.norm(m0, axis=1) > 0)) == set(system.active.tolist())
    # AFM2's 12 domains, each a balanced pattern on the Cr sites
    assert system.signs.shape == (12, len(m0))
    assert np.all(system.signs[:, system.active].sum(axis=1) == 0)
    mc = MonteCarlo(system.hamiltonian, m0, 300.0, seed=1, active_sites=system.active,
                    sublattice_signs=system.signs, **model.settings)
    mc.sample(2)
    frozen = np.setdiff1d(np.arange(len(m0)), system.active)
    np.testing.assert_array_equal(mc.spins[frozen], m0[frozen])


def test_bad_inputs():
    with pytest.raises(ThermoError):
        mmace_model("nife", "x.mmace", 1.0, True)
    assert pajda_model().build(2).hamiltonian.n_sites == 16


def test_extracted_surrogate_tracks_the_mmace_and_drives_guided_chains():
    """The Heisenberg model extracted from the Fe Monte Carlo grade mMACE predicts the mMACE's
    energy changes of single-moment rotations far better than zero (the screen is useful), and
    a guided chain (delayed acceptance + over-relaxation about its
    axis) keeps the exact mMACE energy."""
    from mmace_fast.compare.thermo import extracted_surrogate
    from mmace_fast.models import load_frozen

    frozen = load_frozen("fe", "mc")
    model, info = extracted_surrogate("fe", frozen, 2.2, L=3, n_shells=3, n_configs=48)
    assert 0.0 < info["non_heisenberg"] < 0.5
    with pytest.raises(ThermoError, match="surrogate"):
        mmace_model("fe", frozen, 2.2, free_length=False, overrelax=True)
    ms = mmace_model("fe", frozen, 2.2, free_length=False, surrogate=model, overrelax=True)
    system = ms.build(3)
    ham, sur = system.hamiltonian, system.surrogate
    rng = np.random.default_rng(1)
    u = rng.normal(size=(ham.n_sites, 3))
    m = 2.2 * u / np.linalg.norm(u, axis=1, keepdims=True)
    de, ds = [], []
    for i in rng.choice(ham.n_sites, 12, replace=False):
        v = rng.normal(size=3)
        m2 = m.copy()
        m2[i] = 2.2 * v / np.linalg.norm(v)
        de.append(ham.energy(m2) - ham.energy(m))
        ds.append(sur.energy(m2) - sur.energy(m))
    de, ds = np.array(de), np.array(ds)
    assert np.sqrt(np.mean((de - ds) ** 2)) < 0.5 * np.sqrt(np.mean(de ** 2))
    mc = MonteCarlo(ham, system.spins, 900.0, seed=2, active_sites=system.active,
                    surrogate=sur, **ms.settings)
    mc.sample(5)
    assert 0.3 < mc.acceptance()["overrelax"] <= 1.0
    assert mc.energy == pytest.approx(ham.energy(mc.spins), abs=1e-9)
