"""``scanhub scanner …``: listen to a barcode gun, read and set Honeywell settings.

Thin: parse, call ``drivers.scanner``, format.  PORT is a device path, anything
``serial.serial_for_url`` opens (``socket://host:port``, ``rfc2217://…``, ``spy://…``), a hidraw
node (``/dev/hidraw3``), ``hid://VVVV:PPPP`` (hidapi) or ``usb://VVVV:PPPP`` (pyusb).
"""
from __future__ import annotations

import codecs
import json
import queue
import time

import click

from drivers.output import list_option, print_rows
from drivers.port import PortError

STRING_OPTIONS = {"prefix", "suffix", "encoding", "layout", "terminators"}


def _parse_options(items) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--option")
        if key in STRING_OPTIONS:
            try:
                out[key] = codecs.decode(value, "unicode_escape")   # prefix=\x02, suffix=\r\n
            except UnicodeDecodeError as e:
                raise click.BadParameter(f"{key}: bad escape in {value!r}: {e}", param_hint="--option")
            continue
        low = value.lower()
        if low in ("true", "false"):
            out[key] = low == "true"
        elif value.lstrip("-").isdigit():
            out[key] = int(value)
        elif low.startswith("0x"):
            try:
                out[key] = int(value, 16)
            except ValueError:
                out[key] = value
        else:
            out[key] = value
    return out


def _open(port, protocol, baud, options, on_read=None, device_id="scanner"):
    from drivers.scanner import SCANNER_PROTOCOLS, ScannerError, open_scanner
    if protocol not in SCANNER_PROTOCOLS:
        raise click.BadParameter(f"unknown protocol {protocol!r} (known: {', '.join(SCANNER_PROTOCOLS)})",
                                 param_hint="--protocol")
    if baud:
        options["baudrate"] = baud
    try:
        return open_scanner(port, protocol, on_read=on_read, device_id=device_id, **options)
    except (ScannerError, PortError) as e:
        raise click.ClickException(str(e)) from None


def _line(read, as_json: bool) -> str:
    if as_json:
        return json.dumps(read.to_dict(), ensure_ascii=False, separators=(",", ":"))
    if read.record:
        r = read.record
        return f"{read.device}  batch  {r['gun']}#{r['seq']} {r['kind']} {read.text} @ {read.time_ms}"
    return f"{read.device}  {read.symbology or '-'}  {read.text}"


@click.group()
def scanner():
    """Barcode guns: listen to reads, read and set device settings.

    \b
    Protocols: serial, hid-keyboard, hid-pos, ssi, honeywell, batch (see `scanhub scanner protocols`).
    Examples:
      scanhub scanner listen /dev/ttyACM0                      a serial gun, one read a line
      scanhub scanner listen hidraw:///dev/hidraw2 -p hid-pos --json
      scanhub scanner config /dev/ttyACM0 --get 232BAD         a Honeywell gun's baud setting
    Try it without hardware:
      scanhub sim scanner --protocol ssi            prints a pty path, e.g. /dev/pts/7
      scanhub scanner listen /dev/pts/7 --protocol ssi --json
    """


@scanner.command("listen")
@click.argument("port")
@click.option("--protocol", "-p", default="serial", show_default=True,
              help="serial, hid-keyboard, hid-pos, ssi, honeywell, batch")
@click.option("--baud", type=int, help="baud rate (default: the protocol's usual one)")
@click.option("--option", "-o", "extra", multiple=True, metavar="KEY=VALUE",
              help=r"decoder option, e.g. prefix=\x02, suffix=\r, aim=true, layout=de, encoding=gbk")
@click.option("--id", "device_id", default="scanner", show_default=True, help="device id put in each read")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line (text, symbology, aim, "
              "device, time_ms, and record for batch uploads)")
@click.option("--count", type=int, help="stop after this many reads")
@click.option("--seconds", type=float, help="stop after this many seconds")
def listen_cmd(port, protocol, baud, extra, device_id, as_json, count, seconds):
    """Print every read from the gun at PORT until Ctrl-C (or --count / --seconds)."""
    reads: queue.Queue = queue.Queue()
    dev = _open(port, protocol, baud, _parse_options(extra), on_read=reads.put, device_id=device_id)
    deadline = None if seconds is None else time.monotonic() + seconds
    seen, warned = 0, False
    try:
        while count is None or seen < count:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            try:
                read = reads.get(timeout=0.2 if left is None else min(0.2, left))
            except queue.Empty:
                st = dev.status()
                if st["state"] != "connected" and st["last_error"] and not warned:
                    click.echo(f"waiting for {port}: {st['last_error']}", err=True)
                    warned = True
                continue
            seen += 1
            click.echo(_line(read, as_json))
    except KeyboardInterrupt:
        pass
    finally:
        dev.close()
    if count is not None and seen < count and seconds is not None:
        st = dev.status()
        raise click.ClickException(f"{seen} of {count} reads in {seconds:g} s (port {st['state']}, "
                                   f"{st['bad_frames']} bad frames)")


@scanner.command("config")
@click.argument("port")
@click.option("--get", "gets", multiple=True, metavar="TAGSUB", help="print a setting, e.g. 232BAD")
@click.option("--set", "sets", multiple=True, metavar="TAGSUB=VALUE", help="change a setting, e.g. 232BAD=5")
@click.option("--store", is_flag=True, help="store changes across power cycles (default: until power-off)")
@click.option("--baud", type=int, help="baud rate (default 115200)")
@click.option("--timeout", type=float, default=2.0, show_default=True, help="seconds to wait per reply")
@click.option("--json", "as_json", is_flag=True, help="print {setting: value} as one JSON object")
def config_cmd(port, gets, sets, store, baud, timeout, as_json):
    """Read or change settings of a Honeywell gun with its serial menu commands."""
    from drivers.scanner import ScannerError
    if not gets and not sets:
        raise click.UsageError("give at least one --get or --set")
    changes = []
    for item in sets:
        name, sep, value = item.partition("=")
        if not sep or len(name) != 6:
            raise click.BadParameter(f"{item!r} is not TAGSUB=VALUE (e.g. 232BAD=5)", param_hint="--set")
        changes.append((name.upper(), value))
    dev = _open(port, "honeywell", baud, {})
    out = {}
    try:
        if not dev.wait_connected(timeout):
            raise click.ClickException(f"{port}: not connected ({dev.status()['last_error']})")
        for name, value in changes:
            dev.set(name, value, store=store, timeout_s=timeout)
            out[name] = value
        for name in gets:
            out[name.upper()] = dev.get(name.upper(), timeout_s=timeout)
    except (ScannerError, PortError) as e:
        raise click.ClickException(str(e)) from None
    finally:
        dev.close()
    if as_json:
        click.echo(json.dumps(out))
    else:
        for name, value in out.items():
            click.echo(f"{name} = {value}")


@scanner.command("protocols")
@list_option
def protocols_cmd(fmt):
    """List the scanner protocols (JSON: [{protocol, summary}])."""
    from drivers.scanner import SCANNER_PROTOCOLS
    print_rows([{"protocol": name, "summary": cls.summary} for name, cls in SCANNER_PROTOCOLS.items()], fmt,
               ["protocol", "summary"])
