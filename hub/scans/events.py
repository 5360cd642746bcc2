"""Reading committed scans as plain dicts: the events every derivation step takes.

``load_events(waybills)`` reads the live events of a batch's waybills once (a scan with an
audited tombstone is history, not state: ``tables.LIVE``); the derivation pipeline hands the
result to each of its steps.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from hub.scans.tables import LIVE
from hub.store.db import rows_where_in

EVENT_FIELDS = ("id", "waybill", "kind", "site", "event_ms", "courier", "next_site", "prev_site", "dest_site",
                "shift", "weight_g", "signer", "sign_type", "reason", "bag", "seal", "extra_json")


def event_dict(row: Mapping) -> dict:
    """A ``ScanEvent`` row (as a dict) in the shape the pure functions take (``extra`` decoded)."""
    d = {k: row[k] for k in EVENT_FIELDS if k != "extra_json"}
    raw = row.get("extra_json")
    try:
        d["extra"] = json.loads(raw) if raw else {}
    except ValueError:
        d["extra"] = {}
    return d


def load_events(waybills: Iterable[str]) -> dict[str, list[dict]]:
    """All live events of ``waybills`` (deleted scans are history, not state), grouped by waybill:
    one prepared query per 500 waybills (this runs for every derived set of waybills)."""
    out: dict[str, list[dict]] = {}
    cols = ", ".join(f'"{f}"' for f in EVENT_FIELDS)
    sql = f'SELECT {cols} FROM "scanevent" WHERE "waybill" IN ({{in}}) AND {LIVE}'
    for values in rows_where_in(sql, sorted(set(waybills))):
        row = dict(zip(EVENT_FIELDS, values))
        out.setdefault(row["waybill"], []).append(event_dict(row))
    return out
