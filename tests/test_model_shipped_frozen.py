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
from mmace_fast.models import (GRADES, available, torch_calculator,  # noqa: E402
                               frozen_path, load_default, load_frozen)

DATA = Path(__file__).resolve().parents[1] / "data"
#: every shipped model: (material, grade)
SHIPPED = [(m, g) for g in GRADES for m in available(g)]


@pytest.mark.parametrize("material, grade", SHIPPED)
def test_frozen_file_is_current(material, grade):
    """Re-freezing model.pt gives the shipped file: same header and integer tables, float
    arrays equal to 1e-14 relative (a softplus or a sum may round differently on another
    machine by an ulp, which changes the sha256 but not the model; a retrained model differs
    at the 1e-3 level)."""
    model, _, _ = load_default(material, grade)
    header, arrays = freeze(model)
    fresh = fmt.decode(fmt.encode(header, arrays))
    shipped = fmt.read(frozen_path(material, grade))
    stale = (f"{frozen_path(material, grade)} is stale: run `python -m mmace_fast.models "
             f"freeze --grade {grade}`")
    assert fresh.header == shipped.header, stale
    assert set(fresh.arrays) == set(shipped.arrays), stale
    for name, a in fresh.arrays.items():
        b = shipped.arrays[name]
        assert a.dtype == b.dtype and a.shape == b.shape, (name, stale)
        if np.issubdtype(a.dtype, np.floating):
            scale = max(1.0, float(np.abs(b).max(initial=0.0)))
            assert np.abs(a - b).max(initial=0.0) <= 1e-14 * scale, (name, stale)
        else:
            assert np.array_equal(a, b), (name, stale)


@pytest.mark.parametrize("material, grade", SHIPPED)
def test_frozen_energy_equals_torch_on_shipped_frames(material, grade):
    calc = torch_calculator(material, grade)
    frozen = load_frozen(material, grade)
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
