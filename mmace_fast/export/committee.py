"""Committees of mMACE models on disk, and their frozen (torch-free) evaluation.

A committee directory holds K member model directories (``m0/`` ... ``m<K-1>/``, each a
normal model directory: ``model.pt`` or ``model.pt.gz``, ``model.json``, and the frozen
``model.mmace``) and a manifest ``committee.json``:

    {"format": "mmace_fast.committee/1",
     "members": ["m0", ...],
     "files": {"m0/model.json": "<sha256>", ...},          # every member file, verified on load
     "recalibration": {"energy": a, "forces": a, ...},   # spread multipliers (1 = raw)
     "metadata": {...}}                                   # how the members were made

The spread of a committee is the sample standard deviation over members (ddof = 1) times the
property's recalibration factor, fitted on validation frames by
:func:`mmace_fast.compare.calibration.fit_scale`. Members must share species and cutoff (the
same architecture trained from different seeds and resampled training frames).

    from mmace_fast.export.committee import FrozenCommittee
    com = FrozenCommittee.load("mmace_fast/models/fe_mc/committee")
    e = com.energies(atoms)        # [K] eV, one per member
    mean, std = com.energy(atoms)  # eV; std recalibrated
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

COMMITTEE_FORMAT = "mmace_fast.committee/1"
MANIFEST_NAME = "committee.json"
FROZEN_NAME = "model.mmace"
#: files a member directory may hold (weights: model.pt or model.pt.gz)
MEMBER_FILES = ("model.json", "model.pt", "model.pt.gz", FROZEN_NAME)
#: properties with a spread, and the recalibration keys of the manifest
PROPERTIES = ("energy", "forces", "stress", "magforces")


class CommitteeError(ValueError):
    """A committee directory that is incomplete, inconsistent or altered since it was written."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_committee(dest, member_dirs, recalibration: dict | None = None,
                    metadata: dict | None = None) -> Path:
    """Copy the member model directories into ``dest/m<k>/`` and write the manifest (last, so
    that a directory without a manifest is an unfinished write). ``recalibration``: property
    -> factor (missing properties: 1)."""
    member_dirs = [Path(d) for d in member_dirs]
    if len(member_dirs) < 2:
        raise CommitteeError(f"a committee needs at least 2 members, got {len(member_dirs)}")
    dest = Path(dest)
    (dest / MANIFEST_NAME).unlink(missing_ok=True)
    files, names = {}, []
    for k, src in enumerate(member_dirs):
        name = f"m{k}"
        out = dest / name
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        present = [f for f in MEMBER_FILES if (src / f).exists()]
        if "model.json" not in present or FROZEN_NAME not in present:
            raise CommitteeError(f"{src}: a member needs model.json and {FROZEN_NAME}")
        for f in present:
            shutil.copyfile(src / f, out / f)
            files[f"{name}/{f}"] = _sha256(out / f)
        names.append(name)
    recal = {p: 1.0 for p in PROPERTIES}
    recal.update({k: float(v) for k, v in (recalibration or {}).items()})
    _check_recalibration(recal, dest)
    doc = {"format": COMMITTEE_FORMAT, "members": names, "files": files,
           "recalibration": recal, "metadata": metadata or {}}
    tmp = dest / (MANIFEST_NAME + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True))
    tmp.replace(dest / MANIFEST_NAME)
    return dest


def _check_recalibration(recal: dict, where) -> None:
    for k, v in recal.items():
        if k not in PROPERTIES:
            raise CommitteeError(f"{where}: recalibration of unknown property {k!r} "
                                 f"(known: {PROPERTIES})")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (
                math.isfinite(v) and v > 0):
            raise CommitteeError(f"{where}: recalibration[{k!r}] must be a finite number > 0, "
                                 f"got {v!r}")


def read_manifest(directory, verify: bool = True) -> dict:
    """The manifest of a committee directory, with every member file's SHA-256 checked
    (``verify``): a member replaced or truncated since the committee was written is refused."""
    directory = Path(directory)
    path = directory / MANIFEST_NAME
    if not path.exists():
        raise CommitteeError(f"{directory}: no {MANIFEST_NAME} (not a committee directory, or "
                             "an unfinished write)")
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CommitteeError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != COMMITTEE_FORMAT:
        fmt = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise CommitteeError(f"{path}: not a {COMMITTEE_FORMAT} file (format={fmt!r})")
    members = doc.get("members")
    if not isinstance(members, list) or len(members) < 2:
        raise CommitteeError(f"{path}: members must list at least 2 member directories")
    _check_recalibration(doc.get("recalibration", {}), path)
    if verify:
        for rel, digest in doc.get("files", {}).items():
            f = directory / rel
            if not f.exists():
                raise CommitteeError(f"{directory}: member file {rel} is missing")
            if _sha256(f) != digest:
                raise CommitteeError(f"{directory}: member file {rel} changed since the "
                                     "committee was written (SHA-256 mismatch)")
        for name in members:
            if f"{name}/model.json" not in doc.get("files", {}):
                raise CommitteeError(f"{path}: member {name} has no recorded files")
    return doc


def member_dirs(directory) -> list[Path]:
    """The member model directories of a committee (manifest verified)."""
    doc = read_manifest(directory)
    return [Path(directory) / name for name in doc["members"]]


def spread(values: np.ndarray, factor: float = 1.0) -> np.ndarray:
    """Committee spread of per-member values [K, ...]: sample std over axis 0 (ddof = 1)
    times ``factor``; exactly 0 where every member agrees."""
    values = np.asarray(values, dtype=float)
    if values.shape[0] < 2:
        raise ValueError("a spread needs at least 2 members")
    d = values - values[0]                 # shifted: identical members give exactly 0
    return factor * np.std(d, axis=0, ddof=1)


def mean(values: np.ndarray) -> np.ndarray:
    """Committee mean over axis 0, shifted by the first member (exactly that member's values
    when all agree)."""
    values = np.asarray(values, dtype=float)
    return values[0] + np.mean(values - values[0], axis=0)


class FrozenCommittee:
    """The frozen members of a committee (C++ evaluators, no torch).

    ``members`` [K] FrozenModel; ``recalibration`` property -> factor; ``sha256`` of the
    manifest (identifies the committee)."""

    def __init__(self, members, recalibration: dict | None = None, source: str = "<memory>",
                 sha256: str | None = None):
        if len(members) < 2:
            raise CommitteeError("a committee needs at least 2 members")
        species = {tuple(m.species) for m in members}
        cuts = {round(m.r_cut, 12) for m in members}
        if len(species) != 1 or len(cuts) != 1:
            raise CommitteeError(f"{source}: members differ in species {sorted(species)} or "
                                 f"cutoff {sorted(cuts)}")
        self.members = list(members)
        self.recalibration = {p: 1.0 for p in PROPERTIES}
        self.recalibration.update(recalibration or {})
        self.source = source
        self.sha256 = sha256

    @classmethod
    def load(cls, directory) -> "FrozenCommittee":
        from mmace_fast.export.frozen import FrozenModel
        directory = Path(directory)
        doc = read_manifest(directory)
        members = [FrozenModel.load(directory / name / FROZEN_NAME) for name in doc["members"]]
        return cls(members, doc["recalibration"], str(directory),
                   _sha256(directory / MANIFEST_NAME))

    def __len__(self) -> int:
        return len(self.members)

    def energies(self, atoms=None, **arrays) -> np.ndarray:
        """[K] eV, one total energy per member (moments as in FrozenModel.energy)."""
        return np.array([m.energy(atoms, **arrays) for m in self.members])

    def energy(self, atoms=None, **arrays) -> tuple[float, float]:
        """(committee mean, recalibrated spread) of the total energy, eV."""
        e = self.energies(atoms, **arrays)
        return float(mean(e)), float(spread(e, self.recalibration["energy"]))

    def site_energies(self, atoms=None, **arrays) -> tuple[np.ndarray, np.ndarray]:
        """(mean [n], spread [n]) eV of the site energies (spread not recalibrated: the factor
        is fitted on total energies)."""
        e = np.stack([m.site_energies(atoms, **arrays) for m in self.members])
        return mean(e), spread(e)

    def __repr__(self):
        return f"FrozenCommittee({len(self.members)} members, {self.source})"
