"""``scanhub sim scale --protocol P``: a simulated scale on a pseudo-terminal.

Prints the pty path (open it with ``scanhub scale read PATH --protocol P``), then takes weights
from a script file or the keyboard, one command a line::

    1250          put 1250 g on the platform (it settles for --settle seconds)
    1250 2        … and hold it 2 seconds before the next line (scripts)
    zero | tare | clear
    unplug | replug
    quit

When the script (or stdin) ends the scale keeps running until Ctrl-C, unless ``--exit-at-end``.
"""
from __future__ import annotations

import os
import select
import signal
import sys
import time

import click

KEYBOARD_HELP = """\b
Commands (typed, or one a line in --script):
  1250          put 1250 g on the platform (it settles for --settle seconds)
  1250 2        the same, then wait 2 seconds before the next line (scripts)
  0             empty the platform
  zero          the load now on the platform reads 0 from now on (not while in motion)
  tare          tare the load now on the platform: net weights from now on (not while in motion)
  clear         clear the tare
  unplug        the scale goes away (the driver sees the port vanish)
  replug        it comes back at the same path
  quit          stop the simulator (also Ctrl-C, or Ctrl-D then Ctrl-C)
"""

ONE_LINE_HELP = "commands: GRAMS [SECONDS], zero, tare, clear, unplug, replug, quit"


def keyboard_lines(stream=None):
    """Lines typed on ``stream`` (stdin).  On a terminal, input is read only while we are in the
    foreground: a background job (``&`` in an interactive shell) that read its terminal would be
    stopped by SIGTTIN, so it keeps serving and reads once brought back with ``fg``."""
    stream = stream or sys.stdin
    if not stream.isatty():
        yield from stream
        return
    fd = stream.fileno()
    signal.signal(signal.SIGTTIN, signal.SIG_IGN)     # a read from the background gets EIO instead
    while True:
        try:
            foreground = os.tcgetpgrp(fd) == os.getpgrp()
        except OSError:
            foreground = False
        if not foreground:
            time.sleep(0.2)
            continue
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        try:
            line = stream.readline()
        except OSError:                                # sent to the background meanwhile
            continue
        if not line:
            return
        yield line


def apply(sim, line: str) -> bool:
    """Apply one script/keyboard line; ``False`` on quit."""
    words = line.split("#", 1)[0].split()
    if not words:
        return True
    cmd = words[0].lower()
    if cmd in ("quit", "exit"):
        return False
    if cmd in ("zero", "tare"):
        getattr(sim, cmd)()
    elif cmd == "clear":
        sim.clear_tare()
    elif cmd == "unplug":
        sim.unplug()
    elif cmd == "replug":
        sim.replug()
    else:
        try:
            sim.set_weight(int(float(cmd)))
        except ValueError:
            click.echo(f"unknown command {line.strip()!r} ({ONE_LINE_HELP})", err=True)
            return True
    if len(words) > 1:
        try:
            time.sleep(float(words[1]))
        except ValueError:
            click.echo(f"unknown command {line.strip()!r}: seconds must be a number ({ONE_LINE_HELP})", err=True)
    return True


@click.command("scale", epilog=KEYBOARD_HELP)
@click.option("--protocol", "-p", required=True, help="The scale's protocol: toledo-continuous, toledo-8217, "
              "mt-sics, xk3190, xk3190-reversed, xk3190-plain, xk3190-a12, xk3190-cmd, modbus.")
@click.option("--map", "map_name", default="tuna-id551pn", show_default=True,
              help="Modbus register map (protocol modbus only): a shipped map name.")
@click.option("--weight", type=int, default=0, show_default=True, help="Grams on the platform at start.")
@click.option("--rate", type=float, default=10.0, show_default=True,
              help="Frames per second, for protocols that stream without being asked.")
@click.option("--settle", type=float, default=0.5, show_default=True,
              help="Seconds the scale shows motion after the weight changes.")
@click.option("--link", help="Also make this symlink to the pty: a stable path across unplug/replug.")
@click.option("--script", type=click.File("r"), help="Read the commands below from this file instead of the keyboard.")
@click.option("--no-checksum", is_flag=True, help="toledo-continuous frames without the checksum byte.")
@click.option("--exit-at-end", is_flag=True, help="Stop when the script (or stdin) ends, instead of serving until Ctrl-C.")
def scale(protocol, map_name, weight, rate, settle, link, script, no_checksum, exit_at_end):
    """A simulated scale that speaks PROTOCOL's exact bytes on a pseudo-terminal.

    It prints the pty's path (read it with `scanhub scale read PATH --protocol PROTOCOL`), then
    takes the commands below from the keyboard or --script.  Started in the background (`&`), it
    keeps serving and reads the keyboard once brought back with `fg`.

    \b
    Examples:
      scanhub sim scale -p toledo-continuous --weight 1250 --link /tmp/scale
      scanhub scale read /tmp/scale -p toledo-continuous          (another terminal)
      scanhub sim scale -p mt-sics --script weights.txt --exit-at-end
    """
    from sim.scale_devices import SimScale
    try:
        sim = SimScale(protocol, link=link, rate_hz=rate, settle_s=settle, modbus_map=map_name,
                       checksum=not no_checksum)
    except (ValueError, OSError) as e:
        raise click.ClickException(str(e)) from None
    sim.set_weight(weight, settle=False)
    click.echo(sim.path)
    sys.stdout.flush()
    if script is None:
        click.echo(f"{protocol} scale on {sim.path}; {ONE_LINE_HELP} (--help explains them)", err=True)
    try:
        source = script if script is not None else keyboard_lines()
        for line in source:
            if not apply(sim, line):
                return
        if not exit_at_end:  # the input ended (a script, or stdin closed): keep serving until Ctrl-C
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sim.close()
