"""Error analysis for Monte Carlo time series (pure NumPy).

Three independent tools, all for a series ``x  # [n_samples]`` or ``[n_samples, k]`` (k columns
analysed separately) of correlated samples taken in Monte Carlo time order:

* :func:`integrated_autocorr_time` -- tau_int with Sokal's automatic window.
  Convention: ``tau_int = 1/2 + sum_{t>=1} rho(t)``, so that the variance of the mean is
  ``var(mean) = 2 tau_int sigma^2 / n``. An AR(1) process with coefficient phi has
  ``tau_int = (1 + phi) / (2 (1 - phi))``; uncorrelated data have ``tau_int = 1/2``.
* :func:`blocking_error` -- Flyvbjerg-Petersen blocking (J. Chem. Phys. 91, 461 (1989)) of the
  standard error of the mean, with the automatic plateau test of Jonsson (Phys. Rev. E 98,
  043304 (2018)).
* :func:`jackknife` -- block jackknife for any smooth function of means (susceptibility,
  specific heat, Binder cumulant, ...), with bias correction.

:func:`summarize` turns the per-sample arrays that the Monte Carlo engine records into the
observables of one temperature with error bars (a flat ``dict`` of floats, one row of a
:class:`mmace_fast.mc.table.ScanTable`).

Units: energies in eV, temperatures in K (kT = ``KB_EV_PER_K`` * T), moments in whatever unit the
magnetisation samples carry (muB for moment vectors, dimensionless for unit spins).
"""
from __future__ import annotations

import logging
from typing import Callable, NamedTuple, Sequence

import numpy as np
from scipy import stats as _sps

from mmace_fast.conventions import KB_EV_PER_K

logger = logging.getLogger(__name__)

#: a tau_int estimate counts as converged only when the series is at least this many tau long
MIN_SAMPLES_PER_TAU: float = 50.0

__all__ = [
    "StatsError",
    "TauResult",
    "BlockingResult",
    "JackknifeResult",
    "autocorrelation",
    "integrated_autocorr_time",
    "blocking_error",
    "jackknife",
    "susceptibility",
    "specific_heat",
    "binder_cumulant",
    "summarize",
    "weighted_mean",
]


class StatsError(ValueError):
    """Bad input to an error-analysis routine (too short, non-finite, wrong shape, ...)."""


class TauResult(NamedTuple):
    """Integrated autocorrelation time (scalars, or arrays [k] for a [n, k] input)."""

    tau: np.ndarray | float        #: tau_int in samples (1/2 for uncorrelated data)
    tau_err: np.ndarray | float    #: statistical error of tau_int (Madras-Sokal estimate)
    window: np.ndarray | int       #: summation window M chosen by the automatic criterion
    converged: np.ndarray | bool   #: False when the window hit n/4 without M >= c tau(M)


class BlockingResult(NamedTuple):
    """Blocking analysis of the standard error of the mean."""

    error: np.ndarray | float          #: standard error of the mean at the chosen level
    level: np.ndarray | int            #: chosen blocking level (0 = raw data)
    converged: np.ndarray | bool       #: whether the plateau test passed at some level
    errors: np.ndarray                 #: [n_levels(, k)] naive error of the mean per level
    errors_err: np.ndarray             #: [n_levels(, k)] error of those errors


class JackknifeResult(NamedTuple):
    """Block-jackknife estimate of a function of means."""

    value: np.ndarray | float   #: bias-corrected estimate  n_b f(all) - (n_b - 1) mean_b f(-b)
    error: np.ndarray | float   #: jackknife standard error
    naive: np.ndarray | float   #: f evaluated on the full-sample means (not bias corrected)
    bias: np.ndarray | float    #: estimated bias of ``naive`` (naive - value)


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------
def _as_series(x, name: str = "x", min_len: int = 2) -> np.ndarray:
    """float64 copy-free view of a [n] or [n, k] series, checked finite and long enough."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim not in (1, 2):
        raise StatsError(f"{name} must have shape [n_samples] or [n_samples, k], got {a.shape}")
    if a.shape[0] < min_len:
        raise StatsError(f"{name} needs at least {min_len} samples, got {a.shape[0]}")
    if not np.all(np.isfinite(a)):
        raise StatsError(f"{name} contains NaN or inf")
    return a


# --------------------------------------------------------------------------------------------
# autocorrelation
# --------------------------------------------------------------------------------------------
def autocorrelation(x) -> np.ndarray:
    """Normalised autocorrelation function rho(t), t = 0..n-1, by FFT.

    ``x  # [n]`` or ``[n, k]``; returns the same shape, rho(0) = 1. Uses the biased estimator
    (divide by n at every lag), which has smaller mean-square error at large lags. A constant
    column (zero variance) gives rho = 1 at t = 0 and 0 elsewhere.
    """
    a = _as_series(x)
    n = a.shape[0]
    d = a - a.mean(axis=0)
    nfft = 1 << int(np.ceil(np.log2(2 * n)))          # zero-pad: no circular wrap-around
    f = np.fft.rfft(d, n=nfft, axis=0)
    acov = np.fft.irfft(f * np.conj(f), n=nfft, axis=0)[:n] / n
    c0 = acov[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(c0 > 0, acov / np.where(c0 > 0, c0, 1.0), 0.0)
    rho[0] = 1.0
    return rho


def _tau_column(rho: np.ndarray, n: int, c: float) -> tuple[float, float, int, bool]:
    """Sokal window for one column of rho."""
    taus = 0.5 + np.cumsum(rho[1:])           # taus[M-1] = tau_int(M)
    m = np.arange(1, taus.size + 1)
    max_window = max(1, n // 4)
    ok = (m >= c * taus) & (m <= max_window)
    if np.any(ok):
        window = int(m[np.argmax(ok)])
        converged = True
    else:
        window = int(min(max_window, taus.size))
        converged = False
    tau = float(max(taus[window - 1], 0.5 / n))   # guard: a negative sum means "uncorrelated"
    tau_err = tau * np.sqrt(2.0 * (2 * window + 1) / n)
    # a short series makes the biased ACF decay early, so the window criterion can be met
    # spuriously: also require n >= MIN_SAMPLES_PER_TAU * tau (emcee's rule of thumb)
    converged = converged and n >= MIN_SAMPLES_PER_TAU * tau
    return tau, tau_err, window, converged


def integrated_autocorr_time(x, c: float = 5.0) -> TauResult:
    """Integrated autocorrelation time with Sokal's automatic window.

    Parameters
    ----------
    x : array [n_samples] or [n_samples, k]
        Time series in Monte Carlo order (one sample per measurement).
    c : float
        Window constant: the smallest M with M >= c * tau_int(M) is used (5-6 is standard;
        larger c is safer for slowly decaying tails, noisier).

    Returns
    -------
    TauResult
        ``tau`` (in units of the sampling interval; 1/2 = uncorrelated), ``tau_err`` =
        tau * sqrt(2 (2M + 1) / n) (Madras-Sokal), the window M, and ``converged`` (False when
        no M <= n/4 satisfied the criterion or n < ``MIN_SAMPLES_PER_TAU`` * tau: the series is
        too short for its correlation time; a warning is logged and tau is likely a lower bound).
    """
    if not np.isfinite(c) or c <= 0:
        raise StatsError(f"window constant c must be positive and finite, got {c}")
    a = _as_series(x, min_len=8)
    n = a.shape[0]
    rho = autocorrelation(a)
    if a.ndim == 1:
        tau, err, w, conv = _tau_column(rho, n, c)
        if not conv:
            logger.warning("tau_int window did not converge (n=%d, tau>=%.3g): run longer", n, tau)
        return TauResult(tau, err, w, conv)
    cols = [_tau_column(rho[:, j], n, c) for j in range(a.shape[1])]
    tau, err, w, conv = (np.array(v) for v in zip(*cols))
    if not np.all(conv):
        logger.warning("tau_int window did not converge for %d of %d columns (n=%d)",
                       int(np.sum(~conv)), conv.size, n)
    return TauResult(tau, err, w, conv)


# --------------------------------------------------------------------------------------------
# blocking
# --------------------------------------------------------------------------------------------
def _blocking_column(x: np.ndarray,
                     alpha: float) -> tuple[float, int, bool, np.ndarray, np.ndarray]:
    """Flyvbjerg-Petersen levels plus Jonsson's M-test for one column."""
    levels_err, levels_err_err, ns, s2s, gammas = [], [], [], [], []
    y = x.copy()
    while y.size >= 2:
        n = y.size
        mu = y.mean()
        d = y - mu
        s2 = float(np.dot(d, d) / n)                       # biased variance
        gamma = float(np.dot(d[:-1], d[1:]) / n)           # lag-1 autocovariance
        var_mean = s2 / (n - 1)                            # unbiased var(mean) if uncorrelated
        levels_err.append(np.sqrt(var_mean))
        levels_err_err.append(np.sqrt(var_mean) / np.sqrt(2.0 * (n - 1)))
        ns.append(n)
        s2s.append(s2)
        gammas.append(gamma)
        m = n // 2
        y = 0.5 * (y[0:2 * m:2] + y[1:2 * m:2])            # drop the odd last element
    errs = np.array(levels_err)
    errs_err = np.array(levels_err_err)
    ns_a, s2_a, g_a = np.array(ns, float), np.array(s2s), np.array(gammas)
    if np.all(s2_a[0] == 0.0):
        return 0.0, 0, True, errs, errs_err
    # Jonsson's statistic: M_j = sum_{k>=j} n_k ((n_k - 1) s2_k / n_k^2 + gamma_k)^2 / s2_k^2,
    # chi^2 distributed with (d - j) degrees of freedom when levels >= j are uncorrelated.
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = ns_a * ((ns_a - 1.0) * s2_a / ns_a ** 2 + g_a) ** 2 / s2_a ** 2
    terms = np.where(np.isfinite(terms), terms, 0.0)
    d = terms.size
    m_stat = np.cumsum(terms[::-1])[::-1]
    # use only levels with enough blocks for the chi^2 approximation and a usable error
    last_ok = max(0, int(np.searchsorted(-ns_a, -16.0, side="right")) - 1)
    for j in range(min(d, last_ok + 1)):
        if m_stat[j] < _sps.chi2.ppf(1.0 - alpha, d - j):
            return float(errs[j]), j, True, errs, errs_err
    j = last_ok
    return float(errs[j]), j, False, errs, errs_err


def blocking_error(x, alpha: float = 0.01) -> BlockingResult:
    """Standard error of the mean of correlated data by blocking.

    The series is repeatedly halved by averaging neighbouring pairs (an odd last element is
    dropped at each level); the naive error sqrt(s^2 / (n_k - 1)) grows with the level k until
    blocks are longer than the correlation time, then plateaus. The plateau is chosen with
    Jonsson's M-test at significance ``alpha``: the first level from which all higher levels look
    uncorrelated (lag-1 autocovariance consistent with zero). Levels with fewer than 16 blocks are
    not chosen; if no level passes, the last level with >= 16 blocks is returned with
    ``converged = False`` and a warning (the series is too short).

    Parameters
    ----------
    x : array [n_samples] or [n_samples, k]
    alpha : float
        Significance level of the plateau test (0.01 default).

    Returns
    -------
    BlockingResult
        error (same unit as x), chosen level, converged flag and per-level errors with their
        errors (``errors`` [n_levels] or [n_levels, k]).
    """
    if not 0.0 < alpha < 1.0:
        raise StatsError(f"alpha must be in (0, 1), got {alpha}")
    a = _as_series(x, min_len=4)
    if a.ndim == 1:
        err, lev, conv, errs, errs_err = _blocking_column(a, alpha)
        if not conv:
            logger.warning("blocking found no plateau (n=%d): error %.3g is a lower bound",
                           a.shape[0], err)
        return BlockingResult(err, lev, conv, errs, errs_err)
    cols = [_blocking_column(a[:, j], alpha) for j in range(a.shape[1])]
    err, lev, conv = (np.array(v) for v in list(zip(*cols))[:3])
    errs = np.stack([c[3] for c in cols], axis=1)
    errs_err = np.stack([c[4] for c in cols], axis=1)
    if not np.all(conv):
        logger.warning("blocking found no plateau for %d of %d columns", int(np.sum(~conv)),
                       conv.size)
    return BlockingResult(err, lev, conv, errs, errs_err)


# --------------------------------------------------------------------------------------------
# jackknife
# --------------------------------------------------------------------------------------------
def jackknife(func: Callable[..., object], *series, n_blocks: int = 50) -> JackknifeResult:
    """Block jackknife of ``func(mean(series[0]), mean(series[1]), ...)``.

    Parameters
    ----------
    func : callable
        Receives one argument per series: its mean over the sample axis (a float for a [n]
        series, an array [k...] for [n, k...]), returns a float or an array.
    *series : arrays with the same first dimension n_samples
        E.g. ``jackknife(lambda m, m2: m2 - m**2, m, m**2)``.
    n_blocks : int
        Number of contiguous blocks (2 <= n_blocks <= n_samples); the samples are truncated to
        a multiple of n_blocks (the last ``n % n_blocks`` samples are dropped). Blocks should be
        much longer than the autocorrelation time: 20-100 blocks is typical.

    Returns
    -------
    JackknifeResult
        ``value`` = bias-corrected estimate n_b f(all) - (n_b - 1) <f(-b)>, ``error`` =
        sqrt((n_b - 1)/n_b sum_b (f(-b) - <f(-b)>)^2), ``naive`` = f(all), ``bias`` = naive - value.
    """
    if len(series) == 0:
        raise StatsError("jackknife needs at least one series")
    if int(n_blocks) != n_blocks or n_blocks < 2:
        raise StatsError(f"n_blocks must be an integer >= 2, got {n_blocks}")
    n_blocks = int(n_blocks)
    arrs = [np.asarray(s, dtype=np.float64) for s in series]
    n = arrs[0].shape[0] if arrs[0].ndim else 0
    for i, a in enumerate(arrs):
        if a.ndim == 0 or a.shape[0] != n:
            raise StatsError(f"series {i} has shape {a.shape}; all series need first dim {n}")
        if not np.all(np.isfinite(a)):
            raise StatsError(f"series {i} contains NaN or inf")
    if n < n_blocks:
        raise StatsError(f"n_blocks={n_blocks} exceeds the number of samples {n}")
    b = n // n_blocks
    block_means = [a[: b * n_blocks].reshape((n_blocks, b) + a.shape[1:]).mean(axis=1)
                   for a in arrs]
    totals = [bm.mean(axis=0) for bm in block_means]
    naive = np.asarray(func(*totals), dtype=np.float64)
    loo = []
    for k in range(n_blocks):
        args = [(tot * n_blocks - bm[k]) / (n_blocks - 1) for tot, bm in zip(totals, block_means)]
        loo.append(np.asarray(func(*args), dtype=np.float64))
    loo_a = np.stack(loo)                                   # [n_blocks, ...]
    loo_mean = loo_a.mean(axis=0)
    err = np.sqrt((n_blocks - 1) / n_blocks * np.sum((loo_a - loo_mean) ** 2, axis=0))
    value = n_blocks * naive - (n_blocks - 1) * loo_mean
    out = [value, err, naive, naive - value]
    if naive.ndim == 0:
        out = [float(v) for v in out]
    return JackknifeResult(*out)


# --------------------------------------------------------------------------------------------
# thermodynamic observables
# --------------------------------------------------------------------------------------------
def _kt_ev(temperature_K: float) -> float:
    t = float(temperature_K)
    if not np.isfinite(t) or t <= 0:
        raise StatsError(f"temperature must be finite and > 0 K, got {temperature_K}")
    return t * KB_EV_PER_K


def _check_n_sites(n_sites) -> int:
    if int(n_sites) != n_sites or n_sites < 1:
        raise StatsError(f"n_sites must be a positive integer, got {n_sites}")
    return int(n_sites)


def _vector_norm(m, name: str) -> np.ndarray:
    a = np.asarray(m, dtype=np.float64)
    if a.ndim == 1:
        return np.abs(a)
    if a.ndim == 2 and a.shape[1] % 3 == 0 and a.shape[1] > 0:
        return np.linalg.norm(a, axis=1)
    raise StatsError(f"{name} must be [n_samples, 3 k] vectors (k staggered patterns) or "
                     f"[n_samples] norms, got {a.shape}")


def susceptibility(m, n_sites: int, temperature_K: float, n_blocks: int = 50) -> JackknifeResult:
    """Per-site susceptibility from the order-parameter fluctuations.

    chi = N (<|m|^2> - <|m|>^2) / kT, with m the magnetisation per site (samples
    ``m  # [n, 3]`` vectors or ``[n]`` norms, unit [m] = muB or dimensionless for unit spins),
    N = n_sites and kT in eV: chi in [m]^2 / eV per site. (This is the finite-lattice
    "chi prime" built on |m|, whose peak locates the pseudo-critical temperature.) For unit
    spins and exchange J in eV, chi * J is the dimensionless chi of the literature.
    """
    n = _check_n_sites(n_sites)
    kt = _kt_ev(temperature_K)
    a = _vector_norm(m, "m")
    return jackknife(lambda m1, m2: n * (m2 - m1 * m1) / kt, a, a * a, n_blocks=n_blocks)


def specific_heat(energy_total, n_sites: int, temperature_K: float,
                  n_blocks: int = 50) -> JackknifeResult:
    """Per-site specific heat in units of k_B.

    C / k_B = (<E^2> - <E>^2) / (N (kT)^2), with ``energy_total  # [n] eV`` the total energy of
    the N = n_sites lattice and kT in eV: dimensionless per site (multiply by ``KB_EV_PER_K``
    for eV/K per site). The low-T classical Heisenberg ferromagnet gives C/k_B -> 1.
    """
    n = _check_n_sites(n_sites)
    kt = _kt_ev(temperature_K)
    e = np.asarray(energy_total, dtype=np.float64)
    if e.ndim != 1:
        raise StatsError(f"energy_total must be [n_samples], got {e.shape}")
    e0 = float(np.mean(e)) if e.size else 0.0           # shift: avoids cancellation in E^2
    d = e - e0
    return jackknife(lambda e1, e2: (e2 - e1 * e1) / (n * kt * kt), d, d * d, n_blocks=n_blocks)


def binder_from_moments(m2, m4, n_components: int = 3):
    """U4 from <m^2> and <m^4> on the 3-component scale: 1 - r3 / 3 with r = <m^4> / <m^2>^2
    and r3 = 1 + (r - 1) n / 3 for an n-component order parameter. n = 3: the usual
    1 - <m^4> / (3 <m^2>^2); any n: 2/3 for a fixed-length (ordered) parameter, 4/9 for an
    isotropic Gaussian (disordered) one, so that the thresholds of the Tc protocol mean the same
    for an order parameter made of several staggered vectors (the domains of an
    antiferromagnet, mmace_fast.mc.lattice.domain_weights). The map is linear in r: crossings
    of U4 curves are those of r."""
    r = m4 / (m2 * m2)
    return 1.0 - (1.0 + (r - 1.0) * (n_components / 3.0)) / 3.0


def binder_cumulant(m, n_blocks: int = 50, n_components: int | None = None) -> JackknifeResult:
    """Binder cumulant U4 (:func:`binder_from_moments`) of ``m  # [n, c]`` vectors (c
    components) or ``[n]`` norms of an ``n_components``-component parameter (default 3); any
    unit: U4 is dimensionless. Limits: 2/3 ordered (fixed length), 4/9 disordered (Gaussian).
    """
    arr = np.asarray(m)
    if n_components is None:
        n_components = arr.shape[1] if arr.ndim == 2 else 3
    a = _vector_norm(m, "m")
    a2 = a * a
    return jackknife(lambda m2, m4: binder_from_moments(m2, m4, n_components), a2, a2 * a2,
                     n_blocks=n_blocks)


# --------------------------------------------------------------------------------------------
# summary of one temperature
# --------------------------------------------------------------------------------------------
def _mean_with_error(x: np.ndarray) -> tuple[float, float, float]:
    """mean, blocking error, tau_int of a [n] series (tau NaN when the series is too short)."""
    mean = float(np.mean(x))
    if x.shape[0] < 8:
        return mean, float("nan"), float("nan")
    err = float(blocking_error(x).error)
    tau = float(integrated_autocorr_time(x).tau)
    return mean, err, tau


def _add_order_parameter(out: dict, prefix: str, m: np.ndarray, n_sites: int,
                         temperature_K: float, n_blocks: int) -> None:
    norm = np.linalg.norm(m, axis=1)                                  # [n]
    (out[f"{prefix}_abs"], out[f"{prefix}_abs_err"],
     out[f"tau_{prefix}_abs"]) = _mean_with_error(norm)
    for c, comp in enumerate("xyz"):
        mean, err, _ = _mean_with_error(m[:, c])
        out[f"{prefix}_{comp}"], out[f"{prefix}_{comp}_err"] = mean, err
    chi = susceptibility(norm, n_sites, temperature_K, n_blocks)
    out[f"chi_{prefix}"], out[f"chi_{prefix}_err"] = chi.value, chi.error
    u4 = binder_cumulant(norm, n_blocks, n_components=m.shape[1])
    out[f"u4_{prefix}"], out[f"u4_{prefix}_err"] = u4.value, u4.error


def summarize(series: dict, n_sites: int, temperature_K: float, n_blocks: int = 50) -> dict:
    """Observables with error bars of one Monte Carlo run at one temperature.

    Parameters
    ----------
    series : dict of per-sample arrays, one entry per measurement, in Monte Carlo order
        ``"energy"``         [n] eV, total energy of the lattice (required);
        ``"magnetisation"``  [n, 3], magnetisation per site (1/N) sum_i m_i, muB (or
                             dimensionless for unit spins) (required);
        ``"staggered"``      [n, 3 k], optional staggered magnetisation per site (k patterns:
                             the domains of an order; the order parameter is the norm)
                             (1/N) sum_i s_i m_i with the sublattice signs s_i = +-1;
        ``"acceptance"``     [n] or scalar, optional acceptance ratio per sample.
    n_sites : int
        Number of spins N.
    temperature_K : float
        Temperature in K (> 0).
    n_blocks : int
        Jackknife blocks for chi, C and U4 (reduced to n_samples // 4 for short series).

    Returns
    -------
    dict of float
        ``temperature_K, n_sites, n_samples``;
        ``e_per_site, e_per_site_err`` (eV), ``tau_e`` (samples);
        ``c_kb, c_kb_err`` specific heat per site in k_B (see :func:`specific_heat`);
        ``m_abs, m_abs_err, tau_m_abs`` <|m|>; ``m_x, m_y, m_z`` (+ ``_err``) the mean vector;
        ``chi_m, chi_m_err`` per-site susceptibility in [m]^2/eV (see :func:`susceptibility`);
        ``u4_m, u4_m_err`` Binder cumulant;
        with ``"staggered"`` the same keys with prefix ``ms`` (``ms_abs``, ``chi_ms``,
        ``u4_ms``...);
        with ``"acceptance"``: ``acceptance``.
        Errors of means are from blocking, of chi, C, U4 from the block jackknife.
    """
    if not isinstance(series, dict):
        raise StatsError("series must be a dict of per-sample arrays")
    for key in ("energy", "magnetisation"):
        if key not in series:
            raise StatsError(f"series is missing required key {key!r} (has {sorted(series)})")
    known = {"energy", "magnetisation", "staggered", "acceptance"}
    unknown = set(series) - known
    if unknown:
        raise StatsError(f"unknown series keys {sorted(unknown)}; expected a subset of "
                         f"{sorted(known)}")
    n_sites = _check_n_sites(n_sites)
    _kt_ev(temperature_K)
    e = _as_series(series["energy"], "energy", min_len=8)
    if e.ndim != 1:
        raise StatsError(f"energy must be [n_samples], got {e.shape}")
    n = e.shape[0]
    nb = int(min(n_blocks, n // 4))
    mags = {"m": series["magnetisation"]}
    if "staggered" in series and series["staggered"] is not None:
        mags["ms"] = series["staggered"]
    for prefix, arr in list(mags.items()):
        a = _as_series(arr, prefix, min_len=8)
        ok = a.shape == (n, 3) or (prefix == "ms" and a.ndim == 2 and a.shape[0] == n
                                   and a.shape[1] % 3 == 0 and a.shape[1] > 0)
        if not ok:
            raise StatsError(f"{prefix} magnetisation must be [{n}, 3] like energy "
                             f"([{n}, 3 k] for k staggered patterns), got {a.shape}")
        mags[prefix] = a
    out: dict = {"temperature_K": float(temperature_K), "n_sites": n_sites, "n_samples": n}
    e_site = e / n_sites
    out["e_per_site"], out["e_per_site_err"], out["tau_e"] = _mean_with_error(e_site)
    c = specific_heat(e, n_sites, temperature_K, nb)
    out["c_kb"], out["c_kb_err"] = c.value, c.error
    for prefix, a in mags.items():
        _add_order_parameter(out, prefix, a, n_sites, temperature_K, nb)
    taus = [out[k] for k in ("tau_e", "tau_m_abs", "tau_ms_abs") if k in out]
    tau_max = max((t for t in taus if np.isfinite(t)), default=float("nan"))
    if np.isfinite(tau_max) and n // max(nb, 1) < 10.0 * tau_max:
        logger.warning("jackknife blocks of %d samples are shorter than 10 tau_int = %.3g: "
                       "errors of chi, C, U4 are underestimated; run longer or use fewer blocks",
                       n // max(nb, 1), 10.0 * tau_max)
    if "acceptance" in series and series["acceptance"] is not None:
        acc = np.asarray(series["acceptance"], dtype=np.float64)
        if not np.all(np.isfinite(acc)) or np.any((acc < 0) | (acc > 1)):
            raise StatsError("acceptance must be finite and within [0, 1]")
        out["acceptance"] = float(np.mean(acc))
    return out


def weighted_mean(values: Sequence[float], errors: Sequence[float]) -> tuple[float, float, float]:
    """Inverse-variance weighted mean, its error and chi^2 per degree of freedom."""
    v = np.asarray(values, dtype=np.float64)
    s = np.asarray(errors, dtype=np.float64)
    if v.shape != s.shape or v.ndim != 1 or v.size == 0:
        raise StatsError(f"values and errors must be equal-length 1-d arrays, got {v.shape}, "
                         f"{s.shape}")
    if np.any(~np.isfinite(s)) or np.any(s <= 0):
        raise StatsError("errors must be finite and > 0")
    w = 1.0 / s ** 2
    mean = float(np.sum(w * v) / np.sum(w))
    err = float(np.sqrt(1.0 / np.sum(w)))
    chi2_dof = float(np.sum(w * (v - mean) ** 2) / (v.size - 1)) if v.size > 1 else float("nan")
    return mean, err, chi2_dof
