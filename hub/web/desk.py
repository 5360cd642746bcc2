"""The call center's pages: the agent desk (state buttons, the screen pop, the knowledge base)
and the supervisor's wallboard.

Both read the running engine through the store (``hub.acd.presence``): the PBX writes its
snapshot when it changes, the pages' live feeds look at it every ``POLL_S``.  A state button adds a
request the PBX carries out; the page waits for its result (at most ``create_app``'s ``command_wait_s``).  The
agent's ACD id is their console user name (the ``id`` in the queues file).
"""
from __future__ import annotations

import asyncio

from markupsafe import Markup, escape
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse

from hub.access.roles import may
from hub.web import security
from hub.web.live import html_feed
from hub.web.views import base, env, fragment, int_param, page, render

POLL_S = 0.2
PAUSE_CODES = ("break", "lunch", "training", "meeting", "after-call work")
SL_TARGET = 0.8
INTERVAL_MS = 30 * 60_000          # the wallboard's "this interval": the current half hour


def _marked(snippet: str) -> Markup:
    """A knowledge-base snippet (terms between 【】) as HTML: escaped, the terms in <mark>."""
    return Markup(str(escape(snippet)).replace("【", "<mark>").replace("】", "</mark>"))


env.filters["marked"] = _marked


def _secs(ms) -> str:
    if not isinstance(ms, int) or ms < 0:
        return ""
    s = ms // 1000
    return f"{s // 60}:{s % 60:02d}" if s < 3600 else f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


env.filters["mmss"] = _secs


# --- the agent desk ----------------------------------------------------------------------------
def pop_data(number: str | None, call: dict | None = None) -> dict:
    """The screen pop for a caller's number: ``hub.crm.lookup.lookup`` (an unreadable number is
    shown as such, not an error)."""
    from hub.crm.customers import CrmError
    from hub.crm.lookup import lookup
    from hub.crm.workorders.flow import KINDS
    if not number:
        return {"number": "", "who": None, "error": None, "call": call, "kinds": KINDS, "chats": []}
    try:
        who = lookup(number)
    except CrmError as e:
        return {"number": number, "who": None, "error": str(e), "call": call, "kinds": KINDS, "chats": []}
    from hub.chat.chats import for_phone
    return {"number": number, "who": who, "error": None, "call": call, "kinds": KINDS, "chats": for_phone(who["phone"])}


def chat_data(me: str, call: dict | None) -> dict:
    """The chat the agent holds (ringing or connected), with its transcript; empty otherwise."""
    from hub.chat import chats
    if not call or not chats.is_chat(call.get("call")):
        return {"chat": None, "messages": [], "me": me, "phrases": []}
    try:
        c = chats.get(call["call"])
    except chats.ChatError:
        return {"chat": None, "messages": [], "me": me, "phrases": []}
    return {"chat": c, "messages": chats.transcript(c["id"]), "me": me, "phrases": _phrases()}


def state_data(agent: str) -> dict:
    from contract.clock import now_ms
    from hub.acd import presence
    v = presence.agent_view(agent)
    return {**v, "now": now_ms(), "pause_codes": PAUSE_CODES}


@page("agent_desk")
def agent_page(request: Request):
    me = request.state.user.username
    result = _result(request)
    st = state_data(me)
    call = st["call"]
    pop = pop_data(call["caller"] if call else None, call)
    from hub.acd.callbacks import OUTCOMES
    from hub.acd.dispositions import CODES
    return render(request, "agent.html", me=me, result=result, st=st, pop=pop, phrases=_phrases(),
                  chat_panel=chat_data(me, call), callbacks=my_callbacks(me), outcomes=list(OUTCOMES),
                  done=request.session.pop("done", ""), codes=CODES)


def _phrases() -> list[dict]:
    from hub.kb.articles import phrases
    return phrases()[:50]


@page("agent_desk")
def agent_state(request: Request):
    """A state button: ``command`` login (with ``seat``), ready, pause (with ``code``), logout."""
    from hub.acd.errors import AcdError
    f, me = request.state.form, request.state.user.username
    command = str(f.get("command") or "")
    arg = str(f.get("seat") or me) if command == "login" else str(f.get("code") or "") if command == "pause" else ""
    try:
        cid = _ask(request, command, arg)
    except AcdError as e:
        return render(request, "error.html", 400, title="Cannot do that", message=str(e))
    return RedirectResponse(f"{base(request)}/agent?cmd={cid}", 303)


def _ask(request: Request, command: str, arg: str) -> int:
    """Hand the request to the PBX through the store and wait (at most ``command_wait_s``) for
    it to be carried out; audited.  The command's id."""
    return _ask_result(request, command, arg)["id"]


def _ask_result(request: Request, command: str, arg: str) -> dict:
    from hub.access import audit
    from hub.acd import presence
    me = request.state.user.username
    c = presence.ask(me, command, arg, request.app.state.command_wait_s)
    audit.record(me, f"agent.{command}", me, arg, security.address(request))
    return c


def _result(request: Request) -> dict | None:
    """The outcome of the user's own request ``?cmd=ID`` (after a state or supervision button)."""
    from hub.acd import presence
    if not request.query_params.get("cmd"):
        return None
    r = presence.command(int_param(request.query_params.get("cmd"), 0, 0, 2**62))
    return r if r is not None and r["agent"] == request.state.user.username else None


@page("agent_desk")
def agent_chat(request: Request):
    """The agent's chat buttons: ``action`` answer (accept the ringing chat), say (``text``), end."""
    from hub.chat import chats
    f, me = request.state.form, request.state.user.username
    action, chat_id = str(f.get("action") or ""), str(f.get("chat") or "")[:40]
    try:
        c = chats.get(chat_id)
        if action == "answer":
            r = _ask_result(request, "chat-answer", chat_id)
            if r["done_ms"] is None or not r["result"]["ok"]:
                raise chats.ChatError(r["result"]["error"] if r["result"] else "the PBX did not answer in time")
            chats.answered(chat_id, me)
        elif c["agent"] != me or c["state"] != "talking":
            raise chats.ChatError("this chat is not yours to write in")
        elif action == "say":
            chats.say(chat_id, "agent", str(f.get("text") or ""), author=request.state.user.display_name or me)
        elif action == "end":
            _ask_result(request, "chat-end", chat_id)
            chats.ended(chat_id, "agent")
        else:
            raise chats.ChatError(f"unknown chat action {action[:20]!r}")
    except chats.ChatError as e:
        return render(request, "error.html", 400, title="Cannot do that", message=str(e))
    return RedirectResponse(f"{base(request)}/agent", 303)


@page("agent_desk")
def pop_action(request: Request):
    """What an agent does from the pop for the caller ``phone``: ``sms`` (``text``), ``pickup``
    (``address``, ``parcels``, ``hours``: the window from now), ``callback`` (on my list)."""
    from contract.clock import now_ms
    from hub.access import audit
    from hub.acd import callbacks
    from hub.acd.errors import AcdError
    from hub.business import pickup
    from hub.crm import records
    from hub.crm.customers import CrmError
    from hub.sms.queue import SmsError, enqueue
    f, me = request.state.form, request.state.user.username
    action, phone = request.path_params["action"], str(f.get("phone") or "").strip()[:40]
    try:
        if action == "sms":
            mid = enqueue(phone, text=str(f.get("text") or "")[:1000], waybill=str(f.get("waybill") or "")[:40] or None)
            done = f"SMS {mid} queued to {phone}"
        elif action == "pickup":
            hours = int_param(str(f.get("hours") or ""), 4, 1, 72)
            now = now_ms()
            t = pickup.add(address=str(f.get("address") or ""), phone=phone,
                           parcels=int_param(str(f.get("parcels") or ""), 1, 1, 999), window_from_ms=now,
                           window_to_ms=now + hours * 3_600_000, sender=str(f.get("name") or "")[:80],
                           note=str(f.get("note") or "")[:500], site=str(f.get("site") or "").strip() or None,
                           source="agent", created_by=me)
            done = f"pickup {t['code']} for site {t['site']}"
        elif action == "quote":
            cust = str(f.get("customer_id") or "")
            if not cust.isdigit():
                raise CrmError("a quote is kept with a customer: this number has none (add them in the CRM)")
            q = records.add(int(cust), {k: str(f.get(k) or "").strip() or None
                                        for k in ("origin", "dest", "container", "carrier", "rate")})
            done = f"quote {q['id']} {q['origin']} → {q['dest']}"
        elif action == "callback":
            cb = callbacks.request(phone, me, str(f.get("queue") or "")[:128])
            done = f"callback {cb['id']} on your list"
        else:
            return render(request, "error.html", 404, title="Not found", message="no such action")
    except (SmsError, pickup.PickupError, AcdError, CrmError) as e:
        return render(request, "error.html", 400, title="Cannot do that", message=str(e))
    audit.record(me, f"pop.{action}", phone, done, security.address(request))
    request.session["done"] = done[:200]          # shown once by the desk (never taken from the URL)
    return RedirectResponse(f"{base(request)}/agent", 303)


@page("agent_desk")
def disposition(request: Request):
    """Wrap-up: how the agent's last call ended (``code``, ``note``)."""
    from hub.acd import dispositions
    from hub.acd.errors import AcdError
    f, me = request.state.form, request.state.user.username
    try:
        d = dispositions.record(dispositions.last_call(me) or "", me, str(f.get("code") or ""),
                                str(f.get("note") or ""))
    except AcdError as e:
        return render(request, "error.html", 400, title="Cannot do that", message=str(e))
    request.session["done"] = f"call {d['call']}: {d['code']}"[:200]
    return RedirectResponse(f"{base(request)}/agent", 303)


@page("agent_desk")
def callback_action(request: Request):
    """The desk's callback list: ``take`` an entry, or record an attempt's ``outcome``."""
    from hub.access import audit
    from hub.acd import callbacks
    from hub.acd.errors import AcdError
    f, me = request.state.form, request.state.user.username
    cid = int_param(str(f.get("id") or ""), 0, 1, 2**62)
    try:
        if f.get("take"):
            callbacks.assign(cid, me)
        else:
            callbacks.attempt(cid, me, str(f.get("outcome") or ""), str(f.get("note") or "")[:500])
    except AcdError as e:
        return render(request, "error.html", 400, title="Cannot do that", message=str(e))
    audit.record(me, "callback", str(cid), str(f.get("outcome") or "take"), security.address(request))
    return RedirectResponse(f"{base(request)}/agent", 303)


def my_callbacks(me: str) -> list[dict]:
    from hub.acd import callbacks
    return [c for c in callbacks.listing("open") if c["assignee"] in ("", me)][:30]


@page("agent_desk")
def pop_page(request: Request):
    """The screen pop for a number typed in (a callback, a caller who gave another number)."""
    number = (request.query_params.get("number") or "").strip()[:40]
    return render(request, "agent_pop.html", pop=pop_data(number))


@page("agent_desk")
def kb_search(request: Request):
    """Knowledge-base hits for ``q`` (the desk's search box; a fragment for htmx)."""
    from hub.kb.search import SearchError, search
    q = (request.query_params.get("q") or "").strip()[:200]
    hits, error = [], None
    if q:
        try:
            hits = search(q, limit=20)
        except SearchError as e:
            error = str(e)
    html = fragment("_kb.html", q=q, hits=hits, error=error, root=base(request))
    from starlette.responses import HTMLResponse
    return HTMLResponse(html)


async def _session(request: Request, permission: str):
    user = await run_in_threadpool(security.session_user, request)
    if user is None or not may(user.role, permission):
        return None
    return user


async def agent_events(request: Request):
    """The desk's live feed: ``state`` (the state panel) when it changes, ``pop`` (the screen
    pop) when the agent is rung or answers a new call."""
    user = await _session(request, "agent_desk")
    if user is None:
        return PlainTextResponse("log in as an agent", 403)
    root = base(request)

    csrf = security.csrf_token(request)

    def read(last_call):
        st = state_data(user.username)
        call = st["call"]
        out = {"state": fragment("_agent_state.html", st=st, root=root),
               "chat": fragment("_agent_chat.html", root=root, csrf=csrf, **chat_data(user.username, call))}
        if call and call["call"] != last_call:
            out["pop"] = fragment("_pop.html", pop=pop_data(call["caller"], call), root=root, csrf=csrf)
        return out, (call["call"] if call else last_call)

    async def feed():
        sent_state, sent_chat, last_call = None, None, None
        first = True
        while True:
            try:
                parts, now_call = await run_in_threadpool(read, last_call)
            except Exception:          # noqa: BLE001 - a store that cannot be read now is tried again
                parts, now_call = {}, last_call
            if first:                  # the page already shows the pop of the call it opened with
                parts.pop("pop", None)
                first = False
            last_call = now_call
            if parts.get("state") is not None and parts["state"] != sent_state:
                sent_state = parts["state"]
                yield {"event": "state", "data": sent_state}
            if parts.get("chat") is not None and parts["chat"] != sent_chat:
                sent_chat = parts["chat"]
                yield {"event": "chat", "data": sent_chat}
            if "pop" in parts:
                yield {"event": "pop", "data": parts["pop"]}
            await asyncio.sleep(POLL_S)

    return EventSourceResponse(feed(), ping=15)


# --- the wallboard -----------------------------------------------------------------------------
_day_cache: tuple = (None, None)


def _day_figures(today: int, start: int, now: int) -> tuple[dict, dict, dict, dict]:
    """Today's queue figures from the queue log: per queue, per queue since ``start`` (this
    interval), per hour, and calls answered per agent.  Read and computed again only when the
    log has a new entry (or the day or interval turned): a wallboard refreshes every second, for
    every supervisor watching, and most seconds nothing was logged."""
    global _day_cache
    from collections import Counter

    import peewee

    from hub.acd import kpi
    from hub.acd import store as qstore
    from hub.acd.tables import QueueLogEntry
    from hub.store.db import database
    last = QueueLogEntry.select(peewee.fn.MAX(QueueLogEntry.id)).scalar()
    key = (id(database.obj), getattr(database.obj, "_scanhub_key", None), today, start, last)
    if _day_cache[0] == key:
        return _day_cache[1]
    entries = qstore.entries(today, now + 1)
    figures = ({k["group"]: k for k in kpi.queue_kpis(entries)},
               {k["group"]: k for k in kpi.queue_kpis([e for e in entries if e.time_ms >= start])},
               {k["group"]: k for k in kpi.queue_kpis(entries, group=lambda r: (r["entered_ms"] - today) // 3_600_000)},
               Counter(w["agent"] for w in kpi.call_waits(entries) if w["agent"]))
    _day_cache = (key, figures)
    return figures


def wallboard_data() -> dict:
    """Queues now (waiting, longest wait) and today (offered, answered, abandoned, SL, ASA, AHT),
    agents with their state and its duration and today's answered calls, the callback list and
    the alarms (SL under target, stations offline, no PBX writing)."""
    from contract.clock import now_ms
    from hub.acd import callbacks, presence
    from hub.business.localtime import network_offset
    from hub.business.sign_rate import period_of, period_start
    from hub.network.stations import station_states
    now, off = now_ms(), network_offset()
    today = period_start(period_of(now, "day", off), off)
    live = presence.live(now)
    start = today + (now - today) // INTERVAL_MS * INTERVAL_MS
    kpis, interval, by_hour, answered = _day_figures(today, start, now)
    queues = sorted({c["queue"] for c in live["calls"]} | set(kpis))
    rows = []
    for q in queues:
        waiting = [c for c in live["calls"] if c["queue"] == q and c["state"] != "talking"]
        k = kpis.get(q, {})
        rows.append({"queue": q, "waiting": len(waiting),
                     "longest_ms": max((c["waited_ms"] for c in waiting), default=None),
                     "talking": sum(c["queue"] == q and c["state"] == "talking" for c in live["calls"]),
                     "offered": k.get("offered", 0), "answered": k.get("answered", 0),
                     "abandoned": k.get("abandoned", 0), "sl": k.get("service_level_rate"),
                     "sl_interval": interval.get(q, {}).get("service_level_rate"),
                     "asa_s": k.get("asa_s"), "aht_s": k.get("aht_s")})
    agents = [{**a, "for_ms": now - a["since_ms"] if a.get("since_ms") else None,
               "answered": answered.get(a["agent"], 0)} for a in live["agents"]]
    alarms = []
    if live["updated_ms"] is None:
        alarms.append("no PBX has written the queues' state: is `scanhub pbx run` running with --queues?")
    elif live["stale"]:
        alarms.append(f"the PBX has not written the queues' state for {(now - live['updated_ms']) // 1000} s")
    for r in rows:
        if r["sl"] is not None and r["sl"] < SL_TARGET:
            alarms.append(f"queue {r['queue']}: service level today {r['sl'] * 100:.0f}% is under "
                          f"the target {SL_TARGET * 100:.0f}%")
    from hub.telephony.cdr import active
    for sp in active()["spans"]:
        if sp["colour"] != "OK" or sp["alarms"]:
            alarms.append(f"E1 span {sp['trunk']} (span {sp['span']}): {sp['colour']} {sp['alarms']}".strip())
    offline = [s["station"] for s in station_states() if s["state"] == "offline"]
    if offline:
        alarms.append(f"stations offline: {', '.join(offline[:10])}" + (" …" if len(offline) > 10 else ""))
    hours = [{"hour": h, "offered": by_hour.get(h, {}).get("offered", 0), "answered": by_hour.get(h, {}).get("answered", 0),
              "sl": by_hour.get(h, {}).get("service_level_rate")} for h in range(24)]
    return {"queues": rows, "agents": agents, "alarms": alarms, "now": now, "hours": hours,
            "interval_from": start,
            "hours_max": max([h["offered"] for h in hours] + [1]),
            "callbacks": callbacks.listing("open")[:20], "updated_ms": live["updated_ms"]}


SUPERVISE_MODES = ("listen", "whisper", "barge", "takeover")


@page("wallboard")
def wallboard(request: Request):
    return render(request, "wallboard.html", result=_result(request), seat=request.session.get("sup_seat", ""),
                  **wallboard_data())


@page("wallboard")
def supervise(request: Request):
    """A supervision button: ``target`` is "MODE CALL", ``seat`` the phone to do it from."""
    from hub.acd.errors import AcdError
    f = request.state.form
    mode, _, call = str(f.get("target") or "").partition(" ")
    seat = str(f.get("seat") or "").strip()[:64]
    if mode not in SUPERVISE_MODES or not call.strip() or not seat:
        return render(request, "error.html", 400, title="Cannot do that",
                      message="Choose listen, whisper, barge or take over on a call, with the seat whose phone you use.")
    request.session["sup_seat"] = seat
    try:
        cid = _ask(request, "supervise", f"{mode} {call.strip()[:128]} {seat}")
    except AcdError as e:
        return render(request, "error.html", 400, title="Cannot do that", message=str(e))
    return RedirectResponse(f"{base(request)}/wallboard?cmd={cid}", 303)


async def wallboard_events(request: Request):
    user = await _session(request, "wallboard")
    if user is None:
        return PlainTextResponse("log in as a supervisor", 403)
    root, every = base(request), max(POLL_S, min(1.0, request.app.state.refresh_s))
    feed = html_feed("board", lambda: fragment("_wallboard.html", root=root, **wallboard_data()), every)
    return EventSourceResponse(feed, ping=15)
