"""Parcel state: a waybill's latest scan, recomputed from all its live events (the first
derivation step; a scan with an audited tombstone is history, not state).

A parcel's state is recomputed from *all* its events ordered by (event time, kind rank, id),
never updated incrementally, so the same scans in any order give the same state.
"""
from __future__ import annotations

from collections.abc import Iterable

from contract.scan import KIND_RANK
from hub.scans.tables import LIVE, Parcel
from hub.store.db import database, delete_where_in, executemany


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


def refresh(waybills: Iterable[str]) -> None:
    """Derive ``Parcel`` rows for ``waybills`` from all their events."""
    waybills = sorted(set(waybills))
    db = database.obj
    for chunk in _chunks(waybills, 500):
        marks = ", ".join(db.param for _ in chunk)
        cur = db.execute_sql(f'SELECT "id", "waybill", "kind", "site", "event_ms" FROM "scanevent" '
                             f'WHERE "waybill" IN ({marks}) AND {LIVE}', chunk)
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
        gone = [wb for wb in chunk if wb not in events]      # every scan deleted: no state left
        if gone:
            delete_where_in(Parcel, "waybill", gone)


