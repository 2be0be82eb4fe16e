"""Training: loss, EMA, E0s, split, config, checkpoints, resume bit-identity, fine-tuning, CLI.

Every training here uses the real MMACE at a tiny size on the shipped 4-atom samples.
"""
from __future__ import annotations

import json
import math
import pickletools
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from mmace_fast.data.readers import read_extxyz
from mmace_fast.data.records import Configuration
from mmace_fast.training import data as tdata
from mmace_fast.training.checkpoint import assert_plain, load_checkpoint
from mmace_fast.training.config import ConfigError, TrainConfig
from mmace_fast.training.ema import EMA
from mmace_fast.training.loss import WeightedLoss
from mmace_fast.model.io import build_model, load_model
from mmace_fast.training.trainer import Trainer, evaluate_configs

DATA = Path(__file__).parent / "data"
XYZ = str(DATA / "fe_al_noncollinear.extxyz")
NONMAG = str(DATA / "fe_al_nonmagnetic_mp.json")

TINY_MODEL = dict(r_cut=4.0, n_bessel=4, radial_mlp=[8], n_channels=4, l_max_sh=1,
                  l_max_message=1, l_max_hidden=0, n_layers=1, correlation=2, readout_mlp=[4],
                  l_spin_max=1, spin_pair_l_max=1, n_mag_features=2)


def tiny_cfg(out_dir, **over) -> TrainConfig:
    d = dict(train_file=XYZ, model=dict(TINY_MODEL), out_dir=str(out_dir), max_epochs=2,
             batch_size=2, valid_batch_size=4, progress=False, seed=3, lr=0.01)
    d.update(over)
    return TrainConfig(**d)


def _conf(numbers, energy=None, forces=None, stress=None, magforces=None, mask=None, **kw):
    n = len(numbers)
    return Configuration(positions=np.arange(3 * n, dtype=float).reshape(n, 3) * 1.7,
                         cell=10 * np.eye(3), pbc=[True] * 3, numbers=numbers,
                         magmoms=np.zeros((n, 3)), energy=energy, forces=forces, stress=stress,
                         magforces=magforces, magforces_mask=mask, **kw)


# ---------------------------------------------------------------- pieces, by hand values
def test_loss_hand_value_with_masks_and_weights():
    c1 = _conf([26, 13], energy=1.0, forces=np.zeros((2, 3)), stress=np.zeros((3, 3)),
               magforces=np.zeros((2, 3)), mask=np.array([[1, 1, 0], [1, 1, 1]], bool),
               energy_weight=2.0)
    c2 = _conf([26], energy=None, forces=None, stress=None, magforces=None)
    t = tdata.make_targets([c1, c2])
    out = {"energy": torch.tensor([3.0, 5.0], dtype=torch.float64),     # c2 has no energy
           "forces": torch.ones(3, 3, dtype=torch.float64),
           "stress": torch.full((2, 3, 3), 0.5, dtype=torch.float64),
           "magforces": torch.full((3, 3), 2.0, dtype=torch.float64)}
    loss = WeightedLoss(energy_weight=1, forces_weight=10, stress_weight=3,
                        magforces_weight=100)
    total, terms = loss(out, t)
    # energy: one labelled frame, weight 2, ((3-1)/2 atoms)^2 = 1 -> 2
    assert terms["energy"] == pytest.approx(2.0)
    assert terms["forces"] == pytest.approx(1.0)      # 6 labelled comps of c1, diff 1
    assert terms["stress"] == pytest.approx(0.25)     # 9 comps of c1 only
    assert terms["magforces"] == pytest.approx(4.0)   # 5 defined comps, diff 2
    assert float(total) == pytest.approx(2 + 10 * 1 + 3 * 0.25 + 100 * 4)
    huber = WeightedLoss(kind="huber", huber_delta=0.5)
    _, hterms = huber(out, t)
    # diff 2 > delta: 2 * delta * (|d| - delta / 2) = 2 * 0.5 * 1.75
    assert hterms["magforces"] == pytest.approx(1.75)


def test_ema_hand_value_and_applied_restores():
    lin = torch.nn.Linear(1, 1, bias=False).double()
    with torch.no_grad():
        lin.weight.fill_(1.0)
    ema = EMA(lin, decay=0.99)
    with torch.no_grad():
        lin.weight.fill_(3.0)
    ema.update(lin)                                    # d = min(.99, 1/10) = 0.1
    assert float(ema.shadow["weight"]) == pytest.approx(0.1 * 1 + 0.9 * 3)
    ema.update(lin)                                    # d = 2/11
    expect = 2 / 11 * 2.8 + 9 / 11 * 3.0
    assert float(ema.shadow["weight"]) == pytest.approx(expect)
    with ema.applied(lin):
        assert float(lin.weight.detach()) == pytest.approx(expect)
    assert float(lin.weight.detach()) == 3.0
    fresh = EMA(lin, 0.5)
    fresh.load_state_dict(ema.state_dict())
    assert fresh.num_updates == 2 and fresh.decay == 0.99


def test_e0_least_squares_recovers_references():
    rng = np.random.default_rng(0)
    true = {26: -8.25, 13: -3.5}
    configs = []
    for _ in range(6):
        numbers = rng.choice([26, 13], size=rng.integers(2, 6))
        configs.append(_conf(numbers, energy=sum(true[int(z)] for z in numbers)))
    e0 = tdata.fit_e0s(configs, [26, 13])
    assert e0[26] == pytest.approx(true[26], abs=1e-10)
    assert e0[13] == pytest.approx(true[13], abs=1e-10)
    fixed = [_conf([26, 13], energy=-10.0), _conf([26, 26, 13, 13], energy=-20.0)]
    e0 = tdata.fit_e0s(fixed, [26, 13])                 # rank 1: minimum norm
    assert e0[26] == pytest.approx(-5.0) and e0[13] == pytest.approx(-5.0)
    assert tdata.resolve_e0s({"26": 1, 13: 2}, fixed, [26, 13]) == {26: 1.0, 13: 2.0}
    with pytest.raises(ValueError, match="not for species"):
        tdata.resolve_e0s({26: 1}, fixed, [26, 13])


def test_split_is_seeded_and_honours_split_key():
    configs = [_conf([26], energy=float(k)) for k in range(20)]
    tr1, va1 = tdata.split_configurations(configs, 0.25, seed=1)
    tr2, va2 = tdata.split_configurations(configs, 0.25, seed=1)
    _, va3 = tdata.split_configurations(configs, 0.25, seed=2)
    assert len(va1) == 5 and len(tr1) == 15
    assert [c.energy for c in va1] == [c.energy for c in va2]
    assert [c.energy for c in va1] != [c.energy for c in va3]
    tr, va = tdata.split_configurations(read_extxyz(XYZ), 0.5, seed=0)
    assert len(va) == 1 and va[0].info["split"] == "valid" and len(tr) == 4


def test_config_json_yaml_roundtrip_and_errors(tmp_path):
    cfg = tiny_cfg(tmp_path, freeze=["layers.0"], e0s={"26": -1.0, "13": -2.0})
    pj = tmp_path / "c.json"
    pj.write_text(cfg.to_json())
    assert TrainConfig.from_file(pj) == cfg
    import yaml
    py = tmp_path / "c.yaml"
    py.write_text(yaml.safe_dump(cfg.to_dict()))
    assert TrainConfig.from_file(py) == cfg
    assert cfg.magforces_weight == 100.0 and TrainConfig().forces_weight == 100.0
    with pytest.raises(ConfigError, match="unknown training config keys"):
        TrainConfig.from_dict({"learning_rate": 1})
    with pytest.raises(ConfigError, match="loss"):
        TrainConfig(loss="l1")
    with pytest.raises(ConfigError, match="scheduler"):
        TrainConfig(scheduler="step")
    with pytest.raises(ConfigError, match="e0s"):
        TrainConfig(e0s="average")


# ---------------------------------------------------------------- training runs
def test_loss_decreases_on_tiny_set(tmp_path):
    tr = Trainer(tiny_cfg(tmp_path, max_epochs=4, ema=False, scheduler="none")).setup()
    before = evaluate_configs(tr.model, tr.train_set, tr.cutoff, 8, tr.loss_fn)["loss"]
    tr.fit()
    after = evaluate_configs(tr.model, tr.train_set, tr.cutoff, 8, tr.loss_fn)["loss"]
    assert after < 0.9 * before, (before, after)
    hist = json.loads((tmp_path / "metrics.json").read_text())
    assert [h["epoch"] for h in hist] == [1, 2, 3, 4]
    for key in ("energy_mae", "forces_rmse", "stress_mae", "magforces_rmse"):
        assert math.isfinite(hist[-1]["valid"][key])


def tdata_collate(trainer):
    from mmace_fast.data.graph import collate
    return collate(trainer.train_set, trainer.cutoff)


class _Killed(Exception):
    pass


def _kill_after(epoch):
    def cb(trainer):
        if trainer.state.epoch == epoch:
            raise _Killed
    return cb


@pytest.mark.parametrize("scheduler,stability,induced,directions", [
    ("cosine", 0.0, [], "random"), ("plateau", 0.0, [], "random"), ("cosine", 1.0, [], "random"),
    ("cosine", 1.0, [13], "random"), ("cosine", 1.0, [13], "mixed")])
def test_resume_after_kill_gives_identical_weights(tmp_path, scheduler, stability, induced,
                                                    directions):
    # the lr changes every epoch (cosine; plateau with patience 0 when the loss stalls) and
    # batch 2 of 4 frames makes the shuffle order matter; with the moment-stability prior the
    # sequence of moment scales (and of the induced-moment radii and directions) must resume
    # where it stopped
    over = dict(max_epochs=3, scheduler=scheduler, scheduler_patience=0, lr_factor=0.5,
                moment_stability_weight=stability, moment_stability_range=[0.8, 1.6],
                moment_stability_curvature=10.0, moment_stability_induced_species=induced,
                moment_stability_induced_directions=directions)
    straight = Trainer(tiny_cfg(tmp_path / "a", **over)).setup()
    straight.fit()
    cfg_b = tiny_cfg(tmp_path / "b", **over)
    with pytest.raises(_Killed):
        Trainer(cfg_b).setup().fit(_kill_after(1))
    (tmp_path / "b" / "checkpoint.pt.tmp").write_bytes(b"torn write")   # a kill mid-save
    resumed = Trainer(cfg_b).setup()
    assert resumed.state.epoch == 1
    resumed.fit()
    for k, v in straight.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k
    for k, v in straight.ema.shadow.items():
        assert torch.equal(v, resumed.ema.shadow[k]), k
    assert straight.optimizer.param_groups[0]["lr"] == resumed.optimizer.param_groups[0]["lr"]
    assert straight.state.history == resumed.state.history
    final_a = torch.load(tmp_path / "a" / "model.pt", weights_only=True)
    final_b = torch.load(tmp_path / "b" / "model.pt", weights_only=True)
    assert all(torch.equal(final_a[k], final_b[k]) for k in final_a)
    assert resumed.state.epoch == 3
    assert resumed.state.stability_calls == (straight.state.stability_calls if stability else 0)
    if stability:   # the prior was active (moments above the threshold) and changed training
        assert straight.state.stability_calls == 6
        from mmace_fast.training.loss import moment_stability_penalty
        batch = tdata_collate(straight)
        assert float(moment_stability_penalty(straight.model, batch, 1.3, 0.5, 10.0)
                     .detach()) > 0


def test_resume_refuses_changed_config(tmp_path):
    with pytest.raises(_Killed):
        Trainer(tiny_cfg(tmp_path)).setup().fit(_kill_after(1))
    with pytest.raises(ConfigError, match="different config"):
        Trainer(tiny_cfg(tmp_path, lr=0.5)).setup()
    Trainer(tiny_cfg(tmp_path, lr=0.5, resume=False)).setup()        # explicit restart is fine


def _pickle_globals(path: Path) -> set:
    """Module names of every global referenced by the pickle inside a torch.save zip."""
    mods = set()
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            if name.endswith("data.pkl"):
                strings = []
                for op, arg, _ in pickletools.genops(zf.read(name)):
                    if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
                        strings.append(arg)
                    if op.name == "GLOBAL":
                        mods.add(arg.split(" ")[0])
                    if op.name == "STACK_GLOBAL":
                        mods.add(strings[-2])
    return mods


def test_checkpoint_and_model_have_no_pickled_modules(tmp_path):
    Trainer(tiny_cfg(tmp_path, max_epochs=1)).setup().fit()
    for name in ("checkpoint.pt", "model.pt"):
        obj = torch.load(tmp_path / name, weights_only=True)     # raises on any foreign class
        assert_plain(obj)
        mods = _pickle_globals(tmp_path / name)
        assert all(m.startswith(("torch", "collections")) for m in mods), mods
    ckpt = load_checkpoint(tmp_path / "checkpoint.pt")
    assert set(ckpt) >= {"model", "ema", "optimizer", "scheduler", "rng", "epoch",
                         "train_config", "model_config"}
    assert not list(tmp_path.glob("*.tmp"))
    doc = json.loads((tmp_path / "model.json").read_text())
    meta = doc["metadata"]
    assert doc["model_config"]["species"] == [13, 26]
    assert meta["species"] == [13, 26] and len(meta["training_data_sha256"]) == 64
    assert meta["versions"]["e3nn"] == "0.6.0" and meta["versions"]["torch"]
    assert doc["model_config"]["e0"] == [meta["e0s"]["13"], meta["e0s"]["26"]]
    model, cfg, _ = load_model(tmp_path)
    assert cfg.r_cut == 4.0 and not model.training
    with pytest.raises(TypeError, match="not plain data"):
        assert_plain({"m": torch.nn.Linear(1, 1)})


def test_finetune_nonmagnetic_pretrain_with_frozen_group(tmp_path):
    pre_dir = tmp_path / "pre"
    pre = Trainer(tiny_cfg(pre_dir, train_file=NONMAG, non_magnetic=True, max_epochs=1,
                           valid_fraction=0.0)).setup()
    pre.fit()
    names = [n for n, _ in pre.model.named_parameters()]
    frozen_prefix = "embedding"
    assert frozen_prefix in names and len(names) > 1
    ft = Trainer(tiny_cfg(tmp_path / "ft", init_from=str(pre_dir), freeze=[frozen_prefix],
                          max_epochs=2, lr=0.05, ema=False)).setup()
    start = {k: v.clone() for k, v in ft.model.state_dict().items()}
    pre_state = torch.load(pre_dir / "model.pt", weights_only=True)
    assert all(torch.equal(start[k], pre_state[k]) for k in pre_state)   # initialised from pre
    ft.fit()
    end = ft.model.state_dict()
    assert torch.equal(end[frozen_prefix], pre_state[frozen_prefix])
    moved = [k for k, p in ft.model.named_parameters()
             if p.requires_grad and not torch.equal(end[k], start[k])]
    assert moved, "no trainable parameter changed"
    saved = torch.load(tmp_path / "ft" / "model.pt", weights_only=True)
    assert torch.equal(saved[frozen_prefix], pre_state[frozen_prefix])
    with pytest.raises(ConfigError, match="matches no parameter"):
        Trainer(tiny_cfg(tmp_path / "x", init_from=str(pre_dir), freeze=["nope*"])).setup()
    # a training checkpoint works as a source too (its EMA weights are taken)
    ckpt = load_checkpoint(pre_dir / "checkpoint.pt")
    from_ckpt = Trainer(tiny_cfg(tmp_path / "y", init_from=str(pre_dir / "checkpoint.pt"))).setup()
    state = from_ckpt.model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in ckpt["ema"]["shadow"].items())
    assert from_ckpt.e0s == {int(k): v for k, v in ckpt["e0s"].items()}


def test_cli_train_and_evaluate(tmp_path, capsys, monkeypatch):
    from mmace_fast.training.cli import main
    monkeypatch.chdir(Path(__file__).parents[1])          # the example uses repo-relative paths
    out_dir = tmp_path / "run"
    tiny = json.dumps(TINY_MODEL)
    assert main(["train", "--config", "tests/data/train_example.yaml", "--set", "max_epochs=1",
                 "--set", f"out_dir={out_dir}", "--set", f"model={tiny}",
                 "--set", "progress=false"]) == 0
    out = capsys.readouterr().out
    assert "E MAE" in out and "model written" in out
    assert len(json.loads((out_dir / "metrics.json").read_text())) == 1
    assert main(["evaluate", "--model", str(out_dir), "--data", XYZ]) == 0
    out = capsys.readouterr().out
    line = [ln for ln in out.splitlines() if ln.startswith(XYZ)][0]
    values = [float(x) for x in line.split()[2:]]
    assert len(values) == 8 and all(v >= 0 for v in values)
    model, _, _ = load_model(out_dir)
    ref = evaluate_configs(model, read_extxyz(XYZ), 4.0, 8)
    assert values[0] == pytest.approx(ref["energy_mae"], rel=1e-3)


def test_build_model_from_filled_config():
    from mmace_fast.model import ModelConfig
    from mmace_fast.model.io import fill_model_config
    d = fill_model_config(dict(TINY_MODEL), [13, 26], {13: -1.0, 26: -2.0},
                          {"avg_num_neighbors": 12.5, "mean_energy_per_atom": 0.1,
                           "rms_forces": 0.3}, ModelConfig)
    assert d["e0"] == [-1.0, -2.0] and d["avg_num_neighbors"] == 12.5
    assert d["shift"] == 0.1 and d["scale"] == 0.3
    user = fill_model_config(dict(TINY_MODEL, scale=2.0), [13, 26], {}, {"rms_forces": 0.3},
                             ModelConfig)
    assert user["scale"] == 2.0                          # the user's value wins
    # forces that vanish by symmetry (SCF noise only) carry no scale: the model's default
    for rms in (1.1e-9, 0.0):
        sym = fill_model_config(dict(TINY_MODEL), [26, 78], {}, {"rms_forces": rms,
                                "rms_energy_per_atom": 0.015}, ModelConfig)
        assert "scale" not in sym and ModelConfig(**sym).scale == 1.0
    model, cfg = build_model(d)
    assert next(model.parameters()).dtype == torch.float64 and cfg.species == [13, 26]


def test_early_stopping_after_patience_epochs(tmp_path):
    tr = Trainer(tiny_cfg(tmp_path, patience=2, scheduler="none")).setup()
    assert not tr._end_of_epoch({"loss": 1.0}, {"loss": 1.0})       # first: improvement
    assert not tr._end_of_epoch({"loss": 1.0}, {"loss": 1.5})       # 1 bad epoch
    assert tr._end_of_epoch({"loss": 1.0}, {"loss": 1.2})           # 2 bad epochs: stop
    assert tr.state.best_epoch == 1 and tr.state.bad_epochs == 2
    saved = load_checkpoint(tmp_path / "checkpoint.pt")
    assert saved["state"]["bad_epochs"] == 2 and saved["epoch"] == 3


@pytest.mark.parametrize("keep", ["best", "last"])
def test_keep_model_best_or_last(tmp_path, keep):
    over = dict(keep_model=keep, scheduler="none", patience=None)
    tr = Trainer(tiny_cfg(tmp_path, **over)).setup()
    for v in (1.0, 0.5, 0.9, 0.8):                                  # best valid at epoch 2
        tr._end_of_epoch({"loss": 1.0}, {"loss": v})
    meta = json.loads((tmp_path / "model.json").read_text())["metadata"]
    assert meta["saved_at"]["epoch"] == (2 if keep == "best" else 4)
    assert tr.state.best_epoch == 2


def test_keep_model_last_refuses_early_stopping(tmp_path):
    with pytest.raises(ConfigError, match="patience"):
        tiny_cfg(tmp_path, keep_model="last", patience=5).validate()
    with pytest.raises(ConfigError, match="keep_model"):
        tiny_cfg(tmp_path, keep_model="newest", patience=None).validate()


def test_legacy_format_landau_converted_on_load(tmp_path):
    """Format /1 files stored the top Landau coefficient a_K itself; loading converts it to the
    raw softplus parameter so the energy is unchanged; a_K <= 0 is refused."""
    from mmace_fast.model import LandauCoefficientError
    from mmace_fast.training.checkpoint import save_checkpoint
    from mmace_fast.model.io import LEGACY_LANDAU_FORMATS, save_model
    from mmace_fast.model.io import predict
    model, cfg = build_model(dict(TINY_MODEL, species=[13, 26], landau_order=2))
    model.set_landau_coefficients([[-0.2, 0.3], [0.1, 0.05]])
    confs = read_extxyz(XYZ)[:2]
    ref = predict(model, confs, cfg.r_cut, stress=False)["energy"]
    # write what an old version would have written: a_k verbatim, format /1
    legacy = dict(model.state_dict(), landau=model.landau_coefficients().detach().clone())
    save_model(tmp_path / "old", model, cfg, state_dict=legacy)
    doc = json.loads((tmp_path / "old" / "model.json").read_text())
    doc["format"] = LEGACY_LANDAU_FORMATS[0]
    (tmp_path / "old" / "model.json").write_text(json.dumps(doc))
    loaded, _, _ = load_model(tmp_path / "old")
    np.testing.assert_allclose(predict(loaded, confs, cfg.r_cut, stress=False)["energy"], ref,
                               rtol=1e-13)
    # a saved /2 model reloads verbatim
    save_model(tmp_path / "new", model, cfg)
    assert json.loads((tmp_path / "new" / "model.json").read_text())["format"] \
        == "mmace_fast.model/2"
    assert torch.equal(load_model(tmp_path / "new")[0].landau, model.landau)
    # legacy checkpoint: model and EMA weights converted
    save_checkpoint(tmp_path / "ck.pt", {"model": legacy, "ema": {"shadow": dict(legacy)}})
    raw = torch.load(tmp_path / "ck.pt", weights_only=True)
    raw["format"] = LEGACY_LANDAU_FORMATS[1]
    torch.save(raw, tmp_path / "ck.pt")
    ck = load_checkpoint(tmp_path / "ck.pt")
    assert torch.allclose(ck["model"]["landau"], model.landau, rtol=1e-13)
    assert torch.allclose(ck["ema"]["shadow"]["landau"], model.landau, rtol=1e-13)
    # an old model with a_K <= 0 cannot be represented
    bad = dict(legacy, landau=torch.tensor([[0.1, -0.3], [0.1, 0.2]]))
    save_model(tmp_path / "bad", model, cfg, state_dict=bad)
    (tmp_path / "bad" / "model.json").write_text(json.dumps(doc))
    with pytest.raises(LandauCoefficientError, match="bad"):
        load_model(tmp_path / "bad")


@pytest.mark.parametrize("profile", ["constant", "landau"])
def test_moment_stability_penalty_hand_value(profile):
    """Landau-only model E = sum_i a1 x_i + a2 x_i^2, x = (|m| / ms)^2: along the ray m -> s m
    of the magnetic sites dE/ds = sum_i (a1 + 2 a2 s^2 x0_i) 2 s x0_i; c = dE/ds / ((s - 1)
    sum |m_i|^2) and penalty = mean over frames with magnetic sites of relu(t - c)^2 with
    t = c_min ("constant") or c_min s (s + 1) / 2 ("landau")."""
    from mmace_fast.data.graph import collate
    from mmace_fast.training.loss import moment_stability_penalty
    a1, a2, ms = -0.8, 0.5, 2.0
    model, _ = build_model(dict(TINY_MODEL, species=[13, 26], moment_scale=[ms, ms]))
    with torch.no_grad():
        model.scale.zero_()
    model.set_landau_coefficients([[a1, a2], [a1, a2]])

    def mk(m):
        return Configuration(positions=[[0, 0, 0], [1.4, 1.4, 1.4]], cell=2.8 * np.eye(3),
                             pbc=[True] * 3, numbers=[26, 13], magmoms=m)

    frames = [mk([[0.3, 0.4, 2.0], [0.0, 0.1, 0.2]]),      # one magnetic site (|m| > 0.5)
              mk([[0.0, 0.0, 0.3], [0.1, 0.0, 0.0]]),      # none: does not enter
              mk([[1.0, 0.0, 0.0], [0.0, 0.0, -1.5]])]     # two
    batch = collate(frames, 4.0)
    for s, cmin in ((0.7, 0.0), (0.7, 5.0), (1.4, 5.0), (0.1, 5.0)):
        got = float(moment_stability_penalty(model, batch, s, 0.5, cmin, profile).detach())
        t = cmin if profile == "constant" else cmin * s * (s + 1) / 2
        terms = []
        for c in (frames[0], frames[2]):
            mag = np.linalg.norm(c.magmoms, axis=1) > 0.5
            x0 = np.sum(c.magmoms[mag] ** 2, axis=1) / ms ** 2
            de_ds = np.sum((a1 + 2 * a2 * s ** 2 * x0) * 2 * s * x0)
            curv = de_ds / ((s - 1) * np.sum(c.magmoms[mag] ** 2))
            terms.append(max(t - curv, 0.0) ** 2)
        assert got == pytest.approx(np.mean(terms), rel=1e-10, abs=1e-14)
        if cmin == 5.0:
            assert got > 0.0


def test_landau_profile_accepts_a_landau_well_the_constant_one_rejects():
    """For E = a m^2 + b m^4 (a < 0) the "landau" threshold with c_min at most the well's own
    curvature at its minimum is met at every s (zero penalty), even below the inflection point,
    where the constant threshold is violated."""
    from mmace_fast.data.graph import collate
    from mmace_fast.training.loss import moment_stability_penalty
    ms = 1.0
    a1, a2 = -0.05, 0.04                   # x = m^2: E = a1 m^2 + a2 m^4, m0^2 = -a1 / (2 a2)
    model, _ = build_model(dict(TINY_MODEL, species=[13, 26], moment_scale=[ms, ms]))
    with torch.no_grad():
        model.scale.zero_()
    model.set_landau_coefficients([[0.0, 1e-3], [a1, a2]])   # Al carries no moment here
    m0 = math.sqrt(-a1 / (2 * a2))
    c_well = 8 * a2 * m0 ** 2                          # d2E/dm2 at m0 = -4 a1
    conf = Configuration(positions=[[0, 0, 0], [1.4, 1.4, 1.4]], cell=2.8 * np.eye(3),
                         pbc=[True] * 3, numbers=[26, 13], magmoms=[[0, 0, m0], [0, 0, 0]])
    batch = collate([conf], 4.0)
    for s in (0.05, 0.3, 0.5, 0.9, 1.1, 2.0):
        assert float(moment_stability_penalty(model, batch, s, 0.5, 0.99 * c_well,
                                              "landau").detach()) == 0.0
    assert float(moment_stability_penalty(model, batch, 0.3, 0.5, 0.99 * c_well,
                                          "constant").detach()) > 0.0


def test_induced_moment_penalty_hand_value():
    """Landau-only model, E = sum_i a1 x_i + a2 x_i^2 with x = |m|^2 / ms^2: the induced sites
    (Al) move to m0 + r u, dE/dr_i = (a1 + 2 a2 x_i) 2 (m_i . u_i) / ms^2, c_g = sum_i dE/dr_i
    / (r n_g); penalty = mean over frames with Al of relu(c_min - c_g)^2. Fe sites keep their
    moments and do not enter."""
    from mmace_fast.data.graph import collate
    from mmace_fast.training.loss import induced_directions, induced_moment_penalty
    ms = 0.5
    model, _ = build_model(dict(TINY_MODEL, species=[13, 26], moment_scale=[ms, 2.0]))
    with torch.no_grad():
        model.scale.zero_()
    (b1, b2) = (-0.3, 0.05)                                     # Al: a well away from m = 0
    model.set_landau_coefficients([[b1, b2], [0.4, 0.1]])

    def mk(m, numbers):
        return Configuration(positions=[[0, 0, 0], [1.4, 1.4, 1.4]], cell=2.8 * np.eye(3),
                             pbc=[True] * 3, numbers=numbers, magmoms=m)

    frames = [mk([[0.3, 0.4, 2.0], [0.0, 0.01, -0.02]], [26, 13]),    # one Al
              mk([[0.0, 0.0, 2.2], [2.2, 0.0, 0.0]], [26, 26]),      # no Al: does not enter
              mk([[0.02, 0.0, 0.0], [0.0, 0.0, 0.01]], [13, 13])]    # two Al
    batch = collate(frames, 4.0)
    induced = batch.numbers == 13
    u = induced_directions(len(batch.numbers), call=5, seed=1)
    assert torch.allclose(u.norm(dim=1), torch.ones(len(u), dtype=u.dtype))
    assert torch.equal(u, induced_directions(len(batch.numbers), call=5, seed=1))
    assert not torch.equal(u, induced_directions(len(batch.numbers), call=6, seed=1))
    for r, cmin in ((0.2, 0.0), (0.2, 3.0), (1.5, 3.0), (1.5, 40.0)):
        got = float(induced_moment_penalty(model, batch, induced, r, u, cmin).detach())
        terms, k = [], 0
        for c in frames:
            sel = np.flatnonzero(c.numbers == 13)
            if len(sel) == 0:
                k += c.n_atoms
                continue
            de = 0.0
            for i in sel:
                ui = u[k + i].numpy()
                m = c.magmoms[i] + r * ui
                x = m @ m / ms ** 2
                de += (b1 + 2 * b2 * x) * 2 * (m @ ui) / ms ** 2
            terms.append(max(cmin - de / (r * len(sel)), 0.0) ** 2)
            k += c.n_atoms
        assert got == pytest.approx(np.mean(terms), rel=1e-10, abs=1e-14)
        if cmin == 40.0:
            assert got > 0.0
    # no induced site in the batch: zero, with a graph-free tensor
    none = torch.zeros_like(induced)
    assert float(induced_moment_penalty(model, batch, none, 1.0, u, 3.0)) == 0.0


def test_collinear_induced_directions_follow_each_frames_axis():
    """Mixed mode: odd calls give +-a_g per site, a_g the direction of the frame's largest
    moment (z for a frame without moments), both signs occurring, deterministic in (call,
    seed); even calls are the random unit vectors of induced_directions."""
    from mmace_fast.data.graph import collate
    from mmace_fast.training.loss import (collinear_induced_directions, induced_directions,
                                          induced_directions_for, moment_axes)

    def mk(m):
        return Configuration(positions=[[0, 0, 0], [1.4, 1.4, 1.4], [0, 1.4, 1.4],
                                        [1.4, 0, 0]], cell=2.8 * np.eye(3), pbc=[True] * 3,
                             numbers=[24, 24, 7, 7], magmoms=m)

    tilt = np.array([0.6, 0.0, 0.8])
    frames = [mk([[0, 0, 2.4], [0, 0, -2.4], [0, 0, 0.01], [0, 0, -0.01]]),   # axis z
              mk([2.0 * tilt, -2.1 * tilt, [0.1, 0.2, 0.0], [0, 0, 0]]),      # axis -tilt
              mk(np.zeros((4, 3)))]                                           # no moment: z
    batch = collate(frames, 4.0)
    axes = moment_axes(batch.magmoms, batch.batch, batch.n_graphs).numpy()
    # up to sign (a tie between +-2.4 muB may pick either)
    assert np.allclose(np.abs(np.sum(axes * [[0, 0, 1], tilt, [0, 0, 1]], axis=1)), 1.0,
                       atol=1e-12)
    assert np.allclose(axes[1], -tilt, atol=1e-12)              # the larger, -2.1 tilt
    u = collinear_induced_directions(batch.magmoms, batch.batch, batch.n_graphs, 3, seed=2)
    assert torch.equal(u, collinear_induced_directions(batch.magmoms, batch.batch,
                                                       batch.n_graphs, 3, seed=2))
    u = u.numpy()
    for i, g in enumerate(batch.batch.tolist()):
        assert abs(abs(u[i] @ axes[g]) - 1.0) < 1e-12          # +-axis, unit length
    assert {round(float(u[i] @ axes[g])) for i, g in enumerate(batch.batch.tolist())} == {-1, 1}
    assert torch.equal(induced_directions_for("random", batch, 3, 2),
                       induced_directions(len(batch.numbers), 3, 2))
    assert torch.equal(induced_directions_for("mixed", batch, 4, 2),
                       induced_directions(len(batch.numbers), 4, 2))
    assert np.array_equal(induced_directions_for("mixed", batch, 3, 2).numpy(), u)
    with pytest.raises(ValueError, match="direction mode"):
        induced_directions_for("axial", batch, 3, 2)


def test_induced_moment_prior_config_is_validated(tmp_path):
    from mmace_fast.training.config import ConfigError
    for bad in (dict(moment_stability_induced_range=[0.0, 1.0]),
                dict(moment_stability_induced_directions="axial"),
                dict(moment_stability_induced_range=[2.0, 1.0]),
                dict(moment_stability_induced_species=["Al"])):
        with pytest.raises(ConfigError, match="induced"):
            tiny_cfg(tmp_path, moment_stability_weight=1.0, **bad).validate()


def test_stability_scales_fill_the_range():
    from mmace_fast.training.loss import stability_scale
    s = np.array([stability_scale(k, 0.5, 2.5) for k in range(200)])
    assert s.min() >= 0.5 and s.max() <= 2.5 and np.all(np.abs(s - 1) >= 0.02 - 1e-15)
    hist, _ = np.histogram(s, bins=10, range=(0.5, 2.5))
    assert hist.min() >= 15                       # every tenth of the range visited ~20 times
    assert stability_scale(7, 0.5, 2.5) == s[7]   # a pure function of the call count
    with pytest.raises(ConfigError):
        TrainConfig(moment_stability_weight=1.0, moment_stability_range=[1.2, 2.0])


# --------------------------------------------------------------------------------------------
# collapse prior
# --------------------------------------------------------------------------------------------
def _landau_only_model(ms, coeffs):
    model, _ = build_model(dict(TINY_MODEL, species=[13, 26], moment_scale=[ms, ms]))
    with torch.no_grad():
        model.scale.zero_()
    model.set_landau_coefficients(coeffs)
    return model


def _pair(m, numbers=(26, 13), start=None):
    return Configuration(positions=[[0, 0, 0], [1.4, 1.4, 1.4]], cell=2.8 * np.eye(3),
                         pbc=[True] * 3, numbers=list(numbers), magmoms=m, start_magmoms=start)


def test_collapse_penalty_hand_value():
    """Landau-only model, E = sum_i a1 x_i + a2 x_i^2 with x = |m|^2 / ms^2 (per species): on
    the path m(s) = m0 + s d (d = m_start - m0) dE/ds = sum_i (a1 + 2 a2 x_i) 2 (m_i(s) . d_i)
    / ms^2 and c_g = dE/ds / (s sum |d|^2); penalty = mean over frames with d != 0 of
    relu(c - c_g)^2."""
    from mmace_fast.data.graph import collate
    from mmace_fast.training.loss import collapse_penalty
    ms = 0.8
    coeffs = [[0.3, 0.02], [-0.2, 0.05]]              # Al: rising; Fe: a well at x = 2
    model = _landau_only_model(ms, coeffs)
    frames = [_pair([[0.01, 0.0, 0.02], [0.0, 0.0, -0.01]], start=[[0, 0, 1.5], [0, 0, 0]]),
              _pair([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], numbers=(26, 26),
                    start=[[0, 0, 1.5], [0, 0, -1.5]]),
              _pair([[0.0, 0.0, 0.05], [0.0, 0.0, 0.0]], start=[[0, 0, 0.05], [0, 0, 0]])]
    batch = collate(frames, 4.0)
    start = torch.as_tensor(np.concatenate([c.start_magmoms for c in frames]))
    for s, cmin in ((0.1, 0.0), (0.5, 0.01), (1.0, 0.01), (0.9, 2.0)):
        got = float(collapse_penalty(model, batch, start, s, cmin).detach())
        terms = []
        for c in frames:
            d = c.start_magmoms - c.magmoms
            if not np.any(d):
                continue                              # the third frame does not enter
            de_ds = 0.0
            for i, z in enumerate(c.numbers):
                a1, a2 = coeffs[0] if z == 13 else coeffs[1]
                m = c.magmoms[i] + s * d[i]
                x = m @ m / ms ** 2
                de_ds += (a1 + 2 * a2 * x) * 2 * (m @ d[i]) / ms ** 2
            terms.append(max(cmin - de_ds / (s * np.sum(d * d)), 0.0) ** 2)
        assert got == pytest.approx(np.mean(terms), rel=1e-10, abs=1e-14)
        # Fe's well (E falls from m = 0 to x = 2, m = 1.13) is what the prior forbids: the
        # slope is negative on the way down (s <= 0.5); at s = 1 (m = 1.5, past the minimum)
        # it is positive and only a stiffer threshold is violated
        assert (got > 0.0) == (s <= 0.5 or cmin == 2.0)
    # a model whose energy rises from m = 0 on every site passes (zero penalty)
    rising = _landau_only_model(ms, [[0.3, 0.02], [0.2, 0.05]])
    for s in (0.05, 0.5, 1.0):
        assert float(collapse_penalty(rising, batch, start, s, 0.01).detach()) == 0.0


def test_collapsed_frames_selection():
    frames = [_pair(np.zeros((2, 3)), start=[[0, 0, 1.5], [0, 0, 0]]),              # collapsed
              _pair([[0, 0, 0.7], [0, 0, 0]], start=[[0, 0, 1.5], [0, 0, 0]]),     # magnetic
              _pair(np.zeros((2, 3)), start=np.zeros((2, 3))),                      # NM start
              _pair(np.zeros((2, 3))),                                              # unknown
              _pair([[0, 0, 0.05], [0.02, 0, 0]], start=[[0, 0, 0], [0, 1.0, 0]])]  # collapsed
    frames[3].info["non_magnetic"] = True                  # read without moments: zeros
    frames[3].start_magmoms = np.array([[0, 0, 2.2], [0, 0, 0]])
    got = tdata.collapsed_frames(frames, max_moment=0.1, min_start=0.5)
    assert [i for i, f in enumerate(frames) if any(f is c for c in got)] == [0, 4]


def test_reader_keeps_the_starting_moments(tmp_path):
    import ase
    import ase.io
    from mmace_fast.data.readers import starting_moments
    from mmace_fast.data.records import DataError
    frames = []
    for n, init in ((2, np.array([1.5, -1.5])), (1, 2.0), (2, np.array([[0, 0, 1.0], [1, 0, 0]]))):
        a = ase.Atoms("Fe" * n, positions=np.arange(3 * n).reshape(n, 3) * 1.2,
                      cell=3 * np.eye(3), pbc=True)
        a.arrays["REF_magmom"] = np.zeros((n, 3))
        a.info.update(REF_energy=-1.0, initial_magmoms=np.ravel(init) if n > 1 else init)
        frames.append(a)
    path = tmp_path / "s.extxyz"
    ase.io.write(str(path), frames, format="extxyz")
    confs = read_extxyz(path)
    np.testing.assert_array_equal(confs[0].start_magmoms, [[0, 0, 1.5], [0, 0, -1.5]])
    np.testing.assert_array_equal(confs[1].start_magmoms, [[0, 0, 2.0]])
    np.testing.assert_array_equal(confs[2].start_magmoms, [[0, 0, 1.0], [1, 0, 0]])
    assert "initial_magmoms" not in confs[1].info          # a bare number: consumed, not kept
    with pytest.raises(DataError, match="5 values for 2 atoms"):
        starting_moments(np.ones(5), 2, "x")
    with pytest.raises(DataError, match="non-finite"):
        _pair(np.zeros((2, 3)), start=[[0, 0, np.nan], [0, 0, 0]])


def test_collapse_prior_config_is_validated(tmp_path):
    ok = dict(moment_stability_weight=1.0, moment_collapse_prior=True)
    tiny_cfg(tmp_path, **ok).validate()
    for bad, match in ((dict(moment_stability_weight=0.0), "moment_stability_weight"),
                       (dict(moment_collapse_range=[0.0, 1.0]), "moment_collapse_range"),
                       (dict(moment_collapse_range=[0.5, 1.2]), "moment_collapse_range"),
                       (dict(moment_collapse_range=["a", 1.0]), "moment_collapse_range"),
                       (dict(moment_collapse_max_moment=0.6), "max_moment"),
                       (dict(moment_collapse_curvature=-1.0), "moment_collapse_curvature")):
        with pytest.raises(ConfigError, match=match):
            tiny_cfg(tmp_path, **dict(ok, **bad)).validate()


def _with_collapsed_frames(tmp_path) -> str:
    """The shipped 4-atom samples plus two of them relabelled as collapsed: zero converged
    moments, magnetic starting moments on Fe (labels reused: this tests the machinery)."""
    import ase.io
    frames = ase.io.read(XYZ, index=":")
    for a in frames[:2]:
        b = a.copy()
        b.arrays["REF_magmom"] = np.zeros((len(b), 3))
        b.info["initial_magmoms"] = np.where(b.numbers == 26, 1.5, 0.0)
        frames.append(b)
    path = tmp_path / "collapse.extxyz"
    ase.io.write(str(path), frames, format="extxyz")
    return str(path)


def test_collapse_prior_trains_and_resumes_bit_identically(tmp_path):
    data = _with_collapsed_frames(tmp_path)
    over = dict(train_file=data, max_epochs=3, scheduler="cosine", valid_fraction=0.0,
                moment_stability_weight=1.0, moment_stability_range=[0.8, 1.6],
                moment_collapse_prior=True, moment_collapse_curvature=5.0)
    straight = Trainer(tiny_cfg(tmp_path / "a", **over)).setup()
    assert len(straight.collapse_set) == 2
    straight.fit()
    cfg_b = tiny_cfg(tmp_path / "b", **over)
    with pytest.raises(_Killed):
        Trainer(cfg_b).setup().fit(_kill_after(1))
    resumed = Trainer(cfg_b).setup()
    resumed.fit()
    for k, v in straight.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k
    # the prior took part: the same run without it ends with other weights
    off = Trainer(tiny_cfg(tmp_path / "c", **dict(over, moment_collapse_prior=False))).setup()
    assert off.collapse_set == []
    off.fit()
    assert any(not torch.equal(v, off.model.state_dict()[k])
               for k, v in straight.model.state_dict().items())


# ---------------------------------------------------------------- config_type_weights
def test_config_type_weights_multiply_matching_frames():
    a = _conf([26, 13], energy=1.0, config_type="ideal_aniso_001", energy_weight=2.0,
              magforces_weight=0.5)
    b = _conf([26, 13], energy=1.0, config_type="strain_003")
    out, counts = tdata.apply_config_type_weights(
        [a, b], {"ideal_*": {"energy": 3.0, "magforces": 10.0}, "*aniso*": {"all": 2.0},
                 "rattle*": {"forces": 5.0}})
    assert counts == {"ideal_*": 1, "*aniso*": 1, "rattle*": 0}
    # both patterns match a: products, on top of the file's own weights
    assert (out[0].energy_weight, out[0].forces_weight, out[0].stress_weight,
            out[0].magforces_weight) == (12.0, 2.0, 2.0, 10.0)
    assert out[1] is b and a.energy_weight == 2.0          # unmatched kept, input untouched
    t = tdata.make_targets(out)
    assert t.energy_mask.tolist() == [12.0, 1.0]


@pytest.mark.parametrize("bad", [{"x*": {"energie": 2.0}}, {"x*": {"energy": -1.0}},
                                 {"x*": {"energy": float("nan")}}, {"x*": {}}, {"": {"all": 1}},
                                 {"x*": 3.0}, ["x*"]])
def test_config_type_weights_are_validated(tmp_path, bad):
    with pytest.raises(ConfigError):
        tiny_cfg(tmp_path, config_type_weights=bad)


def test_config_type_weights_scale_the_training_loss(tmp_path):
    plain = Trainer(tiny_cfg(tmp_path / "a")).setup()
    doubled = Trainer(tiny_cfg(tmp_path / "b", config_type_weights={"toy_*": {"all": 2.0}})
                      ).setup()
    l1 = evaluate_configs(plain.model, plain.train_set, plain.cutoff, 8, plain.loss_fn)["loss"]
    l2 = evaluate_configs(doubled.model, doubled.train_set, doubled.cutoff, 8,
                          doubled.loss_fn)["loss"]
    assert l1 > 0 and l2 == pytest.approx(2.0 * l1, rel=1e-12)
    with pytest.raises(ConfigError, match="matches no train or valid frame"):
        Trainer(tiny_cfg(tmp_path / "c", config_type_weights={"ideal*": {"energy": 2.0}})
                ).setup()


def test_compressed_weights_roundtrip_and_one_file_only(tmp_path):
    from mmace_fast.model.io import (GZ_WEIGHTS_NAME, WEIGHTS_NAME, ModelFilesError,
                                             save_model)
    model, cfg = build_model(dict(TINY_MODEL, species=[13, 26]))
    save_model(tmp_path / "a", model, cfg, compress=True)
    save_model(tmp_path / "b", model, cfg, compress=True)
    gz_a = (tmp_path / "a" / GZ_WEIGHTS_NAME).read_bytes()
    assert gz_a == (tmp_path / "b" / GZ_WEIGHTS_NAME).read_bytes()        # deterministic
    assert not (tmp_path / "a" / WEIGHTS_NAME).exists()
    loaded, _, _ = load_model(tmp_path / "a")
    ref = model.state_dict()
    for k, v in loaded.state_dict().items():
        assert torch.equal(v, ref[k]), k
    save_model(tmp_path / "a", model, cfg)                 # back to plain: the .gz goes
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["model.json", WEIGHTS_NAME]
    (tmp_path / "a" / GZ_WEIGHTS_NAME).write_bytes(gz_a)   # two weights files: refused
    with pytest.raises(ModelFilesError, match="both"):
        load_model(tmp_path / "a")


def test_diverging_training_stops_with_an_error_and_keeps_the_good_checkpoint(tmp_path, capsys,
                                                                              monkeypatch):
    """Issue 35: a run whose loss becomes non-finite must not report success. One good epoch
    is written, then a learning rate of 1e30 blows the weights up: exit code 2, no 'model
    written', the checkpoint and weights on disk are the good epoch's (finite)."""
    import torch

    from mmace_fast.training.cli import main
    from mmace_fast.training.trainer import TrainingDivergedError, train
    monkeypatch.chdir(Path(__file__).parents[1])
    out_dir = tmp_path / "run"
    base = ["train", "--config", "tests/data/train_example.yaml", "--set", f"out_dir={out_dir}",
            "--set", f"model={json.dumps(TINY_MODEL)}", "--set", "progress=false",
            "--set", "ema=false", "--set", "keep_model=last", "--set", "patience=null"]
    assert main(base + ["--set", "max_epochs=1"]) == 0
    capsys.readouterr()
    good = (out_dir / "checkpoint.pt").read_bytes()
    rc = main(base + ["--set", "max_epochs=4", "--set", "lr=1.0e+30", "--set", "resume=false"])
    assert rc == 2
    assert "model written" not in capsys.readouterr().out
    ck = torch.load(out_dir / "checkpoint.pt", weights_only=False)
    assert all(torch.isfinite(v).all() for v in ck["model"].values()
               if torch.is_tensor(v) and v.is_floating_point())
    del good
    # through the Python API it is an exception, not a return value
    from mmace_fast.training.cli import load_config
    cfg = load_config("tests/data/train_example.yaml",
                      [f"out_dir={tmp_path / 'api'}", f"model={json.dumps(TINY_MODEL)}",
                       "progress=false", "ema=false", "max_epochs=3", "lr=1.0e+30"])
    with pytest.raises(TrainingDivergedError, match="non-finite"):
        train(cfg)


@pytest.mark.parametrize("key, value, match", [
    ("energy_weight", float("nan"), "energy_weight must be finite"),
    ("lr", "fast", "lr must be a number"), ("lr", float("inf"), "lr must be finite"),
    ("batch_size", 2.5, "batch_size must be an integer"), ("max_epochs", True, "integer")])
def test_config_refuses_wrong_types_and_non_finite_values(key, value, match):
    from mmace_fast.training.config import ConfigError, TrainConfig
    with pytest.raises(ConfigError, match=match):
        TrainConfig(train_file=XYZ, **{key: value})


def test_finetune_refits_reference_energies_to_the_new_data(tmp_path):
    """init_e0s="refit": the per-species shifts are the least-squares fit of the pre-trained
    model's residuals, so data shifted by a constant per atom shift them by that constant
    exactly, the weights are untouched, and the saved model carries the new references."""
    import ase.io
    pre_dir = tmp_path / "pre"
    Trainer(tiny_cfg(pre_dir, max_epochs=1, valid_fraction=0.0)).setup().fit()
    frames = ase.io.read(XYZ, index=":")
    shifted = tmp_path / "shifted.extxyz"
    for a in frames:
        a.info["REF_energy"] = a.info["REF_energy"] + 0.5 * len(a)
    ase.io.write(str(shifted), frames, format="extxyz")
    over = dict(init_from=str(pre_dir), init_e0s="refit", valid_fraction=0.0, max_epochs=1)
    same = Trainer(tiny_cfg(tmp_path / "a", **over)).setup()
    moved = Trainer(tiny_cfg(tmp_path / "b", train_file=str(shifted), **over)).setup()
    kept = Trainer(tiny_cfg(tmp_path / "c", train_file=str(shifted),
                            **dict(over, init_e0s="pretrained"))).setup()
    for z in (13, 26):
        assert moved.e0s[z] - same.e0s[z] == pytest.approx(0.5, abs=1e-9)
    assert kept.e0s == {int(k): float(v) for k, v in
                        json.loads((pre_dir / "model.json").read_text())["metadata"]
                        ["e0s"].items()}
    pre_state = torch.load(pre_dir / "model.pt", weights_only=True)
    for k, v in moved.model.state_dict().items():
        if k != "e0":
            assert torch.equal(v, pre_state[k]), k
    # the shifted data is fitted as well as the original: same energy errors
    e_same = evaluate_configs(same.model, same.train_set, same.cutoff, 4)["energy_mae"]
    e_moved = evaluate_configs(moved.model, moved.train_set, moved.cutoff, 4)["energy_mae"]
    assert e_moved == pytest.approx(e_same, rel=1e-9)
    moved.fit()
    saved, cfg, meta = load_model(tmp_path / "b")
    assert list(cfg.e0) == pytest.approx(moved.model.e0.tolist())
    with pytest.raises(ConfigError, match="init_e0s"):
        tiny_cfg(tmp_path / "d", init_e0s="average")
