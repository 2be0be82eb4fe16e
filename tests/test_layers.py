"""The rooms that must run without torch (mc/, baseline/, export/, dynamics/, the registry, a
user's comparison):
every module of them imports, and a baseline is fitted and its Heisenberg model sampled, in a
process where importing torch or e3nn fails loudly."""
import ast
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_torch_free_rooms_never_import_torch():
    rooms = ("mc", "baseline", "export", "dynamics")
    modules = sorted({f"mmace_fast.{room}.{p.stem}" for room in rooms
                      for p in (ROOT / "mmace_fast" / room).glob("*.py")
                      if p.stem not in ("__init__", "__main__", "testing")}
                     | {"mmace_fast.materials", "mmace_fast.prototypes", "mmace_fast.datasets",
                        "mmace_fast.checks", "mmace_fast.conventions",
                        "mmace_fast.compare.calibration", "mmace_fast.compare.user",
                        "mmace_fast.compare.thermo", "mmace_fast.compare.accuracy"})
    code = textwrap.dedent(f"""
        import importlib, sys
        class Refuse:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("torch", "e3nn"):
                    raise ImportError("torch-free room imported " + name)
        sys.meta_path.insert(0, Refuse())
        for name in {modules!r}:
            importlib.import_module(name)
        from mmace_fast.export.committee import FrozenCommittee  # noqa: F401
        from mmace_fast.baseline import fit_material, to_spin_hamiltonian
        from mmace_fast.mc.engine import MonteCarlo
        from mmace_fast.mc.lattice import material_lattice
        fit = fit_material("fe")
        lat = material_lattice("bcc_Fe", 2, 2.866)
        ham = to_spin_hamiltonian(fit.model, lat, moment_lengths=dict(fit.moments))
        import numpy as np
        MonteCarlo(ham, np.tile([0.0, 0.0, 1.0], (lat.n_sites, 1)), 500.0, seed=1).sample(5)
        assert not any(m.split(".")[0] in ("torch", "e3nn") for m in sys.modules)
        print("ok", len({modules!r}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().startswith("ok")


def _imports(path: Path) -> set:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            if node.module == "mmace_fast":
                names |= {f"mmace_fast.{a.name}" for a in node.names}
    return names


def test_nothing_outside_training_imports_training():
    """Inference, export, Monte Carlo and comparison never import mmace_fast.training (the
    command-line front door, mmace_fast/cli.py, dispatches `mmace train` to it, lazily)."""
    pkg = ROOT / "mmace_fast"
    offenders = []
    for path in sorted(pkg.rglob("*.py")):
        rel = path.relative_to(pkg)
        if rel.parts[0] == "training" or rel == Path("cli.py"):
            continue
        bad = sorted(n for n in _imports(path) if n == "mmace_fast.training"
                     or n.startswith("mmace_fast.training."))
        if bad:
            offenders.append(f"{rel}: {bad}")
    assert not offenders, offenders
