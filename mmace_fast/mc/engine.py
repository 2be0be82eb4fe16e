"""Monte Carlo driver: equilibration, production, checkpoint/restart around the C++ engine.

Any Hamiltonian object with ``.core`` (a ``mmace_fast._core.HamiltonianBase``), ``.n_sites`` and
``.content_hash()`` plugs in: the classical :class:`~mmace_fast.mc.hamiltonian.SpinHamiltonian`
now, the frozen mMACE evaluator later.

One MC step = one Metropolis sweep (n_active trial moves) and/or ``wolff_per_sweep`` Wolff
clusters. Samples are taken every ``sample_every`` steps: total energy E (eV), magnetisation per
active site M = sum_{i active} m_i / n_active and staggered Ms = sum_{i active} s_i m_i /
n_active (muB). By default every site is active; ``active_sites`` restricts the trials to a
subset (e.g. Cr in CrN with mMACE, whose N moments then stay as given).

Restart: :meth:`MonteCarlo.run` works in chunks of ``checkpoint_every`` steps and writes the full
state (moments, RNG, adapted step widths, counters, samples so far) atomically after each chunk;
a run restarted from the file continues bit-identically to an uninterrupted one, and a kill loses
at most one chunk. A checkpoint records every parameter that defines its chain
(:meth:`MonteCarlo.chain_parameters`: temperature, seed and stream, the requested move settings,
active sites, sublattice signs, the Hamiltonian, surrogate and starting-moment hashes, the
checkpoint format); resuming with any of them different is a :class:`CheckpointError` naming
the field and both values. ``resume="warm"`` instead starts a new chain with this object's
parameters from the checkpoint's final moments (no samples carried over).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field

import numpy as np

from mmace_fast import _core
from mmace_fast.checks import seed_value

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "mmace_fast.mc.checkpoint"
CHECKPOINT_VERSION = 3          # 2: + active sites; 3: + chain parameters (1, 2 still read)
RESUME_MODES = ("same", "warm")
#: settings adapted during equilibration: part of the state, not of the chain's definition
ADAPTED_SETTINGS = ("sigma", "sigma_long")
MOVES = _core.MOVE_NAMES
STAT_NAMES = _core.STAT_NAMES


class CheckpointError(ValueError):
    """A checkpoint file is corrupt, foreign, or does not match the Hamiltonian."""


class NonFiniteEnergyError(FloatingPointError):
    """The Hamiltonian gave a non-finite energy: the chain stops instead of running on."""


def check_finite_energy(energy: float, samples, where: str) -> None:
    """NonFiniteEnergyError when the tracked energy or a sampled energy is NaN or infinite."""
    if not np.isfinite(energy) or (len(samples) and not np.all(np.isfinite(samples))):
        raise NonFiniteEnergyError(
            f"{where}: non-finite energy ({energy}): the Hamiltonian is evaluated outside its "
            "range (coincident atoms, a field or coupling that overflows, a model far from its "
            "training data); the chain is stopped")


@dataclass
class Samples:
    """Time series of one run: energy [k] eV (total), M [k, 3] and Ms [k, 3 n_patterns] muB per
    site (one staggered vector per sublattice-sign pattern, pattern-major)."""

    energy: np.ndarray = field(default_factory=lambda: np.zeros(0))
    magnetisation: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    staggered: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))

    def extend(self, e, m, ms):
        self.energy = np.concatenate([self.energy, e])
        self.magnetisation = np.concatenate([self.magnetisation, m])
        self.staggered = (np.array(ms) if len(self.staggered) == 0
                          else np.concatenate([self.staggered, ms]))

    def __len__(self):
        return len(self.energy)


def _validate_spins(spins, n, variable_length):
    m = np.array(spins, dtype=np.float64)            # a copy: read-only input is fine
    if m.shape != (n, 3):
        raise ValueError(f"spins have shape {m.shape}, expected ({n}, 3)")
    if not np.all(np.isfinite(m)):
        raise ValueError("non-finite moments")
    if not variable_length and np.any(np.linalg.norm(m, axis=1) == 0):
        raise ValueError("zero-length moment with a fixed-length Hamiltonian")
    return np.ascontiguousarray(m)


class MonteCarlo:
    """Metropolis/Wolff spin Monte Carlo at one temperature.

    hamiltonian: object with ``.core``, ``.n_sites``, ``.content_hash()``.
    spins [n, 3] muB initial moments; temperature K; seed/stream select the RNG stream
    (replicas: same seed, different streams). Settings: move ('uniform', 'gaussian', 'flip',
    'hinzke_nowak'), sigma, p_longitudinal, sigma_long (muB), random_order, metropolis,
    wolff_per_sweep, overrelax_per_sweep (reflections about the exchange field, Metropolis-
    accepted: exact for any Hamiltonian offering an axis), target_acceptance.
    sublattice_signs [n] for the staggered magnetisation.
    active_sites: None (all), a bool mask [n] or site indices: the sites Metropolis visits.
    surrogate: optional cheap Hamiltonian of the same sites (e.g. a fitted Heisenberg model) for
    delayed acceptance (Christen and Fox 2005): trials it rejects never reach the exact
    Hamiltonian; the chain still samples the exact Boltzmann distribution. A Hamiltonian
    without a reflection axis (the frozen mMACE) over-relaxes about the surrogate's axis
    (guided over-relaxation, exact by the same two-stage test).
    """

    def __init__(self, hamiltonian, spins, temperature, seed=0, stream=0,
                 sublattice_signs=None, active_sites=None, surrogate=None, **settings):
        self.hamiltonian = hamiltonian
        self.n_sites = int(hamiltonian.n_sites)
        core_h = hamiltonian.core
        start = _validate_spins(spins, self.n_sites, core_h.variable_length)
        core_h.set_spins(start)
        # identity of the starting moments: a checkpoint resumes only the same chain
        self.start_hash = hashlib.sha256(start.tobytes()).hexdigest()
        self.seed, self.stream = seed_value(seed, "seed"), seed_value(stream, "stream")
        self.core = _core.MonteCarloCore(core_h, self.seed, self.stream)
        self.temperature = temperature
        signs = np.ones(self.n_sites) if sublattice_signs is None else sublattice_signs
        self.set_sublattice_signs(signs)
        self.active = np.arange(self.n_sites, dtype=np.int64)
        if active_sites is not None:
            self.set_active_sites(active_sites)
        self.surrogate = None
        if surrogate is not None:       # before the settings: it may provide the OR axis
            self.set_surrogate(surrogate)
        if settings:
            self.core.set_settings(**settings)
        self.requested_settings = self.core.get_settings()   # before any adaptation
        self.samples = Samples()
        self.progress = {"equilibration": 0, "production": 0}

    # -- state --------------------------------------------------------------------------------
    @property
    def temperature(self) -> float:
        return self.core.temperature

    @temperature.setter
    def temperature(self, kelvin):
        kelvin = float(kelvin)
        if not (np.isfinite(kelvin) and kelvin > 0):
            raise ValueError(f"temperature must be positive and finite, got {kelvin} K")
        self.core.temperature = kelvin

    def set_sublattice_signs(self, signs):
        """[n] weights of the staggered magnetisation, or [n_patterns, n] (the domains of an
        order: one staggered vector each; see mmace_fast.mc.lattice.domain_weights)."""
        s = np.asarray(signs, dtype=np.float64)
        if not (s.shape == (self.n_sites,) or (s.ndim == 2 and s.shape[1] == self.n_sites
                                              and s.shape[0] >= 1)):
            raise ValueError(f"sublattice signs have shape {s.shape}, expected ({self.n_sites},) "
                             f"or (n_patterns, {self.n_sites})")
        if not np.all(np.isfinite(s)):
            raise ValueError("non-finite sublattice signs")
        self.signs = np.ascontiguousarray(s)
        self.core.set_sublattice_signs(self.signs)

    def set_active_sites(self, sites):
        """Restrict trials and magnetisation observables to ``sites`` (bool mask [n] or
        indices)."""
        self.active = _active_indices(sites, self.n_sites)
        self.core.set_active_sites(self.active)

    def set_surrogate(self, surrogate):
        """Delayed-acceptance surrogate (a Hamiltonian object with ``.core``), or None."""
        if surrogate is not None and int(surrogate.n_sites) != self.n_sites:
            raise ValueError(f"surrogate has {surrogate.n_sites} sites, expected {self.n_sites}")
        self.core.set_surrogate(None if surrogate is None else surrogate.core)
        self.surrogate = surrogate

    def delayed_acceptance_stats(self) -> dict:
        """Trials screened out by the surrogate, trials that reached the exact Hamiltonian, and
        the fraction of exact evaluations saved."""
        screened, exact = self.core.get_da_counters()
        total = screened + exact
        return {"screened": screened, "exact": exact,
                "saved_fraction": screened / total if total else 0.0}

    @property
    def n_active(self) -> int:
        return len(self.active)

    @property
    def spins(self) -> np.ndarray:
        """Copy of the current moments [n, 3] muB."""
        return self.hamiltonian.core.get_spins()

    @property
    def settings(self) -> dict:
        return self.core.get_settings()

    @property
    def energy(self) -> float:
        return self.core.energy

    def acceptance(self) -> dict:
        """Acceptance rate per move kind since the counters were last reset (Wolff: mean
        cluster size)."""
        tried, acc = self.core.get_stats()
        out = {}
        for name, t, a in zip(STAT_NAMES, tried, acc):
            if t:
                out[name] = float(a) / float(t)
        return out

    # -- running ------------------------------------------------------------------------------
    def equilibrate(self, n_steps, adapt=True):
        """n_steps MC steps without sampling; step widths adapt toward the target acceptance."""
        self.core.run(int(n_steps), 0, bool(adapt))
        check_finite_energy(self.energy, (), f"equilibration at {self.temperature} K")
        self.progress["equilibration"] += int(n_steps)

    def sample(self, n_steps, sample_every=1) -> Samples:
        """n_steps production steps (no adaptation); appends and returns the new samples."""
        e, m, ms = self.core.run(int(n_steps), int(sample_every), False)
        check_finite_energy(self.energy, e, f"production at {self.temperature} K")
        self.samples.extend(e, m, ms)
        self.progress["production"] += int(n_steps)
        return Samples(e, m, ms)

    def run(self, n_equil, n_prod, sample_every=1, checkpoint=None, checkpoint_every=1000,
            callback=None, resume="same") -> Samples:
        """Equilibrate then sample, in chunks of ``checkpoint_every`` steps.

        With ``checkpoint`` (a path) the state is written after every chunk, and if the file
        already exists the run resumes from it: the same chain (``resume="same"``; a checkpoint
        of another chain is a CheckpointError) or a warm start (``resume="warm"``), see
        :meth:`load_checkpoint`. ``checkpoint_every`` must be a multiple of ``sample_every``.
        callback(self) after chunks.
        """
        n_equil, n_prod, every = int(n_equil), int(n_prod), int(sample_every)
        chunk = int(checkpoint_every)
        if n_equil < 0 or n_prod < 0 or every < 1 or chunk < 1:
            raise ValueError("n_equil, n_prod >= 0; sample_every, checkpoint_every >= 1")
        if chunk % every:
            raise ValueError("checkpoint_every must be a multiple of sample_every")
        if resume not in RESUME_MODES:
            raise ValueError(f"resume must be one of {RESUME_MODES}, got {resume!r}")
        if checkpoint is not None:
            remove_stale_temporaries(checkpoint)
        if checkpoint is not None and os.path.exists(checkpoint):
            self.load_checkpoint(checkpoint, resume=resume)
            log.info("resumed from %s at %s", checkpoint, self.progress)
        run_in_chunks(self, n_equil, n_prod, every, chunk, checkpoint, callback)
        return self.samples

    # -- checkpoints --------------------------------------------------------------------------
    def chain_parameters(self) -> dict:
        """Everything that defines this chain (JSON-able): a checkpoint resumes only a chain
        with all of them equal."""
        return {
            "temperature": self.temperature, "seed": self.seed, "stream": self.stream,
            "settings": dict(self.requested_settings),
            "active_sites": _digest(self.active), "sublattice_signs": _digest(self.signs),
            "hamiltonian": self.hamiltonian.content_hash(),
            "surrogate": None if self.surrogate is None else self.surrogate.content_hash(),
            "start": self.start_hash, "format_version": CHECKPOINT_VERSION,
        }

    def state_dict(self) -> dict:
        tried, acc = self.core.get_stats()
        meta = {
            "chain": self.chain_parameters(),
            "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
            "hamiltonian_hash": self.hamiltonian.content_hash(), "n_sites": self.n_sites,
            "temperature": self.temperature, "seed": self.seed, "stream": self.stream,
            "settings": self.settings, "progress": self.progress,
            "surrogate_hash": None if self.surrogate is None else self.surrogate.content_hash(),
            "da_counters": list(self.core.get_da_counters()),
            "start_hash": self.start_hash,
        }
        return {
            "meta": np.array(json.dumps(meta)),
            "spins": self.spins, "rng": self.core.get_rng_state(), "signs": self.signs,
            "active": self.active,
            "tried": tried, "accepted": acc,
            "energy": self.samples.energy, "magnetisation": self.samples.magnetisation,
            "staggered": self.samples.staggered,
        }

    def save_checkpoint(self, path):
        """Write the full state atomically (temporary file + rename)."""
        write_npz_atomic(path, self.state_dict())

    def load_checkpoint(self, path, resume="same"):
        """Restore the state written by :meth:`save_checkpoint` (validated).

        resume="same": the checkpoint must belong to this chain (every field of
        :meth:`chain_parameters` equal, else CheckpointError naming the field and both values);
        moments, RNG, adapted widths, counters, samples and progress are restored.
        resume="warm": only the Hamiltonian and the number of sites must match; the chain
        restarts from the checkpoint's final moments with this object's parameters (temperature,
        seed, settings), no samples and no progress.
        """
        if resume not in RESUME_MODES:
            raise ValueError(f"resume must be one of {RESUME_MODES}, got {resume!r}")
        st = _read_checkpoint(path)
        meta = st["meta"]
        if meta["hamiltonian_hash"] != self.hamiltonian.content_hash():
            raise CheckpointError(f"{path}: checkpoint belongs to a different Hamiltonian")
        if meta["n_sites"] != self.n_sites or st["spins"].shape != (self.n_sites, 3):
            raise CheckpointError(f"{path}: wrong number of sites")
        if resume == "warm":
            self.hamiltonian.core.set_spins(st["spins"])
            self.start_hash = hashlib.sha256(
                np.ascontiguousarray(st["spins"], dtype=np.float64).tobytes()).hexdigest()
            self.samples = Samples()
            self.progress = {"equilibration": 0, "production": 0}
            self.core.resync()
            return
        self._check_same_chain(path, meta, st)
        self.hamiltonian.core.set_spins(st["spins"])
        self.core.set_settings(**meta["settings"])
        self.core.set_rng_state(st["rng"])
        self.core.set_stats(*(_pad_stats(st[k]) for k in ("tried", "accepted")))
        self.core.set_da_counters(*meta.get("da_counters", (0, 0)))
        self.core.resync()
        self.samples = Samples(st["energy"], st["magnetisation"], st["staggered"])
        self.progress = dict(meta["progress"])

    def _check_same_chain(self, path, meta, st):
        """CheckpointError unless the checkpoint's chain parameters equal this object's."""
        if meta.get("start_hash", self.start_hash) != self.start_hash:
            raise CheckpointError(f"{path}: checkpoint belongs to a chain started from other "
                                  "moments (e.g. another moment length or order pattern)")
        mine = None if self.surrogate is None else self.surrogate.content_hash()
        if meta.get("surrogate_hash") != mine:
            raise CheckpointError(f"{path}: checkpoint was written with a different delayed-"
                                  "acceptance surrogate (or with/without one)")
        want = self.chain_parameters()
        have = meta.get("chain")
        if have is None:                  # format 1 / 2: the parameters it recorded
            have = {"temperature": meta["temperature"], "seed": meta["seed"],
                    "stream": meta["stream"],
                    "active_sites": _digest(np.asarray(st.get("active", np.arange(self.n_sites)),
                                                       dtype=np.int64)),
                    "sublattice_signs": _digest(np.asarray(st["signs"], dtype=np.float64)),
                    "settings": {k: v for k, v in meta["settings"].items()
                                 if k not in ADAPTED_SETTINGS}}
            want["settings"] = {k: v for k, v in want["settings"].items()
                                if k not in ADAPTED_SETTINGS}
            want = {k: want[k] for k in have}
        diffs = _differences(have, want)
        if diffs:
            raise CheckpointError(
                f"{path}: checkpoint belongs to another chain: " + "; ".join(
                    f"{k} is {a!r} in the checkpoint, {b!r} here" for k, a, b in diffs)
                + " (resume='warm' starts a new chain from its moments instead)")


def _digest(a) -> str:
    """sha256 of an array's bytes (dtype and shape included)."""
    a = np.ascontiguousarray(a)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def _differences(have: dict, want: dict, prefix="") -> list:
    """[(field, checkpoint value, requested value)] of two nested parameter dicts."""
    out = []
    for key in sorted(set(have) | set(want)):
        a, b = have.get(key), want.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append((prefix + key, a, b))
    return out


def _tmp_prefix(path) -> str:
    return f".{os.path.basename(os.fspath(path))}.tmp-"


def run_in_chunks(driver, n_equil: int, n_prod: int, every: int, chunk: int, checkpoint,
                  callback) -> None:
    """Equilibrate, then sample, ``chunk`` steps at a time from ``driver.progress`` on, writing
    ``driver.save_checkpoint(checkpoint)`` (when given) and calling ``callback(driver)`` after
    each chunk: the loop of :class:`MonteCarlo` and of parallel tempering alike."""
    while driver.progress["equilibration"] < n_equil:
        driver.equilibrate(min(chunk, n_equil - driver.progress["equilibration"]))
        _after_chunk(driver, checkpoint, callback)
    while driver.progress["production"] < n_prod:
        driver.sample(min(chunk, n_prod - driver.progress["production"]), every)
        _after_chunk(driver, checkpoint, callback)


def _after_chunk(driver, checkpoint, callback) -> None:
    if checkpoint is not None:
        driver.save_checkpoint(checkpoint)
    if callback is not None:
        callback(driver)


def write_npz_atomic(path, arrays: dict) -> None:
    """np.savez of ``arrays`` to ``path`` through a temporary file, fsync and rename: a kill
    leaves the old file or the new one, never half of one."""
    path = os.fspath(path)
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(path), suffix=".npz", dir=d)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def remove_stale_temporaries(path) -> None:
    """Delete temporary files a killed writer of ``path`` left behind (one writer per path)."""
    d = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(d):
        return
    prefix = _tmp_prefix(path)
    for name in os.listdir(d):
        if name.startswith(prefix):
            try:
                os.unlink(os.path.join(d, name))
                log.info("removed a stale temporary checkpoint %s", name)
            except FileNotFoundError:
                pass


def _pad_stats(x) -> np.ndarray:
    """Move counters of an older checkpoint (fewer move kinds) padded with zeros."""
    x = np.asarray(x, dtype=np.uint64).reshape(-1)
    if len(x) > len(STAT_NAMES):
        raise CheckpointError(f"checkpoint has {len(x)} move counters, expected {len(STAT_NAMES)}")
    return np.concatenate([x, np.zeros(len(STAT_NAMES) - len(x), dtype=np.uint64)])


def _active_indices(sites, n) -> np.ndarray:
    """Sorted unique site indices [k] int64 from a bool mask [n] or an index list."""
    a = np.asarray(sites)
    if a.dtype == bool:
        if a.shape != (n,):
            raise ValueError(f"active-site mask has shape {a.shape}, expected ({n},)")
        idx = np.flatnonzero(a)
    else:
        if a.ndim != 1 or (a.size and not np.issubdtype(a.dtype, np.integer)):
            raise ValueError("active sites must be a bool mask [n] or a 1-d integer index array")
        idx = a.astype(np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise ValueError(f"active site indices must lie in [0, {n})")
        if len(np.unique(idx)) != len(idx):
            raise ValueError("active site indices repeat")
        idx = np.sort(idx)
    if idx.size == 0:
        raise ValueError("at least one active site is needed")
    return idx.astype(np.int64)


def read_npz_with_meta(path, what: str) -> tuple[dict, object]:
    """(arrays, parsed JSON ``meta``) of an npz checkpoint; CheckpointError naming ``what``
    when it cannot be read (FileNotFoundError passes through)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            st = {k: z[k] for k in z.files}
        meta = json.loads(str(st["meta"]))
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - any parse failure is a corrupt file
        raise CheckpointError(f"{path}: not a readable {what} ({exc})") from exc
    return st, meta


def _read_checkpoint(path) -> dict:
    st, meta = read_npz_with_meta(path, "mmace_fast checkpoint")
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: foreign file (format {meta.get('format')!r})"
                              if isinstance(meta, dict) else f"{path}: foreign file")
    if meta.get("version") not in (1, 2, CHECKPOINT_VERSION):
        raise CheckpointError(f"{path}: checkpoint version {meta.get('version')} "
                              f"(this code reads {CHECKPOINT_VERSION})")
    needed = {"spins", "rng", "signs", "tried", "accepted", "energy", "magnetisation", "staggered"}
    if not needed <= set(st):
        raise CheckpointError(f"{path}: missing arrays {sorted(needed - set(st))}")
    st["meta"] = meta
    return st
