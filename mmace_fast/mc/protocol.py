"""The Tc protocol: one procedure for every model and every caller (demo, head-to-head, CLI).

Given ``build(L) -> System`` (a fresh Hamiltonian and its starting moments for an L^3 lattice),
the Monte Carlo settings and a :class:`TcProtocol`:

1. **Bracket.** Parallel tempering (:mod:`mmace_fast.mc.tempering`) at the two smallest sizes
   over ``bracket`` (geometric temperatures), short. The crossing of their reweighted Binder
   cumulants (:mod:`mmace_fast.mc.reweight`) centres the window; without one, the reweighted
   susceptibility peak of the larger; without that, the bracket's geometric middle.
2. **Window, per size.** Parallel tempering over ``centre (1 -+ h_L)`` with ``n_replicas``
   temperatures, ``h_L = min(window, kappa (n_replicas - 1) / (2 sqrt(N_L)))``: the spacing
   shrinks as 1 / sqrt(N) so that neighbouring energy histograms keep overlapping (swap
   acceptance roughly erfc(kappa sqrt(c) / 2) for a specific heat c per site in k_B). Sizes
   run in increasing order; each larger size centres on the U4 crossing of the previous pair,
   and when its curve does not cross the next smaller one inside the window, the windows of
   both move by the larger's width towards the side where Tc must lie (``recentre_side``:
   down when both are disordered, U4 < 1/2; not at all when U4 dips as at a first-order
   transition; at most ``MAX_RECENTRE`` times; when two windows bracket Tc, one saying above
   and one saying below, the next is centred between them rather than stepping over).
3. **Stopping rule, per size.** Production in chunks until every slot's series is at least
   ``MIN_SAMPLES_PER_TAU`` tau_int long (tau of E and of |order parameter|) and the largest U4
   error over the middle half of the slots is <= ``target_u4_err`` (``stop = "converged"``),
   or ``max_prod`` sweeps / ``max_wall_s`` seconds are spent (``stop = "budget"``).
4. **Crossings.** Reweighted U4 curves of every size on one grid; the crossing of every pair of
   sizes with its jackknife error. Tc is the crossing of the two largest sizes (the smallest
   finite-size drift); with three or more sizes the crossings of consecutive pairs are also
   extrapolated, T(L) = Tc + a L^-(1/nu + omega). When the two largest curves cross more than
   once inside the window (too close for their errors: an ill-conditioned pair), the crossing
   of the widest pair (smallest and largest size) is reported if it is unique
   (``method = "binder_widest_pair"``; the note says so). Without any usable crossing, the
   reweighted chi peak of the largest size is reported instead (``method = "chi_peak"``).
   A dip of the largest size's U4 below ``U4_FIRST_ORDER`` flags a first-order transition
   (``first_order``, and the note).

The result states whether its error bar can be believed (``errors_reliable``: every size
stopped by the rule, every jackknife block >= 10 tau_int); if not, ``tc_err`` is a lower bound
and the result says so. Each stage checkpoints under ``workdir`` (a rerun resumes; a changed
request is refused by the checkpoints).
"""
from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np

from mmace_fast.mc.mpi import MPIParallelTempering, launched_ranks
from mmace_fast.mc.reweight import (U4_CROSS_MIN, ReweightedCurves, binder_crossing,
                                    reweighted_curves)
from mmace_fast.mc.stats import MIN_SAMPLES_PER_TAU, StatsError, binder_cumulant
from mmace_fast.mc.stats import integrated_autocorr_time
from mmace_fast.mc.table import atomic_write_text
from mmace_fast.mc.tc import NU_HEISENBERG_3D
from mmace_fast.mc.tempering import ParallelTempering, geometric_temperatures

log = logging.getLogger(__name__)

#: leading correction-to-scaling exponent of the 3D Heisenberg class (Hasenbusch 2001) [verify]
OMEGA_HEISENBERG_3D = 0.78


#: a dip of the reweighted U4 below this on the largest size is the signature of a first-order
#: transition (two coexisting phases: <m^4> > (5/3) <m^2>^2); a continuous one keeps U4 between
#: 4/9 and 2/3
U4_FIRST_ORDER = 0.3


class ProtocolError(ValueError):
    """Inconsistent protocol settings."""


@dataclass
class TcProtocol:
    """Settings of the Tc protocol (see the module docstring). Temperatures in K, sweeps in MC
    steps (one Metropolis sweep over the active sites plus the model's extra moves)."""

    sizes: Sequence[int]
    bracket: tuple                      #: (T_low, T_high) K of the bracketing stage
    n_bracket_replicas: int = 12
    bracket_sweeps: tuple = (200, 400)  #: (equilibration, production) of the bracket stage
    n_replicas: int = 8                 #: temperatures per size in the window
    window: float = 0.08                #: largest relative half width of a window
    kappa: float = 1.0                  #: spacing dT / T = kappa / sqrt(N) caps the window
    n_equil: int = 500
    min_prod: int = 1000
    chunk: int = 1000                   #: production sweeps between stopping checks
    max_prod: int = 20000               #: budget per size (production sweeps)
    max_wall_s: Optional[float] = None  #: budget per size (seconds)
    target_u4_err: float = 0.005
    exchange_every: int = 1
    threads: int = 1
    grid_points: int = 201
    n_blocks: int = 20

    def __post_init__(self):
        sizes = [int(L) for L in self.sizes]
        if len(sizes) < 2 or len(set(sizes)) != len(sizes) or min(sizes) < 1:
            raise ProtocolError(f"need at least two distinct positive sizes, got {self.sizes}")
        self.sizes = tuple(sorted(sizes))
        lo, hi = (float(x) for x in self.bracket)
        if not (0 < lo < hi and np.isfinite(hi)):
            raise ProtocolError(f"bracket must be 0 < T_low < T_high, got {self.bracket}")
        self.bracket = (lo, hi)
        for name in ("n_bracket_replicas", "n_replicas"):
            if int(getattr(self, name)) < 2:
                raise ProtocolError(f"{name} must be >= 2")
        if not (0 < self.window < 1) or self.kappa <= 0 or self.target_u4_err <= 0:
            raise ProtocolError("need 0 < window < 1, kappa > 0, target_u4_err > 0")
        if min(self.min_prod, self.chunk, self.max_prod) < 1 or self.min_prod > self.max_prod:
            raise ProtocolError("need 1 <= min_prod <= max_prod and chunk >= 1")

    def as_dict(self) -> dict:
        d = asdict(self)
        d["sizes"], d["bracket"] = list(self.sizes), list(self.bracket)
        d["bracket_sweeps"] = list(self.bracket_sweeps)
        return d


@dataclass
class SizeRun:
    """What the window stage did at one size."""

    L: int
    n_sites: int
    temperatures: list
    sweeps: int
    stop: str                      #: "converged" or "budget"
    tau_max: float                 #: largest tau_int over slots (samples)
    u4_err_max: float
    exchange_acceptance: list
    round_trips: list
    wall_s: float
    blocks_ok: bool = True
    #: why the Hamiltonian's model extrapolates on this lattice ([] = inside its data)
    extrapolation: list = field(default_factory=list)


@dataclass
class TcProtocolResult:
    """Tc (K) with its error and how it was obtained; per-size runs; every pair's crossing."""

    tc: float
    tc_err: float
    method: str                    #: "binder_largest_pair", "binder_widest_pair", "chi_peak",
                                   #: "none"
    errors_reliable: bool
    note: str
    centre: float
    pairs: list                    #: [{L1, L2, tc, tc_err, u4, roots}]
    extrapolated: Optional[dict]
    chi_peak: Optional[dict]       #: of the largest size: {t, t_err}
    runs: list                     #: [SizeRun]
    protocol: dict
    wall_s: float
    curves: dict = field(default_factory=dict, repr=False)   #: L -> ReweightedCurves
    #: {L, T, u4_min} when the largest size's U4 dips below U4_FIRST_ORDER, else None
    first_order: Optional[dict] = None

    def as_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k != "curves"}
        d["runs"] = [asdict(r) for r in self.runs]
        d["sizes"] = [r.L for r in self.runs]
        d["largest_L"] = max(d["sizes"]) if d["sizes"] else None
        d["curves"] = {str(L): {"T": c.grid[c.reliable].tolist(),
                                **{k: c.values[k][c.reliable].tolist() for k in c.values},
                                **{f"{k}_err": c.errors[k][c.reliable].tolist()
                                   for k in c.errors}}
                       for L, c in self.curves.items()}
        return d


@contextmanager
def _quiet_stats():
    """Intermediate stopping checks expect unconverged tau: keep their warnings out."""
    lg = logging.getLogger("mmace_fast.mc.stats")
    old = lg.level
    lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        lg.setLevel(old)


def _series(pt: ParallelTempering, staggered: bool) -> list:
    return [pt.samples.series(k, staggered) for k in range(pt.n_replicas)]


def _order_norm(s: dict, staggered: bool) -> np.ndarray:
    return np.linalg.norm(s["staggered" if staggered else "magnetisation"], axis=1)


def _slot_quality(pt: ParallelTempering, staggered: bool, n_blocks: int) -> tuple:
    """(tau_max samples over all slots, all taus converged, largest U4 error over the middle
    half of the slots, where the crossing is expected: U4 of the disordered edge is noisy and
    irrelevant to it)."""
    tau_max, conv, u4_err = 0.0, True, 0.0
    k = pt.n_replicas
    middle = range(k // 4, k - k // 4)
    with _quiet_stats():
        for slot, s in enumerate(_series(pt, staggered)):
            n = len(s["energy"])
            m = _order_norm(s, staggered)
            for x in (s["energy"], m):
                t = integrated_autocorr_time(x)
                tau_max = max(tau_max, float(t.tau))
                conv &= bool(t.converged) and n >= MIN_SAMPLES_PER_TAU * float(t.tau)
            if slot in middle:
                u4_err = max(u4_err, float(binder_cumulant(m, min(n_blocks, n // 4)).error))
    return tau_max, conv, u4_err


def _make_pt(systems: list, temps, settings: dict, protocol: TcProtocol, seed: int,
             order: Optional[str]) -> tuple:
    """Parallel tempering over ``systems`` (one per temperature); (ensemble, staggered?)."""
    s0 = systems[0]
    if "surrogate" in settings:       # one per replica, built with its lattice: never shared
        raise ProtocolError("a surrogate belongs to the System (System.surrogate, built for "
                            "its lattice), not to the Monte Carlo settings")
    surrogates = None if s0.surrogate is None else [s.surrogate for s in systems]
    common = dict(seed=seed, exchange_every=protocol.exchange_every, threads=protocol.threads,
                  sublattice_signs=s0.signs, active_sites=s0.active, **settings)
    if launched_ranks() > 1:          # under mpiexec: the replicas spread over the ranks
        pt = MPIParallelTempering(
            lambda r: (systems[r].hamiltonian, None if surrogates is None else surrogates[r]),
            s0.spins, temps, **common)
    else:
        pt = ParallelTempering([s.hamiltonian for s in systems], s0.spins, temps,
                               surrogates=surrogates, **common)
    if order is None:
        order = "m" if s0.signs is None else "ms"
    if order == "ms" and s0.signs is None:
        raise ProtocolError("order 'ms' (staggered) needs sublattice signs in the System")
    return pt, order == "ms"


def _curves(pt: ParallelTempering, staggered: bool, grid, n_blocks: int
            ) -> Optional[ReweightedCurves]:
    try:
        with _quiet_stats():
            return reweighted_curves(_series(pt, staggered), pt.temperatures, pt.n_active, grid,
                                     order="ms" if staggered else "m", n_blocks=n_blocks)
    except StatsError as exc:
        log.warning("reweighting failed (%s)", exc)
        return None


def _chi_peak(c: ReweightedCurves) -> Optional[dict]:
    """Reweighted chi maximum over the reliable interior grid, jackknife error, at least half
    the grid spacing (the peak is located on the grid: replicates that all pick the same grid
    point do not make it exact); None if on an edge (a bound, not a peak)."""
    ok = np.flatnonzero(c.reliable)
    if len(ok) < 3:
        return None
    chi = c.values["chi_m"][ok]
    k = int(np.argmax(chi))
    if k in (0, len(ok) - 1):
        return None
    reps = [c.grid[ok][int(np.argmax(r[ok]))] for r in c.replicates["chi_m"]]
    nb = len(reps)
    err = float(np.sqrt((nb - 1) / nb * np.sum((np.asarray(reps) - np.mean(reps)) ** 2)))
    spacing = float(np.max(np.diff(c.grid))) if len(c.grid) > 1 else 0.0
    return {"t": float(c.grid[ok][k]), "t_err": max(err, 0.5 * spacing)}


def _first_order(c: ReweightedCurves, L: int) -> Optional[dict]:
    """{L, T (K), u4_min} of the reweighted U4 minimum when it lies below U4_FIRST_ORDER."""
    ok = np.flatnonzero(c.reliable)
    if not len(ok):
        return None
    u4 = c.values["u4_m"][ok]
    k = int(np.argmin(u4))
    if u4[k] >= U4_FIRST_ORDER:
        return None
    return {"L": int(L), "T": float(c.grid[ok][k]), "u4_min": float(u4[k])}


def _slot_crossing(small: ParallelTempering, big: ParallelTempering, stag: bool
                   ) -> Optional[float]:
    """Temperature (K) where the per-slot U4 of two sizes on the same temperatures cross
    (linear interpolation between slots; the lowest crossing with the larger size more ordered
    below it), or None."""
    with _quiet_stats():
        u = [np.array([float(binder_cumulant(_order_norm(s, stag), 4).value)
                       for s in _series(pt, stag)]) for pt in (small, big)]
    d = u[1] - u[0]                          # > 0: the larger lattice more ordered
    t = small.temperatures
    for k in range(len(t) - 1):
        if d[k] > 0 >= d[k + 1]:
            f = d[k] / (d[k] - d[k + 1])
            if u[0][k] + f * (u[0][k + 1] - u[0][k]) >= U4_CROSS_MIN:
                return float(t[k] + f * (t[k + 1] - t[k]))
    return None


def _bracket_centre(build, settings, protocol, workdir, seed, order) -> tuple[float, dict]:
    """Stage 1: the window centre (K) and what located it."""
    lo, hi = protocol.bracket
    temps = geometric_temperatures(lo, hi, protocol.n_bracket_replicas)
    grid = np.linspace(lo, hi, protocol.grid_points)
    curves, pts = {}, {}
    for L in protocol.sizes[:2]:
        pt, stag = _make_pt([build(int(L)) for _ in temps], temps, settings, protocol,
                            seed + 1000 + L, order)
        pts[L], stags = pt, stag
        ck = None if workdir is None else os.path.join(workdir, f"bracket_L{L}.npz")
        ne, npr = protocol.bracket_sweeps
        x = protocol.exchange_every
        pt.run(ne - ne % x, max(x, npr - npr % x), checkpoint=ck,
               checkpoint_every=max(x, npr // 4))
        curves[L] = _curves(pt, stag, grid, min(protocol.n_blocks, 10))
    a, b = (curves[L] for L in protocol.sizes[:2])
    if a is not None and b is not None:
        cr = binder_crossing(a, b)
        if cr is not None:
            return cr.temperature, {"how": "bracket crossing", "t": cr.temperature}
    # histograms too far apart to reweight between: the slots' own U4 values, interpolated
    t = _slot_crossing(pts[protocol.sizes[0]], pts[protocol.sizes[1]], stags)
    if t is not None:
        return t, {"how": "bracket crossing of the slots' U4", "t": t}
    if b is not None:
        peak = _chi_peak(b)
        if peak is not None:
            return peak["t"], {"how": "bracket chi peak", **peak}
    centre = float(np.sqrt(lo * hi))
    log.warning("bracket %.0f-%.0f K: no U4 crossing or chi peak; window centred at %.0f K",
                lo, hi, centre)
    return centre, {"how": "bracket middle", "t": centre}


def _window_run(build, settings, protocol, L, centre, workdir, seed, order) -> tuple:
    """Stage 2 + 3 at one size: PT in the window until the stopping rule or the budget
    (checkpoint ``window_L<L>_<hash of the temperatures>.npz``)."""
    t0 = time.perf_counter()
    systems = [build(int(L)) for _ in range(protocol.n_replicas)]
    n = systems[0].n_active
    h = min(protocol.window, protocol.kappa * (protocol.n_replicas - 1) / (2 * np.sqrt(n)))
    temps = geometric_temperatures(centre * (1 - h), centre * (1 + h), protocol.n_replicas)
    pt, stag = _make_pt(systems, temps, settings, protocol, seed + L, order)
    # named by the window itself: another window (a changed protocol or centre) is another
    # chain with its own file, the same window resumes
    tag = hashlib.sha256(np.asarray(temps, dtype=np.float64).tobytes()).hexdigest()[:10]
    ck = None if workdir is None else os.path.join(workdir, f"window_L{L}_{tag}.npz")
    x = protocol.exchange_every
    target = protocol.min_prod - protocol.min_prod % x or x
    step = max(x, protocol.chunk - protocol.chunk % x)
    stop = "budget"
    while True:
        pt.run(protocol.n_equil - protocol.n_equil % x, target, checkpoint=ck,
               checkpoint_every=min(protocol.chunk, target))
        if pt.progress["production"] > target and target < protocol.max_prod:
            # a resumed chain is past this check: the run it continues had passed it too
            target = min(protocol.max_prod, target + step)
            continue
        tau, conv, u4_err = _slot_quality(pt, stag, protocol.n_blocks)
        wall = time.perf_counter() - t0
        log.info("L=%d: %d sweeps, tau_max %.1f, U4 error %.4f, swaps %s", L,
                 pt.progress["production"], tau,
                 u4_err, np.round(pt.exchange_acceptance(), 2).tolist())
        if conv and u4_err <= protocol.target_u4_err:
            stop = "converged"
            break
        # one decision for every MPI rank (their clocks differ by milliseconds)
        if pt.agree(target >= protocol.max_prod or (protocol.max_wall_s is not None
                                                    and wall >= protocol.max_wall_s)):
            break
        target = min(protocol.max_prod, target + step)
    run = SizeRun(int(L), n, [float(t) for t in temps], int(pt.progress["production"]), stop,
                  tau, u4_err,
                  [float(a) for a in pt.exchange_acceptance()],
                  [int(r) for r in pt.round_trips()], time.perf_counter() - t0,
                  extrapolation=list(getattr(systems[0].hamiltonian, "extrapolation", [])))
    return pt, stag, run


#: window moves per size when the U4 curves of a size and the next smaller do not cross in it
MAX_RECENTRE = 2


def _pair_grid(a: ParallelTempering, b: ParallelTempering, protocol: TcProtocol):
    lo = max(a.temperatures[0], b.temperatures[0])
    hi = min(a.temperatures[-1], b.temperatures[-1])
    return np.linspace(lo, hi, protocol.grid_points) if hi > lo else None


def _pair_crossing(small: ParallelTempering, big: ParallelTempering, stag: bool,
                   protocol: TcProtocol):
    grid = _pair_grid(small, big, protocol)
    if grid is None:
        return None
    a = _curves(small, stag, grid, protocol.n_blocks)
    b = _curves(big, stag, grid, protocol.n_blocks)
    return None if a is None or b is None else binder_crossing(a, b)


def _recentre(small: ParallelTempering, big: ParallelTempering, stag: bool,
              protocol: TcProtocol) -> Optional[float]:
    """None when the U4 curves of the two sizes cross inside their common window; else a new
    centre (K) for the larger size, one window width beyond the side where Tc must lie: the
    larger lattice more ordered (U4 higher) everywhere means Tc above the window."""
    if _pair_crossing(small, big, stag, protocol) is not None:
        return None
    grid = _pair_grid(small, big, protocol)
    t = big.temperatures
    width = t[-1] - t[0]
    if grid is None:
        return float(0.5 * (small.temperatures[0] + small.temperatures[-1]))
    a = _curves(small, stag, grid, protocol.n_blocks)
    b = _curves(big, stag, grid, protocol.n_blocks)
    if a is None or b is None:
        return None
    ok = a.reliable & b.reliable
    if not ok.any():
        return None
    side = recentre_side(a.values["u4_m"][ok], b.values["u4_m"][ok])
    if side == "stay":
        return None
    centre = float(np.sqrt(t[0] * t[-1]))
    return centre + width if side == "up" else max(centre - width, 0.5 * centre)


def bracketed_centre(history: list, lo: float, hi: float, side: str) -> Optional[float]:
    """After a move: the centre (K) between two windows that bracket Tc, or None.

    history: (lo, hi, side) of the earlier windows of this size that did not cross (side "up":
    Tc above that window, "down": below); (lo, hi, side) the current one. A window that says
    "up" and one above it that says "down" put Tc between the first's top and the second's
    bottom: the next window is centred there (geometric mean) instead of a full window width
    further on, which would step over the crossing and back again."""
    for lo0, hi0, side0 in reversed(history):
        if side == "up" and side0 == "down" and lo0 >= lo:
            return float(np.sqrt(hi * lo0))
        if side == "down" and side0 == "up" and hi0 <= hi:
            return float(np.sqrt(hi0 * lo))
    return None


def recentre_side(u4_small, u4_big) -> str:
    """Where Tc lies from the U4 curves [G] of two sizes that do not cross on a window:
    "stay" when either dips below U4_FIRST_ORDER (a first-order transition is inside: its
    curves need not cross), "down" when both stay below U4_CROSS_MIN everywhere (disordered:
    the window is above Tc), else "up" when the larger lattice is more ordered on average (Tc
    above the window) and "down" when it is less."""
    u4_small, u4_big = np.asarray(u4_small, float), np.asarray(u4_big, float)
    if min(u4_small.min(), u4_big.min()) < U4_FIRST_ORDER:
        return "stay"
    if max(u4_small.max(), u4_big.max()) < U4_CROSS_MIN:
        return "down"
    return "up" if float(np.mean(u4_big - u4_small)) > 0 else "down"


def _extrapolate(pairs: list) -> Optional[dict]:
    """Crossings of consecutive sizes T(L1) = Tc + a L1^-x, x = 1/nu + omega (weighted fit)."""
    pts = [(p["L1"], p["tc"], p["tc_err"]) for p in pairs
           if p.get("consecutive") and np.isfinite(p["tc"]) and p["tc_err"] > 0]
    if len(pts) < 2:
        return None
    x = 1.0 / NU_HEISENBERG_3D + OMEGA_HEISENBERG_3D
    L1, t, e = (np.array(v, dtype=float) for v in zip(*pts))
    A = np.column_stack([np.ones_like(L1), L1 ** -x]) / e[:, None]
    coef, *_ = np.linalg.lstsq(A, t / e, rcond=None)
    cov = np.linalg.inv(A.T @ A)
    return {"tc": float(coef[0]), "tc_err": float(np.sqrt(cov[0, 0])), "exponent": x,
            "points": len(pts), "note": "correlated pairs share sizes; exponent fixed to the "
                                        "3D Heisenberg class"}


def select_tc(pairs: list, sizes: list, peak: Optional[dict]) -> tuple:
    """Step 4's choice (module docstring): (tc, tc_err, method, the largest pair or None).
    pairs: [{L1, L2, tc, tc_err, roots}] of every size pair; sizes increasing; peak: the chi
    peak {t, t_err} of the largest size or None."""
    def pair(a, b):
        return next((p for p in pairs if [p["L1"], p["L2"]] == [a, b]), None)
    top = pair(*sizes[-2:]) if len(sizes) >= 2 else None
    wide = pair(sizes[0], sizes[-1]) if len(sizes) >= 3 else None
    if (top is not None and len(top["roots"]) > 1 and wide is not None
            and len(wide["roots"]) == 1):
        return wide["tc"], wide["tc_err"], "binder_widest_pair", top
    if top is not None and np.isfinite(top["tc"]):
        return top["tc"], top["tc_err"], "binder_largest_pair", top
    if peak is not None:
        return peak["t"], peak["t_err"], "chi_peak", top
    return float("nan"), float("nan"), "none", top


def run_tc_protocol(build: Callable[[int], object], settings: dict, protocol: TcProtocol,
                    workdir: Optional[str] = None, seed: int = 0,
                    centre: Optional[float] = None, order: Optional[str] = None
                    ) -> TcProtocolResult:
    """The whole protocol (module docstring) for one model. ``centre`` (K) skips the bracket
    stage. order: 'm' (magnetisation) or 'ms' (staggered, with the System's signs); None: 'ms'
    when the System has sublattice signs, else 'm'. Writes ``workdir/tc_protocol.json``."""
    if order not in (None, "m", "ms"):
        raise ProtocolError(f"order must be 'm', 'ms' or None, got {order!r}")
    t0 = time.perf_counter()
    if workdir is not None:
        os.makedirs(workdir, exist_ok=True)
    how = {"how": "given", "t": centre}
    if centre is None:
        centre, how = _bracket_centre(build, settings, protocol, workdir, seed, order)
    runs, curves, pts = [], {}, {}
    shifts = []
    c_next = centre
    for i, L in enumerate(protocol.sizes):
        tried = []                     # (lo, hi, side) of this size's windows without crossing
        for attempt in range(MAX_RECENTRE + 1):
            pt, stag, run = _window_run(build, settings, protocol, L, c_next, workdir, seed,
                                        order)
            if i == 0:
                break
            prev_pt, prev_stag = pts[protocol.sizes[i - 1]]
            moved = _recentre(prev_pt, pt, stag, protocol)
            if moved is None or attempt == MAX_RECENTRE:
                break
            lo_w, hi_w = float(run.temperatures[0]), float(run.temperatures[-1])
            side = "up" if moved > c_next else "down"
            between = bracketed_centre(tried, lo_w, hi_w, side)
            tried.append((lo_w, hi_w, side))
            if between is not None:
                log.info("L=%d: Tc bracketed by this window and an earlier one: centred "
                         "between them", L)
                moved = between
            shifts.append({"L": L, "from": c_next, "to": moved, "why": "no crossing with "
                           f"L={protocol.sizes[i - 1]} in the window"})
            log.info("L=%d: no U4 crossing with L=%d in %.1f-%.1f K: both windows moved to "
                     "%.1f K", L, protocol.sizes[i - 1], run.temperatures[0],
                     run.temperatures[-1], moved)
            c_next = moved
            # the smaller size moves too: a crossing needs both curves on the new window
            prev = protocol.sizes[i - 1]
            ppt, pstag, prun = _window_run(build, settings, protocol, prev, moved, workdir,
                                           seed, order)
            pts[prev] = (ppt, pstag)
            runs[-1] = prun
        runs.append(run)
        pts[L] = (pt, stag)
        if i > 0:                      # the next (larger) size centres on this pair's crossing
            cr = _pair_crossing(pts[protocol.sizes[i - 1]][0], pt, stag, protocol)
            if cr is not None:
                c_next = cr.temperature
    lo = min(r.temperatures[0] for r in runs)
    hi = max(r.temperatures[-1] for r in runs)
    grid = np.linspace(lo, hi, protocol.grid_points)
    for L, (pt, stag) in pts.items():
        c = _curves(pt, stag, grid, protocol.n_blocks)
        if c is not None:
            curves[L] = c
            next(r for r in runs if r.L == L).blocks_ok = c.blocks_ok
    pairs = []
    sizes = [L for L in protocol.sizes if L in curves]
    for L1, L2 in itertools.combinations(sizes, 2):
        cr = binder_crossing(curves[L1], curves[L2])
        consecutive = sizes.index(L2) == sizes.index(L1) + 1
        pairs.append({"L1": L1, "L2": L2, "consecutive": consecutive,
                      "tc": cr.temperature if cr else float("nan"),
                      "tc_err": cr.error if cr else float("nan"),
                      "u4": cr.u4 if cr else float("nan"),
                      "roots": cr.all_roots if cr else [],
                      "replicates_with_crossing": cr.n_replicates_ok if cr else 0})
    peak = _chi_peak(curves[sizes[-1]]) if sizes else None
    first_order = _first_order(curves[sizes[-1]], sizes[-1]) if sizes else None
    reliable = all(r.stop == "converged" and r.blocks_ok for r in runs)
    tc, err, method, top = select_tc(pairs, sizes, peak)
    big = sizes[-2:]
    ill = top is not None and len(top["roots"]) > 1
    if ill and method == "binder_largest_pair":
        reliable = False
    notes = []
    if method == "binder_widest_pair":
        notes.append(f"the L={big[0]} and L={big[1]} curves cross {len(top['roots'])} times "
                     f"in the window (too close for their errors): Tc from L={sizes[0]} / "
                     f"L={sizes[-1]}")
    if not reliable:
        notes.append("tc_err is a lower bound: " + "; ".join(
            f"L={r.L} stopped on its budget (tau_max {r.tau_max:.1f}, U4 error "
            f"{r.u4_err_max:.4f})" if r.stop != "converged" else
            f"L={r.L} jackknife blocks < 10 tau_int" for r in runs
            if r.stop != "converged" or not r.blocks_ok) +
            ("; the U4 curves of the largest pair cross more than once"
             if ill and method == "binder_largest_pair" else ""))
    outside = sorted({w for r in runs for w in r.extrapolation})
    if outside:
        notes.append("the model is evaluated outside its training data: " + "; ".join(outside))
    if first_order is not None:
        notes.append(f"U4 of L={first_order['L']} dips to {first_order['u4_min']:.2f} at "
                     f"{first_order['T']:.0f} K: a first-order transition (coexisting phases), "
                     "Tc is the transition temperature of the simulated sizes")
    if method == "chi_peak":
        notes.append("no U4 crossing of the two largest sizes in the window: the reweighted "
                     "chi peak of the largest size is reported")
    res = TcProtocolResult(float(tc), float(err), method, reliable, "; ".join(notes),
                           float(centre), pairs, _extrapolate(pairs), peak, runs,
                           dict(protocol.as_dict(), centre_from=how, window_moves=shifts),
                           time.perf_counter() - t0, curves, first_order)
    if workdir is not None:
        atomic_write_text(os.path.join(workdir, "tc_protocol.json"),
                          json.dumps(_jsonable(res.as_dict()), indent=1))
    return res


def _jsonable(x):
    """Plain JSON types; non-finite floats as None."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x
