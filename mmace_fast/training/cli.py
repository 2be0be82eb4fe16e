"""Command line: ``python -m mmace_fast.training {train,evaluate} ...``.

    python -m mmace_fast.training train --config cfg.yaml [--set key=value ...]
    torchrun --nproc_per_node N -m mmace_fast.training train --config cfg.yaml   (data-parallel)
    python -m mmace_fast.training evaluate --model runs/x --data test.extxyz [--non-magnetic]
"""
from __future__ import annotations

import argparse
import json
import logging
import sys

import yaml

from mmace_fast.training.config import TrainConfig

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mmace_fast.training",
                                description="Train or evaluate mMACE models.")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train (or resume / fine-tune) from a config file")
    t.add_argument("--config", required=True, help="JSON or YAML TrainConfig")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key (VALUE parsed as YAML), repeatable")
    e = sub.add_parser("evaluate", help="error table of a saved model on a data file")
    e.add_argument("--model", required=True, help="directory with model.pt + model.json")
    e.add_argument("--data", required=True, nargs="+", help="extxyz or MP JSON file(s)")
    e.add_argument("--non-magnetic", action="store_true",
                   help="frames without moments get zero moments")
    e.add_argument("--batch-size", type=int, default=8)
    e.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return p


def parse_overrides(items: list[str]) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"--set expects KEY=VALUE, got {item!r}")
        key, val = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(val)
    return out


def load_config(path: str, overrides: list[str]) -> TrainConfig:
    cfg = TrainConfig.from_file(path)
    changes = parse_overrides(overrides)
    return cfg.replace(**changes) if changes else cfg


def cmd_train(args) -> int:
    from mmace_fast.training.distributed import DistributedError, context_from_env, shutdown
    from mmace_fast.training.metrics import error_table
    from mmace_fast.training.trainer import train
    from mmace_fast.model.io import has_weights
    from mmace_fast.training.trainer import TrainingDivergedError
    cfg = load_config(args.config, args.set)
    try:
        ctx = context_from_env()      # under torchrun: this process's rank
    except DistributedError as exc:
        logging.getLogger("mmace_fast.training").error("%s", exc)
        return 2
    if not ctx.is_main:               # one log and one table: rank 0's
        logging.getLogger().setLevel(logging.WARNING)
    try:
        results = train(cfg, ctx=ctx)
    except TrainingDivergedError as exc:
        logging.getLogger("mmace_fast.training").error("training diverged: %s", exc)
        return 2
    finally:
        shutdown(ctx)
    if not ctx.is_main:
        return 0
    print(error_table(results))
    if not has_weights(cfg.out_dir):
        logging.getLogger("mmace_fast.training").error("no model was written to %s",
                                                       cfg.out_dir)
        return 2
    print(f"model written to {cfg.out_dir}/model.pt (+ model.json)")
    return 0


def cmd_evaluate(args) -> int:
    from mmace_fast.training.data import load_files
    from mmace_fast.training.metrics import error_table
    from mmace_fast.model.io import cutoff_of, load_model
    from mmace_fast.training.trainer import evaluate_configs
    model, cfg, meta = load_model(args.model)
    species = cfg.to_dict().get("species") if hasattr(cfg, "to_dict") else None
    results = {}
    for path in args.data:
        configs = load_files([path], non_magnetic=args.non_magnetic, species=species)
        results[path] = evaluate_configs(model, configs, cutoff_of(cfg), args.batch_size)
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        print(error_table(results))
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    commands = {"train": cmd_train, "evaluate": cmd_evaluate}
    return commands[args.command](args)
