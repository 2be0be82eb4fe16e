"""Calibration of predicted uncertainties against held-out errors (numpy / scipy, no torch).

Inputs are flat arrays of signed errors ``err`` (prediction - reference) and predicted spreads
``sigma`` (> 0) in the same unit, e.g. energy per atom or force components.

- :func:`fit_scale`: a scalar recalibration a of the spread, fitted on the validation split
  and applied to the test split (Musil et al., J. Chem. Theory Comput. 15, 906 (2019)
  recalibrate committee spreads by one factor, there by maximum likelihood; the default here
  matches the 1-sigma coverage instead, see the function).
- :func:`gaussian_nll`, :func:`coverage`, :func:`rank_correlation`, :func:`binned`,
  :func:`worst_captured` and :func:`report`, which collects them.
"""
from __future__ import annotations

import math

import numpy as np

#: fraction of a Gaussian within one standard deviation
ONE_SIGMA = math.erf(1 / math.sqrt(2))


def _pair(err, sigma) -> tuple[np.ndarray, np.ndarray]:
    err = np.asarray(err, dtype=float).ravel()
    sigma = np.asarray(sigma, dtype=float).ravel()
    if err.shape != sigma.shape:
        raise ValueError(f"err {err.shape} and sigma {sigma.shape} differ in size")
    if err.size == 0:
        raise ValueError("no errors to calibrate against")
    if not (np.all(np.isfinite(err)) and np.all(np.isfinite(sigma))):
        raise ValueError("errors and spreads must be finite")
    if np.any(sigma < 0):
        raise ValueError("spreads must be >= 0")
    return err, sigma


def _positive(sigma: np.ndarray, floor: float) -> np.ndarray:
    if not np.any(sigma > 0):
        raise ValueError("every spread is 0: identical members carry no uncertainty to "
                         "calibrate")
    return np.maximum(sigma, floor * np.max(sigma))


SCALE_METHODS = ("coverage", "nll")


def fit_scale(err, sigma, method: str = "coverage", floor: float = 1e-6) -> float:
    """Scalar a making ``a sigma`` a calibrated 1-sigma bar on these errors.

    "coverage" (default): the 68.27 % quantile of |err| / sigma, so that a sigma covers a
    Gaussian's share of the errors whatever their tails (committee errors are heavy-tailed: on
    the synthetic spin-Hamiltonian committee of tests/test_committee.py the NLL scale covers
    73-88 % of held-out errors). "nll": a^2 = mean(err^2 / sigma^2), the maximum likelihood
    scale of N(0, (a sigma)^2), which the largest errors dominate. Spreads below ``floor`` x
    their maximum are floored."""
    err, sigma = _pair(err, sigma)
    sigma = _positive(sigma, floor)
    z = np.abs(err) / sigma
    if method == "coverage":
        return float(np.quantile(z, ONE_SIGMA))
    if method == "nll":
        return float(np.sqrt(np.mean(z ** 2)))
    raise ValueError(f"method must be one of {SCALE_METHODS}, got {method!r}")


def gaussian_nll(err, sigma, floor: float = 1e-6) -> float:
    """Mean negative log-likelihood of err under N(0, sigma^2) (in nats, unit of err)."""
    err, sigma = _pair(err, sigma)
    sigma = _positive(sigma, floor)
    return float(np.mean(0.5 * np.log(2 * np.pi * sigma ** 2) + 0.5 * (err / sigma) ** 2))


def coverage(err, sigma, k: float = 1.0) -> float:
    """Fraction of |err| <= k sigma (a calibrated Gaussian: 0.683 for k = 1)."""
    err, sigma = _pair(err, sigma)
    return float(np.mean(np.abs(err) <= k * sigma))


def rank_correlation(err, sigma) -> float:
    """Spearman rank correlation of sigma and |err| (1: the spread orders the errors)."""
    from scipy.stats import spearmanr
    err, sigma = _pair(err, sigma)
    if err.size < 3 or np.all(sigma == sigma[0]):
        return float("nan")
    return float(spearmanr(sigma, np.abs(err)).statistic)


def binned(err, sigma, n_bins: int = 5) -> list[dict]:
    """Equal-count bins of increasing sigma: mean sigma, RMS error and count per bin (a
    calibrated spread has rmse ~ sigma in every bin)."""
    err, sigma = _pair(err, sigma)
    order = np.argsort(sigma, kind="stable")
    rows = []
    for idx in np.array_split(order, min(n_bins, err.size)):
        rows.append(dict(sigma=float(np.sqrt(np.mean(sigma[idx] ** 2))),
                         rmse=float(np.sqrt(np.mean(err[idx] ** 2))), n=int(idx.size)))
    return rows


def worst_captured(err, sigma, fraction: float = 0.1) -> float:
    """Of the ``fraction`` largest |err|, the share that is also among the ``fraction`` largest
    sigma (random spreads: ``fraction``; a perfect ranking: 1)."""
    err, sigma = _pair(err, sigma)
    n = max(1, int(round(fraction * err.size)))
    worst = set(np.argsort(-np.abs(err), kind="stable")[:n].tolist())
    flagged = set(np.argsort(-sigma, kind="stable")[:n].tolist())
    return len(worst & flagged) / n


def report(err, sigma, scale: float = 1.0, n_bins: int = 5) -> dict:
    """Every figure above for errors against ``scale`` x sigma (scale from :func:`fit_scale` on
    other frames)."""
    err, sigma = _pair(err, sigma)
    s = scale * sigma
    return dict(n=int(err.size), rmse=float(np.sqrt(np.mean(err ** 2))),
                mean_sigma=float(np.sqrt(np.mean(s ** 2))), scale=float(scale),
                nll=gaussian_nll(err, s), coverage_1sigma=coverage(err, s),
                coverage_2sigma=coverage(err, s, 2.0), spearman=rank_correlation(err, sigma),
                worst10_captured=worst_captured(err, sigma), bins=binned(err, s, n_bins))
