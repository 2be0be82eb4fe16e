"""Frozen-model file: round trip, validation of corrupted / truncated / foreign / wrong-version
files, unknown species, spherical-harmonic tables, and loading without torch."""
import json
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("torch")

from mmace_fast.export import (FrozenFormatError, FrozenModel, UnknownSpeciesError,  # noqa: E402
                               export_model)
from mmace_fast.export import format as fmt  # noqa: E402
from mmace_fast.export.testing import (random_model, random_model_config,  # noqa: E402
                                       random_structure, torch_site_energies)


@pytest.fixture(scope="module")
def model():
    return random_model(random_model_config(11), seed=11)


@pytest.fixture(scope="module")
def model_file(model, tmp_path_factory):
    path = tmp_path_factory.mktemp("frozen") / "model.mmace"
    digest = export_model(model, path)
    return path, digest


def test_round_trip_file(model, model_file):
    path, digest = model_file
    frozen = FrozenModel.load(path)
    assert frozen.sha256 == digest
    assert frozen.species == list(model.config.species)
    assert frozen.config == model.config.to_dict()
    assert frozen.r_cut == model.config.r_cut
    st = random_structure(np.random.default_rng(0), frozen.species, n_atoms=5)
    ref = torch_site_energies(model, st)
    got = frozen.site_energies(**st)
    assert np.abs(got - ref).max() <= 1e-10 * max(1.0, np.abs(ref).max())
    # exporting the same model again gives the same identity
    again = path.with_name("again.mmace")
    assert export_model(model, again) == digest
    assert again.read_bytes() == path.read_bytes()


def test_hash_identifies_weights(model, tmp_path):
    import torch
    other = random_model(model.config.to_dict(), seed=99)
    with torch.no_grad():
        other.load_state_dict(model.state_dict())
        other.layers[0].linear_up.weights[0][0, 0] += 1e-12
    assert export_model(other, tmp_path / "b.mmace") != export_model(model, tmp_path / "a.mmace")


def _bytes(model_file):
    return model_file[0].read_bytes()


def test_truncated_file_rejected(model_file):
    data = _bytes(model_file)
    for cut in (0, 10, 30, len(data) // 2, len(data) - 1):
        with pytest.raises(FrozenFormatError, match="truncated|corrupted"):
            fmt.decode(data[:cut])


def test_corrupted_payload_rejected(model_file):
    data = bytearray(_bytes(model_file))
    data[-100] ^= 0x01
    with pytest.raises(FrozenFormatError, match="hash mismatch"):
        fmt.decode(bytes(data))


def test_edited_header_rejected(model_file):
    data = _bytes(model_file)
    hlen = struct.unpack_from("<Q", data, 16)[0]
    text = data[24:24 + hlen].decode()
    edited = text.replace('"r_cut":', '"r_cut" :', 1)[: hlen]   # same length, different JSON text
    bad = data[:24] + edited.encode() + data[24 + hlen:]
    with pytest.raises(FrozenFormatError):
        fmt.decode(bad)
    header = json.loads(text)
    header["model_config"]["n_channels"] += 1                   # valid JSON, wrong content
    new = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    bad = data[:16] + struct.pack("<Q", len(new)) + new
    bad += b"\0" * ((-len(bad)) % fmt.ALIGN) + data[24 + hlen + ((-(24 + hlen)) % fmt.ALIGN):]
    with pytest.raises(FrozenFormatError, match="hash mismatch"):
        fmt.decode(bad)


def test_foreign_and_wrong_version_rejected(model_file, tmp_path):
    data = _bytes(model_file)
    with pytest.raises(FrozenFormatError, match="foreign"):
        fmt.decode(b"PK\x03\x04" + data[4:])
    np.savez(tmp_path / "x.npz", a=np.zeros(3))
    with pytest.raises(FrozenFormatError, match="foreign"):
        FrozenModel.load(tmp_path / "x.npz")
    wrong = data[:8] + struct.pack("<I", fmt.FORMAT_VERSION + 1) + data[12:]
    with pytest.raises(FrozenFormatError, match="version"):
        fmt.decode(wrong)


def test_inconsistent_arrays_rejected_by_cpp(model_file):
    """A well-formed file (valid hash) whose arrays are inconsistent: the C++ loader refuses."""
    ff = fmt.decode(_bytes(model_file))
    arrays = dict(ff.arrays)
    arrays["layers.0.linear.weight"] = arrays["layers.0.linear.weight"][:, :-1]
    with pytest.raises(ValueError, match="layers.0.linear.weight"):
        FrozenModel.from_bytes(fmt.encode(ff.header, arrays))
    arrays = dict(ff.arrays)
    arrays["layers.0.tp.index"] = arrays["layers.0.tp.index"] + 1000
    with pytest.raises(ValueError, match="out of range"):
        FrozenModel.from_bytes(fmt.encode(ff.header, arrays))
    arrays = dict(ff.arrays)
    del arrays["radial.freq"]
    with pytest.raises(ValueError, match="radial.freq"):
        FrozenModel.from_bytes(fmt.encode(ff.header, arrays))


def test_unknown_species_rejected(model_file):
    frozen = FrozenModel.load(model_file[0])
    st = random_structure(np.random.default_rng(1), frozen.species, n_atoms=4)
    st["numbers"][0] = 79
    with pytest.raises(UnknownSpeciesError, match="79"):
        frozen.site_energies(**st)
    from mmace_fast import _core
    i, j, s = frozen.edges(st["positions"], st["cell"], st["pbc"])
    with pytest.raises(ValueError, match="79"):            # the C++ check as well
        _core.FrozenMMACECore(frozen.core, st["positions"], st["cell"], st["numbers"], i, j, s)


def test_sh_tables_match_e3nn():
    import torch
    from e3nn import o3
    from mmace_fast.export.freeze import eval_sh_table, sh_tables
    idx, pw, cf = sh_tables(4)
    v = np.random.default_rng(2).normal(size=(50, 3))
    ref = o3.spherical_harmonics(list(range(5)), torch.as_tensor(v), normalize=False,
                                 normalization="component").numpy()
    assert np.abs(eval_sh_table(idx, pw, cf, v, 4) - ref).max() < 1e-11
    assert np.all(pw.sum(axis=1) == np.floor(np.sqrt(idx)).astype(int))   # degree l per block


def test_loading_and_evaluation_do_not_import_torch(model_file):
    code = textwrap.dedent(f"""
        import sys
        import numpy as np
        from mmace_fast.export import FrozenModel
        from mmace_fast.mc.mmace_hamiltonian import FrozenMMACEHamiltonian
        from mmace_fast.mc.engine import MonteCarlo
        m = FrozenModel.load({str(model_file[0])!r})
        z = m.species[0]
        pos = np.array([[0.0, 0, 0], [1.4, 1.4, 1.4]])
        cell = 2.8 * np.eye(3)
        e = m.energy(positions=pos, cell=cell, pbc=True, numbers=[z, z],
                     magmoms=[[0, 0, 2.0], [0, 0, 2.0]])
        h = FrozenMMACEHamiltonian.from_arrays(m, pos, cell, True, [z, z])
        mc = MonteCarlo(h, [[0, 0, 2.0], [0, 0, 2.0]], temperature=300.0, seed=1)
        mc.sample(3)
        assert np.isfinite(e)
        assert "torch" not in sys.modules, "torch was imported"
        assert "e3nn" not in sys.modules, "e3nn was imported"
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")
