"""``scanhub monitor``: the eight monitoring diffs of a site and window (docs/hub-business.md, "Monitoring diffs")."""
from __future__ import annotations

import json

import click

from hub.cli.common import db_option, emit, fmt_flags, parse_when, with_store


MONITOR_HELP = """Monitoring diffs for a site and time window (docs/hub-business.md, "Monitoring diffs").

\b
REPORT is one of:
  deleted-unuploaded       scans deleted at a station before they were uploaded
  not-arrived              dispatched to the site, no arrival yet (window: dispatch time)
  expected-arrivals        in transit toward the site (window: expected arrival by shift)
  delivered-unsigned       delivered but not signed, or signed without a delivery scan
  arrived-not-dispatched   arrived, never dispatched/delivered from the site
  dispatched-not-arrived   dispatched, not arrived after transit time + grace
  received-not-dispatched  received and not dispatched, or dispatched and never received
  prev-not-dispatched      arrived, but the previous stop has no dispatch toward the site
  rebuild                  recompute every scan fact from the scans (after a bulk load)

Times: YYYY-MM-DD, YYYY-MM-DDTHH:MM (network local time) or epoch ms.
"""


@click.command("monitor", help=MONITOR_HELP)
@click.argument("report_name", metavar="REPORT")
@click.option("--site", help="Site code (required unless --all-sites).")
@click.option("--all-sites", is_flag=True, help="Every site at once.")
@click.option("--since", help="Window start (inclusive).")
@click.option("--until", help="Window end (exclusive).")
@click.option("--as-of", help="Judge overdue parcels as of this time (default: now).")
@click.option("--grace-min", type=click.IntRange(0), default=120, show_default=True,
              help="Grace after the expected arrival (dispatched-not-arrived).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@click.option("--html", "as_html", is_flag=True, help="Print a printable HTML document.")
@db_option
@with_store
def monitor(report_name, site, all_sites, since, until, as_of, grace_min, as_json, as_csv, as_html):
    from hub.business import facts, fees, monitoring
    fmt = fmt_flags(as_json, as_csv, as_html)
    if report_name == "rebuild":
        n = facts.rebuild_all()
        fees.reprice()
        click.echo(json.dumps({"waybills": n}) if as_json else f"rebuilt facts of {n} waybill(s)")
        return
    if report_name not in monitoring.REPORTS:
        raise click.UsageError(f"unknown report {report_name!r}; one of: {', '.join(monitoring.REPORTS)}, rebuild")
    if not site and not all_sites:
        raise click.UsageError("--site is required (or --all-sites)")
    rows = monitoring.report(report_name, None if all_sites else site, parse_when(since), parse_when(until),
                             as_of_ms=parse_when(as_of), grace_min=grace_min)
    emit(rows, fmt, f"{report_name} — site {site or 'all'}")
