"""``scanhub scale …``: read a scale, zero it, tare it.  Thin: parse, call drivers.scale, format."""
from __future__ import annotations

import json
import queue

import click

from drivers.output import list_option, print_rows
from drivers.port import PortError


def _open(port, protocol, map_name, baud, extra, on_reading=None):
    from drivers.scale import SCALE_PROTOCOLS, ScaleError, open_scale
    if protocol not in SCALE_PROTOCOLS:
        raise click.BadParameter(f"unknown protocol {protocol!r} (known: {', '.join(SCALE_PROTOCOLS)})",
                                 param_hint="--protocol")
    options = dict(extra)
    if map_name:
        if protocol != "modbus":
            raise click.BadParameter("--map is for --protocol modbus", param_hint="--map")
        options["map"] = map_name
    if baud:
        options["baudrate"] = baud
    try:
        return open_scale(port, protocol, on_reading, **options)
    except (ScaleError, PortError) as e:
        raise click.ClickException(str(e)) from None


def _line(r, as_json: bool) -> str:
    if as_json:
        return json.dumps(r.to_dict(), separators=(",", ":"))
    flags = [f for f, on in (("stable", r.stable), ("net", r.net), ("OVERLOAD", r.overload),
                             ("UNDERLOAD", r.underload)) if on]
    tare = f" tare {r.tare_g} g" if r.tare_g is not None else ""
    return f"{r.grams} g{tare} {' '.join(flags) or 'motion'}"


common = [
    click.argument("port"),
    click.option("--protocol", "-p", required=True, help="toledo-continuous, toledo-8217, mt-sics, xk3190, "
                 "xk3190-reversed, xk3190-plain, xk3190-a12, xk3190-cmd, modbus, hid-pos-scale"),
    click.option("--map", "map_name", help="modbus register map: a shipped name or a YAML/JSON file"),
    click.option("--baud", type=int, help="baud rate (default: the protocol's usual one)"),
    click.option("--option", "-o", "extra", multiple=True, metavar="KEY=VALUE",
                 help="decoder option, e.g. unit=lb, checksum=false, address=B, slave=2"),
    click.option("--timeout", type=float, default=5.0, show_default=True, help="seconds to wait"),
]


def with_common(f):
    for deco in reversed(common):
        f = deco(f)
    return f


def _parse_extra(extra) -> dict:
    out = {}
    for item in extra:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--option")
        low = value.lower()
        out[key] = True if low == "true" else False if low == "false" else int(value) if value.isdigit() else value
    return out


@click.group()
def scale():
    """Scales: read weights, zero, tare (PORT: /dev/ttyUSB0, socket://host:port, a pty, hid://VID:PID).

    \b
    Examples:
      scanhub scale read /dev/ttyUSB0 -p toledo-continuous
      scanhub scale read /dev/ttyUSB0 -p mt-sics --watch --json
      scanhub scale tare /dev/ttyUSB0 -p mt-sics
      scanhub scale protocols
    Without hardware: `scanhub sim scale -p toledo-continuous --link /tmp/scale` (see its --help).
    """


@scale.command("read")
@with_common
@click.option("--watch", is_flag=True, help="Print every reading until Ctrl-C.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def read_cmd(port, protocol, map_name, baud, extra, timeout, watch, as_json):
    """Print a fresh stable weight (or every reading with --watch)."""
    readings: queue.Queue = queue.Queue()
    dev = _open(port, protocol, map_name, baud, _parse_extra(extra), readings.put if watch else None)
    try:
        if watch:
            while True:
                click.echo(_line(readings.get(), as_json))
        r = dev.stable_weight(timeout)
        if r is None:
            st = dev.status()
            why = f"port {st['state']}" + (f": {st['last_error']}" if st["last_error"] else "")
            raise click.ClickException(f"no stable weight within {timeout:g} s ({why}; "
                                       f"{st['frames']} frames, {st['bad_frames']} bad)")
        click.echo(_line(r, as_json))
    except KeyboardInterrupt:
        pass
    finally:
        dev.close()


def _command(what):
    @with_common
    @click.option("--json", "as_json", is_flag=True, help='Print {"command": ..., "sent": true} as JSON.')
    def run(port, protocol, map_name, baud, extra, timeout, as_json):
        from drivers.scale import ScaleError
        dev = _open(port, protocol, map_name, baud, _parse_extra(extra))
        try:
            if not dev.owner.wait_connected(timeout):
                raise click.ClickException(f"{port}: not connected ({dev.status()['last_error']})")
            getattr(dev, what)()
            click.echo(json.dumps({"command": what, "sent": True}) if as_json else f"{what}: sent")
        except (ScaleError, PortError) as e:
            raise click.ClickException(str(e)) from None
        finally:
            dev.close()
    run.__doc__ = f"Send the protocol's {what} command."
    return run


scale.command("zero")(_command("zero"))
scale.command("tare")(_command("tare"))


@scale.command("protocols")
@list_option
def protocols_cmd(fmt):
    """List the protocols and the shipped Modbus maps (JSON: [{protocol, summary}] and the
    maps as {map, summary: "modbus map"})."""
    from drivers.scale import SCALE_PROTOCOLS, available_maps
    rows = [{"protocol": name, "summary": cls.summary} for name, cls in SCALE_PROTOCOLS.items()]
    if fmt == "table":
        print_rows(rows, fmt, ["protocol", "summary"])
        click.echo("modbus maps: " + ", ".join(available_maps()))
        return
    rows += [{"protocol": "modbus", "map": m, "summary": "modbus map"} for m in available_maps()]
    print_rows(rows, fmt, ["protocol", "map", "summary"])
