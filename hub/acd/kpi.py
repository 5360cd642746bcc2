"""Numbers from the queue log: waits per call, KPIs per queue, agent and interval, agent states.

Everything is computed from queue-log entries (``queue_log.Entry``, millisecond times), so the
figures are the same whether the entries come from the store or a file.  Definitions (the
formulas are in docs/callcenter.md):

- offered: ENTERQUEUE; answered: CONNECT; abandoned: ABANDON with a wait ≥ the short-abandon
  threshold (shorter ones are ``short_abandoned`` and leave the SL denominator);
- SL(t) = answered within t / (offered − short abandons); SL2 the same for a second threshold;
- ASA = mean wait of answered calls; longest wait over every call;
- AHT = (talk + hold + wrap-up) / handled, talk from CONNECT to COMPLETE* or TRANSFER;
- occupancy = handling time / (handling time + ready time); utilisation = handling time /
  logged-in time (handling = ringing + talking + wrap-up);
- transfer rate = TRANSFER / answered.
"""
from __future__ import annotations

from collections import defaultdict

from hub.acd.queue_log import MISSED

ENDS = ("COMPLETEAGENT", "COMPLETECALLER", "TRANSFER")
EXITS = ("ABANDON", "EXITWITHTIMEOUT", "EXITWITHKEY", "EXITEMPTY")


def call_waits(entries) -> list[dict]:
    """One row per queue visit (ENTERQUEUE): call, queue, caller, entered, wait_ms, outcome
    (answered, or the exit event), agent, talk_ms (None until it ends), hold_ms."""
    open_: dict[tuple[str, str], dict] = {}
    rows: list[dict] = []
    for e in sorted(entries, key=lambda e: e.time_ms):
        k = (e.callid, e.queue)
        if e.event == "ENTERQUEUE":
            r = {"call": e.callid, "queue": e.queue, "caller": e.data[1] if len(e.data) > 1 else "",
                 "entered_ms": e.time_ms, "wait_ms": None, "outcome": "waiting", "agent": None,
                 "talk_ms": None, "hold_ms": 0, "_connect": None, "_hold": None}
            open_[k] = r
            rows.append(r)
            continue
        r = open_.get(k)
        if r is None:
            continue
        if e.event == "CONNECT":
            r.update(wait_ms=e.time_ms - r["entered_ms"], outcome="answered", agent=e.agent, _connect=e.time_ms)
        elif e.event == "HOLD":
            r["_hold"] = e.time_ms
        elif e.event == "UNHOLD" and r["_hold"] is not None:
            r["hold_ms"] += e.time_ms - r["_hold"]
            r["_hold"] = None
        elif e.event in ENDS and r["_connect"] is not None:
            r["talk_ms"] = e.time_ms - r["_connect"] - r["hold_ms"]
            if e.event == "TRANSFER":
                r["outcome"] = "transferred"
            del open_[k]
        elif e.event in EXITS:
            r.update(wait_ms=e.time_ms - r["entered_ms"], outcome=e.event.lower())
            del open_[k]
    for r in rows:
        r.pop("_connect"), r.pop("_hold")
    return rows


def agent_states(entries, until_ms: int | None = None) -> list[dict]:
    """Each agent's state history as intervals: agent, state (ready, paused, ringing, talking,
    wrap-up), code (the pause reason), start_ms, end_ms.  The intervals of a log-in session
    tile it exactly, so the time per state adds up to the logged-in time."""
    per: dict[str, list] = defaultdict(list)
    for e in sorted(entries, key=lambda e: e.time_ms):
        if e.agent and e.agent != "NONE":
            per[e.agent].append(e)
    out = []
    for agent, evs in per.items():
        state, code, since = None, "", 0
        ring_end = {}

        def close(t, new_state, new_code=""):
            nonlocal state, code, since
            if state is not None and t > since:
                out.append({"agent": agent, "state": state, "code": code, "start_ms": since, "end_ms": t})
            state, code, since = new_state, new_code, t

        for e in evs:
            ev = e.event
            if ev == "AGENTLOGIN":
                close(e.time_ms, "ready")
            elif state is None:
                continue
            elif ev == "AGENTLOGOFF":
                close(e.time_ms, None)
            elif ev == "PAUSE":
                close(e.time_ms, "paused", e.data[0] if e.data else "")
            elif ev == "UNPAUSE":
                if state == "paused":
                    close(e.time_ms, "ready")
            elif ev in ("RINGNOANSWER", "RINGCANCELED"):
                ms = int(e.data[0]) if e.data and e.data[0].isdigit() else 0
                if state == "ready":
                    close(max(since, e.time_ms - ms), "ringing")
                    close(e.time_ms, "ready")
                ring_end[e.callid] = e.time_ms
            elif ev == "CONNECT":
                if len(e.data) > 3 and e.data[3].isdigit():           # ours: the ring time in ms
                    ring_ms = int(e.data[3])
                else:                                                   # Asterisk's: whole seconds
                    ring_ms = int(e.data[2]) * 1000 if len(e.data) > 2 and e.data[2].isdigit() else 0
                if state == "ready":
                    close(max(since, e.time_ms - ring_ms), "ringing")
                close(e.time_ms, "talking")
            elif ev in ENDS:
                close(e.time_ms, "wrap-up")
            elif ev == "WRAPUPEND":
                close(e.time_ms, "ready")
        if state is not None and until_ms is not None and until_ms > since:
            out.append({"agent": agent, "state": state, "code": code, "start_ms": since, "end_ms": until_ms})
    return out


def _ratio(a, b):
    return None if not b else a / b


def queue_kpis(entries, *, sl_s: float = 20, sl2_s: float | None = None, short_abandon_s: float = 5,
               group=lambda r: r["queue"]) -> list[dict]:
    """KPIs per group of queue visits (by default per queue)."""
    groups: dict = defaultdict(list)
    for r in call_waits(entries):
        groups[group(r)].append(r)
    wraps = defaultdict(list)                 # agent -> wrap-up ms list, in order
    for e in sorted(entries, key=lambda e: e.time_ms):
        if e.event == "WRAPUPEND" and e.data and e.data[0].isdigit():
            wraps[e.agent].append(int(e.data[0]) * 1000)
    out = []
    for key in sorted(groups, key=str):
        rows = groups[key]
        answered = [r for r in rows if r["wait_ms"] is not None and r["agent"] is not None]
        short = [r for r in rows if r["outcome"] == "abandon" and r["wait_ms"] < short_abandon_s * 1000]
        abandoned = [r for r in rows if r["outcome"] == "abandon" and r["wait_ms"] >= short_abandon_s * 1000]
        handled = [r for r in answered if r["talk_ms"] is not None]
        base = len(rows) - len(short)
        waits = [r["wait_ms"] for r in rows if r["wait_ms"] is not None]
        talk = sum(r["talk_ms"] for r in handled)
        hold = sum(r["hold_ms"] for r in handled)
        row = {"group": key, "offered": len(rows), "answered": len(answered), "abandoned": len(abandoned),
               "short_abandoned": len(short),
               "timed_out": sum(r["outcome"] == "exitwithtimeout" for r in rows),
               "left_by_key": sum(r["outcome"] == "exitwithkey" for r in rows),
               "left_empty": sum(r["outcome"] == "exitempty" for r in rows),
               "service_level_rate": _ratio(sum(r["wait_ms"] <= sl_s * 1000 for r in answered), base),
               "abandon_rate": _ratio(len(abandoned), base),
               "asa_s": _ratio(sum(r["wait_ms"] for r in answered) / 1000, len(answered)),
               "longest_wait_s": max(waits) / 1000 if waits else None,
               "talk_s": talk / 1000, "hold_s": hold / 1000,
               "transfer_rate": _ratio(sum(r["outcome"] == "transferred" for r in rows), len(answered))}
        if sl2_s is not None:
            row["service_level2_rate"] = _ratio(sum(r["wait_ms"] <= sl2_s * 1000 for r in answered), base)
        out.append(row)
    # AHT needs each call's wrap-up: the agent's WRAPUPEND that follows the call's end
    per_call_wrap = _wrap_per_call(entries)
    for row in out:
        rows = groups[row["group"]]
        handled = [r for r in rows if r["talk_ms"] is not None]
        total = sum(r["talk_ms"] + r["hold_ms"] + per_call_wrap.get((r["call"], r["queue"]), 0) for r in handled)
        row["wrapup_s"] = sum(per_call_wrap.get((r["call"], r["queue"]), 0) for r in handled) / 1000
        row["aht_s"] = _ratio(total / 1000, len(handled))
        for k in ("asa_s", "aht_s"):
            if row[k] is not None:
                row[k] = round(row[k], 2)           # to the hundredth of a second
    return out


def _wrap_per_call(entries) -> dict:
    last: dict[str, tuple[str, str]] = {}
    out = {}
    for e in sorted(entries, key=lambda e: e.time_ms):
        if e.event in ENDS:
            last[e.agent] = (e.callid, e.queue)
        elif e.event == "WRAPUPEND" and e.agent in last:
            out[last.pop(e.agent)] = int(e.data[0]) * 1000 if e.data and e.data[0].isdigit() else 0
    return out


def agent_kpis(entries, until_ms: int | None = None) -> list[dict]:
    """Per agent: logged-in time, time per state and per pause code, calls answered, talk time,
    occupancy and utilisation."""
    states = agent_states(entries, until_ms)
    waits = call_waits(entries)
    out = []
    for agent in sorted({s["agent"] for s in states}):
        mine = [s for s in states if s["agent"] == agent]
        t = defaultdict(int)
        pauses = defaultdict(int)
        for s in mine:
            t[s["state"]] += s["end_ms"] - s["start_ms"]
            if s["state"] == "paused":
                pauses[s["code"] or "(none)"] += s["end_ms"] - s["start_ms"]
        logged = sum(t.values())
        handling = t["ringing"] + t["talking"] + t["wrap-up"]
        calls = [w for w in waits if w["agent"] == agent]
        out.append({"agent": agent, "logged_in_s": logged / 1000, "ready_s": t["ready"] / 1000,
                    "paused_s": t["paused"] / 1000, "ringing_s": t["ringing"] / 1000,
                    "talking_s": t["talking"] / 1000, "wrapup_s": t["wrap-up"] / 1000,
                    "pauses": {k: v / 1000 for k, v in sorted(pauses.items())},
                    "answered": len(calls), "talk_s": sum(c["talk_ms"] or 0 for c in calls) / 1000,
                    "occupancy_rate": _ratio(handling, handling + t["ready"]),
                    "utilisation_rate": _ratio(handling, logged)})
    return out


def missed_calls(entries) -> list[dict]:
    """Calls that left without ever reaching an agent (every queue visit of the call id missed)."""
    by_call: dict[str, list] = defaultdict(list)
    for e in sorted(entries, key=lambda e: e.time_ms):
        if e.callid != "NONE":
            by_call[e.callid].append(e)
    out = []
    for call, evs in by_call.items():
        if any(e.event == "CONNECT" for e in evs):
            continue
        last = evs[-1]
        if last.event in MISSED:
            caller = next((e.data[1] for e in evs if e.event in ("ENTERQUEUE", "FULL", "JOINEMPTY", "CLOSED")
                           and len(e.data) > 1), "")
            out.append({"call": call, "queue": last.queue, "caller": caller, "reason": last.event,
                        "time_ms": last.time_ms})
    return out
