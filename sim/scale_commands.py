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

import sys
import time

import click


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
            click.echo(f"? {line.strip()}  (a weight in grams, zero, tare, clear, unplug, replug, quit)", err=True)
            return True
    if len(words) > 1:
        time.sleep(float(words[1]))
    return True


@click.command("scale")
@click.option("--protocol", "-p", required=True, help="toledo-continuous, toledo-8217, mt-sics, xk3190, "
              "xk3190-reversed, xk3190-plain, xk3190-a12, xk3190-cmd, modbus")
@click.option("--map", "map_name", default="tuna-id551pn", show_default=True, help="modbus register map")
@click.option("--weight", type=int, default=0, show_default=True, help="grams on the platform at start")
@click.option("--rate", type=float, default=10.0, show_default=True, help="frames per second (streams)")
@click.option("--settle", type=float, default=0.5, show_default=True, help="seconds in motion after a change")
@click.option("--link", help="also make this symlink to the pty (a stable path across replug)")
@click.option("--script", type=click.File("r"), help="read commands from this file instead of the keyboard")
@click.option("--no-checksum", is_flag=True, help="toledo-continuous without the checksum byte")
@click.option("--exit-at-end", is_flag=True, help="stop when the script or stdin ends")
def scale(protocol, map_name, weight, rate, settle, link, script, no_checksum, exit_at_end):
    """A simulated scale that speaks PROTOCOL's exact bytes on a pseudo-terminal."""
    from sim.scale_devices import SimScale
    try:
        sim = SimScale(protocol, link=link, rate_hz=rate, settle_s=settle, modbus_map=map_name,
                       checksum=not no_checksum)
    except (ValueError, OSError) as e:
        raise click.ClickException(str(e)) from None
    sim.set_weight(weight, settle=False)
    click.echo(sim.path)
    sys.stdout.flush()
    try:
        source = script if script is not None else sys.stdin
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
