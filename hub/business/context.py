"""What the derivation steps read besides the events (``hub.scans.events``): basic data as plain
data (``Context``), loaded once per batch and shared by every step of ``hub.ingest.pipeline``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from contract.issuance import IssuanceIndex
from contract.routing import RoutingData
from hub.business.localtime import DEFAULT_TZ_OFFSET_MIN
from hub.network import basic_data
from hub.network import tables as net
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
