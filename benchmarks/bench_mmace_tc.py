"""Tc of bcc Fe from mMACE (fixed and free moment length) beside the fitted Heisenberg model and
Pajda et al.'s constants, all through the one Tc protocol (mmace_fast.mc.protocol).

    python benchmarks/bench_mmace_tc.py [--quick] [--frozen PATH] [--models ...] [--threads 2]

Each model: parallel tempering in windows around the transition at every size, a stopping
rule on tau_int and the U4 error (or a budget, said in the result), Binder crossings of
multiple-histogram-reweighted U4 curves; Tc is the crossing of the two largest sizes, every
pair's crossing is listed (for Pajda the drift with size checks the protocol itself). mMACE
models: the shipped Fe model of ``--grade`` (or the frozen file ``--frozen``) with moments of fixed
length (the fitted DFT moment, direction moves) and free length (d^3m, 30 % longitudinal
moves), driven by ``--sampler`` (default: delayed acceptance and guided over-relaxation with
the Heisenberg model extracted from the same mMACE; exact either way). Resumable
(checkpoints under ``--out``). The last stdout line is one JSON object:
fe_tc_<model>_k, fe_tc_<model>_err_k, fe_tc_<model>_reliable for model in heis, pajda,
mmace_fixed, mmace_free; sizes; largest_L; model (which mMACE); wall_s. The full run writes
benchmarks/results/bench_mmace_tc.json (``--grade mc``, the default: the Monte Carlo grade
model) or bench_mmace_tc_accurate.json (``--grade accurate``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from mmace_fast.compare.thermo import MMACE_SAMPLERS, SMOKE_PLANS  # noqa: E402

log = logging.getLogger("bench_mmace_tc")
ROOT = Path(__file__).resolve().parent.parent
MODELS = ("heis", "pajda", "mmace_fixed", "mmace_free")

#: protocol settings per model family (TcProtocol fields); brackets in K
PLANS = {
    "full": {
        "classical": dict(sizes=(8, 12, 16), n_bracket_replicas=10, bracket_sweeps=(300, 600),
                          n_replicas=8, n_equil=500, min_prod=2000, chunk=2000,
                          max_prod=20000, target_u4_err=0.003, max_wall_s=300.0),
        "mmace": dict(sizes=(8, 10, 12), n_bracket_replicas=8, bracket_sweeps=(100, 200),
                      n_replicas=6, n_equil=200, min_prod=600, chunk=400, max_prod=3000,
                      target_u4_err=0.005, max_wall_s=300.0),
    },
    "quick": SMOKE_PLANS,
}


def _sha12(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes and sweeps (< 1 min)")
    p.add_argument("--grade", default="mc", choices=("mc", "accurate"),
                   help="which shipped Fe mMACE: the Monte Carlo grade (default) or the "
                        "accurate one")
    p.add_argument("--frozen", type=Path, default=None,
                   help="any frozen Fe model instead of a shipped one")
    p.add_argument("--data", type=Path, default=ROOT / "data" / "fe.extxyz.gz",
                   help="data the Heisenberg baseline is fitted to")
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument("--sizes", type=int, nargs="+", default=None, help="mMACE sizes")
    p.add_argument("--max-prod", type=int, default=None, help="mMACE production budget")
    p.add_argument("--max-wall", type=float, default=None,
                   help="mMACE wall budget per size (s; a resumed size counts this run's time)")
    p.add_argument("--threads", type=int, default=2, help="replicas run concurrently")
    p.add_argument("--sampler", default="guided", choices=MMACE_SAMPLERS,
                   help="mMACE chains: delayed acceptance + guided over-relaxation with the "
                        "Heisenberg model extracted from the mMACE (default), or plain "
                        "Metropolis")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "bench_mmace_tc")
    p.add_argument("--merge", action="store_true",
                   help="update the results file's entries of the models run now, keep the "
                        "others")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("mmace_fast.mc.hamiltonian").setLevel(logging.WARNING)
    logging.getLogger("mmace_fast.mc.mmace_hamiltonian").setLevel(logging.WARNING)
    from mmace_fast.compare.thermo import protocol_tc
    from mmace_fast.mc.table import atomic_write_text
    from mmace_fast.mc.protocol import TcProtocol

    from mmace_fast.models import frozen_path
    mode = "quick" if args.quick else "full"
    label = "custom" if args.frozen is not None else args.grade
    if args.frozen is None:
        args.frozen = frozen_path("fe", args.grade)
    t0 = time.perf_counter()
    from mmace_fast.baseline import fit_material
    from mmace_fast.compare.thermo import tc_models
    from mmace_fast.export import FrozenModel
    fit = fit_material("fe", data_path=str(args.data))
    moment = float(fit.moments[26])
    models, notes = tc_models("fe", args.models, fit, FrozenModel.load(args.frozen), moment,
                              sampler=args.sampler)
    key = _sha12(args.frozen)
    result = {"quick": args.quick, "model": str(Path(args.frozen).resolve().relative_to(ROOT))
              if Path(args.frozen).resolve().is_relative_to(ROOT) else str(args.frozen),
              "grade": label, "model_sha256": key,
              "moment_muB": moment, "threads": args.threads, "sampler": args.sampler,
              "notes": notes, "protocols": {}}
    runs = {}
    for name, (model, bracket) in models.items():
        family = "mmace" if name.startswith("mmace") else "classical"
        plan = dict(PLANS[mode][family], bracket=bracket, threads=args.threads)
        if family == "mmace" and args.sizes:
            plan["sizes"] = tuple(args.sizes)
        if family == "mmace" and args.max_prod:
            plan["max_prod"] = args.max_prod
        if family == "mmace" and args.max_wall:
            plan["max_wall_s"] = args.max_wall
        protocol = TcProtocol(**plan)
        wd = args.out / mode / (f"mmace_{key}_{args.sampler}" if family == "mmace"
                                else "classical")
        log.info("%s: protocol %s", model.name, protocol.as_dict())
        res = protocol_tc(model, protocol, workdir=str(wd), seed=0)
        runs[name] = res
        result[f"fe_tc_{name}_k"] = res.tc
        result[f"fe_tc_{name}_err_k"] = res.tc_err
        result[f"fe_tc_{name}_reliable"] = res.errors_reliable
        result[f"fe_tc_{name}_method"] = res.method
        result[f"fe_tc_{name}_note"] = res.note
        result[f"fe_tc_{name}_pairs"] = [{k: v for k, v in pr.items() if k != "roots"}
                                          for pr in res.pairs]
        result[f"fe_tc_{name}_wall_s"] = res.wall_s
        result["protocols"][name] = res.protocol
        result[f"fe_tc_{name}_runs"] = [dict(L=r.L, sweeps=r.sweeps, stop=r.stop,
                                             tau_max=r.tau_max, u4_err_max=r.u4_err_max,
                                             swap_min=min(r.exchange_acceptance),
                                             wall_s=r.wall_s) for r in res.runs]
        log.info("%s: Tc = %.1f +- %.1f K (%s, reliable %s) %s", model.name, res.tc, res.tc_err,
                 res.method, res.errors_reliable, res.note)
    mm = [r for n, r in runs.items() if n.startswith("mmace")]
    result["sizes"] = list(mm[0].as_dict()["sizes"]) if mm else []
    result["largest_L"] = max(result["sizes"]) if result["sizes"] else None
    result["wall_s"] = time.perf_counter() - t0
    from mmace_fast.mc.mpi import launched_rank
    if launched_rank() != 0:          # under mpiexec every rank computes, rank 0 reports
        return
    if not args.quick:
        name = "bench_mmace_tc.json" if label == "mc" else f"bench_mmace_tc_{label}.json"
        path = ROOT / "benchmarks" / "results" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if args.merge and path.exists():
            old = json.loads(path.read_text())
            mine = {k for k in result if any(k.startswith(f"fe_tc_{m}_") for m in MODELS)}
            keep = {k: v for k, v in old.items()
                    if k.startswith("fe_tc_") and k not in mine
                    and not any(k.startswith(f"fe_tc_{m}_") for m in args.models)}
            keep["protocols"] = {**old.get("protocols", {}), **result["protocols"]}
            keep["notes"] = {**old.get("notes", {}), **result["notes"]}
            keep["wall_s_earlier"] = old.get("wall_s")
            if not result["sizes"]:                      # no mMACE run now: keep its sizes
                keep.update(sizes=old.get("sizes", []), largest_L=old.get("largest_L"))
            result = {**result, **keep}
        atomic_write_text(str(path), json.dumps(result, indent=1, default=float) + "\n")
    print(json.dumps(result, default=float))


if __name__ == "__main__":
    main()
