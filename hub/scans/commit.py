"""Committing scan batches: idempotent, order-independent, and every reject explained.

The same scans in any order, duplicated or late, leave the store in the same state:

* a scan is keyed by its stable id; a redelivered scan is ignored (``ON CONFLICT DO NOTHING``);
* anything malformed is dead-lettered with its reason (schema: ``contract.scan``), and the rest of
  the batch still commits;
* derived state follows in the same transaction (``derive=…``) or later, from the dirty marks
  written in the same transaction (``hub.ingest.pipeline``).
"""
from __future__ import annotations

import json
from collections.abc import Callable

from contract.clock import now_ms
from contract.errors import PayloadError
from contract.scan import CONTENT_FIELDS, validate_deletion, validate_scan
from hub.scans import chain_check
from hub.scans import tables as m
from hub.store.db import bulk_insert, database, executemany

DIRTY_UPSERT = ('INSERT INTO "dirtywaybill" ("waybill", "since_ms", "mark") VALUES (?, ?, 0) '
                'ON CONFLICT ("waybill") DO UPDATE SET "mark" = "dirtywaybill"."mark" + 1')


def validate_scans(scans: list) -> list:
    """Each scan as its row (``contract.scan.validate_scan``) or the ``PayloadError`` refusing it.
    Pure (no store): the hub does it for a batch while the batches before it commit."""
    out = []
    for scan in scans:
        try:
            out.append(validate_scan(scan))
        except PayloadError as e:
            out.append(e)
    return out


def commit_scans(scans: list[dict], deletions: list[dict] = (), received_ms: int | None = None,
                 derive: Callable[[set[str]], None] | None = None,
                 rows: list | None = None) -> tuple[list[dict], list[tuple[dict, str]]]:
    """Commit ``scans`` and ``deletions`` in one transaction.

    With ``derive`` (the derivation pipeline, ``hub.ingest.pipeline.derive``) the derived state of
    the batch's waybills is recomputed in the same transaction; without it the waybills are marked
    dirty in that transaction and the background derivation catches up later.

    Returns ``(committed, rejected)``: the scans now in the store (new, or already there with the
    same content) and ``(item, reason)`` pairs for the rest, each dead-lettered in the same
    transaction: scans and deletions that break the schema, a scan whose id is already committed
    with other content (``conflict:``, the dead letter keeps both versions), and a tombstone for
    another station's scan.  ``rows``: ``validate_scans(scans)`` when the caller has it already.
    """
    received_ms = received_ms or now_ms()
    checked = validate_scans(scans) if rows is None else rows
    rows, committed, rejected = [], [], []
    for scan, row in zip(scans, checked, strict=True):
        if isinstance(row, PayloadError):
            rejected.append((scan, str(row)))
            continue
        row["received_ms"] = received_ms
        rows.append(row)
        committed.append(scan)
    dels, del_items = [], []
    for d in deletions:
        try:
            dels.append(validate_deletion(d))
            del_items.append(d)
        except PayloadError as e:
            rejected.append((d, f"deletion: {e}"))
    with database.atomic():
        inserted = bulk_insert(m.ScanEvent, rows, ignore_conflicts=True)
        if inserted != len(rows):              # some ids were there already: same scan, or a conflict?
            for i in sorted(_conflicts(rows), reverse=True):
                scan, stored = committed.pop(i), rows.pop(i)
                rejected.append((scan, f"conflict: scan id {stored['id']} was committed with other content"))
        if dels:
            for i in sorted(_foreign_tombstones(dels), reverse=True):
                d, row = del_items.pop(i), dels.pop(i)
                rejected.append((d, f"deletion: scan {row['scan_id']} belongs to another station"))
        bulk_insert(m.Deletion, dels, ignore_conflicts=True)
        chain_check.check(rows, dels, received_ms)      # the scan chain, verified on ingest
        for item, reason in rejected:
            kept = {"sent": item, "stored": _stored(item["id"])} if reason.startswith("conflict:") else item
            dead_letter_item("scan", reason, item, kept=kept, received_ms=received_ms)
        waybills = {r["waybill"] for r in rows} | {d["waybill"] for d in dels}
        if derive is None:
            executemany(DIRTY_UPSERT, [(wb, received_ms) for wb in waybills])
        else:
            derive(waybills)
    return committed, rejected


def _by_id(ids: list[str], columns: tuple[str, ...]) -> dict[str, tuple]:
    db = database.obj
    out = {}
    cols = ", ".join(f'"{c}"' for c in ("id",) + columns)
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        cur = db.execute_sql(f'SELECT {cols} FROM "scanevent" WHERE "id" IN ({", ".join(db.param for _ in chunk)})',
                             chunk)
        for r in cur.fetchall():
            out[r[0]] = tuple(r[1:])
    return out


def _conflicts(rows: list[dict]) -> list[int]:
    """Indexes of ``rows`` whose id is stored with other content (``contract.scan.CONTENT_FIELDS``)."""
    stored = _by_id(sorted({r["id"] for r in rows}), CONTENT_FIELDS)
    return [i for i, r in enumerate(rows)
            if r["id"] in stored and stored[r["id"]] != tuple(r[c] for c in CONTENT_FIELDS)]


def _foreign_tombstones(dels: list[dict]) -> list[int]:
    """Indexes of deletions naming a committed scan of another station."""
    stored = _by_id(sorted({d["scan_id"] for d in dels}), ("station",))
    return [i for i, d in enumerate(dels) if d["scan_id"] in stored and stored[d["scan_id"]][0] != d["station"]]


def _stored(scan_id: str) -> dict | None:
    row = m.ScanEvent.get_or_none(m.ScanEvent.id == scan_id)
    return None if row is None else dict(row.__data__)


def dead_letter_item(topic: str, reason: str, item, *, station: str | None = None, kept=None,
                     received_ms: int | None = None) -> None:
    """Dead-letter one scan or tombstone of a batch: the station is ``station`` or the one the item
    names (a tombstone names it in its ``scan``), the seq its own when it has one, the payload
    ``kept`` (default: the item) as JSON."""
    if station is None and isinstance(item, dict):
        station = item.get("station")
        if station is None and isinstance(item.get("scan"), dict):
            station = item["scan"].get("station")
    seq = item.get("seq") if isinstance(item, dict) and type(item.get("seq")) is int else None
    dead_letter(topic, reason, json.dumps(item if kept is None else kept, ensure_ascii=False, default=str).encode(),
                station=station if isinstance(station, str) else None, received_ms=received_ms, seq=seq)


def dead_letter(topic: str, reason: str, payload: bytes, station: str | None = None,
                received_ms: int | None = None, seq: int | None = None) -> None:
    m.DeadLetter.create(received_ms=received_ms or now_ms(), topic=topic[:200], station=station,
                        reason=reason, payload=payload, seq=seq)
