"""Training checkpoints: plain tensors and containers only, written atomically.

A checkpoint is ``torch.save`` of a dict

    {"format", "epoch", "train_config" (JSON str), "model_config" (JSON str), "model" (state_dict),
     "ema", "optimizer", "scheduler" (state_dicts), "rng" {"torch", "shuffle"} (uint8 tensors),
     "state" (best loss, early-stopping counter, history), "e0s", "stats"}

and loads with ``torch.load(..., weights_only=True)``: no module, class or function is pickled.
It is written to ``checkpoint.pt.tmp`` and renamed, so a kill leaves the previous checkpoint.
"""
from __future__ import annotations

from pathlib import Path

import torch

from mmace_fast.model.io import atomic_write_bytes

CHECKPOINT_FORMAT = "mmace_fast.checkpoint/2"
#: written before the softplus Landau parametrisation (converted on load, see mmace_fast.model.io)
LEGACY_CHECKPOINT_FORMAT = "mmace_fast.checkpoint/1"
CHECKPOINT_NAME = "checkpoint.pt"

_PLAIN = (str, int, float, bool, type(None), torch.Tensor)


def assert_plain(obj, path: str = "checkpoint") -> None:
    """Raise TypeError if ``obj`` holds anything but tensors, numbers, strings and containers."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"{path}: key {k!r} of type {type(k).__name__}")
            assert_plain(v, f"{path}.{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            assert_plain(v, f"{path}[{i}]")
    elif not isinstance(obj, _PLAIN):
        raise TypeError(f"{path}: {type(obj).__module__}.{type(obj).__name__} is not plain data")


def save_checkpoint(path, ckpt: dict) -> None:
    ckpt = dict(ckpt, format=CHECKPOINT_FORMAT)
    assert_plain(ckpt)
    atomic_write_bytes(Path(path), lambda p: torch.save(ckpt, p))


def load_checkpoint(path) -> dict:
    """Read a checkpoint; a legacy (``/1``) one has its model and EMA weights converted to the
    softplus Landau parametrisation (optimiser moments are kept as they are)."""
    ckpt = torch.load(Path(path), map_location="cpu", weights_only=True)
    fmt = ckpt.get("format") if isinstance(ckpt, dict) else None
    if fmt not in (CHECKPOINT_FORMAT, LEGACY_CHECKPOINT_FORMAT):
        raise ValueError(f"{path}: not a {CHECKPOINT_FORMAT} checkpoint")
    if fmt == LEGACY_CHECKPOINT_FORMAT:
        from mmace_fast.model.io import upgrade_state_dict
        ckpt["model"] = upgrade_state_dict(ckpt["model"], fmt, str(path))
        if ckpt.get("ema"):
            ckpt["ema"]["shadow"] = upgrade_state_dict(ckpt["ema"]["shadow"], fmt, str(path))
        ckpt["format"] = CHECKPOINT_FORMAT
    return ckpt
