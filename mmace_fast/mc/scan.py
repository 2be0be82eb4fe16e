"""Temperature scans and critical temperatures.

:func:`temperature_scan` runs one Monte Carlo simulation per temperature (own RNG stream each,
warm-started from the previous temperature's final moments), summarises each with errors
(:func:`mmace_fast.mc.stats.summarize`) and returns a :class:`~mmace_fast.mc.table.ScanTable`.
With ``workdir`` every temperature checkpoints (resumable) and the table is rewritten after each
temperature, so a killed scan loses at most one checkpoint interval.

:func:`critical_temperature` combines scans of two or more lattice sizes: Binder crossings
(:func:`mmace_fast.mc.tc.binder_tc`) and the susceptibility peak of the largest size.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from mmace_fast.mc.engine import MonteCarlo
from mmace_fast.mc.stats import summarize
from mmace_fast.mc.table import ScanTable
from mmace_fast.mc.tc import binder_tc, chi_peak

log = logging.getLogger(__name__)


@dataclass
class System:
    """What a scan simulates: a Hamiltonian, initial moments [n, 3] muB, sublattice signs [n] or
    [n_patterns, n] (domains),
    optional active sites (bool mask [n] or indices; None = all), an optional surrogate
    Hamiltonian of the same sites (delayed acceptance, guided over-relaxation). Per-site
    observables (E per site, C, chi) are normalised by the number of active sites."""

    hamiltonian: object
    spins: np.ndarray
    signs: np.ndarray | None = None
    label: str = ""
    active: np.ndarray | None = None
    surrogate: object | None = None

    @property
    def n_active(self) -> int:
        """Sites the Monte Carlo moves (all when ``active`` is None)."""
        if self.active is None:
            return int(self.hamiltonian.n_sites)
        a = np.asarray(self.active)
        return int(np.count_nonzero(a)) if a.dtype == bool else len(a)


def temperature_scan(system: System, temperatures: Sequence[float], n_equil: int, n_prod: int,
                     sample_every: int = 1, seed: int = 0, workdir: str | None = None,
                     checkpoint_every: int = 1000, progress: Callable | None = None,
                     **settings) -> ScanTable:
    """Scan ``temperatures`` (K) in the given order; see the module docstring.

    settings: Monte Carlo settings (move, sigma, wolff_per_sweep, p_longitudinal, ...).
    progress(k, n_temperatures, row) is called after each temperature.
    """
    temps = np.asarray(temperatures, dtype=float)
    if temps.ndim != 1 or len(temps) == 0:
        raise ValueError("temperatures must be a non-empty 1-d sequence")
    if not np.all(np.isfinite(temps)) or np.any(temps <= 0):
        raise ValueError("temperatures must be positive and finite")
    if workdir is not None:
        os.makedirs(workdir, exist_ok=True)
    n_all = int(system.hamiltonian.n_sites)
    n = system.n_active
    table = ScanTable(metadata={"label": system.label, "n_sites": n, "n_atoms": n_all,
                                "n_equil": int(n_equil), "n_prod": int(n_prod),
                                "sample_every": int(sample_every), "seed": int(seed),
                                "settings": {k: v for k, v in settings.items()
                                             if k != "surrogate"},
                                "extrapolation": list(getattr(system.hamiltonian,
                                                              "extrapolation", []))})
    spins = np.asarray(system.spins, dtype=float)
    if system.surrogate is not None:
        settings.setdefault("surrogate", system.surrogate)
    for k, t in enumerate(temps):
        t0 = time.perf_counter()
        mc = MonteCarlo(system.hamiltonian, spins, t, seed=seed, stream=k,
                        sublattice_signs=system.signs, active_sites=system.active, **settings)
        ckpt = None if workdir is None else os.path.join(workdir, f"T{k:03d}_{t:.4f}K.npz")
        s = mc.run(n_equil, n_prod, sample_every, checkpoint=ckpt,
                   checkpoint_every=_chunk(checkpoint_every, sample_every))
        series = {"energy": s.energy, "magnetisation": s.magnetisation}
        if system.signs is not None:
            series["staggered"] = s.staggered
        row = summarize(series, n, t, n_blocks=min(50, max(4, len(s) // 20)))
        row.update({f"acc_{name}": v for name, v in mc.acceptance().items()})
        row["wall_s"] = time.perf_counter() - t0
        table.add_row(row)
        spins = mc.spins  # warm start
        if workdir is not None:
            table.to_json(os.path.join(workdir, "scan.json"))
            table.to_csv(os.path.join(workdir, "scan.csv"))
        if progress is not None:
            progress(k, len(temps), row)
        log.info("T = %.2f K: |m| = %.4f, U4 = %.4f (%.1f s)", t, row["m_abs"], row["u4_m"],
                 row["wall_s"])
    return table


def _chunk(checkpoint_every, sample_every):
    c = max(int(checkpoint_every), int(sample_every))
    return c - c % int(sample_every)


@dataclass
class TcEstimate:
    """Critical temperature (K) from Binder crossings and from the chi peak of the largest L."""

    tc_binder: float
    tc_binder_err: float
    tc_chi: float
    tc_chi_err: float
    u4_cross: float
    sizes: tuple
    binder: object = None
    #: (lowest, highest) U4 crossing of the linear interpolants over all pairs of sizes (K); wider
    #: than the error bar when noisy curves cross more than once (BinderTcResult.crossing_range)
    tc_binder_range: tuple = (float("nan"), float("nan"))

    def as_dict(self) -> dict:
        return {"tc_binder_K": self.tc_binder, "tc_binder_err_K": self.tc_binder_err,
                "tc_binder_range_K": list(self.tc_binder_range),
                "tc_chi_peak_K": self.tc_chi, "tc_chi_peak_err_K": self.tc_chi_err,
                "u4_cross": self.u4_cross, "sizes": list(self.sizes)}


def critical_temperature(tables: dict, order: str = "m", n_boot: int = 400,
                         seed: int = 0) -> TcEstimate:
    """Tc from scans {L: ScanTable} of the order parameter ``order`` ('m' or 'ms')."""
    if len(tables) < 2:
        raise ValueError("Binder crossings need scans of at least two lattice sizes")
    scans = {L: (tab.column("temperature_K"), tab.column(f"u4_{order}"),
                 tab.column(f"u4_{order}_err")) for L, tab in tables.items()}
    b = binder_tc(scans, n_boot=n_boot, seed=seed)
    big = tables[max(tables)]
    try:
        p = chi_peak(big.column("temperature_K"), big.column(f"chi_{order}"),
                     big.column(f"chi_{order}_err"), n_boot=n_boot, seed=seed)
        tc_chi, tc_chi_err = p.t_peak, p.t_peak_err
    except ValueError as exc:
        log.warning("no susceptibility peak: %s", exc)
        tc_chi, tc_chi_err = float("nan"), float("nan")
    return TcEstimate(b.tc, b.tc_err_scaled, tc_chi, tc_chi_err, b.u4, tuple(sorted(tables)), b,
                      b.crossing_range)
