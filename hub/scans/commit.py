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
from contract.scan import validate_deletion, validate_scan
from hub.scans import tables as m
from hub.store.db import bulk_insert, database, executemany

DIRTY_UPSERT = ('INSERT INTO "dirtywaybill" ("waybill", "since_ms", "mark") VALUES (?, ?, 0) '
                'ON CONFLICT ("waybill") DO UPDATE SET "mark" = "dirtywaybill"."mark" + 1')


def commit_scans(scans: list[dict], deletions: list[dict] = (), received_ms: int | None = None,
                 derive: Callable[[set[str]], None] | None = None) -> tuple[list[dict], list[tuple[dict, str]]]:
    """Commit ``scans`` and ``deletions`` in one transaction.

    With ``derive`` (the derivation pipeline, ``hub.ingest.pipeline.derive``) the derived state of
    the batch's waybills is recomputed in the same transaction; without it the waybills are marked
    dirty in that transaction and the background derivation catches up later.

    Returns ``(committed, rejected)``: the scans now in the store (new or already there) and
    ``(scan, reason)`` pairs for the malformed ones, which are dead-lettered in the same transaction.
    """
    received_ms = received_ms or now_ms()
    rows, committed, rejected = [], [], []
    for scan in scans:
        try:
            row = validate_scan(scan)
            row["received_ms"] = received_ms
            rows.append(row)
            committed.append(scan)
        except PayloadError as e:
            rejected.append((scan, str(e)))
    dels = []
    for d in deletions:
        try:
            dels.append(validate_deletion(d))
        except PayloadError as e:
            rejected.append((d, f"deletion: {e}"))
    with database.atomic():
        bulk_insert(m.ScanEvent, rows, ignore_conflicts=True)
        bulk_insert(m.Deletion, dels, ignore_conflicts=True)
        for item, reason in rejected:
            station = item.get("station") if isinstance(item, dict) else None
            dead_letter("scan", reason, json.dumps(item, ensure_ascii=False, default=str).encode(),
                        station=station if isinstance(station, str) else None, received_ms=received_ms,
                        seq=item.get("seq") if isinstance(item, dict) and isinstance(item.get("seq"), int) else None)
        waybills = {r["waybill"] for r in rows}
        if derive is None:
            executemany(DIRTY_UPSERT, [(wb, received_ms) for wb in waybills])
        else:
            derive(waybills)
    return committed, rejected


def dead_letter(topic: str, reason: str, payload: bytes, station: str | None = None,
                received_ms: int | None = None, seq: int | None = None) -> None:
    m.DeadLetter.create(received_ms=received_ms or now_ms(), topic=topic[:200], station=station,
                        reason=reason, payload=payload, seq=seq)
