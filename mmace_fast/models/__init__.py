"""Shipped default mMACE models, one per material, trained on the project's GPAW data.

    from mmace_fast.models import load_default, available
    model, config, metadata = load_default("fe")          # "fe", "feal" or "crn"
    calc = default_calculator("crn")                       # an ASE calculator

Each model lives in ``mmace_fast/models/<material>/`` as ``model.pt`` (state_dict, tensors
only) + ``model.json`` (ModelConfig and metadata: data SHA-256, frame counts, command, errors).
How they were made: README.md in this folder and benchmarks/bench_dft_models.py.
"""
from __future__ import annotations

from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent


class UnknownModelError(ValueError):
    """No shipped model for the requested material."""


def available() -> list[str]:
    """Materials with a shipped model."""
    return sorted(p.name for p in MODELS_DIR.iterdir()
                  if p.is_dir() and (p / "model.json").exists() and (p / "model.pt").exists())


def model_dir(material: str) -> Path:
    d = MODELS_DIR / str(material).lower()
    if not ((d / "model.json").exists() and (d / "model.pt").exists()):
        raise UnknownModelError(f"no shipped model for {material!r}; available: {available()}")
    return d


def load_default(material: str):
    """(model in eval mode, float64; ModelConfig; metadata dict) of the shipped model."""
    from mmace_fast.training.modelio import load_model
    return load_model(model_dir(material))


def default_calculator(material: str):
    """:class:`mmace_fast.calculator.MMACECalculator` on the shipped model."""
    from mmace_fast.calculator import MMACECalculator
    return MMACECalculator(model_dir(material))
