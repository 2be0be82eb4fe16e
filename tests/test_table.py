"""Tests of mmace_fast.mc.table.ScanTable."""
import csv
import json

import numpy as np
import pytest

from mmace_fast.mc.table import ScanTable, TableError


def _table():
    t = ScanTable(metadata={"lattice": "sc", "L": 8})
    t.add_row({"temperature_K": 200.0, "u4_m": np.float64(0.6), "u4_m_err": 0.01,
               "n_sites": np.int64(512)})
    t.add_row({"temperature_K": 100.0, "u4_m": 0.65, "u4_m_err": float("nan"), "note": "cold"})
    return t


def test_json_round_trip(tmp_path):
    t = _table()
    p = tmp_path / "scan.json"
    t.to_json(p)
    d = json.loads(p.read_text())            # strict JSON: NaN stored as null
    assert d["rows"][1]["u4_m_err"] is None
    back = ScanTable.from_json(p)
    assert back.columns == ["temperature_K", "u4_m", "u4_m_err", "n_sites", "note"]
    assert back.metadata == {"lattice": "sc", "L": 8}
    np.testing.assert_array_equal(back.column("temperature_K"), [200.0, 100.0])
    assert np.isnan(back.column("u4_m_err")[1]) and np.isnan(back.column("n_sites")[1])
    assert back[0]["n_sites"] == 512 and isinstance(back[0]["n_sites"], int)
    assert back.sort()[0]["temperature_K"] == 100.0
    assert list(tmp_path.iterdir()) == [p]   # no temporary files left behind


def test_csv(tmp_path):
    p = tmp_path / "scan.csv"
    _table().to_csv(p)
    lines = p.read_text().splitlines()
    assert lines[0] == '# lattice: "sc"' and lines[1] == "# L: 8"
    rows = list(csv.reader(lines[2:]))
    assert rows[0] == ["temperature_K", "u4_m", "u4_m_err", "n_sites", "note"]
    assert float(rows[1][1]) == 0.6 and rows[1][4] == ""
    assert rows[2][2] == "nan"


def test_bad_rows_and_files(tmp_path):
    t = ScanTable()
    with pytest.raises(TableError, match="not a scalar"):
        t.add_row({"m": np.zeros(3)})
    with pytest.raises(TableError, match="column names"):
        t.add_row({"a,b": 1.0})
    with pytest.raises(TableError, match="unsupported"):
        t.add_row({"x": object()})
    p = tmp_path / "x.json"
    p.write_text('{"format": "something else"}')
    with pytest.raises(TableError, match="not a"):
        ScanTable.from_json(p)
    p.write_text('{"format": "mmace_fast.scan_table", "vers')
    with pytest.raises(TableError, match="not valid JSON"):
        ScanTable.from_json(p)


def test_failed_write_keeps_old_file(tmp_path, monkeypatch):
    p = tmp_path / "scan.json"
    _table().to_json(p)
    before = p.read_text()
    import os
    def boom(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", boom)
    t = _table()
    t.add_row({"temperature_K": 300.0})
    with pytest.raises(OSError):
        t.to_json(p)
    assert p.read_text() == before
    assert list(tmp_path.iterdir()) == [p]
