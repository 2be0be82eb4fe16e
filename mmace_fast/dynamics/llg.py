"""Stochastic spin dynamics of a Hamiltonian's moments, resumable from checkpoints.

Transverse (fixed |m|): the stochastic Landau-Lifshitz-Gilbert equation with Gilbert damping
``alpha`` and a Langevin field, integrated by the semi-implicit SIB scheme (|m| conserved to
rounding). Longitudinal (free |m|): Ma-Dudarev Langevin spin dynamics, whose stationary density is
exp(-E/kT) d^3m, the measure of the Monte Carlo engine. Equations, references and integrators:
src_cpp/include/mmace/spin_dynamics.hpp; units: :mod:`mmace_fast.conventions` (time fs).

The Hamiltonian must give -dE/dm (``field_at``): the classical spin Hamiltonians and the frozen
mMACE (a reverse pass through its C++ evaluator) do; one that does not is refused with the
reason.

Units and shapes: spins [n, 3] in the Hamiltonian's own unit (muB, or unit vectors with
``unit_moment_muB`` muB each); energies eV; times fs; q points [n_q, 3] in 1/A (cartesian).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from mmace_fast import _core
from mmace_fast import conventions as cv

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "mmace_fast.llg/1"


@dataclass(frozen=True)
class LLGConfig:
    """Settings of one trajectory.

    temperature K; dt_fs fs; alpha: Gilbert damping (transverse) or, longitudinal, the same
    dimensionless damping turned into the Ma-Dudarev rate eta = gamma alpha m_ref / (1 +
    alpha^2) (the rate at which both give the same transverse relaxation at |m| = m_ref, since
    Gilbert's damping term is gamma alpha / (1 + alpha^2) |m| h_perp); unit_moment_muB: muB per
    unit of the Hamiltonian's vectors (1 for vectors in muB; M for unit-vector models of
    moments M); m_ref: reference length in the Hamiltonian's unit (None: the RMS initial
    length).
    """

    temperature: float = 0.0
    dt_fs: float = 0.1
    alpha: float = 0.1
    longitudinal: bool = False
    unit_moment_muB: float = 1.0
    m_ref: Optional[float] = None
    seed: int = 0

    def __post_init__(self):
        for name in ("temperature", "dt_fs", "alpha", "unit_moment_muB"):
            v = getattr(self, name)
            if not np.isfinite(v):
                raise ValueError(f"{name} must be finite, got {v}")
        if self.temperature < 0:
            raise ValueError("temperature must be >= 0 K")
        if self.dt_fs <= 0:
            raise ValueError("dt_fs must be > 0")
        if self.alpha < 0:
            raise ValueError("alpha must be >= 0")
        if self.unit_moment_muB <= 0:
            raise ValueError("unit_moment_muB must be > 0")
        if self.m_ref is not None and not (np.isfinite(self.m_ref) and self.m_ref > 0):
            raise ValueError("m_ref must be > 0")
        if self.temperature > 0 and self.alpha == 0:
            raise ValueError("a thermostat (temperature > 0) needs damping: alpha > 0")

    @property
    def gamma(self) -> float:
        """rad / (fs eV) per unit of the Hamiltonian's vectors."""
        return cv.GAMMA_RAD_PER_FS_EV / self.unit_moment_muB


@dataclass
class LLGSamples:
    """Time series of a trajectory: t_fs [k], energy [k] eV, M [k, 3] per-site mean moment
    (Hamiltonian units), mq [k, n_q, 3] complex sum_i m_i exp(-i q.r_i) (if q points were
    given)."""

    t_fs: np.ndarray
    energy: np.ndarray
    M: np.ndarray
    mq: Optional[np.ndarray] = None


class SpinDynamics:
    """One trajectory of ``hamiltonian`` (a :class:`mmace_fast.mc.hamiltonian.CoreHamiltonian`)
    from ``spins`` [n, 3].

    positions [n, 3] A and q_points [n_q, 3] 1/A: record m(q, t) at every sample (for the
    dynamical structure factor, :mod:`mmace_fast.dynamics.magnons`).
    """

    def __init__(self, hamiltonian, spins, config: LLGConfig, positions=None, q_points=None):
        self.ham = hamiltonian
        self.config = config
        n = hamiltonian.n_sites
        spins = np.ascontiguousarray(spins, dtype=np.float64)
        if spins.shape != (n, 3):
            raise ValueError(f"spins has shape {spins.shape}, expected ({n}, 3)")
        if not np.all(np.isfinite(spins)):
            raise ValueError("spins must be finite")
        try:
            hamiltonian.core.field_at(spins)
        except (RuntimeError, NotImplementedError) as exc:
            raise ValueError(f"{type(hamiltonian).__name__} gives no magnetic forces "
                             f"(-dE/dm), which spin dynamics needs: {exc}") from exc
        self.phase = None
        self.q_points = None
        if q_points is not None:
            if positions is None:
                raise ValueError("q_points need the positions of the sites")
            pos = np.asarray(positions, dtype=np.float64)
            if pos.shape != (n, 3):
                raise ValueError(f"positions has shape {pos.shape}, expected ({n}, 3)")
            self.q_points = np.asarray(q_points, dtype=np.float64).reshape(-1, 3)
            self.phase = np.exp(-1j * self.q_points @ pos.T)        # [n_q, n]
        lengths = np.linalg.norm(spins, axis=1)
        self.m_ref = float(config.m_ref if config.m_ref is not None
                           else np.sqrt(np.mean(lengths ** 2)))
        if self.m_ref <= 0:
            raise ValueError("all moments are zero")
        self.core = _core.SpinDynamicsCore(hamiltonian.core, int(config.seed), 0)
        kT = float(cv.kelvin_to_ev(config.temperature))
        if config.longitudinal:
            self.core.set_settings(dt=config.dt_fs, gamma=config.gamma, alpha=0.0, kT=kT,
                                   longitudinal=True,
                                   eta=config.gamma * config.alpha * self.m_ref
                                   / (1.0 + config.alpha ** 2))
        else:
            self.core.set_settings(dt=config.dt_fs, gamma=config.gamma, alpha=config.alpha,
                                   kT=kT, longitudinal=False, eta=0.0)
        hamiltonian.core.set_spins(spins)
        #: identity of the starting moments: a checkpoint resumes only the same trajectory
        self.start_hash = hashlib.sha256(spins.tobytes()).hexdigest()
        self._series = {"t_fs": [], "energy": [], "M": [], "mq": []}
        self._traj_frames = 0

    # -- state ----------------------------------------------------------------------------------
    @property
    def spins(self) -> np.ndarray:
        """Current moments [n, 3] (Hamiltonian units)."""
        return self.ham.core.get_spins()

    @property
    def steps(self) -> int:
        return int(self.core.steps)

    @property
    def time_fs(self) -> float:
        return self.steps * self.config.dt_fs

    def samples(self) -> LLGSamples:
        s = self._series
        nq = 0 if self.q_points is None else len(self.q_points)
        return LLGSamples(np.asarray(s["t_fs"], dtype=float),
                          np.asarray(s["energy"], dtype=float),
                          np.asarray(s["M"], dtype=float).reshape(-1, 3),
                          None if self.phase is None
                          else np.asarray(s["mq"], dtype=complex).reshape(-1, nq, 3))

    def identity(self, sample_every: int) -> str:
        """What a checkpoint must match to be resumed: the Hamiltonian, the starting moments,
        the settings, the sampling and the q points."""
        h = hashlib.sha256(CHECKPOINT_FORMAT.encode())
        h.update(self.ham.content_hash().encode())
        h.update(self.start_hash.encode())
        h.update(json.dumps(asdict(self.config), sort_keys=True).encode())
        h.update(json.dumps(self.core.get_settings(), sort_keys=True).encode())
        h.update(str(int(sample_every)).encode())
        if self.q_points is not None:
            h.update(self.q_points.tobytes())
        return h.hexdigest()

    # -- running --------------------------------------------------------------------------------
    def run(self, n_steps: int, sample_every: int = 10, checkpoint=None,
            checkpoint_every_s: float = 300.0, trajectory=None, trajectory_every: int = 0,
            atoms=None) -> LLGSamples:
        """Integrate until the trajectory has ``n_steps`` steps in all (a rerun with the same
        checkpoint resumes and continues to the same total), sampling every ``sample_every``
        steps. checkpoint: .npz path (written atomically every ``checkpoint_every_s`` seconds
        and at the end; an existing one is resumed if it is this run, refused otherwise).
        trajectory: extended-XYZ path receiving every ``trajectory_every``-th sample (``atoms``:
        the ase.Atoms of the sites; moments in muB under the moment key of
        :class:`mmace_fast.data.readers.ExtxyzKeys`, so the frames read back as configurations)."""
        n_steps, sample_every = int(n_steps), int(sample_every)
        if n_steps < 0 or sample_every < 1:
            raise ValueError("n_steps must be >= 0 and sample_every >= 1")
        if n_steps % sample_every:
            raise ValueError(f"n_steps ({n_steps}) must be a multiple of sample_every "
                             f"({sample_every})")
        if trajectory is not None and (atoms is None or trajectory_every < 1):
            raise ValueError("a trajectory needs atoms and trajectory_every >= 1")
        ident = self.identity(sample_every)
        if checkpoint is not None and Path(checkpoint).exists():
            self._resume(Path(checkpoint), ident, trajectory)
        if self.steps % sample_every:
            raise ValueError(f"the trajectory is at step {self.steps}, not a multiple of "
                             f"sample_every = {sample_every}")
        t_last = time.monotonic()
        while self.steps + sample_every <= n_steps:
            e, m = self.core.run(sample_every, sample_every)
            self._record(e[-1], m[-1])
            k = len(self._series["energy"])
            if trajectory is not None and k % trajectory_every == 0:
                self._write_frame(trajectory, atoms)
            if checkpoint is not None and time.monotonic() - t_last >= checkpoint_every_s:
                self._save(Path(checkpoint), ident)
                t_last = time.monotonic()
        if checkpoint is not None:
            self._save(Path(checkpoint), ident)
        return self.samples()

    def _record(self, energy: float, M) -> None:
        s = self._series
        s["t_fs"].append(self.time_fs)
        s["energy"].append(float(energy))
        s["M"].append(np.asarray(M, dtype=float))
        if self.phase is not None:
            s["mq"].append(self.phase @ self.ham.core.get_spins())   # [n_q, 3] complex

    def _write_frame(self, path, atoms) -> None:
        from ase.io import write  # noqa: PLC0415

        from mmace_fast.data.readers import ExtxyzKeys  # noqa: PLC0415

        a = atoms.copy()
        a.calc = None
        a.set_array(ExtxyzKeys().magmom, self.spins * self.config.unit_moment_muB)
        a.info["time_fs"] = self.time_fs
        write(str(path), a, format="extxyz", append=True)
        self._traj_frames += 1

    # -- checkpoints ----------------------------------------------------------------------------
    def _save(self, path: Path, ident: str) -> None:
        s = self.samples()
        data = dict(format=np.array(CHECKPOINT_FORMAT), identity=np.array(ident),
                    spins=self.spins, rng=self.core.get_rng_state(),
                    steps=np.array(self.steps, dtype=np.int64), t_fs=s.t_fs, energy=s.energy,
                    M=s.M, traj_frames=np.array(self._traj_frames, dtype=np.int64))
        xi = self.core.get_last_noise()
        if xi is not None:
            data["last_noise"] = xi
        if s.mq is not None:
            data["mq"] = s.mq
        tmp = path.with_name(path.name + ".tmp.npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(tmp, **data)
        os.replace(tmp, path)

    def _resume(self, path: Path, ident: str, trajectory) -> None:
        with np.load(path, allow_pickle=False) as z:
            if str(z["format"]) != CHECKPOINT_FORMAT:
                raise ValueError(f"{path}: not a spin dynamics checkpoint ({z['format']})")
            if str(z["identity"]) != ident:
                raise ValueError(f"{path} is another run (Hamiltonian, starting moments, settings, "
                             "sampling or q points differ): remove it or choose another "
                             "checkpoint path")
            self.ham.core.set_spins(z["spins"])
            self.core.set_rng_state(z["rng"])
            self.core.steps = int(z["steps"])
            self.core.set_last_noise(z["last_noise"] if "last_noise" in z else None)
            self._series = {"t_fs": list(z["t_fs"]), "energy": list(z["energy"]),
                            "M": list(z["M"]), "mq": list(z["mq"]) if "mq" in z else []}
            self._traj_frames = int(z["traj_frames"])
        if trajectory is not None:
            _truncate_trajectory(Path(trajectory), self._traj_frames)
        log.info("spin dynamics resumed from %s at step %d (%.1f fs)", path, self.steps,
                 self.time_fs)


def _truncate_trajectory(path: Path, n_frames: int) -> None:
    """Keep the first n_frames of an extended-XYZ file (frames written after the checkpoint
    that a resumed run writes again)."""
    if not path.exists():
        if n_frames:
            raise ValueError(f"{path}: the checkpoint recorded {n_frames} frames, the file is gone")
        return
    from ase.io import read, write  # noqa: PLC0415

    frames = read(str(path), index=":", format="extxyz")
    if len(frames) < n_frames:
        raise ValueError(f"{path} has {len(frames)} frames, the checkpoint recorded {n_frames}")
    if len(frames) > n_frames and n_frames == 0:
        path.unlink()
    elif len(frames) > n_frames:
        tmp = path.with_name(path.name + ".tmp")
        write(str(tmp), frames[:n_frames], format="extxyz")
        os.replace(tmp, path)
