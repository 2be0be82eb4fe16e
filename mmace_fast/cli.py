"""``mmace``: one entry point for the whole chain, each subcommand the module that does the work.

    mmace train --config cfg.yaml                       train (or resume, fine-tune) a model
    mmace finetune --data my.extxyz --out runs/ft --from fe
                                                        fine-tune a pre-trained model, frozen
    mmace evaluate --model runs/x --data test.extxyz    its error table on data
    mmace freeze runs/x [--out runs/x/model.mmace]      export it for the C++ evaluator
    mmace committee build runs/m0 runs/m1 --out runs/c  a committee of trained models;
    mmace committee evaluate runs/c --data test.extxyz  its calibration on held-out frames
    mmace fit-baseline --material fe                    Heisenberg baseline fitted to data
    mmace compare --structure my.cif --magnetic Mn --data my.extxyz --model my.mmace
                                                        your own material: accuracy and Tc of
                                                        the mMACE against the fitted baseline
    mmace mc tc --model sc-nn --sizes 4 6 --tmin 1.2 --tmax 1.7 --reduced
                                                        Monte Carlo (scan, the Tc protocol)
    mmace dynamics magnons --model pajda-fe --out runs/m spin dynamics (stochastic LLG), magnons
    mmace models train fe --grade mc [--ship]           shipped models: train from the recipe,
    mmace models evaluate fe                            check, ship, freeze, domains
    mmace demo [--quick]                                the main job (Curie temperature of Fe)

``mmace <command> --help`` shows each command's own flags. The module entry points
(``python -m mmace_fast.training`` etc.) keep working: these are the same functions.
"""
from __future__ import annotations

import argparse
import logging
import sys

log = logging.getLogger(__name__)


def _training(cmd):
    def run(argv):
        from mmace_fast.training.cli import main  # noqa: PLC0415
        return main([cmd] + argv)
    return run


def _finetune(argv):
    from mmace_fast.training.finetune import main  # noqa: PLC0415
    return main(argv)


def _fit_baseline(argv):
    from mmace_fast.baseline.__main__ import main  # noqa: PLC0415
    return main(["fit"] + argv)


def _mc(argv):
    from mmace_fast.mc.cli import main  # noqa: PLC0415
    return main(argv)


#: `mmace models` subcommands of the release (they train: mmace_fast.training.release)
RELEASE_COMMANDS = ("train", "ship-run", "evaluate")


def _models(argv):
    if argv and argv[0] in RELEASE_COMMANDS:
        from mmace_fast.training.release import main as release_main  # noqa: PLC0415
        return release_main(argv)
    from mmace_fast.models.__main__ import main  # noqa: PLC0415
    return main(argv)


def _dynamics(argv):
    from mmace_fast.dynamics.cli import main  # noqa: PLC0415
    return main(argv)


def _compare(argv):
    from mmace_fast.compare.user import main  # noqa: PLC0415
    return main(argv)


def _demo(argv):
    from mmace_fast.demo import main  # noqa: PLC0415
    return main(argv)


def _committee(argv):
    from mmace_fast.compare.uncertainty import main  # noqa: PLC0415
    return main(argv)


def _freeze(argv):
    p = argparse.ArgumentParser(prog="mmace freeze",
                                description="Export a saved model directory (model.pt + "
                                            "model.json) to the frozen file the C++ evaluator "
                                            "and the Monte Carlo read. Example: mmace freeze "
                                            "runs/fe --out fe.mmace")
    p.add_argument("model_dir", help="directory written by `mmace train`")
    p.add_argument("--out", default=None, help="default: <model_dir>/model.mmace")
    args = p.parse_args(argv)
    from pathlib import Path  # noqa: PLC0415

    from mmace_fast.export import export_model  # noqa: PLC0415
    from mmace_fast.model.io import load_model  # noqa: PLC0415
    model, _, _ = load_model(args.model_dir)
    out = Path(args.out) if args.out else Path(args.model_dir) / "model.mmace"
    sha = export_model(model, out)
    print(f"{out} sha256 {sha}")
    return 0


#: command -> (runner(argv) -> exit code, one-line help with an example)
COMMANDS = {
    "train": (_training("train"), "train a model: mmace train --config cfg.yaml"),
    "finetune": (_finetune, "fine-tune a pre-trained model on your frames: mmace finetune "
                            "--data my.extxyz --out runs/ft --from fe"),
    "evaluate": (_training("evaluate"),
                 "error table: mmace evaluate --model runs/x --data test.extxyz"),
    "freeze": (_freeze, "export for the C++ evaluator: mmace freeze runs/x"),
    "committee": (_committee, "committees: mmace committee build runs/m0 runs/m1 runs/m2 "
                              "--out runs/com --valid data.extxyz"),
    "fit-baseline": (_fit_baseline,
                     "fit the Heisenberg baseline: mmace fit-baseline --material fe"),
    "compare": (_compare, "your own material, mMACE against the fitted Heisenberg model: mmace "
                          "compare --structure my.cif --magnetic Mn --data my.extxyz --model "
                          "my.mmace"),
    "mc": (_mc, "Monte Carlo: mmace mc tc --model sc-nn --sizes 4 6 --tmin 1.2 --tmax 1.7 "
                "--reduced"),
    "dynamics": (_dynamics, "spin dynamics: mmace dynamics magnons --model pajda-fe --L 8 "
                            "--out runs/magnons"),
    "models": (_models, "shipped models (train, ship-run, evaluate, freeze, domain): mmace "
                        "models train fe --grade mc"),
    "demo": (_demo, "the main job: mmace demo --quick"),
}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="mmace", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=sorted(COMMANDS),
                   help="; ".join(f"{k}: {v[1]}" for k, v in COMMANDS.items()))
    p.add_argument("args", nargs=argparse.REMAINDER, help="the command's own flags")
    if not argv or argv[0] in ("-h", "--help"):
        p.print_help()
        return 0 if argv else 2
    ns = p.parse_args(argv[:1])
    return int(COMMANDS[ns.command][0](argv[1:]) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
