"""CRC-4 of an E1 sub-multiframe (ITU-T G.704 §2.3.3.5), fast and reference forms.

A sub-multiframe (SMF) is 8 frames = 256 bytes = 2048 bits, taken in line order (first byte
first, most significant bit first).  The bits C1..C4 (bit 1 of TS0 in the SMF's four FAS frames,
i.e. byte offsets 0, 64, 128 and 192) count as zero.  The remainder of (SMF × x^4) divided by
x^4 + x + 1 is the CRC-4; C1 is its most significant bit.  The CRC of SMF *k* is sent in the C
bits of SMF *k + 1*.

The fast form uses x^15 ≡ 1 (mod x^4 + x + 1, a primitive polynomial of period 15): the bits of
the message fold by XOR into a 15-bit word with big-integer operations, then a short division
finishes, so a whole SMF costs a dozen C-level integer operations.
"""
from __future__ import annotations

from .errors import FrameError

SMF_BYTES = 256
POLY = 0b10011  # x^4 + x + 1
_C_MASK = sum(1 << (8 * (SMF_BYTES - off) - 1) for off in (0, 64, 128, 192))
_NOT_C = ((1 << (8 * SMF_BYTES)) - 1) ^ _C_MASK

# fold widths: multiples of 15 that halve the word each step (2052 bits -> 15 bits)
_FOLDS = []
_w = 8 * SMF_BYTES + 4
while _w > 15:
    k = max(15, ((_w // 2) + 14) // 15 * 15)
    if k >= _w:
        k = (_w - 1) // 15 * 15
    _FOLDS.append((k, (1 << k) - 1))
    _w = k
del _w


def _mod_poly(v: int) -> int:
    for i in range(v.bit_length() - 1, 3, -1):
        if (v >> i) & 1:
            v ^= POLY << (i - 4)
    return v


def crc4(smf: bytes) -> int:
    """CRC-4 (0..15, C1 = bit 3) of one sub-multiframe of 256 bytes; C-bit values are ignored."""
    if len(smf) != SMF_BYTES:
        raise FrameError(f"a sub-multiframe is {SMF_BYTES} bytes, got {len(smf)}")
    v = (int.from_bytes(smf, "big") & _NOT_C) << 4
    for k, mask in _FOLDS:
        v = (v >> k) ^ (v & mask)
    return _mod_poly(v)


def crc4_reference(smf: bytes) -> int:
    """Bit-serial CRC-4 straight from the G.704 definition (for tests)."""
    if len(smf) != SMF_BYTES:
        raise FrameError(f"a sub-multiframe is {SMF_BYTES} bytes, got {len(smf)}")
    reg = 0
    for i, byte in enumerate(smf):
        if i % 64 == 0:
            byte &= 0x7F
        for j in range(7, -1, -1):
            fb = ((reg >> 3) & 1) ^ ((byte >> j) & 1)
            reg = (reg << 1) & 0xF
            if fb:
                reg ^= 0b0011
    return reg
