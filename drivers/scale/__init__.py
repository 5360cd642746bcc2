"""Scale drivers: one pure decoder per protocol, and :func:`open_scale` for a live device.

::

    from drivers.scale import open_scale, SCALE_PROTOCOLS, Reading

    with open_scale("/dev/ttyUSB0", protocol="toledo-continuous") as scale:
        r = scale.stable_weight(timeout_s=5)      # a fresh stable Reading, or None
        print(r.grams, r.stable, r.net)

``PORT`` is anything ``serial.serial_for_url`` opens (``/dev/ttyUSB0``, ``socket://host:4001``,
``rfc2217://…``, ``spy://…``, a pty path); for ``hid-pos-scale`` it is ``hid://VID:PID`` or a
hidraw path.  Protocol notes and frame examples: docs/devices.md.
"""
from __future__ import annotations

from drivers.scale.base import (SCALE_KEYS, SERIAL_KEYS, Decoder, MapError, Reading, Scale, ScaleError,
                                ScaleOptionError, UnknownProtocol, Unsupported, to_grams)
from drivers.scale.hid_pos import HidPort, HidPosScale, hid_target
from drivers.scale.modbus import ModbusScale, ModbusScaleDecoder, available_maps, load_map
from drivers.scale.sics import MtSics
from drivers.scale.toledo import Toledo8217, ToledoContinuous
from drivers.scale.xk3190 import XK3190, XK3190A12, XK3190Cmd, XK3190Plain, XK3190Reversed

SCALE_PROTOCOLS: dict[str, type[Decoder]] = {
    cls.name: cls for cls in (ToledoContinuous, Toledo8217, MtSics, XK3190, XK3190Reversed, XK3190Plain,
                              XK3190A12, XK3190Cmd, ModbusScaleDecoder, HidPosScale)
}

__all__ = ["SCALE_PROTOCOLS", "Reading", "Scale", "ScaleError", "ScaleOptionError", "UnknownProtocol", "Unsupported",
           "MapError",
           "open_scale", "make_decoder", "available_maps", "load_map", "to_grams"]


def make_decoder(protocol: str, **options) -> Decoder:
    """A fresh pure decoder for ``protocol`` (options such as ``unit``, ``checksum``, ``map``, ``address``)."""
    try:
        cls = SCALE_PROTOCOLS[protocol]
    except KeyError:
        raise UnknownProtocol(f"unknown scale protocol {protocol!r} (known: {', '.join(SCALE_PROTOCOLS)})") from None
    try:
        return cls(**options)
    except TypeError as e:
        raise ScaleOptionError(f"{protocol}: bad option: {e}") from None
    except ScaleError:
        raise
    except ValueError as e:
        raise ScaleOptionError(f"{protocol}: {e}") from None


def open_scale(port: str, protocol: str, on_reading=None, *, device_factory=None, **options) -> Scale:
    """Open a scale and start reading it on its own thread.

    ``options``: serial settings (``baudrate``, ``bytesize``, ``parity``, ``stopbits`` …, defaulting to
    the protocol's usual ones), scale behaviour (``stable_readings`` = 3, ``stable_tolerance_g`` = 2,
    ``poll_interval_s`` = 0.1, ``discard_first`` = True), and the decoder's own options (``unit``,
    ``checksum``, ``map``, ``slave``, ``address``).  ``on_reading(reading)`` is called on the port
    thread for every reading.  Raises :class:`UnknownProtocol`, :class:`ScaleError` for a bad
    option, :class:`drivers.port.PortBusy` when the port already has an owner.  An absent device is
    not an error: the scale keeps retrying and ``status()`` says ``reconnecting``.
    """
    serial_settings = {k: options.pop(k) for k in list(options) if k in SERIAL_KEYS}
    scale_options = {k: options.pop(k) for k in list(options) if k in SCALE_KEYS}
    decoder = make_decoder(protocol, **options)
    if isinstance(decoder, ModbusScaleDecoder):
        return ModbusScale(port, decoder, on_reading, settings=serial_settings, **scale_options)
    if isinstance(decoder, HidPosScale):
        target = hid_target(port)
        return Scale(port if port.startswith("hid://") else f"hid://{port}", decoder, on_reading,
                     opener=lambda: HidPort(target, device_factory), **scale_options)
    return Scale(port, decoder, on_reading, settings=serial_settings, **scale_options)
