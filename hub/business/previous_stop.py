"""Previous stop of an arrival scan, from plain data (the hub and the edge share it; no I/O).

Order of precedence (SPEC 4, "Previous stop"; seed 001 5.6.1 item 1):

1. ``dispatch``: the last dispatch toward this site (its resolved next stop is this site) at or
   before the arrival;
2. ``issuance``: the site the waybill number was issued to (waybill issuance records);
3. ``earliest``: the site of the waybill's earliest scan at another site;
4. ``origin``: the origin site written when the waybill was entered (``extra.origin_site``);
5. otherwise unknown: ``(None, None)``.

Events are plain dicts with at least ``kind``, ``site``, ``event_ms`` and ``id``; a dispatch's
resolved next stop is read from ``next_site`` (resolve it first with ``hub.next_stop``).
"""
from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping

# Tie-break for events at the same instant: the natural order of a parcel's life (as in ingest).
KIND_RANK = {k: i for i, k in enumerate(("receive", "dispatch", "arrive", "problem", "hold", "deliver", "sign"))}


def event_key(e: Mapping) -> tuple:
    """Sort key of a parcel's events: corrected time (ms), kind order, scan id."""
    return (e["event_ms"], KIND_RANK.get(e["kind"], 99), e["id"])


class IssuanceIndex:
    """Which site a waybill number was issued to, by binary search over the issued ranges.

    Ranges are inclusive ``[first, last]`` of equal length; numbers of another length never match.
    """

    def __init__(self, ranges: Iterable[Mapping]):
        by_len: dict[int, list[tuple[str, str, str]]] = {}
        for r in ranges:
            first, last = str(r["first"]), str(r["last"])
            if len(first) != len(last) or first > last:
                raise ValueError(f"bad issuance range {first}..{last}")
            by_len.setdefault(len(first), []).append((first, last, str(r["site"])))
        self._firsts: dict[int, list[str]] = {}
        self._ranges: dict[int, list[tuple[str, str, str]]] = {}
        self._reach: dict[int, list[str]] = {}   # highest ``last`` among ranges[0..i]
        for n, rs in by_len.items():
            rs.sort()
            self._ranges[n] = rs
            self._firsts[n] = [r[0] for r in rs]
            reach, top = [], ""
            for r in rs:
                top = max(top, r[1])
                reach.append(top)
            self._reach[n] = reach

    @classmethod
    def from_config(cls, cfg: Mapping) -> "IssuanceIndex":
        """From a station configuration slice (its ``issuance`` list)."""
        return cls(cfg.get("issuance", []))

    def site_of(self, waybill: str) -> str | None:
        """The site ``waybill`` was issued to, or None (overlapping ranges: the latest-starting)."""
        n = len(waybill)
        firsts = self._firsts.get(n)
        if not firsts:
            return None
        i = bisect.bisect_right(firsts, waybill) - 1
        while i >= 0 and self._reach[n][i] >= waybill:
            first, last, site = self._ranges[n][i]
            if first <= waybill <= last:
                return site
            i -= 1
        return None


def previous_stop(arrival: Mapping, events: Iterable[Mapping], issuance: IssuanceIndex | None = None
                  ) -> tuple[str | None, str | None]:
    """``(site, source)`` of the stop before ``arrival``; ``source`` names the rule used."""
    here = arrival["site"]
    key = event_key(arrival)
    events = list(events)
    best = None
    for e in events:
        if e["kind"] == "dispatch" and e.get("next_site") == here and e["site"] != here \
                and e["event_ms"] <= arrival["event_ms"]:
            if best is None or event_key(e) > event_key(best):
                best = e
    if best is not None:
        return best["site"], "dispatch"
    if issuance is not None:
        site = issuance.site_of(arrival["waybill"])
        if site is not None and site != here:
            return site, "issuance"
    earliest = None
    for e in events:
        if e["site"] != here and event_key(e) != key:
            if earliest is None or event_key(e) < event_key(earliest):
                earliest = e
    if earliest is not None:
        return earliest["site"], "earliest"
    for e in sorted(events, key=event_key):
        origin = (e.get("extra") or {}).get("origin_site")
        if isinstance(origin, str) and origin and origin != here:
            return origin, "origin"
    return None, None
