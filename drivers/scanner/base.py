"""The base of every scanner protocol: a pure decoder (bytes in, :class:`Read` s out).

A decoder owns no port and does no I/O.  The device layer (``drivers.scanner.device``) pumps the
port's bytes into :meth:`ScannerDecoder.feed` and writes back whatever :meth:`take_replies`
returns (SSI acknowledgements, batch upload receipts).  Bad input never raises out of ``feed``:
it is counted in :attr:`ScannerDecoder.stats`, skipped, and the decoder resynchronises.
"""
from __future__ import annotations

from typing import Callable

from drivers.scanner.errors import ScannerOptionError
from drivers.scanner.read import Read, now_ms


class ScannerDecoder:
    """Base class: subclasses set ``name`` and ``transport`` and implement :meth:`_feed`.

    ``device_id``  goes into every :class:`Read`.
    ``clock``      a callable giving UTC epoch ms (tests pass a fixed one).

    ``transport`` says how the device layer reaches such a device: ``serial`` (anything
    ``serial.serial_for_url`` opens), ``hid`` (a hidraw node or a hidapi device) or ``usb``.
    """

    name = ""
    summary = ""
    transport = "serial"
    #: default serial settings (baud, bytesize, parity, stopbits) for this protocol
    serial_settings: dict = {"baudrate": 9600, "bytesize": 8, "parity": "N", "stopbits": 1}

    def __init__(self, device_id: str = "scanner", *, clock: Callable[[], int] | None = None):
        if not isinstance(device_id, str) or not device_id:
            raise ScannerOptionError("device_id must be a non-empty string")
        self.device_id = device_id
        self.clock = clock or now_ms
        self.stats = {"reads": 0, "bad_frames": 0, "skipped_bytes": 0}
        self.last_error: str | None = None
        self._replies: list[bytes] = []

    # -- public surface ---------------------------------------------------------------------
    def feed(self, data: bytes) -> list[Read]:
        """Decode ``data`` (any chunk of the byte stream) and return the reads it completed."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"feed() takes bytes, not {type(data).__name__}")
        reads = self._feed(bytes(data))
        self.stats["reads"] += len(reads)
        return reads

    def reset(self) -> None:
        """Forget any partial frame (called after a reconnect: the old bytes are stale)."""

    def take_replies(self) -> list[bytes]:
        """Bytes the host must send back to the device (ACKs …), oldest first; clears the queue."""
        out, self._replies = self._replies, []
        return out

    def status(self) -> dict:
        """Counters and the last error, for ``ScannerDevice.status()``."""
        return dict(self.stats, protocol=self.name, last_error=self.last_error)

    # -- for subclasses ---------------------------------------------------------------------
    def _feed(self, data: bytes) -> list[Read]:
        raise NotImplementedError

    def _bad(self, reason: str, skipped: int = 0) -> None:
        self.stats["bad_frames"] += 1
        self.stats["skipped_bytes"] += skipped
        self.last_error = reason

    def _read(self, text: str, symbology: str | None = None, aim: str | None = None,
              time_ms: int | None = None, record: dict | None = None) -> Read:
        return Read(text, symbology, aim, self.device_id,
                    self.clock() if time_ms is None else time_ms, record)


def as_bytes(value, what: str, encoding: str = "latin-1") -> bytes:
    """Accept str or bytes for prefix/suffix-like options (``"\\x02"`` or ``b"\\x02"``)."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        try:
            return value.encode(encoding)
        except UnicodeEncodeError as e:
            raise ScannerOptionError(f"{what} {value!r} cannot be encoded as {encoding}") from e
    raise ScannerOptionError(f"{what} must be str or bytes, not {type(value).__name__}")
