"""Building, saving, loading and evaluating models: ``model.pt`` (state_dict) + ``model.json``
(config). Inference (the calculator, the comparison, the shipped models) uses this module; only
training adds to it.

A saved model directory holds

- ``model.pt``   ``torch.save(model.state_dict())``: tensors only, loads with
  ``torch.load(..., weights_only=True)``; or instead ``model.pt.gz``, the same bytes gzipped
  (:data:`GZ_WEIGHTS_NAME`, for spin-orbit models whose derived buffers are large);
- ``model.json`` ``{"format": "mmace_fast.model/2", "model_config": ModelConfig.to_dict(),
  "metadata": {...}}`` with versions, species, E0s, data statistics and the training-data
  SHA-256.

Format versions: ``/2`` stores the top Landau coefficient as the raw pre-softplus value
(``landau[:, K-1]``, a_K = softplus(raw); see mmace_fast.model.mmace step 6). ``/1`` files
(written before) stored a_K itself; :func:`load_model` and :func:`load_state` convert them
(:func:`upgrade_state_dict`), refusing a_K <= 0, which the new parametrisation cannot hold.

No module is ever pickled: a model is rebuilt as ``MMACE(ModelConfig.from_dict(...))`` and the
state_dict loaded into it.
"""
from __future__ import annotations

import dataclasses
import gzip
import io
import json
import logging
import os
import pickle
import platform
from pathlib import Path
from types import SimpleNamespace
from typing import Sequence

import torch

log = logging.getLogger(__name__)

MODEL_FORMAT = "mmace_fast.model/2"
#: formats whose ``landau[:, K-1]`` is the coefficient a_K itself (converted on load)
LEGACY_LANDAU_FORMATS = ("mmace_fast.model/1", "mmace_fast.checkpoint/1")
LANDAU_NOTE = "landau[:, K-1] is raw: a_K = softplus(raw); a_k = landau[:, k-1] for k < K"
WEIGHTS_NAME = "model.pt"
#: the same torch.save bytes, gzip-compressed (mtime 0: the same state gives the same file).
#: A spin-orbit model's state_dict is ~85 % derived coupling tensors (the U_k_nu bases of the
#: symmetric contraction and the CG blocks, 8 % non-zero): 14 MB raw, 2.6 MB gzipped. They are
#: stored, not re-derived on load, because the U bases come out of an SVD whose signs and
#: rotations within degenerate subspaces may differ between LAPACK builds, and the trained
#: weights W_k_nu are coefficients in that basis.
GZ_WEIGHTS_NAME = "model.pt.gz"
CONFIG_NAME = "model.json"

_BACKEND_OVERRIDE = None


def set_backend(model_cls=None, config_cls=None, collate=None) -> None:
    """Replace the model classes and collate function (tests only); call with no args to reset."""
    global _BACKEND_OVERRIDE
    if model_cls is None:
        _BACKEND_OVERRIDE = None
    else:
        _BACKEND_OVERRIDE = SimpleNamespace(MMACE=model_cls, ModelConfig=config_cls,
                                            collate=collate)


def backend() -> SimpleNamespace:
    """(MMACE, ModelConfig, collate) of :mod:`mmace_fast.model` / :mod:`mmace_fast.data.graph`."""
    if _BACKEND_OVERRIDE is not None:
        return _BACKEND_OVERRIDE
    from mmace_fast.data.graph import collate
    from mmace_fast.model import MMACE, ModelConfig
    return SimpleNamespace(MMACE=MMACE, ModelConfig=ModelConfig, collate=collate)


def config_field_names(config_cls) -> set:
    return {f.name for f in dataclasses.fields(config_cls)}


#: eV/A: an RMS force below this is SCF noise on forces that vanish by symmetry (every 2-atom
#: L1_0 FePt or B2 cell), not a force scale
MIN_FORCE_SCALE = 1e-3


def site_energy_scale(stats: dict) -> float | None:
    """Scale (eV) of the site energies: the RMS force (eV/A per component, the MACE choice), or
    None (the model's default, 1 eV: no scaling, MACE's fallback) where the forces carry no
    scale (RMS below MIN_FORCE_SCALE: every frame symmetric, or no forces).

    2026-12-06: with the strained FePt cells (forces zero by symmetry up to 1e-9 eV/A of SCF
    noise) the RMS force became 1.1e-9 and so did the scale, which froze the network energies;
    the 2026-12-06 FePt models (exactly zero forces) had the default scale 1."""
    rms_f = stats.get("rms_forces") or 0.0
    if rms_f >= MIN_FORCE_SCALE:
        return float(rms_f)
    log.warning("RMS force %.3g eV/A carries no scale (forces zero by symmetry or absent): "
                "site energies unscaled (the model's default scale)", rms_f)
    return None


def fill_model_config(model_dict: dict, species, e0s: dict, stats: dict, config_cls) -> dict:
    """Complete the user's ModelConfig kwargs with what the data determines.

    Fills, only where ModelConfig has the field and the user left it unset: ``species`` (from the
    data), ``e0`` (list aligned with ``species``, eV), ``avg_num_neighbors``, and the
    scale/shift of the site energies (``shift`` = mean E0-subtracted energy per atom, ``scale``
    = :func:`site_energy_scale`).
    """
    names = config_field_names(config_cls)
    d = dict(model_dict)
    d.setdefault("species", [int(z) for z in species])
    missing = sorted(set(int(z) for z in species) - set(int(z) for z in d["species"]))
    if missing:
        raise ValueError(f"model species {d['species']} do not cover data species {missing}")
    fills = {
        "e0": [float(e0s.get(int(z), 0.0)) for z in d["species"]],
        "avg_num_neighbors": stats.get("avg_num_neighbors"),
        "shift": stats.get("mean_energy_per_atom"),
        "scale": site_energy_scale(stats),
    }
    for key, val in fills.items():
        if key in names and d.get(key) is None and val is not None:
            d[key] = val
    return d


def build_model(model_dict: dict, dtype=torch.float64):
    """ModelConfig kwargs -> (model in float64, ModelConfig)."""
    be = backend()
    cfg = be.ModelConfig.from_dict(model_dict) if hasattr(be.ModelConfig, "from_dict") \
        else be.ModelConfig(**model_dict)
    model = be.MMACE(cfg).to(dtype)
    return model, cfg


def model_config_dict(cfg) -> dict:
    return cfg.to_dict() if hasattr(cfg, "to_dict") else dataclasses.asdict(cfg)


def cutoff_of(cfg) -> float:
    d = model_config_dict(cfg)
    for key in ("r_cut", "r_max", "cutoff"):
        if key in d:
            return float(d[key])
    raise KeyError("ModelConfig has no r_cut")


def versions() -> dict:
    out = {"python": platform.python_version(), "torch": torch.__version__}
    for name in ("mmace_fast", "e3nn", "numpy", "ase"):
        try:
            out[name] = __import__(name).__version__
        except Exception:                                   # pragma: no cover
            out[name] = None
    return out


def atomic_write_bytes(path: Path, write_fn) -> None:
    """Write through ``write_fn(tmp_path)`` then rename over ``path`` (no torn files)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    write_fn(tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, lambda p: Path(p).write_text(text))


def _write_gz_state(state: dict, path) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0,
                                                filename="") as gz:
        gz.write(buf.getvalue())


class ModelFilesError(FileNotFoundError):
    """A model directory without exactly one weights file."""


def weights_path(model_dir) -> Path:
    """``model.pt`` or ``model.pt.gz`` of a model directory (exactly one must exist)."""
    d = Path(model_dir)
    found = [d / n for n in (WEIGHTS_NAME, GZ_WEIGHTS_NAME) if (d / n).exists()]
    if len(found) != 1:
        what = "both" if found else "neither"
        raise ModelFilesError(f"{d}: {what} of {WEIGHTS_NAME} and {GZ_WEIGHTS_NAME} present; a "
                              "model directory holds exactly one weights file")
    return found[0]


def has_weights(model_dir) -> bool:
    d = Path(model_dir)
    return (d / WEIGHTS_NAME).exists() or (d / GZ_WEIGHTS_NAME).exists()


def save_model(out_dir, model: torch.nn.Module, cfg, metadata: dict | None = None,
               state_dict: dict | None = None, compress: bool = False) -> Path:
    """Write ``model.pt`` (``model.pt.gz`` with ``compress``) + ``model.json`` into
    ``out_dir`` atomically, removing the other weights file if present; returns the dir."""
    out_dir = Path(out_dir)
    state = state_dict if state_dict is not None else model.state_dict()
    state = {k: v.detach().cpu().clone() for k, v in state.items()}
    name, other = (GZ_WEIGHTS_NAME, WEIGHTS_NAME) if compress else (WEIGHTS_NAME,
                                                                     GZ_WEIGHTS_NAME)
    if compress:
        atomic_write_bytes(out_dir / name, lambda p: _write_gz_state(state, p))
    else:
        atomic_write_bytes(out_dir / name, lambda p: torch.save(state, p))
    (out_dir / other).unlink(missing_ok=True)
    doc = {"format": MODEL_FORMAT, "model_config": model_config_dict(cfg),
           "metadata": {"versions": versions(), "landau_parametrisation": LANDAU_NOTE,
                        **(metadata or {})}}
    atomic_write_text(out_dir / CONFIG_NAME, json.dumps(doc, indent=1, sort_keys=True))
    return out_dir


class ModelFileCorrupt(ValueError):
    """A model file that exists but cannot be read: truncated, corrupt, or not a model file."""


def read_model_json(model_dir) -> dict:
    path = Path(model_dir) / CONFIG_NAME
    if not path.exists():
        raise ModelFilesError(f"{model_dir}: no {CONFIG_NAME} (not a model directory)")
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileCorrupt(f"{path}: not valid JSON ({exc}); the file is corrupt or not "
                               "a model description") from None
    if not isinstance(doc, dict) or doc.get("format") not in (
            (MODEL_FORMAT,) + LEGACY_LANDAU_FORMATS[:1]):
        fmt = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise ValueError(f"{path}: not a {MODEL_FORMAT} file (format={fmt!r})")
    if not isinstance(doc.get("model_config"), dict):
        raise ModelFileCorrupt(f"{path}: no model_config object")
    return doc


def upgrade_state_dict(state: dict, fmt: str, source: str = "state_dict") -> dict:
    """Convert a state_dict written in format ``fmt`` to the current parametrisation.

    Legacy formats stored the top Landau coefficient a_K in ``landau[:, K-1]``; now that column
    holds softplus^-1(a_K). Other entries are returned unchanged (same tensors)."""
    if fmt not in LEGACY_LANDAU_FORMATS or "landau" not in state:
        return state
    from mmace_fast.model.mmace import LandauCoefficientError, landau_raw_from_coefficients
    try:
        raw = landau_raw_from_coefficients(state["landau"])
    except LandauCoefficientError as err:
        raise LandauCoefficientError(f"{source} ({fmt}): {err}") from None
    log.info("%s: converted legacy Landau coefficients (%s) to the softplus parametrisation",
             source, fmt)
    return {**state, "landau": raw}


def load_state(model_dir) -> dict:
    """The state_dict of a saved model directory, in the current parametrisation."""
    doc = read_model_json(model_dir)
    path = weights_path(model_dir)
    try:
        if path.name == GZ_WEIGHTS_NAME:
            with gzip.open(path, "rb") as fh:
                state = torch.load(io.BytesIO(fh.read()), map_location="cpu",
                                   weights_only=True)
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, EOFError, RuntimeError, ValueError, pickle.UnpicklingError) as exc:
        why = str(exc).splitlines()[0] if str(exc) else ""
        raise ModelFileCorrupt(f"{path}: unreadable weights ({type(exc).__name__}: {why}); "
                               "the file is truncated, corrupt or not a torch state_dict"
                               ) from None
    if not isinstance(state, dict):
        raise ModelFileCorrupt(f"{path}: holds a {type(state).__name__}, not a state_dict")
    return upgrade_state_dict(state, doc.get("format"), str(model_dir))


def load_model(model_dir, dtype=torch.float64):
    """Model directory -> (model in eval mode, ModelConfig, metadata dict)."""
    doc = read_model_json(model_dir)
    model, cfg = build_model(doc["model_config"], dtype=dtype)
    state = load_state(model_dir)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:             # missing / unexpected keys, shape mismatches
        raise ModelFileCorrupt(f"{model_dir}: the weights do not fit the architecture in "
                               f"{CONFIG_NAME}: {str(exc).splitlines()[0]}") from None
    model.eval()
    return model, cfg, doc.get("metadata", {})


def predict(model, configs: Sequence, cutoff: float, *, stress: bool,
            magforces: bool = True, training: bool = False, forces: bool = True) -> dict:
    """Run ``model`` on one batch of ``configs`` (:class:`mmace_fast.data.records.Configuration`);
    returns the output dict of tensors (graph kept if ``training``)."""
    batch = backend().collate(list(configs), cutoff)
    with torch.enable_grad():
        out = model(batch, forces=forces, stress=stress, magforces=magforces,
                    training=training)
    if not training:
        out = {k: v.detach() for k, v in out.items() if isinstance(v, torch.Tensor)}
    return out


