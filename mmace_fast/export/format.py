"""The frozen-model file: one versioned binary file, readable without torch.

Layout (all integers little-endian)::

    offset 0   8 bytes   magic b"MMACEFRZ"
    offset 8   uint32    format version (FORMAT_VERSION)
    offset 12  uint32    reserved, 0
    offset 16  uint64    H = length of the JSON header in bytes
    offset 24  H bytes   JSON header (UTF-8)
    then zero padding to a multiple of ALIGN bytes: the payload starts there
    payload    the raw arrays, little-endian, C order, each at a multiple of ALIGN bytes

The header is a JSON object with at least ``format`` (FORMAT_NAME), ``format_version``,
``arrays`` (a list of {name, dtype, shape, offset, nbytes}; offsets relative to the payload
start; dtypes "<f8", "<i8" or "<i4"), ``payload_size`` and ``sha256``. The hash is
sha256(canonical JSON of the header without ``sha256``, then the payload bytes), so a change
anywhere (configuration, array table or data) is detected; it is also the model's identity
(:attr:`FrozenFile.sha256`). Everything else in the header (model configuration, species,
versions) is free-form JSON for the reader.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import struct
from dataclasses import dataclass
from typing import Dict, Mapping

import numpy as np

MAGIC = b"MMACEFRZ"
FORMAT_NAME = "mmace_fast.frozen_mmace"
FORMAT_VERSION = 1
ALIGN = 64
_PREAMBLE = struct.Struct("<8sIIQ")          # magic, version, reserved, header length
_DTYPES = {"<f8": np.float64, "<i8": np.int64, "<i4": np.int32}
_MAX_HEADER = 1 << 28


class FrozenFormatError(ValueError):
    """A frozen-model file is truncated, corrupted, foreign or of an unsupported version."""


@dataclass
class FrozenFile:
    """Parsed file: the header (dict without the array table) and the named arrays."""

    header: dict
    arrays: Dict[str, np.ndarray]
    sha256: str


def _canonical(header: Mapping) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":"),
                      allow_nan=False).encode("utf-8")


def _dtype_code(a: np.ndarray) -> str:
    for code, dt in _DTYPES.items():
        if a.dtype == dt:
            return code
    raise FrozenFormatError(f"unsupported array dtype {a.dtype} (use float64, int64 or int32)")


def _pad(n: int) -> int:
    return (-n) % ALIGN


def encode(header: Mapping, arrays: Mapping[str, np.ndarray]) -> bytes:
    """Bytes of a frozen-model file with ``header`` (JSON-able, without the reserved keys) and
    ``arrays`` (name -> float64 / int64 / int32 array)."""
    reserved = {"format", "format_version", "arrays", "payload_size", "sha256"}
    clash = reserved & set(header)
    if clash:
        raise FrozenFormatError(f"header keys {sorted(clash)} are reserved")
    table, chunks, offset = [], [], 0
    for name in sorted(arrays):
        a = np.asarray(arrays[name])
        code = _dtype_code(a)
        raw = np.ascontiguousarray(a, dtype=np.dtype(code)).tobytes()
        table.append({"name": name, "dtype": code, "shape": list(a.shape), "offset": offset,
                      "nbytes": len(raw)})
        chunks.append(raw + b"\0" * _pad(len(raw)))
        offset += len(raw) + _pad(len(raw))
    payload = b"".join(chunks)
    full = dict(header)
    full.update(format=FORMAT_NAME, format_version=FORMAT_VERSION, arrays=table,
                payload_size=len(payload))
    digest = hashlib.sha256(_canonical(full) + payload).hexdigest()
    full["sha256"] = digest
    text = _canonical(full)
    pre = _PREAMBLE.pack(MAGIC, FORMAT_VERSION, 0, len(text))
    head = pre + text
    return head + b"\0" * _pad(len(head)) + payload


def write(path, header: Mapping, arrays: Mapping[str, np.ndarray]) -> str:
    """Write the file atomically (temporary file + rename); returns the sha256 identity."""
    data = encode(header, arrays)
    path = os.fspath(path)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)
    return decode(data, path).sha256


def read(path) -> FrozenFile:
    """Read and fully validate a frozen-model file (magic, version, header, hash, arrays)."""
    path = os.fspath(path)
    with open(path, "rb") as fh:
        data = fh.read()
    return decode(data, path)


def decode(data: bytes, where: str = "<bytes>") -> FrozenFile:
    """Parse and validate the bytes of a frozen-model file."""
    if len(data) < _PREAMBLE.size:
        raise FrozenFormatError(f"{where}: truncated ({len(data)} bytes): not a frozen mMACE file")
    magic, version, _, hlen = _PREAMBLE.unpack_from(data, 0)
    if magic != MAGIC:
        raise FrozenFormatError(f"{where}: foreign file (magic {magic!r}, expected {MAGIC!r})")
    if version != FORMAT_VERSION:
        raise FrozenFormatError(f"{where}: frozen-model format version {version}; this code "
                                f"reads version {FORMAT_VERSION}")
    start = _PREAMBLE.size
    if hlen > _MAX_HEADER or start + hlen > len(data):
        raise FrozenFormatError(f"{where}: truncated or corrupted header (length {hlen}, "
                                f"file {len(data)} bytes)")
    try:
        header = json.loads(data[start:start + hlen].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FrozenFormatError(f"{where}: corrupted header ({exc})") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise FrozenFormatError(f"{where}: foreign header (format "
                                f"{header.get('format') if isinstance(header, dict) else None!r})")
    if header.get("format_version") != FORMAT_VERSION:
        raise FrozenFormatError(f"{where}: header format version {header.get('format_version')} "
                                f"disagrees with the file version {FORMAT_VERSION}")
    p0 = start + hlen + _pad(start + hlen)
    payload = data[p0:]
    size = header.get("payload_size")
    if not isinstance(size, int) or size != len(payload):
        raise FrozenFormatError(f"{where}: truncated or padded payload ({len(payload)} bytes, "
                                f"header says {size})")
    stored = header.pop("sha256", None)
    digest = hashlib.sha256(_canonical(header) + payload).hexdigest()
    if stored != digest:
        raise FrozenFormatError(f"{where}: content hash mismatch (file corrupted or edited): "
                                f"stored {stored}, computed {digest}")
    arrays = {}
    for entry in _array_table(header, where):
        name, code, shape = entry["name"], entry["dtype"], tuple(entry["shape"])
        off, nbytes = entry["offset"], entry["nbytes"]
        dt = np.dtype(code)
        count = math.prod(shape)            # exact: a product beyond 64 bits cannot wrap
        if nbytes != count * dt.itemsize or off < 0 or off + nbytes > len(payload):
            raise FrozenFormatError(f"{where}: array {name!r} {shape} {code} does not fit the "
                                    f"payload (offset {off}, {nbytes} bytes)")
        a = np.frombuffer(payload, dtype=dt, count=count, offset=off).reshape(shape)
        arrays[name] = a.astype(_DTYPES[code], copy=True)
    body = {k: v for k, v in header.items()
            if k not in ("format", "format_version", "arrays", "payload_size")}
    return FrozenFile(header=body, arrays=arrays, sha256=digest)


def _array_table(header: dict, where: str):
    table = header.get("arrays")
    if not isinstance(table, list):
        raise FrozenFormatError(f"{where}: header has no array table")
    seen = set()
    for entry in table:
        ok = (isinstance(entry, dict) and isinstance(entry.get("name"), str)
              and entry.get("dtype") in _DTYPES and isinstance(entry.get("shape"), list)
              and all(isinstance(s, int) and s >= 0 for s in entry["shape"])
              and isinstance(entry.get("offset"), int) and isinstance(entry.get("nbytes"), int))
        if not ok:
            raise FrozenFormatError(f"{where}: malformed array table entry {entry!r}")
        if entry["name"] in seen:
            raise FrozenFormatError(f"{where}: duplicate array {entry['name']!r}")
        seen.add(entry["name"])
        yield entry
