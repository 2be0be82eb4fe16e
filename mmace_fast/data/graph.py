"""Batching :class:`~mmace_fast.data.records.Configuration` objects into graphs for the model.

Edge convention (what the model and the exporter assume):
    edge_index[0] = sender j, edge_index[1] = receiver (centre) i,
    bond vector r_ij = positions[j] - positions[i] + shifts[e] @ cell[graph]   # A
i.e. the vector from the centre to the neighbour. The list is full (both directions), contains
no self pair at zero shift, and contains periodic self-images when the cutoff exceeds the cell
(:func:`mmace_fast.neighbours.neighbour_list`, the project's C++ list).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Optional, Sequence

import numpy as np
import torch

from mmace_fast.data.records import Configuration, DataError
from mmace_fast.neighbours import neighbour_list  # C++ cell list; also re-exported from here


@dataclass
class Batch:
    """A batch of graphs (all tensors; floats float64).

    positions  # [n_atoms, 3] A
    cell       # [n_graphs, 3, 3] A, rows are lattice vectors
    pbc        # [n_graphs, 3] bool
    numbers    # [n_atoms] int64 atomic numbers
    species    # [n_atoms] int64 index into a species list, or None (the model maps numbers)
    magmoms    # [n_atoms, 3] muB
    edge_index # [2, n_edges] int64: (sender j, receiver i)
    shifts     # [n_edges, 3] int64 integer image shifts
    batch      # [n_atoms] int64 graph index of each atom
    ptr        # [n_graphs + 1] int64 atom offsets
    """

    positions: torch.Tensor
    cell: torch.Tensor
    pbc: torch.Tensor
    numbers: torch.Tensor
    magmoms: torch.Tensor
    edge_index: torch.Tensor
    shifts: torch.Tensor
    batch: torch.Tensor
    ptr: torch.Tensor
    species: Optional[torch.Tensor] = None

    @property
    def n_graphs(self) -> int:
        return int(self.ptr.shape[0]) - 1

    @property
    def n_atoms(self) -> int:
        return int(self.positions.shape[0])

    def to(self, device) -> "Batch":
        kw = {}
        for f in fields(self):
            v = getattr(self, f.name)
            kw[f.name] = v.to(device) if isinstance(v, torch.Tensor) else v
        return Batch(**kw)

    def with_magmoms(self, magmoms: torch.Tensor) -> "Batch":
        """Same graph, other moments  # [n_atoms, 3] muB."""
        kw = {f.name: getattr(self, f.name) for f in fields(self)}
        kw["magmoms"] = magmoms
        return Batch(**kw)


def collate(configs: Sequence[Configuration], cutoff: float,
            species: Optional[Sequence[int]] = None) -> Batch:
    """Build one :class:`Batch` from configurations with a neighbour list of radius ``cutoff``.

    Frames without moments (declared non-magnetic) get zero moments. If ``species`` is given,
    ``batch.species`` holds the index of each atom's number in it (unknown numbers raise).
    """
    if len(configs) == 0:
        raise DataError("collate needs at least one configuration")
    pos, cells, pbcs, nums, mags, senders, receivers, shifts, bidx = ([] for _ in range(9))
    ptr = [0]
    for g, c in enumerate(configs):
        i, j, s = neighbour_list(c.positions, c.cell, c.pbc, cutoff)
        off = ptr[-1]
        senders.append(j + off)
        receivers.append(i + off)
        shifts.append(s)
        pos.append(c.positions)
        cells.append(c.cell)
        pbcs.append(c.pbc)
        nums.append(c.numbers)
        mags.append(c.magmoms if c.magmoms is not None else np.zeros((c.n_atoms, 3)))
        bidx.append(np.full(c.n_atoms, g, dtype=np.int64))
        ptr.append(off + c.n_atoms)
    numbers = np.concatenate(nums)
    sp = None
    if species is not None:
        table = {int(z): k for k, z in enumerate(species)}
        unknown = sorted(set(int(z) for z in numbers) - set(table))
        if unknown:
            bad = [c.source or f"#{k}" for k, c in enumerate(configs)
                   if set(int(z) for z in c.numbers) & set(unknown)]
            raise DataError(f"unknown species {unknown} (model knows {list(species)}) in "
                            f"{', '.join(bad[:5])}")
        sp = torch.as_tensor(np.array([table[int(z)] for z in numbers], dtype=np.int64))
    f64 = torch.float64
    return Batch(
        positions=torch.as_tensor(np.concatenate(pos), dtype=f64),
        cell=torch.as_tensor(np.stack(cells), dtype=f64),
        pbc=torch.as_tensor(np.stack(pbcs)),
        numbers=torch.as_tensor(numbers),
        magmoms=torch.as_tensor(np.concatenate(mags), dtype=f64),
        edge_index=torch.as_tensor(np.stack([np.concatenate(senders),
                                             np.concatenate(receivers)])),
        shifts=torch.as_tensor(np.concatenate(shifts)),
        batch=torch.as_tensor(np.concatenate(bidx)),
        ptr=torch.as_tensor(np.array(ptr, dtype=np.int64)),
        species=sp,
    )
