"""Moment relaxation: minimise the model energy over the moments at fixed positions (LBFGS).

Predicts ground-state moments, e.g. B2 FeAl (GGA: ~0.7 muB on Fe, ~0 on Al). With
``fix_directions=True`` only the signed lengths along the initial directions vary (collinear
relaxation; a zero initial moment uses the z axis); otherwise the full vectors vary.
"""
from __future__ import annotations

import logging
from typing import Tuple

import numpy as np
import torch

from mmace_fast.data.graph import collate
from mmace_fast.data.records import Configuration, DataError

logger = logging.getLogger(__name__)


def relax_moments(model, config: Configuration, fix_directions: bool = False,
                  max_steps: int = 500, gtol: float = 1e-9, history: int = 50
                  ) -> Tuple[np.ndarray, float]:
    """(magmoms  # [n, 3] muB, energy eV) at the moment minimum reached from ``config.magmoms``.

    gtol: stop when max |dE/d(variable)| < gtol (eV/muB). Logs a warning if not converged.
    """
    if config.magmoms is None:
        raise DataError(f"relax_moments needs initial moments ({config.source or 'config'})")
    batch = collate([config], model.config.r_cut)
    m0 = batch.magmoms.detach().clone()                       # [n, 3] muB
    if fix_directions:
        norm = m0.norm(dim=1, keepdim=True)
        zhat = torch.zeros_like(m0)
        zhat[:, 2] = 1.0
        direction = torch.where(norm > 0, m0 / torch.where(norm > 0, norm, 1.0), zhat)
        var = norm.squeeze(1).clone().requires_grad_(True)    # [n] signed lengths

        def moments(v):
            return v.unsqueeze(1) * direction
    else:
        var = m0.clone().requires_grad_(True)

        def moments(v):
            return v

    opt = torch.optim.LBFGS([var], lr=1.0, max_iter=max_steps, max_eval=2 * max_steps,
                            tolerance_grad=gtol, tolerance_change=1e-16, history_size=history,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        e = model(batch.with_magmoms(moments(var)), forces=False)["energy"].sum()
        (g,) = torch.autograd.grad(e, var)
        var.grad = g
        return e

    opt.step(closure)
    e = model(batch.with_magmoms(moments(var)), forces=False)["energy"].sum()
    (g,) = torch.autograd.grad(e, var)
    if float(g.abs().max()) > 10 * gtol:
        logger.warning("relax_moments: max |dE/dm| = %.3g eV/muB after %d steps (gtol %.1g)",
                       float(g.abs().max()), max_steps, gtol)
    return moments(var).detach().numpy().copy(), float(e.detach())
