"""``scanhub report``: scan details, monthly summaries, signed parcels, sign rates, fees."""
from __future__ import annotations

import click

from contract.scan import KINDS
from hub.cli.common import (db_option, echo_json, emit, format_option, parse_when, utc_option, window_text,
                            with_store)

WINDOW_HELP = "YYYY-MM-DD, YYYY-MM-DDTHH:MM (network zone; UTC with --utc) or epoch ms."


@click.group("report")
def report():
    """Scan details, monthly lists, signed/unsigned details, sign rate, fees.

    \b
    --format table (terminal), csv, json, html or pdf (printable: a header with network,
    report, window, printed-at time and zone, page numbers, totals, and a chart for
    sign-rate and fee-totals).  --json is the same as --format json.
    Examples:
      scanhub report sign-rate --since 2024-06-01 --until 2024-07-01 --format html > rate.html
      scanhub report fee-totals --month 2024-06 --format pdf > fees.pdf
      scanhub report scans --site 100 --kind receive --format csv
    """


@report.command("scans")
@click.option("--site", required=True, help="Site code.")
@click.option("--kind", required=True, type=click.Choice(KINDS), help="Scan kind.")
@click.option("--since", help="Window start (inclusive): " + WINDOW_HELP)
@click.option("--until", help="Window end (exclusive).")
@format_option
@utc_option
@db_option
@with_store
def report_scans(site, kind, since, until, fmt):
    """Scan details of one kind at SITE, with the group (courier / next stop / previous stop)."""
    from hub.business import reports
    since_ms, until_ms = parse_when(since), parse_when(until)
    rows = reports.scan_details(site, kind, since_ms, until_ms)
    emit(rows, fmt, f"{kind} scans at {site}", columns=None if fmt == "json" else
         ["waybill", "at", "group", "shift", "weight_g"], window=window_text(since_ms, until_ms))


@report.command("monthly")
@click.option("--site", required=True, help="Site code.")
@click.option("--kind", required=True, type=click.Choice(["receive", "dispatch", "arrive", "deliver"]),
              help="Scan kind.")
@click.option("--month", required=True, help="YYYY-MM (network zone).")
@format_option
@utc_option
@db_option
@with_store
def report_monthly(site, kind, month, fmt):
    """Monthly list of one kind at SITE grouped by receiving courier, next stop, previous stop or
    delivery courier."""
    from hub.business import reports
    a, b = reports.month_window(month)
    emit(reports.monthly(site, kind, month), fmt, f"{kind} {month} at {site}", window=window_text(a, b))


@report.command("signed")
@click.option("--site", required=True, help="Site code.")
@click.option("--side", type=click.Choice(["received", "delivered"]), default="delivered", show_default=True,
              help="The parcels SITE received (sender side) or delivered.")
@click.option("--since", help="Window start (inclusive): " + WINDOW_HELP)
@click.option("--until", help="Window end (exclusive).")
@click.option("--unsigned", "only", flag_value="unsigned", help="Only unsigned parcels.")
@click.option("--signed", "only", flag_value="signed", help="Only signed parcels.")
@format_option
@utc_option
@db_option
@with_store
def report_signed(site, side, since, until, only, fmt):
    """Signed/unsigned details of the parcels SITE received or delivered, with current status."""
    from hub.business import reports
    signed = None if only is None else only == "signed"
    since_ms, until_ms = parse_when(since), parse_when(until)
    rows = reports.signed_details(site, side, since_ms, until_ms, signed)
    emit(rows, fmt, f"{side} parcels of {site}", window=window_text(since_ms, until_ms))


def sign_rate_chart(rows: list[dict], period: str):
    """Sign rate per site over the periods (a line per site)."""
    from hub.cli.charts import Chart
    series: dict[str, list] = {}
    for r in rows:
        if r.get("sign_rate") is not None:
            series.setdefault(r["site"] or "(none)", []).append((r["period"], r["sign_rate"]))
    return Chart("line", f"sign rate per site and {period}", series, xlabel=period, ylabel="signed", percent=True,
                 legend="site")


@report.command("sign-rate")
@click.option("--site", help="One site (default: all).")
@click.option("--side", type=click.Choice(["receiver", "sender"]), default="receiver", show_default=True,
              help="Rate the receiving sites or the sending sites.")
@click.option("--period", type=click.Choice(["day", "month"]), default="day", show_default=True,
              help="One row per site and day, or per site and month.")
@click.option("--since", help="Window start (inclusive): " + WINDOW_HELP)
@click.option("--until", help="Window end (exclusive).")
@click.option("--as-of", help="Judge unsigned parcels as of this time (default: now).")
@click.option("--details", is_flag=True, help="One row per parcel instead of rates.")
@format_option
@utc_option
@db_option
@with_store
def report_sign_rate(site, side, period, since, until, as_of, details, fmt):
    """On-time vs overtime signs against the centers' deadlines, per site and day or month.

    Rates print as percentages (JSON keeps ratios 0..1: on_time_rate, sign_rate); the
    printable forms chart the sign rate per site."""
    from hub.business import sign_rate
    from hub.business.localtime import display_offset
    since_ms, until_ms = parse_when(since), parse_when(until)
    rows = sign_rate.records(site, side, since_ms, until_ms, parse_when(as_of))
    out = rows if details else sign_rate.rates(rows, side, period, tz_offset_min=display_offset())
    chart = None if details else sign_rate_chart(out, period)
    overall = None
    if not details:
        parcels = sum(r["parcels"] for r in out)
        due = sum(r["on_time"] + r["overtime"] + r["overdue"] for r in out)
        on_time, signed = sum(r["on_time"] for r in out), sum(r["signed"] for r in out)
        overall = {"on_time_rate": f"{on_time / due * 100:.2f}%" if due else "",
                   "sign_rate": f"{signed / parcels * 100:.2f}%" if parcels else ""}
    emit(out, fmt, f"sign rate ({side} side, per {period})", window=window_text(since_ms, until_ms), chart=chart,
         more_totals=overall)


@report.command("fee-totals")
@click.option("--site", help="Only fees one of whose accounts is this site's.")
@click.option("--since", help="Window start (inclusive), the time of the scan behind each fee: " + WINDOW_HELP)
@click.option("--until", help="Window end (exclusive).")
@click.option("--month", help="YYYY-MM: the window is that month (instead of --since/--until).")
@format_option
@utc_option
@db_option
@with_store
def report_fee_totals(site, since, until, month, fmt):
    """Fees in force, per type (transit, courier, delivery, freight, COD handling…): how many
    and how much.  The printable forms chart the totals by type."""
    from hub.business import reports
    from hub.cli.charts import Chart
    if month and (since or until):
        raise click.UsageError("give --month or --since/--until, not both")
    if month:
        since_ms, until_ms = reports.month_window(month)
    else:
        since_ms, until_ms = parse_when(since), parse_when(until)
    rows = reports.fee_totals(since_ms, until_ms, site)
    chart = Chart("bar", "fee totals by type (yuan)", {"yuan": [(r["type"], r["amount_cents"] / 100) for r in rows]},
                  ylabel="yuan")
    emit(rows, fmt, "fee totals by type" + (f", site {site}" if site else ""),
         window=window_text(since_ms, until_ms), chart=chart)


@report.command("fees")
@click.argument("waybill")
@format_option
@utc_option
@db_option
@with_store
def report_fees(waybill, fmt):
    """The fees currently booked for WAYBILL (JSON: source, purpose and lines per fee)."""
    from hub.business import fees
    rows = fees.waybill_fees(waybill)
    if fmt == "json":
        echo_json(rows)
        return
    flat = [{"fee": r["source"], "account": a, "amount_cents": c} for r in rows for a, c in r["lines"].items()]
    emit(flat, fmt, f"fees of {waybill}", totals=False)      # each fee's lines add up to zero


@report.command("settlement")
@click.option("--by", type=click.Choice(["site", "center", "network"]), default="site", show_default=True,
              help="One row per site, per opening center (its sites together), or for the whole network.")
@click.option("--period", type=click.Choice(["day", "month", "all"]), default="all", show_default=True,
              help="Split the window into days or months (network zone).")
@click.option("--site", help="Only this site.")
@click.option("--center", help="Only the sites of this opening center.")
@click.option("--since", help="Window start (inclusive), the time of the scan behind each fee: " + WINDOW_HELP)
@click.option("--until", help="Window end (exclusive).")
@click.option("--month", help="YYYY-MM: the window is that month (instead of --since/--until).")
@format_option
@utc_option
@db_option
@with_store
def report_settlement(by, period, site, center, since, until, month, fmt):
    """Settlement statistics: what each site (or opening center, or the network) was paid (+)
    and charged (-) per fee type: transit, courier, delivery, freight collect, COD, handling,
    surcharge, insurance, return; with the net and the number of fees.

    \b
    Examples:
      scanhub report settlement --month 2026-12
      scanhub report settlement --by center --period day --since 2026-12-01 --format pdf > settle.pdf
      scanhub report settlement --site 100 --json
    """
    from hub.business import reports
    from hub.business.settlement import TYPES, statistics
    if month and (since or until):
        raise click.UsageError("give --month or --since/--until, not both")
    if month:
        since_ms, until_ms = reports.month_window(month)
    else:
        since_ms, until_ms = parse_when(since), parse_when(until)
    rows = statistics(since_ms, until_ms, by=by, period=period, site=site, center=center)
    title = f"settlement by {by}" + (f", site {site}" if site else "") + (f", center {center}" if center else "")
    emit(rows, fmt, title, window=window_text(since_ms, until_ms),
         columns=None if fmt == "json" else ["period", "group"] + [f"{t}_cents" for t in TYPES] + ["net_cents", "fees"])
