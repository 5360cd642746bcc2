"""``scanhub hub …`` and ``scanhub track``: the hub admin's commands."""
from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time

import click

from contract.broker import BrokerURL
from hub.cli.backup import backup as backup_command, restore as restore_command
from hub.cli.common import db_option, echo_json, open_store, setting
from hub.cli.common import done, emit, format_option, json_option, utc_option

@click.group()
def hub():
    """Run the hub and manage its store: basic data, stations, gaps, credentials, backups.

    \b
    Examples:
      scanhub hub init && scanhub hub import sim/networks/sample.yaml
      scanhub hub run --listen 0.0.0.0:1883 --credentials creds/
      scanhub hub stations
      scanhub hub status --max-lag 300
      scanhub hub gaps --json
      scanhub hub backup --out /var/backups/scanhub/hub.db
    """


@hub.command()
@db_option
def init(db):
    """Create the hub store (idempotent: existing data is kept)."""
    open_store(db, create=True)
    click.echo(f"hub store ready: {db}")


from hub.cli.migrate import migrate  # noqa: E402 - registered beside init
hub.add_command(migrate)


@hub.command()
@db_option
@json_option
def check(db, fmt):
    """Check that the hub store is readable and whole (SQLite: every page and index).

    Exit status 0 when it is, 1 with the problems and what to do when it is not.  A damaged store
    never makes the hub reject scans: it acknowledges nothing and says so in its log, and the
    stations keep their scans until it is repaired."""
    from hub.schema import TABLES
    from hub.store.check import check_store
    open_store(db)
    result = check_store(TABLES)
    if fmt == "json":
        echo_json(result)
    elif result["ok"]:
        click.echo(f"{db}: ok")
    else:
        click.echo(f"{db}: DAMAGED")
        for p in result["problems"]:
            click.echo(f"  {p}")
        click.echo(f"what to do: {result['advice']}")
    if not result["ok"]:
        raise SystemExit(1)


@hub.command("import")
@click.argument("network_file", type=click.Path(dir_okay=False))
@db_option
@click.option("--dry-run", is_flag=True, help="Check the file and report, write nothing.")
@json_option
def import_(network_file, db, dry_run, fmt):
    """Load basic data from NETWORK_FILE (YAML: sites, stations, staff, gun users, shifts,
    next-stop rules, waybill rules, issuance; see docs/network.md).

    The whole file is checked first and every problem is listed with its place; nothing is
    written unless all of it is valid.  Importing replaces the previous basic data.
    """
    from hub.network.file import NetworkError, load_network
    try:
        net = load_network(network_file)
    except NetworkError as e:
        if fmt == "json":
            echo_json({"valid": False, "imported": False, "problems": e.problems})
            raise SystemExit(1)
        raise click.ClickException(str(e))
    counts = {k: len(v) for k, v in net.items() if isinstance(v, list)}
    from contract.clock import zone_label
    zone = zone_label(net["tz_offset_min"])
    if dry_run:
        done({"valid": True, "imported": False, "counts": counts, "zone": zone},
             "valid: " + ", ".join(f"{n} {k}" for k, n in counts.items()) + f"; zone {zone}", fmt)
        return
    open_store(db, create=True)
    from hub.store.meta import get_meta
    from hub.network.basic_data import import_network
    import_network(net)
    done({"valid": True, "imported": True, "counts": counts, "zone": zone, "data_version": get_meta("data_version")},
         "imported: " + ", ".join(f"{n} {k}" for k, n in counts.items())
         + f"; zone {zone} (data version {get_meta('data_version')})", fmt)


@hub.command()
@db_option
@click.option("--broker", default=setting("broker"), show_default="SCANHUB_BROKER, else broker in scanhub.toml",
              help="mqtt[s]://[user@]host[:port]. Without it the hub starts its own Mosquitto (see --listen).")
@click.option("--listen", default=None, metavar="HOST:PORT",
              help="Where the hub's own Mosquitto listens, e.g. 0.0.0.0:1883 for stations on other machines. "
                   "Recorded in the store: later starts listen there again, and `hub credentials` writes it into "
                   "the station files. Without it (and nothing recorded): a random local port, for a throwaway run.")
@click.option("--broker-password-file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="File holding the broker password (first line); or set SCANHUB_BROKER_PASSWORD. "
                   "Keeps the secret off the command line, where /proc/PID/cmdline shows it.")
@click.option("--credentials", "cred_dir", type=click.Path(file_okay=False), default=None,
              help="With the managed broker: enforce the passwd/acl files from `scanhub hub credentials` in this folder.")
@click.option("--shared", is_flag=True, help="Share the ingest with other hub workers (MQTT v5 shared subscription).")
@click.option("--tls-ca", type=click.Path(dir_okay=False, exists=True), default=None,
              help="CA certificate to verify an mqtts:// broker with (default: the system's CAs).")
@click.option("--derive", type=click.Choice(["background", "inline"]), default="background", show_default=True,
              help="background: acknowledge scans as soon as they are committed and derive parcels, monitoring "
                   "facts and fees in a second process (seconds behind); inline: derive inside each ingest "
                   "transaction.")
@click.option("--heartbeat", "heartbeat_s", type=click.FloatRange(min=0), default=60.0, show_default=True,
              metavar="SECONDS",
              help="Seconds between heartbeat lines (batches, scans, stations online, derivation backlog); 0: none.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: one JSON object per line on stderr, for a service manager or log shipper.")
@click.option("--metrics", "metrics_at", default=setting("metrics"), metavar="HOST:PORT",
              show_default="SCANHUB_METRICS, else metrics in scanhub.toml, else none",
              help="Serve Prometheus metrics over HTTP at http://HOST:PORT/metrics (scans, acks, batch latency, "
                   "derivation lag, stations, outbox depths, broker connection; docs/operations.md), "
                   "e.g. 127.0.0.1:9464.")
@click.option("-v", "--verbose", is_flag=True, help="Log INFO too: broker connections, stations going on- and offline.")
def run(db, broker, listen, broker_password_file, cred_dir, shared, tls_ca, derive, heartbeat_s, log_format,
        metrics_at, verbose):
    """Run the hub: ingest scans, acknowledge them, publish station configurations.

    \b
    Examples:
      scanhub hub run --listen 0.0.0.0:1883 --credentials creds/
      scanhub hub run --broker mqtts://scanhub-hub@broker.example.com:8883 --metrics 127.0.0.1:9464
    """
    from contract.version import SOFTWARE_VERSION
    from hub.cli import logs
    from hub.ingest.health import heartbeat, heartbeat_line
    from hub.ingest.service import HubService
    from hub.network import listen as lsn
    from hub.network.broker import BrokerError, ManagedBroker, PortInUse
    logs.setup(verbose, log_format)
    out = logs.Reporter(log_format)
    from hub.errors import HubError
    try:
        open_store(db)
    except HubError as e:
        out.fail(str(e))
    metrics_addr = None
    if metrics_at:
        try:
            metrics_addr = lsn.parse_listen(metrics_at)
        except lsn.ListenError:
            out.fail(f"--metrics {metrics_at!r}: give HOST:PORT, e.g. 127.0.0.1:9464 (this machine) "
                     "or 0.0.0.0:9464 (every interface; port 0: a random one)")
    managed = None
    user = password = None
    if broker is not None:
        if listen is not None:
            out.fail("--listen is for the hub's own broker; with --broker the broker listens "
                     "where its own configuration says")
        url = BrokerURL.parse(broker)
        user = url.username
        password = os.environ.get("SCANHUB_BROKER_PASSWORD") or url.password
        if broker_password_file:
            with open(broker_password_file, encoding="utf-8") as f:
                password = f.readline().strip()
    if broker is None:
        pw_file = acl = None
        if cred_dir:
            pw_file, acl = os.path.join(cred_dir, "passwd"), os.path.join(cred_dir, "acl")
            for p in (pw_file, acl):
                if not os.path.exists(p):
                    out.fail(f"{p} missing: run `scanhub hub credentials --out {cred_dir}` first")
            import yaml
            from hub.network.credentials import HUB_USER
            with open(os.path.join(cred_dir, "secrets.yaml")) as f:
                user, password = HUB_USER, yaml.safe_load(f)[HUB_USER]
        try:
            address = lsn.parse_listen(listen) if listen is not None else lsn.recorded_listen()
        except lsn.ListenError as e:
            out.fail(str(e))
        host, port = address if address else ("127.0.0.1", 0)
        try:
            managed = ManagedBroker(port=port or None, host=host, password_file=pw_file, acl_file=acl).start()
        except PortInUse as e:
            out.fail(f"{e}. Give the hub's broker another address with --listen HOST:PORT"
                     + (" (the store records the last --listen; this one came from there)" if listen is None else "")
                     + f", or use the broker already there with --broker mqtt://HOST:{e.port}")
        except BrokerError as e:
            out.fail(str(e))
        broker = managed.url
        if port:
            lsn.record_listen(host, port)
            warn = lsn.mismatch((host, port))
            if warn:
                out.warn(warn)
        else:
            out.note(f"the broker listens on a random local port ({managed.port}), a new one at every start: "
                     "a throwaway run. For stations on other machines start it with --listen 0.0.0.0:1883 "
                     "(kept in the store for later starts and for `hub credentials`)")
    url = BrokerURL.parse(broker)          # printed without its password
    where = f" listening on {lsn.format_listen(managed.host or '0.0.0.0', managed.port)}" if managed else ""
    out.say(f"broker: {url}" + (f" (managed by this hub,{where})" if managed else "") + (f" as {user}" if user else ""),
            broker=str(url), managed=bool(managed))
    remote = url.host not in ("127.0.0.1", "localhost", "::1") or (managed and managed.host != "127.0.0.1")
    if not user and remote:
        out.warn("this broker takes no credentials from the hub: stations on other machines "
                 "can then be sent forged acknowledgements; give every station its own password "
                 "(`scanhub hub credentials`, docs/operations.md)")
    svc = HubService(db, broker, username=user, password=password, shared=shared,
                     tls={"ca": tls_ca} if tls_ca else None, derive=derive).start()
    if not svc.wait_connected(15):
        svc.stop()
        if managed:
            managed.stop()
        out.fail(f"cannot connect to the broker at {url}")
    metrics = None
    if metrics_addr is not None:
        from hub.ingest.metrics import MetricsError, MetricsServer
        try:
            metrics = MetricsServer(svc, *metrics_addr).start()
        except MetricsError as e:
            svc.stop()
            if managed:
                managed.stop()
            out.fail(str(e))
        out.say(f"metrics: {metrics.url}", metrics=metrics.url)
    out.say(f"hub running on {db} (scanhub {SOFTWARE_VERSION}); Ctrl-C to stop", version=SOFTWARE_VERSION)
    if svc.derivation is not None:
        out.say(f"derivation: background process {svc.derivation.proc.pid}")
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    beat_log = logging.getLogger(logs.HEARTBEAT_LOGGER)
    beat, next_beat = None, time.monotonic() + heartbeat_s
    try:
        while not done.wait(1.0 if not heartbeat_s else min(1.0, heartbeat_s)) and svc.healthy:
            if heartbeat_s and time.monotonic() >= next_beat:
                beat = heartbeat(svc, beat)
                beat_log.info(heartbeat_line(beat, heartbeat_s), extra=dict(beat, event="heartbeat"))
                next_beat = max(next_beat + heartbeat_s, time.monotonic())     # steady, never a burst
    except KeyboardInterrupt:
        pass
    if metrics is not None:
        metrics.stop()
    svc.stop()
    if managed:
        managed.stop()
    if not svc.healthy:       # a supervisor (systemd Restart=on-failure) starts a fresh hub
        out.fail(f"the ingest worker died ({svc.worker_error}); exiting so the hub is restarted")
    out.say(f"stopped: {svc.stats['scans']} scans committed in {svc.stats['batches']} batches",
            scans=svc.stats["scans"], batches=svc.stats["batches"])


@hub.command()
@db_option
@click.option("--stale-after", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="Call a station stale when the hub has not heard from it for this long "
                   "(default: 30 s, six missed status reports).")
@click.option("--max-lag", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="Exit with status 1 when the oldest scan not yet in derived state waits longer than this "
                   "(for a monitoring script).")
@format_option
def status(db, stale_after, max_lag, fmt):
    """The hub at a glance, from its store: scans committed, dead letters, stations online /
    stale / offline and what their outboxes hold, the derivation lag (how far parcels,
    monitoring facts and fees are behind the committed scans), and the scan chain's breaks found
    on ingest (`scanhub hub gaps` says where).

    \b
    Examples:
      scanhub hub status
      scanhub hub status --json
      scanhub hub status --max-lag 300 || echo "derived state is more than 5 min behind"
    """
    open_store(db)
    from contract.protocol import STALE_AFTER_S
    from hub.ingest.health import store_status
    from hub.scans.lag import lag_text
    st = store_status(stale_after_s=STALE_AFTER_S if stale_after is None else stale_after)
    if fmt == "json":
        echo_json(st)
    else:
        lag, s = st["derivation_lag"], st["stations"]
        emit([{"figure": "scans committed", "value": st["scans"]},
              {"figure": "dead letters", "value": st["dead_letters"]},
              {"figure": "stations", "value": f"{s['total']}: {s['online']} online, {s['stale']} stale, "
                                              f"{s['offline']} offline, {s['never']} never heard"},
              {"figure": "scans in station outboxes", "value": st["outbox_scans"]},
              {"figure": "derivation", "value": lag_text(lag)},
              {"figure": "scan chain", "value": _chain_text(st["chain"])}], fmt, "hub status", totals=False)
    lag = st["derivation_lag"]
    if max_lag is not None and lag["age_s"] is not None and lag["age_s"] > max_lag:
        click.echo(f"derivation lag {lag['age_s']:.1f} s is over --max-lag {max_lag:g} s", err=True)
        raise SystemExit(1)


def _chain_text(counts: dict) -> str:
    breaks = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n and kind != "pending")
    return (f"breaks: {breaks}" if breaks else "no breaks") + f"; {counts.get('pending', 0)} scans wait for their predecessor"


@hub.command()
@db_option
@click.option("--stale-after", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="Call a station stale when the hub has not heard from it for this long "
                   "(default: 30 s, six missed status reports).")
@format_option
@utc_option
def stations(db, stale_after, fmt):
    """Stations: online, stale or offline; when last heard; software version, outbox depth, last
    acknowledgement, config version, clock offset.

    \b
    online   it says so, and the hub heard from it within the stale limit
    stale    it says online, but has not been heard from for longer (gone without a last will)
    offline  it stopped, or the broker published its last will (its connection dropped)
    never    in the network file, never heard from

    "not derived" (JSON: underived_scans) counts the station's committed scans whose parcels,
    monitoring facts and fees the background derivation has not caught up with yet; the last
    line gives the whole derivation lag (`scanhub hub status` too).

    Times print in the network's zone (--utc: UTC); JSON has them as UTC ISO text (last_heard,
    last_ack) and epoch milliseconds (last_heard_ms)."""
    open_store(db)
    from contract.protocol import STALE_AFTER_S
    from hub.network.stations import station_states
    from hub.scans.lag import derivation_lag, lag_text, underived_by_station
    rows = station_states(stale_after_s=STALE_AFTER_S if stale_after is None else stale_after)
    behind = underived_by_station()
    for r in rows:
        r["underived_scans"] = behind.get(r["station"], 0)
    if fmt == "json":
        emit(rows, fmt, "stations")
        return
    shown = [{"station": r["station"], "site": r["site"], "state": r["state"],
              "last heard": "never" if r["last_heard"] is None else _ago(r["heard_s_ago"]),
              "software": r["software_version"], "outbox": r["outbox_depth"], "last_ack": r["last_ack"],
              "not derived": r["underived_scans"],
              "config": r["config_version"], "clock offset ms": r["clock_offset_ms"]} for r in rows]
    emit(shown, fmt, "stations", totals=False)
    if fmt == "table":
        click.echo(f"derivation: {lag_text(derivation_lag())}")


def _ago(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 172800:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


@hub.command()
@db_option
@click.option("--station", default=None, help="Only this station.")
@click.option("--recheck", is_flag=True,
              help="Recompute the scan chain's verdicts from every scan held and list where the stored ones "
                   "differ (exit status 1 when they do).")
@click.option("--repair", is_flag=True, help="With --recheck: store the recomputed verdicts.")
@format_option
def gaps(db, station, recheck, repair, fmt):
    """Missing sequence ranges, audited deletions and breaks of the scan chain per station.

    The hub verifies each station's scan chain as its scans commit and keeps the verdicts:
    `breaks` names each kind (altered, missing, renumbered, reordered, replayed) with its seqs,
    `altered` lists them all; `unverified` are chained scans whose predecessor has not arrived.
    An epoch from a station on older software shows `chained` false (docs/protocol.md, "The scan
    chain").  --recheck recomputes the verdicts from the scans themselves (a consistency check;
    --repair stores them, e.g. for scans committed before the hub checked on ingest).

    \b
    Examples:
      scanhub hub gaps
      scanhub hub gaps --station st-100-1 --json
      scanhub hub gaps --recheck || echo "stored chain verdicts differ"
      scanhub hub gaps --recheck --repair
    """
    open_store(db)
    if repair and not recheck:
        raise click.UsageError("--repair goes with --recheck")
    if recheck:
        from hub.scans.gaps import recheck as do_recheck
        diffs = do_recheck(station, repair=repair)
        if fmt == "json":
            echo_json({"differences": diffs, "repaired": repair and bool(diffs)})
        elif not diffs:
            click.echo("the stored scan chain verdicts agree with the scans")
        else:
            emit(diffs, fmt, "scan chain verdicts: stored and recomputed differ", totals=False)
            click.echo("stored verdicts replaced by the recomputed ones" if repair else
                       "run `scanhub hub gaps --recheck --repair` to store the recomputed verdicts", err=True)
        if diffs and not repair:
            raise SystemExit(1)
        return
    from hub.scans.gaps import gaps as compute
    rows = compute(station)
    if fmt == "json":
        echo_json(rows)
        return
    def ranges(r, key="missing"):
        text = ", ".join(f"{lo}" if lo == hi else f"{lo}-{hi}" for lo, hi in r[key][:10])
        return text + (" …" if len(r[key]) > 10 else "")
    emit([{"station": r["station"], "epoch": r["epoch"], "max_seq": r["max_seq"], "scans": r["scans"],
           "missing_count": r["missing_count"], "ranges": ranges(r), "deleted": r["deleted"],
           "deleted_unuploaded": r["deleted_unuploaded"], "conflicts": r["conflicts"],
           "chained": r["chained"], "altered": ranges(r, "altered"),
           "breaks": "; ".join(f"{kind} {ranges(r['breaks'], kind)}" for kind in r["breaks"]),
           "unverified": ranges(r, "unverified")} for r in rows],
         fmt, "sequence gaps")


@hub.command("dead-letters")
@db_option
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1), help="At most this many.")
@format_option
@utc_option
def dead_letters(db, limit, fmt):
    """Payloads the hub could not use, with the reason (newest first)."""
    open_store(db)
    from hub.scans.dead_letters import recent
    rows = recent(limit)
    emit(rows, fmt, "dead letters", columns=None if fmt == "json" else
         ["id", "received_ms", "station", "reason", "payload"])


@hub.command()
@db_option
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for passwd, acl, secrets.yaml and stations/<id>.yaml.")
@click.option("--broker", default=None,
              help="Broker URL written into the station files (recorded for the next time). Default: the one "
                   "written last time, else where `hub run --listen` listens.")
@click.option("--rotate", is_flag=True, help="Generate new passwords for everyone.")
@click.option("--hub-workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Broker users for this many hub workers (scanhub-hub, scanhub-hub-2, …): one each.")
@json_option
def credentials(db, out_dir, broker, rotate, hub_workers, fmt):
    """Per-station broker passwords and a Mosquitto ACL (a station may only use its own topics).

    \b
    Use the files with Mosquitto:  password_file OUT/passwd   acl_file OUT/acl
    or let the managed broker use them:  scanhub hub run --credentials OUT
    """
    open_store(db)
    from hub.network import tables as net
    from hub.network.credentials import CredentialsError, generate
    from hub.network.listen import remember, station_broker_url
    stations = [{"id": s.id, "site": s.site} for s in net.Station.select().order_by(net.Station.id)]
    if not stations:
        raise click.ClickException("no stations in the store: list them under `stations:` in the network file")
    url, source = station_broker_url(broker)
    try:
        generate(stations, out_dir, url, rotate, hub_workers)
    except CredentialsError as e:
        raise click.ClickException(str(e))
    remember(url)              # the next run writes the same (and `hub run` warns if it moves away)
    if BrokerURL.parse(url).host in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: {url} is this machine only: a station elsewhere cannot reach it; "
                   "give --broker mqtt://HUB-HOST:PORT", err=True)
    done({"stations": len(stations), "out": out_dir, "rotated": rotate, "broker": url, "broker_from": source},
         f"{len(stations)} station credentials, passwd and acl written to {out_dir}\n"
         f"station files point at {url} (from {source})", fmt)


@hub.command("bridge-config")
@click.option("--name", required=True, help="The region's name (letters, digits, - and _), e.g. east.")
@click.option("--central", required=True, metavar="URL",
              help="The central broker the hub uses, as the region's bridge reaches it: mqtt[s]://user@host:port.")
@click.option("--password-file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="File holding the bridge user's password (first line), written into the stanza.")
@click.option("--ca", type=click.Path(dir_okay=False), default=None,
              help="CA certificate to verify an mqtts:// central broker with (default: the system's CAs).")
def bridge_config(name, central, password_file, ca):
    """Print the Mosquitto bridge stanza for a regional broker: stations connect to the region,
    which relays exactly the station topics to and from the central broker (docs/deployment.md,
    "A national network").

    \b
    Examples:
      scanhub hub bridge-config --name east --central mqtts://bridge-east@central.example:8883 \\
          --password-file /etc/scanhub/bridge-east.password >> /etc/mosquitto/conf.d/scanhub.conf
    """
    from urllib.parse import quote
    from hub.network.broker import Bridge
    if password_file:
        url = BrokerURL.parse(central)
        if not url.username:
            raise click.UsageError("--password-file needs a user in --central (mqtts://USER@host:port)")
        with open(password_file, encoding="utf-8") as f:
            secret = f.readline().strip()
        central = (f"{'mqtts' if url.tls else 'mqtt'}://{quote(url.username, safe='')}:{quote(secret, safe='')}@"
                   f"{url.host}:{url.port}")
    click.echo("\n".join(Bridge(name, central, ca=ca).config_lines()))


# the hub group's commands that live in modules of their own
hub.add_command(backup_command, "backup")
hub.add_command(restore_command, "restore")


@hub.command()
@db_option
@click.option("--site", required=True, help="Site code.")
@click.option("--station", default=None, help="Station id written into the slice.")
def config(db, site, station):
    """Print the configuration slice the hub publishes for SITE (JSON)."""
    open_store(db)
    from hub.network.station_config import site_slice
    try:
        click.echo(json.dumps(site_slice(site, station), ensure_ascii=False, indent=2))
    except KeyError as e:
        raise click.ClickException(str(e.args[0]))


@click.command()
@click.argument("waybill")
@db_option
@format_option
@utc_option
def track(waybill, db, fmt):
    """A parcel's whole history and current status, ordered by corrected event time.

    Times print in the network's zone, labelled (--utc: UTC).  JSON: one object with waybill,
    status and events (each with time as UTC ISO text and event_ms).

    \b
    Examples:
      scanhub track 70000000000016
      scanhub track 70000000000016 --json
      scanhub track 70000000000016 --utc --format csv
    """
    open_store(db)
    from hub.business.tracking import track as do_track
    t = do_track(waybill)
    as_json = fmt == "json"
    if t is None:
        if as_json:
            echo_json({"waybill": waybill, "status": "unknown", "events": []})
            raise SystemExit(1)
        raise click.ClickException(f"waybill {waybill} has no scans at the hub and was never entered")
    if as_json:
        echo_json(t)
        return
    if fmt == "table":
        click.echo(f"{waybill}: {t['status']} at {t['site']}" + (f" -> {t['next_site']}" if t["kind"] == "dispatch" else ""))
        for p in t.get("proofs", []):
            state = "complete" if p["complete"] else f"arriving, {p['have']} of {p['size']} bytes"
            click.echo(f"proof of delivery: {p['type']} {p['sha256'][:12]}… from {p['station']} ({state}): "
                       f"scanhub pod {waybill}")
        if t.get("entered"):
            from hub.cli.waybill import entry_line
            click.echo(entry_line(t["entered"]))
    def detail(e):
        out = [f"{k}={e[k]}" for k in ("next_site", "prev_site", "courier", "weight_g", "shift", "signer", "sign_type",
                                       "reason", "bag", "seal") if k in e]
        if e.get("resolution"):
            r = e["resolution"]
            out.append(f"resolved: {r['action']} by {r['handled_by']} ({r['how']})")
        return ", ".join(out)

    def tag(e):
        return " (deleted)" if e.get("deleted") else " (from bag)" if e.get("inferred_from") else ""
    emit([{"time_ms": e["event_ms"], "kind": e["kind"] + tag(e), "site": e["site"],
           "operator": e["operator"], "details": detail(e), "clock": e["clock"]} for e in t["events"]],
         fmt, f"history of {waybill}")
