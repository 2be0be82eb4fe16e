"""The shipped frozen files (mmace_fast/models/<m>/model.mmace) are the shipped torch models:
re-freezing each model.pt reproduces the file's sha256 (a retrained model without a re-freeze
fails here), and the C++ energies of the shipped test frames equal the torch ones to 1e-10."""
import gzip
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ase.io import read  # noqa: E402

from mmace_fast.export import format as fmt  # noqa: E402
from mmace_fast.export.freeze import freeze  # noqa: E402
from mmace_fast.models import (available, default_calculator, frozen_path,  # noqa: E402
                               load_default, load_frozen)

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.mark.parametrize("material", available())
def test_frozen_file_is_current(material):
    model, _, _ = load_default(material)
    header, arrays = freeze(model)
    fresh = fmt.decode(fmt.encode(header, arrays)).sha256
    assert fresh == fmt.read(frozen_path(material)).sha256, (
        f"{frozen_path(material)} is stale: run `python -m mmace_fast.models freeze`")


@pytest.mark.parametrize("material", available())
def test_frozen_energy_equals_torch_on_shipped_frames(material):
    calc = default_calculator(material)
    frozen = load_frozen(material)
    with gzip.open(DATA / f"{material}.extxyz.gz", "rt") as fh:
        frames = read(fh, index=":3", format="extxyz")
    for atoms in frames:
        m = np.asarray(atoms.arrays["REF_magmom"], dtype=float)
        atoms.set_initial_magnetic_moments(m)
        e_cpp = frozen.energy(atoms)
        a = atoms.copy()
        a.set_initial_magnetic_moments(m)
        a.calc = calc
        assert e_cpp == pytest.approx(a.get_potential_energy(), rel=1e-10, abs=1e-10)
