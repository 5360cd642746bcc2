"""RTP (RFC 3550) packets, RFC 4733 telephone events and G.711 µ-law: pure functions, no I/O.

``parse(data)`` reads the fixed header (and skips CSRCs, the extension and padding) into a
:class:`Packet` or raises ``SipParseError``'s sibling :class:`RtpError`; ``build`` makes one.
``parse_event`` reads a telephone-event payload (event, end bit, volume, duration).  A-law
lives in the E1 driver (``drivers.e1_card.alaw``); µ-law (G.711 table 2) is here.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from hub.telephony.errors import TelephonyError

EVENTS = "0123456789*#ABCD"


class RtpError(TelephonyError, ValueError):
    """A datagram that is not an RTP packet we can read."""


@dataclass
class Packet:
    pt: int
    seq: int
    ts: int
    ssrc: int
    marker: bool
    payload: bytes


def parse(data: bytes) -> Packet:
    if len(data) < 12:
        raise RtpError(f"RTP packet of {len(data)} bytes is shorter than its header")
    b0, b1, seq, ts, ssrc = struct.unpack_from("!BBHII", data)
    if b0 >> 6 != 2:
        raise RtpError(f"RTP version {b0 >> 6}, not 2")
    off = 12 + 4 * (b0 & 0x0F)
    if b0 & 0x10:
        if len(data) < off + 4:
            raise RtpError("RTP header extension truncated")
        off += 4 + 4 * struct.unpack_from("!H", data, off + 2)[0]
    end = len(data)
    if b0 & 0x20:
        pad = data[-1]
        if pad == 0 or pad > end - off:
            raise RtpError("bad RTP padding")
        end -= pad
    if off > end:
        raise RtpError("RTP header longer than the packet")
    return Packet(b1 & 0x7F, seq, ts, ssrc, bool(b1 & 0x80), bytes(data[off:end]))


def build(pt: int, seq: int, ts: int, ssrc: int, payload: bytes, marker: bool = False) -> bytes:
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | (pt & 0x7F), seq & 0xFFFF, ts & 0xFFFFFFFF,
                       ssrc & 0xFFFFFFFF) + payload


@dataclass
class ToneEvent:
    key: str
    end: bool
    volume: int
    duration: int      # in timestamp units (1/8000 s)


def parse_event(payload: bytes) -> ToneEvent:
    if len(payload) < 4:
        raise RtpError("telephone-event payload shorter than 4 bytes")
    ev, flags, duration = struct.unpack_from("!BBH", payload)
    if ev >= len(EVENTS):
        raise RtpError(f"telephone event {ev} is not a DTMF key")
    return ToneEvent(EVENTS[ev], bool(flags & 0x80), flags & 0x3F, duration)


def build_event(key: str, end: bool, duration: int, volume: int = 10) -> bytes:
    return struct.pack("!BBH", EVENTS.index(key), (0x80 if end else 0) | (volume & 0x3F), duration)


def _ulaw_decode(code: int) -> int:
    code = ~code & 0xFF
    sign, exponent, mantissa = code & 0x80, (code >> 4) & 0x07, code & 0x0F
    mag = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return -mag if sign else mag


#: µ-law code -> linear 16-bit sample
ULAW_DECODE: tuple[int, ...] = tuple(_ulaw_decode(c) for c in range(256))


def pcm16(payload: bytes, codec: str) -> bytes:
    """G.711 bytes (``PCMA`` or ``PCMU``) -> little-endian 16-bit linear samples (for WAV)."""
    if codec == "PCMA":
        from drivers.e1_card.alaw import DECODE_TABLE
        table = DECODE_TABLE
    else:
        table = ULAW_DECODE
    return struct.pack(f"<{len(payload)}h", *map(table.__getitem__, payload))


_ALAW_TO_ULAW: bytes | None = None


def alaw_to_ulaw(data: bytes) -> bytes:
    """A-law bytes -> the µ-law codes nearest in value (for a PCMU peer of an A-law source)."""
    global _ALAW_TO_ULAW
    if _ALAW_TO_ULAW is None:
        from drivers.e1_card.alaw import DECODE_TABLE
        _ALAW_TO_ULAW = bytes(min(range(256), key=lambda u: abs(ULAW_DECODE[u] - DECODE_TABLE[a]))
                              for a in range(256))
    return data.translate(_ALAW_TO_ULAW)
