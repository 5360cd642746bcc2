"""``scanhub problems``: open problem and hold scans per site with their age, and recording how
each was resolved (docs/hub-business.md, "Problem parcels")."""
from __future__ import annotations

import click

from hub.cli.common import db_option, done, emit, json_option, output_option, parse_when, utc_option, with_store


@click.group("problems")
def problems():
    """Problem and hold scans (reason codes from the network file) and their resolutions.

    \b
    Examples:
      scanhub problems open --site 200
      scanhub problems open --summary
      scanhub problems resolve 70000000000016 --by 2001 --action readdressed --how "called the addressee, new address"
      scanhub problems history 70000000000016 --json
      scanhub problems reasons
    """


@problems.command("open")
@click.option("--site", help="Only this site (default: every site).")
@click.option("--summary", is_flag=True, help="One row per site: open problems and holds, the oldest one's age.")
@click.option("--as-of", help="Ages as of this time (default: now).")
@output_option(aliases=("csv",))
@utc_option
@db_option
@with_store
def problems_open(site, summary, as_of, fmt):
    """Open problem and hold scans, oldest first, with their age in hours.

    A problem stays open until its resolution is recorded (`scanhub problems resolve`).

    \b
    Examples:
      scanhub problems open --site 200
      scanhub problems open --summary --format csv > open-problems.csv
    """
    from hub.business import problems as p
    from hub.business.monitoring import MonitorError
    from hub.network import tables as net
    if site and net.Site.get_or_none(net.Site.code == site) is None:
        raise MonitorError(f"unknown site {site}")
    as_of_ms = parse_when(as_of)
    if summary:
        rows = [r for r in p.summary(as_of_ms) if site is None or r["site"] == site]
        emit(rows, fmt, "open problems per site")
        return
    rows = p.problems(site=site, as_of_ms=as_of_ms)
    emit(rows, fmt, f"open problems — site {site or 'all'}",
         columns=None if fmt == "json" else ["site", "waybill", "kind", "reason", "reason_name", "since_ms",
                                             "age_h", "operator"])


@problems.command("history")
@click.argument("waybill")
@output_option(aliases=("csv",))
@utc_option
@db_option
@with_store
def problems_history(waybill, fmt):
    """Every problem and hold scan of WAYBILL, open or resolved, with who handled it, how and when.

    \b
    Example:
      scanhub problems history 70000000000016
    """
    from hub.business import problems as p
    emit(p.problems(waybill=waybill, include_resolved=True), fmt, f"problems of {waybill}")


@problems.command("resolve")
@click.argument("waybill")
@click.option("--by", "handled_by", required=True, help="Staff code of who handled it.")
@click.option("--how", required=True, help="How it was handled, in words.")
@click.option("--action", default="closed", show_default=True,
              help="One word: redelivered, readdressed, returned, released, compensated, signed, closed.")
@click.option("--scan", "scan_id", help="Only this problem scan (default: every open one of the waybill).")
@click.option("--at", help="When it was handled (default: now).")
@json_option
@utc_option
@db_option
@with_store
def problems_resolve(waybill, handled_by, how, action, scan_id, at, fmt):
    """Record how WAYBILL's open problem (or hold) was handled: visible at every site and in `track`.

    \b
    Example:
      scanhub problems resolve 70000000000016 --by 2001 --action redelivered --how "addressee home after 18:00"
    """
    from hub.business import problems as p
    rows = p.resolve(waybill, handled_by, how, action=action, scan_id=scan_id, resolved_ms=parse_when(at))
    done({"waybill": waybill, "resolved": rows},
         f"resolved {len(rows)} problem scan(s) of {waybill}: {action} by {handled_by}", fmt)


@problems.command("reasons")
@output_option(aliases=("csv",))
@db_option
@with_store
def problems_reasons(fmt):
    """The reason codes of problem and hold scans (the network file's `reasons`).

    \b
    Example:
      scanhub problems reasons --json
    """
    from hub.network.basic_data import reasons
    emit([dict(r, kinds=",".join(r["kinds"])) for r in reasons()], fmt, "reason codes")
