"""``mmace``: one entry point that dispatches to the modules doing the work."""
import shutil

import pytest

from mmace_fast import cli


def test_help_lists_every_command_with_an_example(capsys):
    assert cli.main(["--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())           # wrapping undone
    for name, (_, example) in cli.COMMANDS.items():
        assert name in out and " ".join(example.split(": ", 1)[1].split()) in out
    assert cli.main([]) == 2                                   # no command: usage, exit 2
    with pytest.raises(SystemExit) as exc:
        cli.main(["nonsense"])
    assert exc.value.code == 2


def test_freeze_of_a_trained_model_directory_reproduces_the_shipped_frozen_file(tmp_path,
                                                                                 capsys):
    from mmace_fast.export import FrozenModel
    from mmace_fast.models import load_frozen, model_dir
    d = tmp_path / "fe_mc"
    shutil.copytree(model_dir("fe", "mc"), d)
    (d / "model.mmace").unlink()
    assert cli.main(["freeze", str(d)]) == 0
    assert str(d / "model.mmace") in capsys.readouterr().out
    mine, shipped = FrozenModel.load(d / "model.mmace"), load_frozen("fe", "mc")
    assert mine.species == shipped.species and mine.r_cut == shipped.r_cut
    from ase.build import bulk
    atoms = bulk("Fe", "bcc", a=2.866, cubic=True).repeat(2)
    atoms.set_initial_magnetic_moments([2.2] * len(atoms))
    assert mine.energy(atoms) == pytest.approx(shipped.energy(atoms), abs=1e-10)


def test_subcommands_reach_their_modules(capsys, caplog):
    # the Monte Carlo CLI, with its own refusal of settings no run can have
    assert cli.main(["mc", "tc", "--model", "sc-nn", "--sizes", "4", "--tmin", "2",
                     "--tmax", "1"]) == 2
    assert "two distinct positive sizes" in caplog.text
    with pytest.raises(SystemExit) as exc:                     # training's own --help
        cli.main(["train", "--help"])
    assert exc.value.code == 0 and "--config" in capsys.readouterr().out
