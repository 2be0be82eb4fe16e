"""Random small models and structures for the frozen-evaluator tests (deterministic by seed).

Only :func:`random_model` and :func:`frozen_from_torch` import torch.
"""
from __future__ import annotations

import numpy as np

SPECIES_POOL = (26, 13, 24)


def random_model_config(seed: int, **force) -> dict:
    """A valid random ModelConfig dict spanning the options the evaluator must support.

    The flags soc, centre_spin, landau (on/off), n_layers, correlation and the number of
    species cycle with the seed so that a range of seeds covers every combination; the sizes
    (channels, l_max of harmonics / messages / hidden features, radial and readout MLPs) are
    random. ``force`` overrides any key."""
    from mmace_fast.model.config import ModelConfig
    rng = np.random.default_rng(seed)
    for _ in range(100):
        n_sp = 1 + (seed // 5) % 3
        species = list(SPECIES_POOL[:n_sp])
        l_sh = int(rng.integers(1, 4))
        l_hid = int(rng.integers(0, 3))
        l_msg = int(rng.integers(max(l_hid - 1, 0), 4))
        d = dict(
            species=species, r_cut=float(rng.uniform(3.0, 4.2)), n_bessel=int(rng.integers(2, 7)),
            cutoff_p=int(rng.integers(3, 7)),
            radial_mlp=[int(rng.integers(3, 9))] * int(rng.integers(0, 3)),
            n_channels=int(rng.integers(1, 6)), l_max_sh=l_sh, l_max_message=l_msg,
            l_max_hidden=l_hid, n_layers=1 + seed % 3, correlation=1 + (seed // 3) % 3,
            readout_mlp=[int(rng.integers(2, 9))] * int(rng.integers(0, 2)),
            avg_num_neighbors=float(rng.uniform(3, 12)), soc=bool(seed % 2),
            l_spin_max=int(rng.integers(0, 3)), spin_pair_l_max=int(rng.integers(0, 3)),
            n_mag_features=int(rng.integers(1, 5)),
            moment_scale=[float(v) for v in rng.uniform(1.0, 3.0, n_sp)],
            centre_spin=bool((seed // 2) % 2),
            landau_order=int(rng.integers(1, 4)) if (seed // 4) % 2 == 0 else 0,
            e0=[float(v) for v in rng.normal(size=n_sp)], scale=float(rng.uniform(0.5, 2.0)),
            shift=float(rng.normal()))
        d.update(force)
        try:
            ModelConfig(**d)
        except ValueError:
            continue
        if _reachable(d):
            return d
    raise RuntimeError(f"no valid random model config for seed {seed}")


def _reachable(d: dict) -> bool:
    try:
        random_model(d, seed=0, check_only=True)
    except ValueError:
        return False
    return True


def random_model(config: dict, seed: int = 0, check_only: bool = False):
    """An MMACE with the given config dict and random weights (Landau coefficients random,
    top one positive)."""
    import torch
    from mmace_fast.model import MMACE, ModelConfig
    torch.manual_seed(seed)
    model = MMACE(ModelConfig(**config))
    if check_only:
        return model
    k = model.landau.shape[1]
    if k:
        a = torch.randn(model.landau.shape, dtype=torch.float64) * 0.1
        a[:, -1] = torch.rand(a.shape[0], dtype=torch.float64) * 0.05 + 0.01
        if hasattr(model, "set_landau_coefficients"):
            model.set_landau_coefficients(a)
        else:
            with torch.no_grad():
                model.landau.copy_(a)
    return model.eval()


def frozen_from_torch(model):
    """(FrozenModel, file bytes) of a torch model, without touching the disk."""
    from mmace_fast.export import format as fmt
    from mmace_fast.export.freeze import freeze
    from mmace_fast.export.frozen import FrozenModel
    data = fmt.encode(*freeze(model))
    return FrozenModel.from_bytes(data), data


def random_structure(rng: np.random.Generator, species, n_atoms: int = 6, a: float = 4.0,
                     pbc=(True, True, True), min_dist: float = 1.2) -> dict:
    """Random triclinic cell (edge ~a A) with atoms at least ``min_dist`` apart and random
    moments: normal ones, one large (|m| = 8 muB), one tiny (1e-9 muB), one exactly zero."""
    cell = a * (np.eye(3) + 0.2 * rng.normal(size=(3, 3)))
    frac = []
    while len(frac) < n_atoms:
        f = rng.uniform(size=3)
        d = np.array(frac) - f if frac else np.zeros((0, 3))
        d -= np.round(d)
        if not len(d) or np.linalg.norm(d @ cell, axis=1).min() >= min_dist:
            frac.append(f)
    positions = np.array(frac) @ cell
    numbers = rng.choice(np.asarray(species), size=n_atoms)
    numbers[: min(len(species), n_atoms)] = list(species)[: min(len(species), n_atoms)]
    m = rng.normal(size=(n_atoms, 3)) * rng.uniform(0.3, 2.5, size=(n_atoms, 1))
    if n_atoms >= 4:
        m[1] *= 8.0 / np.linalg.norm(m[1])
        m[2] *= 1e-9 / np.linalg.norm(m[2])
        m[3] = 0.0
    return dict(positions=positions, cell=cell, pbc=np.array(pbc, bool), numbers=numbers,
                magmoms=m)


def torch_site_energies(model, st: dict) -> np.ndarray:
    """Site energies [n] eV of the torch model (float64, no gradients)."""
    import torch
    from mmace_fast.data.graph import collate
    from mmace_fast.data.records import Configuration
    conf = Configuration(positions=st["positions"], cell=st["cell"], pbc=st["pbc"],
                         numbers=st["numbers"], magmoms=st["magmoms"])
    b = collate([conf], model.config.r_cut)
    with torch.no_grad():
        return model.site_energies(b.positions, b.cell, b.magmoms, b).numpy().copy()
