"""USB HID POS scales (usage page 0x8D, "Weighing Devices"), read through hidapi.

Input report 3 (what Dymo, Stamps.com, Mettler and Fairbanks postal scales send)::

    03 status unit exponent weightLSB weightMSB

status: 1 fault, 2 stable at zero, 3 in motion, 4 stable, 5 under zero, 6 over weight limit,
7 requires calibration, 8 requires re-zeroing.  unit: 1 mg, 2 g, 3 kg, 4 ct, 11 oz, 12 lb (others
rare).  exponent: signed power of ten (0xFF = -1).  Weight: unsigned 16-bit little-endian.
Example (Dymo M10): ``03 04 02 00 14 00`` is 20 g stable; ``03 04 0B FF 34 19`` is 645.2 oz.

The report the scale holds when it is opened can be old: :class:`drivers.scale.base.Scale` drops
the first reading after every (re)connect.  ``PORT`` is ``hid://VID:PID`` (hex), a hidraw path
(``/dev/hidraw3``), or ``hid://PATH``.
"""
from __future__ import annotations

from decimal import Decimal

from drivers.scale.base import Decoder, ScaleError, to_grams

UNITS = {1: "mg", 2: "g", 3: "kg", 4: "ct", 11: "oz", 12: "lb"}
FAULT, ZERO, MOTION, STABLE, UNDER, OVER, CALIBRATE, REZERO = range(1, 9)
REPORT_ID = 3
USAGE_PAGE = 0x8D


class HidPosScale(Decoder):
    """Pure: each 6-byte input report (or several glued together) -> readings."""
    name = "hid-pos-scale"
    summary = "USB HID POS scale (usage page 0x8D), report 3 via hidapi"
    serial: dict = {}

    def _parse(self) -> None:
        buf = self.buf
        while len(buf) >= 6:
            if buf[0] != REPORT_ID or not 1 <= buf[1] <= 8:
                self._bad()
                del buf[:1]
                continue
            r = bytes(buf[:6])
            del buf[:6]
            status, unit_code, exp = r[1], r[2], r[3] - 256 if r[3] > 127 else r[3]
            unit = UNITS.get(unit_code)
            if status in (FAULT, CALIBRATE, REZERO):
                self.replies.append(("status", status))
                continue
            if status == OVER:
                self._limit(r, over=True)
                continue
            if status == UNDER:
                self._limit(r, over=False)
                continue
            if unit is None or not -6 <= exp <= 6:
                self._bad()
                continue
            value = Decimal(r[4] | r[5] << 8).scaleb(exp)
            self._reading(r, to_grams(value, unit), status in (ZERO, STABLE))
        if buf and buf[0] != REPORT_ID:
            self._bad()
            buf.clear()


class HidPort:
    """Port-like wrapper of a hidapi device for :class:`drivers.port.PortOwner` (``opener=``):
    ``read(n)`` returns one whole input report, ``b""`` on timeout, and raises ``OSError`` when
    the device is gone.  ``device_factory`` makes the lowest-level object (``hid.device`` by
    default; tests pass a fake that returns report bytes)."""

    def __init__(self, target: str, device_factory=None, timeout_ms: int = 100):
        if device_factory is None:
            try:
                import hid
            except ImportError as e:  # the hidapi wheel or libhidapi is missing
                raise ScaleError(f"hidapi is not available: {e}") from e
            device_factory = hid.device
        self.dev = device_factory()
        self.timeout_ms = timeout_ms
        vid_pid = parse_vid_pid(target)
        if vid_pid:
            self.dev.open(*vid_pid)
        else:
            self.dev.open_path(target.encode() if isinstance(target, str) else target)
        self.in_waiting = 0

    def read(self, size: int = 64) -> bytes:
        data = self.dev.read(64, self.timeout_ms)
        if data is None:
            raise OSError("HID device gone")
        return bytes(data)

    def write(self, data: bytes) -> int:
        return self.dev.write(list(data))

    def close(self) -> None:
        self.dev.close()


def parse_vid_pid(target: str) -> tuple[int, int] | None:
    """``'0922:8003'`` -> ``(0x0922, 0x8003)``; ``None`` for a path."""
    parts = target.split(":")
    if len(parts) == 2 and all(len(p) == 4 for p in parts):
        try:
            return int(parts[0], 16), int(parts[1], 16)
        except ValueError:
            return None
    return None


def hid_target(port: str) -> str:
    return port[len("hid://"):] if port.startswith("hid://") else port
