"""``scanhub devices list``: the serial ports, HID devices and USB devices this machine sees, with
vid:pid and a guess at what each one is (a scale, a gun, a USB-serial adapter …).

Each source is optional: without hidapi's library or a libusb backend the listing says so in
``notes`` and carries on; with no devices at all it prints an empty list.  ``collect()`` is the
library entry point (the sources are parameters, so tests pass fakes).
"""
from __future__ import annotations

import json

import click

from drivers.port import by_id_links

# vendor ids seen on station hardware
VENDORS = {
    0x0922: "Dymo (USB postal scales)", 0x0EB8: "Mettler Toledo", 0x0C2E: "Honeywell / Metrologic scanners",
    0x05E0: "Zebra (Symbol) scanners", 0x05F9: "Datalogic (PSC) scanners", 0x1EAB: "Newland scanners",
    0x0483: "STMicroelectronics (many OEM guns)", 0x1A86: "QinHeng CH340/CH341 USB-serial",
    0x067B: "Prolific PL2303 USB-serial", 0x0403: "FTDI USB-serial", 0x10C4: "Silicon Labs CP210x USB-serial",
    0x1FC9: "NXP (OEM scales)", 0x2DD6: "Dymo / Stamps.com scales",
    0x1E0E: "SIMCom GSM/LTE modems (SMS, docs/sms.md)", 0x2C7C: "Quectel GSM/LTE modems (SMS, docs/sms.md)",
    0x12D1: "Huawei modems (SMS, docs/sms.md)", 0x19D2: "ZTE modems (SMS, docs/sms.md)",
}
USB_SERIAL = {0x1A86, 0x067B, 0x0403, 0x10C4}


def vid_pid(vid, pid) -> str | None:
    return f"{vid:04x}:{pid:04x}" if vid is not None and pid is not None else None


def serial_looks_like(device: str, vid, hwid: str) -> str:
    if vid in USB_SERIAL:
        return "USB-serial adapter: an RS-232 scale or gun behind it (try scanhub scale read)"
    if "ttyACM" in device:
        return "USB CDC serial device: a gun in USB-COM mode or a USB scale"
    if vid in VENDORS:
        return VENDORS[vid]
    if "ttyS" in device or hwid in ("n/a", ""):
        return "built-in serial port"
    return "serial port"


def hid_looks_like(usage_page, usage, vid) -> str:
    if usage_page == 0x8D:
        return "HID POS scale (--protocol hid-pos-scale)"
    if usage_page == 0x8C:
        return "HID POS barcode scanner (--protocol hid-pos)"
    if usage_page == 0x01 and usage == 0x06:
        return "keyboard: a keyboard-wedge gun if it is not a real keyboard (--protocol hid-keyboard)"
    if vid in VENDORS:
        return VENDORS[vid]
    return "HID device"


def list_serial(comports=None) -> list[dict]:
    if comports is None:
        from serial.tools import list_ports
        comports = list_ports.comports
    links = by_id_links()
    out = []
    for p in comports():
        out.append({"kind": "serial", "path": p.device, "by_id": links.get(p.device),
                    "vid_pid": vid_pid(p.vid, p.pid), "description": p.description,
                    "manufacturer": p.manufacturer, "product": p.product, "serial_number": p.serial_number,
                    "looks_like": serial_looks_like(p.device, p.vid, p.hwid or "")})
    return out


def list_hid(enumerate_fn=None) -> list[dict]:
    if enumerate_fn is None:
        import hid  # ImportError when the hidapi wheel or library is missing
        enumerate_fn = hid.enumerate
    out = []
    for d in enumerate_fn():
        path = d.get("path")
        out.append({"kind": "hid", "path": path.decode(errors="replace") if isinstance(path, bytes) else path,
                    "vid_pid": vid_pid(d.get("vendor_id"), d.get("product_id")),
                    "usage_page": d.get("usage_page"), "usage": d.get("usage"),
                    "manufacturer": d.get("manufacturer_string"), "product": d.get("product_string"),
                    "serial_number": d.get("serial_number"), "interface": d.get("interface_number"),
                    "looks_like": hid_looks_like(d.get("usage_page"), d.get("usage"), d.get("vendor_id"))})
    return out


def list_usb(find=None) -> list[dict]:
    if find is None:
        import usb.core
        find = usb.core.find
    out = []
    for dev in find(find_all=True):
        def text(attr):
            try:
                return getattr(dev, attr)
            except Exception:  # strings need permission to read; not worth failing for
                return None
        vid = getattr(dev, "idVendor", None)
        cls = getattr(dev, "bDeviceClass", None)
        looks = VENDORS.get(vid) or {0x09: "USB hub", 0x02: "USB CDC device", 0x03: "HID device"}.get(
            cls, "USB device (class in its interfaces)" if cls == 0 else "USB device")
        out.append({"kind": "usb", "path": f"usb:{getattr(dev, 'bus', '?')}:{getattr(dev, 'address', '?')}",
                    "vid_pid": vid_pid(vid, getattr(dev, "idProduct", None)), "device_class": cls,
                    "manufacturer": text("manufacturer"), "product": text("product"), "looks_like": looks})
    return out


def collect(comports=None, hid_enumerate=None, usb_find=None) -> dict:
    """``{"devices": [...], "notes": [...]}``; a source that cannot be used becomes a note."""
    devices, notes = [], []
    for name, fn, arg in (("serial", list_serial, comports), ("hid", list_hid, hid_enumerate),
                          ("usb", list_usb, usb_find)):
        try:
            devices.extend(fn(arg))
        except Exception as e:  # ImportError, OSError, usb.core.NoBackendError …
            notes.append(f"{name}: not listed ({type(e).__name__}: {e})")
    return {"devices": devices, "notes": notes}


@click.group()
def devices():
    """Devices attached to this machine: serial ports, HID and USB devices, to find the PORT of a
    scale, a gun or a cradle.

    \b
    Examples:
      scanhub devices list
      scanhub devices list --json
    """


@devices.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON document: {devices: [...], notes: [...]}.")
def list_cmd(as_json):
    """Serial ports, HID and USB devices, with vid:pid and what each looks like."""
    found = collect()
    if as_json:
        click.echo(json.dumps(found, indent=1))
        return
    if not found["devices"]:
        click.echo("no devices found")
    for d in found["devices"]:
        name = d.get("by_id") or d["path"]
        click.echo(f"{d['kind']:6} {name}  {d.get('vid_pid') or '-'}  {d.get('product') or d.get('description') or ''}")
        click.echo(f"       looks like: {d['looks_like']}")
    for note in found["notes"]:
        click.echo(f"note: {note}")
