"""Pre-dispatch comparison (预报, seed 001 5.6.1 item 2).

``site_forecast(site)`` lists the parcels a site holds now: its latest movement scan (receive,
dispatch, arrive, deliver, sign) is a receive or an arrival at that site.  The hub pushes the list
to the site's stations; ``compare`` is pure, so an edge runs it offline against the waybills of
the bag or run being dispatch-scanned.
"""
from __future__ import annotations

from collections.abc import Iterable


def site_forecast(site: str) -> list[dict]:
    """What ``site`` holds: ``[{"waybill", "kind", "since_ms", "from_site", "dest_site"}]``, oldest first."""
    from hub.business import tables as bm  # here, so stations can import ``compare`` without the store
    P = bm.ParcelFact
    q = (P.select(P.waybill, P.holder_kind, P.holder_since_ms, P.holder_from, P.dest_site)
         .where(P.holder == site).order_by(P.holder_since_ms, P.waybill))
    return [{"waybill": p.waybill, "kind": p.holder_kind, "since_ms": p.holder_since_ms,
             "from_site": p.holder_from, "dest_site": p.dest_site} for p in q]


def _unique(items: Iterable[str]) -> list[str]:
    seen, out = set(), []
    for w in items:
        w = str(w).strip()
        if w and w not in seen:
            seen.add(w)
            out.append(w)
    return out


def compare(forecast_waybills: Iterable[str], dispatched_waybills: Iterable[str]) -> dict[str, list[str]]:
    """``{"missing": held but not dispatch-scanned, "extra": dispatch-scanned but not held}``.

    Both lists keep the order of their input, without duplicates or blanks.
    """
    forecast = _unique(forecast_waybills)
    dispatched = _unique(dispatched_waybills)
    fset, dset = set(forecast), set(dispatched)
    return {"missing": [w for w in forecast if w not in dset], "extra": [w for w in dispatched if w not in fset]}
