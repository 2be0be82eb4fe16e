"""Readers: shipped samples, unit/sign conversions and every error path."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from mmace_fast.data.readers import (ExtxyzKeys, VASP_KBAR_TO_ASE_EV_PER_A3, read_configurations,
                                     read_extxyz, read_mp_json, stress_to_matrix,
                                     voigt_to_matrix)
from mmace_fast.data.records import DataError

DATA = Path(__file__).parent / "data"
XYZ = DATA / "fe_al_noncollinear.extxyz"
MPJ = DATA / "fe_al_collinear_mp.json"
NONMAG = DATA / "fe_al_nonmagnetic_mp.json"


def _toy():
    spec = importlib.util.spec_from_file_location("make_samples", DATA / "make_samples.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ---------------------------------------------------------------- shipped samples
def test_extxyz_sample_matches_toy_hamiltonian():
    toy = _toy()
    confs = read_extxyz(XYZ, species=[26, 13])
    assert len(confs) == 5
    for c in confs:
        assert c.magmoms.shape == (4, 3) and np.any(c.magmoms[:, :2] != 0)  # non-collinear
        e, f, s, mf = toy.toy_labels(c.positions, c.cell, c.pbc, c.numbers, c.magmoms)
        # extxyz stores positions with 8 decimals: labels agree to ~1e-8
        assert c.energy == pytest.approx(e, abs=1e-7)
        np.testing.assert_allclose(c.forces, f, atol=1e-7)
        np.testing.assert_allclose(c.stress, s, atol=1e-9)
        np.testing.assert_allclose(c.magforces, mf, atol=1e-7)
        assert c.config_type == "toy_b2"
    assert confs[3].magforces_mask is not None and not confs[3].magforces_mask[:, 2].any()
    assert confs[0].magforces_mask is None
    assert confs[4].info["split"] == "valid"
    assert confs[4].energy_weight == 2.0 and confs[4].magforces_weight == 2.0
    assert confs[0].source.endswith("fe_al_noncollinear.extxyz:0")


def test_mp_json_sample_matches_toy_hamiltonian_after_kbar_conversion():
    toy = _toy()
    confs = read_mp_json(MPJ, species=["Fe", "Al"])
    assert len(confs) == 4
    for c in confs:
        assert np.all(c.magmoms[:, :2] == 0)                       # collinear along z
        e, f, s, _ = toy.toy_labels(c.positions, c.cell, c.pbc, c.numbers, c.magmoms)
        assert c.energy == pytest.approx(e, rel=1e-12)
        np.testing.assert_allclose(c.forces, f, atol=1e-12)
        np.testing.assert_allclose(c.stress, s, rtol=1e-12, atol=1e-14)
        assert c.magforces is None
    # record 2 stores its moments only as the 'magmom' site property
    raw = json.loads(MPJ.read_text())
    np.testing.assert_allclose(confs[2].magmoms[:, 2],
                               [s["properties"]["magmom"] for s in raw[2]["structure"]["sites"]])
    # the other records carry initial_magmoms 0.6 in the structure: must NOT be used
    np.testing.assert_allclose(confs[0].magmoms[:, 2], raw[0]["magmoms"])
    assert confs[0].info["id"] == "toy-0"


def test_nonmagnetic_sample_needs_declaration():
    with pytest.raises(DataError, match=r"fe_al_nonmagnetic_mp.json:0.*non_magnetic=True"):
        read_mp_json(NONMAG)
    confs = read_mp_json(NONMAG, non_magnetic=True)
    assert all(np.all(c.magmoms == 0) and c.info["non_magnetic"] for c in confs)
    # explicitly asking for the initial guesses works too
    from mmace_fast.data.readers import MPJsonKeys
    confs = read_mp_json(NONMAG, keys=MPJsonKeys(site_magmom=("initial_magmoms",)))
    np.testing.assert_allclose(confs[0].magmoms[:, 2], 0.6)


def test_dispatch_by_suffix():
    assert len(read_configurations(XYZ)) == 5
    assert len(read_configurations(MPJ)) == 4
    with pytest.raises(ValueError, match="cannot guess"):
        read_configurations(DATA / "make_samples.py")
    with pytest.raises(FileNotFoundError):
        read_configurations(DATA / "absent.json")


# ---------------------------------------------------------------- conversions by hand values
def test_kbar_vasp_sign_to_ase_ev_per_a3():
    # 10 kbar VASP = 1 GPa compressive -> ASE sigma = -1 GPa = -1/160.21766208 eV/A^3
    assert VASP_KBAR_TO_ASE_EV_PER_A3 * 10.0 == pytest.approx(-1 / 160.21766208, rel=1e-14)


def test_voigt_orders():
    v = [1, 2, 3, 4, 5, 6]
    ase = voigt_to_matrix(v, "ase")        # xx yy zz yz xz xy
    assert ase[1, 2] == 4 and ase[0, 2] == 5 and ase[0, 1] == 6 and ase[2, 1] == 4
    vasp = voigt_to_matrix(v, "vasp")      # xx yy zz xy yz zx
    assert vasp[0, 1] == 4 and vasp[1, 2] == 5 and vasp[0, 2] == 6
    np.testing.assert_array_equal(stress_to_matrix(np.arange(9.0), "x"),
                                  np.arange(9.0).reshape(3, 3))
    with pytest.raises(ValueError):
        voigt_to_matrix(v, "abinit")


def test_mp_record_stress_order_and_vector_moments(tmp_path):
    rec = _record()
    rec["stress"] = [0, 0, 0, 10.0, 0, 0]          # one shear component, kbar
    rec["magmoms"] = [[0, 1.0, 0], {"moment": [0, 0, -2.0]}]   # vectors / pymatgen Magmom
    p = tmp_path / "r.json"
    p.write_text(json.dumps(rec))                   # a single record at top level
    c_ase = read_mp_json(p)[0]
    c_vasp = read_mp_json(p, stress_voigt_order="vasp")[0]
    k = VASP_KBAR_TO_ASE_EV_PER_A3 * 10.0
    assert c_ase.stress[1, 2] == pytest.approx(k) and c_ase.stress[0, 1] == 0
    assert c_vasp.stress[0, 1] == pytest.approx(k) and c_vasp.stress[1, 2] == 0
    np.testing.assert_array_equal(c_ase.magmoms, [[0, 1, 0], [0, 0, -2]])


def test_mptrj_nested_layout_and_jsonl(tmp_path):
    r = _record()
    r.pop("energy")
    r["uncorrected_total_energy"] = -5.0
    r["force"] = r.pop("forces")
    r["magmom"] = r.pop("magmoms")
    r["stress"] = (np.eye(3) * -10.0).tolist()      # MPtrj: 3x3 kbar, tensile (VASP sign)
    p = tmp_path / "mptrj.json"
    p.write_text(json.dumps({"mp-1": {"mp-1-0-0": r, "mp-1-0-1": r}}))
    confs = read_mp_json(p)
    assert len(confs) == 2 and confs[1].source.endswith(":mp-1/mp-1-0-1")
    assert confs[0].energy == -5.0
    np.testing.assert_allclose(np.diag(confs[0].stress), -VASP_KBAR_TO_ASE_EV_PER_A3 * 10.0)
    assert confs[0].stress[0, 0] > 0                # tension is positive in ASE sign
    q = tmp_path / "recs.jsonl"
    q.write_text(json.dumps(_record()) + "\n\n" + json.dumps(_record()) + "\n")
    assert len(read_configurations(q)) == 2


# ---------------------------------------------------------------- error paths, MP JSON
def _record(**over):
    rec = {"structure": {"lattice": {"matrix": [[3.0, 0, 0], [0, 3.0, 0], [0, 0, 3.0]]},
                         "sites": [{"species": [{"element": "Fe", "occu": 1}],
                                    "abc": [0, 0, 0]},
                                   {"species": [{"element": "Al", "occu": 1}],
                                    "xyz": [1.5, 1.5, 1.5]}]},
           "energy": -5.0, "forces": [[0, 0, 0.1], [0, 0, -0.1]],
           "stress": [1, 2, 3, 0, 0, 0], "magmoms": [2.0, 0.0]}
    rec.update(over)
    return rec


def _write_records(tmp_path, *recs):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(list(recs)))
    return p


@pytest.mark.parametrize("over, pattern", [
    (dict(energy=float("nan")), r"non-finite energy"),
    (dict(forces=[[0, 0, 0]]), r"forces has shape \(1, 3\)"),
    (dict(forces=[[0, 0, float("nan")], [0, 0, 0]]), r"non-finite values in forces"),
    (dict(stress=[1, 2, 3]), r"stress has shape \(3,\)"),
    (dict(stress=[1, 2, 3, 4, 5, float("inf")]), r"non-finite values in stress"),
    (dict(magmoms=[2.0]), r"magmoms has shape"),
    (dict(magmoms=[2.0, float("nan")]), r"non-finite magnetic moments"),
    (dict(magmoms=None), r"no magnetic moments"),
    (dict(energy="abc"), r"energy is not a number"),
    (dict(structure={"sites": []}), r"not a pymatgen Structure"),
])
def test_mp_json_errors_name_file_and_frame(tmp_path, over, pattern):
    p = _write_records(tmp_path, _record(), _record(**over))
    with pytest.raises(DataError, match=pattern) as err:
        read_mp_json(p)
    assert "bad.json:1" in str(err.value)            # second record is the bad one


def test_mp_json_unknown_species_and_partial_occupancy(tmp_path):
    p = _write_records(tmp_path, _record())
    with pytest.raises(DataError, match=r"unknown species Al \(Z=13\).*bad.json:0"):
        read_mp_json(p, species=[26])
    rec = _record()
    rec["structure"]["sites"][0]["species"] = [{"element": "Fe", "occu": 0.5},
                                               {"element": "Co", "occu": 0.5}]
    with pytest.raises(DataError, match=r"site 0 is not fully occupied.*bad.json:0"):
        read_mp_json(_write_records(tmp_path, rec))
    rec = _record()
    rec["structure"]["sites"][1]["species"] = [{"element": "Xx", "occu": 1}]
    with pytest.raises(DataError, match=r"unknown element 'Xx'"):
        read_mp_json(_write_records(tmp_path, rec))
    with pytest.raises(ValueError, match="unknown chemical symbol"):
        read_mp_json(_write_records(tmp_path, _record()), species=["Qq"])


def test_mp_json_unparseable(tmp_path):
    p = tmp_path / "broken.json"
    p.write_text("{not json")
    with pytest.raises(DataError, match="broken.json"):
        read_mp_json(p)


# ---------------------------------------------------------------- error paths, extxyz
def _write_xyz(tmp_path, mutate, n_frames=2):
    import ase.io
    from ase import Atoms
    images = []
    for k in range(n_frames):
        a = Atoms("FeAl", positions=[[0, 0, 0], [1.4, 1.4, 1.4]], cell=2.8 * np.eye(3),
                  pbc=True)
        a.info["REF_energy"] = -5.0
        a.info["REF_stress"] = np.eye(3) * 0.01
        a.new_array("REF_forces", np.zeros((2, 3)))
        a.new_array("REF_magmom", np.array([2.0, 0.1]))       # collinear scalars
        if k == n_frames - 1:
            mutate(a)
        images.append(a)
    p = tmp_path / "bad.extxyz"
    ase.io.write(str(p), images, format="extxyz")
    return p


def _set_info(key, val):
    return lambda a: a.info.__setitem__(key, val)


def _set_array(key, val):
    def f(a):
        if key in a.arrays:
            del a.arrays[key]
        a.new_array(key, np.asarray(val))
    return f


def _del_array(key):
    return lambda a: a.arrays.pop(key)


@pytest.mark.parametrize("mutate, pattern", [
    (_set_info("REF_energy", float("nan")), r"non-finite REF_energy"),
    (_set_array("REF_forces", [[0, 0], [0, 0]]), r"REF_forces has shape \(2, 2\)"),
    (_set_array("REF_forces", [[0, 0, np.nan], [0, 0, 0]]), r"non-finite values in REF_forces"),
    (_set_info("REF_stress", np.arange(4.0)), r"stress has shape \(4,\)"),
    (_del_array("REF_magmom"), r"no magnetic moments"),
    (_set_array("REF_magmom", [[0, 0, np.nan], [0, 0, 1]]), r"non-finite magnetic moments"),
    (_set_array("REF_magforces", [[0.0], [0.0]]), r"REF_magforces has shape"),
    (_set_array("REF_magforces_mask", [[True, False], [True, True]]), r"REF_magforces_mask"),
    (_set_info("config_weight", -1.0), r"negative weight"),
])
def test_extxyz_errors_name_file_and_frame(tmp_path, mutate, pattern):
    p = _write_xyz(tmp_path, mutate)
    with pytest.raises(DataError, match=pattern) as err:
        read_extxyz(p)
    assert "bad.extxyz:1" in str(err.value)


def test_extxyz_unknown_species_and_nonmagnetic(tmp_path):
    p = _write_xyz(tmp_path, _del_array("REF_magmom"))
    with pytest.raises(DataError, match=r"unknown species Al \(Z=13\).*bad.extxyz:0"):
        read_extxyz(p, species=["Fe"], non_magnetic=True)
    confs = read_extxyz(p, non_magnetic=True)
    assert np.all(confs[1].magmoms == 0) and confs[1].info["non_magnetic"]
    np.testing.assert_array_equal(confs[0].magmoms[:, 2], [2.0, 0.1])  # present ones kept
    assert "non_magnetic" not in confs[0].info


def test_extxyz_custom_keys_and_calculator_fallback(tmp_path):
    import ase.io
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator
    a = Atoms("Fe2", positions=[[0, 0, 0], [1.4, 1.4, 1.4]], cell=2.8 * np.eye(3), pbc=True)
    a.new_array("spins", np.array([[0, 0, 2.0], [0, 2.0, 0]]))
    a.calc = SinglePointCalculator(a, energy=-7.0, forces=np.ones((2, 3)),
                                   stress=np.array([1, 2, 3, 4, 5, 6.0]))
    p = tmp_path / "plain.extxyz"
    ase.io.write(str(p), [a], format="extxyz")
    keys = ExtxyzKeys(energy="energy", forces="forces", stress="stress", magmom="spins")
    c = read_extxyz(p, keys=keys)[0]
    assert c.energy == -7.0
    np.testing.assert_array_equal(c.forces, np.ones((2, 3)))
    np.testing.assert_array_equal(c.stress, voigt_to_matrix([1, 2, 3, 4, 5, 6], "ase"))
    np.testing.assert_array_equal(c.magmoms[1], [0, 2.0, 0])
    assert c.magforces is None


def test_extxyz_unparseable(tmp_path):
    p = tmp_path / "junk.extxyz"
    p.write_text("3\nnot a header\nFe 0 0\n")
    with pytest.raises(DataError, match="junk.extxyz"):
        read_extxyz(p)


def test_toy_labels_are_derivatives_of_toy_energy():
    """The shipped labels are physically consistent: forces, ASE-sign stress and magnetic
    forces are finite-difference derivatives of the toy energy."""
    toy = _toy()
    c = read_extxyz(XYZ)[0]
    args = (c.pbc, c.numbers)
    e0, f, s, mf = toy.toy_labels(c.positions, c.cell, *args, c.magmoms)
    h = 1e-5

    def energy(pos=c.positions, cell=c.cell, m=c.magmoms):
        return toy.toy_labels(pos, cell, *args, m)[0]

    fd_f, fd_m, fd_s = np.zeros_like(f), np.zeros_like(mf), np.zeros((3, 3))
    for i in range(c.n_atoms):
        for k in range(3):
            d = np.zeros_like(f)
            d[i, k] = h
            fd_f[i, k] = -(energy(pos=c.positions + d) - energy(pos=c.positions - d)) / (2 * h)
            fd_m[i, k] = -(energy(m=c.magmoms + d) - energy(m=c.magmoms - d)) / (2 * h)
    vol = abs(np.linalg.det(c.cell))
    for a in range(3):
        for b in range(3):
            eps = np.zeros((3, 3))
            eps[a, b] += h / 2
            eps[b, a] += h / 2
            tp, tm = np.eye(3) + eps, np.eye(3) - eps
            fd_s[a, b] = (energy(pos=c.positions @ tp, cell=c.cell @ tp)
                          - energy(pos=c.positions @ tm, cell=c.cell @ tm)) / (2 * h * vol)
    np.testing.assert_allclose(fd_f, f, atol=1e-9)
    np.testing.assert_allclose(fd_m, mf, atol=1e-9)
    np.testing.assert_allclose(fd_s, s, atol=1e-9)
    assert np.abs(s).max() > 1e-3 and np.abs(mf).max() > 1e-3
