"""Command line: temperature scans and Tc of built-in spin models.

    mmace-mc tc --model pajda-fe --sizes 8 12 16 --tmin 780 --tmax 1050 --out runs/fe_tc
    mmace-mc tc --model sc-nn --sizes 4 6 8 --tmin 1.2 --tmax 1.7 --reduced
    mmace-mc scan --model pajda-fe --sizes 6 10 --tmin 860 --tmax 980 --nt 9 --out runs/fe
    mmace-mc scan --model sc-nn --sizes 8 16 --tmin 1.40 --tmax 1.48 --nt 5  (T in J/kB units*)
    mpiexec -n 2 mmace-mc tc ...      (the protocol's replicas spread over 2 MPI ranks, same result)

``tc`` runs the one Tc protocol (mmace_fast.mc.protocol: parallel tempering bracketed by
--tmin/--tmax, stopping rule, reweighted Binder crossings); ``scan`` is a plain temperature scan.

* for 'sc-nn', 'bcc-nn', 'fcc-nn' the exchange is J = 1 meV, so temperatures are in K with
  kTc = 1.443 J at 16.7 K for sc; pass --reduced to give temperatures as kT/J.
Scans are resumable: rerun the same command and finished work is skipped.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time

import numpy as np

from mmace_fast import conventions as cv
from mmace_fast.mc.engine import CheckpointError
from mmace_fast.mc.hamiltonian import SpinHamiltonian
from mmace_fast.mc.lattice import cubic_lattice
from mmace_fast.mc.presets import pajda_bcc_fe
from mmace_fast.mc.scan import System, critical_temperature, temperature_scan

log = logging.getLogger("mmace_fast.mc")
NN_J_EV = 1e-3


def build_system(model: str, L: int) -> System:
    """A named model on L^3 conventional cells, started ferromagnetic along z."""
    if model == "pajda-fe":
        ham, lat = pajda_bcc_fe(L)
    elif model in ("sc-nn", "bcc-nn", "fcc-nn"):
        lat = cubic_lattice(model.split("-")[0], L)
        ham = SpinHamiltonian.from_shells(lat.positions, lat.cell, lat.pbc, [NN_J_EV])
    else:
        raise ValueError(f"unknown model {model!r}")
    spins = np.tile([0.0, 0.0, 1.0], (lat.n_sites, 1))
    return System(ham, spins, lat.staggered, label=f"{model} L={L}")


def run_scans(model, sizes, temperatures, n_equil, n_prod, out=None, seed=0, wolff=2,
              overrelax=0):
    """Scan every size; returns ({L: ScanTable}, TcEstimate)."""
    tables = {}
    for L in sizes:
        system = build_system(model, L)
        t0 = time.perf_counter()

        def progress(k, n, row, L=L, t0=t0):
            log.info("[L=%d] %d/%d  T=%7.2f K  |m|=%.3f  U4=%.3f  chi=%.3g  (%.0f s)", L, k + 1,
                     n, row["temperature_K"], row["m_abs"], row["u4_m"], row["chi_m"],
                     time.perf_counter() - t0)

        workdir = None if out is None else os.path.join(out, f"L{L}")
        tables[L] = temperature_scan(system, temperatures, n_equil, n_prod, seed=seed + L,
                                     workdir=workdir, progress=progress, move="gaussian",
                                     wolff_per_sweep=wolff, overrelax_per_sweep=overrelax)
    tc = critical_temperature(tables) if len(sizes) >= 2 else None
    return tables, tc


def _parser():
    p = argparse.ArgumentParser(prog="mmace-mc", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("scan", help="temperature scan and Tc of a built-in model")
    s.add_argument("--model", default="pajda-fe", choices=["pajda-fe", "sc-nn", "bcc-nn", "fcc-nn"])
    s.add_argument("--sizes", type=int, nargs="+", default=[6, 10])
    s.add_argument("--tmin", type=float, required=True)
    s.add_argument("--tmax", type=float, required=True)
    s.add_argument("--nt", type=int, default=9)
    s.add_argument("--reduced", action="store_true", help="temperatures as kT/J (NN models)")
    s.add_argument("--n-equil", type=int, default=500)
    s.add_argument("--n-prod", type=int, default=3000)
    s.add_argument("--wolff", type=int, default=2, help="Wolff clusters per sweep")
    s.add_argument("--overrelax", type=int, default=0,
                   help="over-relaxation sweeps per MC step (pays off for frustrated models)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", default=None, help="directory for checkpoints and tables")
    t = sub.add_parser("tc", help="Tc of a built-in model by the one Tc protocol")
    t.add_argument("--model", default="pajda-fe", choices=["pajda-fe", "sc-nn", "bcc-nn",
                                                          "fcc-nn"])
    t.add_argument("--sizes", type=int, nargs="+", default=[8, 12, 16])
    t.add_argument("--tmin", type=float, required=True, help="bracket low end")
    t.add_argument("--tmax", type=float, required=True, help="bracket high end")
    t.add_argument("--reduced", action="store_true", help="temperatures as kT/J (NN models)")
    t.add_argument("--replicas", type=int, default=8, help="temperatures per window")
    t.add_argument("--n-equil", type=int, default=500)
    t.add_argument("--min-prod", type=int, default=2000)
    t.add_argument("--max-prod", type=int, default=20000)
    t.add_argument("--u4-err", type=float, default=0.003, help="target U4 error")
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", default=None, help="directory for checkpoints and the result")
    return p


def run_tc(args) -> dict:
    """``mmace-mc tc``: the protocol on a built-in model (magnetisation order parameter)."""
    from mmace_fast.mc.protocol import TcProtocol, run_tc_protocol  # noqa: PLC0415
    scale = 1.0
    if args.reduced:
        if args.model == "pajda-fe":
            raise SystemExit("--reduced only applies to the nearest-neighbour models")
        scale = NN_J_EV / cv.KB_EV_PER_K
    protocol = TcProtocol(sizes=args.sizes, bracket=(args.tmin * scale, args.tmax * scale),
                          n_replicas=args.replicas, n_equil=args.n_equil,
                          min_prod=args.min_prod, chunk=args.min_prod, max_prod=args.max_prod,
                          target_u4_err=args.u4_err, threads=args.threads)
    settings = {"move": "gaussian", "overrelax_per_sweep": 1}
    if args.model != "pajda-fe":
        settings["wolff_per_sweep"] = 2
    res = run_tc_protocol(lambda L: build_system(args.model, L), settings, protocol,
                          workdir=args.out, seed=args.seed, order="m")
    out = {k: v for k, v in res.as_dict().items() if k not in ("curves", "runs", "protocol")}
    if args.reduced:
        out["kTc_over_J"] = res.tc / scale
        out["kTc_over_J_err"] = res.tc_err / scale
    return out


def main(argv=None):
    args = _parser().parse_args(argv)
    from mmace_fast.mc.mpi import launched_rank  # noqa: PLC0415
    root = launched_rank() == 0       # under mpiexec: one rank reports, every rank computes
    logging.basicConfig(level=logging.INFO if root else logging.ERROR, format="%(message)s")
    try:
        if not root:
            with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
                return _run(args)
        return _run(args)
    except CheckpointError as exc:     # e.g. the same --out with another seed or model
        log.error("mmace-mc %s: %s\n(use another --out, or the parameters of the run that "
                  "wrote it)", args.cmd, exc)
        return 2
    except ValueError as exc:          # settings no run can have (ProtocolError included)
        log.error("mmace-mc %s: %s", args.cmd, exc)
        return 2


def _run(args) -> int:
    if args.cmd == "tc":
        from mmace_fast.mc.protocol import _jsonable  # noqa: PLC0415
        print(json.dumps(_jsonable(run_tc(args))))
        return 0
    temps = np.linspace(args.tmin, args.tmax, args.nt)
    if args.reduced:
        if args.model == "pajda-fe":
            raise SystemExit("--reduced only applies to the nearest-neighbour models")
        temps = temps * NN_J_EV / cv.KB_EV_PER_K
    tables, tc = run_scans(args.model, args.sizes, temps, args.n_equil, args.n_prod, args.out,
                           args.seed, args.wolff, args.overrelax)
    result = {"model": args.model, "sizes": args.sizes}
    if tc is not None:
        result.update(tc.as_dict())
        if args.reduced:
            result["kTc_over_J"] = tc.tc_binder * cv.KB_EV_PER_K / NN_J_EV
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
