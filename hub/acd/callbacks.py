"""The callback list, derived from the stored queue log, so that no missed caller is lost.

Every call that left without reaching an agent (ABANDON, EXITWITHTIMEOUT, EXITWITHKEY, EXITEMPTY,
FULL, JOINEMPTY, CLOSED: abandoned, unanswered, overflowed to voicemail or a callback, missed out
of hours) lands on the list.  One entry per caller stays open: a second missed call from the same
number is folded into it (``missed`` counts them).  ``refresh()`` reads the queue log from its
checkpoint and is idempotent (each call id is recorded with the entry it went to), so running it
late, after a crash, or twice gives the same list.  An entry is closed by a successful attempt, by
too many failed ones, or when the caller got through to an agent on a later call.
"""
from __future__ import annotations

from contract.clock import now_ms
from hub.acd import kpi, store
from hub.acd.errors import AcdError
from hub.acd.tables import Callback, CallbackAttempt, CallbackCall, QueueLogEntry
from hub.store.db import write_transaction
from hub.store.meta import get_meta, set_meta

OPEN = ("open", "assigned")
OUTCOMES = {"reached": "done", "no-answer": None, "busy": None, "voicemail": None, "wrong-number": "failed"}
MAX_ATTEMPTS = 3
_CHECKPOINT = "acd.callbacks_upto"


def refresh() -> dict:
    """Fold the queue log written since the last refresh into the list: ``{"added", "folded", "closed"}``."""
    with write_transaction():
        upto = int(get_meta(_CHECKPOINT, "0") or 0)
        new = QueueLogEntry.select(QueueLogEntry.id, QueueLogEntry.callid).where(QueueLogEntry.id > upto)
        rows = list(new.tuples())
        if not rows:
            return {"added": 0, "folded": 0, "closed": 0}
        last_id = max(r[0] for r in rows)
        calls = {r[1] for r in rows if r[1] != "NONE"}
        evs = store.entries_of_calls(calls)
        added = folded = closed = 0
        done = {c.callid for c in CallbackCall.select(CallbackCall.callid).where(
            CallbackCall.callid.in_(sorted(calls)))} if calls else set()
        for m in sorted(kpi.missed_calls(evs), key=lambda m: m["time_ms"]):
            if m["call"] in done:
                continue
            entry = None
            if m["caller"]:
                entry = (Callback.select().where((Callback.caller == m["caller"]) & Callback.status.in_(OPEN))
                         .order_by(Callback.id).first())
            if entry is None:
                entry = Callback.create(caller=m["caller"], queue=m["queue"], reason=m["reason"], first_ms=m["time_ms"],
                                        last_ms=m["time_ms"], updated_ms=m["time_ms"])
                added += 1
            else:
                entry.missed += 1
                entry.last_ms = max(entry.last_ms, m["time_ms"])
                entry.save()
                folded += 1
            CallbackCall.create(callid=m["call"], callback=entry.id, reason=m["reason"], time_ms=m["time_ms"])
        # a caller who got through later needs no callback
        for w in kpi.call_waits(evs):
            if w["outcome"] in ("answered", "transferred") and w["caller"]:
                connect_ms = w["entered_ms"] + (w["wait_ms"] or 0)
                for cb in Callback.select().where((Callback.caller == w["caller"]) & Callback.status.in_(OPEN)
                                                  & (Callback.last_ms <= connect_ms)):
                    cb.status, cb.outcome, cb.updated_ms = "done", "caller-got-through", connect_ms
                    cb.save()
                    closed += 1
        set_meta(_CHECKPOINT, str(last_id))
    return {"added": added, "folded": folded, "closed": closed}


def _get(cid: int) -> Callback:
    cb = Callback.get_or_none(Callback.id == cid)
    if cb is None:
        raise AcdError(f"no callback {cid}")
    return cb


def listing(status: str | None = "open") -> list[dict]:
    q = Callback.select().order_by(Callback.first_ms, Callback.id)
    if status == "open":
        q = q.where(Callback.status.in_(OPEN))
    elif status not in (None, "all"):
        q = q.where(Callback.status == status)
    return [{"id": c.id, "caller": c.caller or "(no number)", "queue": c.queue, "reason": c.reason,
             "missed": c.missed, "first_ms": c.first_ms, "last_ms": c.last_ms, "status": c.status,
             "assignee": c.assignee or "", "attempts": c.attempts, "outcome": c.outcome or ""} for c in q]


def request(caller: str, agent: str, queue: str = "") -> dict:
    """A callback an agent promises on a call ("we will call you back"): an entry assigned to
    ``agent`` (folded into the caller's open one, if there is one)."""
    caller = str(caller or "").strip()[:128]
    if not caller:
        raise AcdError("a callback needs the number to call")
    t = now_ms()
    with write_transaction():
        cb = Callback.get_or_none((Callback.caller == caller) & Callback.status.in_(OPEN))
        if cb is None:
            cb = Callback.create(caller=caller, queue=queue or "", reason="requested", first_ms=t, last_ms=t,
                                 missed=0, status="assigned", assignee=agent, updated_ms=t)
        else:
            cb.status, cb.assignee, cb.updated_ms = "assigned", agent, t
            cb.save()
    return {"id": cb.id, "status": cb.status, "assignee": agent}


def assign(cid: int, agent: str) -> dict:
    with write_transaction():
        cb = _get(cid)
        if cb.status not in OPEN:
            raise AcdError(f"callback {cid} is {cb.status}: nothing to assign")
        cb.status, cb.assignee, cb.updated_ms = "assigned", agent, now_ms()
        cb.save()
    return {"id": cid, "status": "assigned", "assignee": agent}


def attempt(cid: int, agent: str, outcome: str, note: str = "", max_attempts: int = MAX_ATTEMPTS) -> dict:
    """Record a try: ``reached`` closes it (done), ``wrong-number`` fails it, the others count
    towards ``max_attempts`` (then failed)."""
    if outcome not in OUTCOMES:
        raise AcdError(f"unknown outcome {outcome!r}; one of {', '.join(OUTCOMES)}")
    with write_transaction():
        cb = _get(cid)
        if cb.status not in OPEN:
            raise AcdError(f"callback {cid} is {cb.status} already")
        t = now_ms()
        CallbackAttempt.create(callback=cid, agent=agent, time_ms=t, outcome=outcome, note=note)
        cb.attempts += 1
        cb.outcome, cb.updated_ms = outcome, t
        status = OUTCOMES[outcome] or ("failed" if cb.attempts >= max_attempts else cb.status)
        cb.status = status
        cb.save()
    return {"id": cid, "status": cb.status, "attempts": cb.attempts, "outcome": outcome}


def completion(since_ms: int | None = None, until_ms: int | None = None) -> dict:
    """Callback completion: entries created in the window, and how many were done."""
    q = Callback.select()
    if since_ms is not None:
        q = q.where(Callback.first_ms >= since_ms)
    if until_ms is not None:
        q = q.where(Callback.first_ms < until_ms)
    rows = list(q)
    done = sum(c.status == "done" for c in rows)
    return {"callbacks": len(rows), "done": done, "completion_rate": done / len(rows) if rows else None}
