"""Monitoring diffs (seed 001 5.6.4): the eight per-site reports, and the scan facts behind them.

Every report is a query over ``ScanFact``, a per-scan annotation that ``refresh`` recomputes from
*all* scans of the waybills an ingest batch touched.  Because facts are derived per waybill from
the full set of its scans, the same scans in any order, duplicated or late, give the same facts.

Rules (times are corrected event times, UTC ms; a window is ``since <= t < until``):

====================== ======================================================================
report                 a row is
====================== ======================================================================
deleted-unuploaded     an audited deletion at the site of a scan that never reached the hub
not-arrived            a dispatch whose next stop is the site, dispatched in the window, with
                       no arrival scan at the site at or after the dispatch
expected-arrivals      the same dispatches, selected by expected arrival time in the window
                       (next departure of the shift + its transit time)
delivered-unsigned     a delivery scan at the site with no sign scan at or after it
                       (``problem: unsigned``), or a sign scan at the site with no delivery scan
                       at or before it (``problem: signed-without-delivery``)
arrived-not-dispatched an arrival at the site with no dispatch, delivery or sign at the site at
                       or after it
dispatched-not-arrived a dispatch from the site with no arrival at its next stop, and the
                       expected arrival + grace is before ``as_of``
received-not-dispatched a receive at the site with no dispatch/delivery/sign there after it
                       (``problem: received-not-dispatched``), or a dispatch from the site with no
                       receive or arrival there before it (``problem: dispatched-not-received``)
prev-not-dispatched    an arrival at the site whose previous stop has no dispatch toward it
====================== ======================================================================
"""
from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from hub import basic_data
from hub import business_models as bm
from hub import models as m
from hub.db import bulk_insert, database, delete_where_in
from hub.next_stop import RoutingData
from hub.previous_stop import IssuanceIndex, event_key, previous_stop

MOVES = ("receive", "dispatch", "arrive", "deliver", "sign")
DEFAULT_TRANSIT_MIN = 360     # a run with no shift (site <-> center trucks): 6 h
DEFAULT_GRACE_MIN = 120
DEFAULT_TZ_OFFSET_MIN = 480   # shift departures are local times; China standard time by default

REPORTS = ("deleted-unuploaded", "not-arrived", "expected-arrivals", "delivered-unsigned",
           "arrived-not-dispatched", "dispatched-not-arrived", "received-not-dispatched",
           "prev-not-dispatched")


class MonitorError(ValueError):
    """A monitoring request that cannot be answered (unknown report, unknown site, bad window)."""


# ---------------------------------------------------------------- context (basic data, cached)

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
    version = basic_data.get_meta("data_version", "0")
    key = (id(database.obj), version)
    ctx = _cache.get(key)
    if ctx is None:
        cfg = {
            "sites": basic_data.sites(),
            "shifts": basic_data.shifts(),
            "next_stop": [{"site": r.site, "dest": r.dest, "shift": r.shift, "next": r.next_site}
                          for r in m.NextStopRule.select()],
            "issuance": [{"site": r.site, "first": r.first, "last": r.last} for r in m.Issuance.select()],
        }
        ctx = Context.from_config(
            cfg,
            tz_offset_min=int(basic_data.get_meta("tz_offset_min", str(DEFAULT_TZ_OFFSET_MIN))),
            default_transit_min=int(basic_data.get_meta("default_transit_min", str(DEFAULT_TRANSIT_MIN))))
        _cache.clear()
        _cache[key] = ctx
    return ctx


# ---------------------------------------------------------------- pure derivation

def resolve_next(site: str, dest: str | None, shift: str | None, ctx: Context) -> tuple[str | None, str | None]:
    """``(next_site, source)`` by the next-stop table, the shift, then the route (``hub.next_stop``)."""
    r = ctx.routing
    if dest and dest != site:
        if shift and (site, dest, shift) in r.rules:
            return r.rules[(site, dest, shift)], "table"
        if (site, dest, "") in r.rules:
            return r.rules[(site, dest, "")], "table"
    if shift and shift in r.shifts and r.shifts[shift][0] == site:
        return r.shifts[shift][1], "shift"
    if dest and dest != site:
        hop = r.route_first_hop(site, dest)
        if hop:
            return hop, "route"
    return None, None


def _departure_after(t_ms: int, depart_min: int, tz_offset_min: int) -> int:
    """The first departure at local ``depart_min`` (minutes after midnight) at or after ``t_ms``."""
    offset = tz_offset_min * 60_000
    day = (t_ms + offset) // 86_400_000 * 86_400_000 - offset
    dep = day + depart_min * 60_000
    return dep if dep >= t_ms else dep + 86_400_000


def expected_arrival(site: str, peer: str | None, shift: str | None, t_ms: int, ctx: Context) -> int:
    """Expected arrival (ms) of a dispatch at ``t_ms`` from ``site`` toward ``peer``.

    The scan's shift if it leaves this site, else the earliest of the shifts from ``site`` to
    ``peer``, else ``t_ms`` + the default transit time.
    """
    if shift in ctx.shifts and ctx.shifts[shift][0] == site:
        _, _, dep, transit = ctx.shifts[shift]
        return _departure_after(t_ms, dep, ctx.tz_offset_min) + transit * 60_000
    runs = [v for v in ctx.shifts.values() if v[0] == site and v[1] == peer]
    if runs:
        return min(_departure_after(t_ms, dep, ctx.tz_offset_min) + transit * 60_000 for _, _, dep, transit in runs)
    return t_ms + ctx.default_transit_min * 60_000


def parcel_dest(events: list[Mapping]) -> str | None:
    """The destination: the latest scan that names one, else where it was delivered or signed."""
    named = [e for e in events if e.get("dest_site")]
    if named:
        return max(named, key=event_key)["dest_site"]
    for kind in ("deliver", "sign"):
        done = [e for e in events if e["kind"] == kind]
        if done:
            return max(done, key=event_key)["site"]
    return None


def resolved_events(events: Iterable[Mapping], ctx: Context) -> tuple[list[dict], str | None]:
    """Events sorted by ``event_key`` with each dispatch's ``next_site`` resolved (``next_src``)."""
    evs = sorted((dict(e) for e in events), key=event_key)
    dest = parcel_dest(evs)
    for e in evs:
        if e["kind"] != "dispatch":
            continue
        if e.get("next_site"):
            e["next_src"] = "scan"
        else:
            e["next_site"], e["next_src"] = resolve_next(e["site"], e.get("dest_site") or dest, e.get("shift"), ctx)
    return evs, dest


def derive(events: Iterable[Mapping], ctx: Context) -> tuple[list[dict], dict | None]:
    """``(scan facts, parcel fact)`` for ONE waybill's events (dicts shaped like ``ScanEvent``)."""
    evs, dest = resolved_events(events, ctx)
    if not evs:
        return [], None
    facts = []
    for e in evs:
        t, site, kind = e["event_ms"], e["site"], e["kind"]
        f = {"scan_id": e["id"], "waybill": e["waybill"], "site": site, "kind": kind, "event_ms": t,
             "peer": None, "peer_src": None, "courier": e.get("courier"), "shift": e.get("shift"),
             "weight_g": e.get("weight_g"), "expected_ms": None, "closed_ms": t, "orphan": False}
        if kind == "dispatch":
            peer = e.get("next_site")
            f["peer"], f["peer_src"] = peer, e.get("next_src")
            f["expected_ms"] = expected_arrival(site, peer, e.get("shift"), t, ctx)
            if peer:
                hits = [x["event_ms"] for x in evs if x["kind"] == "arrive" and x["site"] == peer and x["event_ms"] >= t]
            else:
                hits = [x["event_ms"] for x in evs if x["kind"] == "arrive" and x["site"] != site and x["event_ms"] >= t]
            f["closed_ms"] = min(hits) if hits else None
            f["orphan"] = not any(x["kind"] in ("receive", "arrive") and x["site"] == site and x["event_ms"] <= t
                                  for x in evs)
        elif kind in ("receive", "arrive"):
            hits = [x["event_ms"] for x in evs
                    if x["kind"] in ("dispatch", "deliver", "sign") and x["site"] == site and x["event_ms"] >= t]
            f["closed_ms"] = min(hits) if hits else None
            if kind == "arrive":
                f["peer"], f["peer_src"] = previous_stop(e, evs, ctx.issuance)
                f["orphan"] = f["peer_src"] != "dispatch"
        elif kind == "deliver":
            hits = [x["event_ms"] for x in evs if x["kind"] == "sign" and x["event_ms"] >= t]
            f["closed_ms"] = min(hits) if hits else None
        elif kind == "sign":
            f["orphan"] = not any(x["kind"] == "deliver" and x["event_ms"] <= t for x in evs)
        f["open"] = f["closed_ms"] is None
        facts.append(f)
    return facts, _parcel_fact(evs, dest, facts, ctx)


def _parcel_fact(evs: list[dict], dest: str | None, facts: list[dict], ctx: Context) -> dict:
    last = evs[-1]
    receives = [e for e in evs if e["kind"] == "receive"]
    origin = receives[0] if receives else None
    delivers = [e for e in evs if e["kind"] == "deliver"]
    signs = [e for e in evs if e["kind"] == "sign"]
    moves = [e for e in evs if e["kind"] in MOVES]
    p = {"waybill": last["waybill"],
         "origin_site": origin["site"] if origin else ctx.issuance.site_of(last["waybill"]),
         "origin_ms": origin["event_ms"] if origin else None,
         "receive_courier": origin.get("courier") if origin else None,
         "dest_site": dest, "status": last["kind"], "status_site": last["site"], "last_ms": last["event_ms"],
         "holder": None, "holder_kind": None, "holder_since_ms": None, "holder_from": None,
         "center": None, "center_ms": None,
         "deliver_site": delivers[-1]["site"] if delivers else None,
         "deliver_ms": delivers[-1]["event_ms"] if delivers else None,
         "deliver_courier": delivers[-1].get("courier") if delivers else None,
         "sign_site": signs[0]["site"] if signs else None,
         "sign_ms": signs[0]["event_ms"] if signs else None,
         "signer": signs[0].get("signer") if signs else None,
         "problem": any(e["kind"] == "problem" for e in evs)}
    if moves and moves[-1]["kind"] in ("receive", "arrive"):
        h = moves[-1]
        p["holder"], p["holder_kind"], p["holder_since_ms"] = h["site"], h["kind"], h["event_ms"]
        if h["kind"] == "arrive":
            p["holder_from"] = next(f["peer"] for f in facts if f["scan_id"] == h["id"])
    terminal = p["sign_site"] or p["deliver_site"] or dest
    if terminal:
        runs = [e for e in evs if e["kind"] == "dispatch" and e["site"] in ctx.centers and e.get("next_site") == terminal]
        if runs:
            p["center"], p["center_ms"] = runs[-1]["site"], runs[-1]["event_ms"]
    return p


# ---------------------------------------------------------------- store: refresh and rebuild

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
    """All events of ``waybills``, grouped by waybill (one prepared query per 300 waybills: this
    runs after every ingest batch)."""
    out: dict[str, list[dict]] = {}
    wbs = sorted(set(waybills))
    db = database.obj
    cols = ", ".join(f'"{f}"' for f in EVENT_FIELDS)
    for i in range(0, len(wbs), 300):
        chunk = wbs[i:i + 300]
        marks = ", ".join(db.param for _ in chunk)
        cur = db.execute_sql(f'SELECT {cols} FROM "scanevent" WHERE "waybill" IN ({marks})', chunk)
        for values in cur.fetchall():
            row = dict(zip(EVENT_FIELDS, values))
            out.setdefault(row["waybill"], []).append(event_dict(row))
    return out


def _insert(model, rows: list[dict]) -> None:
    bulk_insert(model, rows)


def refresh(waybills: Iterable[str], ctx: Context | None = None,
            events: dict[str, list[dict]] | None = None) -> None:
    """Recompute ``ScanFact`` and ``ParcelFact`` rows of ``waybills`` from all their scans
    (``events`` from ``load_events`` when the caller already has them)."""
    wbs = sorted(set(waybills))
    if not wbs:
        return
    ctx = ctx or load_context()
    events = load_events(wbs) if events is None else events
    facts, parcels = [], []
    for wb in wbs:
        f, p = derive(events.get(wb, []), ctx)
        facts.extend(f)
        if p:
            parcels.append(p)
    with database.atomic():
        delete_where_in(bm.ScanFact, "waybill", wbs)
        delete_where_in(bm.ParcelFact, "waybill", wbs)
        _insert(bm.ScanFact, facts)
        _insert(bm.ParcelFact, parcels)


def rebuild_all(batch: int = 2000, progress=None) -> int:
    """Recompute every fact from ``ScanEvent`` (after a bulk load or a basic-data change).

    Returns the number of waybills; ``progress(n)`` is called after each batch.
    """
    ctx = load_context()
    with database.atomic():
        bm.ScanFact.delete().execute()
        bm.ParcelFact.delete().execute()
    cols = [getattr(m.ScanEvent, f) for f in EVENT_FIELDS]
    done, current, events = 0, None, []
    facts, parcels = [], []

    def flush():
        with database.atomic():
            _insert(bm.ScanFact, facts)
            _insert(bm.ParcelFact, parcels)
        facts.clear()
        parcels.clear()

    for row in m.ScanEvent.select(*cols).order_by(m.ScanEvent.waybill).dicts().iterator():
        if row["waybill"] != current and events:
            f, p = derive(events, ctx)
            facts.extend(f)
            parcels.append(p)
            done += 1
            events = []
            if len(parcels) >= batch:
                flush()
                if progress:
                    progress(done)
        current = row["waybill"]
        events.append(event_dict(row))
    if events:
        f, p = derive(events, ctx)
        facts.extend(f)
        parcels.append(p)
        done += 1
    flush()
    return done


# ---------------------------------------------------------------- the eight reports

def now_ms() -> int:
    return int(time.time() * 1000)


def _window(q, col, since_ms, until_ms):
    if since_ms is not None:
        q = q.where(col >= since_ms)
    if until_ms is not None:
        q = q.where(col < until_ms)
    return q


def _facts(site, kind, since_ms, until_ms, *, by="site", open_=None, orphan=None):
    F = bm.ScanFact
    q = F.select(F.waybill, F.scan_id, F.site, F.event_ms, F.peer, F.peer_src, F.courier, F.shift,
                 F.expected_ms, F.closed_ms, F.weight_g)
    q = q.where(F.kind == kind)
    if site is not None:
        q = q.where((F.peer if by == "peer" else F.site) == site)
    if open_ is not None:
        q = q.where(F.open == open_)
    if orphan is not None:
        q = q.where(F.orphan == orphan)
    return _window(q, F.event_ms, since_ms, until_ms)


def deleted_unuploaded(site, since_ms=None, until_ms=None, **_) -> list[dict]:
    D = m.Deletion
    q = D.select().where(D.uploaded == False)  # noqa: E712
    if site is not None:
        q = q.where(D.site == site)
    q = _window(q, D.deleted_ms, since_ms, until_ms).order_by(D.deleted_ms, D.scan_id)
    return [{"waybill": d.waybill, "site": d.site, "kind": d.kind, "station": d.station, "seq": d.seq,
             "operator": d.operator, "reason": d.reason, "deleted_ms": d.deleted_ms} for d in q]


def not_arrived(site, since_ms=None, until_ms=None, **_) -> list[dict]:
    q = _facts(site, "dispatch", since_ms, until_ms, by="peer", open_=True)
    return [{"waybill": f.waybill, "site": f.peer, "from_site": f.site, "dispatch_ms": f.event_ms,
             "shift": f.shift, "expected_ms": f.expected_ms}
            for f in q.order_by(bm.ScanFact.event_ms, bm.ScanFact.scan_id)]


def expected_arrivals(site, since_ms=None, until_ms=None, **_) -> list[dict]:
    F = bm.ScanFact
    q = _facts(site, "dispatch", None, None, by="peer", open_=True)
    q = _window(q, F.expected_ms, since_ms, until_ms)
    return [{"waybill": f.waybill, "site": f.peer, "from_site": f.site, "dispatch_ms": f.event_ms,
             "shift": f.shift, "expected_ms": f.expected_ms}
            for f in q.order_by(F.expected_ms, F.scan_id)]


def delivered_unsigned(site, since_ms=None, until_ms=None, **_) -> list[dict]:
    rows = [{"waybill": f.waybill, "site": f.site, "problem": "unsigned", "courier": f.courier, "at_ms": f.event_ms}
            for f in _facts(site, "deliver", since_ms, until_ms, open_=True)]
    rows += [{"waybill": f.waybill, "site": f.site, "problem": "signed-without-delivery", "courier": f.courier,
              "at_ms": f.event_ms} for f in _facts(site, "sign", since_ms, until_ms, orphan=True)]
    return sorted(rows, key=lambda r: (r["at_ms"], r["waybill"], r["problem"]))


def arrived_not_dispatched(site, since_ms=None, until_ms=None, **_) -> list[dict]:
    q = _facts(site, "arrive", since_ms, until_ms, open_=True)
    return [{"waybill": f.waybill, "site": f.site, "arrive_ms": f.event_ms, "prev_site": f.peer}
            for f in q.order_by(bm.ScanFact.event_ms, bm.ScanFact.scan_id)]


def dispatched_not_arrived(site, since_ms=None, until_ms=None, *, as_of_ms=None,
                           grace_min=DEFAULT_GRACE_MIN, **_) -> list[dict]:
    as_of_ms = now_ms() if as_of_ms is None else as_of_ms
    F = bm.ScanFact
    q = _facts(site, "dispatch", since_ms, until_ms, open_=True).where(F.expected_ms + grace_min * 60_000 <= as_of_ms)
    return [{"waybill": f.waybill, "site": f.site, "next_site": f.peer, "dispatch_ms": f.event_ms,
             "shift": f.shift, "expected_ms": f.expected_ms, "overdue_min": (as_of_ms - f.expected_ms) // 60_000}
            for f in q.order_by(F.event_ms, F.scan_id)]


def received_not_dispatched(site, since_ms=None, until_ms=None, **_) -> list[dict]:
    rows = [{"waybill": f.waybill, "site": f.site, "problem": "received-not-dispatched", "courier": f.courier,
             "at_ms": f.event_ms, "next_site": None}
            for f in _facts(site, "receive", since_ms, until_ms, open_=True)]
    rows += [{"waybill": f.waybill, "site": f.site, "problem": "dispatched-not-received", "courier": f.courier,
              "at_ms": f.event_ms, "next_site": f.peer}
             for f in _facts(site, "dispatch", since_ms, until_ms, orphan=True)]
    return sorted(rows, key=lambda r: (r["at_ms"], r["waybill"], r["problem"]))


def prev_not_dispatched(site, since_ms=None, until_ms=None, **_) -> list[dict]:
    q = _facts(site, "arrive", since_ms, until_ms, orphan=True)
    return [{"waybill": f.waybill, "site": f.site, "arrive_ms": f.event_ms, "prev_site": f.peer,
             "prev_source": f.peer_src}
            for f in q.order_by(bm.ScanFact.event_ms, bm.ScanFact.scan_id)]


_FUNCS = {
    "deleted-unuploaded": deleted_unuploaded,
    "not-arrived": not_arrived,
    "expected-arrivals": expected_arrivals,
    "delivered-unsigned": delivered_unsigned,
    "arrived-not-dispatched": arrived_not_dispatched,
    "dispatched-not-arrived": dispatched_not_arrived,
    "received-not-dispatched": received_not_dispatched,
    "prev-not-dispatched": prev_not_dispatched,
}


def report(name: str, site: str | None, since_ms: int | None = None, until_ms: int | None = None,
           as_of_ms: int | None = None, grace_min: int = DEFAULT_GRACE_MIN) -> list[dict]:
    """Run report ``name`` for ``site`` (None = every site) over ``[since_ms, until_ms)``."""
    fn = _FUNCS.get(name)
    if fn is None:
        raise MonitorError(f"unknown report {name!r} (one of: {', '.join(REPORTS)})")
    if since_ms is not None and until_ms is not None and since_ms > until_ms:
        raise MonitorError("--since is after --until")
    if grace_min < 0:
        raise MonitorError("grace must be >= 0 minutes")
    if site is not None and m.Site.get_or_none(m.Site.code == site) is None:
        raise MonitorError(f"unknown site {site}")
    return fn(site, since_ms, until_ms, as_of_ms=as_of_ms, grace_min=grace_min)


def parse_time(text: str, tz_offset_min: int = DEFAULT_TZ_OFFSET_MIN) -> int:
    """``YYYY-MM-DD``, ``YYYY-MM-DDTHH:MM[:SS]`` (local network time) or epoch ms -> UTC ms."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    tz = dt.timezone(dt.timedelta(minutes=tz_offset_min))
    for fmt in ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"):
        try:
            return int(dt.datetime.strptime(text, fmt).replace(tzinfo=tz).timestamp() * 1000)
        except ValueError:
            continue
    raise MonitorError(f"bad time {text!r}: use YYYY-MM-DD, YYYY-MM-DDTHH:MM or epoch milliseconds")


def format_ms(ms: int | None, tz_offset_min: int = DEFAULT_TZ_OFFSET_MIN) -> str:
    """Local network time ``YYYY-MM-DD HH:MM:SS`` of ``ms`` ("" for None)."""
    if ms is None:
        return ""
    tz = dt.timezone(dt.timedelta(minutes=tz_offset_min))
    return dt.datetime.fromtimestamp(ms / 1000, tz).strftime("%Y-%m-%d %H:%M:%S")
