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
from hub.network import tables as net
from hub.scans import tables as m
from hub.scans.parcels import event_order
from hub.scans.proofs import proofs_of
from hub.store.db import rows_where_in
from hub.waybills.records import entry

STATUS_WORDS = {"receive": "received", "dispatch": "in transit", "arrive": "arrived",
                "deliver": "out for delivery", "sign": "signed", "problem": "problem", "hold": "on hold",
                "bag_build": "in a bag", "bag_open": "taken out of its bag", "load": "loaded", "unload": "unloaded"}


def track(waybill: str) -> dict | None:
    """``{"waybill", "status", "kind", "site", "next_site", "next_site_source", "entered",
    "events": [...]}``, or None when the waybill was never scanned nor entered.  ``entered`` is
    the entered waybill (``hub.waybills.records.entry``: origin, fields, how many records) or
    null; a waybill entered but not scanned yet has status ``entered``."""
    events = sorted(m.ScanEvent.select().where(m.ScanEvent.waybill == waybill), key=event_order)
    entered = entry(waybill)
    if not events:
        if entered is None:
            return None
        return {"waybill": waybill, "status": "entered", "kind": None, "site": entered["origin_site"],
                "next_site": None, "next_site_source": None, "entered": entered, "events": []}
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
                "next_site_source": None, "entered": entered, "events": out, "proofs": pods}
    last = live[-1]
    return {"waybill": waybill, "status": STATUS_WORDS.get(last["kind"], last["kind"]), "kind": last["kind"],
            "site": last["site"], "next_site": last.get("next_site"),
            "next_site_source": last.get("next_site_source"), "entered": entered, "events": out, "proofs": pods}


def statuses(waybills) -> dict[str, dict]:
    """``{"status", "kind", "site"}`` of each of ``waybills`` exactly as ``track`` gives them, in a
    few set queries for all of them (the caller lookup's parcels); a waybill ``track`` knows
    nothing of is left out."""
    from hub.waybills.records import load_entries
    wbs = sorted({w for w in waybills if w})
    if not wbs:
        return {}
    events: dict[str, list[dict]] = {}
    sql = (f'SELECT "id", "waybill", "kind", "site", "event_ms", "bag" FROM "{m.ScanEvent._meta.table_name}" '
           'WHERE "waybill" IN ({in})')
    for sid, wb, kind, site, event_ms, bag in rows_where_in(sql, wbs):
        events.setdefault(wb, []).append({"id": sid, "waybill": wb, "kind": kind, "site": site,
                                          "event_ms": event_ms, "bag": bag})
    ids = [e["id"] for evs in events.values() for e in evs]
    deleted = {d for (d,) in rows_where_in(f'SELECT "scan_id" FROM "{m.Deletion._meta.table_name}" '
                                           'WHERE "scan_id" IN ({in})', ids)}
    bags_of = {wb: {e["bag"] for e in evs if e["kind"] == "bag_build" and e["id"] not in deleted}
               for wb, evs in events.items()}
    bag_events = bags.load_bag_events({b for bs in bags_of.values() for b in bs})
    out = {}
    for wb, evs in events.items():
        live = [e for e in evs if e["id"] not in deleted]
        live += bags.inferred(wb, {b: bag_events.get(b, []) for b in bags_of[wb]}) if bags_of[wb] else []
        if not live:
            out[wb] = {"status": "deleted", "kind": None, "site": None}
            continue
        last = max(live, key=lambda e: (e["event_ms"], KIND_RANK.get(e["kind"], 99), e["id"]))
        out[wb] = {"status": STATUS_WORDS.get(last["kind"], last["kind"]), "kind": last["kind"], "site": last["site"]}
    for wb, entered in load_entries([w for w in wbs if w not in events]).items():
        out[wb] = {"status": "entered", "kind": None, "site": entered["origin_site"]}
    return out


#: What a customer sees of each scan: the kind in words, the site's name, the time, the next stop.
PUBLIC_WORDS = {"receive": "picked up at", "dispatch": "left", "arrive": "arrived at",
                "deliver": "out for delivery from", "sign": "delivered and signed for at", "problem": "delayed at",
                "hold": "held at"}


def public_track(waybill: str) -> dict | None:
    """What the public tracking page may show: ``{"waybill", "status", "site_name", "events":
    [{"time", "event_ms", "what", "site_name", "next_site_name"}]}`` — no operators, couriers,
    signers, stations, weights, amounts or phone numbers; deleted scans left out.  None when the
    waybill is unknown (or every scan of it was deleted)."""
    t = track(waybill)
    if t is None:
        return None
    live = [e for e in t["events"] if not e.get("deleted")]
    if not live:
        return None
    names = {s.code: s.name for s in net.Site.select(net.Site.code, net.Site.name)}
    events = [{"time": e["time"], "event_ms": e["event_ms"], "what": PUBLIC_WORDS.get(e["kind"], "scanned at"),
               "site_name": names.get(e["site"], e["site"]),
               "next_site_name": names.get(e.get("next_site")) if e["kind"] == "dispatch" else None}
              for e in live]
    return {"waybill": waybill, "status": t["status"], "site_name": names.get(t["site"], t["site"]),
            "events": events}


def involves(history: dict, site: str) -> bool:
    """Whether a ``track`` history concerns ``site``: scanned there, or sent to or from it."""
    return any(site in (e.get("site"), e.get("next_site"), e.get("prev_site"), e.get("dest_site"))
               for e in history["events"])
