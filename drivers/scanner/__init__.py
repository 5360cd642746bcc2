"""Barcode guns: pure protocol decoders, a device layer around them, and the registry by name.

    from drivers.scanner import open_scanner, SCANNER_PROTOCOLS, Read
    dev = open_scanner("/dev/ttyUSB0", protocol="serial", on_read=print, device_id="gun-1")
    dev.status(); dev.close()

``SCANNER_PROTOCOLS`` maps a protocol name to its decoder class; every decoder has a pure
``feed(data: bytes) -> list[Read]``.  See ``docs/scanners.md`` for the frames of each protocol.
"""
from __future__ import annotations

from drivers.scanner.batch import BatchDecoder
from drivers.scanner.hid_keyboard import HidKeyboardDecoder
from drivers.scanner.hid_pos import HidPosDecoder
from drivers.scanner.honeywell import HoneywellDecoder
from drivers.scanner.ssi import SsiDecoder
from drivers.scanner.errors import (BatchFormatError, BatchRecordError, CommandError,
                                    CommandTimeout, FrameError, ScannerError, ScannerOptionError,
                                    TransportError, UnknownProtocolError)
from drivers.scanner.read import Read
from drivers.scanner.serial_gun import SerialGunDecoder

SCANNER_PROTOCOLS: dict[str, type] = {
    "serial": SerialGunDecoder,
    "hid-keyboard": HidKeyboardDecoder,
    "hid-pos": HidPosDecoder,
    "ssi": SsiDecoder,
    "honeywell": HoneywellDecoder,
    "batch": BatchDecoder,
}

__all__ = ["Read", "SCANNER_PROTOCOLS", "ScannerError", "UnknownProtocolError", "ScannerOptionError",
           "FrameError", "BatchFormatError", "BatchRecordError", "CommandError", "CommandTimeout",
           "TransportError", "decoder_for"]


def decoder_for(protocol: str, device_id: str = "scanner", **options):
    """A fresh decoder of ``protocol`` (raises :class:`UnknownProtocolError`)."""
    try:
        cls = SCANNER_PROTOCOLS[protocol]
    except KeyError:
        raise UnknownProtocolError(
            f"unknown scanner protocol {protocol!r} (known: {', '.join(sorted(SCANNER_PROTOCOLS))})")
    try:
        return cls(device_id, **options)
    except TypeError as e:
        raise ScannerOptionError(f"{protocol}: {e}") from e


from drivers.scanner.device import HoneywellScanner, ScannerDevice, SsiScanner, open_scanner  # noqa: E402

__all__ += ["open_scanner", "ScannerDevice", "HoneywellScanner", "SsiScanner"]
