"""The materials registry (mmace_fast.materials) is complete, agrees with every place that builds
or reads a material (prototype cells, Monte Carlo lattices, GPAW settings, shipped data), and is
the only list: the derived tables follow it, so adding a material is one entry."""
import gzip
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from ase.data import chemical_symbols
from ase.io import read

from mmace_fast import datasets, materials
from mmace_fast.materials import MATERIALS, MaterialError, monte_carlo_materials
from mmace_fast.prototypes import PATTERNS, PROTOTYPES, TETRAGONAL, conventional_cell

KEYS = list(MATERIALS)
MC_KEYS = list(monte_carlo_materials())


@pytest.mark.parametrize("key", KEYS)
def test_entry_is_complete_and_consistent(key):
    m = MATERIALS[key]
    assert m.key == key and m.formula and m.name
    assert m.prototype in PROTOTYPES
    assert m.a > 0 and np.isfinite(m.a)
    assert (m.c is not None) == (m.prototype in TETRAGONAL)
    assert m.species and all(isinstance(z, int) and 0 < z < len(chemical_symbols)
                             for z in m.species)
    assert len(set(m.species)) == len(m.species)
    assert m.magnetic and set(m.magnetic) <= set(m.species)
    assert m.species[:len(m.magnetic)] == m.magnetic           # magnetic species first
    assert m.ground_order in PATTERNS
    assert set(m.mc_orders) <= set(PATTERNS)
    assert not m.mc_orders or m.ground_order in m.mc_orders
    assert (m.t_exp is None) == (not m.t_exp_source)
    assert m.t_exp is None or m.t_exp > 0


def test_materials_sharing_a_prototype_agree_on_what_the_mc_lattice_reads():
    by_proto = {}
    for m in MATERIALS.values():
        by_proto.setdefault(m.prototype, set()).add((m.magnetic, m.mc_orders))
    assert all(len(v) == 1 for v in by_proto.values()), by_proto


@pytest.mark.parametrize("key", KEYS)
def test_prototype_cell_has_the_registry_species_and_lattice(key):
    m = MATERIALS[key]
    cell = conventional_cell(m.prototype, m.a, m.c)
    assert set(cell.numbers.tolist()) == set(m.species)
    np.testing.assert_array_equal(np.diag(cell.cell.array), [m.a, m.a, m.c or m.a])


@pytest.mark.parametrize("key", MC_KEYS)
def test_mc_lattice_has_the_registry_species_lattice_and_orders(key):
    from mmace_fast.mc.lattice import material_lattice

    m = MATERIALS[key]
    lat = material_lattice(m.prototype, 2, m.a)
    assert lat.a == m.a
    np.testing.assert_array_equal(lat.cell, 2 * m.a * np.eye(3))
    assert set(lat.numbers.tolist()) == set(m.species)
    np.testing.assert_array_equal(lat.magnetic, np.isin(lat.numbers, m.magnetic))
    assert set(lat.signs) | set(lat.incommensurate) == set(m.mc_orders)
    assert m.ground_order in lat.signs


def test_materials_without_mc_orders_have_no_mc_lattice():
    from mmace_fast.mc.lattice import material_lattice

    for m in MATERIALS.values():
        if not m.mc_orders:
            with pytest.raises(ValueError, match="unknown prototype"):
                material_lattice(m.prototype, 2, m.a)


@pytest.mark.parametrize("key", KEYS)
def test_dft_settings_match_the_registry(key):
    from mmace_fast.data.dft.settings import get_settings

    m, st = MATERIALS[key], get_settings(key)
    assert st.material == key
    assert (st.lattice_a, st.lattice_c) == (m.a, m.c)
    assert st.magnetic_species == tuple(chemical_symbols[z] for z in m.magnetic)


def test_dft_tables_cover_the_registry():
    from mmace_fast.data.dft import campaign, pipeline, settings

    assert list(settings.MATERIALS) == KEYS
    assert list(campaign.TARGETS) == KEYS
    assert pipeline.MATERIALS == tuple(KEYS)


@pytest.mark.parametrize("key", KEYS)
def test_shipped_data_file_exists_and_holds_the_registry_material(key, monkeypatch):
    monkeypatch.delenv("MMACE_DATA_DIR", raising=False)
    m = MATERIALS[key]
    path = datasets.shipped_path(key)
    assert path.name == m.data_file
    with gzip.open(path, "rt") as fh:
        frames = read(fh, index=":", format="extxyz")
    assert {int(z) for a in frames for z in a.numbers} == set(m.species)
    assert {float(a.info["dft_lattice_a"]) for a in frames} == {m.a}
    if m.spirals:
        assert datasets.shipped_path(f"{key}_spirals").name == m.spirals_file
    else:
        assert m.spirals_file is None and f"{key}_spirals" not in datasets.SHIPPED


def test_every_shipped_file_is_a_registry_material():
    files = {p.name for p in datasets.REPO_DATA.glob("*.extxyz.gz")}
    assert files == set(datasets.SHIPPED.values())


def test_unknown_key_names_the_known_ones():
    with pytest.raises(MaterialError, match=r"'nife'; known: \['crn', 'fe', 'feal', 'fept'\]"):
        materials.get("nife")
    with pytest.raises(KeyError):                # a lookup error like any other missing key
        materials.get("nife")
    assert materials.get("crn") is MATERIALS["crn"]


def test_derived_tables_are_views_of_the_registry():
    from mmace_fast.baseline.material import MATERIALS as BASELINE
    from mmace_fast.baseline.material import reference_structure
    from mmace_fast.compare import headtohead, thermo
    from mmace_fast.mc.presets import FE_A, FE_TC_EXP

    assert list(thermo.MATERIALS) == list(BASELINE) == list(headtohead.MATERIALS) == MC_KEYS
    assert MC_KEYS == ["fe", "feal", "crn"]
    for k in MC_KEYS:
        m = MATERIALS[k]
        assert thermo.MATERIALS[k] == (m.prototype, m.a, m.ground_order)
        ref = reference_structure(k)
        np.testing.assert_array_equal(ref.cell, m.a * np.eye(3))
        assert set(np.asarray(ref.numbers).tolist()) == set(m.species)
    assert thermo.T_EXP == {"fe": 1043.0, "crn": 287.0}
    assert (FE_A, FE_TC_EXP) == (MATERIALS["fe"].a, MATERIALS["fe"].t_exp)


def test_adding_a_material_is_one_entry():
    """One more registry entry (before anything reads the registry) appears in every table."""
    code = textwrap.dedent("""
        import dataclasses
        from mmace_fast import materials
        new = dataclasses.replace(materials.MATERIALS["fe"], key="fex", name="expanded bcc Fe",
                                  a=2.95, t_exp=999.0, t_exp_source="test")
        materials.MATERIALS["fex"] = new
        from mmace_fast import datasets
        from mmace_fast.baseline.material import MATERIALS as BASELINE, reference_structure
        from mmace_fast.compare import headtohead, thermo
        from mmace_fast.data.dft import pipeline
        assert datasets.SHIPPED["fex"] == "fex.extxyz.gz"
        assert datasets.SHIPPED["fex_spirals"] == "fex_spirals.extxyz.gz"
        assert thermo.MATERIALS["fex"] == ("bcc_Fe", 2.95, "FM") and thermo.T_EXP["fex"] == 999.0
        assert "fex" in BASELINE and reference_structure("fex").cell[0, 0] == 2.95
        assert "fex" in headtohead.MATERIALS and "fex" in pipeline.MATERIALS
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
