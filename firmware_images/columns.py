"""Column codecs of the image's tables: pure functions, bytes in and out.

A section holds one table stored column by column, which is what makes the image small: a column
of site indices or of sorted codes compresses far better than rows of mixed text.  Three column
encodings exist (all integers little-endian):

``int``    ``width u8`` (1, 2, 4 or 8 bytes per value), ``mode u8`` (0 plain, 1 delta + zigzag:
           each value is stored as the zigzag of its difference to the previous one), then
           ``rows × width`` bytes.
``text``   ``u32`` length of an ``int`` column of ``len + 1`` per value (0 = null), then the UTF-8
           bytes of all values concatenated.
``bytes``  the same layout as ``text`` with raw bytes (PIN salts and hashes).

Decoders raise ``MalformedImage`` with the column's name on any inconsistency.
"""
from __future__ import annotations

import struct
import sys
from array import array

from firmware_images.errors import MalformedImage

_TYPECODES = {1: "B", 2: "H", 4: "I", 8: "Q"}
_BIG = sys.byteorder == "big"
for _w, _c in _TYPECODES.items():  # the array module's sizes are platform-defined: check once
    assert array(_c).itemsize == _w, f"array typecode {_c} is not {_w} bytes here"


def _width(max_value: int) -> int:
    for w in (1, 2, 4, 8):
        if max_value < 1 << (8 * w):
            return w
    raise ValueError(f"integer {max_value} does not fit in 64 bits")


def encode_ints(values: list[int], delta: bool = False) -> bytes:
    """Encode non-negative integers (any integers with ``delta``) as an ``int`` column."""
    if delta:
        prev = 0
        out = []
        for v in values:
            d = v - prev
            prev = v
            out.append((d << 1) if d >= 0 else ((-d << 1) - 1))
        values = out
    elif values and min(values) < 0:
        raise ValueError("negative integer in a plain int column")
    width = _width(max(values, default=0))
    arr = array(_TYPECODES[width], values)
    if _BIG:
        arr.byteswap()
    return bytes((width, 1 if delta else 0)) + arr.tobytes()


def decode_ints(data: bytes, rows: int, what: str) -> list[int]:
    if len(data) < 2:
        raise MalformedImage(f"{what}: int column shorter than its 2-byte header")
    width, mode = data[0], data[1]
    if width not in _TYPECODES:
        raise MalformedImage(f"{what}: int column width {width} (must be 1, 2, 4 or 8)")
    if mode not in (0, 1):
        raise MalformedImage(f"{what}: int column mode {mode} (must be 0 or 1)")
    if len(data) != 2 + rows * width:
        raise MalformedImage(f"{what}: int column has {len(data) - 2} bytes, {rows} rows of {width} need {rows * width}")
    arr = array(_TYPECODES[width])
    arr.frombytes(data[2:])
    if _BIG:
        arr.byteswap()
    values = arr.tolist()
    if mode == 1:
        out = []
        prev = 0
        for z in values:
            prev += (z >> 1) if not z & 1 else -((z + 1) >> 1)
            out.append(prev)
        values = out
    return values


def encode_blobs(values: list[bytes | None]) -> bytes:
    """A ``bytes`` column: nullable byte strings."""
    lengths = encode_ints([0 if v is None else len(v) + 1 for v in values])
    return struct.pack("<I", len(lengths)) + lengths + b"".join(v for v in values if v)


def decode_blobs(data: bytes, rows: int, what: str) -> list[bytes | None]:
    if len(data) < 4:
        raise MalformedImage(f"{what}: text column shorter than its 4-byte header")
    (n,) = struct.unpack_from("<I", data)
    if 4 + n > len(data):
        raise MalformedImage(f"{what}: length column runs past the end of the column")
    lengths = decode_ints(data[4:4 + n], rows, what)
    blob = memoryview(data)[4 + n:]
    if sum(lengths) - sum(1 for x in lengths if x) != len(blob):
        raise MalformedImage(f"{what}: value bytes do not add up to the column's length")
    out: list[bytes | None] = []
    pos = 0
    for ln in lengths:
        if ln == 0:
            out.append(None)
        else:
            out.append(bytes(blob[pos:pos + ln - 1]))
            pos += ln - 1
    return out


def encode_texts(values: list[str | None]) -> bytes:
    """A ``text`` column: nullable UTF-8 strings."""
    return encode_blobs([None if v is None else v.encode("utf-8") for v in values])


def decode_texts(data: bytes, rows: int, what: str) -> list[str | None]:
    try:
        return [None if b is None else b.decode("utf-8") for b in decode_blobs(data, rows, what)]
    except UnicodeDecodeError as e:
        raise MalformedImage(f"{what}: not UTF-8 text ({e.reason})") from None
