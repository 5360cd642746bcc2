"""``scanhub report``: scan details, monthly summaries, signed parcels, sign rates, fees."""
from __future__ import annotations

import json

import click

from contract.scan import KINDS
from hub.cli.render import render
from hub.cli.common import db_option, format_option, human, parse_when, with_store


@click.group("report")
def report():
    """Scan details, monthly lists, signed/unsigned details, sign rate, fees of a parcel.

    --format table (terminal), csv, json, or html (printable, fixed columns).
    """


@report.command("scans")
@click.option("--site", required=True)
@click.option("--kind", required=True, type=click.Choice(KINDS))
@click.option("--since")
@click.option("--until")
@format_option
@db_option
@with_store
def report_scans(site, kind, since, until, fmt):
    """Scan details of one kind at SITE, with the group (courier / next stop / previous stop)."""
    from hub.business import reports
    rows = reports.scan_details(site, kind, parse_when(since), parse_when(until))
    cols = ["waybill", "at", "group", "shift", "weight_g"]
    from hub.cli.render import render
    out = rows if fmt == "json" else [{c: r[c] for c in cols} for r in rows]
    click.echo(render(out, fmt, f"{kind} scans at {site}", None), nl=False)


@report.command("monthly")
@click.option("--site", required=True)
@click.option("--kind", required=True, type=click.Choice(["receive", "dispatch", "arrive", "deliver"]))
@click.option("--month", required=True, help="YYYY-MM")
@format_option
@db_option
@with_store
def report_monthly(site, kind, month, fmt):
    """Monthly list of one kind at SITE grouped by receiving courier, next stop, previous stop or
    delivery courier."""
    from hub.business import reports
    click.echo(render(reports.monthly(site, kind, month), fmt, f"{kind} {month} at {site}"), nl=False)


@report.command("signed")
@click.option("--site", required=True)
@click.option("--side", type=click.Choice(["received", "delivered"]), default="delivered", show_default=True)
@click.option("--since")
@click.option("--until")
@click.option("--unsigned", "only", flag_value="unsigned", help="Only unsigned parcels.")
@click.option("--signed", "only", flag_value="signed", help="Only signed parcels.")
@format_option
@db_option
@with_store
def report_signed(site, side, since, until, only, fmt):
    """Signed/unsigned details of the parcels SITE received or delivered, with current status."""
    from hub.business import reports
    signed = None if only is None else only == "signed"
    rows = reports.signed_details(site, side, parse_when(since), parse_when(until), signed)
    click.echo(render(rows, fmt, f"{side} parcels of {site}"), nl=False)


@report.command("sign-rate")
@click.option("--site", help="One site (default: all).")
@click.option("--side", type=click.Choice(["receiver", "sender"]), default="receiver", show_default=True)
@click.option("--period", type=click.Choice(["day", "month"]), default="day", show_default=True)
@click.option("--since")
@click.option("--until")
@click.option("--as-of", help="Judge unsigned parcels as of this time (default: now).")
@click.option("--details", is_flag=True, help="One row per parcel instead of rates.")
@format_option
@db_option
@with_store
def report_sign_rate(site, side, period, since, until, as_of, details, fmt):
    """On-time vs overtime signs against the centers' deadlines, per site and day or month."""
    from hub.business import sign_rate
    rows = sign_rate.records(site, side, parse_when(since), parse_when(until), parse_when(as_of))
    out = rows if details else sign_rate.rates(rows, side, period)
    if details and fmt != "json":
        out = human(out)
    click.echo(render(out, fmt, f"sign rate ({side} side, per {period})"), nl=False)


@report.command("fees")
@click.argument("waybill")
@click.option("--json", "as_json", is_flag=True)
@db_option
@with_store
def report_fees(waybill, as_json):
    """The fees currently booked for WAYBILL."""
    from hub.business import fees
    rows = fees.waybill_fees(waybill)
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    if not rows:
        click.echo(f"{waybill}: no fees booked")
    for r in rows:
        click.echo(f"{r['source']}: " + ", ".join(f"{a} {c / 100:+.2f}" for a, c in r["lines"].items()))
