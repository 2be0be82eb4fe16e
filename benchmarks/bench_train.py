"""Training throughput and inference time of mMACE, side by side with mace-torch 0.3.16.

    python benchmarks/bench_train.py [--quick]

Structures: perturbed B2 FeAl 2x2x2 supercells (16 atoms, a = 2.9 A) with random moment vectors
(|m| ~ 1-2.5 muB on Fe, ~0.1 on Al) and synthetic labels (throughput does not depend on them).
Both models have the same size: C channels, hidden irreps up to l = 1, l_max 3 for bond
harmonics, 2 layers, correlation 3, r_cut 5 A, 8 Bessel functions, radial MLP [64, 64, 64].

Train step (both, same batches): forward with forces by autograd (graph kept), loss
= MSE(E/atom) + MSE(forces) (+ MSE(magnetic forces) for mMACE, as in its real training),
backward, AdamW step. Inference: energy + forces (+ magnetic forces for mMACE), no graph kept.
Neighbour lists and batches are built before timing. One torch thread, float64 for both.
Each timing keeps the best of ``repeats`` passes (this box is shared and noisy); ``--rounds R``
alternates the two codes R times (ours, mace, ours, mace, ...) so that load changes hit both,
reports the best throughput of each over all rounds, and lists the per-round ratios.

mace-torch pins e3nn 0.4.4, so it runs in its own venv (``.venv-mace`` at the repository root,
git-ignored) in a subprocess (benchmarks/mace_worker.py); without that venv its figures are null.
``--soc``: our spin-orbit model (FePt's angular sizes) alone, for its own timings.
The last stdout line is one JSON object: train_configs_per_s, mace_train_configs_per_s,
ratio (= mace / ours train throughput, i.e. our relative cost; goal <= 1.3),
infer_us_per_atom, mace_infer_us_per_atom, infer_ratio, round_ratios, and the settings.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from mmace_fast.data.graph import collate  # noqa: E402
from mmace_fast.data.records import Configuration  # noqa: E402
from mmace_fast.model import MMACE, ModelConfig  # noqa: E402

log = logging.getLogger("bench_train")
ROOT = Path(__file__).resolve().parent.parent
MACE_PYTHON = ROOT / ".venv-mace" / "bin" / "python"
R_CUT = 5.0


def structures(n: int, seed: int = 0) -> list[dict]:
    """``n`` perturbed 16-atom B2 FeAl cells as plain dicts (shared with the mace worker)."""
    rng = np.random.default_rng(seed)
    a = 2.9
    grid = np.array([[i, j, k] for i in range(2) for j in range(2) for k in range(2)], float)
    pos0 = np.concatenate([grid, grid + 0.5]) * a                   # [16, 3] A
    numbers = [26] * 8 + [13] * 8
    out = []
    for _ in range(n):
        strain = np.eye(3) + 0.01 * rng.normal(size=(3, 3))
        cell = 2 * a * np.eye(3) @ strain                               # [3, 3] A
        pos = (pos0 + 0.1 * rng.normal(size=pos0.shape)) @ strain       # [16, 3] A
        size = np.where(np.array(numbers) == 26, rng.uniform(1.0, 2.5, 16), 0.1)
        d = rng.normal(size=(16, 3))
        magmoms = d / np.linalg.norm(d, axis=1, keepdims=True) * size[:, None]   # muB
        out.append(dict(positions=pos.tolist(), cell=cell.tolist(), numbers=numbers,
                        magmoms=magmoms.tolist(), energy=float(-5.0 * 16 + rng.normal()),
                        forces=(0.1 * rng.normal(size=(16, 3))).tolist()))
    return out


def our_model(channels: int, soc: bool = False) -> MMACE:
    """The benchmark model; ``soc``: the spin-orbit variant with the shipped FePt model's
    angular sizes (l_max 2 for bond harmonics and messages, spin pairs to l = 2)."""
    l_max = 2 if soc else 3
    cfg = ModelConfig(species=[13, 26], r_cut=R_CUT, n_bessel=8, cutoff_p=5,
                      radial_mlp=[64, 64, 64], n_channels=channels, l_max_sh=l_max,
                      l_max_message=l_max, l_max_hidden=1, n_layers=2, correlation=3,
                      readout_mlp=[16], avg_num_neighbors=14.0, soc=soc, l_spin_max=2,
                      spin_pair_l_max=2, n_mag_features=4, moment_scale=[3.0, 3.0],
                      landau_order=2)
    torch.manual_seed(0)
    return MMACE(cfg)


def best_time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_ours(data: list[dict], channels: int, batch_size: int, repeats: int,
               soc: bool = False) -> dict:
    model = our_model(channels, soc)
    confs = [Configuration(positions=np.array(d["positions"]), cell=np.array(d["cell"]),
                           pbc=np.array([True] * 3), numbers=np.array(d["numbers"]),
                           magmoms=np.array(d["magmoms"])) for d in data]
    chunks = [list(range(k, min(k + batch_size, len(data))))
              for k in range(0, len(data), batch_size)]
    batches = [collate([confs[i] for i in c], R_CUT) for c in chunks]
    targets = []
    for c in chunks:
        e = torch.tensor([data[i]["energy"] for i in c])
        f = torch.tensor(np.concatenate([data[i]["forces"] for i in c]))
        n = torch.tensor([len(data[i]["numbers"]) for i in c], dtype=torch.float64)
        targets.append((e, f, n))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def train_pass():
        for b, (e, f, n) in zip(batches, targets):
            opt.zero_grad()
            out = model(b, forces=True, magforces=True, training=True)
            loss = (((out["energy"] - e) / n) ** 2).mean() + ((out["forces"] - f) ** 2).mean() \
                + (out["magforces"] ** 2).mean()
            loss.backward()
            opt.step()

    def infer_pass():
        for b in batches:
            model(b, forces=True, magforces=True)

    train_pass()    # warm-up
    t_train = best_time(train_pass, repeats)
    infer_pass()
    t_infer = best_time(infer_pass, repeats)
    n_atoms = sum(len(d["numbers"]) for d in data)
    return {"train_configs_per_s": len(data) / t_train,
            "infer_us_per_atom": 1e6 * t_infer / n_atoms,
            "n_params": sum(p.numel() for p in model.parameters())}


def bench_mace(data: list[dict], channels: int, batch_size: int, repeats: int) -> dict:
    none = {"mace_train_configs_per_s": None, "mace_infer_us_per_atom": None}
    if not MACE_PYTHON.exists():
        log.warning("%s not found: mace-torch figures are null", MACE_PYTHON)
        return none
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "input.json"
        path.write_text(json.dumps(dict(structures=data, channels=channels, r_cut=R_CUT,
                                        batch_size=batch_size, repeats=repeats)))
        env = dict(os.environ, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1", OMP_NUM_THREADS="1")
        env.pop("PYTHONPATH", None)
        proc = subprocess.run([str(MACE_PYTHON), str(Path(__file__).with_name("mace_worker.py")),
                               str(path)], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        log.error("mace worker failed:\n%s", proc.stderr[-3000:])
        return none
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"mace_train_configs_per_s": res["train_configs_per_s"],
            "mace_infer_us_per_atom": res["infer_us_per_atom"], "mace_version": res["version"],
            "mace_n_params": res["n_params"]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small run (< 1 min)")
    p.add_argument("--channels", type=int, default=None)
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--rounds", type=int, default=None,
                   help="alternating (ours, mace) rounds; default 1 (--quick) or 2")
    p.add_argument("--soc", action="store_true",
                   help="our spin-orbit model alone (mace-torch has no counterpart: its "
                        "figures are null)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    n_configs, channels, batch_size, repeats = (4, 8, 2, 2) if args.quick else (16, 32, 4, 3)
    channels = args.channels or channels
    repeats = args.repeats or repeats
    rounds = args.rounds or (1 if args.quick else 2)
    data = structures(n_configs)
    ours_runs, mace_runs = [], []
    for r in range(rounds):
        ours_runs.append(bench_ours(data, channels, batch_size, repeats, args.soc))
        log.info("round %d mMACE: %.3f configs/s train, %.1f us/atom inference", r,
                 ours_runs[-1]["train_configs_per_s"], ours_runs[-1]["infer_us_per_atom"])
        mace_runs.append({"mace_train_configs_per_s": None, "mace_infer_us_per_atom": None}
                         if args.soc else bench_mace(data, channels, batch_size, repeats))
        if mace_runs[-1]["mace_train_configs_per_s"] is not None:
            log.info("round %d mace-torch: %.3f configs/s train, %.1f us/atom inference", r,
                     mace_runs[-1]["mace_train_configs_per_s"],
                     mace_runs[-1]["mace_infer_us_per_atom"])
    ours = dict(ours_runs[0],
                train_configs_per_s=max(o["train_configs_per_s"] for o in ours_runs),
                infer_us_per_atom=min(o["infer_us_per_atom"] for o in ours_runs))
    mace = dict(mace_runs[0])
    ratio = infer_ratio = None
    round_ratios = []
    if all(m["mace_train_configs_per_s"] is not None for m in mace_runs):
        mace["mace_train_configs_per_s"] = max(m["mace_train_configs_per_s"] for m in mace_runs)
        mace["mace_infer_us_per_atom"] = min(m["mace_infer_us_per_atom"] for m in mace_runs)
        ratio = mace["mace_train_configs_per_s"] / ours["train_configs_per_s"]
        infer_ratio = ours["infer_us_per_atom"] / mace["mace_infer_us_per_atom"]
        round_ratios = [m["mace_train_configs_per_s"] / o["train_configs_per_s"]
                        for o, m in zip(ours_runs, mace_runs)]
        log.info("best of %d rounds: cost ratio %.2f (per round %s), inference ratio %.2f",
                 rounds, ratio, ", ".join(f"{x:.2f}" for x in round_ratios), infer_ratio)
    result = dict(ours, **mace, ratio=ratio, infer_ratio=infer_ratio, round_ratios=round_ratios,
                  n_configs=n_configs, n_atoms_per_config=16, channels=channels,
                  batch_size=batch_size, repeats=repeats, rounds=rounds, quick=args.quick,
                  soc=args.soc,
                  threads=1, dtype="float64")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
