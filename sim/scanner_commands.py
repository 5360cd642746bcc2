"""``scanhub sim scanner --protocol P``: a simulated gun on a pseudo-terminal.

It prints the path a driver can open (a pty for serial protocols; ``hidraw://FIFO`` for
``hid-keyboard`` and ``hid-pos``), then sends one read per line from ``--script`` or the keyboard.

Script lines::

    YT1234567890123            a read (symbology from --symbology)
    ean13 6901234567892        a read with its own symbology (code128, ean13, ean8, code39, qr …)
    @sleep 0.5                 wait (seconds)
    @unplug / @replug          the device goes away / comes back at the same path
    @upload W7 [{"gun": "W7", "seq": 1, …}]    a batch upload (protocol batch)
    # comment
"""
from __future__ import annotations

import json
import sys
import time

import click

from drivers.scanner.aim import AIM_CODES, AIM_MODIFIERS

SYMBOLOGIES = sorted(set(AIM_CODES.values()) | set(AIM_MODIFIERS.values()))


class LineError(Exception):
    """A line the simulator cannot act on; it says so and goes on with the next."""


def _run_line(gun, line: str, symbology: str) -> str | None:
    """Act on one script line; returns what to echo, or None for a blank or comment line.
    Raises ``LineError`` for a line it cannot act on."""
    line = line.rstrip("\r\n")
    if not line.strip() or line.lstrip().startswith("#"):
        return None
    if line.startswith("@"):
        cmd, _, arg = line[1:].partition(" ")
        if cmd == "sleep":
            try:
                time.sleep(float(arg))
            except ValueError:
                raise LineError(f"@sleep needs seconds, not {arg!r}") from None
            return f"slept {arg} s"
        if cmd == "unplug":
            gun.unplug()
            return "unplugged"
        if cmd == "replug":
            gun.replug()
            return f"replugged at {gun.path}"
        if cmd == "upload":
            gun_id, _, body = arg.partition(" ")
            try:
                records = json.loads(body)
            except ValueError as e:
                raise LineError(f"@upload: records are not JSON: {e}") from None
            from drivers.scanner.errors import BatchRecordError
            try:
                gun.send_upload(gun_id, records)
            except BatchRecordError as e:
                raise LineError(f"@upload: {e}") from None
            return f"uploaded {len(records)} record(s) of gun {gun_id}"
        raise LineError(f"unknown command @{cmd} (commands: @sleep SECONDS, @unplug, @replug, "
                        "@upload GUN [records]); the line was not sent")
    first, _, rest = line.partition(" ")
    if rest and first in SYMBOLOGIES:
        symbology, line = first, rest
    try:
        gun.send_read(line, symbology)
    except ValueError as e:
        raise LineError(f"not sent: {e}") from None
    return f"sent {line}"


SCRIPT_HELP = """\b
Lines (typed, or in --script):
  YT1234567890123               a read, in the --symbology
  ean13 6901234567892           a read with its own symbology (code128, ean13, ean8, code39, qr …)
  @sleep 0.5                    wait 0.5 seconds
  @unplug / @replug             the device goes away / comes back at the same path
  @upload W7 [{"gun": "W7", "seq": 1, …}]   a batch upload (protocol batch)
  # comment
A line it cannot act on (an unknown @command, bad JSON) is reported and skipped.
"""


@click.command("scanner", epilog=SCRIPT_HELP)
@click.option("--protocol", "-p", default="serial", show_default=True,
              type=click.Choice(["serial", "hid-keyboard", "hid-pos", "ssi", "honeywell", "batch"]),
              help="What the gun speaks: serial text lines, HID keyboard wedge or HID POS (a hidraw "
                   "FIFO), Zebra SSI, Honeywell, or a wireless gun's cradle (batch uploads).")
@click.option("--script", type=click.File("r"), help="File of reads and @commands (default: type them).")
@click.option("--symbology", default="code128", show_default=True, help="Symbology of plain reads.")
@click.option("--interval", type=float, default=0.0, help="Seconds between script lines.")
@click.option("--link", type=click.Path(dir_okay=False), help="Stable symlink to the device (kept across @unplug/@replug).")
@click.option("--linger", type=float, default=1.0, show_default=True,
              help="Seconds to stay plugged in after the script, so the reader drains it.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the device path.")
def scanner(protocol, script, symbology, interval, link, linger, quiet):
    """A simulated barcode gun: prints the device path, then sends reads from a script or the keyboard.

    \b
    Examples:
      scanhub sim scanner --link /tmp/gun                 then type waybill numbers
      scanhub scanner listen /tmp/gun                     (another terminal)
      scanhub sim scanner -p batch --script reads.txt --link /tmp/cradle
    """
    from sim.scanner_sim import SimScanner
    transport = "fifo" if protocol in ("hid-keyboard", "hid-pos") else "pty"
    gun = SimScanner(protocol, link=link, transport=transport)
    try:
        click.echo(f"hidraw://{gun.path}" if transport == "fifo" else gun.path)
        sys.stdout.flush()
        if not quiet and script is None:
            click.echo(f"type reads (one per line), Ctrl-D to stop; protocol {protocol}", err=True)
        from sim.scale_commands import keyboard_lines
        source = script if script is not None else keyboard_lines()
        for line in source:
            try:
                said = _run_line(gun, line, symbology)
            except LineError as e:
                click.echo(f"error: {e}", err=True)
                continue
            if said and not quiet:
                click.echo(said, err=True)
            if interval:
                time.sleep(interval)
        time.sleep(linger)
    except KeyboardInterrupt:
        pass
    finally:
        gun.close()
