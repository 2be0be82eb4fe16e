"""``mmace finetune``: a pre-trained mMACE fine-tuned on a user's frames, frozen for Monte Carlo.

    mmace finetune --data my.extxyz --out runs/my_ft [--from pretrained | fe | runs/model]

Defaults are those benchmarks/bench_finetune.py measures (benchmarks/RESULTS.md, issue 34):
every weight trainable (``--freeze`` patterns otherwise), learning rate 0.002 with a cosine
schedule to 0 over a budget of optimiser steps (``--steps``, 3000), the last epoch kept, the
shipped recipe's loss weights and moment priors (mmace_fast.models.recipes.TRAIN). Reference
energies: the pre-trained species keep theirs and only the species the pre-trained model lacks
are fitted to the energy residuals (``init_e0s="new"``); with no new species they are shifted
to the new material's frames as a whole (``"refit"``). Species the pre-trained model lacks are
added to it (mmace_fast.model.species). The frames' ``split`` labels are respected (valid /
test), else ``--valid-fraction`` of them validate. The result: ``<out>/model`` (model.pt +
model.json) and ``<out>/model/model.mmace`` (the frozen file for the C++ evaluator and the
Monte Carlo), and the validation errors before and after, printed and in
``<out>/finetune.json``. A killed fine-tune resumes from its checkpoint when run again.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path

log = logging.getLogger(__name__)

#: the learning rate and optimiser-step budget of a fine-tune (bench_finetune's FT_LR, STEPS)
FT_LR = 0.002
FT_STEPS = 3000
#: the shipped pre-trained model's directory name under mmace_fast/models (issue 34)
PRETRAINED = "pretrained"


class FinetuneError(ValueError):
    """A fine-tune that cannot start (no pre-trained model, no data)."""


def pretrained_dir(source: str) -> Path:
    """The model directory of ``--from``: a directory, or the name of a shipped model
    ("pretrained", or a material such as "fe", "fe_mc")."""
    from mmace_fast.models import MODELS_DIR  # noqa: PLC0415

    path = Path(source)
    if path.is_dir():
        return path
    shipped = MODELS_DIR / source
    if (shipped / "model.json").exists():
        return shipped
    if source == PRETRAINED:
        raise FinetuneError("no pre-trained model is shipped yet (issue 34: "
                            "benchmarks/bench_finetune.py trains it); give --from a model "
                            "directory or a shipped model, e.g. --from fe")
    raise FinetuneError(f"--from {source}: neither a model directory nor a shipped model")


def finetune_config(data, out: Path, source: Path, steps: int = FT_STEPS, lr: float = FT_LR,
                    freeze=(), batch_size: int = 4, valid_fraction: float = 0.1,
                    seed: int = 0, **changes):
    """The TrainConfig of a fine-tune (see the module docstring); ``changes`` override it."""
    from mmace_fast.data.readers import read_configurations  # noqa: PLC0415
    from mmace_fast.model.io import read_model_json  # noqa: PLC0415
    from mmace_fast.models.recipes import TRAIN  # noqa: PLC0415
    from mmace_fast.training.config import TrainConfig  # noqa: PLC0415

    files = [str(f) for f in ([data] if isinstance(data, (str, Path)) else data)]
    frames = [c for f in files for c in read_configurations(f)]
    if not frames:
        raise FinetuneError(f"no frames in {files}")
    labelled = any("split" in c.info for c in frames)
    n_train = sum(c.info.get("split", "train") == "train" for c in frames) if labelled \
        else max(1, round(len(frames) * (1 - valid_fraction)))
    epochs = max(1, math.ceil(steps / math.ceil(n_train / batch_size)))
    known = set(int(z) for z in read_model_json(source)["model_config"]["species"])
    new = sorted({int(z) for c in frames for z in c.numbers} - known)
    settings = dict(TRAIN, batch_size=batch_size, valid_batch_size=8, lr=lr,
                    scheduler="cosine", lr_min=0.0, patience=None, keep_model="last",
                    max_epochs=epochs, seed=seed, valid_fraction=valid_fraction,
                    init_from=str(source), init_e0s="new" if new else "refit",
                    freeze=list(freeze), progress=False)
    settings.update(changes)
    return TrainConfig(train_file=files, out_dir=str(out / "model"), resume=True, **settings)


def finetune(data, out, source: str = PRETRAINED, **kw) -> dict:
    """Fine-tune, freeze, and report {"valid_before", "valid_after", "new_species",
    "frozen", "epochs"}; also written to ``<out>/finetune.json``."""
    from mmace_fast.export import export_model  # noqa: PLC0415
    from mmace_fast.model.io import load_model  # noqa: PLC0415
    from mmace_fast.training.trainer import Trainer, evaluate_configs  # noqa: PLC0415

    out = Path(out)
    src = pretrained_dir(source)
    cfg = finetune_config(data, out, src, **kw)
    trainer = Trainer(cfg).setup()
    valid = trainer.valid_set or trainer.train_set
    before = evaluate_configs(trainer.model, valid, trainer.cutoff, batch_size=8)
    trainer.fit()
    model, mcfg, _ = load_model(out / "model")
    after = evaluate_configs(model, valid, trainer.cutoff, batch_size=8)
    frozen = out / "model" / "model.mmace"
    sha = export_model(model, frozen)
    res = {"from": str(src), "data": [str(f) for f in cfg.train_file],
           "new_species": list(getattr(trainer, "new_species", [])),
           "init_e0s": cfg.init_e0s, "epochs": cfg.max_epochs, "lr": cfg.lr,
           "n_valid": len(valid), "valid_is_train": not trainer.valid_set,
           "valid_before": before, "valid_after": after, "frozen": str(frozen),
           "frozen_sha256": sha}
    (out / "finetune.json").write_text(json.dumps(res, indent=1))
    return res


def _row(name: str, e: dict) -> str:
    """One line of the before / after table (evaluate_configs' MAEs, meV units)."""
    cells = [f"{e.get(f'{q}_mae', float('nan')):.4g}" for q in ("energy", "forces",
                                                                  "magforces")]
    return f"{name:<8} " + " ".join(f"{c:>14}" for c in cells)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="mmace finetune", description=__doc__.split("\n\n")[0] + " Example: mmace "
        "finetune --data my.extxyz --out runs/my_ft --from fe")
    p.add_argument("--data", nargs="+", required=True, help="extxyz or MP-style JSON file(s)")
    p.add_argument("--out", required=True, help="run directory (resumes if it exists)")
    p.add_argument("--from", dest="source", default=PRETRAINED,
                   help="pre-trained model: a directory or a shipped model name "
                        f"(default {PRETRAINED!r})")
    p.add_argument("--steps", type=int, default=FT_STEPS, help="optimiser steps")
    p.add_argument("--lr", type=float, default=FT_LR)
    p.add_argument("--freeze", nargs="*", default=[],
                   help="parameter-name patterns kept at their pre-trained values "
                        "(e.g. 'embedding' 'layers.0.*'); default none")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--valid-fraction", type=float, default=0.1,
                   help="frames that validate when the data carry no split labels")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("mmace_fast.training.data", "mmace_fast.data.readers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    import torch  # noqa: PLC0415

    torch.set_default_dtype(torch.float64)
    try:
        res = finetune(args.data, args.out, args.source, steps=args.steps, lr=args.lr,
                       freeze=args.freeze, batch_size=args.batch_size,
                       valid_fraction=args.valid_fraction, seed=args.seed)
    except (FinetuneError, FileNotFoundError) as exc:
        p.error(str(exc))
    print(f"fine-tuned from {res['from']} ({res['epochs']} epochs; new species "
          f"{res['new_species'] or 'none'}); MAE on {res['n_valid']} validation frames:")
    print(f"{'':<8} {'E meV/atom':>14} {'F meV/A':>14} {'magF meV/muB':>14}")
    print(_row("before", res["valid_before"]))
    print(_row("after", res["valid_after"]))
    print(f"frozen for Monte Carlo: {res['frozen']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
