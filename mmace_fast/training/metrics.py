"""Error metrics (MAE / RMSE) accumulated over batches, and the per-epoch table.

Units in the table: energy meV/atom, forces meV/A (per component), stress meV/A^3 (per
component), magnetic forces meV/muB (per defined component).
"""
from __future__ import annotations

import math

import torch

from mmace_fast.training.data import Targets

#: (key, label, unit) in table order
QUANTITIES = (("energy", "E", "meV/atom"), ("forces", "F", "meV/A"),
              ("stress", "S", "meV/A^3"), ("magforces", "M", "meV/muB"))


class ErrorAccumulator:
    """Sums of |d| and d^2 (in eV units) per quantity over labelled entries."""

    def __init__(self):
        self.sums = {k: [0.0, 0.0, 0] for k, _, _ in QUANTITIES}   # abs, sq, count
        self.loss_sum, self.loss_count = 0.0, 0

    def _add(self, key, diff: torch.Tensor, mask: torch.Tensor):
        sel = diff[mask > 0]
        if sel.numel():
            s = self.sums[key]
            s[0] += float(sel.abs().sum())
            s[1] += float((sel * sel).sum())
            s[2] += sel.numel()

    @torch.no_grad()
    def add(self, out: dict, t: Targets, loss: float | None = None, n_graphs: int = 1):
        self._add("energy", (out["energy"].detach() - t.energy) / t.n_atoms, t.energy_mask)
        if "forces" in out:
            self._add("forces", out["forces"].detach() - t.forces, t.forces_mask)
        if "stress" in out:
            self._add("stress", out["stress"].detach() - t.stress, t.stress_mask)
        if "magforces" in out:
            self._add("magforces", out["magforces"].detach() - t.magforces, t.magforces_mask)
        if loss is not None:
            self.add_loss(loss, n_graphs)

    def add_loss(self, loss: float, n_graphs: int) -> None:
        """A batch loss weighted by its number of graphs (in data-parallel training: a rank's
        part of the global batch's loss, weighted by the global batch's graphs)."""
        self.loss_sum += loss * n_graphs
        self.loss_count += n_graphs

    def reduce(self, ctx) -> None:
        """Sum the error sums and the loss over the ranks of ``ctx``
        (:class:`mmace_fast.training.distributed.DistContext`); the graph count of the loss is
        the global batches' already, the same on every rank."""
        if not ctx.active:
            return
        keys = [k for k, _, _ in QUANTITIES]
        flat = [x for k in keys for x in self.sums[k]] + [self.loss_sum]
        total = ctx.sum_floats(flat)
        for n, k in enumerate(keys):
            a, sq, c = total[3 * n:3 * n + 3]
            self.sums[k] = [a, sq, int(round(c))]
        self.loss_sum = total[-1]

    def result(self) -> dict:
        """{'loss', 'energy_mae', 'energy_rmse', ...} in meV units; NaN where no labels."""
        out = {"loss": self.loss_sum / self.loss_count if self.loss_count else math.nan}
        for key, (a, sq, n) in self.sums.items():
            out[f"{key}_mae"] = 1e3 * a / n if n else math.nan
            out[f"{key}_rmse"] = 1e3 * math.sqrt(sq / n) if n else math.nan
        return out


def table_header() -> str:
    cols = [f"{'epoch':>5}", f"{'lr':>9}", f"{'train_loss':>11}", f"{'valid_loss':>11}"]
    for _, label, unit in QUANTITIES:
        cols.append(f"{label + ' MAE/RMSE [' + unit + ']':>27}")
    return " ".join(cols)


def table_row(epoch: int, lr: float, train: dict, valid: dict) -> str:
    def num(x, w=11):
        return f"{'-':>{w}}" if x is None or math.isnan(x) else f"{x:>{w}.4g}"
    cols = [f"{epoch:>5d}", f"{lr:>9.3g}", num(train.get("loss")), num(valid.get("loss"))]
    for key, _, _ in QUANTITIES:
        mae, rmse = valid.get(f"{key}_mae", math.nan), valid.get(f"{key}_rmse", math.nan)
        cell = "-" if math.isnan(mae) else f"{mae:.4g} / {rmse:.4g}"
        cols.append(f"{cell:>27}")
    return " ".join(cols)


def error_table(results: dict[str, dict]) -> str:
    """Table of MAE / RMSE per data set name (for the evaluate command)."""
    w = max([10] + [len(str(k)) for k in results])
    head = f"{'set':<{w}} {'n':>5} " + " ".join(
        f"{label + ' MAE':>12} {label + ' RMSE':>12}" for _, label, _ in QUANTITIES)
    units = f"{'':<{w}} {'':>5} " + " ".join(f"{unit:>12} {unit:>12}"
                                             for _, _, unit in QUANTITIES)
    lines = [head, units]
    for name, r in results.items():
        vals = []
        for key, _, _ in QUANTITIES:
            for stat in ("mae", "rmse"):
                x = r.get(f"{key}_{stat}", math.nan)
                vals.append(f"{'-':>12}" if x is None or math.isnan(x) else f"{x:>12.4f}")
        lines.append(f"{name:<{w}} {r.get('n_configs', 0):>5d} " + " ".join(vals))
    return "\n".join(lines)
