"""Shipped default mMACE models, one per material, trained on the project's GPAW data.

    from mmace_fast.models import load_default, available
    model, config, metadata = load_default("fe")          # "fe", "feal", "crn" or "fept"
    calc = default_calculator("crn")                       # ASE calculator, C++, no torch
    calc = torch_calculator("crn")                         # the PyTorch one (training use)
    frozen = load_frozen("fe")                             # C++ evaluator, no torch
    frozen = load_frozen("fe", grade="mc")                 # the Monte Carlo grade model
    committee = load_committee("fe")                       # its committee (mean and spread)

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
#: mmace_fast.model.io), spelled here so that listing needs no torch import
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
    from mmace_fast.model.io import load_model
    return load_model(model_dir(material, grade))


def metadata(material: str, grade: str = "accurate") -> dict:
    """The ``metadata`` block of the shipped model's model.json (data SHA-256, frame counts,
    command, errors), read without importing torch."""
    import json  # noqa: PLC0415
    return json.loads((model_dir(material, grade) / "model.json").read_text()).get(
        "metadata", {})


def default_calculator(material: str, grade: str = "accurate"):
    """The inference calculator of the shipped model: the torch-free
    :class:`mmace_fast.calculator.FrozenCalculator` (energies, forces, stress and magnetic
    forces from the C++ evaluator; :func:`frozen_calculator`)."""
    return frozen_calculator(material, grade)


def torch_calculator(material: str, grade: str = "accurate"):
    """:class:`mmace_fast.calculator.MMACECalculator` on the shipped model (PyTorch: for
    training-time use, e.g. gradients with respect to the weights)."""
    from mmace_fast.calculator import MMACECalculator
    return MMACECalculator(model_dir(material, grade))


FROZEN_NAME = "model.mmace"


def frozen_calculator(material: str, grade: str = "accurate"):
    """:class:`mmace_fast.calculator.FrozenCalculator` (torch-free: energies, forces, stress,
    magnetic forces) on the shipped frozen model, watching its training domain."""
    from mmace_fast.calculator import FrozenCalculator
    return FrozenCalculator(load_frozen(material, grade))


def frozen_path(material: str, grade: str = "accurate") -> Path:
    """Path of the shipped frozen file of ``material`` (raises if missing)."""
    p = model_dir(material, grade) / FROZEN_NAME
    if not p.exists():
        raise UnknownModelError(f"{p} missing: run `python -m mmace_fast.models freeze`")
    return p


def load_frozen(material: str, grade: str = "accurate"):
    """:class:`mmace_fast.export.FrozenModel` of the shipped model (torch-free), watching its
    training domain (a warning when evaluated far outside its data)."""
    from mmace_fast.export import FrozenModel
    model = FrozenModel.load(frozen_path(material, grade))
    model.set_domain(training_domain(material, grade))
    return model


#: a committee of a shipped model lives in models/<material><grade suffix>/committee/
COMMITTEE_NAME = "committee"


def committee_dir(material: str, grade: str = "mc") -> Path:
    """Directory of the shipped committee of ``material`` (:mod:`mmace_fast.export.committee`;
    raises where none is shipped)."""
    d = model_dir(material, grade) / COMMITTEE_NAME
    if not (d / "committee.json").exists():
        raise UnknownModelError(f"no shipped {grade} committee for {material!r} ({d}): "
                                "benchmarks/bench_uncertainty.py --train --ship makes one")
    return d


def load_committee(material: str, grade: str = "mc"):
    """:class:`mmace_fast.model.committee.Committee` (PyTorch members: forces, stress,
    magnetic forces and their spreads)."""
    from mmace_fast.model.committee import Committee
    return Committee.load(committee_dir(material, grade))


def load_frozen_committee(material: str, grade: str = "mc"):
    """:class:`mmace_fast.export.committee.FrozenCommittee` (C++ members, no torch)."""
    from mmace_fast.export.committee import FrozenCommittee
    return FrozenCommittee.load(committee_dir(material, grade))


def training_domain(material: str, grade: str = "accurate"):
    """The shipped model's :class:`mmace_fast.export.domain.TrainingDomain` (None if its
    model.json records none)."""
    from mmace_fast.export.domain import TrainingDomain  # noqa: PLC0415
    d = metadata(material, grade).get("training_domain")
    return None if d is None else TrainingDomain.from_dict(d)


def record_domains(materials=None, grade: str = "accurate") -> dict:
    """Compute each shipped model's training domain from its shipped data set and write it into
    its model.json, with that file's SHA-256 and whether it is the file the model was trained
    on (else a later superset: the domain is then at most that wide); returns {material:
    domain dict}."""
    import hashlib  # noqa: PLC0415
    import json  # noqa: PLC0415

    from mmace_fast.data.readers import read_configurations  # noqa: PLC0415
    from mmace_fast.datasets import shipped_path  # noqa: PLC0415
    from mmace_fast.export import FrozenModel  # noqa: PLC0415
    from mmace_fast.export.domain import TrainingDomain  # noqa: PLC0415
    out = {}
    for m in materials or available(grade):
        path = model_dir(m, grade) / "model.json"
        doc = json.loads(path.read_text())
        meta = doc.setdefault("metadata", {})
        data = shipped_path(meta.get("material", m))
        sha = hashlib.sha256(data.read_bytes()).hexdigest()
        frames = read_configurations(str(data))
        r_cut = FrozenModel.load(frozen_path(m, grade)).r_cut
        dom = TrainingDomain.from_frames(frames, float(r_cut)).to_dict()
        # a model trained before frames were added sees a domain at most this wide
        dom.update(data_sha256=sha, same_data_as_training=meta.get("data_sha256") == sha)
        meta["training_domain"] = dom
        path.write_text(json.dumps(doc, indent=1) + "\n")
        out[m] = dom
    return out



def freeze_defaults(materials=None, grade: str = "accurate") -> dict:
    """Export every shipped model of ``grade`` to its ``model.mmace``; returns {material:
    sha256}."""
    from mmace_fast.export import export_model
    out = {}
    for m in materials or available(grade):
        model, _, _ = load_default(m, grade)
        out[m] = export_model(model, model_dir(m, grade) / FROZEN_NAME)
    return out
