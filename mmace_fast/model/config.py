"""ModelConfig: every constructor argument of :class:`mmace_fast.model.MMACE`, JSON-serialisable."""
from __future__ import annotations

import dataclasses
import json
import math
import numbers
from dataclasses import dataclass, field
from typing import List, Optional


class ModelConfigError(ValueError):
    """Invalid model configuration."""


#: integer hyper-parameters and their smallest allowed value
INT_MIN = {"n_bessel": 1, "cutoff_p": 1, "n_channels": 1, "l_max_sh": 0, "l_max_message": 0,
           "l_max_hidden": 0, "n_layers": 1, "correlation": 1, "l_spin_max": 0,
           "spin_pair_l_max": 0, "n_mag_features": 1, "landau_order": 0}
#: real hyper-parameters: True = must be > 0, False = any finite value
REALS = {"r_cut": True, "avg_num_neighbors": True, "scale": False, "shift": False}
#: lists of layer widths (positive integers)
WIDTHS = ("radial_mlp", "readout_mlp")
FLAGS = ("soc", "centre_spin")


def _integer(name: str, x) -> int:
    """x as an int, refusing bools, non-numbers and fractions (2.5 channels is no model)."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or (
            not isinstance(x, numbers.Integral) and not (math.isfinite(x)
                                                         and float(x).is_integer())):
        raise ModelConfigError(f"{name} must be an integer, got {x!r}")
    return int(x)


def _real(name: str, x, positive: bool) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not math.isfinite(x):
        raise ModelConfigError(f"{name} must be a finite number, got {x!r}")
    if positive and x <= 0:
        raise ModelConfigError(f"{name} must be positive, got {x!r}")
    return x


@dataclass
class ModelConfig:
    """Hyper-parameters of an mMACE model. ``model.state_dict()`` + ``to_dict()`` rebuild it.

    species            atomic numbers the model knows, in embedding order
    r_cut              cutoff radius, A
    n_bessel           number of Bessel radial functions
    cutoff_p           power p of the polynomial envelope (value and first two derivatives
                       vanish at r_cut)
    radial_mlp         hidden widths of the radial MLP (bias-free, SiLU)
    n_channels         channels C of node features
    l_max_sh           max l of bond spherical harmonics Y(r_ij)
    l_max_message      max l of the per-channel message / A-basis irreps
    l_max_hidden       max l of hidden node features between layers (last layer keeps 0e only)
    n_layers           interaction layers
    correlation        body order - 1 of the symmetric contraction (1..4)
    readout_mlp        hidden widths of the last-layer readout MLP (SiLU)
    avg_num_neighbors  normalisation of the neighbour sum (set from data)
    soc                False: space O(3) x spin O(3) invariant; True: joint rotations only,
                       moments axial (1e)
    l_spin_max         max l of the solid harmonics of moments
    spin_pair_l_max    SOC: max L of the spin-pair tensor [Y_la(m_i) x Y_lb(m_j)]_L
    n_mag_features     bounded Chebyshev features T_k(1 - 2 x / d), k < n, with
                       x = (|m| / moment_scale(Z))^2, d = (1 + x^4)^(1/4) (harmonics of
                       m~ / sqrt(d); see mmace_fast.model.magnetic)
    moment_scale       per species, muB (same order as ``species``); None -> 3.0 for all
    centre_spin        couple the centre atom's own moment (ablation switch: False uses only
                       sender moments; cannot represent J m_i.m_j)
    landau_order       K of the one-body term E1 = sum_{k=1..K} a_k(Z) x^k (0 = off); the top
                       a_K = softplus(landau[:, K-1]) > 0 always (MMACE.landau_coefficients)
    e0                 per-species reference energies, eV (None -> zeros)
    scale, shift       E_i = e0(Z_i) + scale * (sum of layer readouts) + shift + E1_i
    """

    species: List[int]
    r_cut: float = 5.0
    n_bessel: int = 8
    cutoff_p: int = 6
    radial_mlp: List[int] = field(default_factory=lambda: [64, 64])
    n_channels: int = 32
    l_max_sh: int = 3
    l_max_message: int = 3
    l_max_hidden: int = 1
    n_layers: int = 2
    correlation: int = 3
    readout_mlp: List[int] = field(default_factory=lambda: [16])
    avg_num_neighbors: float = 1.0
    soc: bool = False
    l_spin_max: int = 2
    spin_pair_l_max: int = 2
    n_mag_features: int = 4
    moment_scale: Optional[List[float]] = None
    centre_spin: bool = True
    landau_order: int = 2
    e0: Optional[List[float]] = None
    scale: float = 1.0
    shift: float = 0.0

    def __post_init__(self):
        if isinstance(self.species, (str, bytes)) or not hasattr(self.species, "__iter__"):
            raise ModelConfigError(f"species must be a list of atomic numbers, got "
                                   f"{self.species!r}")
        self.species = [_integer("species", z) for z in self.species]
        for name, lo in INT_MIN.items():
            v = _integer(name, getattr(self, name))
            if v < lo:
                raise ModelConfigError(f"{name} must be >= {lo}, got {v}")
            setattr(self, name, v)
        for name, positive in REALS.items():
            setattr(self, name, float(_real(name, getattr(self, name), positive)))
        for name in WIDTHS:
            widths = [_integer(name, w) for w in getattr(self, name)]
            if any(w < 1 for w in widths):
                raise ModelConfigError(f"{name} widths must be >= 1, got {widths}")
            setattr(self, name, widths)
        for name in FLAGS:
            if not isinstance(getattr(self, name), bool):
                raise ModelConfigError(f"{name} must be true or false, got "
                                       f"{getattr(self, name)!r}")
        for name, positive in (("moment_scale", True), ("e0", False)):
            if getattr(self, name) is not None:
                setattr(self, name, [float(_real(name, v, positive))
                                     for v in getattr(self, name)])
        self.validate()

    def validate(self) -> None:
        if not self.species:
            raise ModelConfigError("species must not be empty")
        if len(set(self.species)) != len(self.species):
            raise ModelConfigError(f"duplicate species {self.species}")
        if any(z < 1 or z > 118 for z in self.species):
            raise ModelConfigError(f"atomic numbers must be in 1..118, got {self.species}")
        if self.r_cut <= 0:
            raise ModelConfigError(f"r_cut must be positive, got {self.r_cut}")
        if not 1 <= self.correlation <= 4:
            raise ModelConfigError(f"correlation must be 1..4, got {self.correlation}")
        if self.n_layers < 1:
            raise ModelConfigError("n_layers must be >= 1")
        if self.n_mag_features < 1:
            raise ModelConfigError("n_mag_features must be >= 1")
        if self.l_max_message > self.l_max_sh + self.l_max_hidden + self.spin_pair_l_max:
            raise ModelConfigError("l_max_message unreachable")
        for name in ("moment_scale", "e0"):
            val = getattr(self, name)
            if val is not None and len(val) != len(self.species):
                raise ModelConfigError(f"{name} needs one value per species "
                                       f"({len(self.species)}), got {len(val)}")
        if self.moment_scale is not None and any(s <= 0 for s in self.moment_scale):
            raise ModelConfigError("moment_scale must be positive")
        if self.avg_num_neighbors <= 0:
            raise ModelConfigError("avg_num_neighbors must be positive")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ModelConfigError(f"unknown ModelConfig keys {sorted(unknown)}")
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ModelConfig":
        return cls.from_dict(json.loads(text))
