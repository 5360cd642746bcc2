"""``scanhub call``: calls in progress, CDRs, one call's events, recordings."""
from __future__ import annotations

import os
import shutil
import sys

import click

from hub.cli.common import (db_option, done, echo_json, emit, format_option, json_option, output_option,
                            parse_when, utc_option, window_text, with_store)

WINDOW_HELP = "YYYY-MM-DD, YYYY-MM-DDTHH:MM (network zone; UTC with --utc) or epoch ms."
DISPOSITIONS = ("answered", "busy", "no-answer", "failed", "abandoned")


@click.group("call")
def call():
    """Calls: the live view, CDRs, each call's events, recordings (docs/telephony.md).

    \b
    Examples:
      scanhub call active                                    calls, legs and seats now
      scanhub call list --since 2024-06-01 --number 8001     calls to, from or answered by 8001
      scanhub call cdr --since 2024-06-01 --format csv > cdr.csv
      scanhub call show 3f2a9c                               one call's CDR and events
      scanhub call recordings --number 13912345678 --export ./wav
    """


def _filters(fn):
    for opt in reversed([
            click.option("--since", help="Calls that started at or after this time: " + WINDOW_HELP),
            click.option("--until", help="Calls that started before this time."),
            click.option("--number", help="Calls whose caller, callee or answering seat is this number."),
            click.option("--disposition", type=click.Choice(DISPOSITIONS), help="Only calls that ended so."),
            click.option("--limit", type=click.IntRange(min=1), help="At most this many (newest first).")]):
        fn = opt(fn)
    return fn


@call.command("list")
@db_option
@_filters
@format_option
@utc_option
@with_store
def list_(since, until, number, disposition, limit, fmt):
    """Finished calls, newest first: when, who called whom, how it ended, billable seconds."""
    from hub.telephony.cdr import list_calls
    s, u = parse_when(since), parse_when(until)
    rows = list_calls(since_ms=s, until_ms=u, number=number, disposition=disposition, limit=limit)
    emit(rows, fmt, "Calls", columns=["call_id", "start_ms", "direction", "caller", "callee", "seat", "disposition",
                                      "billable_s"], window=window_text(s, u))


@call.command("cdr")
@db_option
@_filters
@output_option(default="csv")
@utc_option
@with_store
def cdr(since, until, number, disposition, limit, fmt):
    """Call detail records with every field (docs/telephony.md, "CDR fields"); CSV unless --format says."""
    from hub.telephony.cdr import CDR_COLUMNS, list_calls
    s, u = parse_when(since), parse_when(until)
    rows = list_calls(since_ms=s, until_ms=u, number=number, disposition=disposition, limit=limit)
    if fmt == "json":
        echo_json(rows)
        return
    emit(rows, fmt, "Call detail records", columns=CDR_COLUMNS + ["origin", "legs", "worker"],
         window=window_text(s, u), totals=False)


@call.command("show")
@click.argument("call_id")
@db_option
@json_option
@utc_option
@with_store
def show(call_id, fmt):
    """One call's CDR and its events in order (CALL_ID: the id or its first characters)."""
    from hub.business.localtime import format_ms
    from hub.telephony.cdr import show_call
    c = show_call(call_id)
    if fmt == "json":
        echo_json(c)
        return
    click.echo(f"call {c['call_id']}  {c['direction']}  {c['caller']} -> {c['callee']}  {c['disposition']}")
    click.echo(f"  start {format_ms(c['start_ms'])}  answer {format_ms(c['answer_ms']) or '-'}  "
               f"end {format_ms(c['end_ms'])}  billable {c['billable_s']} s")
    click.echo(f"  trunk {c['trunk'] or '-'}  channel {c['channel'] or '-'}  seat {c['seat'] or '-'}  "
               f"recording {c['recording'] or '-'}")
    t0 = c["start_ms"]
    for e in c["events"]:
        data = " ".join(f"{k}={v}" for k, v in e["data"].items() if v not in (None, ""))
        click.echo(f"  +{(e['t_ms'] - t0) / 1000:8.3f}s  {e['kind']:<14} {e['leg'] or '':<4} {data}")


@call.command("active")
@db_option
@output_option(("table", "csv", "json"))
@utc_option
@with_store
def active(fmt):
    """Legs of calls in progress (per trunk and channel), registered seats, and every E1 span's alarm
    state with its busy, idle and blocked timeslots, from every worker."""
    from hub.telephony.cdr import active as live
    view = live()
    if fmt == "json":
        echo_json(view)
        return
    emit(view["legs"], fmt, "Calls in progress", columns=["trunk", "channel", "seat", "call_id", "leg", "direction",
                                                          "peer", "state", "since_ms", "worker"], totals=False)
    if fmt == "table":
        emit(view["seats"], fmt, "Registered seats", columns=["seat", "contact", "expires_ms", "worker"],
             totals=False)
        emit(view["spans"], fmt, "E1 spans", columns=["trunk", "span", "protocol", "colour", "alarms", "busy", "idle",
                                                      "blocked", "updated_ms", "worker"], totals=False)


@call.command("recordings")
@db_option
@click.option("--since", help="Recordings of calls that started at or after this time: " + WINDOW_HELP)
@click.option("--until", help="... and before this time.")
@click.option("--number", help="Recordings whose caller or callee is this number.")
@click.option("--call", "call_id", help="The recording of this call (its id or first characters).")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many (newest first).")
@click.option("--export", "export_dir", type=click.Path(file_okay=False),
              help="Copy the WAV files found into this folder (named CALLID_CALLER_CALLEE.wav).")
@format_option
@utc_option
@with_store
def recordings(since, until, number, call_id, limit, export_dir, fmt):
    """Find call recordings (WAV, caller left and callee right) and export them."""
    from hub.telephony.cdr import recordings as find
    from hub.telephony.errors import TelephonyError
    s, u = parse_when(since), parse_when(until)
    rows = find(since_ms=s, until_ms=u, number=number, call_id=call_id, limit=limit)
    if export_dir:
        os.makedirs(export_dir, exist_ok=True)
        with click.progressbar(rows, label="exporting", file=sys.stderr) as bar:
            for r in bar:
                dest = os.path.join(export_dir, f"{r['call_id']}_{r['caller']}_{r['callee']}.wav")
                try:
                    shutil.copyfile(r["path"], dest)
                except OSError as e:
                    raise TelephonyError(f"cannot copy {r['path']}: {e.strerror}") from None
                r["exported"] = dest
    emit(rows, fmt, "Recordings", columns=["call_id", "start_ms", "caller", "callee", "seconds", "path"]
         + (["exported"] if export_dir else []), window=window_text(s, u), totals=False)


@call.command("expire-recordings")
@db_option
@click.option("--keep-days", type=click.IntRange(min=1), required=True,
              help="Delete the WAVs of calls older than this many days (their index rows stay, marked).")
@json_option
@with_store
def expire(keep_days, fmt):
    """Apply the retention policy: delete recordings older than --keep-days."""
    from hub.telephony.cdr import expire_recordings
    gone = expire_recordings(keep_days)
    done({"deleted": len(gone), "recordings": gone}, f"deleted {len(gone)} recording(s) older than {keep_days} days",
         fmt)
