"""mMACE model: magnetic equivariant MACE with exact symmetries (see :mod:`.mmace`)."""
from mmace_fast.model.config import ModelConfig, ModelConfigError
from mmace_fast.model.mmace import LandauCoefficientError, MMACE, UnknownSpeciesError

__all__ = ["LandauCoefficientError", "MMACE", "ModelConfig", "ModelConfigError",
           "UnknownSpeciesError"]
