"""``scanhub edge …``: run a scan station and look into its outbox."""
from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def outbox_errors(config_path: str, outbox_path: str):
    """A damaged outbox as one line that names the file, what SQLite said and the salvage command
    (no traceback); other SQLite errors as one line too."""
    import sqlite3

    from edge.outbox import OutboxDamaged, read_error
    try:
        yield
    except (OutboxDamaged, sqlite3.Error) as e:
        err = e if isinstance(e, OutboxDamaged) else read_error(e, outbox_path)
        raise click.ClickException(err.hint(config_path) if isinstance(err, OutboxDamaged) else str(err)) from None


@click.group()
def edge():
    """Run a scan station (edge agent) and inspect its outbox.

    \b
    Examples:
      scanhub edge run --config station.yaml              # the station console
      scanhub edge run --config station.yaml --stdin      # a keyboard-wedge gun
      scanhub edge status --config station.yaml --json
      scanhub edge outbox --config station.yaml --format csv
    """


def _sound_command(ctx, param, value):
    import shlex
    if value is None:
        return None
    try:
        if not shlex.split(value):
            raise ValueError("empty command")
    except ValueError as e:
        raise click.BadParameter(f"not a command line: {e}") from None
    return value


@edge.command()
@config_option
@click.option("--stdin", "use_stdin", is_flag=True,
              help="Also read barcodes from the keyboard or standard input, one per line "
                   "(keyboard-wedge guns, typing at the station).")
@click.option("--plain", is_flag=True,
              help="Print one line per verdict and per link or device change even in a terminal "
                   "(the default when standard output is not a terminal).")
@click.option("--good-sound", metavar="COMMAND", default=None, callback=_sound_command,
              help="Run COMMAND for an accepted scan or a control code instead of one bell, "
                   "e.g. 'aplay /usr/share/sounds/good.wav'.")
@click.option("--error-sound", metavar="COMMAND", default=None, callback=_sound_command,
              help="Run COMMAND for a refused scan instead of three bells.")
@click.option("-v", "--verbose", is_flag=True, help="Log the agent's progress (plain mode: to standard error).")
@click.option("--metrics", "metrics_at", default=None, metavar="HOST:PORT",
              help="Serve this station's Prometheus metrics at http://HOST:PORT/metrics (outbox, uplink, "
                   "broker link; docs/operations.md), e.g. 127.0.0.1:9465.")
def run(config_path, use_stdin, plain, good_sound, error_sound, verbose, metrics_at):
    """Run the station: devices -> capture -> outbox -> hub, with configuration from the hub.

    Every accepted scan is durable in the outbox before it is acknowledged (the good sound);
    the station keeps working without the network and catches up when the broker returns.

    In a terminal this is the station console: the scanning context, each verdict large and
    coloured, the link, the devices and the outbox fill on one screen (Ctrl-C stops).  Piped, or
    with --plain, it prints one line per verdict and per link or device change.

    \b
    Examples:
      scanhub edge run --config station.yaml
      scanhub edge run --config station.yaml --stdin          # a keyboard-wedge gun
      scanhub edge run --config station.yaml --plain >> station.log
      scanhub edge run --config station.yaml --metrics 127.0.0.1:9465
    """
    from edge import console as con
    from edge.agent import EdgeAgent
    from edge.devices import DeviceError, open_devices
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    cfg = load(config_path)
    if metrics_at:
        from edge.metrics import parse_address
        metrics_addr = parse_address(metrics_at)       # a typo fails before the station starts
    full = sys.stdout.isatty() and not plain
    with outbox_errors(config_path, cfg.outbox):
        agent = EdgeAgent(cfg)
        try:
            agent.start()
        except BaseException:
            agent.outbox.close()
            raise
    metrics = None
    if metrics_at:
        from edge.metrics import StationMetricsError, serve
        try:
            metrics, url = serve(agent, *metrics_addr)
        except StationMetricsError:
            agent.stop()
            raise
        click.echo(f"metrics: {url}", err=True)
    screen = con.StationScreen(agent)
    if full:
        sounds = con.Sounds(screen.ring, good_sound, error_sound)
        show = con.full_screen_verdict(screen, sounds)
    else:
        sounds = con.Sounds(lambda s: None, good_sound, error_sound)
        show = con.plain_verdict(screen, sounds, bells=sys.stdout.isatty())   # a pipe hears nothing
    try:
        open_devices(agent, cfg.devices, on_verdict=show)
    except DeviceError as e:
        agent.stop()
        raise click.ClickException(str(e))
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())

    def scan_line(line):
        if line.startswith("+"):          # quick waybill entry: +NUMBER DEST KG … (edge.entry)
            show("entry", line, agent.entry.quick(line[1:]))
            return
        if line.startswith("-"):          # returned unpaid: -NUMBER REASON
            number, _, reason = line[1:].strip().partition(" ")
            show("entry", line, agent.entry.returned(number, reason))
            return
        show("stdin", line, agent.capture.scan(line, device="stdin"))

    def read_stdin():
        # its own thread, so SIGTERM stops the station at once even while the gun is idle
        for line in sys.stdin:
            if done.is_set():
                return
            if line.strip():
                scan_line(line.strip())
    keyboard = None
    if use_stdin and full and sys.stdin.isatty():
        keyboard = con.Keyboard(screen, scan_line)
    elif use_stdin:
        threading.Thread(target=read_stdin, name="stdin", daemon=True).start()
    try:
        if full:
            with keyboard or contextlib.nullcontext():
                con.run_full_screen(agent, screen, sounds, done, keyboard)
        else:
            click.echo(f"station {cfg.station} (site {cfg.site}) running; outbox {cfg.outbox}; broker {cfg.broker}")
            sys.stdout.flush()
            con.run_plain(agent, screen, done)
    except KeyboardInterrupt:
        pass
    if metrics is not None:
        metrics.shutdown()
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
    """Link (online, or offline since when), devices, outbox depth and fill level, last
    acknowledgement, configuration version, clock offset.

    Devices are listed while the station runs (``devices`` in --json: type, id, port, state,
    connected, and a scale's last weight_g); a stopped station shows none (null in --json).

    \b
    Examples:
      scanhub edge status --config station.yaml
      scanhub edge status --config station.yaml --json
    """
    cfg = load(config_path)
    with outbox_errors(config_path, cfg.outbox):
        st = _status(cfg)
    version = st["config_version"]
    last_ack = st["last_ack_ms"]
    if as_json:
        click.echo(json.dumps(st))
        return
    u = st["usage"]
    state = ("online" if st["online"] else "running, broker unreachable") if st["running"] else "not running"
    if st["running"] and st.get("link_since_ms"):
        from edge.console import clock_text
        state += f" since {clock_text(st['link_since_ms'])}"
    click.echo(f"station {st['station']} (site {st['site']}): {state}; outbox epoch {st['epoch']}")
    click.echo(f"  outbox: {st['outbox']['pending']} pending ({u['fraction']:.1%} of {u['limit']}), "
               f"{st['outbox']['acked']} acked, {st['outbox']['rejected']} rejected by the hub, "
               f"{st['outbox']['deleted']} deleted")
    w = st["waybills"]
    if w["entered"]:
        click.echo(f"  waybill entry: {w['entered']} entered, {w['pending']} waiting for the hub, "
                   f"{w['rejected']} refused by the hub")
    if u["warning"]:
        click.echo("  WARNING: outbox above 80% or holding scans older than the age limit")
    if st["lost_commits"]:
        click.echo(f"  WARNING: {st['lost_commits']}; the station starts a new epoch when it starts")
    if st["config_error"]:
        click.echo(f"  WARNING: {st['config_error']}")
    from edge.console import status_lines
    for line in status_lines(st):
        click.echo(line)
    click.echo(f"  config: {version or 'none yet (the hub has not been reached)'}")
    from contract.clock import iso
    click.echo(f"  last ack: {iso(last_ack) if last_ack else 'never'}")
    if st["clock_offset_ms"] is not None:
        click.echo(f"  clock: {st['clock_offset_ms']:+d} ms from the hub (round trip {st['rtt_ms']} ms)")


def _status(cfg: StationConfig) -> dict:
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
              "config_error": live.get("config_error"), "lost_commits": ob.lost_commits(),
              "link_since_ms": live.get("link_since_ms") if running else None,
              "devices": live.get("devices", []) if running else None,
              "waybills": ob.waybill_counts()}
    finally:
        ob.close()
    return st


@edge.command()
@config_option
@click.argument("scan_ids", metavar="SCAN_ID...", nargs=-1, required=True)
@click.option("--reason", required=True, help="Why the scans are deleted (kept in the audit trail).")
@click.option("--operator", default=None, help="Staff code of who deletes them.")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object: deleted (id, seq, uploaded) and failed (id, error) lists.")
def delete(config_path, scan_ids, reason, operator, as_json):
    """Delete scans with an audit tombstone each (the hub reports them).

    Each SCAN_ID (from `scanhub edge outbox`) is deleted on its own: one that is not in the
    outbox is reported and the others are still deleted; the exit status is 1 when any failed.

    \b
    Examples:
      scanhub edge delete --config station.yaml 3f2a... --reason "label printed twice" --operator 1002
      scanhub edge delete --config station.yaml ID1 ID2 --reason "test scans" --json
    """
    from edge.clock import wall_ms
    cfg = load(config_path)
    deleted, failed = [], []
    with outbox_errors(config_path, cfg.outbox):
        ob = _read_outbox(cfg)
        try:
            for scan_id in scan_ids:
                try:
                    d = ob.delete(scan_id, reason, operator, wall_ms())
                except (KeyError, ValueError) as e:
                    failed.append({"id": scan_id, "error": str(e.args[0])})
                    continue
                deleted.append(d)
        finally:
            ob.close()
    if as_json:
        click.echo(json.dumps({"deleted": deleted, "failed": failed}, ensure_ascii=False))
    else:
        for d in deleted:
            click.echo(f"deleted scan {d['id']} (seq {d['seq']}; {'was' if d['uploaded'] else 'was not'} at the hub yet)")
        for f in failed:
            click.echo(f"not deleted {f['id']}: {f['error']}", err=True)
    if failed:
        sys.exit(1)


@edge.command()
@config_option
@click.argument("waybill")
@click.argument("image", type=click.Path(exists=True, dir_okay=False))
@click.option("--scan", "scan_id", help="The sign scan the image proves (default: the parcel as a whole).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: sha256, waybill, scan, type, size.")
def attach(config_path, waybill, image, scan_id, as_json):
    """Attach a photo or scanned receipt (JPEG, PNG, TIFF or PDF) to WAYBILL as proof of delivery.

    The image is kept beside the outbox and sent to the hub after the scans, in chunks, resuming
    where it stopped (docs/protocol.md, "Proof of delivery"); this works while the station runs.
    The same image attached twice is kept and sent once.

    
    Examples:
      scanhub edge attach --config station.yaml 70000000000016 signed-receipt.jpg
      scanhub edge attach --config station.yaml 70000000000016 photo.png --scan 3f2a... --json
    """
    from edge.proofs import ProofQueue, queue_path
    cfg = load(config_path)
    with open(image, "rb") as f:
        data = f.read()
    q = ProofQueue(queue_path(cfg.outbox))
    try:
        row = q.attach(waybill, data, scan_id)
        waiting = q.pending()
    finally:
        q.close()
    if as_json:
        click.echo(json.dumps(row, ensure_ascii=False))
    else:
        click.echo(f"attached {row['type']} {row['sha256'][:12]}… ({row['size']} bytes) to {waybill}; "
                   f"{waiting} image(s) waiting for the hub")


@edge.command("import-batch")
@config_option
@click.argument("batch_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "file_format", required=True,
              type=click.Choice(["opticon-scanned", "opticon-scanned-qty", "opticon-data"]),
              help="The gun's file format (docs/scanners.md, \"Vendor batch files\").")
@click.option("--kind", required=True, help="Scan kind of every record: receive, arrive, dispatch, …")
@click.option("--operator", required=True, help="Staff code of who scanned them.")
@click.option("--dest", help="Destination (dispatch, load: the next stop from the table).")
@click.option("--site-ref", help="Next site (dispatch) or previous site (arrive).")
@click.option("--courier", help="Courier (receive, deliver).")
@click.option("--tz-offset-min", type=int, default=480, show_default=True,
              help="The gun's clock zone in minutes east of UTC (the files hold local time).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: accepted, refused (line, barcode, reason), "
                                                         "problems (unreadable lines).")
def import_batch(config_path, batch_file, file_format, kind, operator, dest, site_ref, courier, tz_offset_min,
                 as_json):
    """Capture the scans of a vendor gun's batch file (read off the gun as USB storage) at this
    station, each with its own scan time, as if the gun had been read in its cradle.

    Run it while the station is stopped (it takes the outbox like `edge run`); the next `edge run`
    sends the scans.  A record refused (bad check digit, repeat …) is listed with its line and
    reason, and the exit status is 1; importing the same file again adds nothing (repeat scans).

    
    Examples:
      scanhub edge import-batch --config station.yaml /media/OPN2006/SCANNED.TXT --format opticon-scanned \\
          --kind arrive --operator 9001
      scanhub edge import-batch --config station.yaml DATA.TXT --format opticon-data --kind receive \\
          --operator 1002 --courier 1001 --json
    """
    from drivers.scanner.vendor_files import parse
    from edge.capture import Capture
    from edge.clock import StationClock
    from edge.outbox import Outbox
    cfg = load(config_path)
    with open(batch_file, "rb") as f:
        records, problems = parse(f.read(), file_format, tz_offset_min)
    with outbox_errors(config_path, cfg.outbox):
        ob = Outbox(cfg.outbox, cfg.limits)
        try:
            ob.claim()
            cached = ob.get_meta("config")
            capture = Capture(cfg.station, cfg.site, ob, StationClock(ob.get_meta, ob.set_meta),
                              json.loads(cached) if cached else None, offline_staff=cfg.staff, keep_contexts=False)
            items = [{"text": r.barcode, "captured_ms": r.time_ms, "device": f"{file_format}-{r.serial or 'file'}",
                      "kind": kind, "operator": operator, "dest": dest, "site_ref": site_ref, "courier": courier}
                     for r in records]
            verdicts = capture.scan_batch(items) if items else []
        finally:
            ob.close()
    accepted = sum(1 for v in verdicts if v.accepted)
    refused = [{"line": r.line, "barcode": r.barcode, "reason": v.reason}
               for r, v in zip(records, verdicts) if not v.accepted]
    if as_json:
        click.echo(json.dumps({"accepted": accepted, "refused": refused, "problems": problems}, ensure_ascii=False))
    else:
        click.echo(f"{accepted} of {len(records)} scans captured from {batch_file}")
        for r in refused:
            click.echo(f"  line {r['line']}: {r['barcode']}: {r['reason']}", err=True)
        for p in problems:
            click.echo(f"  unreadable {p}", err=True)
    if refused or problems:
        sys.exit(1)


STATES = ("pending", "acked", "rejected")            # the outbox's state numbers 0, 1, 2, by name
OUTBOX_COLUMNS = ("seq", "state", "kind", "waybill", "id", "edge_ms", "operator", "device", "reason")
WAYBILL_COLUMNS = ("state", "waybill", "id", "edge_ms", "operator", "fields", "reason")


def outbox_rows(rows: list[dict]) -> list[dict]:
    """Outbox rows for output: the state by name (``"pending"``, not 0)."""
    return [dict(r, state=STATES[r["state"]]) for r in rows]


@edge.command()
@config_option
@click.option("--state", type=click.Choice(STATES), default=None, help="Only scans in this state.")
@click.option("--limit", default=50, show_default=True, help="At most this many scans, oldest first.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True,
              help="table (terminal), csv (columns: " + ", ".join(OUTBOX_COLUMNS) + "), or json "
                   "(an array of the scans, each with its state by name).")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--waybills", "records", is_flag=True,
              help="The waybill records entered here instead (columns: " + ", ".join(WAYBILL_COLUMNS) + ").")
def outbox(config_path, state, limit, fmt, as_json, records):
    """List scans in the outbox with their state: pending (not yet acknowledged by the hub),
    acked, or rejected by the hub (with its reason).  --waybills: the waybill records entered at
    this station, the same way.

    \b
    Examples:
      scanhub edge outbox --config station.yaml --state pending
      scanhub edge outbox --config station.yaml --format csv --limit 1000 > outbox.csv
      scanhub edge outbox --config station.yaml --json
      scanhub edge outbox --config station.yaml --waybills --state rejected
    """
    cfg = load(config_path)
    with outbox_errors(config_path, cfg.outbox):
        ob = _read_outbox(cfg)
        try:
            if records:
                rows = [r for r in outbox_rows(ob.waybill_records()) if state in (None, r["state"])][:limit]
            else:
                rows = outbox_rows(ob.scans(STATES.index(state) if state else None, limit))
        finally:
            ob.close()
    fmt = "json" if as_json else fmt
    if records:
        _print_records(rows, fmt)
        return
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False))
    elif fmt == "csv":
        import csv
        import io
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(OUTBOX_COLUMNS)
        for r in rows:
            w.writerow(["" if r.get(c) is None else r.get(c) for c in OUTBOX_COLUMNS])
        click.echo(buf.getvalue(), nl=False)
    else:
        for r in rows:
            click.echo(f"{r['seq']:>8} {r['state']:<8} {r['kind']:<8} {r['waybill']:<20} {r['id']}"
                       + (f"  ({r['reason']})" if r.get("reason") else ""))


def _print_records(rows: list[dict], fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    if fmt == "csv":
        import csv
        import io
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(WAYBILL_COLUMNS)
        for r in rows:
            w.writerow([json.dumps(r["fields"], ensure_ascii=False) if c == "fields" else
                        ("" if r.get(c) is None else r.get(c)) for c in WAYBILL_COLUMNS])
        click.echo(buf.getvalue(), nl=False)
        return
    for r in rows:
        click.echo(f"{r['state']:<8} {r['waybill']:<20} {json.dumps(r['fields'], ensure_ascii=False)}"
                   + (f"  ({r['reason']})" if r.get("reason") else ""))


@edge.command()
@config_option
@click.option("--since-hours", type=float, default=None,
              help="Count dispatch scans of the last H hours (default: since the hub's forecast was made).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True,
              help="table (counts, then at most 50 of each list), csv (every row: waybill,problem with "
                   "problem missing or extra), or json (one object: generated_ms, expected, dispatched, "
                   "missing, extra).")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
def forecast(config_path, since_hours, fmt, as_json):
    """Pre-dispatch comparison: parcels this site holds that were not dispatch-scanned (missing),
    and dispatch scans of parcels it was not expected to hold (extra).  Works offline.

    \b
    Examples:
      scanhub edge forecast --config station.yaml
      scanhub edge forecast --config station.yaml --since-hours 2 --format csv > check.csv
    """
    from edge.clock import wall_ms
    from edge.predispatch import predispatch
    cfg = load(config_path)
    with outbox_errors(config_path, cfg.outbox):
        ob = _read_outbox(cfg)
        try:
            fc = ob.get_meta("forecast")
            since = wall_ms() - int(since_hours * 3_600_000) if since_hours is not None else None
            res = predispatch(ob, json.loads(fc) if fc else None, since)
        finally:
            ob.close()
    fmt = "json" if as_json else fmt
    if fmt == "json":
        click.echo(json.dumps(res))
        return
    if fmt == "csv":
        import csv
        import io
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["waybill", "problem"])
        w.writerows([wb, problem] for problem in ("missing", "extra") for wb in res[problem])
        click.echo(buf.getvalue(), nl=False)
        return
    if res["generated_ms"] is None:
        click.echo("no forecast from the hub yet: comparing with this station's own scans only")
    click.echo(f"expected {res['expected']}, dispatch-scanned {res['dispatched']}: "
               f"{len(res['missing'])} missing, {len(res['extra'])} extra")
    for w in res["missing"][:50]:
        click.echo(f"  missing  {w}")
    for w in res["extra"][:50]:
        click.echo(f"  extra    {w}")


@edge.command()
@config_option
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True,
              help="table (one line per task), csv, or json (the list as the hub sent it, with overdue).")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
def pickups(config_path, fmt, as_json):
    """The site's open pickup tasks as this station last received them from the hub (kept in the
    outbox: works offline).  A courier closes one with receive scans: %KRECEIVE, then the task's
    %U<code>, then the labels he put on its parcels (docs/station.md, "Pickup tasks").

    \b
    Examples:
      scanhub edge pickups --config station.yaml
      scanhub edge pickups --config station.yaml --format csv > pickups.csv
    """
    from contract.errors import PayloadError
    from contract.pickup import parse_task_list
    from edge.clock import wall_ms
    from edge.console import window_text
    cfg = load(config_path)
    with outbox_errors(config_path, cfg.outbox):
        ob = _read_outbox(cfg)
        try:
            raw = ob.get_meta("pickup")
        finally:
            ob.close()
    try:
        got = parse_task_list(raw, cfg.site) if raw else None
    except PayloadError:
        got = None
    now = wall_ms()
    tasks = [dict(t, overdue=t["window_to_ms"] < now) for t in (got or {}).get("tasks", [])]
    fmt = "json" if as_json else fmt
    if fmt == "json":
        click.echo(json.dumps({"site": cfg.site, "version": got and got["version"],
                               "generated_ms": got and got["generated_ms"], "tasks": tasks}, ensure_ascii=False))
        return
    cols = ("code", "window_from_ms", "window_to_ms", "overdue", "sender", "phone", "address", "parcels", "note")
    if fmt == "csv":
        import csv
        import io
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        w.writerows([t.get(c, "") for c in cols] for t in tasks)
        click.echo(buf.getvalue(), nl=False)
        return
    if got is None:
        click.echo("no pickup task list from the hub yet")
        return
    click.echo(f"{len(tasks)} open pickup task(s) at site {cfg.site}")
    for t in tasks:
        click.echo(f"  {t['code']}  {window_text(t):<24} {t['parcels']:>3} pc  "
                   f"{t.get('sender', '')} {t.get('phone', '')}  {t['address']}")


@edge.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="The report as one JSON object.")
def salvage(config_path, as_json):
    """Rebuild a damaged outbox: every readable scan and tombstone into a new outbox (new epoch).

    Stop the station first.  Scans keep their ids and states (pending ones are sent again) and
    get new sequence numbers in the new epoch; the old file is kept beside the new one with a
    timestamp suffix.  See docs/operations.md ("A damaged outbox")."""
    from edge.salvage import salvage as run_salvage
    cfg = load(config_path)
    report = run_salvage(cfg.outbox)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
        return
    for line in salvage_lines(report):
        click.echo(line)


def salvage_lines(r: dict) -> list[str]:
    """The salvage report in words."""
    sv, ns = r["saved"], r["not_saved"]
    out = [f"salvaged outbox {r['outbox']}: new epoch {r['epoch']} (was {r['old_epoch'] or 'unknown'})",
           f"  saved: {sv['scans']} scans - {sv['pending']} pending"
           + (f" (now seq 1..{sv['pending']} of epoch {r['epoch']})" if sv["pending"] else "")
           + f", {sv['acked']} acked and {sv['rejected']} rejected (kept with the epoch and seq the hub knows them by)"
           + f"; {sv['tombstones']} tombstones ({sv['tombstones_pending']} not yet at the hub)"
           + (f"; {sv['waybill_records']} waybill records ({sv['waybill_records_pending']} not yet at the hub)"
              if sv.get("waybill_records") else "")]
    if ns["missing_seqs"]:
        ranges = ", ".join(f"{lo}..{hi}" if lo != hi else str(lo) for lo, hi in ns["missing_ranges"][:8])
        more = f" and {len(ns['missing_ranges']) - 8} more ranges" if len(ns["missing_ranges"]) > 8 else ""
        if ns["lost"] is None:
            why = "lost, or pruned after acknowledgement (this outbox did not count its pruning)"
        else:
            why = f"{ns['pruned']} pruned after acknowledgement, so {ns['lost']} lost"
        out.append(f"  not saved: {ns['missing_seqs']} seq numbers of epoch {r['old_epoch']} have no readable scan "
                   f"({ranges}{more}): {why}")
    else:
        out.append("  not saved: nothing - every seq number has its scan or tombstone")
    if ns["known_lost"]:
        named = ", ".join(f"{n} {st}" for st, n in sorted(ns["known_lost"].items()))
        out.append(f"  the file's indexes still name {sum(ns['known_lost'].values())} of the lost scans: {named}")
    if ns["lost_pending_waybills"]:
        wbs = ns["lost_pending_waybills"]
        out.append(f"  lost before reaching the hub, waybills: {', '.join(wbs[:20])}"
                   + (f" and {len(wbs) - 20} more (--json)" if len(wbs) > 20 else ""))
    extra = [f"{ns[k]} {label}" for k, label in (("earlier_epochs_lost", "acknowledged scans of earlier epochs"),
                                                   ("skipped_rows", "rows repeated or deleted"),
                                                   ("tombstones_lost", "tombstones unreadable"),
                                                   ("waybill_records_lost", "waybill records unreadable"),
                                                   ("meta_lost", "settings unreadable")) if ns[k]]
    if extra:
        out.append(f"  also not saved: {', '.join(extra)}")
    for note in r["read"]["notes"]:
        out.append(f"  read: {note}")
    if r["read"]["check"] != ["ok"]:
        check = r["read"]["check"]
        more = f" (+{len(check) - 1} more)" if len(check) > 1 else ""
        out.append(f"  SQLite's check of the old file: {check[0]}{more}")
    out.append(f"  old file kept as {r['kept_as']}")
    if sv["pending"]:
        out.append(f"  the {sv['pending']} pending scans go to the hub again when the station starts "
                   "(same ids, new epoch and seq)")
    return out
