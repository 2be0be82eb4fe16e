"""Parallel tempering (replica exchange) over K temperatures, checkpointed and restartable.

K replicas of one system, each with its own Hamiltonian object (its own spins and caches) and
its own engine (:class:`~mmace_fast.mc.engine.MonteCarlo`, seed ``seed``, stream r for
replica r), run ``exchange_every`` MC steps at their current temperatures; then neighbouring
temperature slots (a, a + 1) try to swap their replicas, the even pairs after even blocks and
the odd pairs after odd blocks (the deterministic even-odd scheme), each accepted with

    min(1, exp[(beta_a - beta_b) (E_a - E_b)]),   beta = 1 / (k_B T),

E_a the total energy (eV) of the replica at slot a. A swap exchanges temperatures, not
configurations: the replicas keep their moments and caches (an mMACE evaluator is recomputed
in full once per checkpoint chunk, not per exchange), and the proposal widths adapted to a
temperature go with the temperature.
Each slot's samples are then Boltzmann-distributed at its temperature; the time series of a slot
(whichever replica holds it) is what the error analysis reads.

The blocks of the K replicas are independent, so ``threads`` > 1 runs them concurrently (the
engine releases the GIL); the chains do not depend on the number of threads.

Checkpoint (one ``.npz``, written atomically after every chunk): the ensemble's chain parameters
(temperatures, seed, exchange interval, settings, Hamiltonian, starting moments, active sites,
sublattice signs), every replica's moments, RNG state, adapted widths and move counters, the
slot -> replica map, the exchange RNG and counters, the samples per slot and progress. A
restarted run continues bit-identically; a checkpoint of another ensemble is refused with the
field that differs.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from math import gcd
from typing import Sequence

import numpy as np

from mmace_fast.checks import seed_value
from mmace_fast.conventions import KB_EV_PER_K
from mmace_fast.mc.engine import (ADAPTED_SETTINGS, CheckpointError, MonteCarlo,
                                  check_finite_energy, read_npz_with_meta, run_in_chunks,
                                  _differences, _digest, _pad_stats, remove_stale_temporaries,
                                  write_npz_atomic)

log = logging.getLogger(__name__)

PT_CHECKPOINT_FORMAT = "mmace_fast.mc.tempering"
PT_CHECKPOINT_VERSION = 1


@dataclass
class SlotSamples:
    """Samples per temperature slot: energy [K, s] eV total, magnetisation [K, s, 3] and
    staggered [K, s, 3 n_patterns] muB per active site, replica [s, K] (which replica held each
    slot)."""

    energy: np.ndarray
    magnetisation: np.ndarray
    staggered: np.ndarray
    replica: np.ndarray = field(default=None)

    @classmethod
    def empty(cls, k: int) -> "SlotSamples":
        return cls(np.zeros((k, 0)), np.zeros((k, 0, 3)), np.zeros((k, 0, 3)),
                   np.zeros((0, k), dtype=np.int64))

    def extend(self, e, m, ms, rep):
        self.energy = np.concatenate([self.energy, e], axis=1)
        self.magnetisation = np.concatenate([self.magnetisation, m], axis=1)
        self.staggered = (np.array(ms) if self.staggered.shape[1] == 0
                          else np.concatenate([self.staggered, ms], axis=1))
        self.replica = np.concatenate([self.replica, rep], axis=0)

    def __len__(self):
        return self.energy.shape[1]

    def series(self, slot: int, staggered: bool = False) -> dict:
        """The per-sample arrays of one slot in the form :func:`mmace_fast.mc.stats.summarize`
        reads."""
        out = {"energy": self.energy[slot], "magnetisation": self.magnetisation[slot]}
        if staggered:
            out["staggered"] = self.staggered[slot]
        return out


class ParallelTempering:
    """Replica exchange between ``temperatures`` (K, strictly increasing).

    hamiltonians: K Hamiltonian objects of the same system (equal ``content_hash()``), one per
    replica. spins [n, 3] muB: every replica's starting moments, or [K, n, 3] one set per
    replica (e.g. ordered below Tc, random above). exchange_every: MC steps
    between exchange attempts. threads: replicas run concurrently within a block.
    sublattice_signs, active_sites and the Monte Carlo settings (move, sigma, ...) as for
    :class:`~mmace_fast.mc.engine.MonteCarlo` (Wolff clusters are allowed). surrogates: None or
    K cheap Hamiltonians of the same sites (equal content hashes), one per replica, for delayed
    acceptance and, when the exact Hamiltonian has no reflection axis, guided over-relaxation.
    """

    def __init__(self, hamiltonians: Sequence, spins, temperatures, seed: int = 0,
                 exchange_every: int = 1, threads: int = 1, sublattice_signs=None,
                 active_sites=None, surrogates=None, **settings):
        temps = _check_temperatures(temperatures)
        hams = list(hamiltonians)
        if len(hams) != len(temps):
            raise ValueError(f"{len(hams)} Hamiltonians for {len(temps)} temperatures: one "
                             "Hamiltonian object per replica is needed")
        if len({id(h) for h in hams}) != len(hams):
            raise ValueError("each replica needs its own Hamiltonian object (they hold the "
                             "moments and caches)")
        h0 = hams[0].content_hash()
        if any(h.content_hash() != h0 for h in hams[1:]):
            raise ValueError("the replicas' Hamiltonians differ (content hashes)")
        if "surrogate" in settings:
            raise ValueError("parallel tempering takes one surrogate per replica: pass "
                             "surrogates=[...], not surrogate=")
        surs = [None] * len(temps) if surrogates is None else list(surrogates)
        if surrogates is not None:
            if len(surs) != len(temps) or len({id(x) for x in surs}) != len(surs):
                raise ValueError(f"surrogates: one distinct Hamiltonian object per replica "
                                 f"({len(temps)}), got {len(surs)}")
            if any(x.content_hash() != surs[0].content_hash() for x in surs[1:]):
                raise ValueError("the replicas' surrogates differ (content hashes)")
        start = self._setup(temps, seed, exchange_every, threads, spins)
        self.replicas = [MonteCarlo(h, start[r], t, seed=seed, stream=r,
                                    sublattice_signs=sublattice_signs, active_sites=active_sites,
                                    surrogate=sur, **settings)
                         for r, (h, t, sur) in enumerate(zip(hams, temps, surs))]
        self._finish_setup()

    def _setup(self, temps, seed, exchange_every, threads, spins) -> np.ndarray:
        """Scalar settings (validated); returns the starting moments [K, n, 3]."""
        if int(exchange_every) != exchange_every or exchange_every < 1:
            raise ValueError(f"exchange_every must be a positive integer, got {exchange_every}")
        if int(threads) != threads or threads < 1:
            raise ValueError(f"threads must be a positive integer, got {threads}")
        self.temperatures = temps                       # [K] K, slot order
        self.seed = seed_value(seed)
        self.exchange_every = int(exchange_every)
        self.threads = int(threads)
        self._pool = None
        self._synced = None          # checkpoint path this object last wrote or read
        start = np.asarray(spins, dtype=np.float64)
        if start.ndim == 2:
            start = np.broadcast_to(start, (len(temps),) + start.shape)
        if start.ndim != 3 or start.shape[0] != len(temps):
            raise ValueError(f"spins must be [n, 3] or [{len(temps)}, n, 3], got "
                             f"{np.shape(spins)}")
        return start

    def _finish_setup(self) -> None:
        """Ensemble state from ``self.replicas`` (each with start_hash, requested_settings)."""
        self.start_hash = hashlib.sha256("".join(mc.start_hash for mc in self.replicas)
                                         .encode()).hexdigest()
        self.requested_settings = dict(self.replicas[0].requested_settings)
        k = len(self.temperatures)
        self.slot_replica = np.arange(k, dtype=np.int64)   # [K] replica at each slot
        self._rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([self.seed,
                                                                                0x50545350])))
        self.exchange_tried = np.zeros(k - 1, dtype=np.int64)      # [K-1] per slot pair
        self.exchange_accepted = np.zeros(k - 1, dtype=np.int64)
        self.blocks = 0                                  # exchange blocks run so far
        self.samples = SlotSamples.empty(k)
        self.progress = {"equilibration": 0, "production": 0}

    # -- state --------------------------------------------------------------------------------
    @property
    def n_replicas(self) -> int:
        return len(self.temperatures)

    @property
    def n_active(self) -> int:
        return self.replicas[0].n_active

    def replica_temperatures(self) -> np.ndarray:
        """[K] current temperature of each replica (K)."""
        return np.array([mc.temperature for mc in self.replicas])

    def exchange_acceptance(self) -> np.ndarray:
        """[K-1] accepted fraction of the swaps tried between slots a and a + 1 (NaN: none)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.exchange_tried > 0,
                            self.exchange_accepted / np.maximum(self.exchange_tried, 1), np.nan)

    def round_trips(self) -> np.ndarray:
        """[K] completed lowest -> highest -> lowest slot round trips per replica, from the
        recorded slot history (production samples)."""
        rep = self.samples.replica                      # [s, K]
        k = self.n_replicas
        trips = np.zeros(k, dtype=np.int64)
        for r in range(k):
            seen = (rep[:, 0] == r).astype(int) - (rep[:, k - 1] == r).astype(int)
            state = 0                                   # 0: none yet, 1: at bottom, 2: at top
            for v in seen[seen != 0]:
                if v > 0 and state == 2:
                    trips[r] += 1
                    state = 1
                elif v > 0:
                    state = 1
                elif v < 0 and state == 1:
                    state = 2
        return trips

    # -- running ------------------------------------------------------------------------------
    def _run_block(self, adapt: bool, sample_every: int, resync: bool = True):
        """One block of exchange_every steps on every replica; returns per-replica samples.
        resync=False: the replicas keep their caches from the previous block (only the
        temperatures and move widths changed since, by exchanges)."""
        return self._run_replicas(self.replicas, adapt, sample_every, resync)

    def _run_replicas(self, replicas, adapt: bool, sample_every: int, resync: bool) -> list:
        """One block on each of ``replicas`` (concurrently with threads > 1)."""
        def one(mc):
            return mc.core.run(self.exchange_every, sample_every, adapt, resync)
        if self.threads > 1 and len(replicas) > 1:
            if self._pool is None:                 # one pool for the ensemble's lifetime
                self._pool = ThreadPoolExecutor(max_workers=self.threads)
                weakref.finalize(self, self._pool.shutdown, wait=False)
            return list(self._pool.map(one, replicas))
        return [one(mc) for mc in replicas]

    def _exchange(self):
        """Swap attempts between neighbouring slots (even or odd pairs by block parity)."""
        kb = 1.0 / KB_EV_PER_K
        start = self.blocks % 2
        for a in range(start, self.n_replicas - 1, 2):
            b = a + 1
            ra, rb = int(self.slot_replica[a]), int(self.slot_replica[b])
            ea, eb = self.replicas[ra].energy, self.replicas[rb].energy
            dlog = kb * (1.0 / self.temperatures[a] - 1.0 / self.temperatures[b]) * (ea - eb)
            self.exchange_tried[a] += 1
            u = self._rng.random()
            if dlog >= 0.0 or u < np.exp(dlog):
                self.exchange_accepted[a] += 1
                self.slot_replica[a], self.slot_replica[b] = rb, ra
                ma, mb = self.replicas[ra], self.replicas[rb]
                ma.temperature, mb.temperature = self.temperatures[b], self.temperatures[a]
                sa, sb = ma.core.get_settings(), mb.core.get_settings()
                ma.core.set_settings(**{k: sb[k] for k in ADAPTED_SETTINGS})
                mb.core.set_settings(**{k: sa[k] for k in ADAPTED_SETTINGS})
        self.blocks += 1

    def _steps(self, n_steps: int, adapt: bool, sample_every: int):
        """n_steps (a multiple of exchange_every) steps with exchanges; samples every
        ``sample_every`` steps (0: none) go to the slots."""
        x = self.exchange_every
        per_block = sample_every if sample_every and x % sample_every == 0 else 0
        keep_every = sample_every // x if sample_every and not per_block else 0
        for k in range(n_steps // x):
            # one full evaluation per chunk (its first block), not per block: chunks start at
            # checkpoints, so a resumed ensemble resynchronises exactly where this one does
            out = self._run_block(adapt, per_block if per_block else (x if keep_every else 0),
                                  resync=k == 0)
            for r, mc in enumerate(self.replicas):
                check_finite_energy(mc.energy, out[r][0], f"replica {r} at {mc.temperature} K")
            keep = bool(per_block) or (keep_every and (self.blocks + 1) % keep_every == 0)
            if sample_every and keep:
                order = self.slot_replica                 # slot -> replica
                e = np.stack([out[r][0] for r in order])
                m = np.stack([out[r][1] for r in order])
                ms = np.stack([out[r][2] for r in order])
                rep = np.tile(order, (e.shape[1], 1))
                self.samples.extend(e, m, ms, rep)
            self._exchange()

    def _check_steps(self, n_steps: int, sample_every: int = 0):
        x = self.exchange_every
        if n_steps % x:
            raise ValueError(f"step counts must be multiples of exchange_every = {x}, "
                             f"got {n_steps}")
        if sample_every and x % sample_every and sample_every % x:
            raise ValueError(f"sample_every ({sample_every}) and exchange_every ({x}) must "
                             "divide one another")

    def equilibrate(self, n_steps: int, adapt: bool = True):
        """n_steps MC steps with exchanges, no samples; widths adapt per temperature."""
        n_steps = int(n_steps)
        self._check_steps(n_steps)
        self._steps(n_steps, adapt, 0)
        self.progress["equilibration"] += n_steps

    def sample(self, n_steps: int, sample_every: int = 1):
        """n_steps production steps with exchanges; samples appended per slot."""
        n_steps, sample_every = int(n_steps), int(sample_every)
        if sample_every < 1:
            raise ValueError("sample_every must be >= 1")
        self._check_steps(n_steps, sample_every)
        self._steps(n_steps, False, sample_every)
        self.progress["production"] += n_steps

    def run(self, n_equil: int, n_prod: int, sample_every: int = 1, checkpoint=None,
            checkpoint_every: int = 1000, callback=None) -> SlotSamples:
        """Equilibrate then sample in chunks (multiples of exchange_every and sample_every),
        checkpointing after each chunk; an existing checkpoint of the same ensemble resumes
        (another ensemble's is a CheckpointError naming the field)."""
        n_equil, n_prod, every = int(n_equil), int(n_prod), int(sample_every)
        if n_equil < 0 or n_prod < 0 or every < 1 or checkpoint_every < 1:
            raise ValueError("n_equil, n_prod >= 0; sample_every, checkpoint_every >= 1")
        self._check_steps(n_equil)
        self._check_steps(n_prod, every)
        unit = self.exchange_every * every // gcd(self.exchange_every, every)
        chunk = max(unit, int(checkpoint_every) - int(checkpoint_every) % unit)
        if n_prod % unit:
            raise ValueError(f"n_prod must be a multiple of {unit} (exchange_every and "
                             "sample_every)")
        if checkpoint is not None:
            remove_stale_temporaries(checkpoint)
            if os.path.exists(checkpoint) and self._synced != os.path.abspath(checkpoint):
                self.load_checkpoint(checkpoint)
                log.info("parallel tempering resumed from %s at %s", checkpoint, self.progress)
        run_in_chunks(self, n_equil, n_prod, every, chunk, checkpoint, callback)
        return self.samples

    def agree(self, decision: bool) -> bool:
        """A decision every process of the ensemble takes alike (here: the one given; over MPI
        rank 0's), for choices that depend on more than the samples, e.g. wall-clock budgets."""
        return bool(decision)

    # -- checkpoints --------------------------------------------------------------------------
    def _reference_replica(self) -> MonteCarlo:
        """A replica engine of this process (its Hamiltonian, sites and signs are everyone's)."""
        return self.replicas[0]

    def _restore(self, mc, st: dict, meta: dict, r: int) -> None:
        _restore_replica(mc, st, meta, r)

    def replica_states(self) -> list[dict]:
        """[K] per replica: spins [n, 3], rng [4], tried / accepted [N_STAT], settings,
        da_counters (what a checkpoint stores of each replica)."""
        return [_replica_state(mc) for mc in self.replicas]

    def chain_parameters(self) -> dict:
        """Everything that defines this ensemble (JSON-able)."""
        mc = self._reference_replica()
        params = {"temperatures": [float(t) for t in self.temperatures], "seed": self.seed,
                  "exchange_every": self.exchange_every,
                  "settings": dict(self.requested_settings),
                  "active_sites": _digest(mc.active), "sublattice_signs": _digest(mc.signs),
                  "hamiltonian": mc.hamiltonian.content_hash(), "start": self.start_hash,
                  "format_version": PT_CHECKPOINT_VERSION}
        if mc.surrogate is not None:
            params["surrogate"] = mc.surrogate.content_hash()
        return params

    def state_dict(self) -> dict:
        reps = self.replica_states()
        meta = {"format": PT_CHECKPOINT_FORMAT, "version": PT_CHECKPOINT_VERSION,
                "chain": self.chain_parameters(), "n_sites": len(reps[0]["spins"]),
                "blocks": self.blocks, "progress": self.progress,
                "exchange_rng": self._rng.bit_generator.state,
                "replica_settings": [r["settings"] for r in reps],
                "da_counters": [r["da_counters"] for r in reps]}
        return {"meta": np.array(json.dumps(meta)),
                "spins": np.stack([r["spins"] for r in reps]),                  # [K, n, 3]
                "rng": np.stack([r["rng"] for r in reps]),
                "tried": np.stack([r["tried"] for r in reps]),
                "accepted": np.stack([r["accepted"] for r in reps]),
                "slot_replica": self.slot_replica,
                "exchange_tried": self.exchange_tried,
                "exchange_accepted": self.exchange_accepted,
                "energy": self.samples.energy, "magnetisation": self.samples.magnetisation,
                "staggered": self.samples.staggered, "replica": self.samples.replica}

    def save_checkpoint(self, path):
        """Write the whole ensemble atomically."""
        write_npz_atomic(path, self.state_dict())
        self._synced = os.path.abspath(path)

    def load_checkpoint(self, path):
        """Restore the ensemble written by :meth:`save_checkpoint`; CheckpointError when it
        belongs to another ensemble (naming the field and both values) or is unreadable."""
        st = _read_pt_checkpoint(path)
        meta = st["meta"]
        diffs = _differences(meta["chain"], self.chain_parameters())
        if diffs:
            raise CheckpointError(f"{path}: checkpoint belongs to another parallel-tempering "
                                  "run: " + "; ".join(f"{k} is {a!r} in the checkpoint, {b!r} "
                                                      f"here" for k, a, b in diffs))
        k, n = self.n_replicas, self._reference_replica().n_sites
        if st["spins"].shape != (k, n, 3) or st["rng"].shape != (k, 4):
            raise CheckpointError(f"{path}: arrays do not match {k} replicas of {n} sites")
        perm = np.asarray(st["slot_replica"], dtype=np.int64)
        if sorted(perm.tolist()) != list(range(k)):
            raise CheckpointError(f"{path}: slot -> replica map is not a permutation")
        for r, mc in enumerate(self.replicas):
            self._restore(mc, st, meta, r)
        self.slot_replica = perm
        for slot, r in enumerate(perm):
            self.replicas[r].temperature = self.temperatures[slot]
        self._rng.bit_generator.state = meta["exchange_rng"]
        self.exchange_tried = np.asarray(st["exchange_tried"], dtype=np.int64)
        self.exchange_accepted = np.asarray(st["exchange_accepted"], dtype=np.int64)
        self.blocks = int(meta["blocks"])
        self.samples = SlotSamples(st["energy"], st["magnetisation"], st["staggered"],
                                   np.asarray(st["replica"], dtype=np.int64))
        self.progress = dict(meta["progress"])
        self._synced = os.path.abspath(path)


def _check_temperatures(temperatures) -> np.ndarray:
    temps = np.asarray(temperatures, dtype=np.float64)
    if temps.ndim != 1 or len(temps) < 2:
        raise ValueError("parallel tempering needs at least two temperatures")
    if not np.all(np.isfinite(temps)) or np.any(temps <= 0) or np.any(np.diff(temps) <= 0):
        raise ValueError("temperatures must be positive, finite and strictly increasing")
    return temps


def _replica_state(mc: MonteCarlo) -> dict:
    tried, accepted = mc.core.get_stats()
    return {"spins": mc.spins, "rng": mc.core.get_rng_state(), "tried": tried,
            "accepted": accepted, "settings": mc.core.get_settings(),
            "da_counters": list(mc.core.get_da_counters())}


def _restore_replica(mc, st: dict, meta: dict, r: int) -> None:
    """Replica r's state from a checkpoint (``st`` arrays, ``meta``) into its engine."""
    mc.hamiltonian.core.set_spins(st["spins"][r])
    mc.core.set_settings(**meta["replica_settings"][r])
    mc.core.set_rng_state(st["rng"][r])
    mc.core.set_stats(_pad_stats(st["tried"][r]), _pad_stats(st["accepted"][r]))
    if "da_counters" in meta:
        mc.core.set_da_counters(*meta["da_counters"][r])
    mc.core.resync()


def _read_pt_checkpoint(path) -> dict:
    st, meta = read_npz_with_meta(path, "parallel-tempering checkpoint")
    if not isinstance(meta, dict) or meta.get("format") != PT_CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a parallel-tempering checkpoint")
    if meta.get("version") != PT_CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: parallel-tempering checkpoint version "
                              f"{meta.get('version')} (this code reads {PT_CHECKPOINT_VERSION})")
    needed = {"spins", "rng", "tried", "accepted", "slot_replica", "exchange_tried",
              "exchange_accepted", "energy", "magnetisation", "staggered", "replica"}
    if not needed <= set(st):
        raise CheckpointError(f"{path}: missing arrays {sorted(needed - set(st))}")
    st["meta"] = meta
    return st


def geometric_temperatures(t_min: float, t_max: float, k: int) -> np.ndarray:
    """[k] temperatures (K) in geometric progression from t_min to t_max: equal swap
    acceptance between neighbours when the specific heat is constant."""
    if not (0 < t_min < t_max) or k < 2:
        raise ValueError("need 0 < t_min < t_max and k >= 2")
    return t_min * (t_max / t_min) ** (np.arange(k) / (k - 1))


def ensemble_digest(pt: ParallelTempering) -> str:
    """Short identity of an ensemble's chain parameters (for file names and logs)."""
    return hashlib.sha256(json.dumps(pt.chain_parameters(), sort_keys=True).encode()
                          ).hexdigest()[:12]
