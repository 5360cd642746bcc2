"""``scanhub print codes`` and ``scanhub print label``: printable control-code sheets and waybill
labels, as PDF or SVG (chosen by the output file's suffix)."""
from __future__ import annotations

import json
import os
import time

import click

from labels import codes as sheet_codes
from labels import render
from labels.codes import LabelError

SOURCE_HELP = ("Read the site's data from this hub store (SQLite path or postgresql://…; "
               "default: SCANHUB_DB, else db in scanhub.toml, else hub.db).")
STATION_HELP = ("Read the configuration this station cached from the hub (its station file, "
                "station.yaml) instead of a hub store: works on a station PC without the hub.")


def _format(out: str) -> str:
    ext = os.path.splitext(out)[1].lower().lstrip(".")
    if ext not in render.FORMATS:
        raise click.ClickException(f"{out}: the output file must end in .pdf or .svg")
    return ext


def _hub_slice(db: str | None, site: str | None) -> dict:
    """The site's configuration slice from the hub store; without a site, the network's data."""
    from hub.cli.common import open_store
    from hub.network import basic_data
    from hub.network import tables as m
    from hub.network.station_config import site_slice
    from hub.settings import value
    from hub.store.meta import get_meta

    open_store(db or value("db"))
    if site is not None:
        try:
            return site_slice(site)
        except KeyError:
            raise click.ClickException(f"unknown site {site} in the hub store") from None
    return {"network": get_meta("network", "network"), "sites": basic_data.sites(),
            "waybill_rules": basic_data.waybill_rules(),
            "issuance": [{"site": r.site, "first": r.first, "last": r.last}
                         for r in m.Issuance.select().order_by(m.Issuance.first)]}


def _station_slice(station_file: str) -> dict:
    from edge.outbox import Outbox
    from edge.station import StationConfig

    cfg = StationConfig.load(station_file)
    if not os.path.exists(cfg.outbox):
        raise click.ClickException(f"{station_file}: no outbox at {cfg.outbox} yet: run the station "
                                   "once while the hub is reachable, or print from the hub (--db)")
    box = Outbox(cfg.outbox, cfg.limits)
    try:
        cached = box.get_meta("config")
    finally:
        box.close()
    if not cached:
        raise click.ClickException(f"station {cfg.station} has no configuration from the hub yet: "
                                   "run it once while the hub is reachable, or print from the hub (--db)")
    return json.loads(cached)


def _load(db, station_file, site) -> dict:
    if db and station_file:
        raise click.ClickException("give either --db or --station, not both")
    if station_file:
        cfg = _station_slice(station_file)
        if site is not None and str(cfg.get("site")) != site:
            raise click.ClickException(f"{station_file} is a station of site {cfg.get('site')}, not {site}")
        return cfg
    return _hub_slice(db, site)


def _today() -> str:
    return time.strftime("%Y-%m-%d", time.localtime())


@click.group("print")
def print_group():
    """Printable sheets of control barcodes for operators, and waybill labels (PDF or SVG, Code 128).

    \b
    Examples:
      scanhub print codes --site 100 --out codes-100.pdf          from the hub's store
      scanhub print codes --station station.yaml --out codes.svg  from a station's cached configuration
      scanhub print codes --site 900 --only kinds,shifts,next-sites
      scanhub print label 70000000000016 --dest 200 --out label.pdf
      scanhub print pickups --site 100 --out pickups-100.pdf       the open pickup tasks
    """


@print_group.command("codes")
@click.option("--site", help="Site code whose sheet to print (required with --db; with --station, "
                             "the station's own site).")
@click.option("--db", help=SOURCE_HELP)
@click.option("--station", "station_file", type=click.Path(dir_okay=False), help=STATION_HELP)
@click.option("--out", type=click.Path(dir_okay=False),
              help="Output file, .pdf or .svg (default codes-SITE.pdf). An SVG of several pages is "
                   "written as OUT-1.svg, OUT-2.svg …")
@click.option("--only", default=",".join(sheet_codes.SECTIONS), show_default=True,
              help="Comma-separated sections to print, in this order: kinds (%K… and %X), operators "
                   "(%P), couriers (%C), shifts (%H, leaving the site), next-sites (%S), "
                   "destinations (%D).")
def codes(site, db, station_file, out, only):
    """Print SITE's control-code sheet: one Code 128 per row with its text under it and its name
    beside it, on A4 pages.

    Every code is the exact text the station accepts (docs/operations.md, control barcodes):
    scanning it sets the gun's kind, operator, courier, shift, next site or destination.

    \b
    Examples:
      scanhub print codes --site 100 --db hub.db --out codes-100.pdf
      scanhub print codes --station /etc/scanhub/station.yaml --out codes.svg
      scanhub print codes --site 100 --only operators,couriers
    """
    if site is None and not station_file:
        raise click.ClickException("name the site (--site SITE), or a station file (--station)")
    cfg = _load(db, station_file, site)
    site = str(cfg.get("site"))
    out = out or f"codes-{site}.pdf"
    fmt = _format(out)
    wanted = tuple(s.strip() for s in only.split(",") if s.strip())
    try:
        sections = sheet_codes.control_sections(cfg, wanted)
        me = {s["code"]: s for s in cfg.get("sites", [])}.get(site, {})
        title = f"Site {site} {me.get('name', '')}".rstrip() + ": control codes"
        subtitle = (f"network {cfg.get('network', '-')}, configuration {cfg.get('version') or '-'}, "
                    f"printed {_today()}")
        doc = render.code_sheet(sections, title, subtitle)
        files = render.write(doc, out, fmt)
    except LabelError as e:
        raise click.ClickException(str(e)) from None
    n = sum(len(s.codes) for s in sections)
    click.echo(f"wrote {', '.join(files)}: {n} codes on {len(doc.pages)} page(s)")


def _pickup_tasks(db, station_file, site) -> tuple[str, list[dict]]:
    """``(site, open tasks)`` from the hub store, or the list a station keeps (``--station``)."""
    if db and station_file:
        raise click.ClickException("give either --db or --station, not both")
    if station_file:
        from contract.errors import PayloadError
        from contract.pickup import parse_task_list
        from edge.outbox import Outbox
        from edge.station import StationConfig
        cfg = StationConfig.load(station_file)
        if site is not None and cfg.site != site:
            raise click.ClickException(f"{station_file} is a station of site {cfg.site}, not {site}")
        if not os.path.exists(cfg.outbox):
            raise click.ClickException(f"{station_file}: no outbox at {cfg.outbox} yet: run the station first")
        box = Outbox(cfg.outbox, cfg.limits)
        try:
            raw = box.get_meta("pickup")
        finally:
            box.close()
        try:
            return cfg.site, parse_task_list(raw, cfg.site)["tasks"] if raw else []
        except PayloadError as e:
            raise click.ClickException(f"station {cfg.station}'s pickup list does not read: {e}") from None
    if site is None:
        raise click.ClickException("name the site (--site SITE), or a station file (--station)")
    from hub.business.pickup import site_tasks
    from hub.cli.common import open_store
    from hub.network import tables as m
    from hub.settings import value
    open_store(db or value("db"))
    if m.Site.get_or_none(m.Site.code == site) is None:
        raise click.ClickException(f"unknown site {site} in the hub store")
    return site, site_tasks(site)


@print_group.command("pickups")
@click.option("--site", help="Site whose open pickup tasks to print (required with --db).")
@click.option("--db", help=SOURCE_HELP)
@click.option("--station", "station_file", type=click.Path(dir_okay=False),
              help="Print the task list this station keeps (its station file) instead: works offline.")
@click.option("--out", type=click.Path(dir_okay=False), help="Output file, .pdf or .svg (default pickups-SITE.pdf).")
def pickups(site, db, station_file, out):
    """Print SITE's open pickup tasks: one %U<code> Code 128 per task, with its window, parcels
    and address, for the couriers to take along (docs/station.md, "Pickup tasks").

    \b
    Examples:
      scanhub print pickups --site 100 --db hub.db --out pickups-100.pdf
      scanhub print pickups --station /etc/scanhub/station.yaml
    """
    from edge.console import window_text
    site, tasks = _pickup_tasks(db, station_file, site)
    if not tasks:
        raise click.ClickException(f"no open pickup tasks at site {site}: nothing to print")
    out = out or f"pickups-{site}.pdf"
    fmt = _format(out)
    try:
        sec = sheet_codes.pickup_section(tasks, window_text)
        doc = render.code_sheet([sec], f"Site {site}: open pickup tasks", f"printed {_today()}")
        files = render.write(doc, out, fmt)
    except LabelError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"wrote {', '.join(files)}: {len(tasks)} task(s) on {len(doc.pages)} page(s)")


def _hub_dest(db: str | None, waybill: str) -> str | None:
    """The destination the hub's scans name for ``waybill`` (the latest that names one)."""
    from hub.scans.tables import ScanEvent

    row = (ScanEvent.select(ScanEvent.dest_site)
           .where((ScanEvent.waybill == waybill) & ScanEvent.dest_site.is_null(False))
           .order_by(ScanEvent.event_ms.desc()).first())
    return row.dest_site if row else None


@print_group.command("label")
@click.argument("waybill")
@click.option("--dest", help="Destination site code (default: the destination the hub's scans of "
                             "WAYBILL name; required with --station).")
@click.option("--db", help=SOURCE_HELP)
@click.option("--station", "station_file", type=click.Path(dir_okay=False), help=STATION_HELP)
@click.option("--date", "day", help="Date printed on the label, YYYY-MM-DD (default today).")
@click.option("--out", type=click.Path(dir_okay=False),
              help="Output file, .pdf or .svg (default label-WAYBILL.pdf).")
def label(waybill, dest, db, station_file, day, out):
    """Print a 100 × 150 mm label for WAYBILL: the number as Code 128, the destination site's code
    (large) and name, the origin site (the one the number was issued to) and the date.

    The number must pass the network's waybill rules (check digit and all).

    \b
    Examples:
      scanhub print label 70000000000016 --dest 200
      scanhub print label 70000000000016 --db hub.db --out label.svg
      scanhub print label 70000000000016 --station station.yaml --dest 200 --date 2026-12-02
    """
    from contract.issuance import IssuanceIndex
    from contract.waybill import WaybillRules

    cfg = _load(db, station_file, None)
    why = WaybillRules(cfg.get("waybill_rules", [])).validate(waybill)
    if why:
        raise click.ClickException(why)
    if day is not None:
        try:
            time.strptime(day, "%Y-%m-%d")
        except ValueError:
            raise click.ClickException(f"--date must be YYYY-MM-DD, not {day!r}") from None
    sites = {s["code"]: s for s in cfg.get("sites", [])}
    if dest is None and not station_file:
        dest = _hub_dest(db, waybill)
    if dest is None:
        raise click.ClickException(f"no destination known for {waybill}: give --dest SITE")
    if dest not in sites:
        raise click.ClickException(f"unknown destination site {dest}")
    origin = IssuanceIndex.from_config(cfg).site_of(waybill) or ""
    out = out or f"label-{waybill}.pdf"
    fmt = _format(out)
    try:
        doc = render.waybill_label(render.WaybillLabel(
            waybill=waybill, dest=dest, dest_name=sites[dest].get("name", ""), origin=origin,
            origin_name=sites.get(origin, {}).get("name", ""), date=day or _today(),
            network=str(cfg.get("network") or "")))
        files = render.write(doc, out, fmt)
    except LabelError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"wrote {files[0]}: {waybill} to {dest} {sites[dest].get('name', '')}".rstrip())
