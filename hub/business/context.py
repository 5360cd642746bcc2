"""What the derivation steps read: basic data as plain data (``Context``) and the events of a set
of waybills (``load_events``), each loaded once per batch and shared by every step of
``hub.ingest.pipeline``.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from contract.issuance import IssuanceIndex
from contract.routing import RoutingData
from hub.business.localtime import DEFAULT_TZ_OFFSET_MIN
from hub.network import basic_data
from hub.network import tables as net
from hub.scans.tables import LIVE
from hub.store.db import database
from hub.store.meta import get_meta

DEFAULT_TRANSIT_MIN = 360     # a run with no shift (site <-> center trucks): 6 h


@dataclass
class Context:
    """Basic data the derivation needs, as plain data (no store access)."""
    routing: RoutingData = field(default_factory=RoutingData)
    issuance: IssuanceIndex = field(default_factory=lambda: IssuanceIndex([]))
    shifts: dict[str, tuple[str, str, int, int]] = field(default_factory=dict)  # code -> from, to, depart_min, transit_min
    centers: frozenset[str] = frozenset()
    regions: dict[str, tuple[str | None, str | None, str | None]] = field(default_factory=dict)
    tz_offset_min: int = DEFAULT_TZ_OFFSET_MIN
    default_transit_min: int = DEFAULT_TRANSIT_MIN

    @classmethod
    def from_config(cls, cfg: Mapping, **kw) -> "Context":
        """Build from a station configuration slice or a network dict (``hub.network``)."""
        shifts = {}
        for s in cfg.get("shifts", []):
            hh, mm = s["depart"].split(":")
            shifts[s["code"]] = (s["from"], s["to"], int(hh) * 60 + int(mm), int(s["transit_min"]))
        sites = cfg.get("sites", [])
        return cls(routing=RoutingData.from_config(cfg), issuance=IssuanceIndex(cfg.get("issuance", [])),
                   shifts=shifts, centers=frozenset(s["code"] for s in sites if s.get("kind") == "center"),
                   regions={s["code"]: (s.get("province"), s.get("city"), s.get("district")) for s in sites},
                   **kw)


_cache: dict[tuple, Context] = {}


def load_context() -> Context:
    """The store's basic data as a ``Context``, cached per store and data version."""
    version = get_meta("data_version", "0")
    key = (id(database.obj), version)
    ctx = _cache.get(key)
    if ctx is None:
        cfg = {
            "sites": basic_data.sites(),
            "shifts": basic_data.shifts(),
            "next_stop": [{"site": r.site, "dest": r.dest, "shift": r.shift, "next": r.next_site}
                          for r in net.NextStopRule.select()],
            "issuance": [{"site": r.site, "first": r.first, "last": r.last} for r in net.Issuance.select()],
        }
        ctx = Context.from_config(
            cfg,
            tz_offset_min=int(get_meta("tz_offset_min", str(DEFAULT_TZ_OFFSET_MIN))),
            default_transit_min=int(get_meta("default_transit_min", str(DEFAULT_TRANSIT_MIN))))
        _cache.clear()
        _cache[key] = ctx
    return ctx


EVENT_FIELDS = ("id", "waybill", "kind", "site", "event_ms", "courier", "next_site", "prev_site", "dest_site",
                "shift", "weight_g", "signer", "extra_json")


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
    """All live events of ``waybills`` (deleted scans are history, not state), grouped by waybill
    (one prepared query per 300 waybills: this runs after every ingest batch)."""
    out: dict[str, list[dict]] = {}
    wbs = sorted(set(waybills))
    db = database.obj
    cols = ", ".join(f'"{f}"' for f in EVENT_FIELDS)
    for i in range(0, len(wbs), 300):
        chunk = wbs[i:i + 300]
        marks = ", ".join(db.param for _ in chunk)
        cur = db.execute_sql(f'SELECT {cols} FROM "scanevent" WHERE "waybill" IN ({marks}) AND {LIVE}', chunk)
        for values in cur.fetchall():
            row = dict(zip(EVENT_FIELDS, values))
            out.setdefault(row["waybill"], []).append(event_dict(row))
    return out
