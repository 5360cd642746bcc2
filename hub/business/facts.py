"""Scan facts: each committed scan annotated with what its neighbours say about it, and the
parcel's business summary, derived per waybill from *all* of its scans (a step of
``hub.ingest.pipeline``).

Because facts are derived per waybill from the full set of its scans, the same scans in any
order, duplicated or late, give the same facts.  ``derive`` is pure; ``refresh`` writes the facts
of a batch's waybills, ``rebuild_all`` every fact (``scanhub monitor rebuild``).  The reports
over these facts are in ``hub.business.monitoring``.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from contract.scan import MOVES, event_key
from hub.business import tables as bm
from hub.business.context import Context, load_context
from hub.business.previous_stop import previous_stop
from hub.scans import tables as scans
from hub.scans.events import EVENT_FIELDS, event_dict, load_events
from hub.store.db import bulk_insert, database, delete_where_in
from hub.waybills.records import load_entries
from hub.waybills.tables import WaybillEntry


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


def resolved_events(events: Iterable[Mapping], ctx: Context, entry: Mapping | None = None
                    ) -> tuple[list[dict], str | None]:
    """Events sorted by ``event_key`` with each dispatch's ``next_site`` resolved (``next_src``);
    the destination is the scans' (``parcel_dest``), else the entered one."""
    evs = sorted((dict(e) for e in events), key=event_key)
    dest = parcel_dest(evs) or ((entry or {}).get("fields") or {}).get("dest_site")
    for e in evs:
        if e["kind"] != "dispatch":
            continue
        if e.get("next_site"):
            e["next_src"] = "scan"
        else:
            e["next_site"], e["next_src"] = ctx.routing.resolve_with_source(
                e["site"], e.get("dest_site") or dest, e.get("shift"))
    return evs, dest


def resolve_all(waybills: Iterable[str], ctx: Context, events: Mapping[str, list[dict]],
                entries: Mapping[str, dict]) -> dict[str, tuple[list[dict], str | None]]:
    """``resolved_events`` of each of ``waybills`` that has events, once for every step of the
    derivation that takes them (facts, fees, expected fees)."""
    return {wb: resolved_events(events[wb], ctx, entries.get(wb)) for wb in waybills if events.get(wb)}


def derive(events: Iterable[Mapping], ctx: Context, entry: Mapping | None = None,
           resolved: tuple | None = None) -> tuple[list[dict], dict | None]:
    """``(scan facts, parcel fact)`` for ONE waybill's events (dicts shaped like ``ScanEvent``);
    ``entry``: its entered state (``hub.waybills.records.entry_dict``) when it was entered, which
    gives the origin and destination the scans do not; ``resolved``: ``resolved_events`` of them
    when the caller has it."""
    evs, dest = resolved_events(events, ctx, entry) if resolved is None else resolved
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
                f["peer"], f["peer_src"] = previous_stop(e, evs, ctx.issuance,
                                                         entry["origin_site"] if entry else None)
                f["orphan"] = f["peer_src"] != "dispatch"
        elif kind == "deliver":
            hits = [x["event_ms"] for x in evs if x["kind"] == "sign" and x["event_ms"] >= t]
            f["closed_ms"] = min(hits) if hits else None
        elif kind == "sign":
            f["orphan"] = not any(x["kind"] == "deliver" and x["event_ms"] <= t for x in evs)
        f["open"] = f["closed_ms"] is None
        facts.append(f)
    return facts, _parcel_fact(evs, dest, facts, ctx, entry)


def _parcel_fact(evs: list[dict], dest: str | None, facts: list[dict], ctx: Context,
                 entry: Mapping | None = None) -> dict:
    last = evs[-1]
    receives = [e for e in evs if e["kind"] == "receive"]
    origin = receives[0] if receives else None
    delivers = [e for e in evs if e["kind"] == "deliver"]
    signs = [e for e in evs if e["kind"] == "sign"]
    moves = [e for e in evs if e["kind"] in MOVES]
    p = {"waybill": last["waybill"],
         "origin_site": origin["site"] if origin else (entry["origin_site"] if entry else
                                                      ctx.issuance.site_of(last["waybill"])),
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


def _insert(model, rows: list[dict]) -> None:
    bulk_insert(model, rows)


def refresh(waybills: Iterable[str], ctx: Context | None = None,
            events: dict[str, list[dict]] | None = None, entries: Mapping[str, dict] | None = None,
            resolved: Mapping[str, tuple] | None = None) -> None:
    """Recompute ``ScanFact`` and ``ParcelFact`` rows of ``waybills`` from all their scans
    (``events`` from ``load_events`` when the caller already has them) and their entered state
    (``entries``: ``hub.waybills.records.load_entries``; ``resolved``: ``resolve_all``)."""
    wbs = sorted(set(waybills))
    if not wbs:
        return
    ctx = ctx or load_context()
    events = load_events(wbs) if events is None else events
    entries = load_entries(wbs) if entries is None else entries
    resolved = {} if resolved is None else resolved
    facts, parcels = [], []
    for wb in wbs:
        f, p = derive(events.get(wb, []), ctx, entries.get(wb), resolved=resolved.get(wb))
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
    cols = [getattr(scans.ScanEvent, f) for f in EVENT_FIELDS]
    entered = {e.waybill: {"origin_site": e.origin_site, "fields": {"dest_site": e.dest_site}}
               for e in WaybillEntry.select(WaybillEntry.waybill, WaybillEntry.origin_site, WaybillEntry.dest_site)}
    done, current, events = 0, None, []
    facts, parcels = [], []

    def flush():
        with database.atomic():
            _insert(bm.ScanFact, facts)
            _insert(bm.ParcelFact, parcels)
        facts.clear()
        parcels.clear()

    for row in (scans.ScanEvent.select(*cols).where(scans.live_events()).order_by(scans.ScanEvent.waybill)
                .dicts().iterator()):
        if row["waybill"] != current and events:
            f, p = derive(events, ctx, entered.get(current))
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
        f, p = derive(events, ctx, entered.get(current))
        facts.extend(f)
        parcels.append(p)
        done += 1
    flush()
    return done
