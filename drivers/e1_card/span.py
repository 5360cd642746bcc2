"""The E1 span: one base class, backends registered by name (``sim``, ``dahdi``).

A span is one E1 trunk: 31 timeslots, of which 1-15 and 17-31 carry channels (numbered by
timeslot, as DAHDI numbers them) and 16 carries CAS (ABCD bits per channel) or, on a CCS span,
the ISDN D channel.  The signalling layers (:mod:`.r2`, :mod:`.pri`) drive a span only through
this interface, so they run unchanged on the simulated span and on a DAHDI card:

* ``set_tx_abcd(ts, abcd)`` / ``rx_abcd(ts)``: CAS bits (ints 0..15, A = bit 3);
* ``write_audio(ts, data)`` / ``read_audio(ts)``: A-law bytes, 8000 per second;
* ``send_dchannel(frame)`` / ``read_dchannel()``: whole Q.921 frames (CCS spans);
* ``status()``: :class:`SpanStatus` with alarms and counters;
* ``listeners``: callables receiving :class:`SpanEvent` (alarm changes, ABCD changes).

Time: every span has a clock in milliseconds (``now_ms``).  On the simulated span it is
simulated time (time-compressed or paced to the wall clock); on a card it is the monotonic clock.
"""
from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field

from .errors import BackendError, ConfigError
from .frame import VOICE_TIMESLOTS

#: backend name -> "module:Class"; imported on first use
BACKENDS: dict[str, str] = {
    "sim": "drivers.e1_card.virtual:VirtualSpan",   # the virtual span pair (tests, demos)
    "dahdi": "drivers.e1_card.dahdi:DahdiSpan",
}

ALARM_COLOURS = {"LOS": "RED", "LOF": "RED", "AIS": "BLUE", "RAI": "YELLOW"}


@dataclass
class SpanConfig:
    """What a trunk is configured as (the same fields feed DAHDI's ``system.conf``).

    ``signalling``: ``"cas"`` (China No.1 / R2) or ``"ccs"`` (ISDN PRI); ``timing``: 0 = this
    span is a timing master (we give the clock), 1..n = priority as a timing source (the carrier
    gives the clock); ``crc4``: send and check CRC-4; ``line_code``: ``"hdb3"`` or ``"ami"``;
    ``idle_abcd``: ABCD sent on idle CAS channels.
    """

    span: int = 1
    name: str = "E1/1"
    signalling: str = "cas"
    timing: int = 1
    lbo: int = 0
    line_code: str = "hdb3"
    crc4: bool = True
    idle_abcd: int = 0b1011
    channels: tuple[int, ...] = VOICE_TIMESLOTS
    protocol: str = "r2-cn"  # r2-cn | pri-net | pri-cpe

    def validate(self) -> "SpanConfig":
        if self.signalling not in ("cas", "ccs"):
            raise ConfigError(f"span {self.span}: signalling must be cas or ccs, not {self.signalling!r}")
        if self.line_code not in ("hdb3", "ami"):
            raise ConfigError(f"span {self.span}: line code must be hdb3 or ami, not {self.line_code!r}")
        if not 1 <= self.span <= 128:
            raise ConfigError(f"span number {self.span} outside 1..128")
        if not 0 <= self.timing <= 128:
            raise ConfigError(f"span {self.span}: timing {self.timing} outside 0..128")
        if not 0 <= self.lbo <= 7:
            raise ConfigError(f"span {self.span}: lbo {self.lbo} outside 0..7")
        if not 1 <= self.idle_abcd <= 15:
            raise ConfigError(f"span {self.span}: idle ABCD must be 1..15 (0000 is never sent)")
        bad = [c for c in self.channels if c not in VOICE_TIMESLOTS]
        if bad:
            raise ConfigError(f"span {self.span}: channels {bad} are not voice timeslots (1-15, 17-31)")
        if self.protocol not in ("r2-cn", "pri-net", "pri-cpe"):
            raise ConfigError(f"span {self.span}: protocol must be r2-cn, pri-net or pri-cpe")
        if (self.protocol == "r2-cn") != (self.signalling == "cas"):
            raise ConfigError(f"span {self.span}: {self.protocol} needs {'cas' if self.protocol == 'r2-cn' else 'ccs'} signalling")
        return self


@dataclass
class SpanEvent:
    """Something a span reports: ``kind`` is ``alarm`` (name, on) or ``abcd`` (ts, value)."""

    span: int
    kind: str
    key: object
    value: object
    t_ms: int


@dataclass
class SpanStatus:
    span: int
    name: str
    alarms: list[str]
    counters: dict[str, int]
    channels: dict[int, str] = field(default_factory=dict)
    framing: str = ""

    @property
    def colour(self) -> str:
        """DAHDI-style summary: OK, RED, YELLOW, BLUE (several joined by ``/``)."""
        colours = sorted({ALARM_COLOURS[a] for a in self.alarms if a in ALARM_COLOURS})
        return "/".join(colours) or "OK"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["colour"] = self.colour
        d["channels"] = {str(k): v for k, v in self.channels.items()}
        return d


class Span(ABC):
    """Base class of span backends."""

    def __init__(self, config: SpanConfig) -> None:
        self.config = config.validate()
        self.listeners: list = []
        self.channel_state: dict[int, str] = {ts: "idle" for ts in config.channels}

    @property
    def number(self) -> int:
        return self.config.span

    @property
    @abstractmethod
    def now_ms(self) -> int: ...

    @abstractmethod
    def set_tx_abcd(self, ts: int, abcd: int) -> None: ...

    @abstractmethod
    def rx_abcd(self, ts: int) -> int: ...

    @abstractmethod
    def write_audio(self, ts: int, data: bytes) -> None: ...

    @abstractmethod
    def read_audio(self, ts: int) -> bytes: ...

    def send_dchannel(self, frame: bytes) -> None:
        raise BackendError(f"span {self.number} is not a CCS span")

    def read_dchannel(self) -> list[bytes]:
        raise BackendError(f"span {self.number} is not a CCS span")

    @abstractmethod
    def status(self) -> SpanStatus: ...

    def close(self) -> None:
        """Release the span's resources."""

    def _emit(self, kind: str, key, value) -> None:
        ev = SpanEvent(self.number, kind, key, value, self.now_ms)
        for cb in list(self.listeners):
            cb(ev)


def backend_class(name: str):
    """The span class registered under ``name``."""
    target = BACKENDS.get(name)
    if target is None:
        raise BackendError(f"unknown span backend {name!r} (known: {', '.join(sorted(BACKENDS))})")
    module, attr = target.split(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise BackendError(f"span backend {name!r} cannot be loaded: {exc}") from None


def register_backend(name: str, target: str) -> None:
    """Register a backend as ``"module:Class"``."""
    if ":" not in target:
        raise BackendError("a backend target is 'module:Class'")
    BACKENDS[name] = target
