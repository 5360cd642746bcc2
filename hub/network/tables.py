"""Basic data of the network (loaded from the network file, docs/network.md): sites, stations,
staff, gun users, shifts, next-stop rules, waybill rules, issued number ranges.

Keyed by the network's own codes; code lengths follow the scan contract (``contract.scan``).
"""
from __future__ import annotations

import peewee as pw

from contract.scan import CODE_LEN, SHIFT_LEN, SITE_LEN, STAFF_LEN, STATION_LEN, WAYBILL_LEN
from hub.store.db import Base


class Site(Base):
    code = pw.CharField(primary_key=True, max_length=SITE_LEN)
    name = pw.CharField(max_length=200)
    kind = pw.CharField(max_length=16)            # "site" or "center"
    center = pw.CharField(max_length=SITE_LEN, null=True)  # the opening / parent center
    province = pw.CharField(max_length=16, null=True)
    city = pw.CharField(max_length=16, null=True)
    district = pw.CharField(max_length=16, null=True)
    area_code = pw.CharField(max_length=8, null=True)    # telephone area code (the IVR's nearest site)
    blocked = pw.BooleanField(default=False)      # prepaid balance under the warning amount


class Station(Base):
    """A scan station (edge agent) and what it last told the hub about itself."""
    id = pw.CharField(primary_key=True, max_length=STATION_LEN)
    site = pw.CharField(max_length=SITE_LEN)
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
    code = pw.CharField(primary_key=True, max_length=STAFF_LEN)
    name = pw.CharField(max_length=200)
    site = pw.CharField(max_length=SITE_LEN, index=True)
    role = pw.CharField(max_length=32, default="courier")
    phone = pw.CharField(max_length=32, null=True)


class GunUser(Base):
    login = pw.CharField(primary_key=True, max_length=STAFF_LEN)
    staff = pw.CharField(max_length=STAFF_LEN)
    site = pw.CharField(max_length=SITE_LEN, index=True)
    pin_salt = pw.CharField(max_length=64)
    pin_hash = pw.CharField(max_length=128)
    kinds = pw.CharField(max_length=200)           # comma-separated scan kinds allowed


class Shift(Base):
    """A line-haul run: leaves ``from_site`` at ``depart`` (HH:MM local) for ``to_site``."""
    code = pw.CharField(primary_key=True, max_length=SHIFT_LEN)
    from_site = pw.CharField(max_length=SITE_LEN, index=True)
    to_site = pw.CharField(max_length=SITE_LEN)
    depart = pw.CharField(max_length=5)
    transit_min = pw.IntegerField()


class NextStopRule(Base):
    site = pw.CharField(max_length=SITE_LEN)
    dest = pw.CharField(max_length=SITE_LEN)
    shift = pw.CharField(max_length=SHIFT_LEN, default="")   # "" = any shift
    next_site = pw.CharField(max_length=SITE_LEN)

    class Meta:
        primary_key = pw.CompositeKey("site", "dest", "shift")


class WaybillRuleRow(Base):
    name = pw.CharField(primary_key=True, max_length=64)
    rule_json = pw.TextField()

    class Meta:
        table_name = "waybill_rule"


class Issuance(Base):
    """Waybill numbers issued to a site: the inclusive range [first, last] of equal length."""
    site = pw.CharField(max_length=SITE_LEN)
    first = pw.CharField(max_length=WAYBILL_LEN)
    last = pw.CharField(max_length=WAYBILL_LEN)

    class Meta:
        primary_key = pw.CompositeKey("first", "last")


class ReasonCode(Base):
    """A reason code of problem and hold scans (network file ``reasons``); ``kinds`` is
    ``problem``, ``hold`` or ``problem,hold``."""
    code = pw.CharField(primary_key=True, max_length=CODE_LEN)
    name = pw.CharField(max_length=200)
    kinds = pw.CharField(max_length=32)

    class Meta:
        table_name = "reason_code"


TABLES = (Site, Station, Staff, GunUser, Shift, NextStopRule, WaybillRuleRow, Issuance, ReasonCode)


class BasicDataChange(Base):
    """One change of basic data made one record at a time (``scanhub site|staff|shift|rule``):
    who, when, what the record was before and after (JSON, null when added or removed), and the
    data version the change produced.  Not basic data itself: an import leaves it alone."""
    id = pw.AutoField()
    at_ms = pw.BigIntegerField()
    actor = pw.CharField(max_length=64)
    kind = pw.CharField(max_length=16, index=True)      # site | staff | shift | rule
    key = pw.CharField(max_length=200)
    action = pw.CharField(max_length=8)                 # add | set | remove
    before_json = pw.TextField(null=True)
    after_json = pw.TextField(null=True)
    data_version = pw.CharField(max_length=80)

    class Meta:
        table_name = "basic_data_change"


#: Tables of this package that are not basic data (not replaced by an import, not in the data version).
LOG_TABLES = (BasicDataChange,)
