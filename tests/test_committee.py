"""Committees (issue 30): resampled training frames, the committee directory, means and spreads,
and the calibration of spreads against errors.

Synthetic data from a known spin Hamiltonian (bcc cells, a = 2.87 A, rattled and strained, random
moment vectors with |m| in [1.8, 2.6] muB):
    E = - sum_pairs J(r) m_i.m_j + sum_i (a2 |m_i|^2 + a4 |m_i|^4)
Members are tiny one-layer mMACE models fitted to energies per atom from different seeds and
bootstrap samples of the same frames.
"""
import json

import numpy as np
import pytest
import torch

from mmace_fast.calculator import CommitteeCalculator, MMACECalculator
from mmace_fast.compare import calibration as cal
from mmace_fast.data.graph import collate, neighbour_list
from mmace_fast.data.records import Configuration
from mmace_fast.export import export_model
from mmace_fast.export.committee import (CommitteeError, FrozenCommittee, read_manifest,
                                         write_committee)
from mmace_fast.model import MMACE, ModelConfig
from mmace_fast.model.committee import Committee
from mmace_fast.model.io import save_model
from mmace_fast.training.config import ConfigError, TrainConfig
from mmace_fast.training.data import resample_train

R_CUT = 3.2
A_LAT = 2.87
A2, A4 = -0.30, 0.04


def exchange_j(r):
    t = np.clip(r / R_CUT, 0, 1)
    return 0.012 * (1 - t ** 2) ** 2 * (1 + 2 * np.exp(-((r - 2.45) / 0.25) ** 2))


def spin_energy(c: Configuration) -> float:
    i, j, s = neighbour_list(c.positions, c.cell, c.pbc, R_CUT)
    r = np.linalg.norm(c.positions[j] - c.positions[i] + s @ c.cell, axis=1)
    dot = np.einsum("ek,ek->e", c.magmoms[i], c.magmoms[j])
    m2 = np.sum(c.magmoms ** 2, axis=1)
    return float(-0.5 * np.sum(exchange_j(r) * dot) + np.sum(A2 * m2 + A4 * m2 ** 2))


def frames(rng, n, moment=(1.8, 2.6), scale=1.0):
    base = np.array([[0, 0, 0], [0.5, 0.5, 0.5], [1, 0, 0], [1.5, 0.5, 0.5]]) * A_LAT * scale
    cell = np.diag([2.0, 1.0, 1.0]) * A_LAT * scale
    out = []
    for _ in range(n):
        strain = np.eye(3) + 0.02 * rng.normal(size=(3, 3))
        pos = (base + 0.05 * rng.normal(size=base.shape)) @ strain
        u = rng.normal(size=(4, 3))
        m = u / np.linalg.norm(u, axis=1, keepdims=True) * rng.uniform(*moment, size=(4, 1))
        c = Configuration(positions=pos, cell=cell @ strain, pbc=[True] * 3, numbers=[26] * 4,
                          magmoms=m)
        c.energy = spin_energy(c)
        out.append(c)
    return out


def tiny_config(e_mean: float, e_std: float) -> ModelConfig:
    return ModelConfig(species=[26], r_cut=R_CUT, n_bessel=6, radial_mlp=[16], n_channels=8,
                       l_max_sh=1, l_max_message=1, l_max_hidden=0, n_layers=1, correlation=2,
                       readout_mlp=[8], avg_num_neighbors=8.0, soc=False, l_spin_max=2,
                       n_mag_features=3, moment_scale=[3.0], centre_spin=True,
                       landau_order=2, e0=[e_mean], scale=e_std)


def fit_member(train, seed: int, steps: int = 150):
    """One member: bootstrap sample ``seed`` of ``train``, torch seed ``seed``."""
    sample = resample_train(train, {"kind": "bootstrap", "seed": seed})
    n_at = train[0].n_atoms
    e = np.array([c.energy for c in sample]) / n_at
    torch.manual_seed(seed)
    cfg = tiny_config(float(e.mean()), float(e.std()))
    model = MMACE(cfg)
    batch = collate(sample, cfg.r_cut)
    y = torch.tensor(e)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=1e-4)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((model(batch, forces=False)["energy"] / n_at - y) ** 2).mean()
        loss.backward()
        opt.step()
        sched.step()
    return model.eval(), cfg


def member_dir(tmp, name, model, cfg):
    d = save_model(tmp / name, model, cfg, {"note": "test member"})
    export_model(model, d / "model.mmace")
    return d


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 4-member committee on 40 synthetic frames, and held-out frames in (400 valid, 400 test:
    the 68 % quantile of |err| / spread needs hundreds of frames to settle) and out of (moments
    3.2-4.0 muB) the training distribution."""
    rng = np.random.default_rng(0)
    train = frames(rng, 40)
    tmp = tmp_path_factory.mktemp("committee")
    dirs = [member_dir(tmp, f"src{k}", *fit_member(train, k)) for k in range(4)]
    com_dir = write_committee(tmp / "committee", dirs, metadata={"what": "synthetic"})
    return dict(dir=com_dir, valid=frames(rng, 400), test=frames(rng, 400),
                far=frames(rng, 60, moment=(3.2, 4.0)))


# ------------------------------------------------------------------ resampling the training set
def test_resample_bootstrap_and_kfold_are_deterministic_and_leave_others_alone():
    confs = list(range(20))                   # any objects: only the order matters
    b1 = resample_train(confs, {"kind": "bootstrap", "seed": 5})
    assert b1 == resample_train(confs, {"kind": "bootstrap", "seed": 5})
    assert len(b1) == 20 and len(set(b1)) < 20          # with replacement
    assert b1 != resample_train(confs, {"kind": "bootstrap", "seed": 6})
    left = [set(confs) - set(resample_train(confs, {"kind": "kfold", "folds": 4, "fold": k,
                                                    "seed": 1})) for k in range(4)]
    assert all(len(s) == 5 for s in left)
    assert set().union(*left) == set(confs)             # the folds partition the frames
    assert resample_train(confs, None) == confs
    with pytest.raises(ValueError, match="cannot make"):
        resample_train(confs[:3], {"kind": "kfold", "folds": 4, "fold": 0, "seed": 0})
    # learning-curve subsets: n distinct frames in file order, nested in nothing, seeded
    s1 = resample_train(confs, {"kind": "subset", "n": 7, "seed": 2})
    assert s1 == resample_train(confs, {"kind": "subset", "n": 7, "seed": 2})
    assert len(set(s1)) == 7 and s1 == sorted(s1)
    assert s1 != resample_train(confs, {"kind": "subset", "n": 7, "seed": 3})
    assert resample_train(confs, {"kind": "subset", "n": 20, "seed": 0}) == confs
    with pytest.raises(ValueError, match="21 frames asked"):
        resample_train(confs, {"kind": "subset", "n": 21, "seed": 0})


@pytest.mark.parametrize("bad", [{"kind": "jackknife", "seed": 0}, {"kind": "bootstrap"},
                                 {"kind": "bootstrap", "seed": -1},
                                 {"kind": "bootstrap", "seed": 1.5},
                                 {"kind": "kfold", "folds": 1, "fold": 0, "seed": 0},
                                 {"kind": "kfold", "folds": 3, "fold": 3, "seed": 0}, "boot",
                                 {"kind": "subset", "n": 0, "seed": 0},
                                 {"kind": "subset", "seed": 0}])
def test_resample_config_is_validated(bad):
    with pytest.raises(ConfigError, match="resample"):
        TrainConfig(train_file="x.xyz", resample=bad)


# ------------------------------------------------------------------ the committee directory
def _random_member(tmp, name, seed):
    torch.manual_seed(seed)
    cfg = tiny_config(-8.0, 0.1)
    return member_dir(tmp, name, MMACE(cfg).eval(), cfg)


def test_manifest_roundtrip_and_tampering_is_refused(tmp_path):
    dirs = [_random_member(tmp_path, f"s{k}", k) for k in range(3)]
    d = write_committee(tmp_path / "c", dirs, {"energy": 2.0}, {"made_by": "test"})
    doc = read_manifest(d)
    assert doc["members"] == ["m0", "m1", "m2"]
    assert doc["recalibration"] == {"energy": 2.0, "forces": 1.0, "stress": 1.0,
                                    "magforces": 1.0}
    assert Committee.load(d).recalibration["energy"] == 2.0
    with open(d / "m1" / "model.mmace", "ab") as fh:      # a member changed afterwards
        fh.write(b"\0")
    with pytest.raises(CommitteeError, match="m1/model.mmace changed"):
        FrozenCommittee.load(d)
    (d / "m1" / "model.mmace").unlink()
    with pytest.raises(CommitteeError, match="missing"):
        Committee.load(d)
    (d / "committee.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(CommitteeError, match="not a mmace_fast.committee/1"):
        read_manifest(d)
    with pytest.raises(CommitteeError, match="at least 2"):
        write_committee(tmp_path / "c1", dirs[:1])
    with pytest.raises(CommitteeError, match="finite number > 0"):
        write_committee(tmp_path / "c2", dirs, {"energy": float("nan")})
    with pytest.raises(CommitteeError, match="unknown property"):
        write_committee(tmp_path / "c3", dirs, {"enthalpy": 1.0})


def test_identical_members_have_zero_spread_and_the_single_model_mean(tmp_path):
    src = _random_member(tmp_path, "same", 7)
    d = write_committee(tmp_path / "c", [src] * 3, {"energy": 3.0, "forces": 3.0})
    atoms = frames(np.random.default_rng(1), 1)[0]
    from ase import Atoms
    at = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=True)
    at.set_initial_magnetic_moments(atoms.magmoms)
    at.calc = CommitteeCalculator(d)
    f = at.get_forces()
    res = at.calc.results
    for key in ("energy_std", "forces_std", "magforces_std", "stress_std", "energies_std"):
        assert np.all(np.asarray(res[key]) == 0.0), key
    single = at.copy()
    single.calc = MMACECalculator(src)
    assert abs(single.get_potential_energy() - res["energy"]) < 1e-12
    assert np.allclose(single.get_forces(), f, atol=1e-12, rtol=0)
    assert np.allclose(single.calc.get_property("magforces", single), res["magforces"],
                       atol=1e-12, rtol=0)
    mean, std = FrozenCommittee.load(d).energy(at)
    assert std == 0.0 and abs(mean - res["energy"]) < 1e-10


def test_committee_mean_and_spread_are_those_of_the_members(tmp_path):
    dirs = [_random_member(tmp_path, f"s{k}", 10 + k) for k in range(3)]
    d = write_committee(tmp_path / "c", dirs, {"energy": 1.5, "forces": 0.5})
    com = Committee.load(d)
    conf = frames(np.random.default_rng(2), 2)
    per = com.predict(conf)
    assert per["energy"].shape == (3, 2) and per["forces"].shape == (3, 8, 3)
    stats = com.summarise(per)
    assert np.allclose(stats["energy"], per["energy"].mean(0), rtol=0, atol=1e-12)
    assert np.allclose(stats["energy_std"], 1.5 * per["energy"].std(0, ddof=1), rtol=1e-12)
    assert np.allclose(stats["forces_std"], 0.5 * per["forces"].std(0, ddof=1), rtol=1e-12)
    frozen = FrozenCommittee.load(d)
    from ase import Atoms
    at = Atoms(numbers=conf[0].numbers, positions=conf[0].positions, cell=conf[0].cell,
               pbc=True)
    at.set_initial_magnetic_moments(conf[0].magmoms)
    assert np.allclose(frozen.energies(at), per["energy"][:, 0], rtol=0, atol=1e-10)


def test_members_must_share_architecture(tmp_path):
    a = _random_member(tmp_path, "a", 0)
    torch.manual_seed(1)
    cfg = tiny_config(-8.0, 0.1)
    cfg_b = ModelConfig(**{**cfg.to_dict(), "r_cut": 3.0})
    b = member_dir(tmp_path, "b", MMACE(cfg_b).eval(), cfg_b)
    d = write_committee(tmp_path / "c", [a, b])
    with pytest.raises(CommitteeError, match="differ"):
        Committee.load(d)
    with pytest.raises(CommitteeError, match="differ"):
        FrozenCommittee.load(d)


# ------------------------------------------------------------------ calibration, by hand values
def test_calibration_hand_values():
    sigma = np.array([1.0, 2.0, 0.5, 4.0])
    err = 2.0 * sigma * np.array([1, -1, 1, -1])
    assert cal.fit_scale(err, sigma, "nll") == pytest.approx(2.0, rel=1e-14)
    assert cal.fit_scale(err, sigma) == pytest.approx(2.0, rel=1e-14)     # every |z| = 2
    z = np.arange(1, 101) / 10.0
    assert cal.fit_scale(z, np.ones(100)) == pytest.approx(np.quantile(z, cal.ONE_SIGMA))
    with pytest.raises(ValueError, match="method"):
        cal.fit_scale(err, sigma, "max")
    nll = np.mean(0.5 * np.log(2 * np.pi * sigma ** 2) + 0.5 * 4.0)
    assert cal.gaussian_nll(err, sigma) == pytest.approx(nll, rel=1e-14)
    assert cal.coverage(err, sigma) == 0.0 and cal.coverage(err, sigma, 2.0) == 1.0
    assert cal.rank_correlation(err, sigma) == pytest.approx(1.0)
    assert cal.worst_captured(err, sigma, 0.25) == 1.0
    rows = cal.binned(err, sigma, 2)
    assert [r["n"] for r in rows] == [2, 2]
    assert rows[0]["rmse"] == pytest.approx(2 * np.sqrt((0.25 + 1) / 2))
    with pytest.raises(ValueError, match="every spread is 0"):
        cal.fit_scale(err, np.zeros(4))
    with pytest.raises(ValueError, match="finite"):
        cal.coverage([np.nan], [1.0])


def test_recalibration_restores_one_sigma_coverage_on_synthetic_errors():
    """Heteroscedastic Gaussian errors whose predicted spread is 4x too small (and noisy): the
    scale fitted on one half gives 60-75 % coverage on the other, and a lower NLL."""
    rng = np.random.default_rng(3)
    true = np.exp(rng.normal(size=4000))
    err = true * rng.normal(size=true.size)
    sigma = 0.25 * true * np.exp(0.2 * rng.normal(size=true.size))
    a = cal.fit_scale(err[:2000], sigma[:2000])
    assert 3.5 < a < 4.5
    assert 3.5 < cal.fit_scale(err[:2000], sigma[:2000], "nll") < 4.5
    cov = cal.coverage(err[2000:], a * sigma[2000:])
    assert 0.60 <= cov <= 0.75
    assert cal.gaussian_nll(err[2000:], a * sigma[2000:]) < cal.gaussian_nll(err[2000:],
                                                                               sigma[2000:])
    assert cal.rank_correlation(err, sigma) > 0.3


# ------------------------------------------------------------------ a committee trained on data
def test_spread_grows_away_from_the_data(trained):
    com = Committee.load(trained["dir"])
    spread_in = com.summarise(com.predict(trained["test"], derivatives=False))["energy_std"]
    spread_far = com.summarise(com.predict(trained["far"], derivatives=False))["energy_std"]
    assert np.median(spread_far) > 3 * np.median(spread_in)


def test_recalibrated_committee_covers_held_out_energies(trained):
    """Scale fitted on validation frames: 1-sigma coverage of the test energies 60-75 %, a lower
    NLL than the raw spread, and a spread that ranks errors away from the data."""
    com = Committee.load(trained["dir"])

    def err_sigma(confs):
        s = com.summarise(com.predict(confs, derivatives=False))
        ref = np.array([c.energy for c in confs])
        return (s["energy"] - ref) / 4, s["energy_std"] / 4         # per atom
    ev, sv = err_sigma(trained["valid"])
    et, st = err_sigma(trained["test"])
    a = cal.fit_scale(ev, sv)
    rep = cal.report(et, st, a)
    assert 0.60 <= rep["coverage_1sigma"] <= 0.75, rep
    assert rep["nll"] < cal.gaussian_nll(et, st)            # better than the raw spread
    # within one distribution the spread orders the errors weakly (Spearman 0.1-0.4 over seeds
    # 0-4); across in- and out-of-distribution frames it does (0.72-0.79)
    ef, sf = err_sigma(trained["far"])
    assert cal.rank_correlation(np.r_[et[:120], ef], np.r_[st[:120], sf]) > 0.6


def test_trainer_trains_on_the_resampled_frames_and_keeps_valid(tmp_path):
    """The split happens first; the member then sees its fold / bootstrap of the train frames
    only, and the validation frames of every member are the same."""
    from pathlib import Path

    from mmace_fast.training.trainer import Trainer
    xyz = str(Path(__file__).parent / "data" / "fe_al_noncollinear.extxyz")
    tiny = dict(r_cut=4.0, n_bessel=4, radial_mlp=[8], n_channels=4, l_max_sh=1,
                l_max_message=1, l_max_hidden=0, n_layers=1, correlation=2, readout_mlp=[4],
                l_spin_max=1, spin_pair_l_max=1, n_mag_features=2)

    def setup(name, resample):
        cfg = TrainConfig(train_file=xyz, model=dict(tiny), out_dir=str(tmp_path / name),
                          max_epochs=1, progress=False, seed=3, resample=resample)
        return Trainer(cfg).setup()
    full = setup("full", None)
    fold = setup("fold", {"kind": "kfold", "folds": 3, "fold": 1, "seed": 0})
    boot = setup("boot", {"kind": "bootstrap", "seed": 0})
    n = len(full.train_set)
    assert len(fold.train_set) == n - len(np.array_split(np.arange(n), 3)[1])
    assert len(boot.train_set) == n
    assert len({id(c) for c in boot.train_set}) < n
    ids = lambda confs: [c.source for c in confs]         # noqa: E731
    assert ids(fold.valid_set) == ids(full.valid_set) == ids(boot.valid_set)
    assert set(ids(fold.train_set)) <= set(ids(full.train_set))


def test_committee_errors_leave_out_symmetry_fixed_components(tmp_path):
    """Atoms at inversion centres: zero force error and spread in every member; left out."""
    from mmace_fast.compare.uncertainty import calibration_table, committee_errors
    dirs = [_random_member(tmp_path, f"s{k}", 20 + k) for k in range(3)]
    com = Committee.load(write_committee(tmp_path / "c", dirs))
    c = Configuration(positions=np.array([[0, 0, 0], [0.5, 0.5, 0.5]]) * A_LAT,
                      cell=np.eye(3) * A_LAT, pbc=[True] * 3, numbers=[26, 26],
                      magmoms=np.array([[0, 0, 2.2], [0, 0, 2.2]]), energy=-16.0,
                      forces=np.zeros((2, 3)))
    rattled = frames(np.random.default_rng(5), 1)[0]
    rattled.forces = np.zeros((4, 3))
    errs = committee_errors(com, [c, rattled])
    assert errs["forces"][0].size == 12                     # the rattled cell's 4 x 3 only
    assert errs["energy"][0].size == 2
    assert np.allclose(errs["energy"][0][0], 1e3 * (com.summarise(com.predict([c]))["energy"][0]
                                                    + 16.0) / 2)
    table = calibration_table(errs, {"forces": 2.0})
    assert table["forces"]["scale"] == 2.0 and table["forces"]["unit"] == "meV/A"


def test_cli_builds_a_recalibrated_committee_and_evaluates_it(tmp_path, capsys):
    import ase.io
    from ase import Atoms

    from mmace_fast.cli import main
    confs = frames(np.random.default_rng(6), 12)
    images = []
    for c in confs:
        at = Atoms(numbers=c.numbers, positions=c.positions, cell=c.cell, pbc=True)
        at.arrays["REF_magmom"] = c.magmoms            # the reader's default label names
        at.info["REF_energy"] = c.energy
        images.append(at)
    data = tmp_path / "frames.extxyz"
    ase.io.write(data, images, format="extxyz")
    dirs = [_random_member(tmp_path, f"s{k}", 30 + k) for k in range(3)]
    for d in dirs:
        (d / "model.mmace").unlink()                   # build freezes members that are not
    out = tmp_path / "com"
    assert main(["committee", "build", *map(str, dirs), "--out", str(out), "--valid",
                 str(data)]) == 0
    built = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert built["members"] == 3 and built["recalibration"]["energy"] > 0
    assert read_manifest(out)["recalibration"]["energy"] == built["recalibration"]["energy"]
    assert main(["committee", "evaluate", str(out), "--data", str(data)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["frames"] == 12
    # the recalibration was fitted on these very frames: 68 % of them inside 1 sigma
    assert doc["table"]["energy"]["coverage_1sigma"] == pytest.approx(8 / 12)


def test_committee_observables_of_identical_members_have_zero_spread():
    """Magnons and extracted exchange of a committee: identical members give exactly the
    single model's values and zero spread; the shipped members disagree."""
    from mmace_fast.compare.uncertainty import committee_exchange, committee_magnons
    from mmace_fast.dynamics.magnons import adiabatic_magnons, cubic_q_path
    from mmace_fast.export.committee import FrozenCommittee
    from mmace_fast.mc.lattice import material_lattice
    from mmace_fast.mc.mmace_hamiltonian import FrozenMMACEHamiltonian
    from mmace_fast.models import load_frozen, load_frozen_committee

    m = load_frozen("fe", "mc")
    lat = material_lattice("bcc_Fe", 2, 2.866)
    _, q = cubic_q_path(2, 2.866)
    twin = FrozenCommittee([m, m], {"energy": 1.5})
    r = committee_magnons(twin, lat, q, 2.2)
    ham = FrozenMMACEHamiltonian.from_arrays(m, lat.positions, lat.cell, lat.pbc, lat.numbers)
    np.testing.assert_array_equal(r["mean"], adiabatic_magnons(ham, lat.positions, q, 2.2))
    assert r["spread"] == [0.0] * len(q) and r["factor"] == 1.5
    ex = committee_exchange(twin, "fe", 2.2, L=2, n_shells=2, n_configs=8)
    assert ex["spread"] == [0.0, 0.0] and ex["members"][0] == ex["members"][1]
    shipped = committee_magnons(load_frozen_committee("fe"), lat, q, 2.2)
    assert min(shipped["spread"]) > 0
    np.testing.assert_allclose(shipped["spread_recalibrated"],
                               np.array(shipped["spread"]) * shipped["factor"])
