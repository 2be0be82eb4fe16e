"""python -m mmace_fast.models freeze [material ...]: rewrite the shipped frozen files.
python -m mmace_fast.models domain [material ...]: record each model's training domain."""
import argparse
import json
import logging

from mmace_fast.models import GRADES, available, freeze_defaults, record_domains


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m mmace_fast.models", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("freeze", help="export model.pt -> model.mmace for the C++ evaluator")
    f.add_argument("materials", nargs="*", help=f"default: all of {available()}")
    f.add_argument("--grade", default="accurate", choices=sorted(GRADES))
    d = sub.add_parser("domain", help="record the training domain (shortest bonds, longest "
                                      "moments, densities) in model.json")
    d.add_argument("materials", nargs="*", help=f"default: all of {available()}")
    d.add_argument("--grade", default="accurate", choices=sorted(GRADES))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.cmd == "domain":
        print(json.dumps(record_domains(args.materials or None, args.grade)))
    else:
        print(json.dumps(freeze_defaults(args.materials or None, args.grade)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
