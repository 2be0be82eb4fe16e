"""Exponential moving average of model parameters (written here; no torch-ema dependency).

    shadow <- d * shadow + (1 - d) * param,   d = min(decay, (1 + n) / (10 + n))

after the n-th optimiser step (the warm-up lets early averages follow the fast-moving weights).
Only parameters that require gradients are averaged; frozen ones are copied unchanged.
"""
from __future__ import annotations

import contextlib

import torch


class EMA:
    def __init__(self, model: torch.nn.Module, decay: float = 0.99):
        if not 0.0 <= decay < 1.0:
            raise ValueError("EMA decay must be in [0, 1)")
        self.decay = float(decay)
        self.num_updates = 0
        self.shadow = {k: p.detach().clone() for k, p in model.named_parameters()}

    def current_decay(self) -> float:
        n = self.num_updates
        return min(self.decay, (1.0 + n) / (10.0 + n))

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        d = self.current_decay()
        for k, p in model.named_parameters():
            if p.requires_grad:
                self.shadow[k].mul_(d).add_(p.detach(), alpha=1.0 - d)
        self.num_updates += 1

    @torch.no_grad()
    def copy_to(self, model: torch.nn.Module) -> None:
        for k, p in model.named_parameters():
            p.copy_(self.shadow[k])

    @contextlib.contextmanager
    def applied(self, model: torch.nn.Module):
        """Temporarily load the averaged weights into ``model``."""
        backup = {k: p.detach().clone() for k, p in model.named_parameters()}
        self.copy_to(model)
        try:
            yield model
        finally:
            with torch.no_grad():
                for k, p in model.named_parameters():
                    p.copy_(backup[k])

    def state_dict(self) -> dict:
        return {"decay": self.decay, "num_updates": self.num_updates,
                "shadow": {k: v.clone() for k, v in self.shadow.items()}}

    def load_state_dict(self, state: dict) -> None:
        missing = set(self.shadow) - set(state["shadow"])
        if missing:
            raise KeyError(f"EMA state lacks parameters {sorted(missing)}")
        self.decay = float(state["decay"])
        self.num_updates = int(state["num_updates"])
        for k in self.shadow:
            self.shadow[k].copy_(state["shadow"][k])
