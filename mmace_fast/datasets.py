"""The shipped GPAW data sets (data/ in a clone, mmace_fast/_data in an installed package): the
one place that says where a reader finds them.

``data_dir()`` is ``$MMACE_DATA_DIR`` if set (e.g. a frozen snapshot, so that a long run is not
fed a file the DFT pipeline rewrites halfway), else the repository's data/ when running from a
clone, else the copy the wheel carries (setup.py copies data/ into mmace_fast/_data at build
time). The DFT pipeline writes only to the repository's data/.
"""
from __future__ import annotations

import os
from pathlib import Path

from mmace_fast.materials import MATERIALS

#: name -> file of the shipped data (energies, forces, stresses, moments, magnetic forces): every
#: material of the registry (mmace_fast.materials) under its key, its spin spirals under
#: "<key>_spirals"
SHIPPED = {name: file for m in MATERIALS.values()
           for name, file in ((m.key, m.data_file), (f"{m.key}_spirals", m.spirals_file)) if file}

_PACKAGE = Path(__file__).resolve().parent
REPO_DATA = _PACKAGE.parent / "data"          #: the clone's data/ (absent when installed)
PACKAGE_DATA = _PACKAGE / "_data"             #: the wheel's copy


def data_dir() -> Path:
    """Where the shipped data files are read (see the module docstring)."""
    env = os.environ.get("MMACE_DATA_DIR")
    if env:
        return Path(env)
    if (REPO_DATA / SHIPPED["fe"]).exists():
        return REPO_DATA
    return PACKAGE_DATA


def shipped_path(name: str) -> Path:
    """Path of the shipped data set ``name`` (a key of :data:`SHIPPED`); FileNotFoundError
    saying where it was looked for."""
    if name not in SHIPPED:
        raise KeyError(f"no shipped data set {name!r}; choose from {sorted(SHIPPED)}")
    path = data_dir() / SHIPPED[name]
    if not path.exists():
        raise FileNotFoundError(f"shipped data set {name!r} not found at {path} (set "
                                "MMACE_DATA_DIR, or reinstall the package with its data)")
    return path
