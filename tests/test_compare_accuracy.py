"""Head-to-head accuracy code on synthetic frames with known errors; ordering; window choice."""
import numpy as np
import pytest

from mmace_fast.compare import accuracy as acc
from mmace_fast.compare.headtohead import spiral_path
from mmace_fast.data.records import Configuration
from mmace_fast.training.nonmagnetic import write_nonmagnetic_file


def _frame(n, seed, split="test", mask=None, stress=True):
    rng = np.random.default_rng(seed)
    return Configuration(positions=rng.uniform(0, 3, (n, 3)), cell=np.eye(3) * 3.0,
                         pbc=np.ones(3, bool), numbers=np.full(n, 26),
                         magmoms=np.tile([0, 0, 2.0], (n, 1)), energy=-8.0 * n,
                         forces=rng.normal(size=(n, 3)), stress=np.eye(3) * 0.01 if stress
                         else None, magforces=rng.normal(size=(n, 3)),
                         magforces_mask=mask, config_type=f"f{seed}", info={"split": split})


def _offset_predictor(de_atom, df, ds, dm):
    """Labels plus constant offsets: energy de_atom eV/atom, forces df eV/A, ..."""
    def fn(c):
        n = len(c.numbers)
        return {"energy": c.energy + de_atom * n, "forces": c.forces + df,
                "stress": None if c.stress is None else c.stress + ds,
                "magforces": c.magforces + dm}
    return fn


def test_known_errors_and_masks():
    mask = np.zeros((3, 3))
    mask[0] = 1.0                                   # only atom 0's magnetic force is labelled
    frames = [_frame(2, 0), _frame(3, 1, mask=mask), _frame(4, 2, stress=False)]
    fr = acc.predict_frames(_offset_predictor(0.002, -0.01, 0.0005, 0.003), frames)
    e = acc.error_stats(fr)
    assert e["energy"]["mae"] == pytest.approx(2.0)           # meV/atom, per-atom energies
    assert e["energy"]["n"] == 3
    assert e["forces"]["mae"] == pytest.approx(10.0)
    assert e["forces"]["rmse"] == pytest.approx(10.0)
    assert e["forces"]["n"] == 3 * (2 + 3 + 4)
    assert e["stress"]["mae"] == pytest.approx(0.5)
    assert e["stress"]["n_frames"] == 2                       # frame 3 has no stress label
    assert e["magforces"]["n"] == 2 * 3 + 3 + 4 * 3           # masked entries left out
    assert e["magforces"]["mae"] == pytest.approx(3.0)


def test_mixed_errors_mae_rmse():
    frames = [_frame(2, 0), _frame(2, 1)]

    def pred(c):
        k = int(c.config_type[1:])
        return {"energy": c.energy + (0.001 if k == 0 else -0.003) * 2}
    e = acc.error_stats(acc.predict_frames(pred, frames))
    assert e["energy"]["mae"] == pytest.approx(2.0)
    assert e["energy"]["rmse"] == pytest.approx(np.sqrt((1 + 9) / 2))
    assert e["energy"]["max"] == pytest.approx(3.0)
    assert set(e) == {"energy"}                               # quantities it does not define


def test_ratios():
    a = {"energy": {"mae": 6.0}, "forces": {"mae": 30.0}, "stress": {"mae": 1.0}}
    b = {"energy": {"mae": 2.0}, "forces": {"mae": 0.0}, "magforces": {"mae": 1.0}}
    r = acc.error_ratios(a, b)
    assert r == {"energy": 3.0, "forces": None}


def test_select_split_and_paired_units():
    frames = [_frame(2, 0, "train"), _frame(2, 1, "valid"), _frame(2, 2, "test")]
    assert [c.config_type for c in acc.select_split(frames, ["valid", "test"])] == ["f1", "f2"]
    fr = acc.predict_frames(_offset_predictor(0.0, 0.001, 0.0, 0.0), frames[:1])
    y, p = acc.paired(fr, "forces")
    assert np.allclose(p - y, 1.0)                            # meV/A
    with pytest.raises(acc.AccuracyError):
        acc.paired(fr, "charge")


def test_zero_moments_keeps_labels():
    c = _frame(3, 0)
    z = acc.zero_moments(c)
    assert np.all(z.magmoms == 0) and z.magforces is None
    assert z.energy == c.energy and np.array_equal(z.forces, c.forces)


def test_ordering_check_counts_pairs_and_ties():
    states = [{"state": "FM", "dft": 0.000, "good": 0.000, "bad": 0.010},
              {"state": "AFM", "dft": 0.020, "good": 0.030, "bad": 0.000},
              {"state": "tie", "dft": 0.0005, "good": -0.001, "bad": 0.011}]
    r = acc.ordering_check(states, ["good", "bad"], tie_mev=1.0)
    # DFT pairs beyond 1 meV: AFM-FM, AFM-tie (FM-tie is a tie)
    assert r["good"]["pairs"] == 2 and r["good"]["agree"] == 2 and r["good"]["ok"] is True
    assert r["bad"]["agree"] == 0 and r["bad"]["ok"] is False
    assert r["dft"]["lowest"] == "FM" and r["bad"]["lowest"] == "AFM"
    assert r["relative"]["AFM"]["dft"] == pytest.approx(20.0)
    assert r["relative"]["FM"]["bad"] == pytest.approx(10.0)
    with pytest.raises(acc.AccuracyError):
        acc.ordering_check([], ["good"])


def test_spiral_path_endpoints():
    p = spiral_path(2)
    assert [x for _, x, _ in p] == [0.0, 0.5, 1.0] * 3
    assert p[2][2] == [1.0, 0.0, 0.0] and p[5][2] == [0.5, 0.5, 0.0]
    assert p[8][2] == [0.5, 0.5, 0.5] and p[8][0] == "Gamma-P"


def test_write_nonmagnetic_file(tmp_path):
    import ase.io
    from ase import Atoms
    a = Atoms("Fe2", positions=[[0, 0, 0], [1.4, 1.4, 1.4]], cell=np.eye(3) * 2.8, pbc=True)
    a.arrays["REF_magmom"] = np.tile([0, 0, 2.2], (2, 1))
    a.arrays["REF_magforces"] = np.zeros((2, 3))
    a.arrays["REF_forces"] = np.ones((2, 3))
    a.info.update(REF_energy=-16.0, split="valid", initial_magmoms=np.array([2.5, 2.5]))
    src = tmp_path / "in.extxyz"
    ase.io.write(str(src), [a], format="extxyz")
    assert write_nonmagnetic_file(src, tmp_path / "out.extxyz") == 1
    b = ase.io.read(str(tmp_path / "out.extxyz"), index=0, format="extxyz")
    assert "REF_magmom" not in b.arrays and "REF_magforces" not in b.arrays
    assert "REF_forces" in b.arrays and b.info["split"] == "valid"
    from mmace_fast.data.readers import read_extxyz
    c = read_extxyz(tmp_path / "out.extxyz", non_magnetic=True)[0]
    assert np.all(c.magmoms == 0) and c.energy == pytest.approx(-16.0)


def test_write_nonmagnetic_merge_valid(tmp_path):
    import ase.io
    from ase import Atoms
    a = Atoms("Fe", cell=np.eye(3) * 2.8, pbc=True)
    a.info.update(REF_energy=-8.0, split="valid")
    b = a.copy()
    b.info.update(REF_energy=-8.1, split="test")
    ase.io.write(str(tmp_path / "in.extxyz"), [a, b], format="extxyz")
    write_nonmagnetic_file(tmp_path / "in.extxyz", tmp_path / "o.extxyz", merge_valid=True)
    out = ase.io.read(str(tmp_path / "o.extxyz"), index=":", format="extxyz")
    assert [x.info["split"] for x in out] == ["train", "test"]


def test_pajda_spiral_energy_lattice_sums():
    from mmace_fast.compare.headtohead import pajda_spiral_energy
    from mmace_fast.mc.presets import pajda_fe_exchange_ev
    J = pajda_fe_exchange_ev()
    z = np.array([8, 6, 12, 24, 8, 6, 24, 24])               # bcc shell coordinations
    assert pajda_spiral_energy([0, 0, 0], 2.866) == pytest.approx(-0.5 * np.sum(z * J))
    # at H = (1, 0, 0) 2 pi / a: cos(q.R) = -1 on the odd shells (1/2,1/2,1/2), (3/2,1/2,1/2),
    # (3/2,3/2,1/2) and +1 on the others
    sign = np.array([-1, 1, 1, -1, 1, 1, -1, 1])
    assert pajda_spiral_energy([1, 0, 0], 2.866) == pytest.approx(-0.5 * np.sum(z * J * sign))
