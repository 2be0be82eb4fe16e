"""The one structure type (mmace_fast.structure): normalisation and checks in one place, shared by
the data records, the baselines, the Monte Carlo lattices and the frozen evaluator."""
import numpy as np
import pytest
from ase.build import bulk

from mmace_fast.data.records import Configuration, DataError
from mmace_fast.structure import Structure, StructureError, as_pbc


def test_arrays_are_normalised_once():
    s = Structure([[0, 0, 0], [1.4, 1.4, 1.4]], 2.8 * np.eye(3), True, [26.0, 26])
    assert s.positions.dtype == np.float64 and s.positions.flags.c_contiguous
    assert s.numbers.dtype == np.int64 and s.numbers.tolist() == [26, 26]
    np.testing.assert_array_equal(s.pbc, [True] * 3)
    assert s.n_atoms == 2 and s.volume == pytest.approx(2.8 ** 3)
    np.testing.assert_array_equal(as_pbc([False]), [False] * 3)
    assert Structure([[0, 0, 0]], np.zeros((3, 3)), [False] * 3, [1]).volume is None


@pytest.mark.parametrize("kwargs, match", [
    (dict(numbers=[]), "no atoms"),
    (dict(positions=[[0, 0, 0]]), "positions has shape"),
    (dict(cell=np.eye(2)), "cell has shape"),
    (dict(positions=[[0, 0, np.nan], [1, 1, 1]]), "non-finite"),
    (dict(numbers=[26, 26.5]), "must be integers"),
    (dict(cell=np.diag([2.8, 2.8, 0.0])), "singular cell"),
    (dict(pbc=[True, False]), "pbc must be"),
])
def test_bad_structures_are_refused(kwargs, match):
    kw = dict(positions=[[0, 0, 0], [1.4, 1.4, 1.4]], cell=2.8 * np.eye(3), pbc=True,
              numbers=[26, 26])
    kw.update(kwargs)
    with pytest.raises(StructureError, match=match):
        Structure(**kw)


def test_a_singular_cell_along_a_non_periodic_direction_is_fine():
    s = Structure([[0, 0, 0]], np.diag([2.8, 2.8, 0.0]), [True, True, False], [26])
    assert s.pbc.tolist() == [True, True, False]


def test_records_are_structures_with_their_own_error_and_source():
    with pytest.raises(DataError, match=r"no atoms \(f.xyz:3\)"):
        Configuration(np.zeros((0, 3)), np.eye(3), True, [], source="f.xyz:3")
    c = Configuration([[0, 0, 0]], 2.8 * np.eye(3), [1], [26], magmoms=[2.2])
    assert isinstance(c, Structure) and Structure.of(c) is c
    np.testing.assert_array_equal(c.magmoms, [[0, 0, 2.2]])
    assert issubclass(DataError, StructureError)


def test_repeat_and_of_agree_with_ase():
    atoms = bulk("FeAl", "cesiumchloride", a=2.9)
    s = Structure.of(atoms)
    np.testing.assert_array_equal(s.numbers, atoms.numbers)
    big, ref = s.repeat((2, 1, 3)), atoms.repeat((2, 1, 3))
    np.testing.assert_allclose(big.positions, ref.positions, atol=1e-12)
    np.testing.assert_allclose(big.cell, ref.cell[:], atol=1e-12)
    np.testing.assert_array_equal(big.numbers, ref.numbers)
    back = big.to_atoms()
    np.testing.assert_allclose(back.positions, ref.positions, atol=1e-12)


def test_mc_lattices_and_the_frozen_model_share_the_type():
    from mmace_fast.mc.lattice import lattice_of
    from mmace_fast.models import load_frozen

    from mmace_fast.mc.lattice import cubic_lattice

    sc = cubic_lattice("sc", 3)                        # a spin lattice: sites, no elements
    assert isinstance(sc, Structure) and sc.n_sites == 27 and not sc.numbers.any()
    lat = lattice_of("fe", 2)
    assert isinstance(lat, Structure) and lat.n_atoms == lat.n_sites == 16
    frozen = load_frozen("fe", "mc")
    m = np.tile([0.0, 0.0, 2.2], (16, 1))
    st = frozen.structure(positions=lat.positions, cell=lat.cell, pbc=lat.pbc,
                          numbers=lat.numbers, magmoms=m)
    assert isinstance(st, Configuration)
    conf = Configuration(lat.positions, lat.cell, lat.pbc, lat.numbers, magmoms=m)
    e_conf = frozen.energy(conf)                       # a record is a structure it evaluates
    assert e_conf == frozen.energy(positions=lat.positions, cell=lat.cell, pbc=lat.pbc,
                                   numbers=lat.numbers, magmoms=m)
    with pytest.raises(ValueError, match="no magnetic moments"):
        frozen.energy(lat)                             # a lattice carries no moments
