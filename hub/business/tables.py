"""Tables of the hub's business layer: derived scan facts, the ledger, accounts, tariffs, orders.

Two families live here:

* **Derived** tables (``ScanFact``, ``ParcelFact``) are recomputed per waybill from all of its
  scans after every ingest batch (``hub.business.facts.refresh``, a step of ``hub.ingest.pipeline``).  They are never edited by hand and
  can be rebuilt at any time from ``ScanEvent`` (``scanhub monitor rebuild``).
* **Books** (``JournalEntry``, ``Posting``) are append-only: nothing is updated or deleted;
  corrections are reversing entries.

Units: times are UTC epoch milliseconds (``*_ms``), weights integer grams (``*_g``), money integer
cents (``*_cents``; a posting's ``amount_cents`` is signed: the change of that account's balance).
"""
from __future__ import annotations

import peewee as pw

from contract.phone import numbers_in
from hub.store.db import Base


# ---------------------------------------------------------------- derived from scans

class ScanFact(Base):
    """One committed scan, annotated with what its neighbours say about it.

    ``peer``: the resolved next stop of a dispatch, the derived previous stop of an arrival.
    ``closed_ms``: when the follow-up happened (arrival at the next stop for a dispatch; dispatch,
    delivery or sign at the same site for a receive or arrival; a sign for a delivery); ``open`` is
    true while there is none.  ``orphan``: a dispatch with no receive/arrival at its site before it,
    an arrival whose previous stop never dispatched toward it, a sign without a delivery scan.
    ``expected_ms``: for a dispatch, the expected arrival at ``peer`` (from the shift).
    """
    scan_id = pw.CharField(primary_key=True, max_length=64)
    waybill = pw.CharField(max_length=40, index=True)
    site = pw.CharField(max_length=32)
    kind = pw.CharField(max_length=16)
    event_ms = pw.BigIntegerField()
    peer = pw.CharField(max_length=32, null=True)
    peer_src = pw.CharField(max_length=16, null=True)
    courier = pw.CharField(max_length=32, null=True)
    shift = pw.CharField(max_length=32, null=True)
    weight_g = pw.IntegerField(null=True)
    expected_ms = pw.BigIntegerField(null=True)
    closed_ms = pw.BigIntegerField(null=True)
    open = pw.BooleanField()
    orphan = pw.BooleanField()

    class Meta:
        table_name = "scan_fact"
        indexes = (
            (("site", "kind", "event_ms"), False),
            (("site", "kind", "open", "event_ms"), False),
            (("site", "kind", "orphan", "event_ms"), False),
            (("peer", "kind", "open", "event_ms"), False),
        )


class ParcelFact(Base):
    """A parcel's business summary, recomputed from all its scans.

    ``holder``: the site that holds it now (its latest movement scan is a receive or arrival
    there), else null.  ``center``/``center_ms``: the last center that dispatched it toward the
    delivering site, and when (the start of the sign-rate deadline).
    """
    waybill = pw.CharField(primary_key=True, max_length=40)
    origin_site = pw.CharField(max_length=32, null=True)
    origin_ms = pw.BigIntegerField(null=True)
    receive_courier = pw.CharField(max_length=32, null=True)
    dest_site = pw.CharField(max_length=32, null=True)
    status = pw.CharField(max_length=16)
    status_site = pw.CharField(max_length=32)
    last_ms = pw.BigIntegerField()
    holder = pw.CharField(max_length=32, null=True)
    holder_kind = pw.CharField(max_length=16, null=True)
    holder_since_ms = pw.BigIntegerField(null=True)
    holder_from = pw.CharField(max_length=32, null=True)
    center = pw.CharField(max_length=32, null=True)
    center_ms = pw.BigIntegerField(null=True)
    deliver_site = pw.CharField(max_length=32, null=True)
    deliver_ms = pw.BigIntegerField(null=True)
    deliver_courier = pw.CharField(max_length=32, null=True)
    sign_site = pw.CharField(max_length=32, null=True)
    sign_ms = pw.BigIntegerField(null=True)
    signer = pw.CharField(max_length=100, null=True)
    problem = pw.BooleanField(default=False)

    class Meta:
        table_name = "parcel_fact"
        indexes = (
            (("holder", "holder_since_ms"), False),
            (("origin_site", "origin_ms"), False),
            (("deliver_site", "deliver_ms"), False),
            (("dest_site", "center_ms"), False),
        )


class SignDeadline(Base):
    """A center's rule: parcels it dispatches to ``site`` must be signed within ``deadline_min``."""
    center = pw.CharField(max_length=32)
    site = pw.CharField(max_length=32)
    deadline_min = pw.IntegerField()

    class Meta:
        table_name = "sign_deadline"
        primary_key = pw.CompositeKey("center", "site")


# ---------------------------------------------------------------- books

class JournalEntry(Base):
    """One balanced entry.  ``source`` names what caused it (a scan-derived fee, a deposit slip…);
    ``rev`` numbers the entries of one source; ``action`` is ``post`` or ``reverse``."""
    id = pw.AutoField()
    key = pw.CharField(max_length=200, unique=True)          # f"{source}#{rev}"
    source = pw.CharField(max_length=190, index=True)
    rev = pw.IntegerField()
    action = pw.CharField(max_length=8)
    purpose = pw.CharField(max_length=32)
    waybill = pw.CharField(max_length=40, null=True, index=True)
    memo = pw.TextField(default="")
    value_ms = pw.BigIntegerField()                         # business time (scan time, slip time)
    booked_ms = pw.BigIntegerField()                        # hub time of booking

    class Meta:
        table_name = "journal_entry"


class Posting(Base):
    """One line of an entry: ``amount_cents`` is the signed change of ``account``'s balance."""
    id = pw.AutoField()
    entry = pw.ForeignKeyField(JournalEntry, backref="postings", on_delete="RESTRICT")
    account = pw.CharField(max_length=80)
    amount_cents = pw.BigIntegerField()

    class Meta:
        table_name = "posting"
        indexes = ((("account", "entry"), False),)


class Account(Base):
    """Settings of a site's prepaid account (its money lives in the ledger as ``site:<code>``)."""
    site = pw.CharField(primary_key=True, max_length=32)
    opening_center = pw.CharField(max_length=32, null=True)
    mode = pw.CharField(max_length=16, default="prepaid")   # prepaid | next-day
    warning_cents = pw.BigIntegerField(default=0)
    cod_via_prepaid = pw.BooleanField(default=True)

    class Meta:
        table_name = "account"


class TariffVersion(Base):
    """A loaded tariff; the one in force at time T is the latest with ``effective_ms`` <= T."""
    id = pw.AutoField()
    name = pw.CharField(max_length=80)
    effective_ms = pw.BigIntegerField(index=True)
    loaded_ms = pw.BigIntegerField()
    body_json = pw.TextField()

    class Meta:
        table_name = "tariff_version"


# ---------------------------------------------------------------- platform orders

class Coverage(Base):
    """Which site serves an area: province, optionally city and district codes."""
    id = pw.AutoField()
    site = pw.CharField(max_length=32)
    province = pw.CharField(max_length=16)
    city = pw.CharField(max_length=16, default="")
    district = pw.CharField(max_length=16, default="")
    priority = pw.IntegerField(default=0)

    class Meta:
        table_name = "coverage"


class PlatformOrder(Base):
    """An e-commerce platform's pickup order and where it stands."""
    order_no = pw.CharField(primary_key=True, max_length=64)
    platform = pw.CharField(max_length=32)
    sender = pw.CharField(max_length=200, default="")
    phone = pw.CharField(max_length=32, default="")
    address = pw.TextField(default="")
    province = pw.CharField(max_length=16, default="")
    city = pw.CharField(max_length=16, default="")
    district = pw.CharField(max_length=16, default="")
    accept = pw.CharField(max_length=16)                    # accepted | failed
    reason = pw.TextField(default="")
    site = pw.CharField(max_length=32, null=True, index=True)
    waybill = pw.CharField(max_length=40, null=True, index=True)
    pickup = pw.CharField(max_length=16, default="pending")  # pending | ok | failed
    pickup_reason = pw.TextField(default="")
    imported_ms = pw.BigIntegerField()

    class Meta:
        table_name = "platform_order"

    def save(self, *args, **kwargs):
        """Save the order and, with it, its numbers in ``OrderPhone`` (bulk imports write both
        themselves: ``hub.business.orders.index_phones``)."""
        with self._meta.database.atomic():
            out = super().save(*args, **kwargs)
            OrderPhone.delete().where(OrderPhone.order_no == self.order_no).execute()
            rows = [{"phone": n, "order_no": self.order_no} for n in numbers_in(self.phone or "")]
            if rows:
                OrderPhone.insert_many(rows).on_conflict_ignore().execute()
        return out


class OrderPhone(Base):
    """Each number (E.164, ``contract.phone.numbers_in``) a platform order's phone field holds:
    the caller lookup's indexed way from a number to its orders (written with the order)."""
    phone = pw.CharField(max_length=32)
    order_no = pw.CharField(max_length=64)

    class Meta:
        table_name = "platform_order_phone"
        primary_key = pw.CompositeKey("phone", "order_no")


class OrderTransfer(Base):
    """A mis-sorted order moved from one site to another (audit trail)."""
    id = pw.AutoField()
    order_no = pw.CharField(max_length=64, index=True)
    from_site = pw.CharField(max_length=32, null=True)
    to_site = pw.CharField(max_length=32)
    reason = pw.TextField()
    at_ms = pw.BigIntegerField()

    class Meta:
        table_name = "order_transfer"


class ExpectedFee(Base):
    """Derived with the fees: what a parcel in flight will still cost its origin site (transit,
    delivery and surcharges on the rest of its route, not booked yet), estimated from the tariff
    with the entered or first weight (``hub.business.quote.expected_lines``)."""
    waybill = pw.CharField(primary_key=True, max_length=40)
    site = pw.CharField(max_length=32, index=True)
    cents = pw.BigIntegerField()

    class Meta:
        table_name = "expected_fee"


class ProblemResolution(Base):
    """How a problem or hold scan was handled, visible network-wide (docs/hub-business.md,
    "Problem parcels"): who handled it (a staff code), how (free text, and an ``action`` word), when.  Append-only: one per problem
    scan, never edited; a scan with a resolution is no longer an open problem."""
    scan_id = pw.CharField(primary_key=True, max_length=64)
    waybill = pw.CharField(max_length=40, index=True)
    site = pw.CharField(max_length=32)
    resolved_ms = pw.BigIntegerField()
    handled_by = pw.CharField(max_length=32)
    action = pw.CharField(max_length=32)
    how = pw.TextField()
    recorded_ms = pw.BigIntegerField()

    class Meta:
        table_name = "problem_resolution"


class PickupTask(Base):
    """A telephone pickup order and the task it is at its site (docs/hub-business.md, "Telephone
    pickup orders").  ``state``: open, done (a receive scan named it: ``PickupLink``) or
    cancelled.  The window is UTC epoch ms; ``phone`` is E.164 (``contract.phone``)."""
    id = pw.AutoField()
    code = pw.CharField(max_length=14, unique=True)
    sender = pw.CharField(max_length=100, default="")
    phone = pw.CharField(max_length=32, default="")
    address = pw.CharField(max_length=300)
    province = pw.CharField(max_length=16, default="")
    city = pw.CharField(max_length=16, default="")
    district = pw.CharField(max_length=16, default="")
    site = pw.CharField(max_length=32, index=True)
    parcels = pw.IntegerField()
    window_from_ms = pw.BigIntegerField()
    window_to_ms = pw.BigIntegerField(index=True)
    note = pw.CharField(max_length=300, default="")
    source = pw.CharField(max_length=16)                 # agent | ivr
    created_by = pw.CharField(max_length=64, default="")
    created_ms = pw.BigIntegerField()
    state = pw.CharField(max_length=16, index=True)      # open | done | cancelled
    done_ms = pw.BigIntegerField(null=True)              # the first receive scan that named it
    cancelled_ms = pw.BigIntegerField(null=True)
    cancel_reason = pw.CharField(max_length=300, default="")

    class Meta:
        table_name = "pickup_task"


class PickupLink(Base):
    """Derived: a live receive scan that named a pickup task (``extra.pickup``), one per scan."""
    scan_id = pw.CharField(primary_key=True, max_length=64)
    code = pw.CharField(max_length=14, index=True)
    waybill = pw.CharField(max_length=40, index=True)
    site = pw.CharField(max_length=32)
    courier = pw.CharField(max_length=32, null=True)
    event_ms = pw.BigIntegerField()

    class Meta:
        table_name = "pickup_link"


TABLES = (ScanFact, ParcelFact, SignDeadline, JournalEntry, Posting, Account, TariffVersion, Coverage,
          PlatformOrder, OrderPhone, OrderTransfer, ExpectedFee, ProblemResolution, PickupTask, PickupLink)
