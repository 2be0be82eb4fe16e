"""Monte Carlo driver: reproducibility, restart bit-identity, checkpoint validation, bad input."""
import json
import os

import numpy as np
import pytest

from mmace_fast.mc.engine import CheckpointError, MonteCarlo
from mmace_fast.mc.hamiltonian import SpinHamiltonian
from mmace_fast.mc.lattice import cubic_lattice


def _model(J=1.0, **site):
    lat = cubic_lattice("sc", 4)
    ham = SpinHamiltonian.from_shells(lat.positions, lat.cell, lat.pbc, [J], **site)
    return ham, lat, np.tile([0, 0, 1.0], (lat.n_sites, 1))


def _mc(seed=1, stream=0, **kw):
    ham, lat, m = _model()
    return MonteCarlo(ham, m, 1.3 / 8.617333262e-5, seed=seed, stream=stream,
                      move="hinzke_nowak", wolff_per_sweep=1, **kw)


def test_same_seed_same_chain_and_streams_differ():
    a, b, c = _mc(), _mc(), _mc(stream=1)
    ea, eb, ec = (x.run(20, 50).energy for x in (a, b, c))
    np.testing.assert_array_equal(ea, eb)
    assert not np.array_equal(ea, ec)


def test_tracked_energy_matches_full_recomputation():
    ham, lat, m = _model(Ku=0.3, axis=[0, 0, 1.0], field=[0.1, 0, 0.05])
    mc = MonteCarlo(ham, m, 5000.0, seed=3, move="hinzke_nowak")
    mc.equilibrate(100)
    mc.sample(300)
    assert mc.energy == pytest.approx(ham.core.total_energy(), rel=1e-11, abs=1e-11)
    # the sampled magnetisation is that of the final configuration
    np.testing.assert_allclose(mc.samples.magnetisation[-1], mc.spins.mean(axis=0), atol=1e-12)


def test_restart_is_bit_identical(tmp_path):
    ref = _mc()
    ref_samples = ref.run(60, 120, sample_every=2, checkpoint=tmp_path / "ref.npz",
                          checkpoint_every=20)
    ck = tmp_path / "run.npz"
    first = _mc()
    first.run(60, 40, sample_every=2, checkpoint=ck, checkpoint_every=20)   # "killed" at 40
    resumed = _mc()          # fresh RNG: the checkpoint must restore the chain's RNG state
    out = resumed.run(60, 120, sample_every=2, checkpoint=ck, checkpoint_every=20)
    for key in ("energy", "magnetisation", "staggered"):
        np.testing.assert_array_equal(getattr(out, key), getattr(ref_samples, key))
    np.testing.assert_array_equal(resumed.spins, ref.spins)
    assert resumed.settings == ref.settings          # adapted sigma restored
    assert resumed.acceptance() == ref.acceptance()


def test_checkpoint_rejects_corrupt_foreign_and_mismatched(tmp_path):
    mc = _mc()
    mc.run(10, 10, checkpoint=tmp_path / "ok.npz", checkpoint_every=10)
    bad = tmp_path / "truncated.npz"
    bad.write_bytes((tmp_path / "ok.npz").read_bytes()[:200])
    with pytest.raises(CheckpointError):
        _mc().load_checkpoint(bad)
    foreign = tmp_path / "foreign.npz"
    st = mc.state_dict()
    meta = json.loads(str(st["meta"]))
    meta["format"] = "something.else"
    st["meta"] = np.array(json.dumps(meta))
    np.savez(foreign, **st)
    with pytest.raises(CheckpointError, match="foreign"):
        _mc().load_checkpoint(foreign)
    ham2, _, m2 = _model(J=2.0)
    other = MonteCarlo(ham2, m2, 100.0)
    with pytest.raises(CheckpointError, match="different Hamiltonian"):
        other.load_checkpoint(tmp_path / "ok.npz")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(os.urandom(500))
    with pytest.raises(CheckpointError):
        _mc().load_checkpoint(garbage)


@pytest.mark.parametrize("temperature", [0.0, -5.0, np.nan, np.inf])
def test_bad_temperature(temperature):
    ham, lat, m = _model()
    with pytest.raises(ValueError):
        MonteCarlo(ham, m, temperature)


def test_bad_spins_and_signs():
    ham, lat, m = _model()
    zero = m.copy()
    zero[3] = 0.0
    with pytest.raises(ValueError, match="zero-length"):
        MonteCarlo(ham, zero, 100.0)
    nan = m.copy()
    nan[1, 1] = np.nan
    with pytest.raises(ValueError):
        MonteCarlo(ham, nan, 100.0)
    with pytest.raises(ValueError):
        MonteCarlo(ham, m[:-1], 100.0)
    with pytest.raises(ValueError):
        MonteCarlo(ham, m, 100.0, sublattice_signs=np.ones(lat.n_sites + 1))
    with pytest.raises(ValueError):
        MonteCarlo(ham, m, 100.0, sublattice_signs=np.full(lat.n_sites, np.nan))


def test_bad_settings():
    ham, lat, m = _model()
    with pytest.raises(ValueError, match="longitudinal"):
        MonteCarlo(ham, m, 100.0, p_longitudinal=0.5)
    with pytest.raises(ValueError):
        MonteCarlo(ham, m, 100.0, move="teleport")
    with pytest.raises(ValueError):
        MonteCarlo(ham, m, 100.0, not_a_setting=1)
    with pytest.raises(ValueError):
        MonteCarlo(ham, m, 100.0, sigma=-1.0)
    aniso, _, m2 = _model(Ku=0.1, axis=[0, 0, 1.0])
    with pytest.raises(ValueError, match="Wolff"):
        MonteCarlo(aniso, m2, 100.0, wolff_per_sweep=1)
    with pytest.raises(ValueError):
        MonteCarlo(ham, m, 100.0).run(10, 10, sample_every=3, checkpoint_every=10)


def test_active_sites_validation_and_checkpoint(tmp_path):
    ham, lat, m = _model()
    mask = np.zeros(lat.n_sites, bool)
    mask[::2] = True
    mc = MonteCarlo(ham, m, 500.0, seed=2, move="uniform", active_sites=mask)
    assert mc.n_active == lat.n_sites // 2
    mc.run(10, 20, checkpoint=tmp_path / "c.npz", checkpoint_every=10)
    np.testing.assert_array_equal(mc.spins[~mask], m[~mask])     # frozen sites untouched
    assert np.any(mc.spins[mask] != m[mask])
    np.testing.assert_allclose(mc.samples.magnetisation[-1], mc.spins[mask].mean(axis=0),
                               atol=1e-12)
    other = MonteCarlo(ham, m, 500.0, seed=2, move="uniform", active_sites=np.flatnonzero(mask))
    other.load_checkpoint(tmp_path / "c.npz")
    np.testing.assert_array_equal(other.spins, mc.spins)
    with pytest.raises(CheckpointError, match="active_sites"):     # all sites active here
        MonteCarlo(ham, m, 500.0, seed=2, move="uniform").load_checkpoint(tmp_path / "c.npz")
    for bad in ([], [0, 0], [-1], [lat.n_sites], np.ones(3, bool), [[0, 1]], [0.5]):
        with pytest.raises(ValueError):
            MonteCarlo(ham, m, 500.0, active_sites=bad)
    with pytest.raises(ValueError, match="Wolff"):
        MonteCarlo(ham, m, 500.0, active_sites=mask, wolff_per_sweep=1)


def test_delayed_acceptance_checkpoint_restart(tmp_path):
    ham, lat, m = _model()
    sur = SpinHamiltonian.from_shells(lat.positions, lat.cell, lat.pbc, [0.7])
    kw = dict(seed=4, move="gaussian", surrogate=sur)
    ref = MonteCarlo(ham, m, 9000.0, **kw)
    ref.run(0, 40, checkpoint_every=10)
    a = MonteCarlo(ham, m, 9000.0, **kw)
    a.run(0, 20, checkpoint=tmp_path / "c.npz", checkpoint_every=10)
    b = MonteCarlo(ham, m, 9000.0, **kw)
    b.run(0, 40, checkpoint=tmp_path / "c.npz", checkpoint_every=10)
    np.testing.assert_array_equal(b.samples.energy, ref.samples.energy)
    assert b.delayed_acceptance_stats() == ref.delayed_acceptance_stats()
    with pytest.raises(CheckpointError, match="surrogate"):
        MonteCarlo(ham, m, 9000.0, seed=4).load_checkpoint(tmp_path / "c.npz")
    with pytest.raises(ValueError):
        MonteCarlo(ham, m, 9000.0, surrogate=SpinHamiltonian(3, [0], [1], J=[1.0]))
    with pytest.raises(ValueError, match="Wolff"):
        MonteCarlo(ham, m, 9000.0, surrogate=sur, wolff_per_sweep=1)


def test_checkpoint_rejects_a_chain_started_from_other_moments(tmp_path):
    ham, lat, m = _model()
    a = MonteCarlo(ham, m, 500.0, seed=2)
    a.run(0, 10, checkpoint=tmp_path / "c.npz", checkpoint_every=10)
    b = MonteCarlo(ham, -m, 500.0, seed=2)          # same Hamiltonian, other start
    with pytest.raises(CheckpointError, match="started from other"):
        b.load_checkpoint(tmp_path / "c.npz")


@pytest.mark.parametrize("change, field", [
    (dict(temperature=1500.0), "temperature"), (dict(seed=3), "seed"), (dict(stream=1), "stream"),
    (dict(move="uniform"), "settings.move"), (dict(overrelax_per_sweep=1),
                                              "settings.overrelax_per_sweep"),
    (dict(sigma=0.2), "settings.sigma"), (dict(signs=-1.0), "sublattice_signs")])
def test_resume_refuses_a_changed_chain_and_names_the_field(tmp_path, change, field):
    """A finished 500 K run's checkpoint is not the answer to another question (issue 35)."""
    ham, lat, m = _model()
    base = dict(temperature=500.0, seed=2, stream=0, move="gaussian", sigma=0.5)
    ck = tmp_path / "c.npz"
    MonteCarlo(ham, m, **{k: v for k, v in base.items()}).run(5, 10, checkpoint=ck,
                                                              checkpoint_every=5)
    kw = dict(base, **{k: v for k, v in change.items() if k != "signs"})
    if "signs" in change:
        kw["sublattice_signs"] = np.full(lat.n_sites, change["signs"])
    t = kw.pop("temperature")
    again = MonteCarlo(ham, m, t, **kw)
    with pytest.raises(CheckpointError, match=field.replace(".", r"\.")) as err:
        again.run(5, 10, checkpoint=ck, checkpoint_every=5)
    assert "in the checkpoint" in str(err.value)
    assert again.progress == {"equilibration": 0, "production": 0}
    # the same request resumes (nothing left to do: the finished samples come back)
    same = MonteCarlo(ham, m, **base).run(5, 10, checkpoint=ck, checkpoint_every=5)
    assert len(same) == 10


def test_warm_resume_starts_a_new_chain_from_the_checkpoint_moments(tmp_path):
    ham, lat, m = _model()
    ck = tmp_path / "c.npz"
    first = MonteCarlo(ham, m, 500.0, seed=2, move="gaussian")
    first.run(5, 10, checkpoint=ck, checkpoint_every=5)
    warm = MonteCarlo(ham, m, 900.0, seed=7, move="gaussian")
    warm.load_checkpoint(ck, resume="warm")
    np.testing.assert_array_equal(warm.spins, first.spins)
    assert warm.temperature == 900.0 and len(warm.samples) == 0
    assert warm.progress == {"equilibration": 0, "production": 0}
    with pytest.raises(ValueError, match="resume"):
        warm.run(1, 1, checkpoint=ck, resume="continue-anyway")


def test_stale_temporary_checkpoint_is_removed(tmp_path):
    ham, lat, m = _model()
    ck = tmp_path / "c.npz"
    stale = tmp_path / ".c.npz.tmp-abc123.npz"
    stale.write_bytes(b"half-written")
    unrelated = tmp_path / ".d.npz.tmp-x.npz"          # another chain's writer: left alone
    unrelated.write_bytes(b"x")
    MonteCarlo(ham, m, 500.0, seed=2).run(0, 5, checkpoint=ck, checkpoint_every=5)
    assert not stale.exists() and unrelated.exists() and ck.exists()


def test_a_chain_on_non_finite_energies_stops():
    """Issue 35: a 1e308 field gave -inf energies and a running chain."""
    from mmace_fast.mc.engine import NonFiniteEnergyError
    ham, lat, m = _model(field=[0, 0, 1e308])
    mc = MonteCarlo(ham, m, 500.0, seed=1, move="uniform")
    with pytest.raises(NonFiniteEnergyError, match="non-finite energy"):
        mc.run(0, 5)
    assert mc.progress["production"] == 0 and len(mc.samples) == 0
