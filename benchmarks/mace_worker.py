"""mace-torch side of benchmarks/bench_train.py; runs in .venv-mace (mace-torch 0.3.16, e3nn 0.4.4).

    .venv-mace/bin/python benchmarks/mace_worker.py INPUT.json

INPUT.json: structures (dicts with positions, cell, numbers, energy, forces), channels, r_cut,
batch_size, repeats. Builds a non-magnetic MACE of the same size as the mMACE model in
bench_train.py (C x 0e + C x 1o hidden, max_ell 3, 2 interactions, correlation 3, 8 Bessel,
radial MLP [64, 64, 64]), float64, one thread, and times the same training step (forces by
autograd with the graph kept, MSE(E/atom) + MSE(F), AdamW) and inference (energy + forces).
Prints one JSON line: train_configs_per_s, infer_us_per_atom, n_params, version.
"""
from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch
from e3nn import o3
from mace import __version__ as mace_version
from mace import data as mdata
from mace import modules, tools
from mace.tools import torch_geometric


def best_time(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(path):
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    spec = json.loads(open(path).read())
    structs, c, r_cut = spec["structures"], spec["channels"], spec["r_cut"]
    z_table = tools.AtomicNumberTable([13, 26])
    configs = [mdata.Configuration(atomic_numbers=np.array(s["numbers"]),
                                   positions=np.array(s["positions"]),
                                   properties={"energy": s["energy"],
                                               "forces": np.array(s["forces"])},
                                   property_weights={"energy": 1.0, "forces": 1.0},
                                   cell=np.array(s["cell"]), pbc=(True, True, True))
               for s in structs]
    items = [mdata.AtomicData.from_config(cf, z_table=z_table, cutoff=r_cut) for cf in configs]
    loader = torch_geometric.dataloader.DataLoader(items, batch_size=spec["batch_size"],
                                                   shuffle=False, drop_last=False)
    batches = [b.to_dict() for b in loader]
    torch.manual_seed(0)
    model = modules.MACE(
        r_max=r_cut, num_bessel=8, num_polynomial_cutoff=5, max_ell=3,
        interaction_cls=modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
        interaction_cls_first=modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
        num_interactions=2, num_elements=2, hidden_irreps=o3.Irreps(f"{c}x0e + {c}x1o"),
        MLP_irreps=o3.Irreps("16x0e"), atomic_energies=np.zeros(2), avg_num_neighbors=14.0,
        atomic_numbers=[13, 26], correlation=3, gate=torch.nn.functional.silu,
        radial_MLP=[64, 64, 64])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def train_pass():
        for b in batches:
            opt.zero_grad()
            out = model(b, training=True, compute_force=True)
            n = b["ptr"][1:] - b["ptr"][:-1]
            loss = (((out["energy"] - b["energy"]) / n) ** 2).mean() \
                + ((out["forces"] - b["forces"]) ** 2).mean()
            loss.backward()
            opt.step()

    def infer_pass():
        for b in batches:
            model(b, training=False, compute_force=True)

    train_pass()
    t_train = best_time(train_pass, spec["repeats"])
    infer_pass()
    t_infer = best_time(infer_pass, spec["repeats"])
    n_atoms = sum(len(s["numbers"]) for s in structs)
    print(json.dumps({"train_configs_per_s": len(structs) / t_train,
                      "infer_us_per_atom": 1e6 * t_infer / n_atoms,
                      "n_params": sum(p.numel() for p in model.parameters()),
                      "version": mace_version}))


if __name__ == "__main__":
    main(sys.argv[1])
