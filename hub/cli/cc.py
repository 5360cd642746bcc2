"""``scanhub cc``: the call center's queues, queue log, callbacks, reports, staffing, QA and shifts.

Thin: parse, call ``hub.acd``, format (the output rule of hub/cli/common.py).
"""
from __future__ import annotations

import re
import sys

import click

from hub.cli.common import db_option, done, emit, format_option, json_option, parse_when, utc_option, window_text, with_store

WINDOW_HELP = "YYYY-MM-DD, YYYY-MM-DDTHH:MM (network zone; UTC with --utc) or epoch ms."


@click.group("cc")
def cc():
    """The call center: queues, queue log, callbacks, KPIs, staffing, QA, shifts.

    \b
    Examples:
      scanhub cc queues check queues.yaml
      scanhub cc log import /var/log/asterisk/queue_log
      scanhub cc callbacks
      scanhub cc report --by interval --interval 30m --format html > today.html
      scanhub cc staffing --calls 100 --interval 30m --aht 180 --target 80/20
      scanhub cc ahp weights.yaml"""


def _duration_s(text: str, name: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m|min|h)?\s*", text or "")
    if not m:
        raise click.BadParameter(f"{text!r} is not a duration (like 1800, 90s, 30m or 1h)", param_hint=name)
    return float(m.group(1)) * {"s": 1, None: 1, "m": 60, "min": 60, "h": 3600}[m.group(2)]


# ---------------------------------------------------------------- queues

@cc.group("queues")
def queues():
    """Queue files: agents, queues, strategies, overflow (docs/callcenter.md).

    \b
    Examples:
      scanhub cc queues check queues.yaml"""


@queues.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
@format_option
def queues_check(path, fmt):
    """Check a queue file (every problem with its place) and list its queues.

    \b
    Example:
      scanhub cc queues check queues.yaml --json"""
    from hub.acd.config import load_queues
    centre = load_queues(path)
    rows = [{"queue": q.name, "strategy": q.strategy, "members": len(q.members), "ring_timeout_s": q.ring_timeout_s,
             "wrapup_s": q.wrapup_s, "max_len": q.max_len, "timeout_s": q.timeout_s, "overflow": str(q.overflow),
             "rules": len(q.rules)} for q in centre.queues.values()]
    emit(rows, fmt, f"queues in {path}", totals=False)


# ---------------------------------------------------------------- queue log

@cc.group("log")
def log_group():
    """The queue log (Asterisk's queue_log format) in the hub's store.

    \b
    Examples:
      scanhub cc log import queue_log
      scanhub cc log show --since 2026-12-01 --format csv"""


@log_group.command("import")
@click.argument("path", type=click.Path(dir_okay=False))
@json_option
@db_option
@with_store
def log_import(path, fmt):
    """Store every line of a queue_log file (lines already stored are skipped).

    \b
    Example:
      scanhub cc log import /var/log/asterisk/queue_log"""
    from hub.acd.store import import_file
    r = import_file(path)
    done(r, f"{r['lines']} lines read, {r['stored']} stored ({r['lines'] - r['stored']} were there already)", fmt)


@log_group.command("show")
@click.option("--since", help="Window start (inclusive): " + WINDOW_HELP)
@click.option("--until", help="Window end (exclusive).")
@click.option("--queue", help="One queue (and the agent events).")
@click.option("--raw", is_flag=True, help="Print the Asterisk lines as they are (epoch|callid|queue|agent|event|data…).")
@format_option
@utc_option
@db_option
@with_store
def log_show(since, until, queue, raw, fmt):
    """The stored queue-log events.

    \b
    Example:
      scanhub cc log show --queue service --raw"""
    from hub.acd.store import entries
    evs = entries(parse_when(since), parse_when(until), queue)
    if raw:
        for e in evs:
            click.echo(e.line())
        return
    rows = [{"time_ms": e.time_ms, "call": e.callid, "queue": e.queue, "agent": e.agent, "event": e.event,
             "data": "|".join(e.data)} for e in evs]
    emit(rows, fmt, "queue log", window=window_text(parse_when(since), parse_when(until)), totals=False)


# ---------------------------------------------------------------- callbacks

@cc.group("callbacks", invoke_without_command=True)
@click.option("--status", type=click.Choice(["open", "done", "failed", "all"]), default="open", show_default=True,
              help="Which entries to list (open = open or assigned).")
@format_option
@utc_option
@db_option
@click.pass_context
def callbacks(ctx, status, fmt, db):
    """The callback list: every abandoned, unanswered, overflowed or out-of-hours call, one
    entry per caller, brought up to date from the queue log first.

    \b
    Examples:
      scanhub cc callbacks
      scanhub cc callbacks assign 12 --agent 1001
      scanhub cc callbacks attempt 12 --agent 1001 --outcome reached"""
    ctx.ensure_object(dict)["db"] = db
    if ctx.invoked_subcommand is not None:
        return
    from hub.acd import callbacks as cb
    from hub.cli.common import open_store
    open_store(db)
    cb.refresh()
    emit(cb.listing(status), fmt, f"callbacks ({status})", totals=False)


@callbacks.command("refresh")
@json_option
@db_option
@with_store
def callbacks_refresh(fmt):
    """Fold the queue log written since the last refresh into the list (safe to run any time).

    \b
    Example:
      scanhub cc callbacks refresh --json"""
    from hub.acd import callbacks as cb
    r = cb.refresh()
    done(r, f"{r['added']} added, {r['folded']} folded into open entries, {r['closed']} closed", fmt)


@callbacks.command("assign")
@click.argument("callback_id", type=int)
@click.option("--agent", required=True, help="The agent who will call back.")
@json_option
@db_option
@with_store
def callbacks_assign(callback_id, agent, fmt):
    """Give a callback entry to an agent.

    \b
    Example:
      scanhub cc callbacks assign 12 --agent 1001"""
    from hub.acd import callbacks as cb
    r = cb.assign(callback_id, agent)
    done(r, f"callback {callback_id} assigned to {agent}", fmt)


@callbacks.command("attempt")
@click.argument("callback_id", type=int)
@click.option("--agent", required=True, help="The agent who called.")
@click.option("--outcome", required=True, type=click.Choice(["reached", "no-answer", "busy", "voicemail", "wrong-number"]),
              help="reached closes the entry; wrong-number fails it; the others count towards --max-attempts.")
@click.option("--note", default="", help="Free text kept with the attempt.")
@click.option("--max-attempts", type=click.IntRange(1, 100), default=3, show_default=True,
              help="Failed attempts after which the entry is closed as failed.")
@json_option
@db_option
@with_store
def callbacks_attempt(callback_id, agent, outcome, note, max_attempts, fmt):
    """Record an attempt to call back.

    \b
    Example:
      scanhub cc callbacks attempt 12 --agent 1001 --outcome no-answer"""
    from hub.acd import callbacks as cb
    r = cb.attempt(callback_id, agent, outcome, note, max_attempts)
    done(r, f"callback {callback_id}: {outcome}, attempt {r['attempts']}, now {r['status']}", fmt)


# ---------------------------------------------------------------- reports

def _interval_chart(rows):
    from hub.cli.charts import Chart
    return Chart("line", "service level and offered calls per interval",
                 {"service level": [(r["interval"], r["service_level_rate"] or 0) for r in rows]},
                 xlabel="interval", ylabel="SL", percent=True, legend="")


def _states_chart(rows):
    from hub.cli.charts import Chart
    series = {}
    for state in ("ready", "paused", "ringing", "talking", "wrapup"):
        series[state] = [(r["agent"], r[f"{state}_s"] / 3600) for r in rows]
    return Chart("bar", "agent states (hours)", series, xlabel="agent", ylabel="hours", legend="state")


@cc.command("report")
@click.option("--by", "by", type=click.Choice(["queue", "agent", "interval", "calls", "states"]), default="queue",
              show_default=True, help="KPIs per queue, per agent, per interval; the wait of every call; "
                                      "every agent state interval.")
@click.option("--since", help="Window start (inclusive): " + WINDOW_HELP)
@click.option("--until", help="Window end (exclusive).")
@click.option("--queue", help="One queue.")
@click.option("--interval", "interval", default="30m", show_default=True, help="Interval length with --by interval (like 15m, 1h).")
@click.option("--sl", "sl_s", type=float, default=20, show_default=True, help="Service-level threshold in seconds.")
@click.option("--sl2", "sl2_s", type=float, default=None, help="A second service-level threshold in seconds (SL2).")
@click.option("--short-abandon", "short_s", type=float, default=5, show_default=True,
              help="Abandons shorter than this (seconds) are not counted as abandoned.")
@format_option
@utc_option
@db_option
@with_store
def report(by, since, until, queue, interval, sl_s, sl2_s, short_s, fmt):
    """Call-center KPIs from the stored queue log: offered, answered, abandoned, SL, ASA, AHT,
    occupancy, utilisation, longest wait, transfer rate, callback completion; agent states.

    Rates print as percentages (JSON keeps ratios 0..1).  The printable forms (html, pdf) chart
    the service level per interval, or agent states.

    \b
    Examples:
      scanhub cc report --since 2026-12-01 --until 2026-12-02
      scanhub cc report --by interval --interval 30m --sl 20 --sl2 60 --format html > sl.html
      scanhub cc report --by agent --format csv
      scanhub cc report --by calls --queue service --json"""
    from contract.clock import now_ms
    from hub.acd import callbacks as cbs
    from hub.acd import kpi
    from hub.acd.store import entries
    since_ms, until_ms = parse_when(since), parse_when(until)
    evs = entries(since_ms, until_ms, queue)
    window = window_text(since_ms, until_ms)
    if by == "calls":
        rows = kpi.call_waits(evs)
        emit(rows, fmt, "wait per call", window=window, totals=False)
        return
    if by == "states":
        rows = kpi.agent_states(evs, until_ms or now_ms())
        emit([{**r, "seconds": (r["end_ms"] - r["start_ms"]) / 1000} for r in rows], fmt, "agent states", window=window)
        return
    if by == "agent":
        rows = kpi.agent_kpis(evs, until_ms or now_ms())
        for r in rows:
            r["pauses"] = ", ".join(f"{k} {v:.0f}s" for k, v in r["pauses"].items())
        emit(rows, fmt, "agents", window=window, chart=_states_chart(rows) if rows else None, totals=False)
        return
    if by == "interval":
        step = int(_duration_s(interval, "--interval") * 1000)
        rows = kpi.queue_kpis(evs, sl_s=sl_s, sl2_s=sl2_s, short_abandon_s=short_s,
                              group=lambda r: r["entered_ms"] // step * step)
        for r in rows:
            r["interval_ms"] = r.pop("group")
        rows = [{"interval_ms": r.pop("interval_ms"), **r} for r in rows]
        from hub.business.localtime import format_ms
        chart = _interval_chart([{**r, "interval": format_ms(r["interval_ms"])[11:16]} for r in rows]) if rows else None
        emit(rows, fmt, f"queue KPIs per {interval}", window=window, chart=chart, totals=False)
        return
    rows = kpi.queue_kpis(evs, sl_s=sl_s, sl2_s=sl2_s, short_abandon_s=short_s)
    cb = cbs.completion(since_ms, until_ms)
    rows = [{"queue": r.pop("group"), **r} for r in rows]
    for r in rows:
        r["callback_completion_rate"] = cb["completion_rate"]
    emit(rows, fmt, "queue KPIs", window=window, totals=False)


# ---------------------------------------------------------------- staffing

@cc.command("staffing")
@click.option("--calls", type=float, required=True, help="Calls forecast per interval.")
@click.option("--interval", default="30m", show_default=True, help="The forecast's interval (like 30m, 1h, 900s).")
@click.option("--aht", type=float, required=True, help="Average handle time in seconds (talk + hold + wrap-up).")
@click.option("--target", default="80/20", show_default=True,
              help="Service-level target: percent answered / within seconds (80/20).")
@click.option("--agents", type=click.IntRange(1, 100_000), default=None,
              help="Instead of the agents needed: the figures for this many agents.")
@click.option("--patience", type=float, default=None,
              help="Mean caller patience in seconds: Erlang A (with abandonment) instead of Erlang C.")
@click.option("--table", "table_n", type=click.IntRange(0, 50), default=3, show_default=True,
              help="Also list this many staffing levels around the answer.")
@format_option
def staffing(calls, interval, aht, target, agents, patience, table_n, fmt):
    """Agents needed for a service-level target, by Erlang C (or Erlang A with --patience),
    and the expected SL, ASA, probability of waiting and occupancy.

    \b
    Examples:
      scanhub cc staffing --calls 100 --interval 30m --aht 180 --target 80/20
      scanhub cc staffing --calls 100 --interval 30m --aht 180 --agents 12
      scanhub cc staffing --calls 400 --interval 1h --aht 240 --target 90/30 --patience 90 --json"""
    from hub.acd import erlang
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)\s*", target)
    if not m or not 0 < float(m.group(1)) < 100:
        raise click.BadParameter(f"{target!r}: write percent/seconds, like 80/20", param_hint="--target")
    sl, t = float(m.group(1)) / 100, float(m.group(2))
    iv = _duration_s(interval, "--interval")

    def figures(n):
        return (erlang.erlang_a_figures(n, calls, iv, aht, t, patience) if patience
                else erlang.erlang_c_figures(n, calls, iv, aht, t))
    best = figures(agents) if agents else erlang.agents_needed(calls, iv, aht, sl, t, patience)
    low = max(1, best["agents"] - table_n)
    rows = []
    for n in range(low, best["agents"] + table_n + 1):
        f = figures(n)
        row = {"agents": n, "traffic_erlangs": round(f["traffic"], 3), "p_wait": round(f["p_wait"], 4),
               "service_level_rate": f["service_level"],
               "asa_s": round(f["asa_s"], 1) if "asa_s" in f and f["asa_s"] != float("inf") else None,
               "occupancy_rate": f["occupancy"], "meets_target": f["service_level"] >= sl}
        if patience:
            row["abandon_rate"] = f["p_abandon"]
            row["mean_wait_s"] = round(f["mean_wait_s"], 1)
        rows.append(row)
    model = "Erlang A" if patience else "Erlang C"
    emit(rows, fmt, f"{model}: {calls:g} calls per {interval}, AHT {aht:g} s, target {target}"
         + (f" (answer: {best['agents']} agents)" if not agents else ""), totals=False)


# ---------------------------------------------------------------- QA

def _yaml(path: str):
    import yaml

    from hub.acd.errors import AcdError
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)
    except OSError as e:
        raise AcdError(f"{path}: {e.strerror or e}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise AcdError(f"{path}: not valid YAML: {str(e).splitlines()[0]}") from None


@cc.command("ahp")
@click.argument("path", type=click.Path(dir_okay=False))
@format_option
def ahp_command(path, fmt):
    """Weights from a pairwise comparison file by AHP (principal eigenvector; refused when the
    consistency ratio is 0.1 or more, naming the judgements to revisit).

    \b
    Example:
      scanhub cc ahp criteria.yaml"""
    from hub.acd import ahp
    r = ahp.from_spec(_yaml(path), path)
    rows = [{"criterion": k, "weight": round(v, 4)} for k, v in r["weights"].items()]
    emit(rows, fmt,
         f"AHP weights (λmax {r['lambda_max']:.4f}, CI {r['ci']:.4f}, RI {r['ri']}, CR {r['cr']:.4f})")


@cc.command("fuzzy")
@click.argument("path", type=click.Path(dir_okay=False))
@format_option
def fuzzy_command(path, fmt):
    """Fuzzy comprehensive evaluation over a two-level criteria tree (AHP weights, memberships
    from evaluators' votes on five grades, maximum membership, score).

    \b
    Example:
      scanhub cc fuzzy evaluation.yaml --json"""
    from hub.acd import fuzzy
    r = fuzzy.evaluate(_yaml(path), path)
    if fmt == "json":
        from hub.cli.common import echo_json
        echo_json(r)
        return
    rows = []
    for c in r["criteria"]:
        for i in c["indicators"]:
            rows.append({"criterion": c["criterion"], "criterion_weight": round(c["weight"], 4),
                         "indicator": i["indicator"], "weight": round(i["weight"], 4),
                         "membership": " ".join(f"{x:.3f}" for x in i["membership"]), "grade": i["grade"]})
        rows.append({"criterion": c["criterion"], "criterion_weight": round(c["weight"], 4), "indicator": "(criterion)",
                     "weight": None, "membership": " ".join(f"{x:.3f}" for x in c["membership"]),
                     "grade": f"{c['grade']} ({c['score']:.2f})"})
    emit(rows, fmt, f"fuzzy evaluation: {r['score']:.2f} ({r['grade']}); grades {' / '.join(r['grades'])}", totals=False)


@cc.group("qa")
def qa_group():
    """Quality assurance: evaluation forms (AHP weights), scores per call, per-agent results.

    \b
    Examples:
      scanhub cc qa form inbound.yaml
      scanhub cc qa score --form inbound-2026 --call c-1042 --agent 1001 --evaluator qa1 greeting=90 accuracy=80 empathy=85 resolution=70
      scanhub cc qa results --period month"""


@qa_group.command("form")
@click.argument("path", type=click.Path(dir_okay=False))
@json_option
@db_option
@with_store
def qa_form(path, fmt):
    """Add or replace an evaluation form from a file (criteria and AHP judgements, or weights).

    \b
    Example:
      scanhub cc qa form inbound.yaml"""
    from hub.acd import qa
    form = qa.form_from(_yaml(path), path)
    qa.save_form(form)
    done(form, f"form {form['name']}: " + ", ".join(f"{k} {v:.3f}" for k, v in form["weights"].items()), fmt)


@qa_group.command("score")
@click.option("--form", "form_name", required=True, help="The evaluation form.")
@click.option("--call", "callid", required=True, help="The recorded call's id (its queue-log call id).")
@click.option("--agent", required=True, help="The agent evaluated.")
@click.option("--evaluator", required=True, help="The QA seat scoring.")
@click.argument("scores", nargs=-1, required=True)
@json_option
@db_option
@with_store
def qa_score(form_name, callid, agent, evaluator, scores, fmt):
    """Score a recorded call: CRITERION=0..100 for every criterion of the form.

    \b
    Example:
      scanhub cc qa score --form inbound-2026 --call c-1042 --agent 1001 --evaluator qa1 greeting=90 accuracy=80 empathy=85 resolution=70"""
    from hub.acd import qa
    parsed = {}
    for s in scores:
        k, sep, v = s.partition("=")
        try:
            parsed[k] = float(v)
        except ValueError:
            raise click.BadParameter(f"{s!r}: write CRITERION=SCORE", param_hint="SCORES") from None
        if not sep:
            raise click.BadParameter(f"{s!r}: write CRITERION=SCORE", param_hint="SCORES")
    r = qa.score(form_name, callid, agent, evaluator, parsed)
    done(r, f"call {callid} ({agent}): {r['total']:.2f}", fmt)


@qa_group.command("results")
@click.option("--agent", help="One agent.")
@click.option("--since", help="Window start (inclusive): " + WINDOW_HELP)
@click.option("--until", help="Window end (exclusive).")
@click.option("--period", type=click.Choice(["day", "month"]), default="month", show_default=True,
              help="One row per agent and day, or per agent and month.")
@format_option
@utc_option
@db_option
@with_store
def qa_results(agent, since, until, period, fmt):
    """QA results per agent over time: evaluations, mean, lowest and highest score.

    \b
    Example:
      scanhub cc qa results --agent 1001 --period day"""
    from hub.acd import qa
    from hub.business.localtime import display_offset
    rows = qa.results(agent, parse_when(since), parse_when(until), period, display_offset())
    emit(rows, fmt, f"QA results per {period}", window=window_text(parse_when(since), parse_when(until)), totals=False)


# ---------------------------------------------------------------- shifts

@cc.group("shift")
def shift_group():
    """Shift operations: the shift notice, attendance, the floor work log, notices, the handover.

    \b
    Examples:
      scanhub cc shift add day-1201 --start 2026-12-01T08:00 --end 2026-12-01T16:00 --supervisor Li --seat 1001=A01
      scanhub cc shift attendance day-1201
      scanhub cc shift log add day-1201 "SF Express outage: promise callbacks" --kind notice
      scanhub cc shift handover day-1201 --format html > handover.html"""


@shift_group.command("add")
@click.argument("code")
@click.option("--start", required=True, help="Shift start: " + WINDOW_HELP)
@click.option("--end", required=True, help="Shift end.")
@click.option("--supervisor", default="", help="The shift's supervisor.")
@click.option("--seat", "seats", multiple=True, help="AGENT=SEAT, once per agent on the shift.")
@json_option
@utc_option
@db_option
@with_store
def shift_add(code, start, end, supervisor, seats, fmt):
    """Add a shift with its agents and seats (the shift notice).

    \b
    Example:
      scanhub cc shift add day-1201 --start 2026-12-01T08:00 --end 2026-12-01T16:00 --seat 1001=A01 --seat 1002=A02"""
    from hub.acd import shifts
    seat_map = {}
    for s in seats:
        a, sep, seat = s.partition("=")
        if not sep or not a:
            raise click.BadParameter(f"{s!r}: write AGENT=SEAT", param_hint="--seat")
        seat_map[a] = seat
    r = shifts.add_shift(code, parse_when(start), parse_when(end), supervisor, seat_map)
    done(r, f"shift {code} with {r['seats']} seats", fmt)


@shift_group.command("notice")
@click.argument("code")
@format_option
@utc_option
@db_option
@with_store
def shift_notice(code, fmt):
    """The shift notice: who is on the shift and at which seat.

    \b
    Example:
      scanhub cc shift notice day-1201"""
    from hub.acd import shifts
    emit(shifts.seating(code), fmt, f"shift {code}", totals=False)


@shift_group.command("attendance")
@click.argument("code")
@click.option("--grace", type=float, default=300, show_default=True, help="Seconds after the start still counted on time.")
@format_option
@utc_option
@db_option
@with_store
def shift_attendance(code, grace, fmt):
    """Attendance from the agents' log-ins: present, late or absent.

    \b
    Example:
      scanhub cc shift attendance day-1201 --json"""
    from hub.acd import shifts
    emit(shifts.attendance(code, grace), fmt, f"attendance, shift {code}", totals=False)


@shift_group.group("log")
def shift_log():
    """The floor work log: items stay open, and on every handover, until closed.

    \b
    Examples:
      scanhub cc shift log add day-1201 "Call back Mr Zhang about 7000000123" --kind customer
      scanhub cc shift log close 3 --shift night-1201 --result "called, parcel found"
      scanhub cc shift log list --open"""


@shift_log.command("add")
@click.argument("code")
@click.argument("text")
@click.option("--kind", type=click.Choice(["notice", "staffing", "task", "customer", "note"]), default="note",
              show_default=True, help="What the item is about.")
@json_option
@db_option
@with_store
def shift_log_add(code, text, kind, fmt):
    """Write an item in the work log of shift CODE.

    \b
    Example:
      scanhub cc shift log add day-1201 "Hotline 2 noisy, ticket filed" --kind task"""
    from hub.acd import shifts
    r = shifts.log_item(code, text, kind)
    done(r, f"item {r['id']} logged on shift {code}", fmt)


@shift_log.command("close")
@click.argument("item_id", type=int)
@click.option("--shift", "code", required=True, help="The shift closing it.")
@click.option("--result", required=True, help="What was done.")
@json_option
@db_option
@with_store
def shift_log_close(item_id, code, result, fmt):
    """Close a work-log item with its result.

    \b
    Example:
      scanhub cc shift log close 3 --shift night-1201 --result done"""
    from hub.acd import shifts
    r = shifts.close_item(item_id, code, result)
    done(r, f"item {item_id} closed by shift {code}", fmt)


@shift_log.command("list")
@click.option("--open", "open_only", is_flag=True, help="Only the items still open.")
@format_option
@utc_option
@db_option
@with_store
def shift_log_list(open_only, fmt):
    """The work log.

    \b
    Example:
      scanhub cc shift log list --open"""
    from hub.acd import shifts
    emit(shifts.items(open_only), fmt, "work log" + (" (open)" if open_only else ""), totals=False)


@shift_group.group("notices")
def shift_notices():
    """Notices agents must acknowledge.

    \b
    Examples:
      scanhub cc shift notices add day-1201 "New surcharge rules from Monday"
      scanhub cc shift notices ack 4 --agent 1001
      scanhub cc shift notices list --agent 1001"""


@shift_notices.command("add")
@click.argument("code")
@click.argument("text")
@json_option
@db_option
@with_store
def notices_add(code, text, fmt):
    """Publish a notice on shift CODE.

    \b
    Example:
      scanhub cc shift notices add day-1201 "Typhoon: no pickups in Zhoushan today" """
    from hub.acd import shifts
    r = shifts.add_notice(code, text)
    done(r, f"notice {r['id']} on shift {code}", fmt)


@shift_notices.command("ack")
@click.argument("notice_id", type=int)
@click.option("--agent", required=True, help="The agent acknowledging.")
@json_option
@db_option
@with_store
def notices_ack(notice_id, agent, fmt):
    """Acknowledge a notice.

    \b
    Example:
      scanhub cc shift notices ack 4 --agent 1001"""
    from hub.acd import shifts
    r = shifts.ack(notice_id, agent)
    done(r, f"notice {notice_id} acknowledged by {agent}", fmt)


@shift_notices.command("list")
@click.option("--agent", help="Only the notices this agent has not acknowledged.")
@format_option
@utc_option
@db_option
@with_store
def notices_list(agent, fmt):
    """Notices and who acknowledged them.

    \b
    Example:
      scanhub cc shift notices list --agent 1001"""
    from hub.acd import shifts
    emit(shifts.notices(agent), fmt, "notices" + (f" not acknowledged by {agent}" if agent else ""), totals=False)


@shift_group.command("handover")
@click.argument("code")
@format_option
@utc_option
@db_option
@with_store
def shift_handover(code, fmt):
    """The handover of shift CODE: its KPIs (answer rate, SL, utilisation, quality), attendance,
    the open work-log items it carries over and the notices not yet acknowledged.

    \b
    Example:
      scanhub cc shift handover day-1201 --format html > handover.html"""
    from hub.acd import shifts
    h = shifts.handover(code)
    if fmt == "json":
        from hub.cli.common import echo_json
        echo_json(h)
        return
    rows = [{"section": "KPI", "item": k, "value": v} for k, v in h["kpis"].items()]
    rows += [{"section": "attendance", "item": a["agent"], "value": a["status"]} for a in h["attendance"]]
    rows += [{"section": "open item", "item": f"#{i['id']} ({i['kind']}, from {i['opened_shift']})", "value": i["text"]}
             for i in h["open_items"]]
    rows += [{"section": "notice to acknowledge", "item": f"#{n['id']}", "value": n["text"]}
             for n in h["unacknowledged_notices"]]
    for r in rows:
        if isinstance(r["value"], float):
            r["value"] = f"{r['value'] * 100:.2f}%" if r["item"].endswith("_rate") else f"{r['value']:.2f}"
        elif r["value"] is None:
            r["value"] = "n/a"
    emit(rows, fmt, f"handover of shift {code} (supervisor {h['supervisor'] or 'n/a'})", totals=False)


# ---------------------------------------------------------------- simulation

@cc.command("simulate")
@click.option("--agents", type=click.IntRange(1, 5000), required=True, help="Agents, all alike, in one queue.")
@click.option("--calls", type=click.IntRange(1, 1_000_000), default=2000, show_default=True, help="Callers to play.")
@click.option("--per-hour", type=click.FloatRange(0, min_open=True), required=True, help="Poisson arrival rate, calls per hour.")
@click.option("--aht", type=click.FloatRange(0, min_open=True), required=True,
              help="Mean talk time in seconds (exponential).")
@click.option("--patience", type=click.FloatRange(0, min_open=True), default=None,
              help="Mean caller patience in seconds (exponential); compared with Erlang A.")
@click.option("--target", default="80/20", show_default=True, help="Service-level target percent/seconds.")
@click.option("--strategy", type=click.Choice(["ringall", "leastrecent", "fewestcalls", "random", "rrmemory", "rrordered",
                                               "linear", "wrandom", "longest-idle-agent", "top-down"]),
              default="leastrecent", show_default=True, help="The queue's routing strategy.")
@click.option("--replications", type=click.IntRange(1, 200), default=5, show_default=True,
              help="Independent runs; the spread gives the tolerance.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed of the first run.")
@click.option("--queue-log", "queue_log", type=click.Path(dir_okay=False),
              help="Also write the first run's queue log to this file (Asterisk format).")
@format_option
def simulate(agents, calls, per_hour, aht, patience, target, strategy, replications, seed, queue_log, fmt):
    """Play Poisson callers through the real ACD engine on a simulated clock and compare the
    measured service level, ASA and abandonment with Erlang C (or Erlang A with --patience).

    \b
    Examples:
      scanhub cc simulate --agents 14 --per-hour 200 --aht 180
      scanhub cc simulate --agents 12 --per-hour 216 --aht 180 --patience 120 --replications 20 --json
      scanhub cc simulate --agents 3 --per-hour 40 --aht 200 --calls 300 --queue-log queue_log && scanhub cc log import queue_log"""
    import statistics

    from hub.acd import erlang
    from hub.acd.queue_log import FileWriter
    from hub.acd.simulate import measure, run, workload
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)\s*", target)
    if not m:
        raise click.BadParameter(f"{target!r}: write percent/seconds, like 80/20", param_hint="--target")
    t = float(m.group(2))
    runs = []
    with click.progressbar(range(replications), label="replications", file=sys.stderr,
                           show_pos=True) as bar:
        for r in bar:
            log = run(agents, workload(calls, per_hour, aht, patience, seed + r), strategy, seed + r)
            if r == 0 and queue_log:
                w = FileWriter(queue_log)
                w.write(log)
                w.close()
            runs.append(measure(log, t, warm_up=0.1))
    model = (erlang.erlang_a_figures(agents, per_hour, 3600, aht, t, patience) if patience
             else erlang.erlang_c_figures(agents, per_hour, 3600, aht, t))
    expect = {"service_level": model["service_level"], "asa_s": model.get("asa_s"),
              "abandon_rate": model.get("p_abandon", 0.0), "mean_wait_s": model.get("mean_wait_s")}
    rows = []
    for key in ("service_level", "asa_s", "abandon_rate", "mean_wait_s"):
        vals = [x[key] for x in runs]
        mean = statistics.fmean(vals)
        se = statistics.stdev(vals) / len(vals) ** 0.5 if len(vals) > 1 else None
        rows.append({"figure": key, "simulated": round(mean, 4), "std_error": None if se is None else round(se, 4),
                     "model": None if expect[key] is None or expect[key] == float("inf") else round(expect[key], 4)})
    emit(rows, fmt, f"{replications} simulated run(s) of {calls} calls, {agents} agents vs "
         + ("Erlang A" if patience else "Erlang C"), totals=False)
