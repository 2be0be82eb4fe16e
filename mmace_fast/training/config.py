"""Training configuration: one dataclass, loadable from JSON or YAML, with validation.

Every field is a plain value (str, number, bool, list, dict), so the config round-trips through
JSON exactly and is stored verbatim in every checkpoint.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Optional, Union

LOSS_KINDS = ("mse", "huber")
SCHEDULERS = ("plateau", "cosine", "none")
STABILITY_PROFILES = ("constant", "landau")   #: moment-stability threshold t(s), see loss.py
INDUCED_DIRECTION_MODES = ("random", "mixed")  #: induced-moment prior directions, see loss.py
#: how committee members (and learning curves) resample their training frames (see
#: TrainConfig.resample)
RESAMPLE_KINDS = ("bootstrap", "kfold", "subset")
#: how a fine-tune sets its species reference energies (see TrainConfig.init_e0s)
INIT_E0S = ("pretrained", "refit", "new")
#: labels a config_type_weights entry may scale ("all": every one of them)
CONFIG_WEIGHT_LABELS = ("energy", "forces", "stress", "magforces", "all")


class ConfigError(ValueError):
    """Bad training configuration."""


@dataclass
class TrainConfig:
    # --- data --------------------------------------------------------------------------------
    train_file: Union[str, list] = ""            #: path or list of paths (extxyz / MP JSON)
    valid_file: Union[str, list, None] = None    #: separate validation data (else split)
    test_file: Union[str, list, None] = None     #: evaluated once at the end, never trained on
    non_magnetic: bool = False                   #: frames without moments get zero moments
    extxyz_keys: dict = field(default_factory=dict)   #: overrides of readers.ExtxyzKeys
    stress_voigt_order: str = "ase"              #: 6-number stresses in MP JSON: "ase"|"vasp"
    valid_fraction: float = 0.1                  #: used when no valid_file and no 'split' key
    #: committee members and learning curves: resample the training frames after the split
    #: (valid and test frames are never touched). None (all training frames, once each),
    #: {"kind": "bootstrap", "seed": s} (as many frames drawn with replacement),
    #: {"kind": "kfold", "folds": K, "fold": k, "seed": s} (fold k of a seeded K-way partition
    #: left out) or {"kind": "subset", "n": N, "seed": s} (N frames drawn without replacement)
    resample: Optional[dict] = None
    # --- model -------------------------------------------------------------------------------
    model: dict = field(default_factory=dict)    #: ModelConfig kwargs; species from data if absent
    e0s: Union[str, dict] = "fit"                #: "fit" (least squares), "zero", or {Z: eV}
    # --- loss --------------------------------------------------------------------------------
    loss: str = "mse"                            #: "mse" or "huber"
    huber_delta: float = 0.01
    energy_weight: float = 1.0                   #: on (E/atom)^2, eV^2
    forces_weight: float = 100.0                 #: mace default
    stress_weight: float = 1.0
    magforces_weight: float = 100.0              #: mace magnetic branch default
    #: per-frame weight factors by config_type: {fnmatch pattern: {label: factor}} with label
    #: one of CONFIG_WEIGHT_LABELS ("all" multiplies every label); a frame matched by several
    #: patterns gets the product. Applied to the train and valid frames on top of the file's
    #: config_*_weight keys (MACE's config_type_weights). E.g. {"ideal2_aniso_*": {"energy": 30}}
    #: makes the direction dependence of one geometry (FePt's anisotropy, 1.8 meV/f.u.) count
    #: against energy errors of a few meV/atom elsewhere
    config_type_weights: dict = field(default_factory=dict)
    #: longitudinal moment-stability prior (0 = off; see mmace_fast.training.loss)
    moment_stability_weight: float = 0.0
    #: moment scale factors s are drawn from [lo, hi] by a golden-ratio sequence, one per batch
    moment_stability_range: list = field(default_factory=lambda: [0.5, 2.0])
    moment_stability_min_moment: float = 0.5     #: muB; smaller moments are not constrained
    moment_stability_curvature: float = 0.02     #: eV/muB^2, minimum ray curvature
    #: "constant" (threshold c_min at every s) or "landau" (c_min s (s + 1) / 2: a quartic well)
    moment_stability_profile: str = "constant"
    #: induced-moment prior (same weight and curvature): atomic numbers of the species that
    #: carry no moment of their own (e.g. [13] for Al in FeAl); their moments are moved by r
    #: along random directions, r drawn from ``moment_stability_induced_range`` (muB)
    moment_stability_induced_species: list = field(default_factory=list)
    moment_stability_induced_range: list = field(default_factory=lambda: [0.3, 2.0])
    #: "random" (random unit vectors) or "mixed" (alternating with +-axis sign patterns)
    moment_stability_induced_directions: str = "random"
    #: collapse prior (same weight): frames whose SCF went from magnetic starting moments
    #: (some |m_start| > moment_collapse_min_start) to zero moments (every |m| below
    #: moment_collapse_max_moment) must have an energy rising along the path from the converged
    #: to the starting moments; s (fraction of the path) from moment_collapse_range
    moment_collapse_prior: bool = False
    moment_collapse_range: list = field(default_factory=lambda: [0.05, 1.0])
    moment_collapse_curvature: float = 0.01      #: eV/muB^2
    moment_collapse_max_moment: float = 0.1      #: muB
    moment_collapse_min_start: float = 0.5       #: muB
    # --- optimisation ------------------------------------------------------------------------
    seed: int = 0
    batch_size: int = 4
    valid_batch_size: int = 8
    max_epochs: int = 100
    lr: float = 0.01
    weight_decay: float = 5e-7
    amsgrad: bool = True
    clip_grad: Optional[float] = 10.0
    ema: bool = True
    ema_decay: float = 0.99
    scheduler: str = "plateau"                   #: "plateau" | "cosine" | "none"
    lr_factor: float = 0.8                       #: plateau: multiply lr by this
    scheduler_patience: int = 50                 #: plateau: epochs without improvement
    lr_min: float = 0.0                          #: cosine: final lr
    patience: Optional[int] = 100                #: early stopping (epochs); None = off
    #: which model model.pt holds: "best" = lowest validation loss (early-stopping selection),
    #: "last" = the final epoch's (EMA) weights. With a handful of validation frames the best-
    #: valid pick can land on an undertrained high-lr epoch whose loss is lower by noise (Fe,
    #: 2026-12-06: epoch 71 of 400 by 0.1 %, worse on every valid MAE than the converged
    #: model); "last" with a decaying schedule keeps the converged model, valid is then a report
    keep_model: str = "best"
    # --- fine-tuning -------------------------------------------------------------------------
    init_from: Optional[str] = None              #: model dir (model.pt + model.json) or ckpt
    init_strict: bool = True                     #: all parameter names must match
    #: the species reference energies of a fine-tune: "pretrained" (kept as they are),
    #: "refit" (shifted by the least-squares per-species fit of the pre-trained model's
    #: energy residuals on the training frames, for the species those contain: a new
    #: material's energies relative to the pre-training data; other species keep theirs) or
    #: "new" (only the species the pre-trained model lacked are fitted to the residuals; the
    #: pre-trained species keep their energies)
    init_e0s: str = "pretrained"
    #: species of the data that the pre-trained model (a model directory) lacks are added to
    #: it (mmace_fast.model.species.add_species: the same function on the known species, the
    #: mean of their weights as the start of a new one); False: such data are refused
    init_new_species: bool = True
    freeze: list = field(default_factory=list)   #: fnmatch patterns of parameter names
    # --- bookkeeping -------------------------------------------------------------------------
    out_dir: str = "runs/mmace"
    resume: bool = True                          #: continue from out_dir/checkpoint.pt
    progress: bool = True                        #: tqdm bar over batches
    #: where the model trains: the trainer runs on the CPU only (several CPU processes:
    #: mmace_fast.training.distributed); any other value is refused rather than ignored
    device: str = "cpu"

    def __post_init__(self):
        self.validate()

    #: real-valued settings: a number, finite (bools are not numbers here)
    _REALS = ("energy_weight", "forces_weight", "stress_weight", "magforces_weight",
              "moment_stability_weight", "lr", "lr_min", "weight_decay", "ema_decay",
              "valid_fraction")
    #: integer settings
    _INTS = ("batch_size", "valid_batch_size", "max_epochs")

    def _validate_types(self) -> None:
        """Type and finiteness of the scalar settings, with the key in the message (a NaN
        weight would otherwise train as if it were 0, a string lr fail deep in torch)."""
        import math
        for name in self._REALS:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ConfigError(f"{name} must be a number, got {v!r} (YAML reads 1e-3 as a "
                                  "string: write 1.0e-3)")
            if not math.isfinite(v):
                raise ConfigError(f"{name} must be finite, got {v!r}")
        for name in self._INTS:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise ConfigError(f"{name} must be an integer, got {v!r}")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown training config keys: {unknown}")
        return cls(**d)

    @classmethod
    def from_file(cls, path) -> "TrainConfig":
        """JSON (.json) or YAML (.yaml / .yml) file -> TrainConfig."""
        path = Path(path)
        text = path.read_text()
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml
            d = yaml.safe_load(text) or {}
        elif path.suffix.lower() == ".json":
            d = json.loads(text)
        else:
            raise ConfigError(f"{path}: config must be .json, .yaml or .yml")
        if not isinstance(d, dict):
            raise ConfigError(f"{path}: top level must be a mapping")
        return cls.from_dict(d)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)

    def replace(self, **changes) -> "TrainConfig":
        d = self.to_dict()
        d.update(changes)
        return TrainConfig.from_dict(d)

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        self._validate_types()
        if self.loss not in LOSS_KINDS:
            raise ConfigError(f"loss must be one of {LOSS_KINDS}, got {self.loss!r}")
        if self.scheduler not in SCHEDULERS:
            raise ConfigError(f"scheduler must be one of {SCHEDULERS}, got {self.scheduler!r}")
        if self.stress_voigt_order not in ("ase", "vasp"):
            raise ConfigError("stress_voigt_order must be 'ase' or 'vasp'")
        if self.init_e0s not in INIT_E0S:
            raise ConfigError(f"init_e0s must be one of {INIT_E0S}, got {self.init_e0s!r}")
        if self.device != "cpu":
            raise ConfigError(f"device {self.device!r}: the trainer runs on the CPU only "
                              "(data-parallel over processes: torchrun --nproc_per_node N -m "
                              "mmace_fast.training train ...)")
        if self.moment_stability_weight > 0:
            rng = self.moment_stability_range
            if (not isinstance(rng, (list, tuple)) or len(rng) != 2
                    or not 0 < float(rng[0]) < 1 < float(rng[1])):
                raise ConfigError("moment_stability_range must be [lo, hi] with 0 < lo < 1 < hi, "
                                  f"got {rng!r}")
            if self.moment_stability_profile not in STABILITY_PROFILES:
                raise ConfigError(f"moment_stability_profile must be one of "
                                  f"{STABILITY_PROFILES}, got {self.moment_stability_profile!r}")
            rng = self.moment_stability_induced_range
            if (not isinstance(rng, (list, tuple)) or len(rng) != 2
                    or not 0 < float(rng[0]) <= float(rng[1])):
                raise ConfigError("moment_stability_induced_range must be [lo, hi] muB with "
                                  f"0 < lo <= hi, got {rng!r}")
            if self.moment_stability_induced_directions not in INDUCED_DIRECTION_MODES:
                raise ConfigError("moment_stability_induced_directions must be one of "
                                  f"{INDUCED_DIRECTION_MODES}, "
                                  f"got {self.moment_stability_induced_directions!r}")
            if not all(isinstance(z, int) and 0 < z < 119
                       for z in self.moment_stability_induced_species):
                raise ConfigError("moment_stability_induced_species must be atomic numbers, "
                                  f"got {self.moment_stability_induced_species!r}")
        if self.moment_collapse_prior:
            if not self.moment_stability_weight > 0:
                raise ConfigError("moment_collapse_prior is weighted by moment_stability_weight, "
                                  "which is 0: set it > 0 or switch the prior off")
            rng = self.moment_collapse_range
            if (not isinstance(rng, (list, tuple)) or len(rng) != 2
                    or not all(isinstance(x, (int, float)) for x in rng)
                    or not 0 < float(rng[0]) <= float(rng[1]) <= 1):
                raise ConfigError("moment_collapse_range must be [lo, hi] with "
                                  f"0 < lo <= hi <= 1 (fractions of the path), got {rng!r}")
            if not 0 <= self.moment_collapse_max_moment < self.moment_collapse_min_start:
                raise ConfigError("need 0 <= moment_collapse_max_moment < "
                                  "moment_collapse_min_start")
        self._validate_config_type_weights()
        self._validate_resample()
        for name in ("energy_weight", "forces_weight", "stress_weight", "magforces_weight",
                     "moment_stability_weight", "moment_stability_min_moment",
                     "moment_collapse_curvature",
                     "weight_decay", "lr_min"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0")
        for name in ("batch_size", "valid_batch_size", "max_epochs"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1")
        if not 0.0 <= self.valid_fraction < 1.0:
            raise ConfigError("valid_fraction must be in [0, 1)")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError("ema_decay must be in [0, 1)")
        if self.lr <= 0:
            raise ConfigError("lr must be > 0")
        if not isinstance(self.e0s, dict) and self.e0s not in ("fit", "zero"):
            raise ConfigError("e0s must be 'fit', 'zero' or a mapping {Z: energy}")
        if not isinstance(self.freeze, list) or not all(isinstance(p, str) for p in self.freeze):
            raise ConfigError("freeze must be a list of parameter-name patterns")
        if self.patience is not None and self.patience < 1:
            raise ConfigError("patience must be >= 1 or null")
        if self.keep_model not in ("best", "last"):
            raise ConfigError(f"keep_model must be 'best' or 'last', got {self.keep_model!r}")
        if self.keep_model == "last" and self.patience is not None:
            raise ConfigError("keep_model 'last' keeps the final epoch: early stopping "
                              "(patience) would end on a stale model; set patience: null")

    def _validate_resample(self) -> None:
        r = self.resample
        if r is None:
            return
        if not isinstance(r, dict) or r.get("kind") not in RESAMPLE_KINDS:
            raise ConfigError(f"resample must be null or a mapping with kind one of "
                              f"{RESAMPLE_KINDS}, got {r!r}")
        need = {"bootstrap": {"kind", "seed"},
                "kfold": {"kind", "seed", "folds", "fold"},
                "subset": {"kind", "seed", "n"}}[r["kind"]]
        if set(r) != need:
            raise ConfigError(f"resample {r['kind']} takes exactly the keys {sorted(need)}, "
                              f"got {sorted(r)}")
        for key in need - {"kind"}:
            v = r[key]
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ConfigError(f"resample[{key!r}] must be an integer >= 0, got {v!r}")
        if r["kind"] == "kfold" and not (r["folds"] >= 2 and 0 <= r["fold"] < r["folds"]):
            raise ConfigError(f"resample kfold needs folds >= 2 and 0 <= fold < folds, got {r!r}")
        if r["kind"] == "subset" and r["n"] < 1:
            raise ConfigError(f"resample subset needs n >= 1, got {r!r}")

    def _validate_config_type_weights(self) -> None:
        ctw = self.config_type_weights
        if not isinstance(ctw, dict):
            raise ConfigError("config_type_weights must be a mapping {pattern: {label: factor}}, "
                              f"got {type(ctw).__name__}")
        for pattern, factors in ctw.items():
            if not isinstance(pattern, str) or not pattern:
                raise ConfigError(f"config_type_weights: pattern {pattern!r} must be a "
                                  "non-empty string")
            if not isinstance(factors, dict) or not factors:
                raise ConfigError(f"config_type_weights[{pattern!r}] must be a non-empty "
                                  f"mapping {{label: factor}}, got {factors!r}")
            for label, f in factors.items():
                if label not in CONFIG_WEIGHT_LABELS:
                    raise ConfigError(f"config_type_weights[{pattern!r}]: unknown label "
                                      f"{label!r} (one of {CONFIG_WEIGHT_LABELS})")
                if (isinstance(f, bool) or not isinstance(f, (int, float))
                        or not math.isfinite(f) or f < 0):
                    raise ConfigError(f"config_type_weights[{pattern!r}][{label!r}] must be a "
                                      f"finite number >= 0, got {f!r}")

    @property
    def train_files(self) -> list:
        return _as_list(self.train_file)

    @property
    def valid_files(self) -> list:
        return _as_list(self.valid_file)

    @property
    def test_files(self) -> list:
        return _as_list(self.test_file)


def _as_list(x) -> list:
    if x is None or x == "":
        return []
    return [str(p) for p in x] if isinstance(x, (list, tuple)) else [str(x)]
