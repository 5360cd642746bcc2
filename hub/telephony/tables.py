"""The telephony tables of the hub store (same on SQLite and PostgreSQL).

``call_record``     one CDR per finished call (docs/telephony.md, "CDR fields"); times UTC epoch ms
``call_event``      the call's events in order (CEL-like: leg offered/ringing/answered/ended,
                    dial plan steps, fallbacks, DTMF …), ``data`` as JSON
``call_recording``  one WAV per recorded call, indexed by call id, caller, callee and time
``call_live_leg``   legs in progress now, per worker (``scanhub call active``); rows go when the
                    leg ends, and a worker clears its own rows when it starts
``call_seat``       seats registered now, per worker
``call_span``       each E1 span's alarm state and channels (busy, idle, blocked), per worker
"""
from __future__ import annotations

import peewee as pw

from hub.store.db import Base

NUMBER_LEN = 64


class CallRecord(Base):
    call_id = pw.CharField(primary_key=True, max_length=32)
    origin = pw.CharField(max_length=64)                     # a trunk's name, or "seats"
    direction = pw.CharField(max_length=16)                  # inbound | outbound | internal
    caller = pw.CharField(max_length=NUMBER_LEN, index=True)
    callee = pw.CharField(max_length=NUMBER_LEN, index=True)
    trunk = pw.CharField(max_length=64, null=True)           # the trunk the call used, if any
    channel = pw.CharField(max_length=160, null=True)        # "E1 1/5" or the trunk leg's SIP Call-ID
    seat = pw.CharField(max_length=16, null=True)            # the seat that answered (or was tried last)
    start_ms = pw.BigIntegerField(index=True)
    answer_ms = pw.BigIntegerField(null=True)
    end_ms = pw.BigIntegerField()
    duration_s = pw.IntegerField()                           # start to end, rounded
    billable_s = pw.IntegerField()                           # answer to end, rounded
    disposition = pw.CharField(max_length=16, index=True)    # answered | busy | no-answer | failed | abandoned
    legs = pw.IntegerField()
    recording = pw.TextField(null=True)                      # the WAV's path
    worker = pw.CharField(max_length=64)

    class Meta:
        table_name = "call_record"


class CallEvent(Base):
    call_id = pw.CharField(max_length=32, index=True)
    seq = pw.IntegerField()
    t_ms = pw.BigIntegerField()
    kind = pw.CharField(max_length=32)
    leg = pw.CharField(max_length=8, null=True)
    data = pw.TextField()

    class Meta:
        table_name = "call_event"
        indexes = ((("call_id", "seq"), True),)


class CallRecording(Base):
    call_id = pw.CharField(primary_key=True, max_length=32)
    path = pw.TextField()
    caller = pw.CharField(max_length=NUMBER_LEN, index=True)
    callee = pw.CharField(max_length=NUMBER_LEN, index=True)
    start_ms = pw.BigIntegerField(index=True)
    end_ms = pw.BigIntegerField()
    seconds = pw.IntegerField()
    bytes = pw.BigIntegerField()
    deleted_ms = pw.BigIntegerField(null=True)               # removed by the retention policy

    class Meta:
        table_name = "call_recording"


class CallLiveLeg(Base):
    key = pw.CharField(primary_key=True, max_length=48)      # call id / leg name
    call_id = pw.CharField(max_length=32)
    leg = pw.CharField(max_length=8)
    kind = pw.CharField(max_length=8)                        # sip | e1
    trunk = pw.CharField(max_length=64, null=True)
    seat = pw.CharField(max_length=16, null=True)
    channel = pw.CharField(max_length=160)
    peer = pw.CharField(max_length=NUMBER_LEN)
    direction = pw.CharField(max_length=8)
    state = pw.CharField(max_length=16)
    since_ms = pw.BigIntegerField()
    worker = pw.CharField(max_length=64, index=True)

    class Meta:
        table_name = "call_live_leg"


class CallSeat(Base):
    seat = pw.CharField(primary_key=True, max_length=16)
    contact = pw.CharField(max_length=255)
    expires_ms = pw.BigIntegerField()
    user_agent = pw.CharField(max_length=255)
    worker = pw.CharField(max_length=64, index=True)

    class Meta:
        table_name = "call_seat"


class CallSpan(Base):
    trunk = pw.CharField(primary_key=True, max_length=64)
    span = pw.IntegerField()
    protocol = pw.CharField(max_length=16)
    colour = pw.CharField(max_length=32)                     # OK, RED, YELLOW, BLUE (DAHDI's words)
    alarms = pw.CharField(max_length=128)
    busy = pw.IntegerField()
    idle = pw.IntegerField()
    blocked = pw.CharField(max_length=128)                   # timeslots blocked or out of service
    updated_ms = pw.BigIntegerField()
    worker = pw.CharField(max_length=64, index=True)

    class Meta:
        table_name = "call_span"


TABLES = (CallRecord, CallEvent, CallRecording, CallLiveLeg, CallSeat, CallSpan)
