"""The training loop: setup, epochs, validation, checkpoints, resume, fine-tuning.

Determinism: the model is built right after ``torch.manual_seed(seed)``; batches are shuffled
by a dedicated ``torch.Generator`` seeded with ``seed``; the checkpoint written at the end of
every epoch holds the weights, EMA, optimiser, scheduler, both RNG states and the early-stopping
state, so a run killed at any point and resumed from its last checkpoint ends with exactly the
weights of an uninterrupted run (tested bit for bit).
"""
from __future__ import annotations

import dataclasses
import fnmatch
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch

from mmace_fast.data.records import Configuration
from mmace_fast.training import data as tdata
from mmace_fast.training.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from mmace_fast.training.config import ConfigError, TrainConfig
from mmace_fast.training.distributed import DistContext, context_from_env
from mmace_fast.training.ema import EMA
from mmace_fast.training.loss import (WeightedLoss, collapse_penalty, induced_directions_for,
                                      induced_moment_parts, label_counts,
                                      moment_stability_parts, stability_scale)
from mmace_fast.training.metrics import ErrorAccumulator, table_header, table_row
from mmace_fast.model.io import (atomic_write_text, backend, build_model, cutoff_of,
                                 fill_model_config, has_weights, load_model, load_state,
                                 model_config_dict, predict, read_model_json, save_model)

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# model evaluation on configurations (shared by the trainer, the CLI and tests)
# --------------------------------------------------------------------------------------------
def evaluate_configs(model, configs: Sequence[Configuration], cutoff: float, batch_size: int,
                     loss_fn: Optional[WeightedLoss] = None,
                     ctx: DistContext = DistContext()) -> dict:
    """MAE/RMSE (meV units) and mean loss of ``model`` over ``configs``; with a data-parallel
    ``ctx`` each rank evaluates its share of every batch and the sums are reduced."""
    acc = ErrorAccumulator()
    for idx in tdata.batch_indices(len(configs), batch_size, None):
        chunk = [configs[i] for i in idx]
        local = ctx.shard(chunk, [c.n_atoms for c in chunk])
        counts = label_counts(tdata.make_targets(chunk)) if ctx.active else None
        if not local:
            if loss_fn is not None:
                acc.add_loss(0.0, len(chunk))
            continue
        t = tdata.make_targets(local)
        out = predict(model, local, cutoff, stress=t.has_stress, magforces=True)
        loss = float(loss_fn(out, t, counts)[0]) if loss_fn is not None else None
        acc.add(out, t, loss, n_graphs=len(chunk))
    acc.reduce(ctx)
    res = acc.result()
    res["n_configs"] = len(configs)
    return res


# --------------------------------------------------------------------------------------------
# trainer
# --------------------------------------------------------------------------------------------
@dataclass
class TrainState:
    epoch: int = 0                    #: epochs completed
    best_valid: float = math.inf
    best_epoch: int = -1
    bad_epochs: int = 0
    history: list = field(default_factory=list)
    stability_calls: int = 0          #: batches that used the moment-stability prior

    def to_dict(self) -> dict:
        return {"epoch": self.epoch, "best_valid": self.best_valid,
                "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs,
                "history": self.history, "stability_calls": self.stability_calls}

    @classmethod
    def from_dict(cls, d: dict) -> "TrainState":
        return cls(**d)


class Trainer:
    """``Trainer(cfg).setup()`` then ``fit()``; see the module docstring."""

    def __init__(self, cfg: TrainConfig, ctx: Optional[DistContext] = None):
        """ctx: the data-parallel context (default: from the launcher's environment, the
        one-process context without one; :mod:`mmace_fast.training.distributed`)."""
        self.cfg = cfg
        self.ctx = ctx if ctx is not None else context_from_env()
        self.out_dir = Path(cfg.out_dir)
        self.checkpoint_path = self.out_dir / CHECKPOINT_NAME
        self.state = TrainState()

    # ------------------------------------------------------------------ setup
    def setup(self) -> "Trainer":
        cfg = self.cfg
        torch.manual_seed(cfg.seed)
        resume = self._load_resume_checkpoint()
        self._load_data(resume)
        self._build(resume)
        self.loss_fn = WeightedLoss(cfg.energy_weight, cfg.forces_weight, cfg.stress_weight,
                                    cfg.magforces_weight, cfg.loss, cfg.huber_delta)
        self.generator = torch.Generator().manual_seed(cfg.seed)
        if resume is not None:
            self._restore(resume)
        else:
            self._write_run_files()
        return self

    def _load_resume_checkpoint(self) -> Optional[dict]:
        if not (self.cfg.resume and self.checkpoint_path.exists()):
            return None
        ckpt = load_checkpoint(self.checkpoint_path)
        saved = json.loads(ckpt["train_config"])
        now = self.cfg.to_dict()
        defaults = TrainConfig().to_dict()
        changed = sorted(k for k in now if k not in ("resume", "progress", "max_epochs",
                                                     "out_dir")
                         and saved.get(k, defaults.get(k)) != now[k])
        if changed:
            raise ConfigError(f"{self.checkpoint_path} was written with a different config "
                              f"(keys {changed}); use a new out_dir or resume: false")
        log.info("resuming from %s (epoch %d)", self.checkpoint_path, ckpt["epoch"])
        return ckpt

    def _load_data(self, resume: Optional[dict]) -> None:
        cfg = self.cfg
        if not cfg.train_files:
            raise ConfigError("train_file is required")
        species = cfg.model.get("species")
        kw = dict(non_magnetic=cfg.non_magnetic, species=species, extxyz_keys=cfg.extxyz_keys,
                  stress_voigt_order=cfg.stress_voigt_order)
        configs = tdata.load_files(cfg.train_files, **kw)
        if cfg.valid_files:
            self.train_set = configs
            self.valid_set = tdata.load_files(cfg.valid_files, **kw)
        else:
            self.train_set, self.valid_set = tdata.split_configurations(
                configs, cfg.valid_fraction, cfg.seed)
        self.test_set = tdata.load_files(cfg.test_files, **kw) if cfg.test_files else []
        if not self.train_set:
            raise ConfigError("the training set is empty")
        if cfg.config_type_weights:
            self._apply_config_type_weights()
        # after the weights: a bootstrap repeats frames, which must not be scaled twice
        self.train_set = tdata.resample_train(self.train_set, cfg.resample)
        self.collapse_set: list[Configuration] = []
        self._collapse_batch = None
        if cfg.moment_collapse_prior:
            self.collapse_set = tdata.collapsed_frames(
                self.train_set, cfg.moment_collapse_max_moment, cfg.moment_collapse_min_start)
            log.info("collapse prior: %d training frames went from magnetic starting moments "
                     "to zero moments", len(self.collapse_set))
        self.data_sha256 = tdata.files_sha256(cfg.train_files + cfg.valid_files)
        if resume is not None and resume.get("data_sha256") != self.data_sha256:
            raise ConfigError("training data changed since the checkpoint was written")

    def _apply_config_type_weights(self) -> None:
        """Scale the per-frame label weights of the train and valid frames by
        ``config_type_weights``; a pattern that matches no frame is a typo, not a no-op."""
        cfg = self.cfg
        self.train_set, n_train = tdata.apply_config_type_weights(self.train_set,
                                                                  cfg.config_type_weights)
        self.valid_set, n_valid = tdata.apply_config_type_weights(self.valid_set,
                                                                  cfg.config_type_weights)
        for pattern in cfg.config_type_weights:
            if n_train[pattern] + n_valid[pattern] == 0:
                types = sorted({c.config_type for c in self.train_set + self.valid_set})
                raise ConfigError(f"config_type_weights pattern {pattern!r} matches no train "
                                  f"or valid frame (config types: {types})")
            log.info("config_type_weights %r %s: %d train, %d valid frames", pattern,
                     cfg.config_type_weights[pattern], n_train[pattern], n_valid[pattern])

    def _build(self, resume: Optional[dict]) -> None:
        cfg = self.cfg
        if resume is not None:
            model_dict = json.loads(resume["model_config"])
            self.e0s = {int(k): v for k, v in resume["e0s"].items()}
            self.stats = dict(resume["stats"])
        elif cfg.init_from:
            model_dict, self.e0s, self.stats = self._pretrained_config()
        else:
            model_dict, self.e0s, self.stats = self._config_from_data()
        self.model, self.model_config = build_model(model_dict)
        self.cutoff = cutoff_of(self.model_config)
        if resume is None and cfg.init_from:
            self._load_pretrained_weights()
            if cfg.init_e0s in ("refit", "new"):
                self._refit_e0s()
        self._apply_freeze()
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise ConfigError("every parameter is frozen")
        self.optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay,
                                           amsgrad=cfg.amsgrad)
        self.scheduler = self._make_scheduler()
        self.ema = EMA(self.model, cfg.ema_decay) if cfg.ema else None
        self.compute_stress = any(c.stress is not None and c.pbc.all() for c in self.train_set)

    def _config_from_data(self):
        cfg = self.cfg
        be = backend()
        species = cfg.model.get("species") or tdata.species_of(self.train_set)
        e0s = tdata.resolve_e0s(cfg.e0s, self.train_set, species)
        cutoff = float(cfg.model.get("r_cut", 5.0))
        stats = tdata.data_statistics(self.train_set, e0s, cutoff)
        log.info("E0s (eV): %s; statistics: %s", e0s, stats)
        return fill_model_config(cfg.model, species, e0s, stats, be.ModelConfig), e0s, stats

    def _pretrained_config(self):
        src = Path(self.cfg.init_from)
        if src.is_dir():
            doc = read_model_json(src)
            meta = doc.get("metadata", {})
            model_dict = doc["model_config"]
        else:
            ckpt = load_checkpoint(src)
            model_dict = json.loads(ckpt["model_config"])
            meta = {"e0s": ckpt["e0s"], "stats": ckpt["stats"]}
        model_dict = {**model_dict, **{k: v for k, v in self.cfg.model.items()
                                       if k not in ("species",)}}
        e0s = {int(k): float(v) for k, v in meta.get("e0s", {}).items()}
        missing = sorted(set(tdata.species_of(self.train_set)) -
                         set(int(z) for z in model_dict["species"]))
        self.new_species = missing
        if missing and not (src.is_dir() and self.cfg.init_new_species):
            raise ConfigError(f"pretrained model {src} lacks species {missing} of the data "
                              "(a pre-trained model directory with init_new_species=True "
                              "gets them added)")
        if missing:
            model_dict = self._extended_pretrained(src, missing)
            e0s = {**e0s, **{z: 0.0 for z in missing}}
        return model_dict, e0s, dict(meta.get("stats", {}))

    def _extended_pretrained(self, src: Path, missing: list) -> dict:
        """The pre-trained model of ``src`` with the data's ``missing`` species added
        (:func:`mmace_fast.model.species.add_species`; moment scale per new species: its
        median moment in the training frames / 0.8, at least 0.5 muB, as the recipes'); its
        weights are kept for :meth:`_load_pretrained_weights`. Returns the model dict."""
        from mmace_fast.model.species import add_species  # noqa: PLC0415

        model, _, _ = load_model(src)
        scales = []
        for z in missing:
            m = np.concatenate([np.linalg.norm(c.magmoms[c.numbers == z], axis=1)
                                for c in self.train_set if c.magmoms is not None])
            m = m[m > 1e-6]
            scales.append(max(0.5, float(np.median(m)) / 0.8) if m.size else 0.5)
        ext, ext_cfg = add_species(model, missing, moment_scale=scales)
        self._extended_state = ext.state_dict()
        log.info("fine-tune: species %s added to the pre-trained model (moment scales %s muB)",
                 missing, [round(s, 3) for s in scales])
        return {**model_config_dict(ext_cfg), **{k: v for k, v in self.cfg.model.items()
                                                 if k not in ("species",)}}

    def _load_pretrained_weights(self) -> None:
        src = Path(self.cfg.init_from)
        if getattr(self, "_extended_state", None) is not None:
            state = self._extended_state
        elif src.is_dir():
            state = load_state(src)
        else:
            ckpt = load_checkpoint(src)
            state = ckpt["ema"]["shadow"] if ckpt.get("ema") else ckpt["model"]
            state = {**ckpt["model"], **state}
        res = self.model.load_state_dict(state, strict=self.cfg.init_strict)
        if not self.cfg.init_strict:
            log.info("fine-tuning from %s: missing %s, unexpected %s", src,
                     list(res.missing_keys), list(res.unexpected_keys))
        log.info("initialised weights from %s", src)

    def _refit_e0s(self) -> None:
        """Shift the reference energies of the training data's species by the least-squares
        fit of the pre-trained model's residuals E_DFT - E_model over the training frames."""
        species = (self.new_species if self.cfg.init_e0s == "new"
                   else tdata.species_of(self.train_set))
        if not species:
            log.info("fine-tune: no new species, reference energies kept")
            return
        residual = []
        with_energy = [c for c in self.train_set if c.energy is not None]
        for idx in tdata.batch_indices(len(with_energy), self.cfg.valid_batch_size, None):
            chunk = [with_energy[i] for i in idx]
            out = predict(self.model, chunk, self.cutoff, stress=False, magforces=False,
                          forces=False)
            residual += [dataclasses.replace(c, energy=float(c.energy - e))
                         for c, e in zip(chunk, out["energy"].tolist())]
        shift = tdata.fit_e0s(residual, species, only=True)          # {Z: eV}
        names = [int(z) for z in model_config_dict(self.model_config)["species"]]
        with torch.no_grad():
            for z, d in shift.items():
                self.model.e0[names.index(z)] += d
        self.e0s = {**self.e0s, **{z: self.e0s.get(z, 0.0) + d for z, d in shift.items()}}
        e0 = [float(v) for v in self.model.e0.tolist()]
        self.model_config = dataclasses.replace(self.model_config, e0=e0)
        log.info("fine-tune: reference energies refitted to the training frames, shifts (eV) "
                 "%s", {z: round(d, 6) for z, d in shift.items()})

    def _apply_freeze(self) -> None:
        patterns = self.cfg.freeze
        if not patterns:
            return
        names = [n for n, _ in self.model.named_parameters()]
        for pat in patterns:
            if not any(_matches(n, pat) for n in names):
                raise ConfigError(f"freeze pattern {pat!r} matches no parameter; names are "
                                  f"e.g. {names[:8]}")
        frozen = 0
        for n, p in self.model.named_parameters():
            if any(_matches(n, pat) for pat in patterns):
                p.requires_grad_(False)
                frozen += p.numel()
        log.info("froze %d of %d parameters (patterns %s)", frozen,
                 sum(p.numel() for p in self.model.parameters()), patterns)

    def _make_scheduler(self):
        cfg = self.cfg
        if cfg.scheduler == "plateau":
            return torch.optim.lr_scheduler.ReduceLROnPlateau(
                self.optimizer, mode="min", factor=cfg.lr_factor,
                patience=cfg.scheduler_patience)
        if cfg.scheduler == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(
                self.optimizer, T_max=cfg.max_epochs, eta_min=cfg.lr_min)
        return None

    def _write_run_files(self) -> None:
        if self.ctx.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.out_dir / "train_config.json", self.cfg.to_json())
        self.ctx.barrier()

    # ------------------------------------------------------------------ checkpoints
    def checkpoint_dict(self) -> dict:
        return {
            "epoch": self.state.epoch,
            "train_config": self.cfg.to_json(),
            "model_config": json.dumps(model_config_dict(self.model_config)),
            "model": {k: v.detach().clone() for k, v in self.model.state_dict().items()},
            "ema": self.ema.state_dict() if self.ema else None,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "rng": {"torch": torch.get_rng_state(), "shuffle": self.generator.get_state()},
            "state": self.state.to_dict(),
            "e0s": {str(k): float(v) for k, v in self.e0s.items()},
            "stats": {k: float(v) for k, v in self.stats.items()},
            "data_sha256": self.data_sha256,
        }

    def save_checkpoint(self) -> None:
        """Rank 0 writes (atomically); every rank waits until it is on disk."""
        if self.ctx.is_main:
            save_checkpoint(self.checkpoint_path, self.checkpoint_dict())
        self.ctx.barrier()

    def _restore(self, ckpt: dict) -> None:
        self.model.load_state_dict(ckpt["model"])
        if self.ema is not None:
            self.ema.load_state_dict(ckpt["ema"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(ckpt["scheduler"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        self.generator.set_state(ckpt["rng"]["shuffle"])
        self.state = TrainState.from_dict(ckpt["state"])

    # ------------------------------------------------------------------ epochs
    def train_epoch(self) -> dict:
        """One pass over the shuffled training set; returns training metrics. A non-finite
        loss raises :class:`TrainingDivergedError` before the optimizer step, so the weights
        and the last checkpoint on disk stay those of the last good epoch. With several ranks
        each takes its share of every global batch (:mod:`mmace_fast.training.distributed`)."""
        cfg, ctx = self.cfg, self.ctx
        self.model.train()
        acc = ErrorAccumulator()
        params = [p for p in self.model.parameters() if p.requires_grad]
        batches = tdata.batch_indices(len(self.train_set), cfg.batch_size, self.generator)
        bar = _progress(batches, cfg.progress and ctx.is_main, f"epoch {self.state.epoch + 1}")
        for idx in bar:
            chunk = [self.train_set[i] for i in idx]
            local = ctx.shard(chunk, [c.n_atoms for c in chunk])
            self.optimizer.zero_grad(set_to_none=True)
            loss, out, t = self._local_loss(chunk, local)
            if loss.requires_grad:
                loss.backward()
            total = ctx.sum_grads(params, float(loss.detach()))
            if not math.isfinite(total):
                frames = [c.info.get("id", int(k)) for k, c in zip(idx, chunk)]
                raise TrainingDivergedError(
                    f"non-finite training loss ({total}) in epoch "
                    f"{self.state.epoch + 1} on frames {frames}; the checkpoint of epoch "
                    f"{self.state.epoch} in {self.out_dir} is kept (check the loss weights, "
                    "the learning rate and the data)")
            if cfg.clip_grad:
                torch.nn.utils.clip_grad_norm_(params, cfg.clip_grad)
            self.optimizer.step()
            if self.ema is not None:
                self.ema.update(self.model)
            if out is not None:
                acc.add({k: v.detach() for k, v in out.items()}, t, float(loss.detach()),
                        len(chunk))
            else:
                acc.add_loss(float(loss.detach()), len(chunk))
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{total:.4g}")
        acc.reduce(ctx)
        return acc.result()

    def _local_loss(self, chunk: list, local: list) -> tuple:
        """This rank's part of the loss of the global batch ``chunk`` (its share ``local``;
        the whole batch on one rank): (loss, predictions or None, targets or None)."""
        cfg, ctx = self.cfg, self.ctx
        counts = label_counts(tdata.make_targets(chunk)) if ctx.active else None
        out = t = None
        if local:
            t = tdata.make_targets(local)
            out = predict(self.model, local, self.cutoff, stress=self.compute_stress,
                          magforces=True, training=True)
            loss, _ = self.loss_fn(out, t, counts)
        else:
            loss = torch.zeros((), dtype=torch.float64)
        if cfg.moment_stability_weight > 0:
            loss = loss + cfg.moment_stability_weight * self._stability_term(chunk, local)
        return loss, out, t

    def _stability_term(self, chunk, local=None) -> torch.Tensor:
        """Moment-stability prior on this batch at the next scale of the sequence, plus the
        induced-moment prior when species are listed for it (same call count: resumable).
        ``local``: this rank's share of ``chunk`` (default all of it); each prior is a mean
        over the frames of the global batch that it applies to."""
        cfg, ctx = self.cfg, self.ctx
        local = list(chunk) if local is None else local
        lo, hi = (float(x) for x in cfg.moment_stability_range)
        call = self.state.stability_calls
        scale = stability_scale(call, lo, hi)
        self.state.stability_calls += 1
        zero = torch.zeros((), dtype=torch.float64)
        parts = [(zero, 0), (zero, 0)]                 # (sum, frames): stability, induced
        with torch.enable_grad():
            if local:
                batch = backend().collate(list(local), self.cutoff)
                parts[0] = moment_stability_parts(self.model, batch, scale,
                                                  cfg.moment_stability_min_moment,
                                                  cfg.moment_stability_curvature,
                                                  cfg.moment_stability_profile)
                if cfg.moment_stability_induced_species:
                    ilo, ihi = (float(x) for x in cfg.moment_stability_induced_range)
                    radius = ilo + (ihi - ilo) * stability_scale(call, 0.0, 1.0, gap=0.0)
                    induced = torch.isin(batch.numbers, torch.as_tensor(
                        cfg.moment_stability_induced_species, dtype=batch.numbers.dtype))
                    parts[1] = induced_moment_parts(
                        self.model, batch, induced, radius,
                        self._induced_directions(chunk, call), cfg.moment_stability_curvature)
            frames = ctx.sum_floats([parts[0][1], parts[1][1]])
            term = zero
            for (total, _), n in zip(parts, frames):
                if n > 0:
                    term = term + total / n
            if self.collapse_set and ctx.is_main:
                term = term + self._collapse_term(call)
        return term

    def _induced_directions(self, chunk: list, call: int) -> torch.Tensor:
        """[n_local, 3] directions of the induced-moment prior: drawn for the global batch
        ``chunk`` (so that they do not depend on how it is split), this rank's rows."""
        sizes = [c.n_atoms for c in chunk]
        mags = np.concatenate([c.magmoms if c.magmoms is not None else np.zeros((c.n_atoms, 3))
                               for c in chunk])
        whole = _DirectionBatch(
            magmoms=torch.as_tensor(mags, dtype=torch.float64),
            batch=torch.as_tensor(np.repeat(np.arange(len(chunk)), sizes)),
            n_graphs=len(chunk), numbers=torch.zeros(sum(sizes), dtype=torch.int64))
        u = induced_directions_for(self.cfg.moment_stability_induced_directions, whole, call,
                                   self.cfg.seed)                      # [N_global, 3]
        start, stop = self.ctx.shard_offset(sizes, sizes)
        return u[start:stop]

    def _collapse_term(self, call: int) -> torch.Tensor:
        """Collapse prior on every collapsed training frame, at the call's path fraction."""
        cfg = self.cfg
        if self._collapse_batch is None:
            batch = backend().collate(self.collapse_set, self.cutoff)
            start = torch.as_tensor(np.concatenate([c.start_magmoms for c in self.collapse_set]),
                                    dtype=batch.magmoms.dtype)          # [N, 3] muB
            self._collapse_batch = (batch, start)
        batch, start = self._collapse_batch
        lo, hi = (float(x) for x in cfg.moment_collapse_range)
        scale = lo + (hi - lo) * stability_scale(call, 0.0, 1.0, gap=0.0)
        return collapse_penalty(self.model, batch, start, scale, cfg.moment_collapse_curvature)

    def evaluate(self, configs: Sequence[Configuration]) -> dict:
        """Metrics of the (EMA) model on ``configs``."""
        if not configs:
            return {"loss": math.nan, "n_configs": 0}
        self.model.eval()
        if self.ema is not None:
            with self.ema.applied(self.model):
                return evaluate_configs(self.model, configs, self.cutoff,
                                        self.cfg.valid_batch_size, self.loss_fn, self.ctx)
        return evaluate_configs(self.model, configs, self.cutoff, self.cfg.valid_batch_size,
                                self.loss_fn, self.ctx)

    def _end_of_epoch(self, train: dict, valid: dict) -> bool:
        """Scheduler, early stopping, best model, checkpoint. Returns True to stop."""
        st = self.state
        if valid.get("n_configs", 1) and not math.isfinite(valid.get("loss", math.nan)):
            raise TrainingDivergedError(
                f"non-finite validation loss ({valid.get('loss')}) after epoch {st.epoch + 1}; "
                f"the checkpoint of epoch {st.epoch} in {self.out_dir} is kept")
        st.epoch += 1
        monitor = valid["loss"] if not math.isnan(valid.get("loss", math.nan)) else train["loss"]
        lr = self.optimizer.param_groups[0]["lr"]
        st.history.append({"epoch": st.epoch, "lr": lr, "train": _finite(train),
                           "valid": _finite(valid)})
        log.info(table_row(st.epoch, lr, train, valid))
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(monitor)
        elif self.scheduler is not None:
            self.scheduler.step()
        if monitor < st.best_valid:
            st.best_valid, st.best_epoch, st.bad_epochs = float(monitor), st.epoch, 0
            if self.cfg.keep_model == "best":
                self.save_final_model(self.out_dir, tag={"epoch": st.epoch, "monitor": monitor})
        else:
            st.bad_epochs += 1
        if self.cfg.keep_model == "last":       # every epoch, so a killed run keeps its latest
            self.save_final_model(self.out_dir, tag={"epoch": st.epoch, "monitor": monitor,
                                                     "keep_model": "last"})
        stop = self.cfg.patience is not None and st.bad_epochs >= self.cfg.patience
        if self.ctx.is_main:
            atomic_write_text(self.out_dir / "metrics.json", json.dumps(st.history, indent=1))
        self.save_checkpoint()
        if stop:
            log.info("early stopping after %d epochs without improvement (best epoch %d)",
                     st.bad_epochs, st.best_epoch)
        return stop

    def fit(self, on_epoch_end: Optional[Callable[["Trainer"], None]] = None) -> dict:
        """Train until ``max_epochs`` or early stopping; returns final metrics.

        ``on_epoch_end(trainer)`` runs after each epoch's checkpoint is on disk.
        """
        cfg = self.cfg
        log.info("training on %d configurations, validating on %d; %d trainable parameters",
                 len(self.train_set), len(self.valid_set),
                 sum(p.numel() for p in self.model.parameters() if p.requires_grad))
        log.info(table_header())
        stopped = False
        while self.state.epoch < cfg.max_epochs and not stopped:
            train = self.train_epoch()
            valid = self.evaluate(self.valid_set)
            stopped = self._end_of_epoch(train, valid)
            if on_epoch_end is not None:
                on_epoch_end(self)
        return self.finish()

    def finish(self) -> dict:
        """Evaluate the saved model (best or last, ``keep_model``) on valid/test sets;
        returns {set: metrics}."""
        results = {}
        if has_weights(self.out_dir):
            best, _, _ = load_model(self.out_dir)
            for name, configs in (("train", self.train_set), ("valid", self.valid_set),
                                  ("test", self.test_set)):
                if configs:
                    results[name] = evaluate_configs(best, configs, self.cutoff,
                                                     self.cfg.valid_batch_size, ctx=self.ctx)
        if self.ctx.is_main:
            atomic_write_text(self.out_dir / "final_metrics.json",
                              json.dumps({k: _finite(v) for k, v in results.items()}, indent=1))
        self.ctx.barrier()
        return results

    # ------------------------------------------------------------------ final model
    def save_final_model(self, out_dir, tag: Optional[dict] = None) -> Path:
        """``model.pt`` (EMA weights when EMA is on) + ``model.json`` with metadata; written
        by rank 0 only (the other ranks hold the same weights)."""
        if not self.ctx.is_main:
            return Path(out_dir)
        state = self.model.state_dict()
        if self.ema is not None:
            state = {**state, **self.ema.shadow}
        meta = {
            "species": [int(z) for z in model_config_dict(self.model_config).get(
                "species", tdata.species_of(self.train_set))],
            "e0s": {str(k): float(v) for k, v in self.e0s.items()},
            "stats": {k: float(v) for k, v in self.stats.items()},
            "training_data_sha256": self.data_sha256,
            "training_files": [str(p) for p in self.cfg.train_files + self.cfg.valid_files],
            "train_config": self.cfg.to_dict(),
            "cutoff": self.cutoff,
            **({"saved_at": tag} if tag else {}),
        }
        return save_model(out_dir, self.model, self.model_config, meta, state_dict=state)


@dataclass(frozen=True)
class _DirectionBatch:
    """What :func:`induced_directions_for` reads of a batch, built without a neighbour list."""

    magmoms: torch.Tensor        # [N, 3] muB
    batch: torch.Tensor          # [N] graph index
    n_graphs: int
    numbers: torch.Tensor        # [N]


class TrainingDivergedError(RuntimeError):
    """The loss became non-finite: training stops, the last good checkpoint stays."""


def _matches(name: str, pattern: str) -> bool:
    """fnmatch pattern, or a dotted prefix: 'interactions.0' freezes 'interactions.0.*'."""
    return fnmatch.fnmatchcase(name, pattern) or name.startswith(pattern + ".")


def _finite(d: dict) -> dict:
    """NaN -> None so that the JSON is standard."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()}


def _progress(items, enabled: bool, desc: str):
    if not enabled:
        return items
    from tqdm import tqdm
    return tqdm(items, desc=desc, leave=False, dynamic_ncols=True)


def train(cfg: TrainConfig, on_epoch_end=None, ctx: Optional[DistContext] = None) -> dict:
    """Set up and run a training; returns the final metrics. ctx: the data-parallel context
    (default: from the launcher's environment)."""
    return Trainer(cfg, ctx).setup().fit(on_epoch_end)
