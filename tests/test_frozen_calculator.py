"""The torch-free ASE calculator on a frozen model file: the torch calculator's energies, forces,
stress and magnetic forces to 1e-10, the same refusals, and moment and structure (cell)
relaxation with no torch in the process."""
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import PropertyNotImplementedError

from mmace_fast.calculator import FrozenCalculator, MMACECalculator
from mmace_fast.models import frozen_calculator, frozen_path, model_dir

ROOT = Path(__file__).resolve().parents[1]


def _atoms(seed=0):
    atoms = bulk("Fe", "bcc", a=2.866, cubic=True).repeat((2, 2, 2))
    del atoms.arrays["initial_magmoms"]           # ase.build gives Fe collinear moments
    rng = np.random.default_rng(seed)
    atoms.positions += rng.normal(0, 0.03, atoms.positions.shape)
    m = rng.normal(size=(len(atoms), 3))
    atoms.set_initial_magnetic_moments(2.2 * m / np.linalg.norm(m, axis=1)[:, None])
    return atoms


def test_frozen_calculator_gives_the_torch_calculators_energies():
    atoms = _atoms()
    atoms.calc = FrozenCalculator(frozen_path("fe", "mc"))
    e = atoms.get_potential_energy()
    site = atoms.calc.results["energies"].copy()
    ref = _atoms()
    ref.calc = MMACECalculator(model_dir("fe", "mc"))
    assert e == pytest.approx(ref.get_potential_energy(), rel=1e-10, abs=1e-10)
    np.testing.assert_allclose(site, ref.calc.results["energies"], rtol=0, atol=1e-10)
    # forces, stress and magnetic forces from the C++ reverse pass equal torch's autograd
    for prop in ("forces", "stress", "magforces"):
        np.testing.assert_allclose(atoms.calc.get_property(prop, atoms),
                                   ref.calc.get_property(prop, ref), rtol=0, atol=1e-10)
    # moments are part of the state: changing them recalculates
    atoms.set_initial_magnetic_moments(np.tile([0.0, 0.0, 2.2], (len(atoms), 1)))
    assert atoms.get_potential_energy() != pytest.approx(e)
    atoms.pbc = [True, True, False]
    with pytest.raises(PropertyNotImplementedError):
        atoms.get_stress()
    assert frozen_calculator("fe", "mc").model.sha256 == atoms.calc.model.sha256


def test_frozen_calculator_refuses_what_the_torch_one_refuses():
    atoms = bulk("Fe", "bcc", a=2.866, cubic=True)
    del atoms.arrays["initial_magmoms"]
    atoms.calc = FrozenCalculator(frozen_path("fe", "mc"))
    with pytest.raises(ValueError, match="no initial magnetic moments"):
        atoms.get_potential_energy()
    atoms.calc = FrozenCalculator(frozen_path("fe", "mc"), nonmagnetic=True)
    assert np.isfinite(atoms.get_potential_energy())
    al = bulk("Al", "fcc", a=4.05)
    al.set_initial_magnetic_moments([0.0])
    al.calc = FrozenCalculator(frozen_path("fe", "mc"))
    with pytest.raises(ValueError, match="unknown to the model"):
        al.get_potential_energy()


def test_frozen_calculator_runs_without_torch():
    code = textwrap.dedent("""
        import sys
        class Refuse:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("torch", "e3nn"):
                    raise ImportError("imported " + name)
        sys.meta_path.insert(0, Refuse())
        from ase.build import bulk
        from mmace_fast.models import frozen_calculator
        import numpy as np
        from ase.filters import FrechetCellFilter
        from ase.optimize import BFGS
        from mmace_fast.export.relax import relax_moments
        atoms = bulk("Fe", "bcc", a=2.80, cubic=True).repeat((2, 1, 1))
        atoms.positions[0] += [0.05, 0.0, 0.02]
        atoms.set_initial_magnetic_moments([2.0, 2.4, 2.1, 2.2])
        atoms.calc = frozen_calculator("fe")
        e0 = atoms.get_potential_energy()
        m, e = relax_moments(atoms.calc.model, atoms, fix_directions=True, gtol=1e-8)
        atoms.set_initial_magnetic_moments(m[:, 2])
        assert e < e0 and abs(atoms.get_potential_energy() - e) < 1e-9
        BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=1e-3, steps=200)
        assert np.abs(atoms.get_forces()).max() < 1e-3 and atoms.get_potential_energy() < e
        print("ok", atoms.get_potential_energy(), atoms.cell[0, 0] / 2)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("ok")
