"""Frames of the gun flashing link: a pure encoder and a resynchronising decoder.

One frame on the wire (integers big-endian)::

    A5 5A | type u8 | len u16 | len ^ 0xFFFF u16 | payload (len bytes) | CRC-32 u32

The CRC-32 (IEEE 802.3, as ``zlib.crc32``) covers type, both length fields and the payload.  The
inverted length copy lets a receiver reject a damaged length at once instead of waiting for a
payload that never comes.  A receiver that finds a bad frame skips one byte past the sync and
hunts for the next ``A5 5A``; it counts what it dropped.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

SYNC = b"\xA5\x5A"
_HEAD = struct.Struct(">2sBHH")
HEAD_LEN = _HEAD.size          # 7
OVERHEAD = HEAD_LEN + 4        # 11 bytes around every payload
MAX_PAYLOAD = 8192


@dataclass(frozen=True)
class Frame:
    type: int
    payload: bytes


def encode_frame(type_: int, payload: bytes = b"") -> bytes:
    if not 0 <= type_ <= 255:
        raise ValueError(f"frame type {type_} out of range")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"frame payload of {len(payload)} bytes (at most {MAX_PAYLOAD})")
    head = _HEAD.pack(SYNC, type_, len(payload), len(payload) ^ 0xFFFF)
    return head + payload + struct.pack(">I", zlib.crc32(head[2:] + payload))


class FrameDecoder:
    """Feed it bytes as they come; it returns whole, checked frames.

    ``bad_frames`` counts frames dropped for a bad length or CRC, ``skipped_bytes`` the bytes
    thrown away while hunting for a sync."""

    def __init__(self, max_payload: int = MAX_PAYLOAD):
        self.max_payload = max_payload
        self.buf = bytearray()
        self.bad_frames = 0
        self.skipped_bytes = 0

    def feed(self, data: bytes) -> list[Frame]:
        self.buf += data
        out = []
        while True:
            i = self.buf.find(SYNC)
            if i < 0:
                keep = 1 if self.buf[-1:] == SYNC[:1] else 0
                self.skipped_bytes += len(self.buf) - keep
                del self.buf[:len(self.buf) - keep]
                return out
            if i:
                self.skipped_bytes += i
                del self.buf[:i]
            if len(self.buf) < HEAD_LEN:
                return out
            _, type_, length, inverse = _HEAD.unpack_from(self.buf)
            if length ^ 0xFFFF != inverse or length > self.max_payload:
                self._drop()
                continue
            end = HEAD_LEN + length + 4
            if len(self.buf) < end:
                return out
            payload = bytes(self.buf[HEAD_LEN:HEAD_LEN + length])
            (crc,) = struct.unpack_from(">I", self.buf, HEAD_LEN + length)
            if zlib.crc32(bytes(self.buf[2:HEAD_LEN]) + payload) != crc:
                self._drop()
                continue
            del self.buf[:end]
            out.append(Frame(type_, payload))

    def _drop(self) -> None:
        self.bad_frames += 1
        self.skipped_bytes += 2
        del self.buf[:2]
