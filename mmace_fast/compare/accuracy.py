"""Held-out accuracy of several models on the same DFT frames, and the ordering of magnetic states.

A *predictor* is any callable ``predictor(config) -> dict`` returning, for one
:class:`mmace_fast.data.records.Configuration`, some of

    energy     float        eV (total)
    forces     [n, 3]       eV/A
    stress     [3, 3]       eV/A^3 (ASE sign, as the labels)
    magforces  [n, 3]       eV/muB  (-dE/dm)

(a key left out = the model does not define that quantity). :func:`predict_frames` pairs the
predictions with the labels, :func:`error_stats` turns them into MAE / RMSE in meV units
(energy per atom; magnetic forces only where ``magforces_mask`` is set), and
:func:`error_ratios` divides one model's errors by another's (baseline / mMACE in the issue's
goals). Predictors for the shipped mMACE (:func:`mmace_predictor`; torch-free from its frozen
file: :func:`frozen_predictor`), a fitted baseline
(:func:`baseline_predictor`) and a non-magnetic MMACE that sees zero moments
(:func:`nonmagnetic_predictor`, trained by
:func:`mmace_fast.training.nonmagnetic.train_nonmagnetic`) are provided.

State ordering: :func:`ordering_check` compares the energies per atom of a list of states (DFT
and any number of models) pair by pair; pairs closer than ``tie_mev`` in DFT are ties (k-point
level differences, DATA.md) and are not counted.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

log = logging.getLogger(__name__)

QUANTITIES = ("energy", "forces", "stress", "magforces")
#: reporting unit and factor from the eV-based labels
UNITS = {"energy": ("meV/atom", 1e3), "forces": ("meV/A", 1e3), "stress": ("meV/A^3", 1e3),
         "magforces": ("meV/muB", 1e3)}

Predictor = Callable[[object], dict]


class AccuracyError(ValueError):
    """Bad input to the accuracy comparison (no frames, shape mismatch, unknown quantity)."""


@dataclass
class FrameResult:
    """Labels and predictions of one frame, in eV units; energies per atom."""

    config_type: str
    split: str
    n_atoms: int
    label: dict            #: quantity -> array (energy: [1] eV/atom)
    pred: dict             #: quantity -> array, same shapes
    mask: dict = field(default_factory=dict)   #: quantity -> bool array (magforces)


def labels_of(conf) -> tuple[dict, dict]:
    """(labels {q: array}, masks {q: bool array}) of a Configuration; absent labels left out."""
    n = len(conf.numbers)
    lab, mask = {}, {}
    if conf.energy is not None:
        lab["energy"] = np.array([float(conf.energy) / n])
    if getattr(conf, "forces", None) is not None:
        lab["forces"] = np.asarray(conf.forces, dtype=np.float64).reshape(n, 3)
    if getattr(conf, "stress", None) is not None and np.all(conf.pbc):
        lab["stress"] = np.asarray(conf.stress, dtype=np.float64).reshape(3, 3)
    if getattr(conf, "magforces", None) is not None:
        lab["magforces"] = np.asarray(conf.magforces, dtype=np.float64).reshape(n, 3)
        mm = getattr(conf, "magforces_mask", None)
        mask["magforces"] = (np.ones((n, 3), bool) if mm is None
                             else np.asarray(mm, dtype=np.float64).reshape(n, 3) > 0)
    return lab, mask


def predict_frames(predictor: Predictor, configs: Sequence) -> list[FrameResult]:
    """Run ``predictor`` on every frame and pair its output with the labels."""
    out = []
    for c in configs:
        n = len(c.numbers)
        lab, mask = labels_of(c)
        raw = predictor(c)
        pred = {}
        for q in QUANTITIES:
            if q not in raw or raw[q] is None or q not in lab:
                continue
            v = np.asarray(raw[q], dtype=np.float64)
            v = np.array([float(v) / n]) if q == "energy" else v.reshape(lab[q].shape)
            pred[q] = v
        out.append(FrameResult(c.config_type, str(c.info.get("split", "train")), n, lab, pred,
                               mask))
    return out


def paired(frames: Sequence[FrameResult], quantity: str) -> tuple[np.ndarray, np.ndarray]:
    """(labels, predictions) [K] flattened over ``frames`` in meV units, masked entries only."""
    if quantity not in UNITS:
        raise AccuracyError(f"unknown quantity {quantity!r}; choose from {QUANTITIES}")
    f = UNITS[quantity][1]
    ys, ps = [], []
    for fr in frames:
        if quantity not in fr.pred:
            continue
        y, p = fr.label[quantity], fr.pred[quantity]
        m = fr.mask.get(quantity)
        if m is not None:
            y, p = y[m], p[m]
        ys.append(y.reshape(-1))
        ps.append(p.reshape(-1))
    if not ys:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(ys) * f, np.concatenate(ps) * f


def error_stats(frames: Sequence[FrameResult]) -> dict:
    """{quantity: {"unit", "mae", "rmse", "max", "n", "n_frames"}} over ``frames`` (meV units)."""
    out = {}
    for q in QUANTITIES:
        y, p = paired(frames, q)
        if y.size == 0:
            continue
        d = p - y
        out[q] = {"unit": UNITS[q][0], "mae": float(np.mean(np.abs(d))),
                  "rmse": float(np.sqrt(np.mean(d * d))), "max": float(np.max(np.abs(d))),
                  "n": int(d.size), "n_frames": int(sum(q in fr.pred for fr in frames))}
    return out


def error_ratios(numerator: dict, denominator: dict, metric: str = "mae",
                 floor: float = 1e-9) -> dict:
    """{quantity: numerator / denominator} of ``metric`` where both define the quantity and the
    denominator exceeds ``floor`` (meV units); otherwise None."""
    out = {}
    for q in QUANTITIES:
        if q in numerator and q in denominator:
            den = denominator[q][metric]
            out[q] = float(numerator[q][metric] / den) if den > floor else None
    return out


def select_split(configs: Sequence, splits: Sequence[str]) -> list:
    """Frames whose ``info['split']`` (default "train") is in ``splits``."""
    return [c for c in configs if str(c.info.get("split", "train")) in set(splits)]


# --------------------------------------------------------------------------- predictors
def mmace_predictor(model, model_config, stress: bool = True) -> Predictor:
    """Torch MMACE (eval mode, float64) -> predictor of energy, forces, stress, magforces."""
    from mmace_fast.model.io import cutoff_of, predict

    cutoff = cutoff_of(model_config)

    def fn(conf) -> dict:
        want_stress = bool(stress and np.all(conf.pbc))
        out = predict(model, [conf], cutoff, stress=want_stress, magforces=True)
        res = {"energy": float(out["energy"][0]), "forces": out["forces"].numpy(),
               "magforces": out["magforces"].numpy()}
        if want_stress and "stress" in out:
            res["stress"] = out["stress"][0].numpy()
        return res
    return fn


def frozen_predictor(frozen) -> Predictor:
    """A frozen mMACE (:class:`mmace_fast.export.FrozenModel`, the C++ evaluator and its reverse
    pass) -> predictor of energy, forces, stress (periodic cells) and magforces; no torch."""
    def fn(conf) -> dict:
        out = frozen.evaluate(conf)
        res = {k: out[k] for k in ("energy", "forces", "magforces")}
        if out["stress"] is not None:
            res["stress"] = out["stress"]
        return res
    return fn


def baseline_predictor(model) -> Predictor:
    """A fitted :class:`mmace_fast.baseline.BaselineModel` -> predictor (its own quantities)."""
    def fn(conf) -> dict:
        return dict(model.predict(conf))
    return fn


def zero_moments(conf):
    """The same frame with every moment zero and no magnetic labels (geometry only)."""
    from mmace_fast.data.records import Configuration
    return Configuration(positions=conf.positions, cell=conf.cell, pbc=conf.pbc,
                         numbers=conf.numbers, magmoms=np.zeros((len(conf.numbers), 3)),
                         energy=conf.energy, forces=conf.forces, stress=conf.stress,
                         config_type=conf.config_type, source=conf.source,
                         info=dict(conf.info))


def nonmagnetic_predictor(model, model_config) -> Predictor:
    """A MMACE trained on zero moments -> predictor of energy, forces, stress (no magforces:
    a model that never sees a moment defines no magnetic force)."""
    inner = mmace_predictor(model, model_config)

    def fn(conf) -> dict:
        res = inner(zero_moments(conf))
        res.pop("magforces", None)
        return res
    return fn


#: architecture keys copied from the shipped mMACE into the non-magnetic model
# --------------------------------------------------------------------------- ordering
def ordering_check(states: Sequence[dict], models: Sequence[str], tie_mev: float = 1.0) -> dict:
    """Pairwise ordering of magnetic states.

    states: dicts with "state" and energies per atom in eV under "dft" and each model name.
    Returns per model: "pairs" (DFT pairs further apart than ``tie_mev``), "agree" (same sign
    in the model), "ok" (all agree; None if no pair), "lowest" (state of lowest model energy),
    "rank" (states by model energy), plus the DFT "lowest" / "rank"; and relative energies
    ("relative": state -> {source: meV/atom above that source's lowest}).
    """
    if not states:
        raise AccuracyError("no states to order")
    tie = tie_mev * 1e-3
    res = {"dft": {"rank": _rank(states, "dft"), "lowest": _rank(states, "dft")[0]}}
    for name in models:
        have = [s for s in states if s.get(name) is not None]
        pairs = agree = 0
        for a in have:
            for b in have:
                d = a["dft"] - b["dft"]
                if d > tie:
                    pairs += 1
                    agree += int(a[name] - b[name] > 0)
        rank = _rank(have, name)
        res[name] = {"pairs": pairs, "agree": agree,
                     "ok": (agree == pairs) if pairs else None,
                     "lowest": rank[0] if rank else None, "rank": rank}
    rel = {}
    for src in ("dft",) + tuple(models):
        vals = [s[src] for s in states if s.get(src) is not None]
        if not vals:
            continue
        e0 = min(vals)
        for s in states:
            if s.get(src) is not None:
                rel.setdefault(s["state"], {})[src] = (s[src] - e0) * 1e3
    res["relative"] = rel
    return res


def _rank(states, key) -> list:
    return [s["state"] for s in sorted((s for s in states if s.get(key) is not None),
                                       key=lambda s: s[key])]
