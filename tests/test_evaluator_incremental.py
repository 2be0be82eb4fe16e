"""Incremental frozen-mMACE evaluator: propose / accept / reject against full evaluations.

After long random sequences of accepted and rejected moves (direction and length changes,
tiny and large moments), every proposed dE equals E(new) - E(old) from two full evaluations
(the full C++ evaluator, itself checked against torch in test_evaluator_parity.py), and the
accumulated caches do not drift from a full recomputation.
"""
import numpy as np
import pytest

pytest.importorskip("torch")

from mmace_fast import _core  # noqa: E402
from mmace_fast.export.testing import (frozen_from_torch, random_model,  # noqa: E402
                                       random_model_config, random_structure)

TOL = 1e-10


def _hamiltonian(frozen, st, **kw):
    i, j, s = frozen.edges(st["positions"], st["cell"], st["pbc"])
    return _core.FrozenMMACECore(frozen.core, st["positions"], st["cell"], st["numbers"], i, j,
                                 s, st["magmoms"], **kw)


def _trial(rng, m_old):
    kind = rng.integers(4)
    if kind == 0:                                          # new direction, same length
        d = rng.normal(size=3)
        return d / np.linalg.norm(d) * np.linalg.norm(m_old)
    if kind == 1:                                          # length change, same direction
        return m_old * rng.uniform(0.2, 1.8)
    if kind == 2:                                          # small symmetric step in R^3
        return m_old + 0.3 * rng.normal(size=3)
    return rng.normal(size=3) * 10.0 ** rng.uniform(-6, 0.9)   # anything, tiny to large


def _run_sequence(frozen, st, n_moves, rng, check_every=1, **kw):
    h = _hamiltonian(frozen, st, **kw)
    m = st["magmoms"].copy()
    edges = frozen.edges(st["positions"], st["cell"], st["pbc"])

    def full(mm):
        return frozen.core.site_energies(st["positions"], st["cell"], st["numbers"], mm, *edges)

    e_old = full(m).sum()
    worst = 0.0
    n_acc = 0
    for step in range(n_moves):
        k = int(rng.integers(len(m)))
        new = _trial(rng, m[k])
        de = h.propose(k, new)
        if step % check_every == 0:
            m2 = m.copy()
            m2[k] = new
            e_new = full(m2).sum()
            worst = max(worst, abs(de - (e_new - e_old)) / max(1.0, abs(e_old), abs(e_new)))
        if rng.uniform() < 0.5:
            h.accept()
            n_acc += 1
            m[k] = new
            e_old = full(m).sum() if step % check_every == 0 else e_old + de
        else:
            h.reject()
    ref = full(m)
    assert np.array_equal(h.get_spins(), m)
    assert n_acc > n_moves // 4
    return h, worst, ref


@pytest.mark.parametrize("seed,cache", [(3, False), (18, False), (7, False), (10, False),
                                        (13, False), (19, False), (22, False), (23, False),
                                        (7, True), (22, True)])
def test_incremental_matches_full(seed, cache):
    """SOC and non-SOC, centre spin on and off, 1-3 layers, with and without the optional
    edge-weight cache: dE exact after 300 moves."""
    cfg = random_model_config(seed)
    model = random_model(cfg, seed=seed)
    frozen, _ = frozen_from_torch(model)
    rng = np.random.default_rng(seed)
    st = random_structure(rng, cfg["species"], n_atoms=6, a=3.3)
    h, worst, ref = _run_sequence(frozen, st, 300, rng, cache_edge_weights=cache)
    assert worst < TOL
    scale = max(1.0, np.abs(ref).max())
    assert np.abs(h.site_energies() - ref).max() < TOL * scale     # no drift
    assert abs(h.total_energy() - ref.sum()) < TOL * max(1.0, abs(ref.sum()))
    assert h.drift_and_refresh() < TOL * scale


@pytest.mark.parametrize("cache", [True, False])
def test_incremental_perfect_lattice(cache):
    """bcc supercell with shared bond caches, 3 layers (changes reach 3 hops), with and without
    the edge-weight cache."""
    from ase.build import bulk
    cfg = random_model_config(2, species=[26], n_layers=3, soc=False, centre_spin=True,
                              r_cut=2.9, correlation=2)
    model = random_model(cfg, seed=2)
    frozen, _ = frozen_from_torch(model)
    atoms = bulk("Fe", "bcc", a=2.83, cubic=True).repeat((3, 3, 3))
    rng = np.random.default_rng(5)
    st = dict(positions=atoms.positions, cell=atoms.cell[:], pbc=atoms.pbc,
              numbers=atoms.numbers, magmoms=rng.normal(size=(len(atoms), 3)) * 2.0)
    h, worst, ref = _run_sequence(frozen, st, 300, rng, check_every=3,
                                  cache_edge_weights=cache)
    assert h.n_bonds == 14                                 # bcc: 8 + 6 neighbours within 2.9 A
    assert worst < TOL
    assert np.abs(h.site_energies() - ref).max() < TOL * max(1.0, np.abs(ref).max())
    touched = h.last_touched()
    assert touched[0] == 1 and touched[1] == 15 and touched[2] > 15


def test_reject_and_repeated_proposals_leave_state():
    cfg = random_model_config(9)
    frozen, _ = frozen_from_torch(random_model(cfg, seed=9))
    rng = np.random.default_rng(4)
    st = random_structure(rng, cfg["species"], n_atoms=5)
    h = _hamiltonian(frozen, st)
    e0, s0 = h.total_energy(), h.site_energies()
    d1 = h.propose(1, [0.3, -1.0, 0.2])
    d2 = h.propose(2, [1.0, 0.0, 0.0])        # a new proposal replaces the pending one
    h.reject()
    assert h.total_energy() == e0 and np.array_equal(h.site_energies(), s0)
    assert h.delta_energy(1, [0.3, -1.0, 0.2]) == d1
    assert h.move(2, [1.0, 0.0, 0.0]) == d2
    assert abs(h.total_energy() - (e0 + d2)) < TOL * max(1.0, abs(e0))
    with pytest.raises(RuntimeError, match="without a pending"):
        h.accept()
    with pytest.raises(IndexError):
        h.propose(5, [0, 0, 1.0])


def test_effective_field_of_the_hamiltonian_is_the_evaluators():
    # the Monte Carlo Hamiltonian's -dE/dm is the C++ reverse pass (tests/test_frozen_gradients)
    cfg = random_model_config(3)
    frozen, _ = frozen_from_torch(random_model(cfg, seed=3))
    st = random_structure(np.random.default_rng(0), cfg["species"], n_atoms=4)
    np.testing.assert_array_equal(_hamiltonian(frozen, st).effective_field(),
                                  frozen.magforces(**st))
