"""Ingest: commit scan batches idempotently and derive parcel state.

The same scans in any order, duplicated or late, leave the store in the same state:

* a scan is keyed by its stable id; a redelivered scan is ignored (``ON CONFLICT DO NOTHING``);
* a parcel's state is recomputed from *all* its events ordered by (event time, kind rank, id),
  never updated incrementally;
* anything malformed is dead-lettered with its reason, and the rest of the batch still commits.

``AFTER_COMMIT`` holds callables ``fn(waybills: set[str])`` run inside the same transaction
(fees, for instance), so derived data commits or rolls back with the scans.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable

from hub import models as m
from hub.db import bulk_insert, database, executemany, write_transaction

SCHEMA_VERSION = 1
KINDS = ("receive", "dispatch", "arrive", "deliver", "sign", "problem", "hold")
# Tie-break for events at the same instant: the natural order of a parcel's life.
KIND_RANK = {k: i for i, k in enumerate(("receive", "dispatch", "arrive", "problem", "hold", "deliver", "sign"))}
CLOCKS = ("trusted", "corrected", "unknown")
OPTIONAL_TEXT = ("courier", "next_site", "prev_site", "dest_site", "shift", "signer", "operator", "device")
MIN_SANE_MS = 1_577_836_800_000   # 2020-01-01: anything earlier is a clock that was never set

AFTER_COMMIT: list[Callable[[set[str]], None]] = []


class PayloadError(ValueError):
    """A payload or scan that does not follow the documented schema; the message is the reason."""


def now_ms() -> int:
    return int(time.time() * 1000)


def _text(scan: dict, key: str, limit: int, required: bool = False) -> str | None:
    v = scan.get(key)
    if v is None or v == "":
        if required:
            raise PayloadError(f"missing {key}")
        return None
    if not isinstance(v, str):
        raise PayloadError(f"{key} must be a string")
    if len(v) > limit:
        raise PayloadError(f"{key} longer than {limit} characters")
    return v


def _int(scan: dict, key: str, required: bool = True, lo: int | None = None) -> int | None:
    v = scan.get(key)
    if v is None:
        if required:
            raise PayloadError(f"missing {key}")
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise PayloadError(f"{key} must be an integer")
    if lo is not None and v < lo:
        raise PayloadError(f"{key} must be >= {lo}")
    return v


# (field, longest text, required) of a scan's text fields, in the order errors are reported
SCAN_TEXT = (("kind", 16, True), ("clock", 16, False), ("id", 64, True), ("station", 64, True),
             ("epoch", 16, False), ("waybill", 40, True), ("site", 32, True),
             *((k, 100 if k == "signer" else 64, False) for k in OPTIONAL_TEXT))
KIND_SET, CLOCK_SET = frozenset(KINDS), frozenset(CLOCKS)


def scan_row(scan: dict, received_ms: int) -> dict:
    """Validate one scan dict (schema in docs/protocol.md) and map it to a ``ScanEvent`` row.

    This runs for every scan the hub receives, so it is one loop without helper calls."""
    if type(scan) is not dict:
        raise PayloadError("scan must be a JSON object")
    get = scan.get
    row = {}
    for key, limit, required in SCAN_TEXT:
        v = get(key)
        if v is None or v == "":
            if required:
                raise PayloadError(f"missing {key}")
            v = None
        elif type(v) is not str:
            raise PayloadError(f"{key} must be a string")
        elif len(v) > limit:
            raise PayloadError(f"{key} longer than {limit} characters")
        row[key] = v
    if row["kind"] not in KIND_SET:
        raise PayloadError(f"unknown kind {row['kind']!r}")
    if row["clock"] is None:
        row["clock"] = "trusted"
    elif row["clock"] not in CLOCK_SET:
        raise PayloadError(f"unknown clock state {row['clock']!r}")
    row["epoch"] = row["epoch"] or ""
    row["event_ms"] = event_ms = _int(scan, "event_ms")
    if event_ms < MIN_SANE_MS:
        raise PayloadError(f"event_ms {event_ms} is before 2020: the station clock was not corrected")
    row["weight_g"] = _int(scan, "weight_g", required=False, lo=0)
    row["seq"] = _int(scan, "seq", lo=1)
    row["edge_ms"] = _int(scan, "edge_ms")
    row["received_ms"] = received_ms
    extra = get("extra")
    if extra is not None and type(extra) is not dict:
        raise PayloadError("extra must be an object")
    row["extra_json"] = json.dumps(extra, sort_keys=True, ensure_ascii=False) if extra else None
    if row["kind"] == "dispatch" and not (row["next_site"] or row["dest_site"]):
        raise PayloadError("dispatch scan without next_site or dest_site")
    return row


def deletion_row(d: dict) -> dict:
    if not isinstance(d, dict):
        raise PayloadError("deletion must be a JSON object")
    scan = d.get("scan")
    if not isinstance(scan, dict):
        raise PayloadError("deletion without the deleted scan")
    return {
        "scan_id": _text(d, "id", 64, True),
        "station": _text(scan, "station", 64, True),
        "epoch": _text(scan, "epoch", 16) or "",
        "seq": _int(scan, "seq", lo=1),
        "site": _text(scan, "site", 32, True),
        "waybill": _text(scan, "waybill", 40, True),
        "kind": _text(scan, "kind", 16, True),
        "operator": _text(d, "operator", 64),
        "reason": _text(d, "reason", 500, True),
        "deleted_ms": _int(d, "deleted_ms"),
        "uploaded": bool(d.get("uploaded")),
        "scan_json": json.dumps(scan, sort_keys=True, ensure_ascii=False),
    }


def _chunks(rows: list, n: int = 300):
    for i in range(0, len(rows), n):
        yield rows[i:i + n]


def event_order(e) -> tuple:
    """Sort key of a parcel's events: corrected time, then the natural order of kinds, then id."""
    return (e.event_ms, KIND_RANK.get(e.kind, 99), e.id)


PARCEL_UPSERT = ('INSERT INTO "parcel" ("waybill", "status", "site", "last_event_ms", "origin_site", "events") '
                 'VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT ("waybill") DO UPDATE SET "status" = excluded."status", '
                 '"site" = excluded."site", "last_event_ms" = excluded."last_event_ms", '
                 '"origin_site" = excluded."origin_site", "events" = excluded."events"')


def recompute_parcels(waybills: Iterable[str]) -> None:
    """Derive ``Parcel`` rows for ``waybills`` from all their events."""
    waybills = sorted(set(waybills))
    db = database.obj
    for chunk in _chunks(waybills, 500):
        marks = ", ".join(db.param for _ in chunk)
        cur = db.execute_sql(f'SELECT "id", "waybill", "kind", "site", "event_ms" FROM "scanevent" '
                             f'WHERE "waybill" IN ({marks})', chunk)
        events: dict[str, list] = {}
        for row in cur.fetchall():
            events.setdefault(row[1], []).append(row)
        rows = []
        for wb, evs in events.items():
            evs.sort(key=lambda r: (r[4], KIND_RANK.get(r[2], 99), r[0]))
            last = evs[-1]
            origin = next((e[3] for e in evs if e[2] == "receive"), evs[0][3])
            rows.append((wb, last[2], last[3], last[4], origin, len(evs)))
        executemany(PARCEL_UPSERT, rows)


def commit_scans(scans: list[dict], deletions: list[dict] = (), received_ms: int | None = None,
                 derive: bool = True) -> tuple[list[dict], list[tuple[dict, str]]]:
    """Commit ``scans`` and ``deletions`` in one transaction.

    With ``derive`` the derived state (parcels, then ``AFTER_COMMIT``) is recomputed in the same
    transaction; without it the waybills are marked dirty in that transaction and
    ``derive_dirty`` catches up later (the hub's background derivation).

    Returns ``(committed, rejected)``: the scans now in the store (new or already there) and
    ``(scan, reason)`` pairs for the malformed ones, which are dead-lettered in the same transaction.
    """
    received_ms = received_ms or now_ms()
    rows, committed, rejected = [], [], []
    for scan in scans:
        try:
            rows.append(scan_row(scan, received_ms))
            committed.append(scan)
        except PayloadError as e:
            rejected.append((scan, str(e)))
    dels = []
    for d in deletions:
        try:
            dels.append(deletion_row(d))
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
        if not derive:
            executemany(DIRTY_UPSERT, [(wb, received_ms) for wb in waybills])
        else:
            derive_now(waybills)
    return committed, rejected


DIRTY_UPSERT = ('INSERT INTO "dirtywaybill" ("waybill", "since_ms", "mark") VALUES (?, ?, 0) '
                'ON CONFLICT ("waybill") DO UPDATE SET "mark" = "dirtywaybill"."mark" + 1')


def derive_now(waybills: set[str]) -> None:
    """Recompute parcels and run the ``AFTER_COMMIT`` hooks for ``waybills`` (inside a transaction)."""
    if waybills:
        recompute_parcels(waybills)
    for fn in AFTER_COMMIT:
        fn(waybills)


def derive_dirty(limit: int = 500) -> int:
    """Derive up to ``limit`` dirty waybills, oldest first, in one transaction; returns how many.

    A waybill scanned again meanwhile keeps its mark (its ``mark`` moved on) and comes back."""
    db = database.obj
    with write_transaction():
        rows = db.execute_sql(f'SELECT "waybill", "mark" FROM "dirtywaybill" ORDER BY "since_ms" '
                              f'LIMIT {int(limit)}').fetchall()
        if not rows:
            return 0
        derive_now({wb for wb, _ in rows})
        executemany('DELETE FROM "dirtywaybill" WHERE "waybill" = ? AND "mark" = ?', rows)
    return len(rows)


def dirty_count() -> int:
    return m.DirtyWaybill.select().count()


def dead_letter(topic: str, reason: str, payload: bytes, station: str | None = None,
                received_ms: int | None = None, seq: int | None = None) -> None:
    m.DeadLetter.create(received_ms=received_ms or now_ms(), topic=topic[:200], station=station,
                        reason=reason, payload=payload, seq=seq)
