"""What every scale protocol shares: the Reading, units, errors, the decoder base and the live device.

A protocol is a *pure* decoder class (bytes in, :class:`Reading` list out, no I/O) that also says how
to talk to the device: default serial settings, the poll request (command protocols) and the zero /
tare requests.  :class:`Scale` puts one decoder behind a :class:`drivers.port.PortOwner` and adds
what the edge needs: the latest reading, stability over several readings, and waiting for a fresh
stable weight.
"""
from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Callable

from drivers.port import PortOwner, now_ms


@dataclass(frozen=True)
class Reading:
    """One weight report.

    ``grams``     weight in integer grams (negative below zero); 0 and meaningless when
                  ``overload`` or ``underload`` is set.
    ``stable``    from a decoder: the device's own "no motion" flag (``True`` for protocols that have
                  none); from :class:`Scale`: that flag *and* the last N readings within tolerance.
    ``net``       the weight is net of a tare.
    ``tare_g``    the tare in grams where the protocol reports it, else ``None``.
    ``raw``       the frame exactly as received (for logs and support).
    ``time_ms``   UTC epoch milliseconds when the frame was decoded.
    """
    grams: int
    stable: bool
    net: bool = False
    tare_g: int | None = None
    overload: bool = False
    underload: bool = False
    raw: bytes = b""
    time_ms: int = 0

    def to_dict(self) -> dict:
        return {"grams": self.grams, "stable": self.stable, "net": self.net, "tare_g": self.tare_g,
                "overload": self.overload, "underload": self.underload, "raw": self.raw.hex(),
                "time_ms": self.time_ms}


class ScaleError(Exception):
    """Base class of scale errors (the CLI prints them as one line)."""


class UnknownProtocol(ScaleError, ValueError):
    """No protocol of that name in ``SCALE_PROTOCOLS``."""


class ScaleOptionError(ScaleError, ValueError):
    """An option the protocol does not take, or a bad value for one."""


class Unsupported(ScaleError):
    """The protocol (or the register map) has no such command, e.g. zero on a plain stream."""


class MapError(ScaleError, ValueError):
    """A Modbus register map is missing, malformed or names an unknown field."""


# grams per unit, exact
UNIT_GRAMS = {
    "g": Decimal(1), "kg": Decimal(1000), "mg": Decimal("0.001"), "t": Decimal(1_000_000),
    "lb": Decimal("453.59237"), "oz": Decimal("28.349523125"), "ct": Decimal("0.2"),
}


def to_grams(value: Decimal | int | str, unit: str) -> int:
    """``value`` in ``unit`` as integer grams (half up); ``ValueError`` for an unknown unit."""
    try:
        factor = UNIT_GRAMS[unit.lower()]
    except KeyError:
        raise ValueError(f"unknown unit {unit!r}") from None
    return int((Decimal(value) * factor).to_integral_value(rounding=ROUND_HALF_UP))


def parse_decimal(text: str) -> Decimal | None:
    """A display value such as ``'-0012.50'`` or ``' 4.139'``; ``None`` when it is not a number."""
    t = text.strip()
    if not t or t.count(".") > 1 or t.count("-") + t.count("+") > 1:
        return None
    body = t.lstrip("+-")
    if not body or not all(c.isdigit() or c == "." for c in body) or body == ".":
        return None
    if any(c in "+-" for c in t[1:]):
        return None
    try:
        return Decimal(t)
    except InvalidOperation:
        return None


def hex_nibble(value: int) -> int:
    """Yaohua's checksum digit: 0–9 -> '0'–'9', 10–15 -> 'A'–'F'."""
    return value + (0x30 if value <= 9 else 0x37)


def nibble_value(byte: int) -> int | None:
    """Inverse of :func:`hex_nibble`; also accepts the ``+0x30`` variant some manuals give (':'–'?')."""
    if 0x30 <= byte <= 0x3F:
        return byte - 0x30
    if 0x41 <= byte <= 0x46:
        return byte - 0x37
    return None


def xor_all(data: bytes) -> int:
    x = 0
    for b in data:
        x ^= b
    return x


class Decoder:
    """Base of the pure decoders: a byte buffer, counters, and the protocol's description.

    Subclasses implement ``_parse()`` over ``self.buf`` and call ``self._reading(...)`` / ``self._bad()``.
    Class attributes describe the wire: ``name``, ``serial`` (default pyserial settings),
    ``poll_request`` (sent every poll interval, command protocols), ``zero_request`` /
    ``tare_request`` (``None`` when the protocol has no such command), ``max_buffer``.
    """
    name = "?"
    summary = ""
    serial: dict = {"baudrate": 9600}
    poll_request: bytes | None = None
    zero_request: bytes | None = None
    tare_request: bytes | None = None
    max_buffer = 4096

    def __init__(self, clock: Callable[[], int] = now_ms):
        self.buf = bytearray()
        self.frames = 0
        self.bad_frames = 0
        self.clock = clock
        self.replies: collections.deque = collections.deque(maxlen=32)  # non-weight replies, newest last
        self._out: list[Reading] = []

    def reset(self) -> None:
        self.buf.clear()

    def feed(self, data: bytes) -> list[Reading]:
        self.buf += data
        self._out = []
        self._parse()
        if len(self.buf) > self.max_buffer:  # a runaway frame: keep the tail only
            del self.buf[: len(self.buf) - self.max_buffer]
            self.bad_frames += 1
        return self._out

    def _parse(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _sync(self, start: int | bytes) -> bool:
        """Drop the bytes before the next frame start; ``False`` (buffer emptied) when there is none."""
        i = self.buf.find(start)
        if i < 0:
            self.buf.clear()
            return False
        if i:
            del self.buf[:i]
        return True

    def _reading(self, raw: bytes, grams: int, stable: bool, **kw) -> None:
        self.frames += 1
        self._out.append(Reading(grams=grams, stable=stable, raw=bytes(raw), time_ms=self.clock(), **kw))

    def _limit(self, raw: bytes, over: bool, **kw) -> None:
        """An overload / underload report: no weight value, never stable."""
        self._reading(raw, 0, False, overload=over, underload=not over, **kw)

    def _bad(self, n: int = 1) -> None:
        self.bad_frames += n


SERIAL_KEYS = {"baudrate", "bytesize", "parity", "stopbits", "xonxoff", "rtscts", "dsrdtr", "exclusive"}
SCALE_KEYS = {"stable_readings", "stable_tolerance_g", "poll_interval_s", "discard_first",
              "backoff_min_s", "backoff_max_s"}


class Scale:
    """A live scale: one decoder behind one :class:`PortOwner` (see :func:`drivers.scale.open_scale`).

    Stability: a reading is stable when the device says so *and* the last ``stable_readings``
    readings (this one included) are all device-stable and within ``stable_tolerance_g`` of it.
    The first reading after every (re)connect is dropped (it may be a stale buffered value), and
    ``latest()`` is ``None`` while the device is away: a value is never older than the connection.
    """

    def __init__(self, port: str, decoder: Decoder, on_reading: Callable[[Reading], None] | None = None, *,
                 settings: dict | None = None, stable_readings: int = 3, stable_tolerance_g: int = 2,
                 poll_interval_s: float = 0.1, discard_first: bool = True, backoff_min_s: float = 0.1,
                 backoff_max_s: float = 5.0, opener: Callable[[], Any] | None = None,
                 session: Callable | None = None):
        self.decoder = decoder
        self.protocol = decoder.name
        self.on_reading = on_reading
        self.stable_readings = max(1, int(stable_readings))
        self.stable_tolerance_g = int(stable_tolerance_g)
        self.discard_first = discard_first
        self.readings = 0
        self._window: collections.deque = collections.deque(maxlen=self.stable_readings)
        self._latest: Reading | None = None
        self._seq = 0
        self._skip = discard_first
        self._cond = threading.Condition()
        serial_settings = dict(decoder.serial)
        serial_settings.update(settings or {})
        poll = decoder.poll_request
        self.owner = PortOwner(
            port, None if session else decoder, self._on_item, settings=serial_settings,
            poll=(lambda: poll) if poll and not session else None, poll_interval_s=poll_interval_s,
            session=session, on_state=self._on_state, backoff_min_s=backoff_min_s,
            backoff_max_s=backoff_max_s, opener=opener, name=f"{decoder.name}@{port}")

    # -- consumers --------------------------------------------------------------------------------
    def latest(self) -> Reading | None:
        """The newest reading, or ``None`` before the first one and whenever the device is away."""
        return self._latest if self.owner.state == "connected" else None

    def stable_weight(self, timeout_s: float) -> Reading | None:
        """Wait up to ``timeout_s`` for a stable reading decoded *after* this call; ``None`` if none came.

        A reading equal to the previous one is returned like any other (the same weight twice is
        a second parcel, not "nothing"); over/underload readings never count as stable.
        """
        deadline = time.monotonic() + timeout_s
        with self._cond:
            start = self._seq
            while True:
                r = self._latest
                if self._seq > start and r is not None and r.stable:
                    return r
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def zero(self) -> None:
        self._command("zero", self.decoder.zero_request)

    def tare(self) -> None:
        self._command("tare", self.decoder.tare_request)

    def status(self) -> dict:
        st = self.owner.status()
        st.update(protocol=self.protocol, readings=self.readings)
        return st

    def close(self) -> None:
        self.owner.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- internals --------------------------------------------------------------------------------
    def _command(self, what: str, request: bytes | None) -> None:
        if request is None:
            raise Unsupported(f"{self.protocol} has no {what} command")
        self.owner.write(request)

    def _on_state(self, state: str) -> None:
        if state != "connected":
            with self._cond:
                self._latest = None
                self._window.clear()
                self._skip = self.discard_first
                self._cond.notify_all()

    def _on_item(self, r: Reading) -> None:
        with self._cond:
            if self._skip:
                self._skip = False
                return
            self._window.append(r)
            stable = (r.stable and not r.overload and not r.underload
                      and len(self._window) == self.stable_readings
                      and all(w.stable and w.net == r.net and not w.overload and not w.underload
                              and abs(w.grams - r.grams) <= self.stable_tolerance_g for w in self._window))
            if stable != r.stable:
                r = replace(r, stable=stable)
            self._latest = r
            self._seq += 1
            self.readings += 1
            self._cond.notify_all()
        if self.on_reading is not None:
            self.on_reading(r)
