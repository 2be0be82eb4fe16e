"""Fine-tuning as a user runs it (issue 34 item 3): new species added to a pre-trained model
exactly (mmace_fast.model.species), and `mmace finetune` from a shipped model on a tiny synthetic
data set with an element the model never saw: it improves on its starting error, keeps the
pre-trained species' reference energies and leaves a frozen file for the Monte Carlo."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mmace_fast.model import MMACE
from mmace_fast.model.io import predict
from mmace_fast.model.species import SpeciesExtensionError, add_species
from mmace_fast.model.testing import random_configuration, small_config

HERE = Path(__file__).resolve().parent


@pytest.mark.parametrize("soc", [False, True])
def test_added_species_leave_the_known_ones_unchanged(soc):
    torch.manual_seed(0)
    model = MMACE(small_config(soc=soc, species=(26, 13))).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))          # not the symmetric initial weights
    ext, cfg = add_species(model, [78], e0=[-1.5], moment_scale=[0.5])
    assert cfg.species == [26, 13, 78] and cfg.e0[-1] == -1.5 and cfg.moment_scale[-1] == 0.5
    rng = np.random.default_rng(1)
    known = [random_configuration(rng, species=(26, 13), n_atoms=5) for _ in range(3)]
    a = predict(model, known, 3.5, stress=True, magforces=True)
    b = predict(ext, known, 3.5, stress=True, magforces=True)
    for key in ("energy", "forces", "magforces", "stress"):
        assert float((a[key] - b[key]).abs().max()) < 1e-12, key
    with_pt = random_configuration(rng, species=(26, 13, 78), n_atoms=6)
    e = predict(ext, [with_pt], 3.5, stress=False)["energy"]
    assert torch.isfinite(e).all()
    with pytest.raises(SpeciesExtensionError, match="not among"):
        add_species(model, [26])
    with pytest.raises(SpeciesExtensionError, match="no new species"):
        add_species(model, [])


def _toy():
    spec = importlib.util.spec_from_file_location("make_samples", HERE / "data" / "make_samples.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def toy_feal(path: Path, n: int = 30, seed: int = 0):
    """B2 FeAl 4-atom cells labelled by the toy spin Hamiltonian (tests/data/make_samples.py);
    every fifth frame validates."""
    import ase.io
    from ase import Atoms
    toy = _toy()
    rng = np.random.default_rng(seed)
    images = []
    for k, (pos, cell, numbers, m) in enumerate(toy._frames(rng, n, collinear=False)):
        e, f, s, mf = toy.toy_labels(pos, cell, [True] * 3, numbers, m)
        at = Atoms(numbers=numbers, positions=pos, cell=cell, pbc=True)
        at.info.update(REF_energy=e, REF_stress=s, split="valid" if k % 5 == 4 else "train")
        at.arrays.update(REF_forces=f, REF_magmom=m, REF_magforces=mf)
        images.append(at)
    ase.io.write(path, images, format="extxyz")


def test_finetune_from_a_shipped_model_adds_al_and_improves(tmp_path, capsys):
    from mmace_fast import cli
    from mmace_fast.export import FrozenModel
    from mmace_fast.model.io import load_model
    from mmace_fast.models import model_dir

    data = tmp_path / "feal.extxyz"
    toy_feal(data)
    out = tmp_path / "ft"
    argv = ["finetune", "--data", str(data), "--out", str(out), "--from", "fe_mc",
            "--steps", "120"]
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    assert "new species [13]" in text and "model.mmace" in text
    res = json.loads((out / "finetune.json").read_text())
    assert res["new_species"] == [13] and res["init_e0s"] == "new" and res["n_valid"] == 6
    assert res["valid_after"]["energy_mae"] < 0.7 * res["valid_before"]["energy_mae"]
    assert res["valid_after"]["forces_mae"] < res["valid_before"]["forces_mae"]
    model, cfg, _ = load_model(out / "model")
    pre, pre_cfg, _ = load_model(model_dir("fe", "mc"))
    assert cfg.species == [26, 13]
    assert cfg.e0[0] == pre_cfg.e0[0]                   # Fe keeps its pre-trained energy
    frozen = FrozenModel.load(res["frozen"])
    assert frozen.species == [26, 13]
    from ase.build import bulk
    atoms = bulk("FeAl", "cesiumchloride", a=2.9)
    atoms.set_initial_magnetic_moments([2.0, 0.1])
    conf_e = float(predict(model, [frozen.structure(atoms)], cfg.r_cut, stress=False)
                   ["energy"][0])
    assert frozen.energy(atoms) == pytest.approx(conf_e, abs=1e-9)


def test_finetune_without_a_shipped_pretrained_model_says_what_to_do(tmp_path, capsys):
    from mmace_fast import cli
    from mmace_fast.models import MODELS_DIR
    if (MODELS_DIR / "pretrained" / "model.json").exists():
        pytest.skip("a pre-trained model is shipped")
    data = tmp_path / "feal.extxyz"
    toy_feal(data, n=5)
    with pytest.raises(SystemExit) as exc:
        cli.main(["finetune", "--data", str(data), "--out", str(tmp_path / "x")])
    assert exc.value.code == 2
    assert "no pre-trained model is shipped yet" in capsys.readouterr().err


def test_finetune_on_data_lacking_a_pretrained_species_keeps_it(tmp_path):
    """The pre-trained FeAl model fine-tuned on Fe-only frames keeps Al: it still loads and
    evaluates B2 FeAl, with the pre-trained Al reference energy."""
    import ase.io
    from ase import Atoms
    from ase.build import bulk

    from mmace_fast.export import FrozenModel
    from mmace_fast.model.io import load_model
    from mmace_fast.models import model_dir
    from mmace_fast.training.finetune import finetune

    toy = _toy()
    rng = np.random.default_rng(3)
    images = []
    for k, (pos, cell, numbers, m) in enumerate(toy._frames(rng, 12, collinear=False)):
        numbers = np.full(len(numbers), 26)                 # every site iron
        m = np.where(np.linalg.norm(m, axis=1, keepdims=True) < 1.0, 2.2 * m /
                     np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-9), m)
        e, f, s, mf = toy.toy_labels(pos, cell, [True] * 3, numbers, m)
        at = Atoms(numbers=numbers, positions=pos, cell=cell, pbc=True)
        at.info.update(REF_energy=e, REF_stress=s, split="valid" if k % 4 == 3 else "train")
        at.arrays.update(REF_forces=f, REF_magmom=m, REF_magforces=mf)
        images.append(at)
    data = tmp_path / "fe.extxyz"
    ase.io.write(data, images, format="extxyz")
    res = finetune(data, tmp_path / "ft", "feal_mc", steps=16)
    assert res["new_species"] == [] and res["init_e0s"] == "refit"
    model, cfg, _ = load_model(tmp_path / "ft" / "model")
    _, pre_cfg, _ = load_model(model_dir("feal", "mc"))
    assert sorted(cfg.species) == [13, 26]
    al = cfg.species.index(13)
    assert cfg.e0[al] == pre_cfg.e0[pre_cfg.species.index(13)]    # Al not in the data: kept
    atoms = bulk("FeAl", "cesiumchloride", a=2.9)
    atoms.set_initial_magnetic_moments([0.8, 0.0])
    assert np.isfinite(FrozenModel.load(res["frozen"]).energy(atoms))
