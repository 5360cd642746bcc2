"""The ACD's tables (same on SQLite and PostgreSQL).

``acd_queue_log``       every queue-log event, millisecond times (the file keeps whole seconds)
``acd_callback``        the callback list: one open entry per caller, attempts and outcome
``acd_callback_call``   which missed call went to which callback entry (derivation is idempotent)
``acd_callback_attempt`` each try to call back
``acd_qa_form``, ``acd_qa_score``  evaluation forms (criteria and AHP weights) and scores per call
``acd_shift``, ``acd_shift_seat``, ``acd_work_item``, ``acd_notice``, ``acd_notice_ack``  shift operations
``acd_disposition``   how the agent says each call ended (wrap-up)
``acd_live``, ``acd_command``  the running engine's snapshot and agents' requests to it (``hub.acd.presence``)
"""
from __future__ import annotations

import peewee as pw

from hub.store.db import Base


class QueueLogEntry(Base):
    id = pw.AutoField()
    base = pw.CharField(max_length=40, index=True)        # Entry.key(): what the file can tell
    key = pw.CharField(max_length=52, unique=True)        # base:n, the n-th event with that base
    time_ms = pw.BigIntegerField(index=True)
    callid = pw.CharField(max_length=128, index=True)
    queue = pw.CharField(max_length=128)
    agent = pw.CharField(max_length=128)
    event = pw.CharField(max_length=32)
    data = pw.TextField(default="[]")                     # JSON list: data1, data2, …

    class Meta:
        table_name = "acd_queue_log"


class Callback(Base):
    id = pw.AutoField()
    caller = pw.CharField(max_length=128, index=True)
    queue = pw.CharField(max_length=128)
    reason = pw.CharField(max_length=32)                  # the queue-log event of the first missed call
    first_ms = pw.BigIntegerField()
    last_ms = pw.BigIntegerField()
    missed = pw.IntegerField(default=1)                   # missed calls folded into this entry
    status = pw.CharField(max_length=16, default="open")  # open | assigned | done | failed
    assignee = pw.CharField(max_length=128, null=True)
    attempts = pw.IntegerField(default=0)
    outcome = pw.CharField(max_length=32, null=True)
    updated_ms = pw.BigIntegerField()

    class Meta:
        table_name = "acd_callback"


class CallbackCall(Base):
    callid = pw.CharField(max_length=128, primary_key=True)
    callback = pw.IntegerField(index=True)
    reason = pw.CharField(max_length=32)
    time_ms = pw.BigIntegerField()

    class Meta:
        table_name = "acd_callback_call"


class CallbackAttempt(Base):
    id = pw.AutoField()
    callback = pw.IntegerField(index=True)
    agent = pw.CharField(max_length=128)
    time_ms = pw.BigIntegerField()
    outcome = pw.CharField(max_length=32)
    note = pw.TextField(default="")

    class Meta:
        table_name = "acd_callback_attempt"


class QaForm(Base):
    name = pw.CharField(max_length=64, primary_key=True)
    body = pw.TextField()                                  # JSON: criteria with their AHP weights
    created_ms = pw.BigIntegerField()

    class Meta:
        table_name = "acd_qa_form"


class QaScore(Base):
    id = pw.AutoField()
    form = pw.CharField(max_length=64, index=True)
    callid = pw.CharField(max_length=128, index=True)
    agent = pw.CharField(max_length=128, index=True)
    evaluator = pw.CharField(max_length=128)
    time_ms = pw.BigIntegerField()
    scores = pw.TextField()                                # JSON: criterion -> 0..100
    total = pw.FloatField()

    class Meta:
        table_name = "acd_qa_score"


class Shift(Base):
    code = pw.CharField(max_length=64, primary_key=True)
    start_ms = pw.BigIntegerField()
    end_ms = pw.BigIntegerField()
    supervisor = pw.CharField(max_length=128, default="")

    class Meta:
        table_name = "acd_shift"


class ShiftSeat(Base):
    shift = pw.CharField(max_length=64, index=True)
    agent = pw.CharField(max_length=128)
    seat = pw.CharField(max_length=64, default="")

    class Meta:
        table_name = "acd_shift_seat"
        primary_key = pw.CompositeKey("shift", "agent")


class WorkItem(Base):
    id = pw.AutoField()
    opened_shift = pw.CharField(max_length=64)
    opened_ms = pw.BigIntegerField()
    kind = pw.CharField(max_length=32, default="note")    # notice | staffing | task | customer | note
    text = pw.TextField()
    status = pw.CharField(max_length=16, default="open")  # open | closed
    closed_shift = pw.CharField(max_length=64, null=True)
    closed_ms = pw.BigIntegerField(null=True)
    result = pw.TextField(default="")

    class Meta:
        table_name = "acd_work_item"


class Notice(Base):
    id = pw.AutoField()
    shift = pw.CharField(max_length=64)
    text = pw.TextField()
    created_ms = pw.BigIntegerField()

    class Meta:
        table_name = "acd_notice"


class NoticeAck(Base):
    notice = pw.IntegerField()
    agent = pw.CharField(max_length=128)
    ack_ms = pw.BigIntegerField()

    class Meta:
        table_name = "acd_notice_ack"
        primary_key = pw.CompositeKey("notice", "agent")


class Disposition(Base):
    id = pw.AutoField()
    callid = pw.CharField(max_length=128, index=True)
    agent = pw.CharField(max_length=128, index=True)
    code = pw.CharField(max_length=32)
    note = pw.TextField(default="")
    time_ms = pw.BigIntegerField()

    class Meta:
        table_name = "acd_disposition"


class AcdLive(Base):
    name = pw.CharField(max_length=32, primary_key=True)
    body = pw.TextField()                                  # JSON: agents and calls (presence.snapshot_body)
    updated_ms = pw.BigIntegerField()

    class Meta:
        table_name = "acd_live"


class AcdCommand(Base):
    id = pw.AutoField()
    agent = pw.CharField(max_length=128, index=True)
    command = pw.CharField(max_length=16)                 # login | ready | pause | logout
    arg = pw.CharField(max_length=200, default="")        # the seat (login), the pause code, "MODE CALL SEAT"
    at_ms = pw.BigIntegerField()
    done_ms = pw.BigIntegerField(null=True, index=True)
    result = pw.TextField(default="")                     # JSON: {"ok": …, "agent" | "error": …}

    class Meta:
        table_name = "acd_command"


TABLES = (QueueLogEntry, Callback, CallbackCall, CallbackAttempt, QaForm, QaScore, Shift, ShiftSeat, WorkItem,
          Notice, NoticeAck, Disposition, AcdLive, AcdCommand)
