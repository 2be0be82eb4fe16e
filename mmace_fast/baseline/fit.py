"""Regularised linear least squares for the baselines: rows, ridge path, k-fold CV, covariance.

Rows and weights
----------------
Each labelled quantity q of frame g gives rows of A theta ~ y, weighted by sqrt(w_q c_g) where
w_q = 1 / sigma_q^2 is the per-quantity weight (sigma_q the expected misfit of that quantity) and
c_g the frame's own weight (``config_*_weight`` of the data). The loss is a weighted sum of
squares (not a mean per quantity, so that it is a Gaussian likelihood and the covariance below
is meaningful):

    energy     one row per frame: (E_pred - E_ref) / N_atoms    (eV/atom; per-atom weighting:
               a frame counts once whatever its size, sigma_E is an error per atom)
    forces     3 N rows (eV/A)
    stress     6 rows, Voigt xx yy zz yz xz xy (eV/A^3)
    magforces  the defined components (``magforces_mask``) (eV/muB)

Ridge and cross-validation
--------------------------
Columns are standardised, c_j = rms of column j over the weighted rows, and the objective is

    || W (A theta - y) ||^2 + lambda n_rows sum_j p_j c_j^2 theta_j^2,

p_j = 1 except for weakly penalised parameters (reference energies E0: p = 1e-6), so lambda is
relative to the data (lambda = 1: a prior as strong as the data). lambda is chosen on a log grid
by k-fold cross-validation over frames (all rows of a frame in one fold), minimising the summed
squared weighted error of the held-out rows. The path is computed from one SVD per fold.

Uncertainties
-------------
Bayesian ridge posterior: Cov(theta) = s^2 (A_w^T A_w + lambda n P)^-1, with the noise scale
s^2 = RSS_w / (n_rows - tr H) from the weighted residuals and the effective number of
parameters tr H (the hat matrix of the regularised fit). With w_q = 1/sigma_q^2 correct up to a
common factor this is the covariance of the fitted constants; where the data do not determine a
direction of parameter space its variance falls back to the prior s^2 / (lambda n p_j c_j^2),
and ``prior_fraction`` (posterior / prior variance, 0 = fully determined, 1 = prior only) says so.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from mmace_fast.baseline.design import FrameDesign

log = logging.getLogger(__name__)

QUANTITIES = ("energy", "forces", "stress", "magforces")
_VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


class FitError(ValueError):
    """Fitting cannot proceed (no rows, bad weights, bad grid)."""


@dataclass
class QuantityWeights:
    """Per-quantity weights w_q = 1 / sigma_q^2 (units: (eV/atom)^-2, (eV/A)^-2, (eV/A^3)^-2,
    (eV/muB)^-2). A weight 0 drops the quantity. Defaults: sigma = 2 meV/atom, 50 meV/A,
    5 meV/A^3 (0.8 GPa), 50 meV/muB."""

    energy: float = 1.0 / 0.002 ** 2
    forces: float = 1.0 / 0.05 ** 2
    stress: float = 1.0 / 0.005 ** 2
    magforces: float = 1.0 / 0.05 ** 2

    @classmethod
    def from_sigmas(cls, **sigmas) -> "QuantityWeights":
        kw = {}
        for q, s in sigmas.items():
            if q not in QUANTITIES:
                raise FitError(f"unknown quantity {q!r}")
            if s is None:
                kw[q] = 0.0
            elif s <= 0:
                raise FitError(f"sigma of {q} must be positive")
            else:
                kw[q] = 1.0 / float(s) ** 2
        return cls(**kw)

    def sigmas(self) -> dict:
        return {q: (float(getattr(self, q)) ** -0.5 if getattr(self, q) > 0 else None)
                for q in QUANTITIES}


@dataclass
class Rows:
    """Stacked rows of several frames (unweighted) with their weights.

    A [R, p], y [R], sqrt_w [R] (row weight), frame [R] frame index, kind [R] index into
    QUANTITIES.
    """

    A: np.ndarray
    y: np.ndarray
    sqrt_w: np.ndarray
    frame: np.ndarray
    kind: np.ndarray

    def subset(self, mask) -> "Rows":
        return Rows(self.A[mask], self.y[mask], self.sqrt_w[mask], self.frame[mask],
                    self.kind[mask])

    @property
    def Aw(self):
        return self.A * self.sqrt_w[:, None]

    @property
    def yw(self):
        return self.y * self.sqrt_w


def frame_rows(block: FrameDesign, config, weights: QuantityWeights, frame: int = 0,
               quantities: Sequence[str] = QUANTITIES) -> Rows:
    """Rows of one frame: ``block`` its design, ``config`` a Configuration-like with labels."""
    As, ys, ws, ks = [], [], [], []
    n = block.n_atoms

    def add(a, y, w, q):
        As.append(a)
        ys.append(y)
        ws.append(np.full(len(y), np.sqrt(w)))
        ks.append(np.full(len(y), QUANTITIES.index(q)))

    w_frame = {q: float(getattr(config, f"{q}_weight", 1.0)) for q in QUANTITIES}
    if ("energy" in quantities and weights.energy > 0
            and getattr(config, "energy", None) is not None):
        add(block.energy[None, :] / n, np.array([config.energy / n]),
            weights.energy * w_frame["energy"], "energy")
    if ("forces" in quantities and weights.forces > 0 and block.forces is not None
            and getattr(config, "forces", None) is not None):
        add(block.forces.reshape(3 * n, -1), np.asarray(config.forces).reshape(-1),
            weights.forces * w_frame["forces"], "forces")
    if ("stress" in quantities and weights.stress > 0 and block.stress is not None
            and getattr(config, "stress", None) is not None):
        s = np.asarray(config.stress)
        add(np.stack([block.stress[a, b] for a, b in _VOIGT]),
            np.array([s[a, b] for a, b in _VOIGT]), weights.stress * w_frame["stress"], "stress")
    if ("magforces" in quantities and weights.magforces > 0 and block.magforces is not None
            and getattr(config, "magforces", None) is not None):
        mask = getattr(config, "magforces_mask", None)
        mask = np.ones((n, 3), bool) if mask is None else np.asarray(mask, bool)
        add(block.magforces[mask], np.asarray(config.magforces)[mask],
            weights.magforces * w_frame["magforces"], "magforces")
    p = block.energy.shape[0]
    if not As:
        return Rows(np.zeros((0, p)), np.zeros(0), np.zeros(0), np.zeros(0, int),
                    np.zeros(0, int))
    A = np.concatenate(As)
    return Rows(A, np.concatenate(ys), np.concatenate(ws), np.full(len(A), frame),
                np.concatenate(ks))


def stack_rows(rows: Sequence[Rows]) -> Rows:
    rows = list(rows)
    if not rows:
        raise FitError("no frames to fit")
    return Rows(*(np.concatenate([getattr(r, f) for r in rows])
                  for f in ("A", "y", "sqrt_w", "frame", "kind")))


# ------------------------------------------------------------------------------------- ridge
def default_lambdas() -> np.ndarray:
    return np.logspace(-12, 2, 29)


@dataclass
class _Standard:
    scale: np.ndarray      # [p] sqrt(p_j) c_j
    absent: np.ndarray     # [p] bool, column zero in the data


def _standardise(Aw, penalty) -> _Standard:
    c = np.sqrt(np.mean(Aw ** 2, axis=0))
    absent = c == 0
    c = np.where(absent, 1.0, c)
    return _Standard(np.sqrt(np.asarray(penalty, float)) * c, absent)


def _ridge_path(Aw, yw, st: _Standard, lambdas):
    """theta for each lambda  # [L, p]; plus the SVD pieces."""
    At = Aw / st.scale[None, :]
    u, s, vt = np.linalg.svd(At, full_matrices=False)
    uty = u.T @ yw
    n = len(yw)
    lam = np.asarray(lambdas)[:, None] * n
    phi = (s[None, :] / (s[None, :] ** 2 + lam) * uty[None, :]) @ vt      # [L, p]
    return phi / st.scale[None, :], (s, vt)


@dataclass
class RidgeFit:
    """Result of :func:`ridge_cv`.

    theta [p], cov [p, p], lam (chosen), sigma2 (noise scale s^2), dof (tr H),
    prior_fraction [p], lambdas [L], cv_score [L] (mean held-out weighted squared error per
    row), cv_sem [L] (standard error over folds), n_rows, rss_w.
    """

    theta: np.ndarray
    cov: np.ndarray
    lam: float
    sigma2: float
    dof: float
    prior_fraction: np.ndarray
    lambdas: np.ndarray
    cv_score: np.ndarray
    cv_sem: np.ndarray
    n_rows: int
    rss_w: float
    absent: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    prior_var: np.ndarray = field(default_factory=lambda: np.zeros(0))   #: [p] prior variances

    @property
    def sigma(self) -> np.ndarray:
        return np.sqrt(np.clip(np.diag(self.cov), 0, None))


def folds_of(frames, n_folds: int, seed: int) -> np.ndarray:
    """Fold index per unique frame id (random, balanced)."""
    uniq = np.unique(frames)
    k = int(min(max(n_folds, 2), len(uniq)))
    if len(uniq) < 2:
        raise FitError("cross-validation needs at least two frames")
    perm = np.random.default_rng(seed).permutation(len(uniq))
    fold_of_frame = np.empty(len(uniq), dtype=np.int64)
    fold_of_frame[perm] = np.arange(len(uniq)) % k
    return fold_of_frame[np.searchsorted(uniq, frames)]


def ridge_cv(rows: Rows, penalty, lambdas=None, n_folds: int = 5, seed: int = 0,
             lam: Optional[float] = None) -> RidgeFit:
    """Ridge fit with lambda from k-fold CV over frames (or fixed ``lam``)."""
    if len(rows.y) == 0:
        raise FitError("no labelled rows to fit")
    lambdas = default_lambdas() if lambdas is None else np.sort(np.asarray(lambdas, float))
    if np.any(lambdas <= 0):
        raise FitError("regularisation grid must be positive")
    Aw, yw = rows.Aw, rows.yw
    st = _standardise(Aw, penalty)
    score = np.full(len(lambdas), np.nan)
    sem = np.full(len(lambdas), np.nan)
    if lam is None:
        fold = folds_of(rows.frame, n_folds, seed)
        per_fold = []
        for k in np.unique(fold):
            tr, te = fold != k, fold == k
            thetas, _ = _ridge_path(Aw[tr], yw[tr], st, lambdas)
            res = Aw[te] @ thetas.T - yw[te][:, None]                     # [R_te, L]
            per_fold.append((np.sum(res ** 2, axis=0), te.sum()))
        sse = np.array([s for s, _ in per_fold])                          # [k, L]
        cnt = np.array([c for _, c in per_fold], float)
        score = sse.sum(axis=0) / cnt.sum()
        mse_k = sse / cnt[:, None]
        sem = mse_k.std(axis=0, ddof=1) / np.sqrt(len(cnt)) if len(cnt) > 1 else sem
        best = int(np.nanargmin(score))
        lam = float(lambdas[best])
        log.info("CV (%d folds) picks lambda = %.3g (score %.4g)", len(cnt), lam, score[best])
    thetas, (s, vt) = _ridge_path(Aw, yw, st, [lam])
    theta = thetas[0]
    n = len(yw)
    rss = float(np.sum((Aw @ theta - yw) ** 2))
    shrink = s ** 2 / (s ** 2 + lam * n)
    dof = float(shrink.sum())
    sigma2 = rss / max(n - dof, 1.0)
    cov_phi = (vt.T / (s ** 2 + lam * n)[None, :]) @ vt                   # [p, p]
    # directions outside the row space of A: prior only
    p = Aw.shape[1]
    if len(s) < p:
        q, _ = np.linalg.qr(vt.T, mode="complete")
        null = q[:, len(s):]
        cov_phi = cov_phi + null @ null.T / (lam * n)
    cov = sigma2 * cov_phi / np.outer(st.scale, st.scale)
    prior_var = sigma2 / (lam * n * st.scale ** 2)
    frac = np.diag(cov) / prior_var
    return RidgeFit(theta, cov, lam, sigma2, dof, frac, lambdas, score, sem, n, rss,
                    st.absent, prior_var)
