"""Mettler Toledo continuous output (8142 style) and the Toledo 8217 request/response protocol.

Continuous: ``STX SWA SWB SWC dddddd tttttt CR [CHK]`` about 7–10 times a second; bytes are masked
to 7 bits first (7E1 lines read as 8N1 keep the parity in bit 7).  See docs/devices.md.
8217: the host sends ``W`` (weigh), ``Z`` (zero), ``T`` (tare), ``C`` (clear tare); the scale
answers ``STX weight CR`` when the weight is valid and ``STX ? status CR`` otherwise.
"""
from __future__ import annotations

from decimal import Decimal

from drivers.scale.base import Decoder, parse_decimal, to_grams

STX, ETX, CR, LF = 0x02, 0x03, 0x0D, 0x0A

MASK7 = bytes(b & 0x7F for b in range(256))  # strip the parity bit of a 7E1 line read as 8N1


class _SevenBit:
    def feed(self, data: bytes):
        return super().feed(data.translate(MASK7))  # raw frames are kept as 7-bit ASCII


# SWA bits 0-2: where the decimal point is (or how many dummy zeros follow)
DECIMAL_SHIFT = {0: 2, 1: 1, 2: 0, 3: -1, 4: -2, 5: -3, 6: -4, 7: -5}


def toledo_checksum(frame: bytes) -> int:
    """Two's complement of the low 7 bits of the sum of all bytes before the checksum."""
    return (-sum(b & 0x7F for b in frame)) & 0x7F


class ToledoContinuous(_SevenBit, Decoder):
    """``checksum``: ``True`` (always present), ``False`` (never) or ``None`` (learn it from the stream:
    a byte after CR that is not STX and equals the checksum means "present").  With a checksum a
    frame that fails it is dropped; without one, status bits and digits are still validated."""
    name = "toledo-continuous"
    summary = "Mettler Toledo continuous output: STX SWA SWB SWC weight tare CR [checksum]"
    serial = {"baudrate": 9600, "bytesize": 7, "parity": "E", "stopbits": 1}
    zero_request = b"Z\r\n"   # terminals that accept host commands in continuous mode (IND4xx, KERN FTC)
    tare_request = b"T\r\n"

    def __init__(self, checksum: bool | None = None, **kw):
        super().__init__(**kw)
        self.checksum = checksum

    def _parse(self) -> None:
        buf = self.buf
        while self._sync(STX):
            if len(buf) < 17:
                return
            frame = bytes(buf[:17])
            if frame[16] != CR or not self._fields_ok(frame):
                self._bad()
                del buf[:1]
                continue
            # a checksum byte follows the CR, or (no checksum) the next STX does
            if self.checksum is None:
                if len(buf) < 18:
                    return
                nxt = buf[17]
                if nxt == STX:
                    self.checksum = False
                elif nxt == toledo_checksum(frame):
                    self.checksum = True
                else:
                    self._bad()
                    del buf[:1]
                    continue
            if self.checksum:
                if len(buf) < 18:
                    return
                if buf[17] != toledo_checksum(frame):
                    self._bad()
                    del buf[:1]
                    continue
                raw = bytes(buf[:18])
                del buf[:18]
            else:
                raw = bytes(buf[:17])
                del buf[:17]
            self._decode(frame, raw)

    @staticmethod
    def _fields_ok(frame: bytes) -> bool:
        digits = frame[4:16]
        return all(0x30 <= b <= 0x39 or b == 0x20 for b in digits) and all(
            0x20 <= b < 0x80 for b in frame[1:4])

    def _decode(self, frame: bytes, raw: bytes) -> None:
        swa, swb, swc = frame[1], frame[2], frame[3]
        shift = DECIMAL_SHIFT[swa & 0x07]
        unit = "g" if swc & 0x01 else ("kg" if swb & 0x10 else "lb")
        net = bool(swb & 0x01)
        if swb & 0x04:  # out of range: the sign says which side
            self._limit(raw, over=not swb & 0x02, net=net)
            return
        weight = Decimal(int(frame[4:10].replace(b" ", b"0"))).scaleb(shift)
        tare = Decimal(int(frame[10:16].replace(b" ", b"0"))).scaleb(shift)
        if swb & 0x02:
            weight = -weight
        stable = not (swb & 0x08) and not (swb & 0x40)  # motion, or powered up and not yet zeroed
        tare_g = to_grams(tare, unit)
        self._reading(raw, to_grams(weight, unit), stable, net=net, tare_g=tare_g if net or tare_g else None)


class Toledo8217(_SevenBit, Decoder):
    """``unit``: the frame carries none, so it is configured (``kg`` by default; ``g`` scales send
    ``0XXXXX``).  A weight reply means "valid and not in motion"; a status reply carries no weight
    and only over/under range becomes a reading."""
    name = "toledo-8217"
    summary = "Toledo 8217 request/response: W Z T C, STX weight CR or STX ? status CR"
    serial = {"baudrate": 9600, "bytesize": 7, "parity": "E", "stopbits": 1}
    poll_request = b"W"
    zero_request = b"Z"
    tare_request = b"T"
    clear_request = b"C"

    MOTION, OVER, UNDER, OUTSIDE_ZERO, CENTER_ZERO, NET = 1, 2, 4, 8, 16, 32

    def __init__(self, unit: str = "kg", **kw):
        super().__init__(**kw)
        self.unit = unit

    def _parse(self) -> None:
        buf = self.buf
        while self._sync(STX):
            end = buf.find(CR, 1)
            if end < 0:
                if len(buf) > 16:  # no frame is that long
                    self._bad()
                    del buf[:1]
                    continue
                return
            body = bytes(buf[1:end])
            raw = bytes(buf[: end + 1])
            if STX in body:
                self._bad()
                del buf[:1]
                continue
            del buf[: end + 1]
            self._decode(body, raw)

    def _decode(self, body: bytes, raw: bytes) -> None:
        if body[:1] == b"?":
            if len(body) != 2 or not body[1] & 0x40:
                self._bad()
                return
            status = body[1]
            self.replies.append(("status", status))
            if status & self.OVER:
                self._limit(raw, over=True)
            elif status & self.UNDER:
                self._limit(raw, over=False)
            return
        text = body.decode("ascii", "replace")
        net = text.rstrip().endswith("N")
        if net:
            text = text.rstrip()[:-1]
        value = parse_decimal(text)
        if value is None or len(body) > 12:
            self._bad()
            return
        self._reading(raw, to_grams(value, self.unit), True, net=net)
