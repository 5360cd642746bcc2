"""CDRs, call events, recordings and the live view in the hub store: the writer and the queries.

:class:`CdrWriter` is a switch listener: it keeps ``call_live_leg`` as legs change state and, at
``call-end``, writes the call's CDR, its events and its recording's index row in one
transaction.  A store that fails (locked, unreachable) never stops the telephony: the record is
kept in memory and written again with the next one (``pending``).

The recording's size is read when the call ends (the WAV is closed by then).

The queries (``list_calls``, ``show_call``, ``recordings``, ``active``) are what ``scanhub call``
prints; they return plain dicts with times as ``*_ms`` (UTC epoch ms).
"""
from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time

import peewee

from contract.clock import now_ms
from hub.store.db import bulk_insert, bulk_upsert, database, delete_where_in, is_store_failure
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
    """A switch listener that writes to the store on a thread of its own: the event loop only
    queues what changed, so a slow or locked store never holds up signalling or media.  Each
    batch is one transaction; a batch the store refuses is kept and tried again a second later."""

    def __init__(self, worker: str) -> None:
        self.worker = worker
        self.written = 0
        self._q: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._last_spans = None
        self._pending: list = []

    # ------------------------------------------------------------ on the event loop
    def __call__(self, call, event) -> None:
        if event.kind in ("leg-offered", "leg-ringing", "leg-answered"):
            leg = call.legs[-1] if event.kind == "leg-offered" else next(l for l in call.legs if l.name == event.leg)
            self._q.put(("live", {"key": f"{call.id}/{leg.name}", "call_id": call.id, "leg": leg.name,
                                  "kind": leg.kind, "trunk": leg.trunk, "seat": leg.seat,
                                  "channel": leg.channel[:160], "peer": (leg.peer or "")[:64],
                                  "direction": leg.direction, "state": leg.state, "since_ms": now_ms(),
                                  "worker": self.worker}))
        elif event.kind == "leg-ended":
            self._q.put(("gone", f"{call.id}/{event.leg}"))
        elif event.kind == "call-end":
            events = [{"call_id": call.id, "seq": i, "t_ms": ev.t_ms, "kind": ev.kind[:32], "leg": ev.leg,
                       "data": json.dumps(ev.data, ensure_ascii=False, default=str)} for i, ev in enumerate(call.events)]
            self._q.put(("call", (cdr_row(call, self.worker), events, call.recording)))

    def seats(self, bindings) -> None:
        self._q.put(("seats", [(b.extension, b.contact[:255], int(b.expires_at * 1000), b.user_agent[:255])
                               for b in bindings]))

    def spans(self, rows: list[dict]) -> None:
        """The E1 spans' states now (written only when something changed)."""
        if rows != self._last_spans:
            self._last_spans = [dict(r) for r in rows]
            self._q.put(("spans", self._last_spans))

    # ------------------------------------------------------------ the writer thread
    def start(self) -> None:
        self.clear_live()
        self._thread = threading.Thread(target=self._run, name="cdr-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then clear this worker's live rows."""
        if self._thread is not None:
            self._q.put(None)
            self._thread.join(timeout)
            self._thread = None
        try:
            self.clear_live()
        except peewee.PeeweeException as e:
            log.warning("could not clear the live view: %s", e)

    def clear_live(self) -> None:
        with database.atomic():
            CallLiveLeg.delete().where(CallLiveLeg.worker == self.worker).execute()
            CallSeat.delete().where(CallSeat.worker == self.worker).execute()
            CallSpan.delete().where(CallSpan.worker == self.worker).execute()

    GATHER_S = 0.05     # after the first change, wait this long for more: one transaction for a burst

    def _run(self) -> None:
        done, retries = False, 0
        while not done or self._pending:
            try:
                item = self._q.get(timeout=1.0 if self._pending else None)
            except queue.Empty:
                item = False
            batch = self._pending
            self._pending = []
            if item is None:
                done = True
            elif item is not False:
                batch.append(item)
            deadline = time.monotonic() + self.GATHER_S
            while not done:
                try:
                    more = self._q.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if more is None:
                    done = True
                else:
                    batch.append(more)
            while True:                     # stopping: whatever is still queued goes too
                try:
                    more = self._q.get_nowait()
                except queue.Empty:
                    break
                if more is not None:
                    batch.append(more)
            if not batch:
                continue
            try:
                self._write(batch)
            except Exception as e:          # the writer never dies: a bad batch is logged and dropped
                if not isinstance(e, peewee.PeeweeException) or not is_store_failure(e):
                    log.exception("%d change(s) the store refused; dropped", len(batch))
                    continue
                log.warning("the store refused %d change(s) for now (%s); kept and written later", len(batch), e)
                self._pending = batch
                if done:                        # stopping: a few more tries, then give up
                    retries += 1
                    if retries > 10:
                        log.error("the store still refuses; %d change(s) not written", len(batch))
                        return
                    time.sleep(1.0)

    def _write(self, batch: list) -> None:
        """Write a batch as its net effect, a few prepared statements in one transaction: a leg
        that changed three times is written once, and the live rows of a call that ended within
        the batch are never written at all."""
        live: dict[str, dict] = {}          # key -> the leg's latest row
        gone: set[str] = set()              # live rows to delete (written by an earlier batch)
        calls, events, recs, seats, spans = [], [], [], None, None
        taken: set[str] = set()             # seats this worker registered at some point of the batch
        for kind, payload in batch:
            if kind == "live":
                row = live.get(payload["key"])
                live[payload["key"]] = payload if row is None else dict(
                    row, state=payload["state"], since_ms=payload["since_ms"])
                gone.discard(payload["key"])
            elif kind == "gone":
                live.pop(payload, None)
                gone.add(payload)
            elif kind == "call":
                row, evs, recording = payload
                calls.append(row)
                events += evs
                if recording and os.path.exists(recording):
                    size = os.path.getsize(recording)
                    recs.append({"call_id": row["call_id"], "path": recording, "caller": row["caller"],
                                 "callee": row["callee"], "start_ms": row["start_ms"], "end_ms": row["end_ms"],
                                 "seconds": max(0, (size - 44) // 32000), "bytes": size})
            elif kind == "seats":
                seats = payload
                taken |= {b[0] for b in payload}
            elif kind == "spans":
                spans = payload
        ended = {row["call_id"] for row in calls}
        live_rows = [row for row in live.values() if row["call_id"] not in ended]
        gone = [key for key in gone if key.split("/", 1)[0] not in ended]
        with database.atomic():
            bulk_upsert(CallLiveLeg, live_rows, "key", update=("state", "since_ms"))
            delete_where_in(CallLiveLeg, "key", gone)
            bulk_insert(CallRecord, calls, ignore_conflicts=True)
            bulk_insert(CallEvent, events, ignore_conflicts=True)
            bulk_insert(CallRecording, recs, ignore_conflicts=True)
            delete_where_in(CallLiveLeg, "call_id", sorted(ended))
            if seats is not None:             # a seat taken over from another worker and gone again is gone
                CallSeat.delete().where((CallSeat.worker == self.worker) | CallSeat.seat.in_(
                    sorted(taken - {b[0] for b in seats}))).execute()
                bulk_upsert(CallSeat, [{"seat": ext, "contact": contact, "expires_ms": expires_ms,
                                        "user_agent": ua, "worker": self.worker}
                                       for ext, contact, expires_ms, ua in {s[0]: s for s in seats}.values()], "seat")
            if spans is not None:
                bulk_upsert(CallSpan, list({r["trunk"]: dict(r, updated_ms=now_ms(), worker=self.worker)
                                            for r in spans}.values()), "trunk")
        self.written += len(calls)



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
