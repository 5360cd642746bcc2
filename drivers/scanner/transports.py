"""Transports for scanners that are not serial ports: hidraw nodes, hidapi devices, USB bulk.

Each is a small port object for ``drivers.port.PortOwner(opener=…)``: ``read(n)`` returns one
report or some bytes (``b""`` on timeout) and raises ``OSError`` when the device is gone;
``in_waiting`` is 0; ``write(data)``; ``close()``.

Port names:

``/dev/hidrawN`` or ``hidraw:///dev/hidrawN``   a Linux hidraw node (read with ``os.read``: one
                                                report per read; the fake in tests is a FIFO).
``hid://VVVV:PPPP[/SERIAL]``                   a HID device through hidapi (vendor and product
                                                id in hex, optional serial number string).
``usb://VVVV:PPPP[?interface=0&ep_in=0x81&ep_out=0x02]``
                                                a non-HID USB device through pyusb, bulk (or
                                                interrupt) IN endpoint; the first IN/OUT
                                                endpoints of the interface by default.
"""
from __future__ import annotations

import os
import select
from urllib.parse import parse_qs, urlsplit

from drivers.scanner.errors import ScannerOptionError, TransportError

REPORT_MAX = 64


def parse_vid_pid(text: str) -> tuple[int, int]:
    try:
        vid, pid = text.split(":")
        return int(vid, 16), int(pid, 16)
    except ValueError:
        raise ScannerOptionError(f"expected VVVV:PPPP in hex, not {text!r}") from None


class HidrawPort:
    """A hidraw node (or anything ``os.open`` can read reports from)."""

    def __init__(self, path: str, timeout_s: float = 0.05):
        self.path, self.timeout_s = path, timeout_s
        self.fd = os.open(path, os.O_RDWR | os.O_NONBLOCK) if os.access(path, os.W_OK) and \
            not _is_fifo(path) else os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self.in_waiting = 0

    def read(self, n: int = REPORT_MAX) -> bytes:
        ready, _, _ = select.select([self.fd], [], [], self.timeout_s)
        if not ready:
            return b""
        try:
            data = os.read(self.fd, max(n, REPORT_MAX))
        except BlockingIOError:
            return b""
        if not data:
            raise OSError(f"{self.path}: device closed (EOF)")
        return data

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _is_fifo(path: str) -> bool:
    import stat
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


class HidapiPort:
    """A HID device opened through hidapi (``hid.device``) by vendor/product id or path."""

    def __init__(self, vid: int, pid: int, serial: str | None = None, timeout_s: float = 0.05,
                 hid_module=None):
        if hid_module is None:
            try:
                import hid as hid_module
            except ImportError as e:
                raise TransportError(f"hidapi is not available: {e}") from e
        self.dev = hid_module.device()
        self.timeout_ms = max(1, int(timeout_s * 1000))
        try:
            self.dev.open(vid, pid, serial)
        except (OSError, IOError) as e:
            raise OSError(f"cannot open HID device {vid:04x}:{pid:04x}: {e}") from e
        self.in_waiting = 0

    def read(self, n: int = REPORT_MAX) -> bytes:
        try:
            data = self.dev.read(max(n, REPORT_MAX), self.timeout_ms)
        except (OSError, IOError, ValueError) as e:
            raise OSError(f"HID device gone: {e}") from e
        return bytes(data)

    def write(self, data: bytes) -> None:
        if self.dev.write(list(data)) < 0:
            raise OSError("HID write failed")

    def flush(self) -> None:
        pass

    def close(self) -> None:
        try:
            self.dev.close()
        except Exception:
            pass


class UsbBulkPort:
    """A non-HID USB device read through pyusb (bulk or interrupt IN endpoint)."""

    def __init__(self, vid: int, pid: int, *, interface: int = 0, ep_in: int | None = None,
                 ep_out: int | None = None, timeout_s: float = 0.05, backend=None):
        import usb.core
        import usb.util
        self._usb_core, self._usb_util = usb.core, usb.util
        dev = usb.core.find(idVendor=vid, idProduct=pid, backend=backend)
        if dev is None:
            raise OSError(f"no USB device {vid:04x}:{pid:04x}")
        self.dev = dev
        try:
            if dev.is_kernel_driver_active(interface):
                dev.detach_kernel_driver(interface)
        except (NotImplementedError, usb.core.USBError):
            pass
        try:
            dev.set_configuration()
            cfg = dev.get_active_configuration()
            intf = cfg[(interface, 0)]
            usb.util.claim_interface(dev, interface)
        except usb.core.USBError as e:
            raise OSError(f"cannot claim USB {vid:04x}:{pid:04x} interface {interface}: {e}") from e
        self.interface = interface
        eps = list(intf)
        def find(direction, address):
            for ep in eps:
                if address is not None and ep.bEndpointAddress == address:
                    return ep
                if address is None and usb.util.endpoint_direction(ep.bEndpointAddress) == direction:
                    return ep
            return None
        self.ep_in = find(usb.util.ENDPOINT_IN, ep_in)
        self.ep_out = find(usb.util.ENDPOINT_OUT, ep_out)
        if self.ep_in is None:
            raise OSError(f"USB {vid:04x}:{pid:04x} interface {interface} has no IN endpoint")
        self.timeout_ms = max(1, int(timeout_s * 1000))
        self.in_waiting = 0

    def read(self, n: int = REPORT_MAX) -> bytes:
        try:
            return bytes(self.ep_in.read(max(n, self.ep_in.wMaxPacketSize), self.timeout_ms))
        except self._usb_core.USBTimeoutError:
            return b""
        except self._usb_core.USBError as e:
            raise OSError(f"USB device gone: {e}") from e

    def write(self, data: bytes) -> None:
        if self.ep_out is None:
            raise OSError("this USB interface has no OUT endpoint")
        try:
            self.ep_out.write(data, self.timeout_ms)
        except self._usb_core.USBError as e:
            raise OSError(f"USB write failed: {e}") from e

    def flush(self) -> None:
        pass

    def close(self) -> None:
        try:
            self._usb_util.release_interface(self.dev, self.interface)
        except Exception:
            pass
        self._usb_util.dispose_resources(self.dev)


def opener_for(port: str, *, timeout_s: float = 0.05, hid_module=None, usb_backend=None):
    """``(name, opener)`` for a non-serial port name, or ``None`` for a serial one."""
    if port.startswith("hidraw://"):
        path = port[len("hidraw://"):]
        return port, lambda: HidrawPort(path, timeout_s)
    if port.startswith("/dev/hidraw"):
        return f"hidraw://{port}", lambda: HidrawPort(port, timeout_s)
    if port.startswith("hid://"):
        rest = port[len("hid://"):]
        ids, _, serial = rest.partition("/")
        vid, pid = parse_vid_pid(ids)
        return port, lambda: HidapiPort(vid, pid, serial or None, timeout_s, hid_module)
    if port.startswith("usb://"):
        parts = urlsplit(port)
        vid, pid = parse_vid_pid(parts.netloc)
        q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = set(q) - {"interface", "ep_in", "ep_out"}
        if unknown:
            raise ScannerOptionError(f"unknown usb:// parameters {sorted(unknown)}")
        try:
            kw = {k: int(v, 0) for k, v in q.items()}
        except ValueError:
            raise ScannerOptionError(f"usb:// parameters must be integers: {parts.query}") from None
        return port, lambda: UsbBulkPort(vid, pid, timeout_s=timeout_s, backend=usb_backend, **kw)
    return None
