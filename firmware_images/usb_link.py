"""The flashing link over raw USB bulk endpoints (pyusb), for guns that are not USB-CDC devices.

``UsbBulkPort`` gives two bulk endpoints the small pyserial surface ``GunLink`` uses (``read``,
``write``, ``in_waiting``, ``reset_input_buffer``, ``close``, ``baudrate``); the frames on the
endpoints are the same as on a serial line.  ``open_usb("usb://1a86:e024")`` finds the device by
vendor:product id (hex), optionally ``/serial`` to pick one of several
(``usb://1a86:e024/G-100-1``), and uses the first bulk IN and OUT endpoints of interface 0.
"""
from __future__ import annotations

import re

from firmware_images.errors import LinkError

_URL = re.compile(r"^usb://([0-9a-fA-F]{4}):([0-9a-fA-F]{4})(?:/(.+))?$")
USB_FULL_SPEED = 12_000_000   # bits/s; only used to size time-outs


class UsbBulkPort:
    """Bulk IN/OUT endpoints as a byte stream.  ``timeout`` (seconds) bounds each ``read``."""

    baudrate = USB_FULL_SPEED

    def __init__(self, ep_in, ep_out, timeout: float = 0.02, device=None, packet: int = 512):
        import usb.core

        self._errors = (usb.core.USBError,)
        self._timeout_error = usb.core.USBTimeoutError
        self.ep_in, self.ep_out, self.device = ep_in, ep_out, device
        self.timeout = timeout
        self.packet = getattr(ep_in, "wMaxPacketSize", packet) or packet
        self._buf = bytearray()

    def _pull(self, timeout_ms: int) -> None:
        try:
            data = self.ep_in.read(max(self.packet, 64), timeout_ms)
        except self._timeout_error:
            return
        except self._errors as e:
            raise LinkError(f"USB read failed: {e}") from None
        self._buf += bytes(data)

    @property
    def in_waiting(self) -> int:
        if not self._buf:
            self._pull(1)
        return len(self._buf)

    def read(self, size: int = 1) -> bytes:
        if not self._buf:
            self._pull(max(1, int(self.timeout * 1000)))
        out = bytes(self._buf[:size])
        del self._buf[:size]
        return out

    def write(self, data: bytes) -> int:
        try:
            n = self.ep_out.write(bytes(data), 5000)
        except self._errors as e:
            raise LinkError(f"USB write failed: {e}") from None
        if n != len(data):
            raise LinkError(f"USB write sent {n} of {len(data)} bytes")
        return n

    def reset_input_buffer(self) -> None:
        self._buf.clear()
        for _ in range(64):          # drain what the device still has queued
            before = len(self._buf)
            self._pull(1)
            if len(self._buf) == before:
                break
        self._buf.clear()

    def close(self) -> None:
        if self.device is not None:
            import usb.util

            usb.util.dispose_resources(self.device)


def open_usb(url: str, timeout: float = 0.02) -> UsbBulkPort:
    """Open ``usb://VID:PID[/SERIAL]`` (raises ``LinkError`` with what was wrong)."""
    m = _URL.match(url)
    if not m:
        raise LinkError(f"{url}: USB URLs look like usb://1a86:e024 or usb://1a86:e024/SERIAL")
    import usb.core
    import usb.util

    vid, pid, serial_no = int(m.group(1), 16), int(m.group(2), 16), m.group(3)
    try:
        devices = list(usb.core.find(find_all=True, idVendor=vid, idProduct=pid) or [])
    except usb.core.NoBackendError:
        raise LinkError("no USB backend (install libusb-1.0)") from None
    if serial_no:
        devices = [d for d in devices if usb.util.get_string(d, d.iSerialNumber) == serial_no]
    if not devices:
        raise LinkError(f"{url}: no such USB device")
    if len(devices) > 1:
        raise LinkError(f"{url}: {len(devices)} devices match; add /SERIAL to pick one")
    dev = devices[0]
    try:
        if dev.is_kernel_driver_active(0):
            dev.detach_kernel_driver(0)
        dev.set_configuration()
        intf = dev.get_active_configuration()[(0, 0)]
    except (usb.core.USBError, NotImplementedError) as e:
        raise LinkError(f"{url}: cannot claim the device: {e}") from None

    def bulk(direction):
        return usb.util.find_descriptor(
            intf, custom_match=lambda e: usb.util.endpoint_direction(e.bEndpointAddress) == direction
            and usb.util.endpoint_type(e.bmAttributes) == usb.util.ENDPOINT_TYPE_BULK)

    ep_in, ep_out = bulk(usb.util.ENDPOINT_IN), bulk(usb.util.ENDPOINT_OUT)
    if ep_in is None or ep_out is None:
        raise LinkError(f"{url}: interface 0 has no bulk IN and OUT endpoints")
    return UsbBulkPort(ep_in, ep_out, timeout=timeout, device=dev)
