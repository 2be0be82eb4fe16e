"""Torch-free moment relaxation with a frozen model: minimise the energy over the moments at
fixed positions (L-BFGS, scipy), the energy and -dE/dm from the C++ evaluator.

    from mmace_fast.export import FrozenModel
    from mmace_fast.export.relax import relax_moments
    m, e = relax_moments(FrozenModel.load("feal.mmace"), atoms)     # [n, 3] muB, eV

The same contract as the training-time :func:`mmace_fast.model.relax.relax_moments`: with
``fix_directions=True`` only the signed lengths along the initial directions vary (a zero
initial moment uses the z axis), otherwise the full vectors. Structure relaxation needs no
function of its own: :class:`mmace_fast.calculator.FrozenCalculator` gives forces and stress
to any ASE optimiser.
"""
from __future__ import annotations

import logging

import numpy as np
from scipy.optimize import minimize

from mmace_fast import _core

log = logging.getLogger(__name__)


class RelaxationError(RuntimeError):
    """The minimiser stopped without reaching the gradient tolerance."""


def relax_moments(frozen, atoms=None, *, fix_directions: bool = False, max_steps: int = 500,
                  gtol: float = 1e-9, strict: bool = False, **arrays) -> tuple[np.ndarray, float]:
    """(moments [n, 3] muB, energy eV) at the minimum reached from the structure's moments.

    frozen: a :class:`mmace_fast.export.FrozenModel`; the structure as ``atoms`` (initial
    magnetic moments) or keyword arrays (:meth:`FrozenModel.structure`). gtol: max |dE/d
    variable| (eV/muB) to stop at. Not converged within ``max_steps``: a warning, or
    :class:`RelaxationError` with ``strict``."""
    st = frozen.structure(atoms, **arrays)
    i, j, s = frozen.edges(st.positions, st.cell, st.pbc)
    h = _core.FrozenMMACECore(frozen.core, st.positions, st.cell, st.numbers, i, j, s,
                              st.magmoms)
    m0 = st.magmoms                                                  # [n, 3] muB
    if fix_directions:
        norm = np.linalg.norm(m0, axis=1)                            # [n] muB
        direction = np.where(norm[:, None] > 0, m0 / np.where(norm > 0, norm, 1.0)[:, None],
                             np.array([0.0, 0.0, 1.0]))              # [n, 3]
        x0 = norm.copy()

        def moments(x):
            return x[:, None] * direction

        def grad(field):
            return -(field * direction).sum(axis=1)
    else:
        x0 = m0.reshape(-1).copy()

        def moments(x):
            return x.reshape(-1, 3)

        def grad(field):
            return -field.reshape(-1)

    def fun(x):
        h.set_spins(moments(x))
        return h.total_energy(), grad(h.effective_field())

    res = minimize(fun, x0, jac=True, method="L-BFGS-B",
                   options=dict(maxiter=max_steps, maxfun=2 * max_steps, gtol=gtol, ftol=0.0,
                                maxcor=50))
    e, g = fun(res.x)
    worst = float(np.abs(g).max()) if g.size else 0.0
    if worst > 10 * gtol:
        msg = (f"relax_moments: max |dE/dm| = {worst:.3g} eV/muB after {res.nit} steps (gtol "
               f"{gtol:.1g}): {res.message}")
        if strict:
            raise RelaxationError(msg)
        log.warning(msg)
    return moments(res.x).copy(), float(e)
