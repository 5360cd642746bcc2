"""Work orders: open, assign, move through the flow's steps, reply, verify, close, reopen; the
reminders and escalations that fire once; what the customer and the opening agent see.

Every change is one transaction on the order and its events; the customer's notice for the new
step goes out after it (``notices``).  Times are UTC ms; ``at_ms`` (default now) lets a caller
give the time of the change (imports, tests).

Reminders and escalations are derived from stored state: ``remind(now)`` looks at every open
order's current step and deadline, and records each reminder and escalation with a unique key
(order, step, deadline), so running it again, or after a restart, neither repeats nor loses one.
"""
from __future__ import annotations

import os

import peewee

from contract.clock import now_ms
from contract.phone import PhoneError, e164
from hub.business.localtime import network_offset
from hub.crm.workorders import notices
from hub.crm.workorders.flow import KINDS, STEP_NAMES, SUBKINDS, Flow, default_flow, load_flow, target_ok
from hub.crm.workorders.rules import responsible
from hub.crm.workorders.tables import WorkOrder, WorkOrderEvent
from hub.errors import HubError
from hub.store.db import database, write_transaction
from hub.store.meta import get_meta, set_meta

FLOW_META = "workorder.flow"
GENDERS = ("", "male", "female", "other")


class WorkOrderError(HubError, ValueError):
    """A request the order cannot take (unknown order, wrong step, bad field)."""


def current_flow() -> Flow:
    """The flow in force: the file ``scanhub workorder flow use`` set, else the standard one."""
    path = get_meta(FLOW_META)
    tz = network_offset()
    return load_flow(path, tz) if path else default_flow(tz)


def use_flow(path: str) -> Flow:
    f = load_flow(os.path.abspath(path), network_offset())
    set_meta(FLOW_META, os.path.abspath(path))
    return f


def _get(ticket: str) -> WorkOrder:
    o = WorkOrder.get_or_none(WorkOrder.ticket == str(ticket).strip().upper())
    if o is None:
        raise WorkOrderError(f"no work order {ticket!r}")
    return o


def _event(o: WorkOrder, at: int, action: str, actor: str = "", text: str = "", step: str | None = None,
           deadline_ms: int | None = None, once: str | None = None) -> None:
    WorkOrderEvent.create(order=o.id, at_ms=at, action=action, step=o.step if step is None else step,
                          actor=actor[:60], text=text, deadline_ms=deadline_ms, once=once)


def _enter(o: WorkOrder, flow: Flow, step: str, at: int) -> None:
    o.step, o.step_since_ms = step, at
    o.deadline_ms = flow.deadline(step, at) if step != "close" else None


def _notify(o: WorkOrder, flow: Flow, at: int) -> None:
    if o.step in flow.notify and (o.notify_sms or o.notify_email):
        notices.notify(o, o.step, flow.tz_offset_min, at)


def open_work_order(kind: str, *, content: str = "", subkind: str = "", phone: str = "", name: str = "",
                    gender: str = "", address: str = "", email: str = "", waybill: str = "", call_id: str = "",
                    recording: str = "", customer_id: str | int = "", opened_by: str = "", source: str = "agent",
                    source_key: str | None = None, notify_sms: bool = False, notify_email: bool = False,
                    accept: bool | None = None, route: bool = True, at_ms: int | None = None,
                    flow: Flow | None = None) -> dict:
    """Open an order; its ``show`` view.  An order opened by an agent is accepted at once (the
    agent took it on the phone) and, with ``route``, assigned by the flow's rules; one opened
    automatically waits in ``accept``.  ``source_key`` makes it once-only: a second open with the
    same key returns the first order (``"existing": true``)."""
    flow = flow or current_flow()
    at = now_ms() if at_ms is None else at_ms
    if kind not in KINDS:
        raise WorkOrderError(f"unknown kind {kind!r} (kinds: {', '.join(KINDS)})")
    if subkind and subkind not in SUBKINDS.get(kind, ()):
        raise WorkOrderError(f"kind {kind} has no subkind {subkind!r}"
                             + (f" (subkinds: {', '.join(SUBKINDS[kind])})" if kind in SUBKINDS else ""))
    if gender not in GENDERS:
        raise WorkOrderError(f"gender is male, female or other, not {gender!r}")
    norm = ""
    if phone:
        try:
            norm = e164(phone)
        except PhoneError as e:
            raise WorkOrderError(str(e)) from None
    if email and ("@" not in email or any(c in email for c in " \r\n,")):
        raise WorkOrderError(f"bad e-mail address {email!r}")
    if notify_sms and not norm:
        raise WorkOrderError("an SMS notice needs the customer's phone")
    if notify_email and not email:
        raise WorkOrderError("an e-mail notice needs the customer's e-mail address")
    if not recording and call_id:
        from hub.telephony.cdr import recordings
        recording = next((r.get("path") or r.get("file") or "" for r in recordings(call_id=call_id)), "")
    accept = (source == "agent") if accept is None else accept
    with write_transaction():
        if source_key:
            old = WorkOrder.get_or_none(WorkOrder.source_key == source_key)
            if old is not None:
                return dict(show(old.ticket), existing=True)
        o = WorkOrder.create(ticket=f"WO-{os.urandom(6).hex()}", kind=kind, subkind=subkind, flow=flow.name,
                             step="accept", step_since_ms=at, source=source, source_key=source_key,
                             customer_id=str(customer_id or ""), name=name[:80], gender=gender,
                             address=address[:300], phone=norm, email=email, content=content, waybill=waybill,
                             call_id=call_id, recording=str(recording or "")[:300], notify_sms=notify_sms,
                             notify_email=notify_email, opened_by=opened_by, created_ms=at)
        o.ticket = f"WO{o.id:06d}"
        _enter(o, flow, "accept", at)
        _event(o, at, "open", opened_by or source, content[:500])
        if accept:
            _advance(o, flow, at, opened_by, "accepted when opened")
            if route and o.step == "assign":
                _assign(o, flow, None, at, opened_by)
        o.save()
    _notify(o, flow, at)
    return dict(show(o.ticket), existing=False)


def _advance(o: WorkOrder, flow: Flow, at: int, actor: str, text: str = "", action: str | None = None) -> None:
    done = o.step
    _event(o, at, action or done, actor, text, step=done, deadline_ms=o.deadline_ms)
    nxt = flow.next_step(done)
    if nxt is None:
        return
    _enter(o, flow, nxt, at)
    if nxt == "close":
        o.status, o.closed_ms = "closed", at
        _event(o, at, "close", actor, "", step="close")


def _assign(o: WorkOrder, flow: Flow, to: str | None, at: int, actor: str) -> None:
    why = f"by {actor}" if to else ""
    if to is None:
        to, why = responsible(flow, o.kind, o.subkind, o.source, o.waybill)
    if not target_ok(to) or not to.startswith(("site:", "department:")):
        raise WorkOrderError(f"assign to site:CODE or department:NAME, not {to!r}")
    o.assignee = to
    _advance(o, flow, at, actor, f"to {to} ({why})" if why else f"to {to}", action="assign")


def _change(ticket: str, want: tuple[str, ...], fn, at_ms: int | None, status: str = "open") -> dict:
    flow = current_flow()
    at = now_ms() if at_ms is None else at_ms
    with write_transaction():
        o = _get(ticket)
        if o.status != status:
            raise WorkOrderError(f"{o.ticket} is closed (reopen it first)" if status == "open"
                                 else f"{o.ticket} is open (at {o.step})")
        if want and o.step not in want:
            raise WorkOrderError(f"{o.ticket} is at step {o.step} ({STEP_NAMES.get(o.step)}), "
                                 f"not {' or '.join(want)}")
        fn(o, flow, at)
        o.save()
    _notify(o, flow, at)
    return show(o.ticket)


def accept(ticket: str, actor: str = "", at_ms: int | None = None) -> dict:
    return _change(ticket, ("accept",), lambda o, f, at: _advance(o, f, at, actor), at_ms)


def assign(ticket: str, to: str | None = None, actor: str = "", at_ms: int | None = None) -> dict:
    """Assign an order at ``assign`` (or reassign it at ``handle``) to ``to``, or by the rules."""
    def go(o, f, at):
        if o.step == "accept":
            _advance(o, f, at, actor)
        if o.step == "handle":          # a reassignment: the handling starts over with its own deadline
            o.assignee = to or responsible(f, o.kind, o.subkind, o.source, o.waybill)[0]
            _event(o, at, "assign", actor, f"reassigned to {o.assignee}", deadline_ms=o.deadline_ms)
            _enter(o, f, "handle", at)
            return
        _assign(o, f, to, at, actor)
    return _change(ticket, ("accept", "assign", "handle"), go, at_ms)


def handle(ticket: str, note: str, actor: str = "", at_ms: int | None = None) -> dict:
    """The responsible site or department reports what it did: the step ``handle`` is done."""
    def go(o, f, at):
        o.first_response_ms = o.first_response_ms or at
        _advance(o, f, at, actor, note)
    return _change(ticket, ("handle",), go, at_ms)


def reply(ticket: str, text: str, actor: str = "", at_ms: int | None = None) -> dict:
    """The answer to the customer (at ``handle`` it also ends the handling).  It goes out by
    e-mail when the order has an address (threaded with it)."""
    if not text.strip():
        raise WorkOrderError("a reply needs text")

    def go(o, f, at):
        o.first_response_ms = o.first_response_ms or at
        if o.step == "handle":
            _advance(o, f, at, actor, "answered with the reply")
        _advance(o, f, at, actor, text)
    out = _change(ticket, ("handle", "reply"), go, at_ms)
    o = _get(ticket)
    if o.email:
        from hub.mail import send as mail_send
        try:
            mail_send.send(o.email, notices.subject(o, "工单回复"), text, ticket=o.ticket, at_ms=at_ms)
        except HubError as e:
            WorkOrderEvent.create(order=o.id, at_ms=now_ms() if at_ms is None else at_ms, action="notice",
                                  step="reply", text=f"reply e-mail not sent: {e}")
    return out


def verify(ticket: str, note: str = "", actor: str = "", satisfied: bool = True, at_ms: int | None = None) -> dict:
    """The call center checks with the customer: satisfied ends ``verify`` (the order closes);
    not satisfied sends it back to ``handle``."""
    def go(o, f, at):
        if satisfied:
            _advance(o, f, at, actor, note)
        else:
            _event(o, at, "verify", actor, f"not satisfied: {note}", deadline_ms=o.deadline_ms)
            _enter(o, f, "handle", at)
    return _change(ticket, ("verify",), go, at_ms)


def step(ticket: str, note: str = "", actor: str = "", at_ms: int | None = None) -> dict:
    """End the current step, whatever it is (``accept``, ``handle``, ``reply``, ``verify``)."""
    def go(o, f, at):
        if o.step == "assign":
            _assign(o, f, None, at, actor)
        else:
            if o.step == "handle":
                o.first_response_ms = o.first_response_ms or at
            _advance(o, f, at, actor, note)
    return _change(ticket, (), go, at_ms)


def close(ticket: str, note: str = "", actor: str = "", at_ms: int | None = None) -> dict:
    """Close an order at any step (a duplicate, solved on the phone): recorded with the note."""
    if not note.strip():
        raise WorkOrderError("closing early needs a note saying why")

    def go(o, f, at):
        _event(o, at, "close", actor, note, deadline_ms=o.deadline_ms)
        o.step, o.step_since_ms, o.deadline_ms, o.status, o.closed_ms = "close", at, None, "closed", at
    return _change(ticket, (), go, at_ms)


def reopen(ticket: str, reason: str, actor: str = "", at_ms: int | None = None) -> dict:
    """A closed order back to ``handle`` (its responsible party keeps it), with a new deadline."""
    if not reason.strip():
        raise WorkOrderError("reopening needs a reason")

    def go(o, f, at):
        o.status, o.closed_ms, o.reopened = "open", None, o.reopened + 1
        _enter(o, f, "handle" if "handle" in f.steps else f.next_step("accept"), at)
        _event(o, at, "reopen", actor, reason)
    return _change(ticket, (), go, at_ms, status="closed")


def note(ticket: str, text: str, actor: str = "", action: str = "note", at_ms: int | None = None) -> None:
    o = _get(ticket)
    _event(o, now_ms() if at_ms is None else at_ms, action, actor, text)


# --- reminders and escalations ---------------------------------------------------------------
def remind(now: int | None = None) -> list[dict]:
    """Record the reminders and escalations due at ``now``; the new ones (each fires once per
    order, step and deadline, however often this runs)."""
    flow = current_flow()
    t = now_ms() if now is None else now
    fired = []
    q = WorkOrder.select().where(WorkOrder.status == "open", WorkOrder.deadline_ms.is_null(False))
    for o in q.order_by(WorkOrder.deadline_ms, WorkOrder.id):
        s = flow.steps.get(o.step)
        if s is None:
            continue
        due = []
        if t >= o.deadline_ms:
            due.append(("escalate", s.escalate_to or o.assignee or o.opened_by))
        elif s.remind_before is not None and t >= o.deadline_ms - s.remind_before:
            due.append(("remind", o.assignee or o.opened_by))
        for action, who in due:
            key = f"{action}:{o.id}:{o.step}:{o.deadline_ms}"
            try:
                with database.atomic():
                    if WorkOrderEvent.select().where(WorkOrderEvent.once == key).exists():
                        continue
                    WorkOrderEvent.create(order=o.id, at_ms=t, action=action, step=o.step, actor="scanhub",
                                          text=f"to {who}" if who else "", deadline_ms=o.deadline_ms, once=key)
            except peewee.IntegrityError:       # another process recorded it first
                continue
            fired.append({"ticket": o.ticket, "action": action, "step": o.step, "to": who,
                          "deadline_ms": o.deadline_ms, "at_ms": t})
    return fired


# --- views -------------------------------------------------------------------------------------
def _row(o: WorkOrder) -> dict:
    return {"ticket": o.ticket, "kind": o.kind, "subkind": o.subkind, "status": o.status, "step": o.step,
            "step_name": STEP_NAMES.get(o.step, o.step), "deadline_ms": o.deadline_ms, "assignee": o.assignee,
            "waybill": o.waybill, "phone": o.phone, "name": o.name, "source": o.source,
            "opened_by": o.opened_by, "created_ms": o.created_ms, "closed_ms": o.closed_ms}


def show(ticket: str) -> dict:
    o = _get(ticket)
    evs = [{"at_ms": e.at_ms, "action": e.action, "step": e.step, "actor": e.actor, "text": e.text,
            "deadline_ms": e.deadline_ms}
           for e in WorkOrderEvent.select().where(WorkOrderEvent.order == o.id)
           .order_by(WorkOrderEvent.at_ms, WorkOrderEvent.id)]
    from hub.mail.threads import thread
    return dict(_row(o), gender=o.gender, address=o.address, email=o.email, content=o.content,
                customer_id=o.customer_id, call_id=o.call_id, recording=o.recording, notify_sms=o.notify_sms,
                notify_email=o.notify_email, first_response_ms=o.first_response_ms, reopened=o.reopened,
                events=evs, mail=thread(o.ticket))


def listing(*, status: str | None = None, kind: str | None = None, assignee: str | None = None,
            phone: str | None = None, waybill: str | None = None, overdue_at: int | None = None,
            limit: int = 500) -> list[dict]:
    q = WorkOrder.select()
    if status:
        q = q.where(WorkOrder.status == status)
    if kind:
        q = q.where(WorkOrder.kind == kind)
    if assignee:
        q = q.where(WorkOrder.assignee == assignee)
    if phone:
        try:
            q = q.where(WorkOrder.phone == e164(phone))
        except PhoneError as e:
            raise WorkOrderError(str(e)) from None
    if waybill:
        q = q.where(WorkOrder.waybill == waybill)
    if overdue_at is not None:
        q = q.where(WorkOrder.status == "open", WorkOrder.deadline_ms < overdue_at)
    return [_row(o) for o in q.order_by(WorkOrder.created_ms.desc(), WorkOrder.id.desc()).limit(limit)]


def customer_status(ticket: str) -> dict | None:
    """What a customer may hear about their order (the IVR with the order number): its step in
    words and the deadline; None for an unknown number."""
    o = WorkOrder.get_or_none(WorkOrder.ticket == str(ticket).strip().upper())
    if o is None and str(ticket).strip().isdigit():
        o = WorkOrder.get_or_none(WorkOrder.id == int(str(ticket).strip()))
    if o is None:
        return None
    return {"ticket": o.ticket, "status": o.status, "step": o.step, "step_name": STEP_NAMES.get(o.step, o.step),
            "deadline_ms": o.deadline_ms}


def feedback(agent: str, since_ms: int | None = None) -> list[dict]:
    """What happened, since ``since_ms``, to the orders ``agent`` opened (their results come back
    to them): every event not by the agent, newest first."""
    E = WorkOrderEvent
    q = (E.select(WorkOrder.ticket, E.at_ms, E.action, E.step, E.actor, E.text)
         .join(WorkOrder, on=(E.order == WorkOrder.id))
         .where(WorkOrder.opened_by == agent, E.actor != agent))
    if since_ms is not None:
        q = q.where(E.at_ms >= since_ms)
    return list(q.order_by(E.at_ms.desc(), E.id.desc()).dicts())
