"""Shanghai Yaohua XK3190 indicators (A9, A12(E), A23P, A26 …) and their many clones.

Continuous format 0 (``tF 0``): ``STX sign d6 d5 d4 d3 d2 d1 decimals XH XL ETX`` (12 bytes); XOR of
bytes 2–9 sent as two ASCII hex digits (``+0x30`` up to 9, ``+0x37`` above; ``+0x30`` only on some
models, accepted too).
Format 1 (reversed): ``=`` + the 8 display characters lowest first, the sign (``0``/``-``) last:
``=000.3000`` is 3.000, ``=00.1000-`` is -1.00.  Format 2 (plain): ``=`` + sign + 7 characters:
``=0003.000``, ``=-0001.00``.  Neither has a checksum or a stability flag.
A12(E): ``W`` ``G``/``N`` + 7 characters with the point + ``kg`` + XOR hex of bytes 1–11 + CR LF;
overload is 9 spaces + ``OL``, underload 9 spaces + ``LO`` (checksum ``23``).
Command mode (A9+, A23P, DS3): host ``STX addr cmd XH XL ETX`` (XOR of addr and cmd; ``A``
handshake, ``B`` gross, ``C`` tare, ``D`` net), reply ``STX addr cmd sign d6..d1 decimals XH XL ETX``.
The indicator reports kilograms (its usual unit); pass ``unit=`` for a scale set up otherwise.
"""
from __future__ import annotations

from decimal import Decimal

from drivers.scale.base import Decoder, hex_nibble, nibble_value, parse_decimal, to_grams, xor_all

STX, ETX, EOT, CR, LF = 0x02, 0x03, 0x04, 0x0D, 0x0A
DIGITS = frozenset(b"0123456789")


def xor_hex(data: bytes) -> bytes:
    x = xor_all(data)
    return bytes((hex_nibble(x >> 4), hex_nibble(x & 0x0F)))


def check_xor(data: bytes, hi: int, lo: int) -> bool:
    h, l = nibble_value(hi), nibble_value(lo)
    return h is not None and l is not None and (h << 4 | l) == xor_all(data)


def signed_digits(sign: int, digits: bytes, decimals: int) -> Decimal | None:
    """``+``/``-`` and 6 digits and the count of decimals (0–4) as a number; ``None`` if malformed."""
    if sign not in (0x2B, 0x2D, 0x20) or not all(b in DIGITS for b in digits) or not 0 <= decimals <= 4:
        return None
    value = Decimal(int(digits)).scaleb(-decimals)
    return -value if sign == 0x2D else value


class XK3190(Decoder):
    """Continuous format 0."""
    name = "xk3190"
    summary = "Yaohua XK3190 continuous format 0: STX sign 6 digits decimals XOR ETX"
    serial = {"baudrate": 9600, "bytesize": 8, "parity": "N", "stopbits": 1}

    def __init__(self, unit: str = "kg", **kw):
        super().__init__(**kw)
        self.unit = unit

    def _parse(self) -> None:
        buf = self.buf
        while self._sync(STX):
            if len(buf) < 12:
                return
            f = bytes(buf[:12])
            value = signed_digits(f[1], f[2:8], f[8] - 0x30) if f[11] == ETX else None
            if value is None or not check_xor(f[1:9], f[9], f[10]):
                self._bad()
                del buf[:1]
                continue
            del buf[:12]
            self._reading(f, to_grams(value, self.unit), True)


class _EqualsFormat(Decoder):
    """Formats 1 and 2: ``=`` + 8 characters, no terminator, no checksum."""
    serial = {"baudrate": 9600, "bytesize": 8, "parity": "N", "stopbits": 1}
    reversed_order = False

    def __init__(self, unit: str = "kg", **kw):
        super().__init__(**kw)
        self.unit = unit

    def _parse(self) -> None:
        buf = self.buf
        while self._sync(b"="):
            if len(buf) < 9:
                return
            raw = bytes(buf[:9])
            body = raw[1:][::-1] if self.reversed_order else raw[1:]
            value = self._value(body)
            if value is None:
                self._bad()
                del buf[:1]
                continue
            del buf[:9]
            self._reading(raw, to_grams(value, self.unit), True)

    @staticmethod
    def _value(body: bytes) -> Decimal | None:
        sign, digits = body[:1], body[1:]
        if sign not in (b"0", b"-", b"+", b" ") or not all(b in DIGITS or b == 0x2E for b in digits):
            return None
        if digits.count(b".") > 1 or digits[:1] == b"." or digits[-1:] == b".":
            return None
        value = parse_decimal(digits.decode())
        if value is None:
            return None
        return -value if sign == b"-" else value


class XK3190Reversed(_EqualsFormat):
    name = "xk3190-reversed"
    summary = "Yaohua XK3190 format 1: = and 8 characters lowest first"
    reversed_order = True


class XK3190Plain(_EqualsFormat):
    name = "xk3190-plain"
    summary = "Yaohua XK3190 format 2: = sign and 7 characters"


class XK3190A12(Decoder):
    """A12(E) frames; ``N`` frames are net weights."""
    name = "xk3190-a12"
    summary = "Yaohua XK3190-A12(E): WG/WN value kg XOR CR LF, OL/LO"
    serial = {"baudrate": 9600, "bytesize": 8, "parity": "N", "stopbits": 1}
    UNITS = {b"kg": "kg", b"lb": "lb", b" g": "g", b"g ": "g", b" t": "t", b"t ": "t"}

    def _parse(self) -> None:
        buf = self.buf
        while True:
            end = buf.find(b"\r\n")
            if end < 0:
                if len(buf) > 64:
                    self._bad()
                    del buf[: len(buf) - 15]
                return
            # the 13 bytes before CR LF are the frame; anything before them is noise
            if end < 13:
                self._bad()
                del buf[: end + 2]
                continue
            if end > 13:
                self._bad()
            f = bytes(buf[end - 13:end])
            raw = f + b"\r\n"
            del buf[: end + 2]
            if not check_xor(f[:11], f[11], f[12]):
                self._bad()
                continue
            if f[:9] == b" " * 9 and f[9:11] in (b"OL", b"LO"):
                self._limit(raw, over=f[9:11] == b"OL")
                continue
            unit = self.UNITS.get(f[9:11])
            value = parse_decimal(f[2:9].decode("ascii", "replace").replace(" ", "")) if f[0:1] == b"W" else None
            if unit is None or value is None or f[1:2] not in (b"G", b"N"):
                self._bad()
                continue
            self._reading(raw, to_grams(value, unit), True, net=f[1:2] == b"N")


def xk3190_request(address: str, command: str) -> bytes:
    """Host request in command mode, e.g. ``xk3190_request('A', 'B')`` -> ``02 41 42 30 33 03``."""
    body = (address + command).encode("ascii")
    return bytes([STX]) + body + xor_hex(body) + bytes([ETX])


class XK3190Cmd(Decoder):
    """Addressed command mode: we poll ``B`` (gross) at ``address`` (``A``–``Z``)."""
    name = "xk3190-cmd"
    summary = "Yaohua XK3190 command mode: STX addr cmd XOR ETX, polled"
    serial = {"baudrate": 9600, "bytesize": 8, "parity": "N", "stopbits": 1}

    def __init__(self, address: str = "A", unit: str = "kg", weigh: str = "B", **kw):
        super().__init__(**kw)
        if len(address) != 1 or not "A" <= address <= "Z":
            raise ValueError("address must be one letter A-Z")
        self.address, self.unit, self.weigh = address, unit, weigh
        self.poll_request = xk3190_request(address, weigh)
        self.tare_g: int | None = None

    def _parse(self) -> None:
        buf = self.buf
        while self._sync(STX):
            end = buf.find(ETX, 1)
            if end < 0:
                if len(buf) > 14:
                    self._bad()
                    del buf[:1]
                    continue
                return
            f = bytes(buf[: end + 1])
            if len(f) not in (6, 14) or STX in f[1:] or not check_xor(f[1:-3], f[-3], f[-2]) \
                    or f[1] != ord(self.address):
                self._bad()
                del buf[:1]
                continue
            del buf[: end + 1]
            self._decode(f)

    def _decode(self, f: bytes) -> None:
        cmd = chr(f[2])
        if len(f) == 6:
            self.replies.append((cmd, "ok" if cmd == "A" else "error" if f[2] == EOT else "empty"))
            return
        value = signed_digits(f[3], f[4:10], f[10] - 0x30)
        if value is None or cmd not in "BCD":
            self._bad()
            return
        grams = to_grams(value, self.unit)
        if cmd == "C":
            self.tare_g = grams
            self.replies.append(("C", grams))
            return
        self._reading(f, grams, True, net=cmd == "D", tare_g=self.tare_g if cmd == "D" else None)
