"""CDRs, call events, recordings and the live view in the hub store: the writer and the queries.

:class:`CdrWriter` is a switch listener: it keeps ``call_live_leg`` as legs change state and, at
``call-end``, writes the call's CDR, its events and its recording's index row in one
transaction.  A store that fails (locked, unreachable) never stops the telephony: the record is
kept in memory and written again with the next one (``pending``).

The queries (``list_calls``, ``show_call``, ``recordings``, ``active``) are what ``scanhub call``
prints; they return plain dicts with times as ``*_ms`` (UTC epoch ms).
"""
from __future__ import annotations

import json
import logging
import os

import peewee

from contract.clock import now_ms
from hub.store.db import database, is_store_failure
from hub.telephony.errors import TelephonyError
from hub.telephony.tables import CallEvent, CallLiveLeg, CallRecord, CallRecording, CallSeat, CallSpan

log = logging.getLogger("scanhub.telephony.cdr")


def cdr_row(call, worker: str) -> dict:
    trunk_leg = next((leg for leg in call.legs if leg.trunk), None)
    seat_leg = next((leg for leg in reversed(call.legs) if leg.seat and leg.state == "ended" and leg.t_answer),
                    None) or next((leg for leg in reversed(call.legs) if leg.seat), None)
    end = call.t_end or now_ms()
    return {"call_id": call.id, "origin": call.origin, "direction": call.direction, "caller": call.caller[:64],
            "callee": call.callee[:64], "trunk": trunk_leg.trunk if trunk_leg else None,
            "channel": trunk_leg.channel[:160] if trunk_leg else None, "seat": seat_leg.seat if seat_leg else None,
            "start_ms": call.t_start, "answer_ms": call.t_answer, "end_ms": end,
            "duration_s": max(0, (end - call.t_start + 500) // 1000), "billable_s": call.billable_s(),
            "disposition": call.disposition or "failed", "legs": len(call.legs), "recording": call.recording,
            "worker": worker}


class CdrWriter:
    def __init__(self, worker: str) -> None:
        self.worker = worker
        self.pending: list = []          # calls whose CDR the store refused for now
        self.written = 0

    def clear_live(self) -> None:
        with database.atomic():
            CallLiveLeg.delete().where(CallLiveLeg.worker == self.worker).execute()
            CallSeat.delete().where(CallSeat.worker == self.worker).execute()
            CallSpan.delete().where(CallSpan.worker == self.worker).execute()

    def spans(self, rows: list[dict]) -> None:
        """The E1 spans' states now (written only when something changed)."""
        key = [{k: v for k, v in r.items()} for r in rows]
        if key == getattr(self, "_last_spans", None):
            return
        self._last_spans = key
        with database.atomic():
            for r in rows:
                CallSpan.insert(**r, updated_ms=now_ms(), worker=self.worker).on_conflict_replace().execute()

    def __call__(self, call, event) -> None:
        try:
            if event.kind in ("leg-offered", "leg-ringing", "leg-answered"):
                self._live(call, call.legs[-1] if event.kind == "leg-offered" else
                           next(leg for leg in call.legs if leg.name == event.leg))
            elif event.kind == "leg-ended":
                CallLiveLeg.delete().where(CallLiveLeg.key == f"{call.id}/{event.leg}").execute()
            elif event.kind == "call-end":
                self.pending.append(call)
                self.flush()
        except peewee.PeeweeException as e:
            if not is_store_failure(e):
                raise
            log.warning("the store refused a call record for now (%s); it is kept and written later", e)

    def _live(self, call, leg) -> None:
        row = {"key": f"{call.id}/{leg.name}", "call_id": call.id, "leg": leg.name, "kind": leg.kind,
               "trunk": leg.trunk, "seat": leg.seat, "channel": leg.channel[:160], "peer": (leg.peer or "")[:64],
               "direction": leg.direction, "state": leg.state, "since_ms": now_ms(), "worker": self.worker}
        CallLiveLeg.insert(**row).on_conflict(conflict_target=[CallLiveLeg.key],
                                              update={CallLiveLeg.state: leg.state,
                                                      CallLiveLeg.since_ms: row["since_ms"]}).execute()

    def flush(self) -> None:
        while self.pending:
            call = self.pending[0]
            with database.atomic():
                row = cdr_row(call, self.worker)
                CallRecord.insert(**row).on_conflict_ignore().execute()
                CallEvent.insert_many([{"call_id": call.id, "seq": i, "t_ms": ev.t_ms, "kind": ev.kind[:32],
                                        "leg": ev.leg, "data": json.dumps(ev.data, ensure_ascii=False, default=str)}
                                       for i, ev in enumerate(call.events)]).on_conflict_ignore().execute()
                if call.recording and os.path.exists(call.recording):
                    size = os.path.getsize(call.recording)
                    CallRecording.insert(call_id=call.id, path=call.recording, caller=row["caller"],
                                         callee=row["callee"], start_ms=row["start_ms"], end_ms=row["end_ms"],
                                         seconds=max(0, (size - 44) // 32000), bytes=size).on_conflict_ignore().execute()
                CallLiveLeg.delete().where(CallLiveLeg.call_id == call.id).execute()
            self.pending.pop(0)
            self.written += 1

    def seats(self, bindings) -> None:
        with database.atomic():
            CallSeat.delete().where(CallSeat.worker == self.worker).execute()
            for b in bindings:
                CallSeat.insert(seat=b.extension, contact=b.contact[:255], expires_ms=int(b.expires_at * 1000),
                                user_agent=b.user_agent[:255], worker=self.worker).on_conflict_replace().execute()


# ------------------------------------------------------------------------ queries
CDR_COLUMNS = ["call_id", "start_ms", "answer_ms", "end_ms", "direction", "caller", "callee", "trunk", "channel",
               "seat", "disposition", "duration_s", "billable_s", "recording"]


def _row(r: CallRecord) -> dict:
    return {k: getattr(r, k) for k in CDR_COLUMNS + ["origin", "legs", "worker"]}


def list_calls(*, since_ms: int | None = None, until_ms: int | None = None, number: str | None = None,
               disposition: str | None = None, limit: int | None = None) -> list[dict]:
    q = CallRecord.select()
    if since_ms is not None:
        q = q.where(CallRecord.start_ms >= since_ms)
    if until_ms is not None:
        q = q.where(CallRecord.start_ms < until_ms)
    if number:
        q = q.where((CallRecord.caller == number) | (CallRecord.callee == number) | (CallRecord.seat == number))
    if disposition:
        q = q.where(CallRecord.disposition == disposition)
    q = q.order_by(CallRecord.start_ms.desc(), CallRecord.call_id)
    if limit:
        q = q.limit(limit)
    return [_row(r) for r in q]


def show_call(call_id: str) -> dict:
    rows = list(CallRecord.select().where(CallRecord.call_id.startswith(call_id)).limit(2))
    if not rows:
        raise TelephonyError(f"no call {call_id!r} in the store (scanhub call list shows the calls)")
    if len(rows) > 1:
        raise TelephonyError(f"{call_id!r} names more than one call: give more of the call id")
    out = _row(rows[0])
    out["events"] = [{"t_ms": e.t_ms, "kind": e.kind, "leg": e.leg, "data": json.loads(e.data)}
                     for e in CallEvent.select().where(CallEvent.call_id == rows[0].call_id).order_by(CallEvent.seq)]
    return out


def recordings(*, since_ms=None, until_ms=None, number=None, call_id=None, limit=None) -> list[dict]:
    q = CallRecording.select().where(CallRecording.deleted_ms.is_null())
    if call_id:
        q = q.where(CallRecording.call_id.startswith(call_id))
    if since_ms is not None:
        q = q.where(CallRecording.start_ms >= since_ms)
    if until_ms is not None:
        q = q.where(CallRecording.start_ms < until_ms)
    if number:
        q = q.where((CallRecording.caller == number) | (CallRecording.callee == number))
    q = q.order_by(CallRecording.start_ms.desc())
    if limit:
        q = q.limit(limit)
    return [{"call_id": r.call_id, "start_ms": r.start_ms, "end_ms": r.end_ms, "caller": r.caller,
             "callee": r.callee, "seconds": r.seconds, "bytes": r.bytes, "path": r.path} for r in q]


def expire_recordings(keep_days: int, now: int | None = None) -> list[dict]:
    """Delete the WAVs of calls older than ``keep_days`` (the rows stay, marked deleted)."""
    now = now_ms() if now is None else now
    cut = now - keep_days * 86_400_000
    gone = []
    for r in CallRecording.select().where(CallRecording.deleted_ms.is_null() & (CallRecording.start_ms < cut)):
        try:
            os.remove(r.path)
        except FileNotFoundError:
            pass
        except OSError as e:
            raise TelephonyError(f"cannot delete recording {r.path}: {e.strerror}") from None
        CallRecording.update(deleted_ms=now).where(CallRecording.call_id == r.call_id).execute()
        gone.append({"call_id": r.call_id, "path": r.path})
    return gone


def active() -> dict:
    legs = [{"call_id": r.call_id, "leg": r.leg, "kind": r.kind, "trunk": r.trunk, "seat": r.seat,
             "channel": r.channel, "peer": r.peer, "direction": r.direction, "state": r.state,
             "since_ms": r.since_ms, "worker": r.worker}
            for r in CallLiveLeg.select().order_by(CallLiveLeg.since_ms, CallLiveLeg.key)]
    seats = [{"seat": r.seat, "contact": r.contact, "expires_ms": r.expires_ms, "worker": r.worker}
             for r in CallSeat.select().order_by(CallSeat.seat)]
    spans = [{"trunk": r.trunk, "span": r.span, "protocol": r.protocol, "colour": r.colour, "alarms": r.alarms,
              "busy": r.busy, "idle": r.idle, "blocked": r.blocked, "updated_ms": r.updated_ms, "worker": r.worker}
             for r in CallSpan.select().order_by(CallSpan.trunk)]
    return {"legs": legs, "seats": seats, "spans": spans}
