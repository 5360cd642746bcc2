"""Bags (建包 / 拆包): which parcels went into which bag, what the bag's own scans give each parcel,
and the bag diffs (docs/hub-business.md, "Bags").

Scans (``contract.scan``): ``bag_build`` and ``bag_open`` are parcel scans naming the ``bag``;
``load`` and ``unload`` scan the bag as one unit (``waybill`` = ``bag`` = the bag number; a load
is the bag's dispatch toward ``next_site``, an unload its arrival, both with the truck's or
cage's ``seal``).

**A bag's life** (a *cycle*): its build scans, then its open scans; a build scan after an open
starts the next cycle (bag labels are reused).  **Piece inference**: a parcel built into a bag
inherits every load and unload of that bag between its build scan and the cycle's first open
scan, as an inferred ``dispatch`` (load) or ``arrive`` (unload) at the unit scan's site and time,
so a center that scans only bags still gives every parcel its track.

Everything here is a pure function of the scans (sorted by ``contract.scan.event_key`` first),
so the same scans in any order give the same cycles, inferences and diffs; ``load_bag_events``
reads them from the store.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from contract.clock import now_ms
from contract.scan import BAG_KINDS, UNIT_KINDS, event_key
from hub.scans import tables as m

BAG_REPORTS = ("bags-not-opened", "bag-missing-at-opening", "bag-not-built-in")
INHERITED = {"load": "dispatch", "unload": "arrive"}


def cycles(events: Iterable[Mapping]) -> list[dict]:
    """The cycles of ONE bag from its build, open, load and unload scans:
    ``{"bag", "built": {waybill: build event}, "opened": {waybill: open event}, "units": [...],
    "built_ms", "build_site", "opened_ms", "open_site"}`` in time order."""
    out: list[dict] = []
    cur = None
    for e in sorted(events, key=event_key):
        kind = e["kind"]
        if kind == "bag_build" and (cur is None or cur["opened"]):
            cur = {"bag": e["bag"], "built": {}, "opened": {}, "units": [], "built_ms": e["event_ms"],
                   "build_site": e["site"], "opened_ms": None, "open_site": None}
            out.append(cur)
        if cur is None:           # opened or moved before any build scan reached the hub
            cur = {"bag": e["bag"], "built": {}, "opened": {}, "units": [], "built_ms": None,
                   "build_site": None, "opened_ms": None, "open_site": None}
            out.append(cur)
        if kind == "bag_build":
            cur["built"].setdefault(e["waybill"], e)
        elif kind == "bag_open":
            if not cur["opened"]:
                cur["opened_ms"], cur["open_site"] = e["event_ms"], e["site"]
            cur["opened"].setdefault(e["waybill"], e)
        elif kind in UNIT_KINDS and not cur["opened"]:
            cur["units"].append(e)
        elif kind in UNIT_KINDS:  # a unit scan after the bag was opened: the next cycle's, unbuilt
            cur = {"bag": e["bag"], "built": {}, "opened": {}, "units": [e], "built_ms": None,
                   "build_site": None, "opened_ms": None, "open_site": None}
            out.append(cur)
    return out


def inferred(waybill: str, bag_events: Mapping[str, Iterable[Mapping]]) -> list[dict]:
    """The events ``waybill`` inherits from the bags it was built into (``bag_events``: bag ->
    all of that bag's scans), each a dispatch or arrive dict with ``inferred_from`` (the unit
    scan's id), ``bag`` and ``seal``; sorted by ``event_key``."""
    out = []
    for bag, evs in bag_events.items():
        for c in cycles(evs):
            build = c["built"].get(waybill)
            if build is None:
                continue
            for u in c["units"]:
                if event_key(u) < event_key(build):
                    continue
                e = {k: u.get(k) for k in ("site", "event_ms", "next_site", "prev_site", "shift", "seal")}
                e.update(id=f"{u['id']}/{waybill}", waybill=waybill, kind=INHERITED[u["kind"]], bag=bag,
                         inferred_from=u["id"])
                out.append(e)
    return sorted(out, key=event_key)


def diffs(bag_events: Mapping[str, Iterable[Mapping]], as_of_ms: int | None = None) -> dict[str, list[dict]]:
    """The three bag diffs over every cycle: ``bags-not-opened`` (built, never opened),
    ``bag-missing-at-opening`` (built in, not found when the bag was opened),
    ``bag-not-built-in`` (opened from a bag it was never built into)."""
    as_of = now_ms() if as_of_ms is None else as_of_ms
    out: dict[str, list[dict]] = {k: [] for k in BAG_REPORTS}
    for bag in sorted(bag_events):
        for c in cycles(bag_events[bag]):
            last = c["units"][-1] if c["units"] else None
            if c["built"] and not c["opened"]:
                out["bags-not-opened"].append({
                    "bag": bag, "site": c["build_site"], "built_ms": c["built_ms"], "parcels": len(c["built"]),
                    "last_unit_kind": last["kind"] if last else None, "last_unit_site": last["site"] if last else None,
                    "seal": last.get("seal") if last else None,
                    "age_h": round(max(0, as_of - c["built_ms"]) / 3_600_000, 1)})
            if c["opened"]:
                for wb in sorted(set(c["built"]) - set(c["opened"])):
                    out["bag-missing-at-opening"].append({
                        "waybill": wb, "bag": bag, "site": c["open_site"], "build_site": c["build_site"],
                        "built_ms": c["built"][wb]["event_ms"], "opened_ms": c["opened_ms"]})
                for wb in sorted(set(c["opened"]) - set(c["built"])):
                    out["bag-not-built-in"].append({
                        "waybill": wb, "bag": bag, "site": c["opened"][wb]["site"],
                        "opened_ms": c["opened"][wb]["event_ms"], "build_site": c["build_site"]})
    return out


# ---------------------------------------------------------------- the store side

_COLS = ("id", "waybill", "kind", "site", "event_ms", "next_site", "prev_site", "shift", "bag", "seal")


def load_bag_events(bags: Iterable[str] | None = None) -> dict[str, list[dict]]:
    """Live bag scans (build, open, load, unload) grouped by bag; only ``bags`` when given."""
    E = m.ScanEvent
    q = (E.select(*(getattr(E, c) for c in _COLS))
         .where(E.kind.in_(BAG_KINDS + UNIT_KINDS), m.live_events()))
    if bags is not None:
        bags = sorted(set(bags))
        if not bags:
            return {}
        q = q.where(E.bag.in_(bags))
    out: dict[str, list[dict]] = {}
    for row in q.dicts().iterator():
        out.setdefault(row["bag"], []).append(row)
    return out


def bags_of(waybill: str) -> set[str]:
    """The bags ``waybill`` was ever built into (live build scans)."""
    E = m.ScanEvent
    return {b for (b,) in E.select(E.bag).where(E.waybill == waybill, E.kind == "bag_build", m.live_events())
            .tuples()}


def inferred_for(waybill: str) -> list[dict]:
    """What ``waybill`` inherits from its bags (``inferred``), read from the store."""
    bags = bags_of(waybill)
    return inferred(waybill, load_bag_events(bags)) if bags else []


def report(name: str, site: str | None, since_ms: int | None = None, until_ms: int | None = None,
           as_of_ms: int | None = None, **_) -> list[dict]:
    """Bag report ``name`` for ``site`` (None: every site) over ``[since_ms, until_ms)`` of its
    first time column (built, or opened)."""
    rows = diffs(load_bag_events(), as_of_ms)[name]
    key = "built_ms" if name == "bags-not-opened" else "opened_ms"

    def keep(r):
        t = r[key]
        if site is not None and r["site"] != site and r.get("build_site") != site:
            return False
        return t is not None and (since_ms is None or t >= since_ms) and (until_ms is None or t < until_ms)
    return [r for r in rows if keep(r)]
