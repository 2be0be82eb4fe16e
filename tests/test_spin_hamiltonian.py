"""Classical spin Hamiltonian: energy against an independent NumPy reference, site energies,
effective field against finite differences, local dE against full recomputation, bad input."""
import numpy as np
import pytest

from mmace_fast import conventions as cv
from mmace_fast.mc.hamiltonian import (SpinHamiltonian, find_shells, landau_from_species,
                                      per_site_from_species)
from mmace_fast.mc.lattice import cubic_lattice
from mmace_fast.mc.presets import PAJDA_J_MRY, mean_field_tc, pajda_bcc_fe, pajda_fe_exchange_ev
from mmace_fast.neighbours import neighbour_list, pairs_once


def _random_model(seed, n=5, all_terms=True):
    """Small periodic cell with cutoff > cell: includes self-image pairs and multiple images."""
    rng = np.random.default_rng(seed)
    cell = np.eye(3) * 2.6 + rng.uniform(-0.3, 0.3, (3, 3))
    pos = rng.uniform(0, 1, (n, 3)) @ cell
    i, j, s = neighbour_list(pos, cell, [True, True, False], 3.3)
    keep = pairs_once(i, j, s)
    pi, pj = i[keep], j[keep]
    npairs = len(pi)
    assert np.any(pi == pj), "want self-image pairs in the test"
    kw = dict(J=rng.normal(0, 0.02, npairs))
    if all_terms:
        kw.update(T=rng.normal(0, 0.005, (npairs, 3, 3)), B=rng.normal(0, 0.003, npairs),
                  Ku=rng.normal(0, 0.01, n), axis=rng.normal(size=(n, 3)),
                  Kc=rng.normal(0, 0.005, n), field=rng.normal(0, 0.01, (n, 3)),
                  a2=rng.normal(-0.05, 0.01, n), a4=rng.uniform(0.01, 0.02, n),
                  a6=rng.uniform(0.0, 0.001, n))
    m = rng.normal(size=(n, 3)) * 1.5
    return SpinHamiltonian(n, pi, pj, **kw), kw, pi, pj, m


def _reference_energy(kw, pi, pj, m):
    """Straight transcription of the documented Hamiltonian (conventions.py)."""
    e = 0.0
    for k, (a, b) in enumerate(zip(pi, pj)):
        d = m[a] @ m[b]
        e -= kw["J"][k] * d
        if "T" in kw:
            e -= m[a] @ kw["T"][k] @ m[b]
            e -= kw["B"][k] * d * d
    if "Ku" in kw:
        axis = kw["axis"] / np.linalg.norm(kw["axis"], axis=1)[:, None]
        e -= np.sum(kw["Ku"] * np.einsum("ij,ij->i", m, axis) ** 2)
        e -= np.sum(kw["Kc"] * np.sum(m ** 4, axis=1))
        e -= np.sum(kw["field"] * m)
        r2 = np.sum(m * m, axis=1)
        e += np.sum(kw["a2"] * r2 + kw["a4"] * r2 ** 2 + kw["a6"] * r2 ** 3)
    return e


@pytest.mark.parametrize("seed", range(4))
def test_energy_matches_reference_and_site_energies_sum(seed):
    ham, kw, pi, pj, m = _random_model(seed)
    e = ham.energy(m)
    assert e == pytest.approx(_reference_energy(kw, pi, pj, m), rel=1e-12, abs=1e-14)
    assert ham.site_energies(m).sum() == pytest.approx(e, rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("seed", range(4))
def test_effective_field_is_minus_gradient(seed):
    ham, _, _, _, m = _random_model(seed)
    field = ham.effective_field(m)
    h = 1e-5
    fd = np.zeros_like(m)
    for a in range(len(m)):
        for c in range(3):
            mp, mm = m.copy(), m.copy()
            mp[a, c] += h
            mm[a, c] -= h
            fd[a, c] = -(ham.energy(mp) - ham.energy(mm)) / (2 * h)
    np.testing.assert_allclose(field, fd, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("all_terms", [True, False])
def test_local_delta_energy_equals_full_recomputation(all_terms):
    ham, _, _, _, m = _random_model(11, all_terms=all_terms)
    rng = np.random.default_rng(3)
    core = ham.core
    core.set_spins(m)
    e = core.total_energy()
    for step in range(300):
        i = int(rng.integers(len(m)))
        new = rng.normal(size=3) * (1.5 if all_terms else 1.0)
        if not all_terms:
            new *= np.linalg.norm(m[i]) / np.linalg.norm(new)
        de_probe = core.delta_energy(i, new)
        if step % 3:  # accept two moves in three
            de = core.move(i, new)
            assert de == de_probe
            e += de
            m[i] = new
        full = core.total_energy()
        assert e == pytest.approx(full, rel=1e-10, abs=1e-12)
        e = full


def test_packed_lattice_path_delta_energy():
    """The packed isotropic fast path (lattice, few distinct J, no self images) against full
    recomputation, with moves of direction and length."""
    ham, lat = pajda_bcc_fe(3)
    rng = np.random.default_rng(8)
    m = rng.normal(size=(lat.n_sites, 3))
    core = ham.core
    core.set_spins(m)
    for _ in range(200):
        i = int(rng.integers(lat.n_sites))
        new = rng.normal(size=3)
        e0 = core.total_energy()
        de = core.move(i, new)
        assert de == pytest.approx(core.total_energy() - e0, rel=1e-9, abs=1e-13)
    # the same energy as an explicit per-pair sum
    sh = ham.shells
    m = core.get_spins()
    ref = -np.sum(pajda_fe_exchange_ev()[sh.shell]
                  * np.einsum("ij,ij->i", m[sh.pair_i], m[sh.pair_j]))
    assert core.total_energy() == pytest.approx(ref, rel=1e-12)


def test_shells_of_bcc():
    a = 2.866
    lat = cubic_lattice("bcc", 6, a)
    sh = find_shells(lat.positions, lat.cell, lat.pbc, 9)
    per_site = np.bincount(sh.shell) * 2 / lat.n_sites
    np.testing.assert_array_equal(per_site, [8, 6, 12, 24, 8, 6, 24, 24, 24])
    expect = a * np.sqrt([0.75, 1, 2, 2.75, 3, 4, 4.75, 5, 6])
    np.testing.assert_allclose(sh.distances, expect, rtol=1e-6)


def test_pajda_model_counts_and_mean_field():
    ham, lat = pajda_bcc_fe(6)
    per_site = np.bincount(ham.shells.shell) * 2 / lat.n_sites
    np.testing.assert_array_equal(per_site, [8, 6, 12, 24, 8, 6, 24, 24])   # 112 neighbours
    # conventions round trip and the 8-shell mean-field Tc quoted in references.md (1339 K)
    j = pajda_fe_exchange_ev()
    np.testing.assert_allclose(cv.ev_to_mry(cv.pair_once_to_twice(j)), PAJDA_J_MRY, rtol=1e-12)
    assert mean_field_tc(j, per_site) == pytest.approx(1339, rel=0.01)
    m = np.tile([0, 0, 1.0], (lat.n_sites, 1))
    assert ham.energy(m) / lat.n_sites == pytest.approx(-0.5 * per_site @ j, rel=1e-12)


def test_ferromagnetic_ground_state_energy():
    lat = cubic_lattice("sc", 4)
    ham = SpinHamiltonian.from_shells(lat.positions, lat.cell, lat.pbc, [0.7])
    m = np.tile([0.0, 0.0, 1.0], (lat.n_sites, 1))
    assert ham.energy(m) == pytest.approx(-3 * 0.7 * lat.n_sites)  # z/2 bonds per site, once
    assert cv.EXCHANGE_SIGN == -1 and cv.PAIRS_COUNTED == "once"


@pytest.mark.parametrize("case", ["nan_J", "nan_field", "shape_J", "index", "landau_unbounded",
                                  "axis_zero", "n_sites"])
def test_bad_input(case):
    kw = dict(n_sites=2, pair_i=[0], pair_j=[1], J=[1.0])
    if case == "nan_J":
        kw["J"] = [np.nan]
    elif case == "nan_field":
        kw["field"] = [[0, 0, np.inf], [0, 0, 0]]
    elif case == "shape_J":
        kw["J"] = [1.0, 2.0]
    elif case == "index":
        kw["pair_j"] = [2]
    elif case == "landau_unbounded":
        kw["a2"], kw["a4"] = [-1.0, -1.0], [-0.1, 0.1]
    elif case == "axis_zero":
        kw["Ku"], kw["axis"] = [1.0, 1.0], [[0, 0, 0], [0, 0, 1]]
    else:
        kw["n_sites"] = 0
    with pytest.raises(ValueError):
        SpinHamiltonian(**kw)


def test_species_tables():
    numbers = [26, 13, 26]
    lan = landau_from_species(numbers, {26: (-0.5, 0.1), 13: (0.2, 0.05, 0.01)})
    np.testing.assert_allclose(lan["a2"], [-0.5, 0.2, -0.5])
    np.testing.assert_allclose(lan["a6"], [0.0, 0.01, 0.0])
    ham = SpinHamiltonian(3, [0, 1], [1, 2], J=[0.1, 0.1], **lan)
    assert ham.variable_length
    with pytest.raises(ValueError, match="species"):
        landau_from_species([26, 24], {26: (-0.5, 0.1)})
    with pytest.raises(ValueError, match="species"):
        per_site_from_species([7], {26: 1.0})


def test_bad_spins():
    ham = SpinHamiltonian(2, [0], [1], J=[1.0])
    with pytest.raises(ValueError):
        ham.energy(np.full((2, 3), np.nan))
    with pytest.raises(ValueError):
        ham.energy(np.ones((3, 3)))
    with pytest.raises(IndexError):
        ham.delta_energy(np.ones((2, 3)), 5, [0, 0, 1])
