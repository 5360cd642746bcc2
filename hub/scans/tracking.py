"""A parcel's whole history, ordered by corrected event time (not by arrival at the hub)."""
from __future__ import annotations

import json

from contract.clock import iso
from hub.scans import tables as m
from hub.scans.parcels import event_order

STATUS_WORDS = {"receive": "received", "dispatch": "in transit", "arrive": "arrived",
                "deliver": "out for delivery", "sign": "signed", "problem": "problem", "hold": "on hold"}


def track(waybill: str) -> dict | None:
    """``{"waybill", "status", "site", "next_site", "events": [...]}`` or None when never scanned."""
    events = sorted(m.ScanEvent.select().where(m.ScanEvent.waybill == waybill), key=event_order)
    if not events:
        return None
    deleted = {d.scan_id for d in m.Deletion.select(m.Deletion.scan_id).where(m.Deletion.waybill == waybill)}
    out = []
    for e in events:
        ev = {"kind": e.kind, "site": e.site, "time": iso(e.event_ms), "event_ms": e.event_ms,
              "station": e.station, "operator": e.operator, "clock": e.clock, "id": e.id}
        for key in ("courier", "next_site", "prev_site", "dest_site", "shift", "weight_g", "signer"):
            if getattr(e, key) is not None:
                ev[key] = getattr(e, key)
        if e.extra_json:
            ev["extra"] = json.loads(e.extra_json)
        if e.id in deleted:
            ev["deleted"] = True
        out.append(ev)
    live = [e for e in out if not e.get("deleted")] or out
    last = live[-1]
    return {"waybill": waybill, "status": STATUS_WORDS.get(last["kind"], last["kind"]), "kind": last["kind"],
            "site": last["site"], "next_site": last.get("next_site"), "events": out}
