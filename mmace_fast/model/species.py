"""A trained mMACE taught new elements: the same function on the elements it knows, a start for
the new ones (fine-tuning a pre-trained model on a material with an element it never saw).

Every species-dependent weight of the model is a block per species (mmace_fast.model.mmace):
the node attributes a_i = onehot_i (x) phi_i are species-major ([n_species * n_mag]), so the
embedding [n_attr, C], the element-dependent skip linears [n_attr, C, C] and the symmetric
contraction weights [n_attr, eta, C] hold one block of n_mag rows per species, and the Landau
coefficients, reference energies and moment scales one row per species. :func:`add_species`
appends the new species after the known ones and copies every known block unchanged. Two
weights are normalised by the number of attributes (embedding: 1 / sqrt(n_attr); skip:
1 / sqrt(C n_attr)); their known blocks are rescaled by sqrt(n_attr_new / n_attr_old), so the
extended model's energy of any structure made of known elements equals the original's to
rounding. A new species' blocks start as the mean of the known species' blocks (an "average
element" the data then move), its Landau row as their mean, its reference energy as given
(the fine-tune fits it to the data) and its moment scale as given.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch

from mmace_fast.model.io import build_model, model_config_dict


class SpeciesExtensionError(ValueError):
    """The model cannot be extended (a species it knows, or a weight of unknown layout)."""


def _normalised(name: str) -> bool:
    """Is the weight ``name`` divided by sqrt(n_attr) in the forward pass (rescaled on
    extension)? The embedding and the element-dependent skip linears."""
    return name == "embedding" or ".skip.weights." in name


def add_species(model, new_species: Sequence[int], e0: Optional[Sequence[float]] = None,
                moment_scale: Optional[Sequence[float]] = None):
    """(extended model in eval mode, its ModelConfig): ``model`` with ``new_species`` (atomic
    numbers it does not know) appended; ``e0`` (eV) and ``moment_scale`` (muB) per new species
    (default 0 eV and the mean of the known scales). See the module docstring."""
    cfg = model.config
    new = [int(z) for z in new_species]
    known = [int(z) for z in cfg.species]
    if not new:
        raise SpeciesExtensionError("no new species given")
    if set(new) & set(known) or len(set(new)) != len(new):
        raise SpeciesExtensionError(f"new species {new} must be distinct and not among the "
                                    f"model's {known}")
    n_old, n_new = len(known), len(known) + len(new)
    d = model_config_dict(cfg)
    scales = list(d.get("moment_scale") or [3.0] * n_old)
    e0_old = list(d.get("e0") or [0.0] * n_old)
    d.update(species=known + new,
             e0=e0_old + [float(v) for v in (e0 if e0 is not None else [0.0] * len(new))],
             moment_scale=scales + [float(v) for v in (
                 moment_scale if moment_scale is not None
                 else [sum(scales) / len(scales)] * len(new))])
    if len(d["e0"]) != n_new or len(d["moment_scale"]) != n_new:
        raise SpeciesExtensionError("give one e0 and one moment scale per new species")
    out, out_cfg = build_model(d)
    per = model.n_attr // n_old                    # attribute rows per species (n_mag or 1)
    src, dst = model.state_dict(), out.state_dict()
    with torch.no_grad():
        for name, target in dst.items():
            value = src[name]
            if name in ("z_table", "e0", "moment_features.moment_scale"):
                continue                            # built from the extended config
            if value.shape == target.shape:
                target.copy_(value)
            elif value.shape[0] == n_old and target.shape[0] == n_new:
                target[:n_old] = value              # one row per species (Landau)
                target[n_old:] = value.mean(dim=0, keepdim=True)
            elif value.shape[0] == per * n_old and target.shape[0] == per * n_new:
                factor = math.sqrt(n_new / n_old) if _normalised(name) else 1.0
                blocks = value.reshape(n_old, per, *value.shape[1:]) * factor
                target[:per * n_old] = blocks.reshape(value.shape)
                target[per * n_old:] = blocks.mean(dim=0).repeat(len(new),
                                                                 *[1] * (value.dim() - 1))
            else:
                raise SpeciesExtensionError(f"weight {name} {tuple(value.shape)} -> "
                                            f"{tuple(target.shape)}: layout not per species")
    out.load_state_dict(dst)
    return out.eval(), out_cfg
