"""The flashing link over USB bulk endpoints: the same frames, carried in USB packets."""
from __future__ import annotations

import pytest
import usb.core

from firmware_images import container, keys
from firmware_images.errors import LinkError
from firmware_images.flasher import GunLink, open_port
from firmware_images.usb_link import UsbBulkPort, open_usb
from sim.gun_link import SimulatedGun
from sim.gun_networks import generate_slice
from conftest import KEY


class Endpoints:
    """Bulk endpoints of a gun whose USB interface bridges to the simulator's serial side:
    packets of at most 64 bytes, USBTimeoutError when nothing arrives in time."""

    wMaxPacketSize = 64

    def __init__(self, ser):
        self.ser = ser
        self.packets_out = 0

    def read(self, size, timeout_ms):
        self.ser.timeout = timeout_ms / 1000
        data = self.ser.read(min(size, 64))
        if not data:
            raise usb.core.USBTimeoutError("Operation timed out", errno=110)
        return bytearray(data)

    def write(self, data, timeout_ms):
        for i in range(0, len(data), 64):
            self.ser.write(data[i:i + 64])
            self.packets_out += 1
        return len(data)


def test_flash_and_read_back_over_bulk_endpoints(tmp_path):
    image = container.build_image(generate_slice(sites=40, staff=200, rules=300, seed=2), KEY, 1)
    gun = SimulatedGun(tmp_path / "gun", gun_id="G-USB", public_key_hex=keys.public_raw(KEY).hex()).start()
    try:
        ep = Endpoints(open_port(gun.port))
        link = GunLink(UsbBulkPort(ep, ep), timeout=1.0)
        assert link.hello().gun_id == "G-USB"
        assert link.flash(image).gun.image_digest == container.parse_image(image).digest
        assert link.read_back() == image
        assert ep.packets_out > len(image) // 64
    finally:
        gun.stop()


def test_usb_urls_are_checked():
    with pytest.raises(LinkError, match="usb://1a86:e024"):
        open_usb("usb://whatever")
    with pytest.raises(LinkError, match="no such USB device|no USB backend"):
        open_port("usb://ffff:fffe")
