"""MT-SICS (Mettler Toledo Standard Interface Command Set), levels 0/1: ASCII lines ending CR LF.

Requests: ``S`` (stable weight), ``SI`` (weight now), ``Z``/``ZI`` (zero), ``T``/``TI`` (tare),
``TA`` (tare value), ``TAC`` (clear tare), ``@`` (reset).  Weight replies are
``S S     100.00 g`` (stable) / ``S D     100.02 g`` (dynamic), ``S +`` / ``S -`` (over/underload),
``S I`` (busy); errors ``ES``, ``ET``, ``EL``.  The value is right-aligned in a padded field, so
the reply is split on whitespace.
"""
from __future__ import annotations

from drivers.scale.base import UNIT_GRAMS, Decoder, parse_decimal, to_grams

WEIGHT_IDS = {"S", "SI", "SIR", "SNR", "SR", "SU", "SIU"}


class MtSics(Decoder):
    name = "mt-sics"
    summary = "MT-SICS: SI/S/Z/T/TA/TAC/@ lines, S S|D value unit"
    serial = {"baudrate": 9600, "bytesize": 8, "parity": "N", "stopbits": 1}
    poll_request = b"SI\r\n"
    zero_request = b"Z\r\n"
    tare_request = b"T\r\n"
    max_line = 64

    def __init__(self, **kw):
        super().__init__(**kw)
        self.tare_g: int | None = None

    def _parse(self) -> None:
        buf = self.buf
        while True:
            end = -1
            for i, b in enumerate(buf):
                if b in (0x0A, 0x0D):
                    end = i
                    break
            if end < 0:
                if len(buf) > self.max_line:
                    self._bad()
                    buf.clear()
                return
            line = bytes(buf[:end])
            stop = end + 1
            while stop < len(buf) and buf[stop] in (0x0A, 0x0D):
                stop += 1
            raw = bytes(buf[:stop])
            del buf[:stop]
            if line:
                self._line(line, raw)

    def _line(self, line: bytes, raw: bytes) -> None:
        if len(line) > self.max_line or any(b < 0x20 or b > 0x7E for b in line):
            self._bad()
            return
        parts = line.decode("ascii").split()
        if not parts:                     # a line of spaces: nothing to read, not a bad frame
            return
        cmd = parts[0]
        if cmd in ("ES", "ET", "EL") and len(parts) == 1:
            self.replies.append((cmd, ""))
            return
        if len(parts) < 2:
            self._bad()
            return
        status = parts[1]
        if cmd in WEIGHT_IDS:
            if status in ("S", "D") and len(parts) == 4:
                value, unit = parse_decimal(parts[2]), parts[3]
                if value is None or unit.lower() not in UNIT_GRAMS:
                    self._bad()
                    return
                net = bool(self.tare_g)
                self._reading(raw, to_grams(value, unit), status == "S", net=net,
                              tare_g=self.tare_g if net else None)
            elif status in ("+", "-") and len(parts) == 2:
                self._limit(raw, over=status == "+")
            elif status == "I" and len(parts) == 2:
                self.replies.append((cmd, status))
            else:
                self._bad()
            return
        if cmd in ("T", "TI", "TA") and status in ("S", "A", "D") and len(parts) == 4:
            value = parse_decimal(parts[2])
            if value is None or parts[3].lower() not in UNIT_GRAMS:
                self._bad()
                return
            self.tare_g = to_grams(value, parts[3])
        elif cmd == "TAC" and status == "A":
            self.tare_g = None
        elif cmd not in ("Z", "ZI", "T", "TI", "TA", "TAC", "I4", "@") or not status:
            self._bad()
            return
        self.replies.append((cmd, status))
