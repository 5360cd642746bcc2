"""Shift operations: the shift notice (who sits where), attendance from log-ins, the floor work
log whose open items carry over to the next shift until closed, the handover with the shift's
KPIs, and notices agents must acknowledge.

A work-log item belongs to the shift that opened it and stays on every later shift's handover
until someone closes it with a result, so nothing is lost between shifts.
"""
from __future__ import annotations

from contract.clock import now_ms
from hub.acd import kpi, qa, store
from hub.acd.errors import AcdError
from hub.acd.tables import Notice, NoticeAck, Shift, ShiftSeat, WorkItem
from hub.store.db import write_transaction

KINDS = ("notice", "staffing", "task", "customer", "note")
EARLY_MS = 30 * 60_000          # a log-in up to 30 minutes before the shift counts for it


def add_shift(code: str, start_ms: int, end_ms: int, supervisor: str = "", seats: dict[str, str] | None = None) -> dict:
    if not code or len(code) > 64:
        raise AcdError("a shift needs a code of 1 to 64 characters")
    if end_ms <= start_ms:
        raise AcdError(f"shift {code}: the end must be after the start")
    with write_transaction():
        if Shift.get_or_none(Shift.code == code) is not None:
            raise AcdError(f"shift {code} exists already")
        Shift.create(code=code, start_ms=start_ms, end_ms=end_ms, supervisor=supervisor)
        for agent, seat in (seats or {}).items():
            ShiftSeat.create(shift=code, agent=agent, seat=seat)
    return {"shift": code, "seats": len(seats or {})}


def get_shift(code: str) -> Shift:
    s = Shift.get_or_none(Shift.code == code)
    if s is None:
        raise AcdError(f"no shift {code!r}")
    return s


def seating(code: str) -> list[dict]:
    """The shift notice: every agent on the shift and their seat."""
    s = get_shift(code)
    return [{"shift": code, "agent": r.agent, "seat": r.seat, "start_ms": s.start_ms, "end_ms": s.end_ms,
             "supervisor": s.supervisor} for r in ShiftSeat.select().where(ShiftSeat.shift == code).order_by(ShiftSeat.agent)]


def attendance(code: str, grace_s: float = 300) -> list[dict]:
    """Per rostered agent: their first log-in for the shift (from the queue log), and present /
    late (after start + grace) / absent."""
    s = get_shift(code)
    logins = {}
    for e in store.entries(s.start_ms - EARLY_MS, s.end_ms):
        if e.event == "AGENTLOGIN" and e.agent not in logins:
            logins[e.agent] = e
    out = []
    for r in ShiftSeat.select().where(ShiftSeat.shift == code).order_by(ShiftSeat.agent):
        e = logins.get(r.agent)
        status = "absent" if e is None else ("late" if e.time_ms > s.start_ms + grace_s * 1000 else "present")
        out.append({"agent": r.agent, "seat": r.seat, "login_ms": e.time_ms if e else None,
                    "logged_in_at_seat": (e.data[0] if e and e.data else "") if e else "", "status": status})
    return out


def log_item(code: str, text: str, kind: str = "note") -> dict:
    get_shift(code)
    if kind not in KINDS:
        raise AcdError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
    if not text.strip():
        raise AcdError("a work-log item needs text")
    with write_transaction():
        item = WorkItem.create(opened_shift=code, opened_ms=now_ms(), kind=kind, text=text)
    return {"id": item.id, "shift": code, "kind": kind}


def close_item(item_id: int, code: str, result: str) -> dict:
    get_shift(code)
    with write_transaction():
        item = WorkItem.get_or_none(WorkItem.id == item_id)
        if item is None:
            raise AcdError(f"no work-log item {item_id}")
        if item.status == "closed":
            raise AcdError(f"work-log item {item_id} was closed by shift {item.closed_shift}")
        item.status, item.closed_shift, item.closed_ms, item.result = "closed", code, now_ms(), result
        item.save()
    return {"id": item_id, "status": "closed", "shift": code}


def items(open_only: bool = False) -> list[dict]:
    q = WorkItem.select().order_by(WorkItem.id)
    if open_only:
        q = q.where(WorkItem.status == "open")
    return [{"id": i.id, "opened_shift": i.opened_shift, "opened_ms": i.opened_ms, "kind": i.kind, "text": i.text,
             "status": i.status, "closed_shift": i.closed_shift or "", "result": i.result} for i in q]


def add_notice(code: str, text: str) -> dict:
    get_shift(code)
    if not text.strip():
        raise AcdError("a notice needs text")
    with write_transaction():
        n = Notice.create(shift=code, text=text, created_ms=now_ms())
    return {"id": n.id, "shift": code}


def ack(notice_id: int, agent: str) -> dict:
    with write_transaction():
        if Notice.get_or_none(Notice.id == notice_id) is None:
            raise AcdError(f"no notice {notice_id}")
        NoticeAck.insert(notice=notice_id, agent=agent, ack_ms=now_ms()).on_conflict_ignore().execute()
    return {"notice": notice_id, "agent": agent}


def notices(agent: str | None = None) -> list[dict]:
    """Every notice with who acknowledged it; with ``agent``, the ones that agent has not yet."""
    acks: dict[int, set] = {}
    for a in NoticeAck.select():
        acks.setdefault(a.notice, set()).add(a.agent)
    out = []
    for n in Notice.select().order_by(Notice.id):
        got = acks.get(n.id, set())
        if agent and agent in got:
            continue
        out.append({"id": n.id, "shift": n.shift, "created_ms": n.created_ms, "text": n.text,
                    "acknowledged_by": ", ".join(sorted(got))})
    return out


def handover(code: str) -> dict:
    """What the outgoing shift hands over: its KPIs (answer rate, utilisation, quality; outbound
    efficiency once outbound campaigns log their calls; quality: the mean QA score of the shift's
    answered calls), attendance, the open work-log items
    (carried over) and the notices not yet acknowledged by everyone on the shift."""
    s = get_shift(code)
    evs = store.entries(s.start_ms, s.end_ms)
    q = kpi.queue_kpis(evs, group=lambda r: "all")
    agents = kpi.agent_kpis(evs, s.end_ms)
    logged = sum(a["logged_in_s"] for a in agents)
    handling = sum(a["ringing_s"] + a["talking_s"] + a["wrapup_s"] for a in agents)
    k = q[0] if q else {"offered": 0, "answered": 0, "service_level_rate": None, "abandoned": 0}
    rostered = {r.agent for r in ShiftSeat.select().where(ShiftSeat.shift == code)}
    unacked = [n for n in notices() if rostered - set(filter(None, n["acknowledged_by"].split(", ")))]
    return {"shift": code, "start_ms": s.start_ms, "end_ms": s.end_ms, "supervisor": s.supervisor,
            "kpis": {"offered": k["offered"], "answered": k["answered"], "abandoned": k["abandoned"],
                     "answer_rate": k["answered"] / k["offered"] if k["offered"] else None,
                     "service_level_rate": k["service_level_rate"],
                     "utilisation_rate": handling / logged if logged else None,
                     "quality": qa.mean_score({e.callid for e in evs if e.event == "CONNECT"}),
                     "outbound_efficiency": None},
            "attendance": attendance(code), "open_items": items(open_only=True), "unacknowledged_notices": unacked}
