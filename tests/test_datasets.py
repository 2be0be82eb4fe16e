"""One resolver for the shipped data: the clone's data/ by default, $MMACE_DATA_DIR when set,
a clear error naming the place looked at when a set is missing (the installed-package path is
exercised by .ci/install_check)."""
import pytest

from mmace_fast import datasets


def test_clone_data_and_override(tmp_path, monkeypatch):
    monkeypatch.delenv("MMACE_DATA_DIR", raising=False)
    assert datasets.data_dir() == datasets.REPO_DATA
    assert datasets.shipped_path("fe") == datasets.REPO_DATA / "fe.extxyz.gz"
    monkeypatch.setenv("MMACE_DATA_DIR", str(tmp_path))
    assert datasets.data_dir() == tmp_path
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "crn.extxyz.gz")):
        datasets.shipped_path("crn")
    with pytest.raises(KeyError, match="nife"):
        datasets.shipped_path("nife")


def test_fit_material_does_not_depend_on_the_working_directory(tmp_path, monkeypatch):
    """The baseline used to open data/fe.extxyz.gz relative to the current directory."""
    from mmace_fast.baseline import fit_material
    monkeypatch.delenv("MMACE_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    fit = fit_material("fe")
    assert fit.moments[26] > 2.0
