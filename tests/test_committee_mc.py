"""A committee as one Monte Carlo Hamiltonian (issue 30): the mean of the members' energies,
fields and incremental changes, each member's change of every proposal, and a chain that is the
single model's chain when the members are identical. The shipped Fe committee (5 members of the
Monte Carlo grade recipe) on a rattled bcc cell."""
import numpy as np
import pytest

from mmace_fast import _core
from mmace_fast.mc.committee_hamiltonian import CommitteeMMACEHamiltonian
from mmace_fast.mc.engine import MonteCarlo
from mmace_fast.mc.lattice import lattice_of
from mmace_fast.mc.mmace_hamiltonian import FrozenMMACEHamiltonian
from mmace_fast.models import load_frozen, load_frozen_committee


@pytest.fixture(scope="module")
def setup():
    lat = lattice_of("fe", 2)
    rng = np.random.default_rng(0)
    pos = lat.positions + 0.03 * rng.standard_normal(lat.positions.shape)
    d = rng.standard_normal((lat.n_sites, 3))
    m = d / np.linalg.norm(d, axis=1, keepdims=True) * rng.uniform(1.8, 2.6, (lat.n_sites, 1))
    com = load_frozen_committee("fe")
    return lat, pos, m, com


def _member(frozen, lat, pos):
    return FrozenMMACEHamiltonian(frozen, pos, lat.cell, lat.pbc, lat.numbers)


def test_committee_energies_fields_and_changes_are_the_members_means(setup):
    lat, pos, m, com = setup
    ham = CommitteeMMACEHamiltonian(com, pos, lat.cell, lat.pbc, lat.numbers)
    singles = [_member(f, lat, pos) for f in com.members]
    k = len(singles)
    e = np.array([s.energy(m) for s in singles])
    assert ham.energy(m) == pytest.approx(e.mean(), abs=1e-12)
    np.testing.assert_allclose(ham.member_energies(m), e, atol=1e-12)
    np.testing.assert_allclose(ham.site_energies(m),
                               np.mean([s.site_energies(m) for s in singles], axis=0),
                               atol=1e-12)
    np.testing.assert_allclose(ham.effective_field(m),
                               np.mean([s.effective_field(m) for s in singles], axis=0),
                               atol=1e-12)
    rng = np.random.default_rng(1)
    for _ in range(10):                     # incremental changes against full recomputations
        i = int(rng.integers(lat.n_sites))
        new = rng.standard_normal(3) * 1.2
        de = ham.delta_energy(m, i, new)
        after = m.copy()
        after[i] = new
        full = np.array([s.energy(after) for s in singles]) - e
        np.testing.assert_allclose(ham.core.last_deltas(), full, atol=1e-10)
        assert de == pytest.approx(full.mean(), abs=1e-10)
        assert k == ham.core.n_members == 5


def test_a_committee_of_identical_members_runs_the_single_models_chain(setup):
    lat, pos, m, _ = setup
    frozen = load_frozen("fe", "mc")
    one = _member(frozen, lat, pos)
    two = CommitteeMMACEHamiltonian([frozen, frozen], pos, lat.cell, lat.pbc, lat.numbers)
    runs = []
    for ham in (one, two):
        mc = MonteCarlo(ham, m, temperature=1200.0, seed=7, move="gaussian",
                        p_longitudinal=0.3, sigma_long=0.1)
        mc.sample(20)
        runs.append((mc.spins.copy(), mc.energy))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]
    assert two.content_hash() != one.content_hash()


def test_members_must_share_the_sites(setup):
    lat, pos, m, com = setup
    big = lattice_of("fe", 3)
    a = _member(com.members[0], lat, pos)
    b = _member(com.members[1], big, big.positions)
    with pytest.raises(ValueError, match="sites"):
        _core.MeanHamiltonianCore([a.core, b.core])
    with pytest.raises(ValueError, match="at least one"):
        _core.MeanHamiltonianCore([])
