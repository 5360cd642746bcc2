"""Previous stop of an arrival scan, from plain data (pure: no I/O).

Order of precedence (docs/hub-business.md, "Routing facts"):

1. ``dispatch``: the last dispatch toward this site (its resolved next stop is this site) at or
   before the arrival;
2. ``issuance``: the site the waybill number was issued to (waybill issuance records);
3. ``earliest``: the site of the waybill's earliest scan at another site;
4. ``origin``: the origin site written when the waybill was entered: the entering site of its
   waybill record (``hub.waybills``, passed as ``origin``), else a scan's ``extra.origin_site``;
5. otherwise unknown: ``(None, None)``.

Events are plain dicts with at least ``kind``, ``site``, ``event_ms`` and ``id``; a dispatch's
resolved next stop is read from ``next_site`` (resolve it first with ``contract.routing``).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from contract.issuance import IssuanceIndex
from contract.scan import event_key


def previous_stop(arrival: Mapping, events: Iterable[Mapping], issuance: IssuanceIndex | None = None,
                  origin: str | None = None) -> tuple[str | None, str | None]:
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
    if origin and origin != here:
        return origin, "origin"
    for e in sorted(events, key=event_key):
        written = (e.get("extra") or {}).get("origin_site")
        if isinstance(written, str) and written and written != here:
            return written, "origin"
    return None, None
