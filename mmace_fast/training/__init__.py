"""Training of mMACE models: config, loop, checkpoints, fine-tuning, CLI.

    from mmace_fast.training import TrainConfig, train
    train(TrainConfig.from_file("cfg.yaml"))

or ``python -m mmace_fast.training train --config cfg.yaml``.
"""
from mmace_fast.training.config import ConfigError, TrainConfig
from mmace_fast.model.io import load_model, save_model
from mmace_fast.training.trainer import Trainer, evaluate_configs, train

__all__ = ["ConfigError", "TrainConfig", "Trainer", "evaluate_configs", "load_model",
           "save_model", "train"]
