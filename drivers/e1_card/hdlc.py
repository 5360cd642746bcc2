"""HDLC framing of the ISDN D channel (Q.921 §2): flags, zero-bit insertion, FCS-16.

On an E1 CCS span the D channel is timeslot 16 at 64 kbit/s.  HDLC sends each octet least
significant bit first; a timeslot sends its bit 1 (most significant) first, so the first HDLC bit
of each group of eight lands in the MSB of the TS16 byte.  Between frames the line carries
contiguous flags ``01111110``.

The FCS is the ITU-T X.25 CRC-16 (polynomial x^16 + x^12 + x^5 + 1, reflected, preset and
complemented); a received frame is good when the CRC over address..FCS is ``0xF0B8``.
"""
from __future__ import annotations

from .errors import CodecError

FLAG = 0x7E
MIN_FRAME = 3  # address (2) + control (1) at least, FCS excluded
MAX_FRAME = 260 + 4


def _crc_table():
    t = []
    for b in range(256):
        c = b
        for _ in range(8):
            c = (c >> 1) ^ 0x8408 if c & 1 else c >> 1
        t.append(c)
    return tuple(t)


_CRC = _crc_table()


def fcs16(data: bytes, crc: int = 0xFFFF) -> int:
    for b in data:
        crc = (crc >> 8) ^ _CRC[(crc ^ b) & 0xFF]
    return crc


def add_fcs(frame: bytes) -> bytes:
    c = fcs16(frame) ^ 0xFFFF
    return frame + bytes((c & 0xFF, c >> 8))


def check_fcs(frame_with_fcs: bytes) -> bool:
    return len(frame_with_fcs) >= 2 and fcs16(frame_with_fcs) == 0xF0B8


class HdlcEncoder:
    """Turns frames into a bit stream, packed into TS16 bytes on demand."""

    def __init__(self) -> None:
        self._queue: list[bytes] = []
        self._bits: list[int] = []  # pending bits, first to send first
        self.frames_sent = 0

    def send(self, frame: bytes) -> None:
        if not MIN_FRAME <= len(frame) <= MAX_FRAME:
            raise CodecError(f"a D-channel frame is {MIN_FRAME}..{MAX_FRAME} bytes, got {len(frame)}")
        self._queue.append(bytes(frame))

    def _frame_bits(self, frame: bytes) -> list[int]:
        bits = [0, 1, 1, 1, 1, 1, 1, 0]
        ones = 0
        for b in add_fcs(frame):
            for i in range(8):
                bit = (b >> i) & 1
                bits.append(bit)
                if bit:
                    ones += 1
                    if ones == 5:
                        bits.append(0)
                        ones = 0
                else:
                    ones = 0
        bits += [0, 1, 1, 1, 1, 1, 1, 0]
        return bits

    def read(self, nbytes: int) -> bytes:
        """``nbytes`` TS16 bytes: queued frames, then flags."""
        bits = self._bits
        while len(bits) < 8 * nbytes and self._queue:
            bits.extend(self._frame_bits(self._queue.pop(0)))
            self.frames_sent += 1
        if not bits and not self._queue:
            return bytes([FLAG]) * nbytes
        while len(bits) < 8 * nbytes:
            bits.extend((0, 1, 1, 1, 1, 1, 1, 0))
        out = bytearray()
        for k in range(nbytes):
            v = 0
            for bit in bits[8 * k:8 * k + 8]:
                v = (v << 1) | bit
            out.append(v)
        del bits[:8 * nbytes]
        return bytes(out)


_FLAG_ROTATIONS = frozenset(((FLAG << r) | (FLAG >> (8 - r))) & 0xFF for r in range(8))


class HdlcDecoder:
    """Recovers frames (FCS checked and removed) from TS16 bytes.

    Counters: ``fcs_errors``, ``aborts`` (seven or more ones inside a frame), ``too_long``.
    """

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.fcs_errors = 0
        self.aborts = 0
        self.too_long = 0
        self._ones = 0
        self._in_frame = False
        self._cur = 0
        self._nbits = 0
        self._buf = bytearray()
        self._idle_byte = None

    def feed(self, data: bytes) -> list[bytes]:
        new: list[bytes] = []
        if self._idle_byte is not None and data.count(self._idle_byte) == len(data):
            return new  # more contiguous flags at the same bit phase: the state cannot change
        for byte in data:
            for i in range(7, -1, -1):
                self._bit((byte >> i) & 1, new)
        self._idle_byte = None
        if (len(data) >= 2 and data[-1] == data[-2] and data[-1] in _FLAG_ROTATIONS
                and not self._buf):
            self._idle_byte = data[-1]
        self.frames.extend(new)
        return new

    def _bit(self, bit: int, new: list) -> None:
        if bit:
            self._ones += 1
            if self._ones >= 7:
                if self._in_frame and (self._buf or self._nbits):
                    self.aborts += 1
                self._in_frame = False
                self._reset()
            return
        # a zero
        if self._ones == 6:  # flag
            self._end_frame(new)
            self._ones = 0
            self._in_frame = True
            self._reset()
            return
        if self._ones == 5:  # five data ones and a stuffed zero: drop the zero
            self._ones = 0
            for _ in range(5):
                self._push(1)
            return
        ones = self._ones
        self._ones = 0
        for _ in range(ones):
            self._push(1)
        self._push(0)

    def _push(self, bit: int) -> None:
        if not self._in_frame:
            return
        self._cur |= bit << self._nbits
        self._nbits += 1
        if self._nbits == 8:
            self._buf.append(self._cur)
            self._cur = 0
            self._nbits = 0
            if len(self._buf) > MAX_FRAME + 2:
                self.too_long += 1
                self._in_frame = False
                self._reset()

    def _reset(self) -> None:
        self._buf = bytearray()
        self._cur = 0
        self._nbits = 0

    def _end_frame(self, new: list) -> None:
        if not self._in_frame:
            return
        # the flag's leading zero was taken as a data bit: it is left in the partial octet
        buf = bytes(self._buf)
        if len(buf) < MIN_FRAME + 2:
            return  # flags back to back, or a fragment
        if check_fcs(buf):
            new.append(buf[:-2])
        else:
            self.fcs_errors += 1
