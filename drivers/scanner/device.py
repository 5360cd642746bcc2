"""The device layer: a pure decoder on a :class:`drivers.port.PortOwner`, plus device commands.

``open_scanner`` (re-exported by ``drivers.scanner``) is what the edge calls::

    # on_reads=fn(list_of_reads) also gets every group of reads decoded together (a cradle upload)
    dev = open_scanner("/dev/serial/by-id/usb-…", protocol="serial", on_read=print,
                       device_id="gun-1", suffix="\\r\\n")
    dev.status()   # {"state": "connected", "protocol": "serial", "device": "gun-1", "reads": 3, …}
    dev.close()

Options are split by name: serial settings (``baudrate``, ``bytesize``, ``parity``,
``stopbits``, ``xonxoff``, ``rtscts``) go to the port, ``backoff_min_s``/``backoff_max_s`` to the
reconnect logic, everything else to the protocol's decoder (its docstring lists them).  Each
protocol has default serial settings (``serial`` 9600 8N1, ``honeywell`` and ``batch`` 115200 8N1).

Replies a decoder queues (SSI ACK/NAK, batch receipts) are written back on the owner thread right
after the bytes that caused them.
"""
from __future__ import annotations

import collections
import threading
import time
from typing import Callable

from drivers.port import PortNotConnected, PortOwner
from drivers.scanner.base import ScannerDecoder
from drivers.scanner.errors import CommandError, CommandTimeout, ScannerOptionError
from drivers.scanner.honeywell import HoneywellDecoder, MenuReply, menu_command
from drivers.scanner.read import Read
from drivers.scanner.ssi import OPCODES, SsiDecoder, build_packet
from drivers.scanner.transports import opener_for

SERIAL_KEYS = ("baudrate", "bytesize", "parity", "stopbits", "xonxoff", "rtscts", "dsrdtr")
OWNER_KEYS = ("backoff_min_s", "backoff_max_s", "read_timeout_s")
TRANSPORT_KEYS = ("hid_module", "usb_backend")


class _Pump:
    """What the port owner sees as its decoder: feeds ours, writes replies, wakes waiters."""

    def __init__(self, device: "ScannerDevice"):
        self.device = device

    @property
    def bad_frames(self) -> int:
        return self.device.decoder.stats["bad_frames"]

    def reset(self) -> None:
        with self.device._cond:
            self.device.decoder.reset()
            self.device._cond.notify_all()

    def feed(self, data: bytes) -> list[Read]:
        dev = self.device
        with dev._cond:
            reads = dev.decoder.feed(data)
            replies = dev.decoder.take_replies()
            dev._cond.notify_all()
        for reply in replies:
            try:
                dev._owner.write(reply)
            except PortNotConnected as e:
                dev.write_errors += 1
                dev.decoder.last_error = f"reply not sent: {e}"
        return reads


class ScannerDevice:
    """One scanner: a decoder, the port owner thread, and the read callback."""

    def __init__(self, port: str, decoder: ScannerDecoder, on_read: Callable[[Read], None] | None = None,
                 *, settings: dict | None = None, opener=None, name: str | None = None,
                 on_reads: Callable[[list[Read]], None] | None = None, **owner_options):
        self.decoder = decoder
        self.on_read = on_read
        self.on_reads = on_reads
        self.write_errors = 0
        self.recent: collections.deque[Read] = collections.deque(maxlen=1000)
        self._cond = threading.Condition()
        self._owner = PortOwner(port, _Pump(self), self._emit, settings=settings, opener=opener,
                                name=name or decoder.device_id, start=False,
                                on_items=self.on_reads if on_reads is not None else None, **owner_options)
        self._owner.start()

    @property
    def device_id(self) -> str:
        return self.decoder.device_id

    @property
    def port(self) -> str:
        return self._owner.port

    def _emit(self, read: Read) -> None:
        if self.on_read is not None:
            self.on_read(read)
        else:
            self.recent.append(read)

    def status(self) -> dict:
        """State of the port (``connected`` / ``reconnecting`` / ``closed``) and decoder counters."""
        with self._cond:
            dec = self.decoder.status()
        out = dict(self._owner.status())
        out.update({k: v for k, v in dec.items() if k not in ("last_error",)})
        out["decoder_error"] = dec.get("last_error")
        out["device"] = self.device_id
        out["write_errors"] = self.write_errors
        return out

    def wait_connected(self, timeout_s: float = 5.0) -> bool:
        return self._owner.wait_connected(timeout_s)

    def write(self, data: bytes) -> None:
        """Send raw bytes to the device (:class:`drivers.port.PortNotConnected` when it is away)."""
        self._owner.write(data)

    def close(self) -> None:
        self._owner.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _wait(self, ready: Callable[[], object], timeout_s: float, what: str):
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                value = ready()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CommandTimeout(f"{self.device_id}: no reply to {what} within {timeout_s:g} s")
                self._cond.wait(left)


class HoneywellScanner(ScannerDevice):
    """A Honeywell serial gun: reads, plus menu commands (``get``, ``set``, ``command``)."""

    decoder: HoneywellDecoder

    def command(self, items: list[str] | str, storage: str = "!", timeout_s: float = 2.0) -> MenuReply:
        """Send one menu command and return the device's reply (raises :class:`CommandTimeout`)."""
        frame = menu_command(items, storage)
        with self._cond:
            before = len(self.decoder.menu_replies)
            self.decoder.expect_reply()
        try:
            self.write(frame)
        except PortNotConnected as e:
            with self._cond:
                self.decoder.awaiting = max(0, self.decoder.awaiting - 1)
            raise CommandError(f"{self.device_id}: {e}") from e
        try:
            return self._wait(lambda: self.decoder.menu_replies[before] if len(self.decoder.menu_replies) > before
                              else None, timeout_s, frame[3:].decode("ascii", "replace"))
        except CommandTimeout:
            with self._cond:
                self.decoder.awaiting = max(0, self.decoder.awaiting - 1)
            raise

    def get(self, setting: str, timeout_s: float = 2.0) -> str:
        """The current value of ``setting`` (``232BAD`` …); :class:`CommandError` if unknown."""
        reply = self.command(f"{setting}?", "!", timeout_s)
        item = reply.items[0]
        if item.status != "ack":
            raise CommandError(f"{self.device_id}: {setting} refused ({item.status}: unknown tag/subtag)")
        return item.data

    def set(self, setting: str, value: str, store: bool = False, timeout_s: float = 2.0) -> None:
        """Set ``setting`` to ``value`` (stored across power cycles when ``store``)."""
        reply = self.command(f"{setting}{value}", "." if store else "!", timeout_s)
        item = reply.items[0]
        if item.status == "enq":
            raise CommandError(f"{self.device_id}: unknown setting {setting}")
        if item.status == "nak":
            raise CommandError(f"{self.device_id}: value {value!r} out of range for {setting}")


class SsiScanner(ScannerDevice):
    """A Zebra SSI scanner: reads, plus simple commands answered by CMD_ACK / CMD_NAK."""

    decoder: SsiDecoder

    def command(self, opcode: str | int, data: bytes = b"", timeout_s: float = 1.0) -> None:
        """Send a host command (``"BEEP"``, ``"SCAN_ENABLE"`` …) and wait for the scanner's ACK."""
        code = OPCODES.get(opcode) if isinstance(opcode, str) else opcode
        if code is None:
            raise CommandError(f"unknown SSI opcode {opcode!r}")
        with self._cond:
            before = len(self.decoder.responses)
            self.decoder.responses.clear() if before > 16 else None
            before = len(self.decoder.responses)
        try:
            self.write(build_packet(code, data))
        except PortNotConnected as e:
            raise CommandError(f"{self.device_id}: {e}") from e
        reply = self._wait(lambda: next((p for p in self.decoder.responses[before:]
                                         if p.name in ("CMD_ACK", "CMD_NAK")), None), timeout_s, str(opcode))
        if reply.name == "CMD_NAK":
            raise CommandError(f"{self.device_id}: scanner refused {opcode} (NAK cause {reply.data[:1].hex()})")


DEVICE_CLASSES = {"honeywell": HoneywellScanner, "ssi": SsiScanner}


def open_scanner(port_or_url: str, protocol: str = "serial", on_read: Callable[[Read], None] | None = None,
                 device_id: str | None = None, on_reads: Callable[[list[Read]], None] | None = None,
                 **options) -> ScannerDevice:
    """Open a scanner and start reading; see the module docstring (raises ScannerError subclasses,
    :class:`drivers.port.PortBusy` when another owner holds the port)."""
    from drivers.scanner import decoder_for   # the registry lives in the package
    if not isinstance(port_or_url, str) or not port_or_url:
        raise ScannerOptionError("port must be a non-empty string (a path or a serial_for_url URL)")
    settings = {k: options.pop(k) for k in SERIAL_KEYS if k in options}
    owner = {k: options.pop(k) for k in OWNER_KEYS if k in options}
    transport = {k: options.pop(k) for k in TRANSPORT_KEYS if k in options}
    decoder = decoder_for(protocol, device_id or port_or_url, **options)
    special = opener_for(port_or_url, timeout_s=owner.get("read_timeout_s", 0.05), **transport)
    cls = DEVICE_CLASSES.get(protocol, ScannerDevice)
    if special is not None:
        name, opener = special
        return cls(name, decoder, on_read, opener=opener, on_reads=on_reads, **owner)
    return cls(port_or_url, decoder, on_read, settings={**decoder.serial_settings, **settings},
               on_reads=on_reads, **owner)
