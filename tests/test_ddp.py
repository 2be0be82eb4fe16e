"""Data-parallel training (mmace_fast.training.distributed): torchrun with 2 processes gives
the single-process weights, losses and metrics to 1e-10 in float64, with every loss term and
moment prior on; a run resumes on another number of ranks; the shards partition the batch.

The 2-rank runs are real ``torchrun --standalone`` launches of the training CLI (gloo).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mmace_fast.training.config import ConfigError, TrainConfig
from mmace_fast.training.distributed import DistContext, DistributedError, context_from_env
from mmace_fast.training.trainer import Trainer
from test_training import _with_collapsed_frames as _collapse_data  # noqa: E402

DATA = Path(__file__).parent / "data"
XYZ = str(DATA / "fe_al_noncollinear.extxyz")

TINY_MODEL = dict(r_cut=4.0, n_bessel=4, radial_mlp=[8], n_channels=4, l_max_sh=1,
                  l_max_message=1, l_max_hidden=0, n_layers=1, correlation=2, readout_mlp=[4],
                  l_spin_max=1, spin_pair_l_max=1, n_mag_features=2)

TOL = 1e-10


def _cfg(tmp_path, out: str, data: str, **over) -> dict:
    # batch 3: the last global batch of an epoch is short and with 2 ranks one share of the
    # validation batch is empty; every prior on; lr changes every epoch (cosine)
    d = dict(train_file=data, model=dict(TINY_MODEL), out_dir=str(tmp_path / out),
             max_epochs=3, batch_size=3, valid_batch_size=4, valid_fraction=0.2,
             progress=False, seed=5, lr=0.01, scheduler="cosine", clip_grad=10.0,
             moment_stability_weight=1.0, moment_stability_range=[0.8, 1.6],
             moment_stability_curvature=10.0, moment_stability_induced_species=[13],
             moment_stability_induced_directions="mixed", moment_collapse_prior=True,
             moment_collapse_curvature=5.0)
    d.update(over)
    return d


def _torchrun(tmp_path, cfg: dict, nproc: int, name: str) -> None:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(cfg))
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env["OMP_NUM_THREADS"] = "1"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc_per_node={nproc}", "-m", "mmace_fast.training", "train",
           "--config", str(path)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]


def _single(cfg: dict) -> Trainer:
    tr = Trainer(TrainConfig(**cfg), DistContext()).setup()
    tr.fit()
    return tr


def _ckpt(cfg: dict) -> dict:
    return torch.load(Path(cfg["out_dir"]) / "checkpoint.pt", weights_only=True)


def _assert_same_run(a: dict, b: dict) -> None:
    """Two checkpoints of the same training: weights, EMA, optimiser moments, history."""
    for k, v in a["model"].items():
        assert torch.allclose(v, b["model"][k], rtol=0, atol=TOL), k
    for k, v in a["ema"]["shadow"].items():
        assert torch.allclose(v, b["ema"]["shadow"][k], rtol=0, atol=TOL), k
    for k, st in a["optimizer"]["state"].items():
        for name in ("exp_avg", "exp_avg_sq"):
            assert torch.allclose(st[name], b["optimizer"]["state"][k][name], rtol=0,
                                  atol=TOL), (k, name)
    assert a["epoch"] == b["epoch"]
    assert a["state"]["stability_calls"] == b["state"]["stability_calls"]
    for ha, hb in zip(a["state"]["history"], b["state"]["history"], strict=True):
        assert ha["lr"] == pytest.approx(hb["lr"], abs=1e-15)
        for part in ("train", "valid"):
            for key, x in ha[part].items():
                y = hb[part][key]
                if x is None or y is None:
                    assert x is None and y is None, (part, key)
                else:
                    assert y == pytest.approx(x, rel=1e-10, abs=1e-12), (part, key)
    assert torch.equal(a["rng"]["shuffle"], b["rng"]["shuffle"])


def test_shards_partition_every_batch():
    for n in range(0, 8):
        sizes = list(range(1, n + 1))
        for w in range(1, 5):
            shards = [DistContext(r, w).shard(list(range(n))) for r in range(w)]
            assert sum(shards, []) == list(range(n))
            assert max(map(len, shards)) - min(map(len, shards)) <= 1
            offs = [DistContext(r, w).shard_offset(sizes) for r in range(w)]
            assert offs[0][0] == 0 and offs[-1][1] == sum(sizes)
            assert all(offs[r][1] == offs[r + 1][0] for r in range(w - 1))
            for r in range(w):
                assert offs[r][1] - offs[r][0] == sum(sizes[i] for i in shards[r])
            # shares balanced by cost: contiguous, covering, no rank above its fair share by
            # more than the largest item
            cost = [float(x) for x in np.random.default_rng(n + 10 * w).integers(1, 20, n)]
            wsh = [DistContext(r, w).shard(list(range(n)), cost) for r in range(w)]
            assert sum(wsh, []) == list(range(n))
            woffs = [DistContext(r, w).shard_offset(sizes, cost) for r in range(w)]
            for r in range(w):
                load = sum(cost[i] for i in wsh[r])
                assert load <= sum(cost) / w + max(cost, default=0.0) + 1e-12
                assert woffs[r][1] - woffs[r][0] == sum(sizes[i] for i in wsh[r])
            assert all(woffs[r][1] == woffs[r + 1][0] for r in range(w - 1))


def test_two_ranks_give_the_single_process_training(tmp_path):
    data = _collapse_data(tmp_path)
    one = _cfg(tmp_path, "one", data)
    straight = _single(one)
    assert len(straight.collapse_set) == 2 and straight.state.stability_calls > 0
    two = _cfg(tmp_path, "two", data)
    _torchrun(tmp_path, two, 2, "two")
    _assert_same_run(_ckpt(one), _ckpt(two))
    # rank 0 alone wrote the model files and the metrics, in the one-process format
    final_one = json.loads((Path(one["out_dir"]) / "final_metrics.json").read_text())
    final_two = json.loads((Path(two["out_dir"]) / "final_metrics.json").read_text())
    for split, metrics in final_one.items():
        for key, x in metrics.items():
            y = final_two[split][key]
            assert (x is None and y is None) or y == pytest.approx(x, rel=1e-10), (split, key)
    a = torch.load(Path(one["out_dir"]) / "model.pt", weights_only=True)
    b = torch.load(Path(two["out_dir"]) / "model.pt", weights_only=True)
    assert all(torch.allclose(a[k], b[k], rtol=0, atol=TOL) for k in a)


def test_a_run_resumes_on_another_number_of_ranks(tmp_path):
    # the first leg stops by max_epochs (a cosine schedule's length is max_epochs, so a
    # plateau one here: its state carries over as a killed run's would)
    data = _collapse_data(tmp_path)
    straight = _cfg(tmp_path, "straight", data, seed=7, scheduler="plateau",
                    scheduler_patience=0, lr_factor=0.5)
    _single(straight)
    # one epoch on 2 ranks, then the rest in one process ...
    mixed = dict(straight, out_dir=str(tmp_path / "mixed"), max_epochs=1)
    _torchrun(tmp_path, mixed, 2, "mixed1")
    assert _ckpt(mixed)["epoch"] == 1
    _single(dict(mixed, max_epochs=3))
    _assert_same_run(_ckpt(straight), _ckpt(mixed))
    # ... and one epoch in one process, then the rest on 2 ranks
    back = dict(straight, out_dir=str(tmp_path / "back"), max_epochs=1)
    _single(back)
    _torchrun(tmp_path, dict(back, max_epochs=3), 2, "back3")
    _assert_same_run(_ckpt(straight), _ckpt(back))


def test_half_set_launch_environment_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    for k in ("RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(k, raising=False)
    with pytest.raises(DistributedError, match="torchrun"):
        context_from_env()
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert context_from_env() == DistContext()


def test_device_other_than_cpu_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="CPU only"):
        TrainConfig(**_cfg(tmp_path, "x", XYZ, device="cuda"))
