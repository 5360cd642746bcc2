"""G.711 A-law for channel audio, table-driven.

Linear samples are signed 16-bit integers (the A-law codec uses their top 13 bits).  A block is
20 ms of one channel: :data:`BLOCK_SAMPLES` = 160 samples at 8000 samples/s, i.e. 160 A-law bytes.
The even bits of every code are inverted on the line (G.711 §2), which the tables include, so
A-law silence is ``0xD5`` (+8) / ``0x55`` (-8).
"""
from __future__ import annotations

from array import array

from .errors import CodecError

SAMPLE_RATE = 8000
BLOCK_MS = 20
BLOCK_SAMPLES = SAMPLE_RATE * BLOCK_MS // 1000
#: A-law code of the smallest positive value, the idle pattern of a voice channel
SILENCE = 0xD5

_SEG_END = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)


def _decode_one(code: int) -> int:
    code ^= 0x55
    mant = code & 0x0F
    seg = (code >> 4) & 0x07
    if seg == 0:
        mag = (mant << 4) + 8
    else:
        mag = ((mant << 4) + 0x108) << (seg - 1)
    return mag if code & 0x80 else -mag


def _encode_one(sample: int) -> int:
    v = sample >> 3  # 13-bit
    if v >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        v = -v - 1
    seg = 0
    while seg < 8 and v > _SEG_END[seg]:
        seg += 1
    if seg >= 8:
        return 0x7F ^ mask
    code = seg << 4
    code |= (v >> 1) & 0x0F if seg < 2 else (v >> seg) & 0x0F
    return code ^ mask


#: A-law code -> linear sample
DECODE_TABLE: tuple[int, ...] = tuple(_decode_one(c) for c in range(256))
# linear sample (as an unsigned 16-bit index) -> A-law code
_ENCODE_TABLE = bytes(_encode_one(i - 65536 if i >= 32768 else i) for i in range(65536))


def decode(data: bytes) -> array:
    """A-law bytes -> ``array('h')`` of linear samples."""
    return array("h", map(DECODE_TABLE.__getitem__, data))


_DECODE_FLOAT = tuple(float(v) for v in DECODE_TABLE)


def decode_float(data: bytes) -> list[float]:
    """A-law bytes -> list of linear samples as floats (what the tone detectors want)."""
    return list(map(_DECODE_FLOAT.__getitem__, data))


def encode(samples) -> bytes:
    """Linear samples (ints in -32768..32767) -> A-law bytes.  Out-of-range samples raise."""
    try:
        return bytes(map(_ENCODE_TABLE.__getitem__, map((0xFFFF).__and__, _checked(samples))))
    except TypeError as exc:
        raise CodecError(f"samples must be integers: {exc}") from None


def _checked(samples):
    if isinstance(samples, array) and samples.typecode == "h":
        return samples
    return _checked_iter(samples)


def _checked_iter(samples):
    lo, hi = -32768, 32767
    for s in samples:
        if not lo <= s <= hi:
            raise CodecError(f"sample {s} outside the 16-bit range")
        yield s


def blocks(data: bytes, size: int = BLOCK_SAMPLES):
    """Split channel audio into whole blocks of ``size`` bytes; an incomplete tail is dropped."""
    if size <= 0:
        raise CodecError("block size must be positive")
    for i in range(0, len(data) - size + 1, size):
        yield data[i:i + size]
