"""A geometry-only (non-magnetic) MMACE for the head-to-head: the shipped architecture with
every moment zero and no magnetic labels, trained on a material's train + valid frames. Kept in
training/ (the comparison receives it from its caller, benchmarks/bench_head_to_head.py, so that
nothing outside training imports training)."""
from __future__ import annotations

import logging
import time
from pathlib import Path

log = logging.getLogger(__name__)

ARCH_KEYS = ("r_cut", "n_bessel", "cutoff_p", "radial_mlp", "n_channels", "l_max_sh",
             "l_max_message", "l_max_hidden", "n_layers", "correlation", "readout_mlp", "soc",
             "l_spin_max", "n_mag_features", "centre_spin", "landau_order", "moment_scale",
             "species")


class _Budget(Exception):
    pass


def write_nonmagnetic_file(data_path, out_path, merge_valid: bool = False) -> int:
    """Copy an extxyz data file without moments and magnetic labels (split kept; with
    ``merge_valid`` the valid frames become train frames); returns the number of frames."""
    import ase.io
    frames = ase.io.read(str(data_path), index=":", format="extxyz")
    for a in frames:
        for key in list(a.arrays):
            if "magmom" in key.lower() or "magforce" in key.lower():
                del a.arrays[key]
        for key in ("initial_magmoms", "converged_magmoms", "total_magmom"):
            a.info.pop(key, None)
        if merge_valid and a.info.get("split") == "valid":
            a.info["split"] = "train"
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    ase.io.write(str(out_path), frames, format="extxyz")
    return len(frames)


def train_nonmagnetic(material: str, out_dir, data_path=None, time_budget_s: float = 120.0,
                      max_epochs: int = 200, quick: bool = False) -> dict:
    """Train a non-magnetic MMACE (the shipped architecture, every moment zero, no magnetic
    labels) on ``material``'s train + valid frames (the baseline's fit set; no early stopping:
    the valid frames of a magnetic data set carry magnetic energy differences that no
    geometry-only model can learn, so a valid-loss monitor would stop it at random), keeping the
    weights of the lowest training loss, for at most ``max_epochs`` or ``time_budget_s``.
    Returns {"model", "config", "epochs", "best_epoch", "train_s", "dir"}."""
    from mmace_fast.datasets import shipped_path
    from mmace_fast.model.io import load_model, model_config_dict
    from mmace_fast.models import load_default
    from mmace_fast.training.config import TrainConfig
    from mmace_fast.training.trainer import Trainer
    data_path = Path(data_path or shipped_path(material))
    out_dir = Path(out_dir)
    stripped = out_dir / f"{material}_nonmagnetic.extxyz"
    write_nonmagnetic_file(data_path, stripped, merge_valid=True)
    _, shipped_cfg, _ = load_default(material)
    shipped = model_config_dict(shipped_cfg)
    arch = {k: shipped[k] for k in ARCH_KEYS if k in shipped}
    if quick:
        arch.update(n_channels=8, radial_mlp=[16], correlation=2, n_layers=1)
    train = dict(energy_weight=1000.0, forces_weight=10.0, stress_weight=1000.0,
                 magforces_weight=0.0, batch_size=4, valid_batch_size=8, lr=0.01,
                 scheduler="plateau", lr_factor=0.5, scheduler_patience=25, patience=None,
                 max_epochs=int(max_epochs), ema=True, ema_decay=0.99, seed=0, e0s="fit",
                 progress=False)
    run = out_dir / "model"
    cfg = TrainConfig(train_file=str(stripped), non_magnetic=True, model=arch,
                      out_dir=str(run), resume=False, **train)
    if run.exists():
        import shutil
        shutil.rmtree(run)
    t0 = time.perf_counter()
    trainer = Trainer(cfg).setup()

    def stop(tr):
        if time.perf_counter() - t0 > time_budget_s:
            raise _Budget()
    try:
        trainer.fit(on_epoch_end=stop)
    except _Budget:
        log.info("%s non-magnetic model: stopped at the %.0f s budget after %d epochs",
                 material, time_budget_s, trainer.state.epoch)
    model, mcfg, _ = load_model(run)
    return {"model": model, "config": mcfg, "epochs": trainer.state.epoch,
            "best_epoch": trainer.state.best_epoch, "train_s": time.perf_counter() - t0,
            "dir": str(run)}
