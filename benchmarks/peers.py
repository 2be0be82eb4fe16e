"""Peer references for side-by-side speed figures (speed only; no physics is taken from them).

* :func:`numpy_checkerboard_sc` -- a vectorised float64 NumPy checkerboard Metropolis for the
  simple-cubic nearest-neighbour classical Heisenberg model, H = -J sum_<ij> S_i.S_j (each bond
  once, |S| = 1), with trial spins drawn uniformly on the full sphere. It is a correct sampler
  (the two sublattices of the bipartite sc lattice do not interact with themselves, so all sites
  of one colour can be updated at once with an exact dE) and serves as the "plain NumPy" line.
* :func:`spirit_sc` -- Spirit 2.2.0 (``pip install spirit==2.2.0``, the optional ``bench`` extra)
  Method_MC on the same model. Spirit's Metropolis is biased (references.md): the "old" energy of
  a trial uses sweep-start neighbours (stale), a site drawn twice in one sweep is restored to its
  sweep-start orientation, and the full-sphere trial draws cos(theta) in [0, 1] only (upper
  hemisphere: <m_z> = 0.50 at 1e5 K). Its Binder crossing for sc lands at kTc/J = 1.39 instead of
  1.443. Use it for moves/s only.

Both return trial moves per second of wall time on the calling thread (one core: NumPy here is
single-threaded elementwise work; the Spirit PyPI wheel is a serial build).
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

#: Boltzmann constant in meV/K (Spirit works in meV and K)
KB_MEV_PER_K = 8.617333262e-2

__all__ = ["numpy_checkerboard_run", "numpy_checkerboard_sc", "spirit_available", "spirit_sc",
           "spirit_run"]


# --------------------------------------------------------------------------------------------
# NumPy checkerboard reference
# --------------------------------------------------------------------------------------------
def _check_lattice(L: int, n_sweeps: int) -> None:
    if int(L) != L or L < 2 or L % 2:
        raise ValueError("L must be an even integer >= 2 (checkerboard with periodic "
                         f"boundaries), got {L}")
    if int(n_sweeps) != n_sweeps or n_sweeps < 0:
        raise ValueError(f"n_sweeps must be a non-negative integer, got {n_sweeps}")


def _random_unit(rng: np.random.Generator, n: int) -> np.ndarray:
    """n vectors uniform on the unit sphere, component-major: [3, n]."""
    v = rng.standard_normal((3, n))
    v /= np.sqrt(np.einsum("ij,ij->j", v, v))
    return v


def numpy_checkerboard_run(L: int, n_sweeps: int, beta_J: float, seed: int = 0,
                           spins: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Run ``n_sweeps`` checkerboard Metropolis sweeps of the sc NN Heisenberg model.

    Parameters
    ----------
    L : even int, lattice is L^3 with periodic boundaries
    n_sweeps : int, each sweep makes one trial move per site (L^3 moves)
    beta_J : float, J / kT (dimensionless; > 0 ferromagnet)
    seed : int, seed of the NumPy Generator
    spins : optional initial state [3, L, L, L] of unit vectors (default: random), updated in place

    Returns
    -------
    spins : [3, L, L, L] float64 unit vectors (component-major)
    acceptance : float, accepted / attempted moves
    """
    _check_lattice(L, n_sweeps)
    if not np.isfinite(beta_J):
        raise ValueError(f"beta_J must be finite, got {beta_J}")
    rng = np.random.default_rng(seed)
    if spins is None:
        spins = _random_unit(rng, L ** 3).reshape(3, L, L, L)
    elif spins.shape != (3, L, L, L) or spins.dtype != np.float64:
        raise ValueError(f"spins must be float64 [3, {L}, {L}, {L}], got {spins.dtype} "
                         f"{spins.shape}")
    x, y, z = np.indices((L, L, L))
    masks = [((x + y + z) % 2) == c for c in (0, 1)]       # [L, L, L] bool per colour
    n_half = L ** 3 // 2
    accepted = 0
    for _ in range(int(n_sweeps)):
        for mask in masks:
            field = np.roll(spins, 1, 1)                     # [3, L, L, L] sum of 6 neighbours
            for ax, sh in ((1, -1), (2, 1), (2, -1), (3, 1), (3, -1)):
                field += np.roll(spins, sh, ax)
            old = spins[:, mask]                             # [3, N/2]
            new = _random_unit(rng, n_half)
            # beta dE = -beta J (new - old) . h ;  accept with min(1, exp(-beta dE))
            log_p = beta_J * np.einsum("ij,ij->j", new - old, field[:, mask])
            acc = rng.random(n_half) < np.exp(np.minimum(log_p, 0.0))
            old[:, acc] = new[:, acc]
            spins[:, mask] = old
            accepted += int(acc.sum())
    attempted = max(1, int(n_sweeps) * L ** 3)
    return spins, accepted / attempted


def numpy_checkerboard_sc(L: int = 32, n_sweeps: int = 20, beta_J: float = 1.0 / 1.44293,
                          seed: int = 0) -> float:
    """Trial moves per second of :func:`numpy_checkerboard_run` (one warm-up sweep not timed)."""
    _check_lattice(L, n_sweeps)
    if n_sweeps < 1:
        raise ValueError("n_sweeps must be >= 1 to time anything")
    spins, _ = numpy_checkerboard_run(L, 1, beta_J, seed)
    t0 = time.perf_counter()
    numpy_checkerboard_run(L, n_sweeps, beta_J, seed + 1, spins=spins)
    dt = time.perf_counter() - t0
    return n_sweeps * L ** 3 / dt


# --------------------------------------------------------------------------------------------
# Spirit
# --------------------------------------------------------------------------------------------
def spirit_available() -> bool:
    """Whether the optional ``spirit`` package (Spirit 2.2.0 Python API) imports."""
    try:
        import spirit  # noqa: F401
        from spirit import state  # noqa: F401
    except Exception:      # ImportError, or OSError when libSpirit.so cannot load
        return False
    return True


@contextlib.contextmanager
def _quiet_fds():
    """Silence C-level stdout/stderr (Spirit prints a banner even in quiet mode)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved + [devnull]:
            os.close(fd)


def _spirit_config(L: int, j_mev: float, temperature_K: float, seed: int, folder: Path) -> str:
    """Spirit input file: sc lattice L^3, periodic, NN exchange J (meV, each bond once)."""
    return "\n".join([
        "hamiltonian heisenberg_neighbours",
        "boundary_conditions 1 1 1",
        "external_field_magnitude 0.0",
        "external_field_normal 0.0 0.0 1.0",
        "mu_s 1.0",
        "anisotropy_magnitude 0.0",
        "anisotropy_normal 0.0 0.0 1.0",
        "n_shells_exchange 1",
        f"jij {j_mev:.10g}",
        "n_shells_dmi 0",
        "ddi_method 0",
        "bravais_lattice sc",
        f"n_basis_cells {L} {L} {L}",
        "log_to_console 0",
        "log_to_file 0",
        "log_console_level 0",
        "log_file_level 0",
        "save_input_initial 0",
        "save_input_final 0",
        "save_positions_initial 0",
        "save_positions_final 0",
        "save_neighbours_initial 0",
        "save_neighbours_final 0",
        "output_file_tag bench",
        f"log_output_folder {folder}",
        f"mc_output_folder {folder}",
        "mc_output_any 0",
        "mc_output_initial 0",
        "mc_output_final 0",
        f"mc_seed {int(seed)}",
        "mc_n_iterations 1",
        "mc_n_iterations_log 1",
        f"mc_temperature {temperature_K:.10g}",
        "",
    ])


def spirit_run(L: int, n_sweeps: int, kT_over_J: float, seed: int = 20006,
               j_mev: float = 1.0) -> dict | None:
    """Run Spirit's Method_MC on the sc NN Heisenberg ferromagnet; None if Spirit is missing.

    Spirit's Hamiltonian is H = -sum_<ij> J_ij n_i.n_j with each bond once and J in meV (a
    ferromagnetic sc state has E/N = -3J), so T[K] = kT_over_J * J[meV] / k_B[meV/K]. Trial
    moves are uniform on the "sphere" (``use_cone=False``: in 2.2.0 actually the upper
    hemisphere), one iteration = one sweep of N randomly drawn sites.

    Returns ``{"moves_per_s", "seconds", "n_moves", "m"}`` with ``m  # [3]`` the final mean spin
    (biased; see module docstring), or None when ``spirit`` is not importable.
    """
    _check_lattice(L, n_sweeps)
    if not np.isfinite(kT_over_J) or kT_over_J <= 0:
        raise ValueError(f"kT_over_J must be finite and > 0, got {kT_over_J}")
    if not spirit_available():
        logger.info("spirit is not installed (pip install spirit==2.2.0); skipping")
        return None
    from spirit import configuration, parameters, simulation, state, system

    temperature_K = kT_over_J * j_mev / KB_MEV_PER_K
    with tempfile.TemporaryDirectory(prefix="spirit_bench_") as tmp:
        cfg = Path(tmp) / "sc.cfg"
        cfg.write_text(_spirit_config(L, j_mev, temperature_K, seed, Path(tmp)))
        with _quiet_fds(), state.State(str(cfg), quiet=True) as p:
            n = system.get_nos(p)
            if n != L ** 3:
                raise RuntimeError(f"Spirit built {n} spins, expected {L ** 3}")
            configuration.plus_z(p)
            parameters.mc.set_temperature(p, temperature_K)
            parameters.mc.set_metropolis_cone(p, use_cone=False, cone_angle=40.0,
                                              use_adaptive_cone=False)
            t0 = time.perf_counter()
            simulation.start(p, simulation.METHOD_MC, n_iterations=int(n_sweeps),
                             n_iterations_log=int(n_sweeps))
            dt = time.perf_counter() - t0
            m = np.asarray(system.get_spin_directions(p), dtype=np.float64).mean(axis=0)
    return {"moves_per_s": n_sweeps * L ** 3 / dt, "seconds": dt, "n_moves": n_sweeps * L ** 3,
            "m": m}


def spirit_sc(L: int = 32, n_sweeps: int = 20, kT_over_J: float = 1.44293) -> float | None:
    """Spirit 2.2.0 trial moves per second for sc L^3 NN (None if spirit is not installed).

    Speed only: Spirit's Metropolis is biased (stale neighbours, sweep-start restore, upper-
    hemisphere trial moves; Binder crossing 1.39 instead of 1.443), see the module docstring.
    """
    res = spirit_run(L, n_sweeps, kT_over_J)
    return None if res is None else float(res["moves_per_s"])


def main() -> None:
    """Print one JSON line with both speeds for sc 32^3
    (``python benchmarks/peers.py [--quick]``)."""
    import json
    quick = "--quick" in sys.argv[1:]
    L, sweeps = (16, 5) if quick else (32, 20)
    out = {"L": L, "n_sweeps": sweeps,
           "numpy_moves_per_s_sc": numpy_checkerboard_sc(L, sweeps),
           "spirit_moves_per_s_sc": spirit_sc(L, sweeps)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
