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

    from mmace_fast.models import load_frozen, torch_calculator
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
    atoms.calc = torch_calculator("fe")
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


# ------------------------------------------------------------------ a table of refused inputs
def _sc3():
    from mmace_fast.mc.cli import build_system
    return build_system("sc-nn", 3)


def _mc(**kw):
    from mmace_fast.mc.engine import MonteCarlo
    s = _sc3()
    return MonteCarlo(s.hamiltonian, kw.pop("spins", s.spins), kw.pop("T", 100.0), **kw)


def _pt(**kw):
    from mmace_fast.mc.tempering import ParallelTempering
    s = _sc3()
    return ParallelTempering([s.hamiltonian, _sc3().hamiltonian], s.spins,
                             kw.pop("temps", [100.0, 120.0]), **kw)


BAD_CALLS = [
    # (what, call, error type, message fragment)
    ("seed beyond 64 bits", lambda: _mc(seed=2 ** 64), ValueError, "seed must be an integer"),
    ("negative seed", lambda: _mc(seed=-1), ValueError, "seed must be an integer"),
    ("fractional seed", lambda: _mc(seed=1.5), ValueError, "seed must be an integer"),
    ("boolean seed", lambda: _mc(seed=True), ValueError, "boolean"),
    ("string seed", lambda: _mc(seed="5"), ValueError, "seed must be an integer"),
    ("negative stream", lambda: _mc(stream=-2), ValueError, "stream must be an integer"),
    ("NaN temperature", lambda: _mc(T=float("nan")), ValueError, "temperature"),
    ("spins of the wrong shape", lambda: _mc(spins=np.zeros((5, 3))), ValueError, "spins"),
    ("tempering seed beyond 64 bits", lambda: _pt(seed=2 ** 64), ValueError, "seed"),
    ("tempering with one temperature per two Hamiltonians", lambda: _pt(temps=[100.0]),
     ValueError, "temperature"),
]


@pytest.mark.parametrize("what,call,exc,match", BAD_CALLS, ids=[b[0] for b in BAD_CALLS])
def test_bad_calls_are_refused_with_a_named_reason(what, call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_edge_seeds_are_accepted():
    assert _mc(seed=2 ** 64 - 1).seed == 2 ** 64 - 1
    assert _mc(seed=3.0).seed == 3 and _mc(seed=np.uint64(7)).seed == 7


def _model_copy(tmp_path):
    import shutil

    from mmace_fast.models import model_dir
    d = tmp_path / "model"
    shutil.copytree(model_dir("fe", "mc"), d)
    return d


def _weights(d):
    return next(p for p in d.iterdir() if p.name.startswith("model.pt"))


@pytest.mark.parametrize("damage,match", [
    ("garbage_json", "not valid JSON"),
    ("json_without_config", "no model_config"),
    ("truncated_weights", "unreadable weights"),
    ("garbage_weights", "unreadable weights"),
    ("other_architecture", "do not fit the architecture"),
])
def test_damaged_model_directories_say_what_is_wrong(tmp_path, damage, match):
    import json

    from mmace_fast.model.io import ModelFileCorrupt, load_model
    d = _model_copy(tmp_path)
    cfg = d / "model.json"
    w = _weights(d)
    if damage == "garbage_json":
        cfg.write_text("{garbage")
    elif damage == "json_without_config":
        doc = json.loads(cfg.read_text())
        del doc["model_config"]
        cfg.write_text(json.dumps(doc))
    elif damage == "truncated_weights":
        b = w.read_bytes()
        w.write_bytes(b[: len(b) // 2])
    elif damage == "garbage_weights":
        w.write_bytes(b"not a torch file" * 100)
    else:
        doc = json.loads(cfg.read_text())
        doc["model_config"]["n_channels"] = 2 * int(doc["model_config"]["n_channels"])
        cfg.write_text(json.dumps(doc))
    with pytest.raises(ModelFileCorrupt, match=match) as err:
        load_model(d)
    assert str(d) in str(err.value)
    # the same directory loads once repaired: the check is on the damage, not the path
    if damage == "truncated_weights":
        import shutil

        from mmace_fast.models import model_dir
        shutil.copy(_weights(model_dir("fe", "mc")), w)
        load_model(d)


@pytest.mark.parametrize("key,value,match", [
    ("n_channels", 0, "n_channels must be >= 1"),
    ("n_channels", 2.5, "n_channels must be an integer"),
    ("n_layers", True, "n_layers must be an integer"),
    ("r_cut", float("nan"), "r_cut must be a finite number"),
    ("r_cut", -5.0, "r_cut must be positive"),
    ("radial_mlp", [64, 0], "radial_mlp widths must be >= 1"),
    ("soc", "yes", "soc must be true or false"),
    ("e0", [float("inf")], "e0 must be a finite number"),
    ("species", "Fe", "species must be a list of atomic numbers"),
])
def test_model_config_refuses_what_no_model_can_be(key, value, match):
    from mmace_fast.model.config import ModelConfig, ModelConfigError
    with pytest.raises(ModelConfigError, match=match):
        ModelConfig(**{"species": [26], key: value})


def test_model_config_takes_numpy_numbers_as_plain_json_values():
    import json

    from mmace_fast.model.config import ModelConfig
    c = ModelConfig(species=np.array([26, 13]), n_channels=np.int64(8),
                    r_cut=np.float32(5.5), e0=[np.float32(-1.0), 2])
    d = json.loads(c.to_json())
    assert d["species"] == [26, 13] and d["n_channels"] == 8 and d["r_cut"] == 5.5
    assert d["e0"] == [-1.0, 2.0]


def test_a_frozen_header_whose_shape_product_overflows_is_refused():
    """A hash-valid file whose array table claims a [2^32, 2^32] array of 0 bytes: the shape
    product wraps to 0 in 64-bit arithmetic; it must be refused, not reshaped."""
    import hashlib

    from mmace_fast.export import format as ff
    table = [{"name": "a", "dtype": "<f8", "shape": [2 ** 32, 2 ** 32], "offset": 0,
              "nbytes": 0}]
    full = {"format": ff.FORMAT_NAME, "format_version": ff.FORMAT_VERSION, "arrays": table,
            "payload_size": 0}
    full["sha256"] = hashlib.sha256(ff._canonical(full)).hexdigest()
    text = ff._canonical(full)
    head = ff._PREAMBLE.pack(ff.MAGIC, ff.FORMAT_VERSION, 0, len(text)) + text
    data = head + b"\0" * ff._pad(len(head))
    with pytest.raises(ff.FrozenFormatError, match="does not fit the payload"):
        ff.decode(data, "crafted.mmace")


def test_a_structure_without_moments_is_refused_unless_declared_nonmagnetic():
    """A magnetic model asked for an energy without moments would silently use zeros."""
    from ase.build import bulk

    from mmace_fast.models import default_calculator, load_frozen
    frozen = load_frozen("fe", "mc")
    atoms = bulk("Fe", "bcc", a=2.866, cubic=True)
    atoms.set_initial_magnetic_moments(None)       # ase.build sets 2.3 muB on Fe: remove them
    with pytest.raises(ValueError, match="no magnetic moments given"):
        frozen.energy(atoms)
    with pytest.raises(ValueError, match="no magnetic moments given"):
        frozen.energy(positions=atoms.positions, cell=atoms.cell[:], pbc=True,
                      numbers=atoms.numbers)
    e0 = frozen.energy(atoms, nonmagnetic=True)
    atoms.set_initial_magnetic_moments([0.0, 0.0])
    assert frozen.energy(atoms) == e0              # explicit zeros are a choice, not a default
    atoms.set_initial_magnetic_moments([2.2, 2.2])
    assert frozen.energy(atoms) < e0               # the ferromagnet is the lower state
    bare = bulk("Fe", "bcc", a=2.866, cubic=True)
    bare.set_initial_magnetic_moments(None)
    bare.calc = default_calculator("fe", "mc")
    with pytest.raises(ValueError, match="no initial magnetic moments"):
        bare.get_potential_energy()
    bare.calc = default_calculator("fe", "mc")
    bare.calc.nonmagnetic = True
    assert bare.get_potential_energy() == pytest.approx(e0, abs=1e-8)


@pytest.mark.parametrize("argv,match", [
    (["tc", "--model", "sc-nn", "--sizes", "4", "--tmin", "2", "--tmax", "1"],
     "at least two distinct positive sizes"),
    (["tc", "--model", "sc-nn", "--sizes", "3", "4", "--tmin", "2", "--tmax", "1"], "bracket"),
    (["scan", "--model", "sc-nn", "--sizes", "3", "--tmin", "-1", "--tmax", "1", "--nt", "2"],
     "temperature"),
])
def test_cli_settings_no_run_can_have_exit_2_with_the_reason(argv, match, capsys, caplog):
    from mmace_fast.mc import cli
    assert cli.main(argv) == 2
    assert match in caplog.text and capsys.readouterr().out == ""


def test_empty_atoms_are_refused_by_both_evaluators():
    from ase import Atoms

    from mmace_fast.models import default_calculator, load_frozen
    empty = Atoms(cell=2.8 * np.eye(3), pbc=True)
    empty.set_initial_magnetic_moments([])
    empty.calc = default_calculator("fe", "mc")
    with pytest.raises(DataError, match="no atoms"):
        empty.get_potential_energy()
    with pytest.raises(DataError, match="no atoms"):          # the one structure check
        load_frozen("fe", "mc").energy(positions=np.zeros((0, 3)), cell=2.8 * np.eye(3),
                                       pbc=True, numbers=[], magmoms=np.zeros((0, 3)))
