"""``scanhub edge …``: run a scan station and look into its outbox."""
from __future__ import annotations

import json
import logging
import signal
import sys
import threading

import click

from edge.station import StationConfig, StationFileError

config_option = click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False),
                             envvar="SCANHUB_STATION", help="Station file (YAML; see docs/operations.md).")


def load(config_path: str) -> StationConfig:
    try:
        return StationConfig.load(config_path)
    except StationFileError as e:
        raise click.ClickException(str(e))


@click.group()
def edge():
    """Run a scan station (edge agent) and inspect its outbox."""


@edge.command()
@config_option
@click.option("--stdin", "use_stdin", is_flag=True,
              help="Also read barcodes from standard input, one per line (keyboard-wedge guns, local menu).")
@click.option("-v", "--verbose", is_flag=True)
def run(config_path, use_stdin, verbose):
    """Run the station: devices -> capture -> outbox -> hub, with configuration from the hub.

    Every accepted scan is durable in the outbox before it is acknowledged (the good beep);
    the station keeps working without the network and catches up when the broker returns.
    """
    from edge.agent import EdgeAgent
    from edge.devices import DeviceError, open_devices
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    cfg = load(config_path)
    agent = EdgeAgent(cfg).start()

    def show(device, text, verdict):
        click.echo(f"[{device}] {verdict}" + ("" if verdict.accepted else "\a"))
        sys.stdout.flush()
    try:
        open_devices(agent, cfg.devices, on_verdict=show)
    except DeviceError as e:
        agent.stop()
        raise click.ClickException(str(e))
    click.echo(f"station {cfg.station} (site {cfg.site}) running; outbox {cfg.outbox}; broker {cfg.broker}")
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())

    def read_stdin():
        # its own thread, so SIGTERM stops the station at once even while the gun is idle
        for line in sys.stdin:
            if done.is_set():
                return
            if line.strip():
                show("stdin", line.strip(), agent.capture.scan(line.strip(), device="stdin"))
    if use_stdin:
        threading.Thread(target=read_stdin, name="stdin", daemon=True).start()
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    agent.stop()
    click.echo("stopped")


def _read_outbox(cfg: StationConfig):
    import os
    from edge.outbox import Outbox
    if not os.path.exists(cfg.outbox):
        raise click.ClickException(f"no outbox at {cfg.outbox} yet (start the station once)")
    return Outbox(cfg.outbox, cfg.limits)


@edge.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def status(config_path, as_json):
    """Outbox depth and fill level, last acknowledgement, configuration version, clock offset."""
    cfg = load(config_path)
    ob = _read_outbox(cfg)
    try:
        cfg_json = ob.get_meta("config")
        version = json.loads(cfg_json).get("version") if cfg_json else None
        offsets = json.loads(ob.get_meta("mono_offsets", "{}"))
        last_ack = ob.last_ack_ms()
        live = json.loads(ob.get_meta("status", "{}"))
        from edge.clock import wall_ms
        fresh = isinstance(live.get("ts"), int) and wall_ms() - live["ts"] < 30_000
        running = bool(fresh and live.get("running", True))
        st = {"station": cfg.station, "site": cfg.site, "online": bool(running and live.get("online")),
              "running": running, "outbox": ob.counts(), "usage": ob.usage(),
              "config_version": version, "last_ack_ms": last_ack, "clock_offset_ms": live.get("clock_offset_ms"),
              "rtt_ms": live.get("rtt_ms"), "clock_synced_boots": len(offsets), "epoch": ob.epoch,
              "config_error": live.get("config_error")}
    finally:
        ob.close()
    if as_json:
        click.echo(json.dumps(st))
        return
    u = st["usage"]
    state = ("online" if st["online"] else "running, broker unreachable") if st["running"] else "not running"
    click.echo(f"station {st['station']} (site {st['site']}): {state}; outbox epoch {st['epoch']}")
    click.echo(f"  outbox: {st['outbox']['pending']} pending ({u['fraction']:.1%} of {u['limit']}), "
               f"{st['outbox']['acked']} acked, {st['outbox']['rejected']} rejected by the hub, "
               f"{st['outbox']['deleted']} deleted")
    if u["warning"]:
        click.echo("  WARNING: outbox above 80% or holding scans older than the age limit")
    if st["config_error"]:
        click.echo(f"  WARNING: {st['config_error']}")
    click.echo(f"  config: {version or 'none yet (the hub has not been reached)'}")
    from contract.clock import iso
    click.echo(f"  last ack: {iso(last_ack) if last_ack else 'never'}")
    if st["clock_offset_ms"] is not None:
        click.echo(f"  clock: {st['clock_offset_ms']:+d} ms from the hub (round trip {st['rtt_ms']} ms)")


@edge.command()
@config_option
@click.argument("scan_id")
@click.option("--reason", required=True, help="Why the scan is deleted (kept in the audit trail).")
@click.option("--operator", default=None, help="Staff code of who deletes it.")
def delete(config_path, scan_id, reason, operator):
    """Delete a scan with an audit tombstone (the hub reports it)."""
    from edge.clock import wall_ms
    cfg = load(config_path)
    ob = _read_outbox(cfg)
    try:
        d = ob.delete(scan_id, reason, operator, wall_ms())
    except (KeyError, ValueError) as e:
        raise click.ClickException(str(e.args[0]))
    finally:
        ob.close()
    click.echo(f"deleted scan {scan_id} (seq {d['seq']}; {'was' if d['uploaded'] else 'was not'} at the hub yet)")


@edge.command()
@config_option
@click.option("--state", type=click.Choice(["pending", "acked", "rejected"]), default=None)
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def outbox(config_path, state, limit, as_json):
    """List scans in the outbox."""
    cfg = load(config_path)
    ob = _read_outbox(cfg)
    try:
        rows = ob.scans({"pending": 0, "acked": 1, "rejected": 2}.get(state), limit)
    finally:
        ob.close()
    for r in rows:
        if as_json:
            click.echo(json.dumps(r, ensure_ascii=False))
        else:
            st = ("pending", "acked", "rejected")[r["state"]]
            click.echo(f"{r['seq']:>8} {st:<8} {r['kind']:<8} {r['waybill']:<20} {r['id']}"
                       + (f"  ({r['reason']})" if r.get("reason") else ""))


@edge.command()
@config_option
@click.option("--since-hours", type=float, default=None,
              help="Count dispatch scans of the last H hours (default: since the hub's forecast was made).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def forecast(config_path, since_hours, as_json):
    """Pre-dispatch comparison: parcels this site holds that were not dispatch-scanned (missing),
    and dispatch scans of parcels it was not expected to hold (extra).  Works offline."""
    from edge.clock import wall_ms
    from edge.predispatch import predispatch
    cfg = load(config_path)
    ob = _read_outbox(cfg)
    try:
        fc = ob.get_meta("forecast")
        since = wall_ms() - int(since_hours * 3_600_000) if since_hours is not None else None
        res = predispatch(ob, json.loads(fc) if fc else None, since)
    finally:
        ob.close()
    if as_json:
        click.echo(json.dumps(res))
        return
    if res["generated_ms"] is None:
        click.echo("no forecast from the hub yet: comparing with this station's own scans only")
    click.echo(f"expected {res['expected']}, dispatch-scanned {res['dispatched']}: "
               f"{len(res['missing'])} missing, {len(res['extra'])} extra")
    for w in res["missing"][:50]:
        click.echo(f"  missing  {w}")
    for w in res["extra"][:50]:
        click.echo(f"  extra    {w}")
