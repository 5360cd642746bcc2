"""Tables of entered waybills.

``WaybillRecord`` keeps every record as it came (append-only: a correction is a later record, never
an update), keyed by the record's stable id, so a redelivered record is a no-op.  ``WaybillEntry``
is derived: each waybill's records folded in the order of ``(event_ms, id)``
(``contract.waybill_record.fold``), rewritten whenever a record for it is committed.

Units: times UTC epoch ms, weights grams, money cents.
"""
from __future__ import annotations

import peewee as pw

from contract.scan import ID_LEN, SITE_LEN, STAFF_LEN, STATION_LEN, WAYBILL_LEN
from hub.store.db import Base


class WaybillRecord(Base):
    """One committed waybill record (an entry or a correction)."""
    id = pw.CharField(primary_key=True, max_length=ID_LEN)
    waybill = pw.CharField(max_length=WAYBILL_LEN, index=True)
    site = pw.CharField(max_length=SITE_LEN)
    station = pw.CharField(max_length=STATION_LEN, null=True)     # null: entered at the hub (import)
    operator = pw.CharField(max_length=STAFF_LEN, null=True)
    edge_ms = pw.BigIntegerField()
    event_ms = pw.BigIntegerField()
    received_ms = pw.BigIntegerField()
    fields_json = pw.TextField()

    class Meta:
        table_name = "waybill_record"


class WaybillEntry(Base):
    """A waybill's entered state (the fold of its records); the columns the hub queries, and
    every field in ``fields_json``."""
    waybill = pw.CharField(primary_key=True, max_length=WAYBILL_LEN)
    origin_site = pw.CharField(max_length=SITE_LEN, index=True)
    dest_site = pw.CharField(max_length=SITE_LEN, null=True)
    weight_g = pw.BigIntegerField(null=True)
    cod_cents = pw.BigIntegerField(null=True)
    freight_collect_cents = pw.BigIntegerField(null=True)
    entered_ms = pw.BigIntegerField(index=True)
    updated_ms = pw.BigIntegerField()
    records = pw.IntegerField()
    fields_json = pw.TextField()

    class Meta:
        table_name = "waybill_entry"


class WaybillPhone(Base):
    """Each number (E.164, ``contract.phone.numbers_in``) an entered waybill's sender or receiver
    phone holds: the caller lookup's indexed way from a number to its waybills (rewritten with
    the waybill's ``WaybillEntry``)."""
    phone = pw.CharField(max_length=32)
    waybill = pw.CharField(max_length=WAYBILL_LEN, index=True)
    role = pw.CharField(max_length=8)           # sender | receiver

    class Meta:
        table_name = "waybill_phone"
        primary_key = pw.CompositeKey("phone", "waybill", "role")


TABLES = (WaybillRecord, WaybillEntry, WaybillPhone)
