"""Pre-dispatch comparison (预报), offline: what the site should dispatch vs what was scanned.

The hub pushes each station the parcels its site holds (``…/forecast``, retained).  Before a bag
or run leaves, the station compares that list with the dispatch scans made since:

* expected   = the forecast, plus parcels received or arrived here after it was made, minus
               parcels delivered or signed here since;
* dispatched = dispatch scans here since ``since_ms`` (default: since the forecast was made);
* missing    = expected but not dispatch-scanned; extra = dispatch-scanned but not expected.
"""
from __future__ import annotations

from edge.outbox import Outbox


def predispatch(outbox: Outbox, forecast: dict | None, since_ms: int | None = None) -> dict:
    from contract.forecast import compare
    fc = forecast or {}
    generated = fc.get("generated_ms") or 0
    since = generated if since_ms is None else since_ms
    expected = list(fc.get("waybills", []))
    dispatched, gone = [], set()
    for s in outbox.scans_since(min(since, generated)):
        t = s.get("edge_ms", 0)
        if s["kind"] in ("receive", "arrive") and t >= generated:
            expected.append(s["waybill"])
        elif s["kind"] == "dispatch" and t >= since:
            dispatched.append(s["waybill"])
        elif s["kind"] in ("deliver", "sign") and t >= generated:
            gone.add(s["waybill"])
    result = compare([w for w in expected if w not in gone], dispatched)
    return {"generated_ms": generated or None, "expected": len(set(expected) - gone),
            "dispatched": len(set(dispatched)), **result}
