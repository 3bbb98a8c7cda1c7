r"""A small pure-Python reader and writer of TFRecord files of ``tf.train.Example`` records whose
values are serialized ``TensorProto``\ s — the format of the Quijote halo benchmark of Balla et al.
2024 — without TensorFlow.

File layout (one record after another, little endian)::

    uint64 length | uint32 masked_crc32c(length bytes) | data[length] | uint32 masked_crc32c(data)

with ``masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8 (mod 2³²)`` and CRC-32C (Castagnoli,
reflected polynomial ``0x82F63B78``). ``data`` is a protobuf ``Example``::

    Example  { Features features = 1; }
    Features { map<string, Feature> feature = 1; }           // entries: {1: key, 2: value}
    Feature  { oneof { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3; } }
    TensorProto { DataType dtype = 1; TensorShapeProto tensor_shape = 2; bytes tensor_content = 4;
                  repeated float float_val = 5; double_val = 6; int32 int_val = 7; int64 int64_val = 10; }
    TensorShapeProto { repeated Dim dim = 2; }  Dim { int64 size = 1; }

``tf.io.serialize_tensor`` stores a ``TensorProto`` with ``tensor_content``; ``float_val`` is read too.
CRC-32C of long records is computed with numpy over many slices at once and the slice CRCs are
combined with the linear "append zeros" operator, so checking a 220 kB record takes milliseconds.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Iterator, Mapping, Sequence
from typing import BinaryIO

import numpy as np

__all__ = [
    "Feature",
    "crc32c",
    "iter_tfrecord",
    "masked_crc32c",
    "parse_example",
    "parse_tensor",
    "read_record",
    "serialize_example",
    "serialize_tensor",
    "tfrecord_index",
    "write_tfrecord",
]

# ---------------------------------------------------------------------------------------------
# CRC-32C
# ---------------------------------------------------------------------------------------------
_POLY = 0x82F63B78


def _make_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ (_POLY if c & 1 else 0)
        table.append(c)
    return table


_TABLE = _make_table()
_TABLE_NP = np.array(_TABLE, dtype=np.uint32)


def _register_py(data: bytes | memoryview, crc: int) -> int:
    """Feed bytes through the (reflected) CRC register, no pre/post inversion."""
    t = _TABLE
    for b in bytes(data):
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


def _zeros_operator(length: int) -> list[list[int]]:
    """Tables ``S[b][v]`` of the linear map "feed ``length`` zero bytes" applied to ``v << 8b``."""
    basis = [_register_py(bytes(length), 1 << bit) for bit in range(32)]
    tables = []
    for b in range(4):
        tab = []
        for v in range(256):
            acc = 0
            for bit in range(8):
                if v >> bit & 1:
                    acc ^= basis[8 * b + bit]
            tab.append(acc)
        tables.append(tab)
    return tables


_OPERATORS: dict[int, list[list[int]]] = {}


def crc32c(data: bytes | bytearray | memoryview) -> int:
    """CRC-32C (Castagnoli) of ``data``, e.g. ``crc32c(b"123456789") == 0xE3069283``."""
    n = len(data)
    if n < 2048:
        return _register_py(data, 0xFFFFFFFF) ^ 0xFFFFFFFF
    buf = np.frombuffer(bytes(data), dtype=np.uint8).copy()
    buf[:4] ^= 0xFF  # an initial register of 0xFFFFFFFF equals XOR-ing it into the first 4 bytes
    width = 1 << max(6, int(math.log2(math.sqrt(n))))  # slice length, a power of two near sqrt(n)
    rows = -(-n // width)
    # leading zero bytes leave a zero register unchanged, so pad at the front
    block = np.concatenate([np.zeros(rows * width - n, dtype=np.uint8), buf]).reshape(rows, width)
    reg = np.zeros(rows, dtype=np.uint32)
    for col in range(width):  # all slices advance together
        reg = _TABLE_NP[(reg ^ block[:, col]) & 0xFF] ^ (reg >> 8)
    op = _OPERATORS.get(width)
    if op is None:
        op = _OPERATORS[width] = _zeros_operator(width)
    s0, s1, s2, s3 = op
    crc = 0
    for r in reg.tolist():  # crc(A || B) = zeros_|B|(crc(A)) ^ crc(B) for a zero initial register
        crc = s0[crc & 0xFF] ^ s1[(crc >> 8) & 0xFF] ^ s2[(crc >> 16) & 0xFF] ^ s3[crc >> 24] ^ r
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes | bytearray | memoryview) -> int:
    """The masked CRC-32C stored in TFRecord files."""
    c = crc32c(data)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


# ---------------------------------------------------------------------------------------------
# protobuf wire format
# ---------------------------------------------------------------------------------------------
def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated protobuf varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("protobuf varint longer than 10 bytes")


def _fields(buf: bytes | memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """Yield ``(field_number, wire_type, value)``; value is an int (varint), or the raw bytes."""
    mv = memoryview(buf)
    pos = 0
    while pos < len(mv):
        key, pos = _varint(mv, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, pos = _varint(mv, pos)
            yield num, wt, val
        elif wt == 2:
            ln, pos = _varint(mv, pos)
            if pos + ln > len(mv):
                raise ValueError(f"truncated protobuf field {num}: needs {ln} bytes, {len(mv) - pos} left")
            yield num, wt, mv[pos : pos + ln]
            pos += ln
        elif wt in (1, 5):
            size = 8 if wt == 1 else 4
            if pos + size > len(mv):
                raise ValueError(f"truncated protobuf field {num}")
            yield num, wt, mv[pos : pos + size]
            pos += size
        else:
            raise ValueError(f"unsupported protobuf wire type {wt} (field {num})")


def _key(num: int, wt: int) -> bytes:
    return _enc_varint(num << 3 | wt)


def _enc_varint(v: int) -> bytes:
    if v < 0:
        v += 1 << 64
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _len_field(num: int, payload: bytes) -> bytes:
    return _key(num, 2) + _enc_varint(len(payload)) + payload


def _signed64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _packed_or_single(wt: int, val, fixed: str | None) -> list:
    """Values of a repeated numeric field given packed (wt 2) or one by one."""
    if fixed is not None:  # float / double
        raw = bytes(val)
        return list(struct.unpack(f"<{len(raw) // struct.calcsize(fixed)}{fixed}", raw))
    if wt == 0:
        return [val]
    out, pos, mv = [], 0, memoryview(val)
    while pos < len(mv):
        v, pos = _varint(mv, pos)
        out.append(v)
    return out


# ---------------------------------------------------------------------------------------------
# TensorProto
# ---------------------------------------------------------------------------------------------
_DTYPES = {1: np.dtype("<f4"), 2: np.dtype("<f8"), 3: np.dtype("<i4"), 9: np.dtype("<i8")}
_DTYPE_ENUM = {np.dtype("float32"): 1, np.dtype("float64"): 2, np.dtype("int32"): 3, np.dtype("int64"): 9}


def parse_tensor(buf: bytes | memoryview) -> np.ndarray:
    """A numpy array from a serialized ``TensorProto`` (float32/float64/int32/int64)."""
    dtype_enum, shape, content = None, [], None
    values: list = []
    for num, wt, val in _fields(buf):
        if num == 1:
            dtype_enum = val
        elif num == 2:
            for n2, _, dim in _fields(val):
                if n2 == 2:
                    size = 0
                    for n3, _, v3 in _fields(dim):
                        if n3 == 1:
                            size = _signed64(v3)
                    shape.append(size)
        elif num == 4:
            content = bytes(val)
        elif num == 5:
            values += _packed_or_single(wt, val, "f")
        elif num == 6:
            values += _packed_or_single(wt, val, "d")
        elif num in (7, 10):
            values += [_signed64(v) for v in _packed_or_single(wt, val, None)]
    if dtype_enum not in _DTYPES:
        raise ValueError(
            f"unsupported TensorProto dtype enum {dtype_enum} (supported: float, double, int32, int64)"
        )
    dt = _DTYPES[dtype_enum]
    size = int(np.prod(shape)) if shape else 1
    if content is not None:
        arr = np.frombuffer(content, dtype=dt)
    elif values:
        arr = np.array(values, dtype=dt)
        if arr.size == 1 and size > 1:  # protobuf may store one value for a constant tensor
            arr = np.full(size, arr[0], dtype=dt)
    else:
        arr = np.zeros(size, dtype=dt)
    if arr.size != size:
        raise ValueError(f"TensorProto of shape {shape} holds {arr.size} values")
    return arr.reshape(shape).astype(dt.newbyteorder("="))


def serialize_tensor(array: np.ndarray) -> bytes:
    """Serialize an array as a ``TensorProto`` with ``tensor_content`` (like ``tf.io.serialize_tensor``)."""
    arr = np.asarray(array)
    if arr.dtype not in _DTYPE_ENUM:
        raise TypeError(f"cannot serialize dtype {arr.dtype}; use float32, float64, int32 or int64")
    dims = b"".join(_len_field(2, _key(1, 0) + _enc_varint(int(d))) for d in arr.shape)
    out = _key(1, 0) + _enc_varint(_DTYPE_ENUM[arr.dtype]) + _len_field(2, dims)
    return out + _len_field(4, arr.astype(arr.dtype.newbyteorder("<")).tobytes())


# ---------------------------------------------------------------------------------------------
# Example
# ---------------------------------------------------------------------------------------------
#: A feature as read: ``("bytes", [b"..", ...])``, ``("float", float32 array)`` or ``("int64", int64 array)``.
Feature = tuple[str, list | np.ndarray]


def parse_example(buf: bytes | memoryview) -> dict[str, Feature]:
    """The features of a serialized ``tf.train.Example`` as ``{name: (kind, values)}``."""
    out: dict[str, Feature] = {}
    for num, _, features in _fields(buf):
        if num != 1:
            continue
        for n2, _, entry in _fields(features):
            if n2 != 1:
                continue
            name, feature = None, None
            for n3, _, v3 in _fields(entry):
                if n3 == 1:
                    name = bytes(v3).decode("utf-8")
                elif n3 == 2:
                    feature = v3
            if name is None:
                raise ValueError("Example feature entry without a name")
            out[name] = _parse_feature(feature if feature is not None else b"")
    return out


def _parse_feature(buf: bytes | memoryview) -> Feature:
    for num, _, lst in _fields(buf):
        if num == 1:
            return "bytes", [bytes(v) for n, _, v in _fields(lst) if n == 1]
        if num == 2:
            vals = [x for n, wt, v in _fields(lst) if n == 1 for x in _packed_or_single(wt, v, "f")]
            return "float", np.array(vals, dtype=np.float32)
        if num == 3:
            vals = [
                _signed64(x) for n, wt, v in _fields(lst) if n == 1 for x in _packed_or_single(wt, v, None)
            ]
            return "int64", np.array(vals, dtype=np.int64)
    return "bytes", []


def serialize_example(features: Mapping[str, Sequence[bytes] | bytes | np.ndarray]) -> bytes:
    """Serialize ``{name: value}`` as a ``tf.train.Example``: ``bytes`` or a list of bytes become
    a ``bytes_list``, float arrays a ``float_list``, integer arrays an ``int64_list``."""
    entries = b""
    for name, value in features.items():
        if isinstance(value, (bytes, bytearray)):
            value = [bytes(value)]
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            inner = _len_field(2, _len_field(1, value.astype("<f4").tobytes()))
        elif isinstance(value, np.ndarray) and value.dtype.kind in "iu":
            inner = _len_field(3, _len_field(1, b"".join(_enc_varint(int(v)) for v in value.ravel())))
        else:
            inner = _len_field(1, b"".join(_len_field(1, bytes(v)) for v in value))
        entries += _len_field(1, _len_field(1, name.encode("utf-8")) + _len_field(2, inner))
    return _len_field(1, entries)


# ---------------------------------------------------------------------------------------------
# TFRecord files
# ---------------------------------------------------------------------------------------------
def write_tfrecord(path: str | os.PathLike, records: Sequence[bytes]) -> None:
    """Write serialized records to a TFRecord file."""
    with open(path, "wb") as f:
        for data in records:
            length = struct.pack("<Q", len(data))
            f.write(
                length
                + struct.pack("<I", masked_crc32c(length))
                + data
                + struct.pack("<I", masked_crc32c(data))
            )


def tfrecord_index(path: str | os.PathLike) -> list[tuple[int, int]]:
    """``(offset, length)`` of the data of every record of a TFRecord file, checking the length CRCs."""
    out = []
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        pos = 0
        while pos < size:
            head = f.read(12)
            if len(head) < 12:
                raise ValueError(f"{path}: truncated record header at byte {pos}")
            (length,) = struct.unpack("<Q", head[:8])
            (crc,) = struct.unpack("<I", head[8:])
            if crc != masked_crc32c(head[:8]):
                raise ValueError(f"{path}: corrupt record length at byte {pos} (CRC mismatch)")
            if pos + 12 + length + 4 > size:
                raise ValueError(f"{path}: truncated record at byte {pos} ({length} bytes announced)")
            out.append((pos + 12, length))
            pos += 12 + length + 4
            f.seek(pos)
    return out


def read_record(
    f: BinaryIO, offset: int, length: int, verify: bool = True, name: str = "<tfrecord>"
) -> bytes:
    """The data of one record (from :func:`tfrecord_index`), checking its CRC when ``verify``."""
    f.seek(offset)
    data = f.read(length + 4)
    if len(data) < length + 4:
        raise ValueError(f"{name}: truncated record at byte {offset - 12}")
    payload, (crc,) = data[:length], struct.unpack("<I", data[length:])
    if verify and crc != masked_crc32c(payload):
        raise ValueError(f"{name}: corrupt record at byte {offset - 12} (data CRC mismatch)")
    return payload


def iter_tfrecord(path: str | os.PathLike, verify: bool = True) -> Iterator[bytes]:
    """The data of every record of a TFRecord file, in order."""
    index = tfrecord_index(path)
    with open(path, "rb") as f:
        for offset, length in index:
            yield read_record(f, offset, length, verify, str(path))
