"""Multiple-histogram reweighting (MBAR / Ferrenberg-Swendsen for continuous energies).

Samples of K canonical simulations at inverse temperatures beta_k = 1 / (k_B T_k), N_k samples
each (total energies E_n in eV, n over all samples pooled), define the dimensionless free
energies f_k = -ln Z_k by the self-consistent equations (Shirts and Chodera, J. Chem. Phys.
129, 124105 (2008); Ferrenberg and Swendsen, PRL 63, 1195 (1989))

    f_i = -ln sum_n exp(-beta_i E_n) / D_n,    D_n = sum_k N_k exp(f_k - beta_k E_n),

solved here by Newton's method on their convex objective (f_0 = 0 fixes the gauge). Any
temperature T inside the simulated range then has the sample weights
w_n(T) ~ exp(-beta E_n) / D_n, and <O>_T = sum_n w_n O_n / sum_n w_n: continuous curves of
E, |m|, chi, C and U4 between the simulated temperatures. The estimator is consistent for
correlated samples; its errors come from a block jackknife (each simulation's series cut into
``n_blocks`` contiguous blocks, block b left out of every simulation at once), so they hold
when blocks are longer than the autocorrelation time (the result says whether they are).

Units: energies eV (total), temperatures K, magnetisation per site in muB (or dimensionless),
chi in [m]^2 / eV per site, C in k_B per site; the definitions are those of
:mod:`mmace_fast.mc.stats`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy.special import logsumexp

from mmace_fast.conventions import KB_EV_PER_K
from mmace_fast.mc.stats import StatsError, binder_from_moments, integrated_autocorr_time

log = logging.getLogger(__name__)

#: effective sample size below which a reweighted point is flagged as unreliable
MIN_ESS = 100.0


def _check_inputs(energies, temperatures):
    temps = np.asarray(temperatures, dtype=np.float64)
    if temps.ndim != 1 or len(temps) < 1:
        raise StatsError("temperatures must be a non-empty 1-d sequence")
    if not np.all(np.isfinite(temps)) or np.any(temps <= 0):
        raise StatsError("temperatures must be positive and finite")
    if len(np.unique(temps)) != len(temps):
        raise StatsError("temperatures repeat")
    if len(energies) != len(temps):
        raise StatsError(f"{len(energies)} energy series for {len(temps)} temperatures")
    es = []
    for k, e in enumerate(energies):
        a = np.asarray(e, dtype=np.float64)
        if a.ndim != 1 or a.size < 2:
            raise StatsError(f"energy series {k} must be 1-d with >= 2 samples, got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise StatsError(f"energy series {k} has non-finite values")
        es.append(a)
    return es, temps


@dataclass
class MultiHistogram:
    """Solved reweighting of pooled samples: betas [K] 1/eV, counts [K], f [K] (f_0 = 0),
    energies [N] eV pooled (shifted by e_shift), log_d [N] = ln D_n."""

    betas: np.ndarray
    counts: np.ndarray
    f: np.ndarray
    energies: np.ndarray
    e_shift: float
    log_d: np.ndarray
    iterations: int = 0

    @classmethod
    def solve(cls, energies: Sequence, temperatures, f0=None, tol: float = 1e-10,
              max_iter: int = 200) -> "MultiHistogram":
        """Free energies of the K simulations. energies: K arrays of total energies (eV);
        temperatures [K] K; f0: a starting guess (else thermodynamic integration)."""
        es, temps = _check_inputs(energies, temperatures)
        betas = 1.0 / (KB_EV_PER_K * temps)
        counts = np.array([len(e) for e in es], dtype=np.float64)
        pooled = np.concatenate(es)
        shift = float(np.mean(pooled))
        u = pooled - shift                                        # [N] eV
        log_n = np.log(counts)
        if f0 is None:                                            # trapezoid d f / d beta = <E>
            order = np.argsort(betas)
            mean_e = np.array([np.mean(e) - shift for e in es])
            f = np.zeros(len(es))
            for a, b in zip(order[:-1], order[1:]):
                f[b] = f[a] + (betas[b] - betas[a]) * 0.5 * (mean_e[a] + mean_e[b])
            f -= f[0]
        else:
            f = np.asarray(f0, dtype=np.float64).copy()
        k = len(es)
        it = 0
        if k > 1:
            f, it = _newton(f, betas, log_n, counts, u, tol, max_iter)
        log_d = logsumexp(log_n[None, :] + f[None, :] - np.outer(u, betas), axis=1)
        return cls(betas, counts, f, u, shift, log_d, it)

    def log_weights(self, temperature: float) -> np.ndarray:
        """[N] normalised log weights of the pooled samples at ``temperature`` (K)."""
        beta = 1.0 / (KB_EV_PER_K * float(temperature))
        lw = -beta * self.energies - self.log_d
        return lw - logsumexp(lw)

    def effective_samples(self, temperature: float) -> float:
        """Kish effective sample size (sum w)^2 / sum w^2 of the weights at ``temperature``."""
        lw = self.log_weights(temperature)
        return float(np.exp(-logsumexp(2.0 * lw)))


def _newton(f, betas, log_n, counts, u, tol, max_iter):
    """Minimise sum_n ln D_n - sum_k N_k f_k over f[1:] (f_0 = 0); returns (f, iterations)."""
    def objective(fv):
        a = log_n[None, :] + fv[None, :] - np.outer(u, betas)          # [N, K]
        ld = logsumexp(a, axis=1)
        return float(np.sum(ld) - np.dot(counts, fv)), np.exp(a - ld[:, None])   # p [N, K]

    val, p = objective(f)
    for it in range(1, max_iter + 1):
        grad = p.sum(axis=0) - counts                                  # [K]
        hess = np.diag(p.sum(axis=0)) - p.T @ p                        # [K, K]
        g, h = grad[1:], hess[1:, 1:]
        if np.max(np.abs(g)) < tol * max(1.0, counts.max()):
            return f, it
        step = np.zeros_like(f)
        try:
            step[1:] = -np.linalg.solve(h, g)
        except np.linalg.LinAlgError:
            step[1:] = -g / np.maximum(np.diag(h), 1e-300)
        t = 1.0
        while True:                                                    # backtracking
            trial = f + t * step
            v, pt = objective(trial)
            # Armijo, with slack for rounding of the objective near the minimum
            if v <= val + 1e-4 * t * np.dot(g, step[1:]) + 1e-13 * abs(val) or t < 1e-10:
                break
            t *= 0.5
        f, val, p = trial, v, pt
    raise StatsError(f"multiple-histogram equations did not converge in {max_iter} Newton "
                     "steps (do neighbouring energy histograms overlap?)")


# --------------------------------------------------------------------------------------------
# reweighted curves with jackknife errors
# --------------------------------------------------------------------------------------------
CURVE_KEYS = ("e_per_site", "c_kb", "m_abs", "chi_m", "u4_m")


@dataclass
class ReweightedCurves:
    """Observables on a temperature grid from multiple-histogram reweighting.

    grid [G] K; values[key] [G] and errors[key] [G] for CURVE_KEYS (order parameter prefix
    ``order``: 'm' or 'ms'); replicates[key] [B, G] (jackknife, for derived errors such as
    crossings); ess [G] effective sample sizes; reliable [G] (ess >= MIN_ESS and inside the
    simulated range); blocks_ok: every simulation's jackknife blocks are >= 10 tau_int long.
    """

    grid: np.ndarray
    values: dict
    errors: dict
    replicates: dict = field(repr=False)
    ess: np.ndarray = field(repr=False)
    reliable: np.ndarray = field(repr=False)
    n_blocks: int = 0
    blocks_ok: bool = True
    tau_max: float = float("nan")
    order: str = "m"


def _observables(lw: np.ndarray, e_tot: np.ndarray, e_shift: float, m: np.ndarray,
                 n_sites: int, kt: float, n_components: int = 3) -> dict:
    """CURVE_KEYS at one temperature from normalised log weights [N], pooled total energies
    shifted by e_shift [N] eV (no cancellation in the variance) and |m| [N] of an
    ``n_components``-component order parameter (U4 on the 3-component scale,
    :func:`mmace_fast.mc.stats.binder_from_moments`)."""
    w = np.exp(lw)
    e1 = np.dot(w, e_tot)
    m1, m2, m4 = np.dot(w, m), np.dot(w, m * m), np.dot(w, m ** 4)
    return {"e_per_site": (e1 + e_shift) / n_sites,
            "c_kb": (np.dot(w, e_tot * e_tot) - e1 * e1) / (n_sites * kt * kt),
            "m_abs": m1, "chi_m": n_sites * (m2 - m1 * m1) / kt,
            "u4_m": binder_from_moments(m2, m4, n_components)}


def reweighted_curves(series: Sequence[dict], temperatures, n_sites: int, grid,
                      order: str = "m", n_blocks: int = 20) -> ReweightedCurves:
    """Curves of E, C, |m|, chi, U4 on ``grid`` (K) from K simulations.

    series: K dicts as :func:`mmace_fast.mc.stats.summarize` reads ("energy" [n] eV total,
    "magnetisation" [n, 3], optional "staggered" [n, 3 k]: k patterns); order: 'm'
    (magnetisation) or 'ms' (staggered) as the order parameter; n_sites: sites per lattice
    (per-site normalisation).
    """
    if order not in ("m", "ms"):
        raise StatsError(f"order must be 'm' or 'ms', got {order!r}")
    key = "magnetisation" if order == "m" else "staggered"
    if int(n_sites) != n_sites or n_sites < 1:
        raise StatsError(f"n_sites must be a positive integer, got {n_sites}")
    n_sites = int(n_sites)
    grid = np.asarray(grid, dtype=np.float64)
    energies, norms, n_components = [], [], None
    for k, s in enumerate(series):
        if key not in s or s[key] is None:
            raise StatsError(f"series {k} has no {key!r}")
        e = np.asarray(s["energy"], dtype=np.float64)
        mv = np.asarray(s[key], dtype=np.float64)
        n_components = mv.shape[1] if n_components is None and mv.ndim == 2 else n_components
        if not (mv.ndim == 2 and mv.shape[0] == len(e) and mv.shape[1] == n_components
                and n_components % 3 == 0):
            raise StatsError(f"series {k}: {key} must be [{len(e)}, 3 k] with the same k for "
                             f"every series, got {mv.shape}")
        energies.append(e)
        norms.append(np.linalg.norm(mv, axis=1))
    _, temps = _check_inputs(energies, temperatures)
    n_min = min(len(e) for e in energies)
    nb = int(min(n_blocks, n_min // 4))
    if nb < 2:
        raise StatsError(f"too few samples ({n_min}) for a jackknife")
    taus = [max(float(integrated_autocorr_time(e).tau), float(integrated_autocorr_time(m).tau))
            for e, m in zip(energies, norms)]
    blocks_ok = all(len(e) // nb >= 10.0 * t for e, t in zip(energies, taus))
    lo, hi = temps.min(), temps.max()

    def curves(keep, f0=None):                           # keep[k]: bool mask of samples
        es = [e[k_] for e, k_ in zip(energies, keep)]
        ms = np.concatenate([m[k_] for m, k_ in zip(norms, keep)])
        mh = MultiHistogram.solve(es, temps, f0=f0)
        out = {k: np.empty(len(grid)) for k in CURVE_KEYS}
        ess = np.empty(len(grid))
        for g, t in enumerate(grid):
            lw = mh.log_weights(t)
            obs = _observables(lw, mh.energies, mh.e_shift, ms, n_sites, KB_EV_PER_K * t,
                               n_components)
            for k in CURVE_KEYS:
                out[k][g] = obs[k]
            ess[g] = float(np.exp(-logsumexp(2.0 * lw)))
        return out, ess, mh

    values, ess, full = curves([np.ones(len(e), bool) for e in energies])
    reps = {k: np.empty((nb, len(grid))) for k in CURVE_KEYS}
    for b in range(nb):
        keep = []
        for e in energies:
            size = len(e) // nb
            mask = np.ones(len(e), bool)
            mask[b * size:(b + 1) * size] = False
            keep.append(mask)
        vb, _, _ = curves(keep, f0=full.f)
        for k in CURVE_KEYS:
            reps[k][b] = vb[k]
    errors = {k: np.sqrt((nb - 1) / nb * np.sum((reps[k] - reps[k].mean(axis=0)) ** 2, axis=0))
              for k in CURVE_KEYS}
    reliable = (ess >= MIN_ESS) & (grid >= lo - 1e-9) & (grid <= hi + 1e-9)
    if not blocks_ok:
        log.warning("reweighting: jackknife blocks shorter than 10 tau_int (tau up to %.3g "
                    "samples): the errors are underestimated", max(taus))
    return ReweightedCurves(grid, values, errors, reps, ess, reliable, nb, blocks_ok,
                            float(max(taus)), order)


@dataclass
class Crossing:
    """A crossing of two reweighted U4 curves: temperature K, its jackknife error, U4 there,
    the number of jackknife replicates with a crossing near it, and all crossings found on the
    grid (K) of the mean curves."""

    temperature: float
    error: float
    u4: float
    n_replicates_ok: int
    all_roots: list


def _roots(x: np.ndarray, d: np.ndarray) -> list:
    """Linear-interpolated zeros of d(x) on a grid."""
    out = []
    for g in range(len(x) - 1):
        if d[g] == 0.0:
            out.append(float(x[g]))
        elif d[g] * d[g + 1] < 0.0:
            out.append(float(x[g] - d[g] * (x[g + 1] - x[g]) / (d[g + 1] - d[g])))
    return out


#: crossings where U4 lies below this are noise of the disordered phase, not the transition:
#: for a 3-component order parameter U4 runs from 4/9 (disordered) to 2/3 (ordered) and the
#: curves of two sizes cross near 0.6 at a continuous transition
U4_CROSS_MIN = 0.5


def binder_crossing(a: ReweightedCurves, b: ReweightedCurves,
                    u4_min: float = U4_CROSS_MIN) -> Crossing | None:
    """Crossing of the U4 curves of two sizes on their common reliable grid (None without one).
    Crossings with U4 < ``u4_min`` are ignored (disordered-phase noise). With several
    crossings, the one where the curves' difference changes most steeply is reported (the
    others listed). Error: jackknife over the paired replicates (the two sizes are independent
    simulations)."""
    if not np.array_equal(a.grid, b.grid):
        raise StatsError("the two curves must share one temperature grid")
    ok = a.reliable & b.reliable
    x = a.grid[ok]
    if len(x) < 2:
        return None
    d = a.values["u4_m"][ok] - b.values["u4_m"][ok]
    roots = [r for r in _roots(x, d) if np.interp(r, x, a.values["u4_m"][ok]) >= u4_min]
    if not roots:
        return None
    slopes = [abs(np.interp(r, x, np.gradient(d, x))) for r in roots]
    root = roots[int(np.argmax(slopes))]
    nb = min(a.n_blocks, b.n_blocks)
    reps = []
    for r in range(nb):
        dr = a.replicates["u4_m"][r][ok] - b.replicates["u4_m"][r][ok]
        rr = _roots(x, dr)
        if rr:
            reps.append(min(rr, key=lambda v: abs(v - root)))
    n_ok = len(reps)
    err = (float(np.sqrt((n_ok - 1) / n_ok * np.sum((np.asarray(reps) - np.mean(reps)) ** 2)))
           if n_ok >= 2 else float("nan"))
    u4 = float(np.interp(root, x, a.values["u4_m"][ok]))
    return Crossing(root, err, u4, n_ok, roots)
