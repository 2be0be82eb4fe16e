"""Small random structures and model configurations for tests and examples (deterministic)."""
from __future__ import annotations

import numpy as np

from mmace_fast.data.records import Configuration
from mmace_fast.model.config import ModelConfig


def random_configuration(rng: np.random.Generator, species=(26, 13), n_atoms: int = 5,
                         a: float = 4.0, min_dist: float = 1.1, tiny_fraction: float = 0.2
                         ) -> Configuration:
    """Random periodic cell (skewed, edge ~a A) with atoms at least ``min_dist`` apart (with
    images) and random moment vectors (|m| up to ~2.5 muB; a fraction of them tiny, ~1e-7)."""
    cell = a * (np.eye(3) + 0.15 * rng.normal(size=(3, 3)))
    frac = []
    while len(frac) < n_atoms:
        f = rng.uniform(size=3)
        ok = True
        for g in frac:
            d = f - g
            d -= np.round(d)
            if np.linalg.norm(d @ cell) < min_dist:
                ok = False
                break
        if ok:
            frac.append(f)
    positions = np.array(frac) @ cell
    numbers = rng.choice(np.asarray(species), size=n_atoms)
    numbers[: min(len(species), n_atoms)] = species[: min(len(species), n_atoms)]
    magmoms = rng.normal(size=(n_atoms, 3))
    tiny = rng.uniform(size=n_atoms) < tiny_fraction
    magmoms[tiny] *= 1e-7
    return Configuration(positions=positions, cell=cell, pbc=np.array([True] * 3),
                         numbers=numbers, magmoms=magmoms)


def small_config(soc: bool = False, species=(26, 13), **kw) -> ModelConfig:
    """A tiny model configuration that exercises every block (two layers, correlation 3)."""
    args = dict(species=list(species), r_cut=3.5, n_bessel=6, radial_mlp=[8], n_channels=4,
                l_max_sh=2, l_max_message=2, l_max_hidden=1, n_layers=2, correlation=3,
                readout_mlp=[8], avg_num_neighbors=8.0, soc=soc, l_spin_max=2,
                spin_pair_l_max=2, n_mag_features=3, moment_scale=[2.5] * len(species),
                landau_order=2)
    args.update(kw)
    return ModelConfig(**args)


def rotation(rng: np.random.Generator, proper: bool = True) -> np.ndarray:
    """Random orthogonal 3x3 matrix with det +1 (proper) or -1."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q if proper else -q
