"""ScanTable: rows of per-temperature observables (with errors), written to CSV and JSON.

A row is a flat ``dict`` of scalars, e.g. the output of :func:`mmace_fast.mc.stats.summarize`
plus anything the scan adds (lattice size, seed, wall time). Columns are the union of the rows'
keys in first-seen order; a row without a column gets NaN (numbers) in the table. Files are
written atomically (temporary file in the same directory, then ``os.replace``), so a killed
scan never leaves a half-written table behind.

JSON layout::

    {"format": "mmace_fast.scan_table", "version": 1, "metadata": {...},
     "columns": [...], "rows": [{...}, ...]}

Non-finite floats are stored as ``null`` in JSON (and read back as NaN); CSV writes ``nan``.
"""
from __future__ import annotations

import csv
import io
import json
import math
import numbers
import os
import tempfile
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

__all__ = ["ScanTable", "TableError", "atomic_write_text"]

FORMAT = "mmace_fast.scan_table"
VERSION = 1


class TableError(ValueError):
    """Bad row content or a file that is not a ScanTable."""


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: temp file in the same directory, fsync, os.replace."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _scalar(key: str, value):
    """Plain Python scalar (int, float, str, bool or None) for a table cell."""
    if isinstance(value, np.ndarray):
        if value.ndim != 0:
            raise TableError(f"column {key!r}: value of shape {value.shape} is not a scalar; "
                             "split vectors into columns (e.g. m_x, m_y, m_z)")
        value = value.item()
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise TableError(f"column {key!r}: unsupported value type {type(value).__name__}")


class ScanTable:
    """A list of rows (dicts of scalars) with optional metadata.

    >>> t = ScanTable(metadata={"lattice": "sc", "L": 16})
    >>> t.add_row({"temperature_K": 100.0, "e_per_site": -0.05, "e_per_site_err": 1e-4})
    >>> t.column("temperature_K")
    array([100.])
    """

    def __init__(self, rows: Iterable[Mapping] = (), metadata: Mapping | None = None):
        self.rows: list[dict] = []
        self.columns: list[str] = []
        self.metadata: dict = dict(metadata or {})
        try:
            json.dumps(self.metadata)
        except (TypeError, ValueError) as exc:
            raise TableError(f"metadata must be JSON serialisable: {exc}") from exc
        for r in rows:
            self.add_row(r)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __getitem__(self, i: int) -> dict:
        return self.rows[i]

    def add_row(self, row: Mapping) -> None:
        """Append one row; keys must be non-empty strings, values scalars."""
        if not isinstance(row, Mapping):
            raise TableError(f"a row must be a mapping, got {type(row).__name__}")
        clean = {}
        for k, v in row.items():
            if not isinstance(k, str) or not k or any(c in k for c in ",\n\r\""):
                raise TableError(f"column names must be non-empty strings without , \" or "
                                 f"newlines, got {k!r}")
            clean[k] = _scalar(k, v)
        for k in clean:
            if k not in self.columns:
                self.columns.append(k)
        self.rows.append(clean)

    def column(self, name: str) -> np.ndarray:
        """One column as an array (float64 when all entries are numbers; missing -> NaN)."""
        if name not in self.columns:
            raise KeyError(f"no column {name!r}; columns: {self.columns}")
        vals = [r.get(name) for r in self.rows]
        if all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
               for v in vals):
            return np.array([np.nan if v is None else v for v in vals], dtype=np.float64)
        return np.array(vals, dtype=object)

    def sort(self, key: str = "temperature_K") -> "ScanTable":
        """Sort rows in place by a numeric column (missing values last); returns self."""
        col = self.column(key)
        order = np.argsort(np.where(np.isnan(col), np.inf, col), kind="stable")
        self.rows = [self.rows[i] for i in order]
        return self

    # ---------------------------------------------------------------------------------------
    # serialisation
    # ---------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        def enc(v):
            return None if isinstance(v, float) and not math.isfinite(v) else v
        rows = [{c: enc(r.get(c)) for c in self.columns} for r in self.rows]
        return {"format": FORMAT, "version": VERSION, "metadata": self.metadata,
                "columns": list(self.columns), "rows": rows}

    def to_json(self, path) -> None:
        """Write the table (with metadata) as JSON, atomically."""
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n")

    def to_csv(self, path) -> None:
        """Write the rows as CSV (header = columns; metadata as leading '# key: value' lines)."""
        buf = io.StringIO()
        for k, v in self.metadata.items():
            buf.write(f"# {k}: {json.dumps(v)}\n")
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(self.columns)
        for r in self.rows:
            w.writerow(["" if r.get(c) is None else
                        (repr(r[c]) if isinstance(r[c], float) else r[c]) for c in self.columns])
        atomic_write_text(path, buf.getvalue())

    @classmethod
    def from_dict(cls, d: Mapping) -> "ScanTable":
        if not isinstance(d, Mapping) or d.get("format") != FORMAT:
            raise TableError(f"not a {FORMAT} document")
        if d.get("version") != VERSION:
            raise TableError(f"unsupported {FORMAT} version {d.get('version')!r} "
                             f"(expected {VERSION})")
        cols, rows = d.get("columns"), d.get("rows")
        if not isinstance(cols, list) or not isinstance(rows, list):
            raise TableError("malformed table: 'columns' and 'rows' must be lists")
        t = cls(metadata=d.get("metadata") or {})
        t.columns = [str(c) for c in cols]
        for r in rows:
            if not isinstance(r, Mapping) or set(r) - set(t.columns):
                raise TableError("malformed table: a row has keys outside 'columns'")
            t.add_row({k: (float("nan") if v is None else v) for k, v in r.items()})
        return t

    @classmethod
    def from_json(cls, path) -> "ScanTable":
        """Read a table written by :meth:`to_json`."""
        try:
            with open(path, encoding="utf-8") as fh:
                d = json.load(fh)
        except json.JSONDecodeError as exc:
            raise TableError(f"{path}: not valid JSON ({exc})") from exc
        return cls.from_dict(d)
