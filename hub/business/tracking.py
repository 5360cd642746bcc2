"""A parcel's whole history, ordered by corrected event time (not by arrival at the hub).

``track(waybill)`` is what ``scanhub track --json`` prints; every field is documented in
docs/operations.md ("Tracking a parcel").  A scan deleted at its station (an audited tombstone)
stays in the history, marked ``"deleted": true``, but no longer counts for the status: a deleted
scan is history, not state.

A parcel built into a bag inherits the bag's load and unload scans (``hub.business.bags``): they
appear as ``dispatch`` and ``arrive`` events with ``"inferred_from"`` (the bag scan's id) and
``bag``.  A problem or hold scan carries its reason (code and name) and, once handled, its
``resolution`` (who, how, when: ``hub.business.problems``).
"""
from __future__ import annotations

import json

from contract.scan import KIND_RANK

from contract.clock import iso
from hub.business import bags, problems
from hub.business import tables as bm
from hub.network import basic_data
from hub.scans import tables as m
from hub.scans.parcels import event_order
from hub.scans.proofs import proofs_of

STATUS_WORDS = {"receive": "received", "dispatch": "in transit", "arrive": "arrived",
                "deliver": "out for delivery", "sign": "signed", "problem": "problem", "hold": "on hold",
                "bag_build": "in a bag", "bag_open": "taken out of its bag", "load": "loaded", "unload": "unloaded"}


def track(waybill: str) -> dict | None:
    """``{"waybill", "status", "kind", "site", "next_site", "next_site_source", "events": [...]}``,
    or None when the waybill was never scanned."""
    events = sorted(m.ScanEvent.select().where(m.ScanEvent.waybill == waybill), key=event_order)
    if not events:
        return None
    reasons = {r["code"]: r["name"] for r in basic_data.reasons()}
    resolved = problems.resolutions(waybill)
    deleted = {d.scan_id for d in m.Deletion.select(m.Deletion.scan_id).where(m.Deletion.waybill == waybill)}
    peers = {f.scan_id: (f.peer, f.peer_src) for f in
             bm.ScanFact.select(bm.ScanFact.scan_id, bm.ScanFact.peer, bm.ScanFact.peer_src)
             .where(bm.ScanFact.waybill == waybill, bm.ScanFact.kind == "dispatch")}
    out = []
    for e in events:
        ev = {"kind": e.kind, "site": e.site, "time": iso(e.event_ms), "event_ms": e.event_ms,
              "station": e.station, "operator": e.operator, "clock": e.clock, "id": e.id}
        for key in ("courier", "next_site", "prev_site", "dest_site", "shift", "weight_g", "signer", "sign_type",
                    "reason", "bag", "seal"):
            if getattr(e, key) is not None:
                ev[key] = getattr(e, key)
        if e.kind == "dispatch":
            if e.next_site:
                ev["next_site_source"] = "scan"
            elif e.id in peers and peers[e.id][0]:
                ev["next_site"], ev["next_site_source"] = peers[e.id]
            else:        # not derived yet (background derivation), or no rule applies
                ev["next_site"], ev["next_site_source"] = None, None
        if e.extra_json:
            ev["extra"] = json.loads(e.extra_json)
        if e.reason:
            ev["reason_name"] = reasons.get(e.reason)
        if e.id in resolved:
            ev["resolution"] = dict(resolved[e.id], time=iso(resolved[e.id]["resolved_ms"]))
        if e.id in deleted:
            ev["deleted"] = True
        out.append(ev)
    for x in bags.inferred_for(waybill):
        ev = {"kind": x["kind"], "site": x["site"], "time": iso(x["event_ms"]), "event_ms": x["event_ms"],
              "station": None, "operator": None, "clock": None, "id": x["id"], "bag": x["bag"],
              "inferred_from": x["inferred_from"]}
        for key in ("next_site", "prev_site", "shift", "seal"):
            if x.get(key):
                ev[key] = x[key]
        if x["kind"] == "dispatch":
            ev["next_site_source"] = "bag" if x.get("next_site") else None
        out.append(ev)
    out.sort(key=lambda e: (e["event_ms"], KIND_RANK.get(e["kind"], 99), e["id"]))
    live = [e for e in out if not e.get("deleted")]
    pods = [dict(p, time=iso(p["linked_ms"])) for p in proofs_of(waybill)]
    if not live:
        return {"waybill": waybill, "status": "deleted", "kind": None, "site": None, "next_site": None,
                "next_site_source": None, "events": out, "proofs": pods}
    last = live[-1]
    return {"waybill": waybill, "status": STATUS_WORDS.get(last["kind"], last["kind"]), "kind": last["kind"],
            "site": last["site"], "next_site": last.get("next_site"),
            "next_site_source": last.get("next_site_source"), "events": out, "proofs": pods}
