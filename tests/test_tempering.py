"""Parallel tempering: exact exchange statistics, Boltzmann marginals per slot, bit-identical
restart, refusal of another ensemble's checkpoint, bad input."""
import itertools

import numpy as np
import pytest

from mmace_fast.conventions import KB_EV_PER_K
from mmace_fast.mc.engine import CheckpointError
from mmace_fast.mc.hamiltonian import SpinHamiltonian
from mmace_fast.mc.lattice import cubic_lattice
from mmace_fast.mc.stats import blocking_error
from mmace_fast.mc.tempering import ParallelTempering, geometric_temperatures

J_DIMER = 0.01   # eV, pair once: E = -J s1.s2


def _dimer():
    return SpinHamiltonian(2, [0], [1], J=[J_DIMER])


def _langevin(x):
    return 1.0 / np.tanh(x) - 1.0 / x


def test_exchange_alone_samples_the_exact_permutation_distribution():
    """Over-relaxation conserves each dimer's energy exactly, so only the swaps move: the slot
    -> replica permutation must follow exp(-sum_slots beta_slot E_replica), enumerated."""
    temps = np.array([60.0, 110.0, 200.0])
    angles = np.radians([20.0, 100.0, 170.0])                 # three replica energies
    spins = np.array([[[0, 0, 1.0], [np.sin(a), 0, np.cos(a)]] for a in angles])
    energies = -J_DIMER * np.cos(angles)
    pt = ParallelTempering([_dimer() for _ in temps], spins, temps, seed=5,
                           metropolis=False, overrelax_per_sweep=1)
    pt.run(0, 30000)
    beta = 1.0 / (KB_EV_PER_K * temps)
    perms = list(itertools.permutations(range(3)))
    w = np.array([np.exp(-np.dot(beta, energies[list(p)])) for p in perms])
    exact = w / w.sum()
    seen = np.array([np.mean(np.all(pt.samples.replica == p, axis=1)) for p in perms])
    # consecutive samples are correlated (a swap is tried every step): compare with a margin
    # of 5 standard errors for an effective sample of a tenth of the samples
    se = np.sqrt(exact * (1 - exact) / (len(pt.samples) / 10))
    np.testing.assert_array_less(np.abs(seen - exact), 5 * se + 1e-3)
    # the energies never changed: exchanges moved temperatures, not configurations
    for r, mc in enumerate(pt.replicas):
        assert mc.energy == pytest.approx(energies[r], abs=1e-12)
    assert np.all(pt.exchange_tried > 0) and np.all(pt.exchange_accepted > 0)


@pytest.mark.parametrize("surrogate_j", [None, 0.6 * J_DIMER])
def test_each_slot_samples_its_own_boltzmann_distribution(surrogate_j):
    """Dimer of unit spins: <s1.s2> = L(beta J) (Langevin function) at every slot, also with a
    wrong delayed-acceptance surrogate per replica."""
    temps = geometric_temperatures(40.0, 400.0, 4)
    surs = None if surrogate_j is None else [SpinHamiltonian(2, [0], [1], J=[surrogate_j])
                                             for _ in temps]
    pt = ParallelTempering([_dimer() for _ in temps], [[0, 0, 1.0], [0, 0, 1.0]], temps,
                           seed=11, exchange_every=2, move="uniform", surrogates=surs)
    pt.run(200, 40000, sample_every=2)
    for slot, t in enumerate(temps):
        c = -pt.samples.energy[slot] / J_DIMER              # s1.s2 per sample
        exact = _langevin(J_DIMER / (KB_EV_PER_K * t))
        err = blocking_error(c).error
        assert abs(c.mean() - exact) < 5 * err + 1e-3, (t, c.mean(), exact, err)
    acc = pt.exchange_acceptance()
    assert np.all((acc > 0.05) & (acc <= 1.0))
    # every replica visited every slot
    for r in range(len(temps)):
        assert set(np.flatnonzero((pt.samples.replica == r).any(axis=0))) == set(range(4))
    if surs is not None:
        assert all(mc.delayed_acceptance_stats()["screened"] > 0 for mc in pt.replicas)


def _lattice_pt(seed=3, threads=1, temps=(1.2, 1.4, 1.6), surrogate_j=None):
    lat = cubic_lattice("sc", 3)
    hams = [SpinHamiltonian.from_shells(lat.positions, lat.cell, lat.pbc, [1e-3])
            for _ in temps]
    surs = None if surrogate_j is None else [
        SpinHamiltonian.from_shells(lat.positions, lat.cell, lat.pbc, [surrogate_j])
        for _ in temps]
    kelvin = np.asarray(temps) * 1e-3 / KB_EV_PER_K
    return ParallelTempering(hams, np.tile([0, 0, 1.0], (lat.n_sites, 1)), kelvin, seed=seed,
                             exchange_every=2, threads=threads, move="gaussian",
                             overrelax_per_sweep=1, surrogates=surs)


@pytest.mark.parametrize("surrogate_j", [None, 0.8e-3])
def test_restart_is_bit_identical_and_threads_do_not_change_the_chains(tmp_path, surrogate_j):
    ref = _lattice_pt(surrogate_j=surrogate_j)
    ref.run(20, 60, sample_every=2, checkpoint=tmp_path / "ref.npz", checkpoint_every=10)
    ck = tmp_path / "pt.npz"
    _lattice_pt(surrogate_j=surrogate_j).run(20, 20, sample_every=2, checkpoint=ck,
                                             checkpoint_every=10)  # "killed"
    resumed = _lattice_pt(threads=2, surrogate_j=surrogate_j)
    resumed.run(20, 60, sample_every=2, checkpoint=ck, checkpoint_every=10)
    for key in ("energy", "magnetisation", "staggered", "replica"):
        np.testing.assert_array_equal(getattr(resumed.samples, key), getattr(ref.samples, key))
    np.testing.assert_array_equal(resumed.slot_replica, ref.slot_replica)
    np.testing.assert_array_equal(resumed.exchange_accepted, ref.exchange_accepted)
    for a, b in zip(resumed.replicas, ref.replicas):
        np.testing.assert_array_equal(a.spins, b.spins)
        assert a.core.get_settings() == b.core.get_settings()
        assert a.temperature == b.temperature
    # the slot temperatures follow the replicas: the tracked energy is each replica's own
    for mc in resumed.replicas:
        assert mc.energy == pytest.approx(mc.hamiltonian.core.total_energy(), abs=1e-12)
    for a, b in zip(resumed.replicas, ref.replicas):
        assert a.delayed_acceptance_stats() == b.delayed_acceptance_stats()
    if surrogate_j is not None:     # another surrogate is another chain
        with pytest.raises(CheckpointError, match="surrogate"):
            _lattice_pt(surrogate_j=0.7e-3).run(20, 60, sample_every=2, checkpoint=ck)


def test_another_ensembles_checkpoint_is_refused(tmp_path):
    ck = tmp_path / "pt.npz"
    _lattice_pt().run(0, 10, sample_every=2, checkpoint=ck, checkpoint_every=10)
    with pytest.raises(CheckpointError, match="seed is 3 in the checkpoint, 4 here"):
        _lattice_pt(seed=4).run(0, 10, sample_every=2, checkpoint=ck)
    with pytest.raises(CheckpointError, match="temperatures"):
        _lattice_pt(temps=(1.2, 1.4, 1.7)).run(0, 10, sample_every=2, checkpoint=ck)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable"):
        _lattice_pt().load_checkpoint(bad)


def test_bad_input_is_refused():
    h = [_dimer(), _dimer()]
    up = [[0, 0, 1.0], [0, 0, 1.0]]
    with pytest.raises(ValueError, match="increasing"):
        ParallelTempering(h, up, [200.0, 100.0])
    with pytest.raises(ValueError, match="at least two"):
        ParallelTempering(h[:1], up, [100.0])
    with pytest.raises(ValueError, match="own Hamiltonian"):
        ParallelTempering([h[0], h[0]], up, [100.0, 200.0])
    with pytest.raises(ValueError, match="one Hamiltonian object per replica"):
        ParallelTempering(h, up, [100.0, 200.0, 300.0])
    with pytest.raises(ValueError, match="differ"):
        ParallelTempering([_dimer(), SpinHamiltonian(2, [0], [1], J=[0.02])], up, [100.0, 200.0])
    with pytest.raises(ValueError, match="exchange_every"):
        ParallelTempering(h, up, [100.0, 200.0], exchange_every=0)
    pt = ParallelTempering(h, up, [100.0, 200.0], exchange_every=3)
    with pytest.raises(ValueError, match="multiples of exchange_every"):
        pt.sample(4)
    with pytest.raises(ValueError, match="divide"):
        pt.sample(6, sample_every=2)


def test_round_trips_count_bottom_top_bottom_passages():
    pt = ParallelTempering([_dimer() for _ in range(3)], [[0, 0, 1.0], [0, 0, 1.0]],
                           [100.0, 150.0, 200.0])
    # slot -> replica per sample: replica 0 bottom -> top -> bottom -> top -> bottom (two
    # round trips); replica 1 bottom -> top only (none); replica 2 starts at the top, which
    # does not count, then bottom (t2) -> top (t6) -> bottom (t7) (one)
    pt.samples.replica = np.array([[0, 1, 2], [1, 0, 2], [2, 1, 0], [1, 2, 0], [0, 2, 1],
                                   [2, 1, 0], [0, 1, 2], [2, 0, 1]])
    np.testing.assert_array_equal(pt.round_trips(), [2, 0, 1])


def _mmace_pt(**kw):
    """Parallel tempering of the Fe Monte Carlo grade mMACE on bcc L = 3 (54 atoms)."""
    from mmace_fast.compare.thermo import mmace_model
    from mmace_fast.models import load_frozen
    model = mmace_model("fe", load_frozen("fe", "mc"), 2.2, free_length=True)
    systems = [model.build(3) for _ in range(3)]
    return ParallelTempering([s.hamiltonian for s in systems], systems[0].spins,
                             [900.0, 1000.0, 1100.0], seed=4, **model.settings, **kw)


def test_mmace_ensemble_resyncs_per_chunk_and_restarts_bit_identically(tmp_path):
    """An mMACE replica keeps its incremental caches across exchanges and is recomputed in
    full at each chunk start: a run resumed from a checkpoint (where it must recompute) is
    bit-identical to the uninterrupted one, and the tracked energy stays the full energy."""
    ref = _mmace_pt()
    ref.run(4, 12, checkpoint=tmp_path / "ref.npz", checkpoint_every=4)
    ck = tmp_path / "pt.npz"
    _mmace_pt().run(4, 4, checkpoint=ck, checkpoint_every=4)              # "killed"
    resumed = _mmace_pt()
    resumed.run(4, 12, checkpoint=ck, checkpoint_every=4)
    for key in ("energy", "magnetisation", "replica"):
        np.testing.assert_array_equal(getattr(resumed.samples, key), getattr(ref.samples, key))
    for a, b in zip(resumed.replicas, ref.replicas):
        np.testing.assert_array_equal(a.spins, b.spins)
    fresh = _mmace_pt().replicas[0].hamiltonian       # a full evaluation of the same moments
    for mc in ref.replicas:       # 4 blocks since the last full evaluation: no drift
        assert mc.energy == pytest.approx(fresh.energy(mc.spins), rel=1e-12, abs=1e-10)
    assert ref.exchange_tried.sum() > 0
