"""Parallel tempering over MPI ranks: the replicas of one ensemble spread over the processes.

    mpiexec -n 2 python my_scan.py            # my_scan.py builds an MPIParallelTempering
    mpiexec -n 2 mmace mc tc --model pajda-fe --sizes 8 12 --tmin 850 --tmax 1000

Under a launcher with two or more ranks, the Tc protocol (mmace_fast.mc.protocol) builds its
ensembles with this class by itself, so every protocol caller (``mmace mc tc``, the demo,
bench_mmace_tc.py) spreads its replicas over the ranks and gives the same numbers; every rank
runs the same analysis (write access to the work directory from each is expected).

Replicas are dealt to the ranks in boustrophedon order (``snake_owners``: each rank gets cold
and hot replicas alike, so the cost per block evens out); each rank builds only its own Hamiltonians
(``build(r)``). After every block of ``exchange_every`` steps the ranks exchange, in one
allgather, what the swap decisions need: each replica's samples of the block, its energy and its
adapted move widths. Every rank then runs the same exchange decisions with the same exchange
random numbers, so all ranks agree on the slot -> replica map without further messages, and a
swap moves temperatures, never configurations. The chains are those of
:class:`~mmace_fast.mc.tempering.ParallelTempering` with the same seeds, bit for bit, on any
number of ranks (one included).

Checkpoints are the single-process format: rank 0 writes the ensemble (every replica's state
gathered) atomically, so a run killed on 2 ranks continues on 1 rank or on 4, and a
single-process checkpoint continues over MPI. mpi4py is optional (``pip install
"mmace_fast[mpi]"``, which brings mpi4py and an MPICH from PyPI); without it, or on one rank,
use ParallelTempering.
"""
from __future__ import annotations

import logging
import os

import numpy as np

from mmace_fast.mc.engine import ADAPTED_SETTINGS, CheckpointError, MonteCarlo, write_npz_atomic
from mmace_fast.mc.tempering import ParallelTempering, _check_temperatures, _replica_state

log = logging.getLogger(__name__)


class MPIUnavailable(ImportError):
    """mpi4py is not installed (or cannot load its MPI library)."""


def world():
    """MPI.COMM_WORLD, or MPIUnavailable with what to install."""
    try:
        from mpi4py import MPI  # noqa: PLC0415
    except ImportError as exc:
        raise MPIUnavailable("MPI parallel tempering needs mpi4py and an MPI library: "
                             "pip install \"mmace_fast[mpi]\" (mpi4py + MPICH from PyPI), or "
                             f"mpi4py built against your cluster's MPI ({exc})") from exc
    return MPI.COMM_WORLD


#: environment variables by which MPI launchers (MPICH / hydra, Open MPI, Slurm's PMI) announce
#: the number of ranks
_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "SLURM_STEP_NUM_TASKS")
_RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID")


def _env_int(names) -> int | None:
    for var in names:
        v = os.environ.get(var)
        if v and v.isdigit():
            return int(v)
    return None


def launched_ranks() -> int:
    """Number of ranks this process was launched with (1 outside a launcher). Read from the
    launcher's environment; where only a rank is announced (e.g. Slurm with PMIx), MPI itself
    is asked, and a launcher count that MPI contradicts (mpi4py built for another MPI) is an
    error rather than every rank running the whole job alone."""
    n = _env_int(_SIZE_VARIABLES)
    if n is None and _env_int(_RANK_VARIABLES) is None:
        return 1
    try:
        size = world().Get_size()
    except MPIUnavailable:
        if n is not None and n > 1:
            raise
        return 1
    if n is not None and n != size:
        raise MPIUnavailable(f"the launcher started {n} ranks but MPI sees {size}: mpi4py is "
                             "built against another MPI than the launcher's")
    return size


def launched_rank() -> int:
    """This process's rank under an MPI launcher (0 outside one); no mpi4py import."""
    r = _env_int(_RANK_VARIABLES)
    return 0 if r is None else r


class _RemoteCore:
    """The part of a replica engine's core that the exchange step reads and writes."""

    def __init__(self, settings: dict):
        self.settings = dict(settings)

    def get_settings(self) -> dict:
        return dict(self.settings)

    def set_settings(self, **kw) -> None:
        self.settings.update(kw)


class _RemoteReplica:
    """A replica owned by another rank: its temperature, energy and adapted widths, kept in
    step by the allgather after each block."""

    def __init__(self, info: dict, temperature: float):
        self.temperature = float(temperature)
        self.energy = float(info["energy"])
        self.start_hash = info["start_hash"]
        self.requested_settings = dict(info["requested_settings"])
        self.n_active = int(info["n_active"])
        self.core = _RemoteCore(info["settings"])


class MPIParallelTempering(ParallelTempering):
    """:class:`ParallelTempering` with its replicas spread over the ranks of ``comm``
    (:func:`snake_owners`).

    build(r) -> the Hamiltonian of replica r, or (Hamiltonian, surrogate): called on the rank
    that owns r only (a rank beyond the number of replicas owns none and builds replica 0 once,
    as a reference it never runs). Every other argument as for ParallelTempering (``threads``:
    concurrent replicas within a rank). Every rank must make the same calls (run, sample,
    checkpoints) in the same order; the samples are complete on every rank.
    """

    def __init__(self, build, spins, temperatures, comm=None, seed: int = 0,
                 exchange_every: int = 1, threads: int = 1, sublattice_signs=None,
                 active_sites=None, **settings):
        self.comm = world() if comm is None else comm
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        temps = _check_temperatures(temperatures)
        k = len(temps)
        if "surrogate" in settings or "surrogates" in settings:
            raise ValueError("surrogates come from build(r) -> (hamiltonian, surrogate)")
        self.owner = snake_owners(k, self.size)                     # [K] rank of replica r
        start = self._setup(temps, seed, exchange_every, threads, spins)

        def engine(r):
            built = build(int(r))
            ham, sur = built if isinstance(built, tuple) else (built, None)
            return MonteCarlo(ham, start[r], temps[r], seed=seed, stream=int(r),
                              sublattice_signs=sublattice_signs, active_sites=active_sites,
                              surrogate=sur, **settings)

        mine = {int(r): engine(r) for r in np.flatnonzero(self.owner == self.rank)}
        objs = [id(mc.hamiltonian) for mc in mine.values()] + \
            [id(mc.surrogate) for mc in mine.values() if mc.surrogate is not None]
        if len(set(objs)) != len(objs):
            raise ValueError("each replica needs its own Hamiltonian (and surrogate) object: "
                             "build(r) must return new ones for every r")
        # a rank beyond the number of replicas owns none; it keeps an engine of replica 0,
        # never run, as the reference for the ensemble's parameters and joins every exchange
        self._ref = mine[min(mine)] if mine else engine(0)
        info = {}
        for part in self.comm.allgather({r: _public(mc) for r, mc in mine.items()}):
            info.update(part)
        hashes = {(v["hamiltonian"], v["surrogate"]) for v in info.values()}
        if len(hashes) != 1:
            raise ValueError("the replicas' Hamiltonians (or surrogates) differ between ranks "
                             "(content hashes)")
        self.local = sorted(mine)
        self.replicas = [mine[r] if r in mine else _RemoteReplica(info[r], temps[r])
                         for r in range(k)]
        self._finish_setup()

    def _reference_replica(self) -> MonteCarlo:
        return self._ref

    def agree(self, decision: bool) -> bool:
        return bool(self.comm.bcast(bool(decision), root=0))

    def _run_block(self, adapt: bool, sample_every: int, resync: bool = True):
        out = self._run_replicas([self.replicas[r] for r in self.local], adapt, sample_every,
                                 resync)
        payload = {r: (o, self.replicas[r].energy, _adapted(self.replicas[r]))
                   for r, o in zip(self.local, out)}
        results = [None] * self.n_replicas
        for part in self.comm.allgather(payload):
            for r, (o, energy, widths) in part.items():
                results[r] = o
                rep = self.replicas[r]
                if isinstance(rep, _RemoteReplica):
                    rep.energy = energy
                    rep.core.settings.update(widths)
        return results

    def replica_states(self) -> list[dict]:
        states = [None] * self.n_replicas
        for part in self.comm.allgather({r: _replica_state(self.replicas[r])
                                         for r in self.local}):
            for r, st in part.items():
                states[r] = st
        return states

    def _restore(self, mc, st: dict, meta: dict, r: int) -> None:
        if isinstance(mc, _RemoteReplica):
            mc.core.settings = dict(meta["replica_settings"][r])
            return
        super()._restore(mc, st, meta, r)

    def save_checkpoint(self, path):
        """Rank 0 writes the whole ensemble (collective: every rank calls it)."""
        state = self.state_dict()
        error = None
        if self.rank == 0:
            try:
                write_npz_atomic(path, state)
            except Exception as exc:             # every rank must learn of it, or they hang
                error = f"{type(exc).__name__}: {exc}"
        error = self.comm.bcast(error, root=0)
        if error is not None:
            raise CheckpointError(f"rank 0 could not write the checkpoint {path}: {error}")
        self._synced = os.path.abspath(path)


def snake_owners(k: int, size: int) -> np.ndarray:
    """[k] rank of each replica, dealt in boustrophedon order (0, 1, ..., size-1, size-1, ...,
    0, 0, 1, ...): replicas start in temperature order, and the cost of a sweep grows with the
    temperature, so each rank gets a cold and a hot one rather than rank size-1 the hottest of
    every round."""
    r = np.arange(k)
    lap, pos = divmod(r, size)
    return np.where(lap % 2 == 0, pos, size - 1 - pos)


def _public(mc: MonteCarlo) -> dict:
    """What the other ranks keep of a replica."""
    return {"energy": mc.energy, "start_hash": mc.start_hash,
            "requested_settings": mc.requested_settings, "settings": mc.core.get_settings(),
            "n_active": mc.n_active, "hamiltonian": mc.hamiltonian.content_hash(),
            "surrogate": None if mc.surrogate is None else mc.surrogate.content_hash()}


def _adapted(mc: MonteCarlo) -> dict:
    s = mc.core.get_settings()
    return {k: s[k] for k in ADAPTED_SETTINGS}
