"""Freezing trained mMACE models into a versioned flat file, and torch-free loading of it.

- :mod:`mmace_fast.export.format`  the file format (magic, version, JSON header, sha256, arrays)
- :mod:`mmace_fast.export.freeze`  MMACE (torch) -> arrays (imports torch; only for exporting)
- :mod:`mmace_fast.export.frozen`  :class:`FrozenModel`: file -> C++ evaluator (no torch):
  energies, forces, stress and magnetic forces
- :mod:`mmace_fast.export.relax`   torch-free moment relaxation with a frozen model
"""
from mmace_fast.export.format import FrozenFormatError
from mmace_fast.export.frozen import FrozenModel, UnknownSpeciesError

__all__ = ["FrozenFormatError", "FrozenModel", "UnknownSpeciesError", "export_model"]


def export_model(model, path) -> str:
    """Freeze a PyTorch :class:`mmace_fast.model.MMACE` into ``path``; returns its sha256."""
    from mmace_fast.export.freeze import export_model as _export
    return _export(model, path)
