"""``scanhub monitor``: the eight monitoring diffs of a site and window (docs/hub-business.md, "Monitoring diffs")."""
from __future__ import annotations

import click

from hub.cli.common import db_option, echo_json, emit, output_option, parse_when, utc_option, window_text, with_store


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
  bags-not-opened          bags built at the site and never opened (window: build time)
  bag-missing-at-opening   parcels built into a bag, not found when it was opened at the site
  bag-not-built-in         parcels opened at the site from a bag they were never built into
  rebuild                  recompute every scan fact from the scans (after a bulk load)

\b
Times: YYYY-MM-DD, YYYY-MM-DDTHH:MM (the network's zone; UTC with --utc) or epoch ms.
Printed times carry their zone.  The printable forms (--format html, pdf) chart the counts
per site and day.
Examples:
  scanhub monitor not-arrived --site 200 --since 2024-06-01
  scanhub monitor delivered-unsigned --all-sites --format pdf > unsigned.pdf
"""


def _day(row: dict) -> str | None:
    from hub.business.localtime import format_ms
    for k, v in row.items():
        if k.endswith("_ms") and isinstance(v, int):
            return format_ms(v)[:10]
    return None


def counts_chart(rows: list[dict], report_name: str):
    """Rows per site and day (the day of each row's first time column)."""
    from hub.cli.charts import Chart
    counts: dict[str, dict[str, int]] = {}
    for r in rows:
        day = _day(r)
        if day is None:
            continue
        per = counts.setdefault(str(r.get("site") or "(none)"), {})
        per[day] = per.get(day, 0) + 1
    series = {site: sorted(days.items()) for site, days in sorted(counts.items())}
    return Chart("bar", f"{report_name}: parcels per site and day", series, xlabel="day", ylabel="parcels",
                 legend="site")


@click.command("monitor", help=MONITOR_HELP)
@click.argument("report_name", metavar="REPORT")
@click.option("--site", help="Site code (required unless --all-sites).")
@click.option("--all-sites", is_flag=True, help="Every site at once.")
@click.option("--since", help="Window start (inclusive).")
@click.option("--until", help="Window end (exclusive).")
@click.option("--as-of", help="Judge overdue parcels as of this time (default: now).")
@click.option("--grace-min", type=click.IntRange(0), default=120, show_default=True,
              help="Grace after the expected arrival (dispatched-not-arrived).")
@output_option(aliases=("csv", "html"))
@utc_option
@db_option
@with_store
def monitor(report_name, site, all_sites, since, until, as_of, grace_min, fmt):
    from hub.business import facts, fees, monitoring
    if report_name == "rebuild":
        n = facts.rebuild_all()
        fees.reprice()
        if fmt == "json":
            echo_json({"waybills": n})
        else:
            click.echo(f"rebuilt facts of {n} waybill(s)")
        return
    if report_name not in monitoring.REPORTS + monitoring.BAG_REPORTS:
        raise click.UsageError(f"unknown report {report_name!r}; one of: "
                               f"{', '.join(monitoring.REPORTS + monitoring.BAG_REPORTS)}, rebuild")
    if not site and not all_sites:
        raise click.UsageError("--site is required (or --all-sites)")
    since_ms, until_ms = parse_when(since), parse_when(until)
    rows = monitoring.report(report_name, None if all_sites else site, since_ms, until_ms,
                             as_of_ms=parse_when(as_of), grace_min=grace_min)
    emit(rows, fmt, f"{report_name} — site {site or 'all'}", window=window_text(since_ms, until_ms),
         chart=counts_chart(rows, report_name) if fmt in ("html", "pdf") else None)
