"""The work-order tables: the orders (their current step and its deadline) and every event of
each (steps done, replies, reminders, escalations, notices, mail).  A customer is an optional id
(no foreign key: the CRM's customer tables are another subpackage) plus the caller's phone."""
from __future__ import annotations

import peewee as pw

from hub.store.db import Base


class WorkOrder(Base):
    id = pw.AutoField()
    ticket = pw.CharField(max_length=20, unique=True)             # WO000001
    kind = pw.CharField(max_length=20, index=True)
    subkind = pw.CharField(max_length=20, default="")
    flow = pw.CharField(max_length=60, default="standard")
    status = pw.CharField(max_length=8, index=True, default="open")   # open | closed
    step = pw.CharField(max_length=10)
    step_since_ms = pw.BigIntegerField()
    deadline_ms = pw.BigIntegerField(null=True, index=True)
    source = pw.CharField(max_length=20, default="agent")        # agent | loss | dispute | voicemail | email | …
    source_key = pw.CharField(max_length=120, null=True, unique=True)   # what makes an automatic order once-only
    customer_id = pw.CharField(max_length=60, default="")
    name = pw.CharField(max_length=80, default="")
    gender = pw.CharField(max_length=8, default="")
    address = pw.CharField(max_length=300, default="")
    phone = pw.CharField(max_length=24, default="", index=True)  # E.164
    email = pw.CharField(max_length=250, default="")
    content = pw.TextField(default="")
    waybill = pw.CharField(max_length=40, default="", index=True)
    call_id = pw.CharField(max_length=80, default="")
    recording = pw.CharField(max_length=300, default="")
    notify_sms = pw.BooleanField(default=False)
    notify_email = pw.BooleanField(default=False)
    opened_by = pw.CharField(max_length=40, default="", index=True)
    assignee = pw.CharField(max_length=60, default="", index=True)  # site:CODE | department:NAME
    created_ms = pw.BigIntegerField(index=True)
    first_response_ms = pw.BigIntegerField(null=True)
    closed_ms = pw.BigIntegerField(null=True)
    reopened = pw.IntegerField(default=0)

    class Meta:
        table_name = "work_order"


class WorkOrderEvent(Base):
    """``action``: open, accept, assign, handle, reply, verify, close, reopen, remind, escalate,
    notice, mail, note.  ``once`` makes reminders and escalations once-only (unique)."""
    id = pw.AutoField()
    order = pw.IntegerField(index=True)
    at_ms = pw.BigIntegerField()
    action = pw.CharField(max_length=10)
    step = pw.CharField(max_length=10, default="")
    actor = pw.CharField(max_length=60, default="")
    text = pw.TextField(default="")
    deadline_ms = pw.BigIntegerField(null=True)     # the deadline of the step this event ended or was about
    once = pw.CharField(max_length=120, null=True, unique=True)

    class Meta:
        table_name = "work_order_event"


TABLES = (WorkOrder, WorkOrderEvent)
