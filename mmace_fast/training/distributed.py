"""Data-parallel training over processes: one global batch, split across the ranks.

Launch: ``torchrun --nproc_per_node N -m mmace_fast.training train --config cfg.yaml`` (or any
launcher that sets ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``). Without
those variables, or with ``WORLD_SIZE=1``, training is the single-process trainer unchanged.

What makes N ranks give the single-process result (to rounding, tested to 1e-10 in float64):

* every rank draws the same shuffle (the trainer's seeded generator) and so the same sequence
  of global batches of ``batch_size`` frames; rank r takes the r-th contiguous share of each,
  the shares balanced by atoms (:meth:`DistContext.shard`, the distributed sampler), so the
  global batch does not depend on the number of ranks;
* every loss term is a masked mean over the global batch: each rank sums its share and divides
  by the global count (:class:`mmace_fast.training.loss.WeightedLoss` takes the counts; the
  moment priors return sums and counts), so the rank losses add up to the global loss;
* the gradients of the rank losses are summed over the ranks (one all-reduce of one flat
  buffer per step) before clipping and the optimiser step, so every rank applies the same
  update to the same weights; the EMA, the scheduler and early stopping follow identically;
* random directions of the induced-moment prior are drawn for the whole global batch and each
  rank takes its rows;
* metrics are sums reduced over the ranks; rank 0 alone writes checkpoints and models, in the
  single-process format, so a run resumes on any number of ranks.

Gradients are summed explicitly rather than through ``DistributedDataParallel``: the loss
differentiates forces and magnetic forces (double backward through ``autograd.grad``), the
global-count normalisation is the loss's own, and a rank whose share of a short last batch is
empty must still take part in the reduction; an explicit all-reduce does all three plainly.
Backend: gloo (the trainer runs on the CPU).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

log = logging.getLogger(__name__)

#: environment variables a launcher (torchrun, mpirun + env, Slurm scripts) sets
LAUNCH_ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


class DistributedError(RuntimeError):
    """The process group cannot be set up as the environment asks."""


@dataclass(frozen=True)
class DistContext:
    """Rank and world size of this training process (rank 0 of 1 without a launcher)."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def bounds(self, weights: Sequence[float]) -> tuple[int, int]:
        """[first, last) of this rank's contiguous share of items of cost ``weights`` (e.g.
        atoms per frame): item k goes to rank floor(W (c_k + w_k / 2) / C), c_k the cost
        before it and C the total, so the shares carry about equal cost and are contiguous.
        Equal weights give shares differing in length by at most one; a share may be empty."""
        n, w = len(weights), self.world_size
        if w == 1 or n == 0:
            return (0, n)
        c = np.cumsum(np.asarray(weights, dtype=float))
        total = c[-1]
        if not total > 0:
            c, total = np.arange(1, n + 1, dtype=float), float(n)
        mid = c - 0.5 * np.diff(np.concatenate([[0.0], c]))
        owner = np.minimum((w * mid / total).astype(int), w - 1)          # [n] non-decreasing
        return (int(np.searchsorted(owner, self.rank, "left")),
                int(np.searchsorted(owner, self.rank, "right")))

    def shard(self, items: Sequence, weights: Sequence[float] | None = None) -> list:
        """This rank's contiguous share of ``items`` (:meth:`bounds`; equal weights when
        none are given)."""
        first, last = self.bounds([1.0] * len(items) if weights is None else weights)
        return list(items[first:last])

    def shard_offset(self, sizes: Sequence[int], weights: Sequence[float] | None = None
                     ) -> tuple[int, int]:
        """(start, stop) of this rank's share (:meth:`shard` with the same ``weights``) in the
        concatenation of items of ``sizes`` (e.g. atom rows of the global batch)."""
        first, last = self.bounds([1.0] * len(sizes) if weights is None else weights)
        return int(sum(sizes[:first])), int(sum(sizes[:last]))

    def sum_(self, t: torch.Tensor) -> torch.Tensor:
        """``t`` summed over the ranks, in place (unchanged on one rank); returns ``t``."""
        if self.active:
            import torch.distributed as dist
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t

    def sum_floats(self, values: Sequence[float]) -> list[float]:
        """Python floats summed over the ranks (one all-reduce)."""
        if not self.active:
            return [float(v) for v in values]
        t = torch.tensor([float(v) for v in values], dtype=torch.float64)
        return self.sum_(t).tolist()

    def sum_grads(self, params: Sequence[torch.nn.Parameter], loss: float) -> float:
        """Sum the gradients of ``params`` and the rank losses over the ranks in one
        all-reduce of one flat buffer; returns the global loss. A parameter without a gradient
        on every rank keeps none (the optimiser skips it, as on one rank); one with a gradient
        somewhere gets the sum, absent gradients counting as zero (a rank with an empty share
        still takes part)."""
        if not self.active:
            return float(loss)
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        has = [0.0 if p.grad is None else 1.0 for p in params]
        flat = torch.cat([g.detach().reshape(-1).to(torch.float64) for g in grads] +
                         [torch.tensor(has + [float(loss)], dtype=torch.float64)])
        self.sum_(flat)
        k = 0
        for p, h in zip(params, flat[-len(params) - 1:-1].tolist()):
            n = p.numel()
            p.grad = flat[k:k + n].view_as(p).to(p.dtype).clone() if h > 0 else None
            k += n
        return float(flat[-1])

    def barrier(self) -> None:
        if self.active:
            import torch.distributed as dist
            dist.barrier()


def context_from_env() -> DistContext:
    """The process group the launcher asked for: set up (gloo) when ``WORLD_SIZE`` > 1, else
    the one-process context. Missing or inconsistent launch variables raise
    :class:`DistributedError` with what is missing."""
    world = os.environ.get("WORLD_SIZE")
    if world is None or int(world) <= 1:
        return DistContext()
    missing = [k for k in LAUNCH_ENV if not os.environ.get(k)]
    if missing:
        raise DistributedError(f"WORLD_SIZE={world} but {missing} not set: launch with "
                               "torchrun --nproc_per_node N -m mmace_fast.training train ...")
    import torch.distributed as dist
    if not dist.is_available():
        raise DistributedError("this torch build has no torch.distributed")
    if not dist.is_initialized():
        if not dist.is_gloo_available():
            raise DistributedError("torch.distributed has no gloo backend in this build")
        dist.init_process_group("gloo")
    ctx = DistContext(dist.get_rank(), dist.get_world_size())
    if ctx.world_size != int(world):
        raise DistributedError(f"process group has {ctx.world_size} ranks, WORLD_SIZE={world}")
    log.info("data-parallel training: rank %d of %d (gloo)", ctx.rank, ctx.world_size)
    return ctx


def shutdown(ctx: DistContext) -> None:
    """Leave the process group (no-op on one rank)."""
    if ctx.active:
        import torch.distributed as dist
        if dist.is_initialized():
            dist.destroy_process_group()
