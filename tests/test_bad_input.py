"""Values that used to be truncated or fail late are refused where they enter, naming the
input: non-integral atomic numbers and pair indices, frames with no atoms."""
import numpy as np
import pytest

from mmace_fast.checks import integer_array
from mmace_fast.data.records import Configuration, DataError
from mmace_fast.mc.hamiltonian import SpinHamiltonian


def test_integer_array_refuses_what_it_would_truncate():
    np.testing.assert_array_equal(integer_array([26.0, 13], "z"), [26, 13])
    assert integer_array(np.array([], dtype=float), "z").dtype == np.int64
    with pytest.raises(ValueError, match=r"z must be integers: element 1 is 26\.9"):
        integer_array([26, 26.9], "z")
    for bad in ([np.nan], [np.inf], [True, False], ["Fe"]):
        with pytest.raises(ValueError, match="z must be integers"):
            integer_array(bad, "z")


def test_pair_indices_are_not_truncated():
    with pytest.raises(ValueError, match="pair_j must be integers"):
        SpinHamiltonian(3, [0], [1.9], J=[1.0])
    h = SpinHamiltonian(3, [0.0], [2.0], J=[1.0])           # integral floats are fine
    np.testing.assert_array_equal(h.terms["pair_j"], [2])


def test_configuration_refuses_fractional_numbers_and_empty_frames():
    kw = dict(positions=[[0, 0, 0.0]], cell=np.eye(3) * 3, pbc=[True] * 3, source="f.xyz:3")
    with pytest.raises(DataError, match=r"atomic numbers must be integers.*f\.xyz:3"):
        Configuration(numbers=[26.9], **kw)
    with pytest.raises(DataError, match=r"no atoms \(f\.xyz:3\)"):
        Configuration(numbers=[], **dict(kw, positions=np.zeros((0, 3))))


def test_extxyz_frame_with_no_atoms_is_refused_at_read(tmp_path):
    from mmace_fast.data.readers import read_extxyz
    path = tmp_path / "two.xyz"
    path.write_text('1\nLattice="3 0 0 0 3 0 0 0 3" Properties=species:S:1:pos:R:3 '
                    'energy=-1.0 pbc="T T T"\nFe 0 0 0\n'
                    '0\nLattice="3 0 0 0 3 0 0 0 3" Properties=species:S:1:pos:R:3 '
                    'energy=-1.0 pbc="T T T"\n')
    with pytest.raises(DataError, match=r"no atoms.*two\.xyz:1"):
        read_extxyz(path, non_magnetic=True)


def test_frozen_model_refuses_fractional_atomic_numbers():
    pytest.importorskip("torch")
    from mmace_fast.export.testing import frozen_from_torch, random_model, random_model_config
    frozen = frozen_from_torch(random_model(random_model_config(2), seed=2))[0]
    z = frozen.species[0]
    with pytest.raises(ValueError, match="atomic numbers must be integers"):
        frozen.energy(positions=[[0, 0, 0.0]], cell=np.eye(3) * 3, pbc=[True] * 3,
                      numbers=[z + 0.9], magmoms=[[0, 0, 1.0]])


def test_coincident_atoms_follow_one_rule_in_every_path():
    """Two atoms on one point: the neighbour search, the frozen model and the torch calculator
    all refuse them with the same message (the torch path used to return NaN)."""
    from ase import Atoms

    from mmace_fast.models import default_calculator, load_frozen
    from mmace_fast.neighbours import neighbour_list
    pos = np.array([[0, 0, 0], [0, 0, 0], [1.4, 1.4, 1.4]])
    cell = np.eye(3) * 5.732
    with pytest.raises(ValueError, match="coincident atoms: 0 and 1"):
        neighbour_list(pos, cell, [True] * 3, 3.0)
    with pytest.raises(ValueError, match="coincident atoms: 0 and 1"):
        load_frozen("fe", "mc").energy(positions=pos, cell=cell, pbc=[True] * 3,
                                       numbers=[26] * 3, magmoms=[[0, 0, 2.0]] * 3)
    pytest.importorskip("torch")
    atoms = Atoms("Fe3", positions=pos, cell=cell, pbc=True)
    atoms.set_initial_magnetic_moments([2.0] * 3)
    atoms.calc = default_calculator("fe")
    with pytest.raises(ValueError, match="coincident atoms: 0 and 1"):
        atoms.get_potential_energy()
    # 1e-9 A apart is the same defect
    with pytest.raises(ValueError, match="coincident"):
        neighbour_list([[0, 0, 0.0], [0, 0, 1e-9]], cell, [True] * 3, 3.0)


def test_a_neighbour_list_beyond_the_memory_is_refused_up_front(monkeypatch):
    """A request that cannot fit fails at once with the estimate, not with std::bad_alloc
    after the search (the machine is faked to have 1 MiB available)."""
    from mmace_fast import neighbours
    from mmace_fast.mc.lattice import cubic_lattice
    lat = cubic_lattice("bcc", 6)                     # 432 sites, 8 + 6 neighbours within 1.1
    est = neighbours.estimated_pairs(lat.positions, lat.cell, lat.pbc, 1.1)
    exact = len(neighbours.neighbour_list(lat.positions, lat.cell, lat.pbc, 1.1)[0])
    assert 0.5 * exact < est < 2.0 * exact
    monkeypatch.setattr(neighbours, "available_memory", lambda: 2 ** 20)
    with pytest.raises(MemoryError, match=r"needs about .* GiB, 0\.0 GiB are available"):
        neighbours.neighbour_list(lat.positions, lat.cell, lat.pbc, 3.0)
