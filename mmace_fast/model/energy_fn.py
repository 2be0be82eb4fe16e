"""A torch mMACE as an energy function of the moments on one fixed structure: what the
baseline's exchange extraction (:func:`mmace_fast.baseline.extract_from_mmace`) samples. It lives
with the model so that the baseline itself stays torch-free."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from mmace_fast.data.graph import collate
from mmace_fast.data.records import Configuration


def mmace_energy_fn(model, positions, cell, pbc, numbers, batch_size: int = 8
                    ) -> Callable[[np.ndarray], tuple]:
    """fn(moments [k, n, 3] muB) -> (E [k] eV, -dE/dm [k, n, 3] eV/muB) of the torch
    :class:`mmace_fast.model.MMACE` ``model`` on the structure (positions [n, 3] A, cell
    [3, 3] A, pbc [3], numbers [n]), ``batch_size`` moment sets per forward pass."""
    conf = Configuration(positions=np.asarray(positions, float), cell=np.asarray(cell, float),
                         pbc=np.asarray(pbc, bool), numbers=np.asarray(numbers),
                         magmoms=np.zeros((len(numbers), 3)))
    cutoff = float(model.config.r_cut)
    batches = {}

    def batch_of(size):
        if size not in batches:
            batches[size] = collate([conf] * size, cutoff)
        return batches[size]

    def fn(moments):
        moments = np.asarray(moments, dtype=np.float64)
        es, fs = [], []
        for start in range(0, len(moments), batch_size):
            chunk = moments[start:start + batch_size]
            b = batch_of(len(chunk)).with_magmoms(
                torch.as_tensor(chunk.reshape(-1, 3), dtype=torch.float64))
            out = model(b, forces=False, magforces=True)
            es.append(out["energy"].detach().numpy())
            fs.append(out["magforces"].detach().numpy().reshape(chunk.shape))
        return np.concatenate(es), np.concatenate(fs)
    return fn
