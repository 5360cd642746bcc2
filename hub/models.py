"""Tables of the hub store (portable peewee: the same models on SQLite and PostgreSQL).

Units: times are UTC epoch milliseconds (``*_ms``), weights integer grams (``*_g``), money
integer cents.  Basic data is keyed by the network's own codes.  Scan events are keyed by the
edge's stable scan id, so a redelivered scan is a no-op (``ON CONFLICT DO NOTHING``).
"""
from __future__ import annotations

import peewee as pw

from hub.db import database

_registry: list[type[pw.Model]] = []


class Base(pw.Model):
    class Meta:
        database = database

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        _registry.append(cls)


def all_models() -> list[type[pw.Model]]:
    return list(_registry)


class Meta(Base):
    """Key/value facts about the store: schema version, data version, network name."""
    key = pw.CharField(primary_key=True, max_length=64)
    value = pw.TextField()


# ---------------------------------------------------------------- basic data

class Site(Base):
    code = pw.CharField(primary_key=True, max_length=32)
    name = pw.CharField(max_length=200)
    kind = pw.CharField(max_length=16)            # "site" or "center"
    center = pw.CharField(max_length=32, null=True)  # the opening / parent center
    province = pw.CharField(max_length=16, null=True)
    city = pw.CharField(max_length=16, null=True)
    district = pw.CharField(max_length=16, null=True)
    blocked = pw.BooleanField(default=False)      # prepaid balance under the warning amount


class Station(Base):
    """A scan station (edge agent) and what it last told the hub about itself."""
    id = pw.CharField(primary_key=True, max_length=64)
    site = pw.CharField(max_length=32)
    name = pw.CharField(max_length=200, null=True)
    online = pw.BooleanField(default=False)
    last_seen_ms = pw.BigIntegerField(null=True)
    outbox_depth = pw.IntegerField(null=True)
    last_ack_ms = pw.BigIntegerField(null=True)
    config_version = pw.CharField(max_length=80, null=True)
    clock_offset_ms = pw.BigIntegerField(null=True)   # hub time - station time
    clock_rtt_ms = pw.IntegerField(null=True)
    status_json = pw.TextField(null=True)


class Staff(Base):
    code = pw.CharField(primary_key=True, max_length=32)
    name = pw.CharField(max_length=200)
    site = pw.CharField(max_length=32, index=True)
    role = pw.CharField(max_length=32, default="courier")
    phone = pw.CharField(max_length=32, null=True)


class GunUser(Base):
    login = pw.CharField(primary_key=True, max_length=32)
    staff = pw.CharField(max_length=32)
    site = pw.CharField(max_length=32, index=True)
    pin_salt = pw.CharField(max_length=64)
    pin_hash = pw.CharField(max_length=128)
    kinds = pw.CharField(max_length=200)           # comma-separated scan kinds allowed


class Shift(Base):
    """A line-haul run: leaves ``from_site`` at ``depart`` (HH:MM local) for ``to_site``."""
    code = pw.CharField(primary_key=True, max_length=32)
    from_site = pw.CharField(max_length=32, index=True)
    to_site = pw.CharField(max_length=32)
    depart = pw.CharField(max_length=5)
    transit_min = pw.IntegerField()


class NextStopRule(Base):
    site = pw.CharField(max_length=32)
    dest = pw.CharField(max_length=32)
    shift = pw.CharField(max_length=32, default="")   # "" = any shift
    next_site = pw.CharField(max_length=32)

    class Meta:
        primary_key = pw.CompositeKey("site", "dest", "shift")


class WaybillRuleRow(Base):
    name = pw.CharField(primary_key=True, max_length=64)
    rule_json = pw.TextField()

    class Meta:
        table_name = "waybill_rule"


class Issuance(Base):
    """Waybill numbers issued to a site: the inclusive range [first, last] of equal length."""
    site = pw.CharField(max_length=32)
    first = pw.CharField(max_length=40)
    last = pw.CharField(max_length=40)

    class Meta:
        primary_key = pw.CompositeKey("first", "last")


# ---------------------------------------------------------------- scans

class ScanEvent(Base):
    """One committed scan.  ``event_ms`` is the corrected UTC time used for ordering."""
    id = pw.CharField(primary_key=True, max_length=64)
    station = pw.CharField(max_length=64)
    epoch = pw.CharField(max_length=16, default="")  # the station outbox's identity (new file, new epoch)
    seq = pw.BigIntegerField()
    kind = pw.CharField(max_length=16)
    waybill = pw.CharField(max_length=40, index=True)
    site = pw.CharField(max_length=32)
    operator = pw.CharField(max_length=32, null=True)
    device = pw.CharField(max_length=64, null=True)
    edge_ms = pw.BigIntegerField()                 # station wall clock at capture
    event_ms = pw.BigIntegerField()                # corrected time
    clock = pw.CharField(max_length=16)            # trusted | corrected | unknown
    received_ms = pw.BigIntegerField()             # hub time of first commit
    courier = pw.CharField(max_length=32, null=True)
    next_site = pw.CharField(max_length=32, null=True)
    prev_site = pw.CharField(max_length=32, null=True)
    dest_site = pw.CharField(max_length=32, null=True)
    shift = pw.CharField(max_length=32, null=True)
    weight_g = pw.IntegerField(null=True)
    signer = pw.CharField(max_length=100, null=True)
    extra_json = pw.TextField(null=True)

    class Meta:
        indexes = (
            (("station", "epoch", "seq"), False),
            (("site", "kind", "event_ms"), False),
        )


class Deletion(Base):
    """An audited deletion at a station (tombstone); ``uploaded`` is false when the scan never
    reached the hub before it was deleted."""
    scan_id = pw.CharField(primary_key=True, max_length=64)
    station = pw.CharField(max_length=64)
    epoch = pw.CharField(max_length=16, default="")
    seq = pw.BigIntegerField()
    site = pw.CharField(max_length=32)
    waybill = pw.CharField(max_length=40)
    kind = pw.CharField(max_length=16)
    operator = pw.CharField(max_length=32, null=True)
    reason = pw.TextField()
    deleted_ms = pw.BigIntegerField()
    uploaded = pw.BooleanField()
    scan_json = pw.TextField()

    class Meta:
        indexes = ((("station", "epoch", "seq"), False),)


class Parcel(Base):
    """Derived state of a waybill, recomputed from its events (never updated incrementally)."""
    waybill = pw.CharField(primary_key=True, max_length=40)
    status = pw.CharField(max_length=16)
    site = pw.CharField(max_length=32)
    last_event_ms = pw.BigIntegerField()
    origin_site = pw.CharField(max_length=32, null=True)
    events = pw.IntegerField()


class DirtyWaybill(Base):
    """A waybill whose derived state (parcel, facts, fees) waits for the background derivation.
    ``mark`` grows with every new scan, so a derivation clears only what it has seen."""
    waybill = pw.CharField(primary_key=True, max_length=40)
    since_ms = pw.BigIntegerField(index=True)
    mark = pw.IntegerField(default=0)


class DeadLetter(Base):
    id = pw.AutoField()
    received_ms = pw.BigIntegerField()
    topic = pw.CharField(max_length=200)
    station = pw.CharField(max_length=64, null=True)
    seq = pw.BigIntegerField(null=True)
    reason = pw.TextField()
    payload = pw.BlobField()
