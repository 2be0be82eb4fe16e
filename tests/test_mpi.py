"""Parallel tempering over MPI ranks (mmace_fast.mc.mpi): bit-identical to the single-process
ensemble with the same seeds, for the classical and the frozen mMACE Hamiltonians; checkpoints
continue on another number of ranks; a missing mpi4py is a clear error."""
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from mmace_fast.mc.tempering import ParallelTempering

ROOT = Path(__file__).resolve().parents[1]
MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")

SYSTEMS = textwrap.dedent("""
    import numpy as np
    from mmace_fast.mc.hamiltonian import SpinHamiltonian
    from mmace_fast.mc.lattice import cubic_lattice, material_lattice

    def system(kind):
        '''(build(r), start spins, temperatures, settings) of a small test ensemble.'''
        if kind == "sc":
            lat = cubic_lattice("sc", 4)
            build = lambda r: SpinHamiltonian.from_shells(lat.positions, lat.cell, lat.pbc,
                                                          [1e-3])
            return (build, np.tile([0, 0, 1.0], (lat.n_sites, 1)), np.linspace(12, 22, 4),
                    dict(move="gaussian", overrelax_per_sweep=1))
        from mmace_fast.export import FrozenModel
        from mmace_fast.mc.mmace_hamiltonian import FrozenMMACEHamiltonian
        from mmace_fast.models import frozen_path
        lat = material_lattice("bcc_Fe", 2, 2.866)
        model = FrozenModel.load(frozen_path("fe", "mc"))
        build = lambda r: FrozenMMACEHamiltonian(model, lat.positions, lat.cell, lat.pbc,
                                                 lat.numbers)
        return (build, np.tile([0, 0, 2.2], (lat.n_sites, 1)),
                np.array([900.0, 1000.0, 1100.0]),
                dict(move="gaussian", p_longitudinal=0.3, sigma_long=0.1))
""")

RUNNER = SYSTEMS + textwrap.dedent("""
    import sys
    from mmace_fast.mc.mpi import MPIParallelTempering
    kind, ck, out = sys.argv[1], sys.argv[2], sys.argv[5]
    n_eq, n_prod = int(sys.argv[3]), int(sys.argv[4])
    build, start, temps, settings = system(kind)
    pt = MPIParallelTempering(build, start, temps, seed=3, **settings)
    pt.run(n_eq, n_prod, checkpoint=ck, checkpoint_every=10)
    spins = np.stack([s["spins"] for s in pt.replica_states()])     # collective
    if pt.rank == 0:
        np.savez(out, energy=pt.samples.energy, magnetisation=pt.samples.magnetisation,
                 slot_replica=pt.slot_replica, spins=spins)
""")

def _have_mpi4py() -> bool:
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


needs_mpi = pytest.mark.skipif(MPIEXEC is None or not _have_mpi4py(),
                               reason="mpi4py / mpiexec not installed (pip install '.[mpi]')")


def _mpirun(tmp_path, ranks, kind, ck, n_eq, n_prod):
    script = tmp_path / "runner.py"
    script.write_text(RUNNER)
    out = tmp_path / f"out_{ranks}_{n_prod}.npz"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    res = subprocess.run([MPIEXEC, "-n", str(ranks), sys.executable, str(script), kind, str(ck),
                          str(n_eq), str(n_prod), str(out)], capture_output=True, text=True,
                         timeout=600, cwd=ROOT, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    return dict(np.load(out))


def _serial(kind, ck, n_eq, n_prod):
    ns = {}
    exec(SYSTEMS, ns)
    build, start, temps, settings = ns["system"](kind)
    pt = ParallelTempering([build(r) for r in range(len(temps))], start, temps, seed=3,
                           **settings)
    pt.run(n_eq, n_prod, checkpoint=ck, checkpoint_every=10)
    return dict(energy=pt.samples.energy, magnetisation=pt.samples.magnetisation,
                slot_replica=pt.slot_replica, spins=np.stack([mc.spins for mc in pt.replicas]))


def _same(a, b):
    for k in ("energy", "magnetisation", "slot_replica", "spins"):
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@needs_mpi
@pytest.mark.parametrize("kind", ["sc", "mmace"])
def test_two_ranks_give_the_single_process_chains(tmp_path, kind):
    ref = _serial(kind, None, 10, 30)
    _same(_mpirun(tmp_path, 2, kind, tmp_path / "ck.npz", 10, 30), ref)


@needs_mpi
def test_a_run_continues_on_another_number_of_ranks(tmp_path):
    ref = _serial("sc", None, 10, 40)
    ck = tmp_path / "ck.npz"
    _mpirun(tmp_path, 2, "sc", ck, 10, 20)            # "killed" after 20 production steps
    _same(_serial("sc", ck, 10, 40), ref)             # continued in one process
    ck2 = tmp_path / "ck2.npz"
    _serial("sc", ck2, 10, 20)                        # one process, then 2 ranks
    _same(_mpirun(tmp_path, 2, "sc", ck2, 10, 40), ref)
    _same(_mpirun(tmp_path, 3, "sc", ck2, 10, 40), ref)   # 3 ranks for 4 replicas
    ck3 = tmp_path / "ck3.npz"
    _same(_mpirun(tmp_path, 5, "sc", ck3, 10, 40), ref)   # a rank without a replica


def test_missing_mpi4py_is_a_clear_error(monkeypatch):
    from mmace_fast.mc import mpi
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(mpi.MPIUnavailable, match=r"pip install \"mmace_fast\[mpi\]\""):
        mpi.world()


class _OneRank:
    """A communicator of one rank (what mpi4py's COMM_SELF does), without mpi4py."""

    def Get_rank(self):
        return 0

    def Get_size(self):
        return 1

    def allgather(self, x):
        return [x]

    def bcast(self, x, root=0):
        return x

    def Barrier(self):
        pass


def test_one_rank_is_the_single_process_ensemble(tmp_path):
    from mmace_fast.mc.mpi import MPIParallelTempering
    ns = {}
    exec(SYSTEMS, ns)
    build, start, temps, settings = ns["system"]("sc")
    pt = MPIParallelTempering(build, start, temps, comm=_OneRank(), seed=3, **settings)
    pt.run(10, 30, checkpoint=tmp_path / "ck.npz", checkpoint_every=10)
    got = dict(energy=pt.samples.energy, magnetisation=pt.samples.magnetisation,
               slot_replica=pt.slot_replica,
               spins=np.stack([s["spins"] for s in pt.replica_states()]))
    _same(got, _serial("sc", None, 10, 30))
    with pytest.raises(ValueError, match="its own Hamiltonian"):
        shared = build(0)
        MPIParallelTempering(lambda r: shared, start, temps, comm=_OneRank(), seed=3,
                             **settings)
    with pytest.raises(ValueError, match="exchange_every"):
        MPIParallelTempering(build, start, temps, comm=_OneRank(), seed=3, exchange_every=0,
                             **settings)


def test_launcher_environment_decides_the_number_of_ranks(monkeypatch):
    from mmace_fast.mc import mpi
    for var in mpi._SIZE_VARIABLES + mpi._RANK_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    assert mpi.launched_ranks() == 1 and mpi.launched_rank() == 0
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    monkeypatch.setenv("PMI_SIZE", "4")
    monkeypatch.setenv("PMI_RANK", "2")
    assert mpi.launched_rank() == 2
    with pytest.raises(mpi.MPIUnavailable):         # 4 ranks announced, no MPI to run them
        mpi.launched_ranks()


@needs_mpi
def test_the_tc_protocol_under_mpiexec_gives_the_serial_result(tmp_path):
    """`mpiexec -n 2 mmace-mc tc ...`: the protocol's ensembles spread over the ranks by
    themselves; the same Tc as one process, printed once."""
    args = ["tc", "--model", "sc-nn", "--sizes", "4", "6", "--tmin", "1.2", "--tmax", "1.7",
            "--reduced", "--replicas", "4", "--n-equil", "50", "--min-prod", "200",
            "--max-prod", "200"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    runs = []
    for launcher, out in (([], "one"), ([MPIEXEC, "-n", "2"], "two")):
        res = subprocess.run(launcher + [sys.executable, "-m", "mmace_fast.mc.cli"] + args +
                             ["--out", str(tmp_path / out)], capture_output=True, text=True,
                             timeout=600, cwd=ROOT, env=env)
        assert res.returncode == 0, res.stderr[-3000:]
        lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
        assert len(lines) == 1, res.stdout[-2000:]
        runs.append({k: v for k, v in json.loads(lines[0]).items() if k != "wall_s"})
    assert runs[0] == runs[1]
