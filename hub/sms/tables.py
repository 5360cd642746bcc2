"""The SMS tables: templates, the send queue (one row per message), its parts (what delivery
reports are matched on), opt-outs."""
from __future__ import annotations

import peewee as pw

from hub.store.db import Base


class SmsTemplate(Base):
    name = pw.CharField(primary_key=True, max_length=48)
    body = pw.TextField()
    description = pw.CharField(max_length=200, default="")
    builtin = pw.BooleanField(default=False)
    updated_ms = pw.BigIntegerField()


class SmsMessage(Base):
    """A message in the queue.  ``state``: queued → sending → sent → delivered | failed;
    or optout (never sent: the number opted out), cancelled."""
    id = pw.AutoField()
    phone = pw.CharField(max_length=24, index=True)
    template = pw.CharField(max_length=48, default="")
    body = pw.TextField()
    state = pw.CharField(max_length=12, index=True)
    reason = pw.TextField(default="")
    dedupe = pw.CharField(max_length=120, null=True, unique=True)
    waybill = pw.CharField(max_length=40, null=True, index=True)
    created_ms = pw.BigIntegerField()
    due_ms = pw.BigIntegerField(index=True)
    attempts = pw.IntegerField(default=0)
    modem = pw.CharField(max_length=200, null=True)
    parts = pw.IntegerField(default=0)
    sent_ms = pw.BigIntegerField(null=True)
    done_ms = pw.BigIntegerField(null=True)


class SmsPart(Base):
    id = pw.AutoField()
    message = pw.IntegerField(index=True)
    part = pw.IntegerField()
    modem = pw.CharField(max_length=200)
    reference = pw.IntegerField()
    state = pw.CharField(max_length=12)          # sent | delivered | failed
    at_ms = pw.BigIntegerField()

    class Meta:
        indexes = ((("modem", "reference"), False),)


class SmsOptOut(Base):
    phone = pw.CharField(primary_key=True, max_length=24)
    reason = pw.CharField(max_length=200, default="")
    at_ms = pw.BigIntegerField()


TABLES = (SmsTemplate, SmsMessage, SmsPart, SmsOptOut)
