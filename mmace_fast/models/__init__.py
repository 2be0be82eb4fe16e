"""Shipped default mMACE models, one per material, trained on the project's GPAW data.

    from mmace_fast.models import load_default, available
    model, config, metadata = load_default("fe")          # "fe", "feal", "crn" or "fept"
    calc = default_calculator("crn")                       # an ASE calculator
    frozen = load_frozen("fe")                             # C++ evaluator, no torch
    frozen = load_frozen("fe", grade="mc")                 # the Monte Carlo grade model

Grades: "accurate" (the default; ``models/<material>/``) and "mc" (``models/<material>_mc/``,
where one is shipped): a cheaper architecture trained on the same data with the same recipe,
for Monte Carlo at scale (one message-passing layer: a trial move changes the energy of its
one-hop neighbourhood only); what it gives up is in its metadata and in README.md.

Each model lives in ``mmace_fast/models/<material>/`` as ``model.pt`` (state_dict, tensors
only; ``model.pt.gz``, the same bytes gzipped, for a spin-orbit model) + ``model.json``
(ModelConfig and metadata: data SHA-256, frame counts, command, errors) + ``model.mmace``
(the same weights frozen for the C++ evaluator by :func:`mmace_fast.export.export_model`;
``python -m mmace_fast.models freeze`` rewrites them, and tests/test_model_shipped_frozen.py
fails if a frozen file is stale).
How they were made: README.md in this folder and benchmarks/bench_dft_models.py.
"""
from __future__ import annotations

from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent


class UnknownModelError(ValueError):
    """No shipped model for the requested material."""


#: weights file names (model.pt, or model.pt.gz for a spin-orbit model; see
#: mmace_fast.training.modelio), spelled here so that listing needs no torch import
_WEIGHTS = ("model.pt", "model.pt.gz")


def _complete(d: Path) -> bool:
    return (d / "model.json").exists() and any((d / n).exists() for n in _WEIGHTS)


#: model grade -> directory suffix
GRADES = {"accurate": "", "mc": "_mc"}


def _check_grade(grade: str) -> str:
    if grade not in GRADES:
        raise UnknownModelError(f"unknown model grade {grade!r}; choose from {sorted(GRADES)}")
    return GRADES[grade]


def available(grade: str = "accurate") -> list[str]:
    """Materials with a shipped model of ``grade``."""
    suffix = _check_grade(grade)
    others = [s for s in GRADES.values() if s and s != suffix]
    out = []
    for p in MODELS_DIR.iterdir():
        if not (p.is_dir() and _complete(p)) or any(p.name.endswith(o) for o in others):
            continue
        if suffix and not p.name.endswith(suffix):
            continue
        out.append(p.name[: len(p.name) - len(suffix)] if suffix else p.name)
    return sorted(out)


def model_dir(material: str, grade: str = "accurate") -> Path:
    d = MODELS_DIR / (str(material).lower() + _check_grade(grade))
    if not _complete(d):
        raise UnknownModelError(f"no shipped {grade} model for {material!r}; available: "
                                f"{available(grade)}")
    return d


def load_default(material: str, grade: str = "accurate"):
    """(model in eval mode, float64; ModelConfig; metadata dict) of the shipped model."""
    from mmace_fast.training.modelio import load_model
    return load_model(model_dir(material, grade))


def metadata(material: str, grade: str = "accurate") -> dict:
    """The ``metadata`` block of the shipped model's model.json (data SHA-256, frame counts,
    command, errors), read without importing torch."""
    import json  # noqa: PLC0415
    return json.loads((model_dir(material, grade) / "model.json").read_text()).get(
        "metadata", {})


def default_calculator(material: str, grade: str = "accurate"):
    """:class:`mmace_fast.calculator.MMACECalculator` on the shipped model."""
    from mmace_fast.calculator import MMACECalculator
    return MMACECalculator(model_dir(material, grade))


FROZEN_NAME = "model.mmace"


def frozen_path(material: str, grade: str = "accurate") -> Path:
    """Path of the shipped frozen file of ``material`` (raises if missing)."""
    p = model_dir(material, grade) / FROZEN_NAME
    if not p.exists():
        raise UnknownModelError(f"{p} missing: run `python -m mmace_fast.models freeze`")
    return p


def load_frozen(material: str, grade: str = "accurate"):
    """:class:`mmace_fast.export.FrozenModel` of the shipped model (torch-free)."""
    from mmace_fast.export import FrozenModel
    return FrozenModel.load(frozen_path(material, grade))


def freeze_defaults(materials=None, grade: str = "accurate") -> dict:
    """Export every shipped model of ``grade`` to its ``model.mmace``; returns {material:
    sha256}."""
    from mmace_fast.export import export_model
    out = {}
    for m in materials or available(grade):
        model, _, _ = load_default(m, grade)
        out[m] = export_model(model, model_dir(m, grade) / FROZEN_NAME)
    return out
