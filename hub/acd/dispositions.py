"""Dispositions: at wrap-up the agent says how the call (or chat) ended — resolved on the call,
a work order opened, a callback promised, transferred, not resolved — with a note.  One per
call and agent (a second replaces the first); the QA page and reports read them."""
from __future__ import annotations

from contract.clock import now_ms
from hub.acd.errors import AcdError
from hub.acd.tables import Disposition, QueueLogEntry
from hub.store.db import write_transaction

CODES = ("resolved", "work-order", "callback", "transferred", "not-resolved", "other")


def last_call(agent: str) -> str | None:
    """The call the agent was last connected to (the queue log's newest CONNECT)."""
    e = (QueueLogEntry.select(QueueLogEntry.callid).where(QueueLogEntry.agent == agent, QueueLogEntry.event == "CONNECT")
         .order_by(QueueLogEntry.time_ms.desc(), QueueLogEntry.id.desc()).first())
    return e.callid if e else None


def record(callid: str, agent: str, code: str, note: str = "", at_ms: int | None = None) -> dict:
    if code not in CODES:
        raise AcdError(f"unknown disposition {code!r}; one of {', '.join(CODES)}")
    if not callid:
        raise AcdError("no call to dispose of: you have not been connected to one")
    t = now_ms() if at_ms is None else at_ms
    with write_transaction():
        Disposition.delete().where(Disposition.callid == callid, Disposition.agent == agent).execute()
        Disposition.create(callid=callid, agent=agent, code=code, note=str(note or "")[:1000], time_ms=t)
    return {"call": callid, "agent": agent, "code": code, "note": note, "time_ms": t}


def of_calls(callids) -> dict[str, dict]:
    """call -> its newest disposition."""
    ids = sorted(set(callids))
    out: dict[str, dict] = {}
    for i in range(0, len(ids), 500):
        for d in Disposition.select().where(Disposition.callid.in_(ids[i:i + 500])).order_by(Disposition.time_ms):
            out[d.callid] = {"agent": d.agent, "code": d.code, "note": d.note, "time_ms": d.time_ms}
    return out
