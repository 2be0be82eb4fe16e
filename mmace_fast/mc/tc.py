"""Critical temperature from temperature scans: Binder-cumulant crossings and susceptibility peaks.

Binder crossings
    For lattice sizes L1 < L2 the cumulants U4(T; L) of a 3-component order parameter cross
    near Tc: below Tc the larger lattice is closer to the ordered value 2/3, above Tc closer to the
    disordered value 4/9. Each curve is fitted locally (weighted polynomial, default cubic)
    around the coarse crossing found by linear interpolation; the crossing is the root of the
    difference of the two fits. The error bar comes from a parametric bootstrap: every U4 point is
    redrawn from N(U4, U4_err), the fits and the root are recomputed. With more than two sizes,
    all pairs are combined by an inverse-variance weighted mean whose error is taken from the same
    bootstrap replicates (so the correlations between pairs that share a size are included).

Susceptibility peak
    The maximum of chi(T) is located by a weighted parabola through the points around the
    largest value, with a parametric-bootstrap error; :func:`extrapolate_peaks` extrapolates the
    pseudo-critical temperatures T*(L) = Tc + a L^(-1/nu) to L -> infinity.

Temperatures may be in any unit (K, or kT/J); results come back in the same unit.
"""
from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

logger = logging.getLogger(__name__)

#: 3D Heisenberg correlation-length exponent (Campostrini et al., PRB 65, 144520 (2002))
NU_HEISENBERG_3D: float = 0.7112

__all__ = [
    "TcError",
    "NoCrossingError",
    "PeakNotFoundError",
    "SizeScan",
    "CrossingResult",
    "BinderTcResult",
    "PeakResult",
    "ExtrapolationResult",
    "binder_crossing",
    "binder_tc",
    "chi_peak",
    "extrapolate_peaks",
    "NU_HEISENBERG_3D",
]


class TcError(ValueError):
    """Bad input to a Tc estimator."""


class NoCrossingError(TcError):
    """The Binder cumulants of two sizes do not cross inside the common temperature range."""


class PeakNotFoundError(TcError):
    """chi(T) has no interior maximum that a downward parabola can locate."""


@dataclass(frozen=True)
class SizeScan:
    """U4 versus temperature for one lattice size (arrays sorted by temperature on creation)."""

    L: float
    T: np.ndarray        #: [n] temperatures, strictly increasing after construction
    u4: np.ndarray       #: [n] Binder cumulant
    u4_err: np.ndarray   #: [n] its standard error (>= 0)

    def __post_init__(self):
        t, u, e = _clean_curve(self.T, self.u4, self.u4_err, f"L={self.L}")
        if not np.isfinite(self.L) or self.L <= 0:
            raise TcError(f"lattice size must be positive, got {self.L}")
        object.__setattr__(self, "T", t)
        object.__setattr__(self, "u4", u)
        object.__setattr__(self, "u4_err", e)


@dataclass(frozen=True)
class CrossingResult:
    """Crossing of U4 for two sizes."""

    L1: float
    L2: float
    tc: float               #: crossing temperature from the unperturbed data
    tc_err: float           #: bootstrap standard deviation of the crossing
    u4: float               #: U4 at the crossing
    u4_err: float
    n_boot_failed: int      #: bootstrap replicates without a crossing in the fit range
    boot: np.ndarray = field(repr=False, default=None)  #: [n_boot] replicate crossings
                                                        #: (NaN = failed)
    #: every sign change of U4(L1) - U4(L2) between the linear interpolants, increasing; more than
    #: one means the curves cross repeatedly within their noise and ``tc`` is one of several
    #: candidates (the spread is the honest uncertainty of a coarse scan)
    coarse_roots: tuple = ()


@dataclass(frozen=True)
class BinderTcResult:
    """Tc combined over all pairs of sizes."""

    tc: float                    #: weighted mean over pairs
    tc_err: float                #: bootstrap error of the weighted mean (pair correlations
                                 #: included)
    chi2_dof: float              #: scatter of pairs about the mean (ignoring correlations); >> 1
                                 #: signals corrections to scaling: prefer the largest pair
    u4: float                    #: weighted mean U4 at the crossings
    pairs: list                  #: list[CrossingResult]
    largest_pair: CrossingResult  #: crossing of the two largest sizes

    @property
    def crossing_range(self) -> tuple[float, float]:
        """(lowest, highest) crossing of the linear interpolants over all pairs. Narrow when
        every pair crosses once near ``tc``; a wide range flags curves that cross repeatedly
        within their noise, and is then a fairer uncertainty than ``tc_err``."""
        roots = [t for r in self.pairs for t in (r.coarse_roots or (r.tc,))]
        return float(min(roots)), float(max(roots))

    @property
    def tc_err_scaled(self) -> float:
        """tc_err enlarged by sqrt(chi2/dof) when the pairs scatter more than their errors."""
        s = self.chi2_dof if np.isfinite(self.chi2_dof) else 1.0
        return float(self.tc_err * np.sqrt(max(1.0, s)))


@dataclass(frozen=True)
class PeakResult:
    """Position and height of the susceptibility maximum."""

    t_peak: float
    t_peak_err: float
    chi_max: float
    chi_max_err: float
    n_boot_failed: int


@dataclass(frozen=True)
class ExtrapolationResult:
    """T*(L) = tc + a L^(-1/nu) fitted to pseudo-critical temperatures."""

    tc: float
    tc_err: float
    slope: float
    chi2_dof: float


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _clean_curve(t, y, e, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate and sort one curve: t [n], y [n], e [n] (errors >= 0)."""
    t = np.asarray(t, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    e = np.asarray(e, dtype=np.float64)
    if t.ndim != 1 or y.shape != t.shape or e.shape != t.shape:
        raise TcError(f"{name}: T, values and errors must be 1-d of equal length, got "
                      f"{t.shape}, {y.shape}, {e.shape}")
    if t.size < 3:
        raise TcError(f"{name}: need at least 3 temperatures, got {t.size}")
    for arr, what in ((t, "temperatures"), (y, "values"), (e, "errors")):
        if not np.all(np.isfinite(arr)):
            raise TcError(f"{name}: {what} contain NaN or inf")
    if np.any(e < 0):
        raise TcError(f"{name}: errors must be >= 0")
    order = np.argsort(t, kind="stable")
    t, y, e = t[order], y[order], e[order]
    if np.any(np.diff(t) <= 0):
        raise TcError(f"{name}: duplicate temperatures")
    return t, y, e


def _as_scans(scans) -> list[SizeScan]:
    """Mapping L -> (T, U4, U4_err) or a sequence of SizeScan, sorted by L."""
    if isinstance(scans, Mapping):
        out = []
        for L, v in scans.items():
            if isinstance(v, SizeScan):
                out.append(v)
            else:
                if len(v) != 3:
                    raise TcError(f"scans[{L}] must be (T, U4, U4_err)")
                out.append(SizeScan(float(L), *v))
    else:
        out = list(scans)
        if not all(isinstance(s, SizeScan) for s in out):
            raise TcError("scans must be a mapping L -> (T, U4, U4_err) or a sequence of SizeScan")
    if len(out) < 2:
        raise TcError(f"need at least two lattice sizes, got {len(out)}")
    out.sort(key=lambda s: s.L)
    if len({s.L for s in out}) != len(out):
        raise TcError("lattice sizes must be distinct")
    return out


def _nearest_points(t: np.ndarray, t0: float, n_fit: int) -> np.ndarray:
    """Indices of the n_fit points of t nearest to t0 (a contiguous range, sorted)."""
    n_fit = min(n_fit, t.size)
    idx = np.sort(np.argsort(np.abs(t - t0), kind="stable")[:n_fit])
    return idx


def _weighted_design(t: np.ndarray, e: np.ndarray, t0: float, degree: int):
    """Projector P with coef = P @ y for weighted least squares in (T - t0); coef high->low."""
    a = np.vander(t - t0, degree + 1)                      # [n, deg+1]
    w = 1.0 / np.where(e > 0, e, np.min(e[e > 0]) if np.any(e > 0) else 1.0)
    return np.linalg.pinv(a * w[:, None]) * w[None, :]     # [deg+1, n]


def _root_near(coef_diff: np.ndarray, lo: float, hi: float, near: float) -> float:
    """Real root of a polynomial (in T - t0) within [lo, hi], nearest to ``near``; NaN if none."""
    c = np.trim_zeros(coef_diff, "f")
    if c.size < 2:
        return float("nan")
    r = np.roots(c)
    r = r[np.abs(r.imag) <= 1e-9 * max(1.0, np.max(np.abs(r)))].real
    r = r[(r >= lo) & (r <= hi)]
    if r.size == 0:
        return float("nan")
    return float(r[np.argmin(np.abs(r - near))])


def _coarse_roots(s1: SizeScan, s2: SizeScan) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sign changes of the linear interpolants' difference on the common range.

    Returns (roots [k] increasing, grid [n], d [n] = U4(small) - U4(large) on the grid); raises
    NoCrossingError when there is none."""
    lo, hi = max(s1.T[0], s2.T[0]), min(s1.T[-1], s2.T[-1])
    if hi <= lo:
        raise NoCrossingError(f"L={s1.L} ({s1.T[0]:g}..{s1.T[-1]:g}) and L={s2.L} "
                              f"({s2.T[0]:g}..{s2.T[-1]:g}) share no temperature range")
    grid = np.union1d(s1.T, s2.T)
    grid = grid[(grid >= lo) & (grid <= hi)]
    d = np.interp(grid, s1.T, s1.u4) - np.interp(grid, s2.T, s2.u4)   # U4(small) - U4(large)
    sign_change = np.nonzero(d[:-1] * d[1:] <= 0)[0]
    if sign_change.size == 0:
        side = "above" if d[0] > 0 else "below"
        where = "below" if d[0] > 0 else "above"
        raise NoCrossingError(
            f"U4(L={s1.L:g}) - U4(L={s2.L:g}) keeps its sign in [{lo:g}, {hi:g}]: the curves do "
            f"not cross; the whole range looks {side} Tc, extend the scan {where} "
            f"{lo if d[0] > 0 else hi:g}")
    roots = []
    for i in sign_change:
        if d[i] == d[i + 1]:
            roots.append(grid[i])
        else:
            roots.append(grid[i] + (grid[i + 1] - grid[i]) * d[i] / (d[i] - d[i + 1]))
    return np.unique(roots), grid, d


def _coarse_crossing(s1: SizeScan, s2: SizeScan) -> tuple[float, np.ndarray, tuple]:
    """Crossing of the linear interpolants on the common range, all their crossings, and the
    bracket in which a fitted crossing is accepted (from one grid point below the interval of
    the lowest crossing to one above that of the highest); raises NoCrossingError."""
    roots, grid, d = _coarse_roots(s1, s2)
    i_lo = int(np.nonzero(grid <= roots[0])[0][-1])
    i_hi = int(np.nonzero(grid >= roots[-1])[0][0])
    # one more grid interval on each side: a fitted root may move a little past the data's
    bracket = (float(grid[max(i_lo - 1, 0)]), float(grid[min(i_hi + 1, grid.size - 1)]))
    if roots.size == 1:
        return float(roots[0]), roots, bracket
    # several sign changes (noise near the crossing): take the one nearest the zero of a
    # straight line fitted to the difference over the whole common range
    slope, icpt = np.polyfit(grid, d, 1)
    t_line = -icpt / slope if slope != 0 else 0.5 * (grid[0] + grid[-1])
    t0 = float(roots[np.argmin(np.abs(roots - t_line))])
    logger.warning("L=%g/L=%g: U4 curves cross %d times in [%g, %g]; using %g (noise?)",
                   s1.L, s2.L, roots.size, grid[0], grid[-1], t0)
    return t0, roots, bracket


def _draws(scans: Sequence[SizeScan], n_boot: int, seed) -> dict:
    """Parametric bootstrap replicas of each curve: L -> [n_boot, n_T]."""
    rng = np.random.default_rng(seed)
    return {s.L: s.u4[None, :] + s.u4_err[None, :] * rng.standard_normal((n_boot, s.T.size))
            for s in scans}


def _crossing(s1: SizeScan, s2: SizeScan, degree: int, n_fit: int,
              draws1: np.ndarray, draws2: np.ndarray) -> CrossingResult:
    t0, coarse, bracket = _coarse_crossing(s1, s2)
    i1, i2 = _nearest_points(s1.T, t0, n_fit), _nearest_points(s2.T, t0, n_fit)
    if i1.size < degree + 1 or i2.size < degree + 1:
        raise TcError(f"need at least degree+1 = {degree + 1} points near the crossing per size")
    # roots are accepted within the hull of the two fit windows and within the grid interval
    # that brackets the crossings of the data themselves: far from them (e.g. on the ordered
    # plateau, where both curves sit at 2/3) a root of the fitted difference is an artefact
    lo = max(min(s1.T[i1[0]], s2.T[i2[0]]), bracket[0]) - t0
    hi = min(max(s1.T[i1[-1]], s2.T[i2[-1]]), bracket[1]) - t0
    for deg in range(degree, 0, -1):         # noisy, nearly parallel curves: lower the degree
        p1 = _weighted_design(s1.T[i1], s1.u4_err[i1], t0, deg)
        p2 = _weighted_design(s2.T[i2], s2.u4_err[i2], t0, deg)
        c1, c2 = p1 @ s1.u4[i1], p2 @ s2.u4[i2]
        r0 = _root_near(c1 - c2, lo, hi, 0.0)
        if np.isfinite(r0):
            break
    if not np.isfinite(r0):
        raise NoCrossingError(f"L={s1.L:g}/L={s2.L:g}: local fits of degree {degree}..1 do not "
                              f"cross within [{lo + t0:g}, {hi + t0:g}] (the data cross at "
                              f"{', '.join(f'{t:.4g}' for t in coarse)}); "
                              "the curves are too close for their errors: use larger sizes or "
                              "longer runs")
    if deg < degree:
        logger.warning("L=%g/L=%g: degree-%d fits do not cross; used degree %d",
                       s1.L, s2.L, degree, deg)
    u0 = float(np.polyval(c1, r0))
    b1 = draws1[:, i1] @ p1.T                                     # [n_boot, deg+1]
    b2 = draws2[:, i2] @ p2.T
    boot = np.array([_root_near(a - b, lo, hi, r0) for a, b in zip(b1, b2)])
    ok = np.isfinite(boot)
    n_failed = int(np.sum(~ok))
    if n_failed > 0.1 * boot.size:
        logger.warning("L=%g/L=%g: %d of %d bootstrap replicates have no crossing in the fit "
                       "range; the error bar is unreliable", s1.L, s2.L, n_failed, boot.size)
    u_boot = np.array([np.polyval(a, r) for a, r in zip(b1[ok], boot[ok])])
    tc_err = float(np.std(boot[ok], ddof=1)) if ok.sum() > 1 else float("nan")
    u_err = float(np.std(u_boot, ddof=1)) if ok.sum() > 1 else float("nan")
    return CrossingResult(s1.L, s2.L, float(r0 + t0), tc_err, u0, u_err, n_failed, boot + t0,
                          tuple(float(t) for t in coarse))


def _check_fit_args(degree: int, n_fit: int | None, n_boot: int) -> int:
    if int(degree) != degree or degree < 1:
        raise TcError(f"degree must be an integer >= 1, got {degree}")
    if n_fit is None:
        n_fit = max(2 * degree + 1, 5)
    if n_fit < degree + 1:
        raise TcError(f"n_fit={n_fit} points cannot fix a degree-{degree} polynomial")
    if int(n_boot) != n_boot or n_boot < 10:
        raise TcError(f"n_boot must be an integer >= 10, got {n_boot}")
    return int(n_fit)


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------
def binder_crossing(scan1: SizeScan, scan2: SizeScan, degree: int = 3, n_fit: int | None = None,
                    n_boot: int = 400, seed=0) -> CrossingResult:
    """Crossing temperature of U4 for two sizes.

    Parameters
    ----------
    scan1, scan2 : SizeScan
        U4(T) with errors for two lattice sizes (any order; results report L1 < L2).
    degree : int
        Degree of the local weighted polynomial fitted to each curve (default 3: a cubic
        follows the inflection of U4 near Tc without the bias of a quadratic).
    n_fit : int, optional
        Points per curve nearest to the coarse crossing used in the fit (default
        max(2 degree + 1, 5)).
    n_boot : int
        Parametric-bootstrap replicates for the error bar.
    seed : int or numpy SeedSequence
        Seed of the bootstrap generator (reproducible results).

    Raises
    ------
    NoCrossingError
        The curves do not cross in the common temperature range (the message says which way to
        extend the scan), or the local fits do not cross inside the fitted window.
    """
    n_fit = _check_fit_args(degree, n_fit, n_boot)
    s1, s2 = sorted([scan1, scan2], key=lambda s: s.L)
    if s1.L == s2.L:
        raise TcError("the two scans have the same lattice size")
    dr = _draws([s1, s2], n_boot, seed)
    return _crossing(s1, s2, degree, n_fit, dr[s1.L], dr[s2.L])


def binder_tc(scans, pairs: str | Sequence[tuple] = "all", degree: int = 3,
              n_fit: int | None = None, n_boot: int = 400, seed=0,
              skip_failed: bool = False) -> BinderTcResult:
    """Tc from the Binder crossings of two or more lattice sizes.

    Parameters
    ----------
    scans : mapping L -> (T [n], U4 [n], U4_err [n]), or sequence of SizeScan
    pairs : "all" (every pair of sizes), "adjacent" (consecutive sizes) or a list of (L1, L2)
    degree, n_fit, n_boot, seed : see :func:`binder_crossing`
    skip_failed : bool
        If True, pairs without a crossing are logged and left out (an error is raised only
        when no pair crosses); if False (default) the first such pair raises.

    Returns
    -------
    BinderTcResult
        Weighted mean over pairs (weights 1/tc_err^2 of each pair), its bootstrap error from
        the same replicates for all pairs, the pairs' chi^2/dof and each pair's result. The
        crossing of the two largest sizes (``largest_pair``) has the smallest corrections to
        scaling and is the one to quote when chi2_dof is large.

    Raises
    ------
    NoCrossingError
        If a requested pair does not cross (the message names the pair and which way to extend
        the scan), or with ``skip_failed`` if no pair crosses.
    """
    n_fit = _check_fit_args(degree, n_fit, n_boot)
    ss = _as_scans(scans)
    by_l = {s.L: s for s in ss}
    if isinstance(pairs, str):
        if pairs == "all":
            plist = list(itertools.combinations([s.L for s in ss], 2))
        elif pairs == "adjacent":
            plist = [(ss[i].L, ss[i + 1].L) for i in range(len(ss) - 1)]
        else:
            raise TcError(f"pairs must be 'all', 'adjacent' or a list of (L1, L2), got {pairs!r}")
    else:
        plist = [tuple(sorted((float(a), float(b)))) for a, b in pairs]
        for a, b in plist:
            if a not in by_l or b not in by_l or a == b:
                raise TcError(f"pair ({a:g}, {b:g}) does not name two distinct scanned sizes")
    dr = _draws(ss, n_boot, seed)
    results, failures = [], []
    for a, b in plist:
        try:
            results.append(_crossing(by_l[a], by_l[b], degree, n_fit, dr[a], dr[b]))
        except NoCrossingError as exc:
            if not skip_failed:
                raise
            logger.warning("skipping pair L=%g/L=%g: %s", a, b, exc)
            failures.append(str(exc))
    if not results:
        raise NoCrossingError("no pair of sizes crosses: " + "; ".join(failures))
    largest = max(results, key=lambda r: (r.L2, r.L1))
    tcs = np.array([r.tc for r in results])
    errs = np.array([r.tc_err for r in results])
    if np.any(~np.isfinite(errs)) or np.any(errs <= 0):
        raise TcError("a pair has no usable bootstrap error (zero U4 errors or failed bootstrap)")
    w = 1.0 / errs ** 2
    w /= w.sum()
    tc = float(w @ tcs)
    u4 = float(w @ np.array([r.u4 for r in results]))
    boots = np.stack([r.boot for r in results], axis=1)            # [n_boot, n_pairs]
    ok = np.all(np.isfinite(boots), axis=1)
    tc_err = float(np.std(boots[ok] @ w, ddof=1)) if ok.sum() > 1 else float("nan")
    chi2_dof = (float(np.sum((tcs - tc) ** 2 / errs ** 2) / (tcs.size - 1))
                if tcs.size > 1 else float("nan"))
    return BinderTcResult(tc, tc_err, chi2_dof, u4, results, largest)


def chi_peak(T, chi, chi_err, n_fit: int = 5, n_boot: int = 400, seed=0) -> PeakResult:
    """Temperature and height of the susceptibility maximum.

    A weighted parabola is fitted through the ``n_fit`` temperatures nearest to the largest
    chi; the vertex is the peak. The error bar is a parametric bootstrap (chi redrawn from
    N(chi, chi_err)). Raises :class:`PeakNotFoundError` when the largest value sits at the edge of
    the scan or the fitted parabola opens upward or has its vertex outside the fitted points.
    """
    t, y, e = _clean_curve(T, chi, chi_err, "chi")
    _check_fit_args(2, n_fit, n_boot)
    imax = int(np.argmax(y))
    if imax == 0 or imax == t.size - 1:
        raise PeakNotFoundError(f"the largest chi is at the scan edge T={t[imax]:g}: extend the "
                                f"scan {'down' if imax == 0 else 'up'}")
    t0 = float(t[imax])
    idx = _nearest_points(t, t0, n_fit)
    p = _weighted_design(t[idx], e[idx], t0, 2)
    lo, hi = t[idx[0]] - t0, t[idx[-1]] - t0

    def vertex(c):
        a, b, c0 = c
        if a >= 0:
            return float("nan"), float("nan")
        x = -b / (2 * a)
        if not lo <= x <= hi:
            return float("nan"), float("nan")
        return x, c0 - b * b / (4 * a)

    x0, y0 = vertex(p @ y[idx])
    if not np.isfinite(x0):
        raise PeakNotFoundError(f"no downward parabola with its vertex inside [{lo + t0:g}, "
                                f"{hi + t0:g}] fits the points around the maximum T={t0:g}")
    rng = np.random.default_rng(seed)
    draws = y[idx][None, :] + e[idx][None, :] * rng.standard_normal((n_boot, idx.size))
    vb = np.array([vertex(c) for c in draws @ p.T])               # [n_boot, 2]
    ok = np.isfinite(vb[:, 0])
    n_failed = int(np.sum(~ok))
    if n_failed > 0.1 * n_boot:
        logger.warning("chi peak: %d of %d bootstrap replicates have no interior maximum",
                       n_failed, n_boot)
    t_err = float(np.std(vb[ok, 0], ddof=1)) if ok.sum() > 1 else float("nan")
    y_err = float(np.std(vb[ok, 1], ddof=1)) if ok.sum() > 1 else float("nan")
    return PeakResult(float(x0 + t0), t_err, float(y0), y_err, n_failed)


def extrapolate_peaks(L, t_peak, t_peak_err, nu: float = NU_HEISENBERG_3D) -> ExtrapolationResult:
    """Fit T*(L) = tc + slope * L^(-1/nu) (weighted least squares) to pseudo-critical temperatures.

    Needs at least two sizes (three to get chi2_dof). ``nu`` defaults to the 3D Heisenberg value.
    """
    L = np.asarray(L, dtype=np.float64)
    tp = np.asarray(t_peak, dtype=np.float64)
    te = np.asarray(t_peak_err, dtype=np.float64)
    if L.ndim != 1 or L.size < 2 or tp.shape != L.shape or te.shape != L.shape:
        raise TcError("need at least two sizes with matching 1-d peak temperatures and errors")
    if not (np.all(np.isfinite(L)) and np.all(np.isfinite(tp)) and np.all(np.isfinite(te))):
        raise TcError("sizes, peaks and errors must be finite")
    if np.any(te <= 0) or np.any(L <= 0) or not np.isfinite(nu) or nu <= 0:
        raise TcError("sizes, errors and nu must be > 0")
    if np.unique(L).size != L.size:
        raise TcError("sizes must be distinct")
    x = L ** (-1.0 / nu)
    a = np.stack([np.ones_like(x), x], axis=1) / te[:, None]
    coef, *_ = np.linalg.lstsq(a, tp / te, rcond=None)
    cov = np.linalg.inv(a.T @ a)
    resid = (tp - (coef[0] + coef[1] * x)) / te
    dof = L.size - 2
    chi2_dof = float(resid @ resid / dof) if dof > 0 else float("nan")
    return ExtrapolationResult(float(coef[0]), float(np.sqrt(cov[0, 0])), float(coef[1]), chi2_dof)
