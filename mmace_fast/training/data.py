"""Training data: loading, train/valid split, E0 fit, reference targets, data statistics."""
from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from mmace_fast.data.readers import ExtxyzKeys, read_configurations
from mmace_fast.data.records import Configuration
from mmace_fast.neighbours import neighbour_list

log = logging.getLogger(__name__)

SPLIT_KEY = "split"
TRAIN, VALID, TEST = "train", "valid", "test"


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------
def load_files(paths: Sequence[str], *, non_magnetic: bool, species=None,
               extxyz_keys: Optional[dict] = None, stress_voigt_order: str = "ase"
               ) -> list[Configuration]:
    """Read and concatenate every file in ``paths`` (format from the suffix)."""
    out: list[Configuration] = []
    for p in paths:
        name = str(p).lower()
        kwargs = {}
        if name.endswith((".json", ".jsonl", ".json.gz", ".jsonl.gz")):
            kwargs["stress_voigt_order"] = stress_voigt_order
        elif extxyz_keys:
            kwargs["keys"] = ExtxyzKeys(**extxyz_keys)
        out.extend(read_configurations(p, species=species, non_magnetic=non_magnetic, **kwargs))
    return out


def files_sha256(paths: Sequence[str]) -> str:
    """SHA-256 over the bytes of ``paths`` (in the given order); identifies the training data."""
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).name.encode())
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def split_configurations(configs: list[Configuration], valid_fraction: float, seed: int
                         ) -> tuple[list[Configuration], list[Configuration]]:
    """Train/valid split.

    If any frame carries ``info['split']`` the labels decide ("valid" -> validation, "test" ->
    dropped here, anything else or missing -> train). Otherwise a seeded random permutation
    puts ``round(valid_fraction * n)`` frames (at least 1 when valid_fraction > 0 and n > 1)
    into validation; the same seed always gives the same split.
    """
    if any(SPLIT_KEY in c.info for c in configs):
        train = [c for c in configs if c.info.get(SPLIT_KEY, TRAIN) not in (VALID, TEST)]
        valid = [c for c in configs if c.info.get(SPLIT_KEY) == VALID]
        log.info("split from the '%s' key: %d train, %d valid", SPLIT_KEY, len(train),
                 len(valid))
        return train, valid
    n = len(configs)
    n_valid = int(round(valid_fraction * n))
    if valid_fraction > 0 and n > 1:
        n_valid = min(max(n_valid, 1), n - 1)
    perm = np.random.default_rng(seed).permutation(n)
    valid_idx = set(perm[:n_valid].tolist())
    train = [c for k, c in enumerate(configs) if k not in valid_idx]
    valid = [c for k, c in enumerate(configs) if k in valid_idx]
    log.info("random split (seed %d): %d train, %d valid", seed, len(train), len(valid))
    return train, valid


def resample_train(configs: list[Configuration], spec: Optional[dict]) -> list[Configuration]:
    """The training frames of one committee member (``TrainConfig.resample``): all of them
    (``spec`` None), a bootstrap sample of the same size (with replacement), all but fold
    ``fold`` of a seeded ``folds``-way partition, or ``n`` of them drawn without replacement
    (a learning curve's subset; in their file order). Deterministic in (frames, spec)."""
    if spec is None:
        return list(configs)
    n = len(configs)
    rng = np.random.default_rng(int(spec["seed"]))
    if spec["kind"] == "bootstrap":
        idx = np.sort(rng.integers(0, n, size=n))
    elif spec["kind"] == "subset":
        if int(spec["n"]) > n:
            raise ValueError(f"resample subset: {spec['n']} frames asked for, {n} training "
                             "frames exist")
        idx = np.sort(rng.permutation(n)[:int(spec["n"])])
    else:
        folds, fold = int(spec["folds"]), int(spec["fold"])
        if n < folds:
            raise ValueError(f"resample kfold: {n} training frames cannot make {folds} folds")
        perm = rng.permutation(n)
        left_out = set(np.array_split(perm, folds)[fold].tolist())
        idx = np.array([k for k in range(n) if k not in left_out])
    out = [configs[k] for k in idx]
    log.info("resample %s: %d of %d training frames (%d distinct)", spec["kind"], len(out), n,
             len(set(idx.tolist())))
    return out


def collapsed_frames(configs: Sequence[Configuration], max_moment: float, min_start: float
                     ) -> list[Configuration]:
    """The frames whose reference SCF started magnetic (some |start moment| > ``min_start``
    muB) and converged to zero moments (every |m| < ``max_moment`` muB): the collapse prior's
    frames (training/loss.py)."""
    out = []
    for c in configs:
        if c.start_magmoms is None or c.magmoms is None or c.info.get("non_magnetic"):
            continue                  # read without moments: zeros that are not a DFT result
        started = float(np.linalg.norm(c.start_magmoms, axis=1).max()) > min_start
        collapsed = float(np.linalg.norm(c.magmoms, axis=1).max()) < max_moment
        if started and collapsed:
            out.append(c)
    return out


def apply_config_type_weights(configs: Sequence[Configuration], weights: dict
                              ) -> tuple[list[Configuration], dict[str, int]]:
    """Copies of ``configs`` with their per-label weights multiplied by the factors of every
    ``weights`` pattern (fnmatch on ``config_type``) that matches; returns (configs, number of
    frames per pattern). See TrainConfig.config_type_weights."""
    counts = {p: 0 for p in weights}
    out = []
    for c in configs:
        scale = {"energy": 1.0, "forces": 1.0, "stress": 1.0, "magforces": 1.0}
        for pattern, factors in weights.items():
            if not fnmatch.fnmatchcase(c.config_type, pattern):
                continue
            counts[pattern] += 1
            for label, f in factors.items():
                for key in (scale if label == "all" else (label,)):
                    scale[key] *= float(f)
        if all(v == 1.0 for v in scale.values()):
            out.append(c)
            continue
        out.append(dataclasses.replace(c, **{f"{k}_weight": getattr(c, f"{k}_weight") * v
                                             for k, v in scale.items()}))
    return out, counts


def species_of(configs: Sequence[Configuration]) -> list[int]:
    return sorted({int(z) for c in configs for z in c.numbers})


# --------------------------------------------------------------------------------------------
# E0s and statistics
# --------------------------------------------------------------------------------------------
def fit_e0s(configs: Sequence[Configuration], species: Sequence[int],
            only: bool = False) -> dict[int, float]:
    """Per-element reference energies (eV) by least squares of E ~ sum_s count_s * E0_s.

    only: ``species`` may be a subset of the frames' elements, the others not counted (a
    fine-tune fitting the residual energies to the species it adds). Compositions that do not
    vary (rank-deficient counts) give the minimum-norm solution, logged as a warning.
    """
    rows, energies = [], []
    index = {int(z): k for k, z in enumerate(species)}
    for c in configs:
        if c.energy is None:
            continue
        counts = np.zeros(len(species))
        for z in c.numbers:
            if only and int(z) not in index:
                continue
            counts[index[int(z)]] += 1
        rows.append(counts)
        energies.append(c.energy)
    if not rows:
        log.warning("no energies in the training set: E0s set to zero")
        return {int(z): 0.0 for z in species}
    a, e = np.asarray(rows), np.asarray(energies)
    e0, _, rank, _ = np.linalg.lstsq(a, e, rcond=None)
    if rank < len(species):
        log.warning("compositions span rank %d < %d species: E0s are the minimum-norm "
                    "least-squares solution", rank, len(species))
    return {int(z): float(v) for z, v in zip(species, e0)}


def resolve_e0s(setting, configs, species) -> dict[int, float]:
    """TrainConfig.e0s ('fit' | 'zero' | {Z: eV}) -> {Z: eV} for every species."""
    if setting == "fit":
        return fit_e0s(configs, species)
    if setting == "zero":
        return {int(z): 0.0 for z in species}
    given = {int(k): float(v) for k, v in setting.items()}
    missing = [z for z in species if int(z) not in given]
    if missing:
        raise ValueError(f"e0s given for {sorted(given)} but not for species {missing}")
    return {int(z): given[int(z)] for z in species}


def data_statistics(configs: Sequence[Configuration], e0s: dict[int, float], cutoff: float
                    ) -> dict:
    """Numbers MACE-style models take from the data: mean neighbour count within ``cutoff``,
    mean and RMS of the E0-subtracted energy per atom, RMS force and RMS magnetic force."""
    n_pairs = n_atoms = 0
    e_res, f_sq, n_f, mf_sq, n_mf = [], 0.0, 0, 0.0, 0
    for c in configs:
        i, _, _ = neighbour_list(c.positions, c.cell, c.pbc, cutoff)
        n_pairs += len(i)
        n_atoms += c.n_atoms
        if c.energy is not None:
            e_res.append((c.energy - sum(e0s[int(z)] for z in c.numbers)) / c.n_atoms)
        if c.forces is not None:
            f_sq += float(np.sum(c.forces**2))
            n_f += c.forces.size
        if c.magforces is not None:
            m = np.ones_like(c.magforces, bool) if c.magforces_mask is None else c.magforces_mask
            mf_sq += float(np.sum(c.magforces[m] ** 2))
            n_mf += int(m.sum())
    e_res = np.asarray(e_res) if e_res else np.zeros(1)
    return {
        "avg_num_neighbors": n_pairs / max(n_atoms, 1),
        "mean_energy_per_atom": float(np.mean(e_res)),      # eV/atom after E0s
        "rms_energy_per_atom": float(np.sqrt(np.mean(e_res**2))),
        "rms_forces": float(np.sqrt(f_sq / n_f)) if n_f else 0.0,        # eV/A per component
        "rms_magforces": float(np.sqrt(mf_sq / n_mf)) if n_mf else 0.0,  # eV/muB
    }


# --------------------------------------------------------------------------------------------
# reference targets aligned with a collated batch
# --------------------------------------------------------------------------------------------
@dataclass
class Targets:
    """Reference labels of one batch, atoms concatenated in configuration order (float64).

    Absent labels are zero with a zero mask, so every loss term is a masked mean.
    """

    n_atoms: torch.Tensor            # [G] float
    energy: torch.Tensor             # [G] eV
    energy_mask: torch.Tensor        # [G] weight (0 where no energy)
    forces: torch.Tensor             # [N, 3] eV/A
    forces_mask: torch.Tensor        # [N, 3] weight
    stress: torch.Tensor             # [G, 3, 3] eV/A^3
    stress_mask: torch.Tensor        # [G, 3, 3] weight
    magforces: torch.Tensor          # [N, 3] eV/muB
    magforces_mask: torch.Tensor     # [N, 3] weight (0 where undefined)

    @property
    def has_stress(self) -> bool:
        return bool(self.stress_mask.any())

    @property
    def has_magforces(self) -> bool:
        return bool(self.magforces_mask.any())


def make_targets(configs: Sequence[Configuration], dtype=torch.float64, device="cpu") -> Targets:
    """Stack the labels and per-frame weights of ``configs`` into :class:`Targets`."""
    g = len(configs)
    n_total = sum(c.n_atoms for c in configs)
    energy, e_w = np.zeros(g), np.zeros(g)
    stress, s_w = np.zeros((g, 3, 3)), np.zeros((g, 3, 3))
    forces, f_w = np.zeros((n_total, 3)), np.zeros((n_total, 3))
    magf, m_w = np.zeros((n_total, 3)), np.zeros((n_total, 3))
    start = 0
    for k, c in enumerate(configs):
        sl = slice(start, start + c.n_atoms)
        start += c.n_atoms
        if c.energy is not None:
            energy[k], e_w[k] = c.energy, c.energy_weight
        if c.stress is not None and c.pbc.all():
            stress[k], s_w[k] = c.stress, c.stress_weight
        if c.forces is not None:
            forces[sl], f_w[sl] = c.forces, c.forces_weight
        if c.magforces is not None:
            magf[sl] = c.magforces
            mask = np.ones((c.n_atoms, 3)) if c.magforces_mask is None else c.magforces_mask
            m_w[sl] = c.magforces_weight * mask
    t = lambda a: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
    return Targets(n_atoms=t([c.n_atoms for c in configs]), energy=t(energy),
                   energy_mask=t(e_w), forces=t(forces), forces_mask=t(f_w), stress=t(stress),
                   stress_mask=t(s_w), magforces=t(magf), magforces_mask=t(m_w))


def batch_indices(n: int, batch_size: int, generator: Optional[torch.Generator]
                  ) -> list[list[int]]:
    """Indices 0..n-1 in batches; shuffled with ``generator`` when one is given."""
    order = torch.randperm(n, generator=generator).tolist() if generator is not None \
        else list(range(n))
    return [order[k:k + batch_size] for k in range(0, n, batch_size)]
