"""Tables of committed scans and what follows directly from them.

Units: times are UTC epoch milliseconds (``*_ms``), weights integer grams (``*_g``).  Scan events
are keyed by the edge's stable scan id, so a redelivered scan is a no-op (``ON CONFLICT DO
NOTHING``).  Column lengths come from the scan contract (``contract.scan.FIELDS``), so whatever a
station may send fits.
"""
from __future__ import annotations

import peewee as pw

from contract.scan import EPOCH_LEN, FIELD, ID_LEN, SITE_LEN, STAFF_LEN, STATION_LEN, WAYBILL_LEN
from hub.store.db import Base


def _text(name: str, **kw) -> pw.CharField:
    """A column for scan field ``name``, as long as the contract allows."""
    f = FIELD[name]
    return pw.CharField(max_length=f.limit, null=not f.required, **kw)


class ScanEvent(Base):
    """One committed scan.  ``event_ms`` is the corrected UTC time used for ordering."""
    id = pw.CharField(primary_key=True, max_length=ID_LEN)
    station = _text("station")
    epoch = pw.CharField(max_length=EPOCH_LEN, default="")  # the station outbox's identity (new file, new epoch)
    seq = pw.BigIntegerField()
    kind = _text("kind")
    waybill = _text("waybill", index=True)
    site = _text("site")
    operator = _text("operator")
    device = _text("device")
    edge_ms = pw.BigIntegerField()                 # station wall clock at capture
    event_ms = pw.BigIntegerField()                # corrected time
    clock = pw.CharField(max_length=FIELD["clock"].limit)   # trusted | corrected | unknown
    received_ms = pw.BigIntegerField()             # hub time of first commit
    courier = _text("courier")
    next_site = _text("next_site")
    prev_site = _text("prev_site")
    dest_site = _text("dest_site")
    shift = _text("shift")
    weight_g = pw.IntegerField(null=True)
    signer = _text("signer")
    sign_type = _text("sign_type")
    reason = _text("reason")
    bag = _text("bag", index=True)
    seal = _text("seal")
    chain = _text("chain")                         # the station's hash chain (contract.chain); null from older stations
    extra_json = pw.TextField(null=True)

    class Meta:
        indexes = (
            (("station", "epoch", "seq"), False),
            (("site", "kind", "event_ms"), False),
        )


class Deletion(Base):
    """An audited deletion at a station (tombstone); ``uploaded`` is false when the scan never
    reached the hub before it was deleted."""
    scan_id = pw.CharField(primary_key=True, max_length=ID_LEN)
    station = pw.CharField(max_length=STATION_LEN)
    epoch = pw.CharField(max_length=EPOCH_LEN, default="")
    seq = pw.BigIntegerField()
    site = pw.CharField(max_length=SITE_LEN)
    waybill = pw.CharField(max_length=WAYBILL_LEN)
    kind = pw.CharField(max_length=FIELD["kind"].limit)
    operator = pw.CharField(max_length=STAFF_LEN, null=True)
    reason = pw.TextField()
    deleted_ms = pw.BigIntegerField()
    uploaded = pw.BooleanField()
    scan_json = pw.TextField()

    class Meta:
        indexes = ((("station", "epoch", "seq"), False),)


class Parcel(Base):
    """Derived state of a waybill, recomputed from its events (never updated incrementally)."""
    waybill = pw.CharField(primary_key=True, max_length=WAYBILL_LEN)
    status = pw.CharField(max_length=16)
    site = pw.CharField(max_length=SITE_LEN)
    last_event_ms = pw.BigIntegerField()
    origin_site = pw.CharField(max_length=SITE_LEN, null=True)
    events = pw.IntegerField()


class DirtyWaybill(Base):
    """A waybill whose derived state (parcel, facts, fees) waits for the background derivation.
    ``mark`` grows with every new scan, so a derivation clears only what it has seen."""
    waybill = pw.CharField(primary_key=True, max_length=WAYBILL_LEN)
    since_ms = pw.BigIntegerField(index=True)
    mark = pw.IntegerField(default=0)


class DeadLetter(Base):
    id = pw.AutoField()
    received_ms = pw.BigIntegerField()
    topic = pw.CharField(max_length=200)
    station = pw.CharField(max_length=STATION_LEN, null=True)
    seq = pw.BigIntegerField(null=True)
    reason = pw.TextField()
    payload = pw.BlobField()


class ProofImage(Base):
    """A proof-of-delivery image (photo or scanned receipt), keyed by the SHA-256 of its bytes:
    stored once however many parcels it proves.  ``data`` is set once every byte has arrived and
    matched the digest; until then ``have`` counts the bytes held in ``ProofChunk``."""
    sha256 = pw.CharField(primary_key=True, max_length=64)
    content_type = pw.CharField(max_length=32)
    size = pw.IntegerField()
    have = pw.IntegerField(default=0)
    data = pw.BlobField(null=True)
    first_ms = pw.BigIntegerField()
    complete_ms = pw.BigIntegerField(null=True)

    class Meta:
        table_name = "proof_image"


class ProofChunk(Base):
    """The bytes of an image still arriving, from ``offset``; dropped once the image is whole."""
    sha256 = pw.CharField(max_length=64)
    offset = pw.IntegerField()
    data = pw.BlobField()

    class Meta:
        table_name = "proof_chunk"
        primary_key = pw.CompositeKey("sha256", "offset")


class ProofLink(Base):
    """Which parcel (and sign scan) an image proves, and the station that sent it."""
    waybill = pw.CharField(max_length=WAYBILL_LEN, index=True)
    sha256 = pw.CharField(max_length=64)
    scan_id = pw.CharField(max_length=ID_LEN, null=True)
    station = pw.CharField(max_length=STATION_LEN)
    linked_ms = pw.BigIntegerField()

    class Meta:
        table_name = "proof_link"
        primary_key = pw.CompositeKey("waybill", "sha256")


TABLES = (ScanEvent, Deletion, Parcel, DirtyWaybill, DeadLetter, ProofImage, ProofChunk, ProofLink)


class ChainBreak(Base):
    """A break of a station's scan chain, found as the scans committed (``hub.scans.chain_check``):
    ``kind`` is altered, missing, renumbered, reordered or replayed."""
    station = pw.CharField(max_length=STATION_LEN)
    epoch = pw.CharField(max_length=EPOCH_LEN, default="")
    seq = pw.BigIntegerField()
    kind = pw.CharField(max_length=16)
    found_ms = pw.BigIntegerField()

    class Meta:
        table_name = "chain_break"
        primary_key = pw.CompositeKey("station", "epoch", "seq")


class ChainPending(Base):
    """A chained scan whose predecessor the hub does not hold yet (checked when it arrives)."""
    station = pw.CharField(max_length=STATION_LEN)
    epoch = pw.CharField(max_length=EPOCH_LEN, default="")
    seq = pw.BigIntegerField()

    class Meta:
        table_name = "chain_pending"
        primary_key = pw.CompositeKey("station", "epoch", "seq")


TABLES += (ChainBreak, ChainPending)

#: A deleted scan is history, not state (docs/hub-business.md): every derivation reads only the
#: live scans, those without an audited tombstone.  SQL condition on "scanevent" rows:
LIVE = 'NOT EXISTS (SELECT 1 FROM "deletion" AS "d" WHERE "d"."scan_id" = "scanevent"."id")'


def live_events():
    """``ScanEvent`` rows without a tombstone (peewee condition)."""
    return ~pw.fn.EXISTS(Deletion.select(Deletion.scan_id).where(Deletion.scan_id == ScanEvent.id))
