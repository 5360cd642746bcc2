"""Parcel state: a waybill's latest scan, recomputed from all its live events (the first
derivation step; a scan with an audited tombstone is history, not state).

A parcel's state is recomputed from *all* its events ordered by (event time, kind rank, id),
never updated incrementally, so the same scans in any order give the same state.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from contract.scan import KIND_RANK, event_key
from hub.scans.tables import Parcel
from hub.store.db import bulk_upsert, delete_where_in


def event_order(e) -> tuple:
    """Sort key of a parcel's events as ``ScanEvent`` rows (``contract.scan.event_key`` for dicts)."""
    return (e.event_ms, KIND_RANK.get(e.kind, 99), e.id)


def refresh(waybills: Iterable[str], events: Mapping[str, list[dict]]) -> None:
    """Derive ``Parcel`` rows for ``waybills`` from all their live events (``events`` as
    ``hub.scans.events.load_events`` gives them); a waybill without one has no state left."""
    rows, gone = [], []
    for wb in sorted(set(waybills)):
        evs = sorted(events.get(wb, ()), key=event_key)
        if not evs:
            gone.append(wb)
            continue
        last = evs[-1]
        origin = next((e["site"] for e in evs if e["kind"] == "receive"), evs[0]["site"])
        rows.append({"waybill": wb, "status": last["kind"], "site": last["site"], "last_event_ms": last["event_ms"],
                     "origin_site": origin, "events": len(evs)})
    bulk_upsert(Parcel, rows, "waybill")
    if gone:
        delete_where_in(Parcel, "waybill", gone)
