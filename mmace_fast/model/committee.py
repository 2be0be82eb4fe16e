"""Committee predictions with PyTorch members: means and spreads of energies, forces, stress,
magnetic forces and site energies (the directory format: :mod:`mmace_fast.export.committee`).

    from mmace_fast.model.committee import Committee
    com = Committee.load("mmace_fast/models/fe_mc/committee")
    out = com.predict(configs)        # per-member arrays, see Committee.predict
    stats = com.summarise(out)        # {"energy": mean [F], "energy_std": [F], ...}
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from mmace_fast.export.committee import (MANIFEST_NAME, PROPERTIES, CommitteeError, _sha256,
                                         mean, read_manifest, spread)

#: output keys of one member evaluation and the property whose recalibration they use
OUTPUTS = {"energy": "energy", "forces": "forces", "stress": "stress",
           "magforces": "magforces", "site_energies": None}


class Committee:
    """K PyTorch models of one architecture; ``recalibration`` property -> spread factor."""

    def __init__(self, members: Sequence, configs: Sequence, recalibration: dict | None = None,
                 source: str = "<memory>", sha256: str | None = None):
        from mmace_fast.model.io import cutoff_of, model_config_dict
        if len(members) < 2:
            raise CommitteeError("a committee needs at least 2 members")
        cuts = {round(cutoff_of(c), 12) for c in configs}
        species = {tuple(model_config_dict(c).get("species", [])) for c in configs}
        if len(cuts) != 1 or len(species) != 1:
            raise CommitteeError(f"{source}: members differ in cutoff {sorted(cuts)} or "
                                 f"species {sorted(species)}")
        self.members = list(members)
        self.configs = list(configs)
        self.cutoff = cuts.pop()
        self.species = list(species.pop())
        self.recalibration = {p: 1.0 for p in PROPERTIES}
        self.recalibration.update(recalibration or {})
        self.source = source
        self.sha256 = sha256

    @classmethod
    def from_model_dirs(cls, dirs, recalibration: dict | None = None, source: str = "<dirs>",
                        sha256: str | None = None) -> "Committee":
        """Members straight from trained model directories (no manifest: what a committee
        is built from, e.g. to fit its recalibration before writing it)."""
        from mmace_fast.model.io import load_model
        loaded = [load_model(d) for d in dirs]
        return cls([m for m, _, _ in loaded], [c for _, c, _ in loaded], recalibration,
                   source, sha256)

    @classmethod
    def load(cls, directory) -> "Committee":
        directory = Path(directory)
        doc = read_manifest(directory)
        self = cls.from_model_dirs([directory / name for name in doc["members"]],
                                   doc["recalibration"], str(directory),
                                   _sha256(directory / MANIFEST_NAME))
        self.metadata = doc.get("metadata", {})
        return self

    def __len__(self) -> int:
        return len(self.members)

    def predict(self, configs: Sequence, *, derivatives: bool = True, stress: bool = True
                ) -> dict:
        """Every member on one batch of ``configs``. Returns numpy arrays with a leading member
        axis: energy [K, F] eV, site_energies [K, N] eV and, with ``derivatives``, forces
        [K, N, 3] eV/A, magforces [K, N, 3] eV/muB and (``stress``, periodic cells) stress
        [K, F, 3, 3] eV/A^3 (N: atoms of all frames, in order)."""
        from mmace_fast.model.io import predict
        outs = [predict(m, configs, self.cutoff, forces=derivatives, stress=derivatives and
                        stress, magforces=derivatives) for m in self.members]
        keys = [k for k in OUTPUTS if k in outs[0]]
        return {k: np.stack([o[k].numpy() for o in outs]) for k in keys}

    def summarise(self, per_member: dict) -> dict:
        """Committee mean (key) and recalibrated spread (key + "_std") of each output of
        :meth:`predict`; site energies keep their raw spread."""
        out = {}
        for key, values in per_member.items():
            prop = OUTPUTS.get(key)
            out[key] = mean(values)
            out[key + "_std"] = spread(values, self.recalibration[prop] if prop else 1.0)
        return out

    def __repr__(self):
        return f"Committee({len(self.members)} members, {self.source})"
