"""One owner per serial port: a thread that opens it, pumps bytes into a pure decoder and reconnects.

Every serial driver (scales and barcode guns) goes through :class:`PortOwner`, so unplugging,
noise, back-off and "who has this port" are solved once.  A driver supplies a *pure* decoder and a
callback; the owner does all the I/O::

    from drivers.port import PortOwner

    owner = PortOwner("/dev/ttyUSB0", decoder, on_item=print,
                      settings={"baudrate": 9600, "bytesize": 7, "parity": "E"})
    owner.status()   # {"state": "connected", "port": "/dev/serial/by-id/usb-…", "frames": 12, …}
    owner.write(b"Z")                  # a command to the device (PortNotConnected while it is away)
    owner.close()                      # stops the thread, releases the port

The decoder contract (duck-typed, shared with ``drivers.scanner``):

``decoder.feed(data: bytes) -> list``
    Takes any slice of the byte stream (frames may be split or glued together, noise may sit
    between them) and returns the items completed by it.  Never raises on bad input.
``decoder.bad_frames: int`` (optional)
    How many frames were dropped as garbage (bad checksum, truncated, unparsable).
``decoder.reset()`` (optional)
    Forget any partial frame; called after every (re)connect, since a half frame from before an
    unplug must not be glued to the bytes after it.

URLs are anything ``serial.serial_for_url`` opens: a device path, ``loop://``, ``socket://host:port``
(serial device servers), ``rfc2217://…``, ``spy://…`` (hex trace).  A local path is mapped to its
``/dev/serial/by-id/…`` link when one exists, so a re-plugged adapter that comes back as
``ttyUSB1`` instead of ``ttyUSB0`` is found again; the by-id path is what ``status()["port"]`` shows.

Command protocols either call :meth:`PortOwner.write` themselves or pass ``poll=`` (a callable
returning the request bytes, or ``None`` to skip) and ``poll_interval_s=``: the owner thread then
sends the request on schedule while it reads.  Protocols that need a full request/response
transaction on the open port (Modbus through minimalmodbus) pass ``session=fn`` instead of a decoder:
``fn(owner, port)`` runs on the owner thread with the open ``serial.Serial`` and loops until
``owner.stopping`` is set, calling ``owner.emit(item)`` and ``owner.count_bad(exc)``; an exception
it raises means "the port is gone" and starts a reconnect.

State machine (``status()["state"]``): ``reconnecting`` (not connected: the first attempt, or
retrying after a loss, with back-off doubling from ``backoff_min_s`` to ``backoff_max_s``),
``connected``, ``closed`` (after :meth:`close`).  ``reconnects`` counts successful re-opens after a
loss; ``frames`` counts items handed to the callback; ``bad_frames`` the garbage dropped;
``last_error`` is the text of the latest I/O error (``None`` until one happens); ``last_frame_ms``
is the UTC epoch milliseconds of the latest item.

A transport that is not a serial port (a HID device) passes ``opener=fn``: ``fn()`` returns an open
object with ``read(n)`` (one report or some bytes, ``b""`` on timeout, raising ``OSError`` when the
device is gone), ``in_waiting``, ``write(data)``, ``close()``; ``url`` is then just its name (e.g.
``hid:///dev/hidraw3``), still unique per device.

Errors: :class:`PortBusy` (another owner in this process already has that port),
:class:`PortNotConnected` (``write`` while the port is away or closed).  I/O errors never escape the
owner thread: they are recorded and retried.
"""
from __future__ import annotations

import glob
import logging
import os
import threading
import time
from typing import Any, Callable

import serial

log = logging.getLogger(__name__)

BY_ID_DIR = "/dev/serial/by-id"


class PortError(Exception):
    """Base class of port-layer errors."""


class PortBusy(PortError):
    """Another owner in this process already holds the port."""


class PortNotConnected(PortError):
    """A write to a port that is not connected (unplugged, reconnecting or closed)."""


def now_ms() -> int:
    """UTC epoch milliseconds."""
    return time.time_ns() // 1_000_000


def is_url(port: str) -> bool:
    return "://" in port


def by_id_links(directory: str = BY_ID_DIR) -> dict[str, str]:
    """Map each real device path (``/dev/ttyUSB0``) to its stable ``/dev/serial/by-id/…`` link."""
    links = {}
    for link in sorted(glob.glob(os.path.join(directory, "*"))):
        links.setdefault(os.path.realpath(link), link)
    return links


def stable_path(port: str, directory: str = BY_ID_DIR) -> str:
    """The by-id link for a local device path when there is one, else ``port`` unchanged."""
    if is_url(port):
        return port
    if os.path.dirname(os.path.abspath(port)) == os.path.abspath(directory):
        return port
    return by_id_links(directory).get(os.path.realpath(port), port)


def port_key(port: str) -> str:
    """What makes two names the same port: the real path for local devices, the URL otherwise."""
    return port if is_url(port) else os.path.realpath(port)


_owners: dict[str, "PortOwner"] = {}
_owners_lock = threading.Lock()


def owner_of(port: str) -> "PortOwner | None":
    """The live owner of ``port`` in this process, if any."""
    with _owners_lock:
        return _owners.get(port_key(port))


class PortOwner:
    """Owns one serial port on its own thread; see the module docstring."""

    def __init__(self, url: str, decoder: Any = None, on_item: Callable[[Any], None] | None = None, *,
                 settings: dict | None = None, poll: Callable[[], bytes | None] | None = None,
                 poll_interval_s: float = 0.1, session: Callable[["PortOwner", Any], None] | None = None,
                 on_state: Callable[[str], None] | None = None, backoff_min_s: float = 0.1,
                 backoff_max_s: float = 5.0, read_timeout_s: float = 0.05, flush_on_open: bool = True,
                 name: str | None = None, opener: Callable[[], Any] | None = None, start: bool = True,
                 on_items: Callable[[list], None] | None = None):
        if (decoder is None) == (session is None):
            raise ValueError("PortOwner needs exactly one of decoder= or session=")
        self.url = url
        self.port = url if opener is not None else stable_path(url)
        self.decoder = decoder
        self.on_item = on_item
        self.on_items = on_items          # optional: all items decoded from one read, at once
        self.settings = dict(settings or {})
        if not is_url(url) and opener is None:
            self.settings.setdefault("exclusive", True)
        self.poll = poll
        self.poll_interval_s = poll_interval_s
        self.session = session
        self.on_state = on_state
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.read_timeout_s = read_timeout_s
        self.flush_on_open = flush_on_open
        self.name = name or url
        self.opener = opener
        self.frames = 0
        self.reconnects = 0
        self.failed_opens = 0       # attempts to open the device that failed (it is away, or busy)
        self.last_error: str | None = None
        self.last_frame_ms: int | None = None
        self._bad = 0
        self._state = "reconnecting"
        self._serial = None
        self._io_lock = threading.Lock()
        self._stop = threading.Event()
        self._key = port_key(url)
        with _owners_lock:
            other = _owners.get(self._key)
            if other is not None:
                raise PortBusy(f"{url} is already owned by {other.name}")
            _owners[self._key] = self
        self._thread = threading.Thread(target=self._run, name=f"port:{self.name}", daemon=True)
        if start:
            self._thread.start()

    # -- public -------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        return self._state

    @property
    def stopping(self) -> threading.Event:
        """Set once :meth:`close` is called; sessions loop until it is."""
        return self._stop

    @property
    def bad_frames(self) -> int:
        return self._bad + int(getattr(self.decoder, "bad_frames", 0) or 0)

    def start(self) -> None:
        if not self._thread.is_alive() and not self._stop.is_set():
            self._thread.start()

    def status(self) -> dict:
        return {"state": self._state, "port": self.port, "frames": self.frames,
                "bad_frames": self.bad_frames, "reconnects": self.reconnects, "failed_opens": self.failed_opens,
                "last_error": self.last_error, "last_frame_ms": self.last_frame_ms}

    def write(self, data: bytes) -> None:
        """Send bytes to the device now (from any thread); :class:`PortNotConnected` if it is away."""
        with self._io_lock:
            if self._serial is None or self._state != "connected":
                raise PortNotConnected(f"{self.port} is {self._state}")
            try:
                self._serial.write(data)
                self._serial.flush()
            except (serial.SerialException, OSError) as e:
                self.last_error = str(e)
                raise PortNotConnected(f"{self.port}: write failed: {e}") from e

    def wait_connected(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._state == "connected":
                return True
            time.sleep(0.01)
        return self._state == "connected"

    def close(self, timeout_s: float = 2.0) -> None:
        """Stop the thread and release the port (idempotent)."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout_s)
        self._close_serial()
        self._set_state("closed")
        with _owners_lock:
            if _owners.get(self._key) is self:
                del _owners[self._key]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def emit(self, item: Any) -> None:
        """Hand one decoded item to the callback (used by the pump and by sessions)."""
        self.frames += 1
        self.last_frame_ms = now_ms()
        if self.on_item is not None:
            try:
                self.on_item(item)
            except Exception:  # a consumer's bug must not stop the port
                log.exception("%s: on_item callback failed", self.name)

    def emit_many(self, items: list) -> None:
        """Hand several items decoded together (a cradle upload) to ``on_items`` in one call."""
        self.frames += len(items)
        self.last_frame_ms = now_ms()
        try:
            self.on_items(items)
        except Exception:  # a consumer's bug must not stop the port
            log.exception("%s: on_items callback failed", self.name)

    def count_bad(self, error: Any = None) -> None:
        """Count one dropped frame (sessions call this for an invalid response)."""
        self._bad += 1
        if error is not None:
            log.debug("%s: bad frame: %s", self.name, error)

    # -- thread -------------------------------------------------------------------------------
    def _set_state(self, state: str) -> None:
        if state == self._state:
            return
        self._state = state
        if self.on_state is not None:
            try:
                self.on_state(state)
            except Exception:
                log.exception("%s: on_state callback failed", self.name)

    def _open(self):
        if self.opener is not None:
            return self.opener()
        port = serial.serial_for_url(self.port, **{"timeout": self.read_timeout_s, **self.settings})
        if self.flush_on_open:
            try:
                port.reset_input_buffer()  # bytes queued before we opened are stale
            except (serial.SerialException, OSError, NotImplementedError):
                pass
        return port

    def _close_serial(self) -> None:
        with self._io_lock:
            port, self._serial = self._serial, None
        if port is not None:
            try:
                port.close()
            except Exception:
                pass

    def _run(self) -> None:
        backoff = self.backoff_min_s
        ever_connected = False
        while not self._stop.is_set():
            try:
                port = self._open()
            except Exception as e:  # SerialException, OSError, ValueError from a bad URL …
                self.last_error = str(e)
                self.failed_opens += 1
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.backoff_max_s)
                continue
            with self._io_lock:
                self._serial = port
            if ever_connected:
                self.reconnects += 1
            ever_connected = True
            if self.decoder is not None and hasattr(self.decoder, "reset"):
                self.decoder.reset()
            frames_before, opened_at = self.frames, time.monotonic()
            self._set_state("connected")
            try:
                if self.session is not None:
                    self.session(self, port)
                else:
                    self._pump(port)
            except Exception as e:
                self.last_error = str(e) or type(e).__name__
                log.info("%s: lost: %s", self.name, self.last_error)
            self._close_serial()
            if self._stop.is_set():
                break
            self._set_state("reconnecting")
            if self.frames > frames_before or time.monotonic() - opened_at > self.backoff_max_s:
                backoff = self.backoff_min_s  # it worked for a while: start the back-off afresh
            self._stop.wait(backoff)
            backoff = min(backoff * 2, self.backoff_max_s)
        self._set_state("closed")

    def _pump(self, port) -> None:
        next_poll = time.monotonic()
        feed = self.decoder.feed
        while not self._stop.is_set():
            if self.poll is not None and time.monotonic() >= next_poll:
                request = self.poll()
                if request:
                    with self._io_lock:
                        port.write(request)
                next_poll = time.monotonic() + self.poll_interval_s
            data = port.read(1)
            if data:
                waiting = port.in_waiting
                if waiting:
                    data += port.read(waiting)
                items = feed(data)
                if len(items) > 1 and self.on_items is not None:
                    self.emit_many(items)
                else:
                    for item in items:
                        self.emit(item)
