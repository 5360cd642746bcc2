"""Problem and hold scans with their reason codes, and how each was resolved (docs/hub-business.md,
"Problem parcels").

A problem scan (问题件: address wrong, refused, damaged …) or a hold scan (留仓: held for customs …)
carries a reason code of the network file (``reasons``).  It stays an *open problem* until someone
records how it was handled (``resolve``): who, how and when, one ``ProblemResolution`` per scan,
append-only and readable from every site.  ``open_problems`` lists what is still open with its age,
``summary`` counts them per site.
"""
from __future__ import annotations

from contract.clock import now_ms
from contract.scan import REASON_LEN, STAFF_LEN
from hub.business import tables as bm
from hub.errors import HubError
from hub.network import tables as net
from hub.scans import tables as m
from hub.store.db import database

KINDS = ("problem", "hold")
#: What was done, in one word (``how`` says the rest).
ACTIONS = ("redelivered", "readdressed", "returned", "released", "compensated", "signed", "closed")


class ProblemError(HubError):
    """A resolution that cannot be recorded (no open problem, unknown staff, bad values)."""


def _reason_names() -> dict[str, str]:
    return {r.code: r.name for r in net.ReasonCode.select()}


def _rows(waybill: str | None = None, site: str | None = None):
    q = (m.ScanEvent.select(m.ScanEvent.id, m.ScanEvent.waybill, m.ScanEvent.site, m.ScanEvent.kind,
                            m.ScanEvent.reason, m.ScanEvent.event_ms, m.ScanEvent.operator)
         .where(m.ScanEvent.kind.in_(KINDS), m.live_events()))
    if waybill:
        q = q.where(m.ScanEvent.waybill == waybill)
    if site:
        q = q.where(m.ScanEvent.site == site)
    return list(q.order_by(m.ScanEvent.event_ms, m.ScanEvent.id).tuples())


def problems(waybill: str | None = None, site: str | None = None, include_resolved: bool = False,
             as_of_ms: int | None = None) -> list[dict]:
    """Problem and hold scans (live ones: a deleted scan is history) with their resolution:
    ``{"scan_id", "waybill", "site", "kind", "reason", "reason_name", "since_ms", "age_h",
    "operator", "resolved_ms", "handled_by", "action", "how"}``, oldest first.  Without
    ``include_resolved`` only the open ones; ``age_h`` is hours from the scan to ``as_of_ms``
    (default now) or to its resolution."""
    as_of = now_ms() if as_of_ms is None else as_of_ms
    names = _reason_names()
    rows = _rows(waybill, site)
    done = {r.scan_id: r for r in bm.ProblemResolution.select().where(
        bm.ProblemResolution.scan_id.in_([r[0] for r in rows]))} if rows else {}
    out = []
    for sid, wb, st, kind, reason, t, op in rows:
        res = done.get(sid)
        if res is not None and not include_resolved:
            continue
        end = res.resolved_ms if res is not None else as_of
        out.append({"scan_id": sid, "waybill": wb, "site": st, "kind": kind, "reason": reason,
                    "reason_name": names.get(reason) if reason else None, "since_ms": t,
                    "age_h": round(max(0, end - t) / 3_600_000, 1), "operator": op,
                    "resolved_ms": res.resolved_ms if res else None, "handled_by": res.handled_by if res else None,
                    "action": res.action if res else None, "how": res.how if res else None})
    return out


def summary(as_of_ms: int | None = None) -> list[dict]:
    """Open problems per site: ``{"site", "open", "problem", "hold", "oldest_ms", "oldest_age_h"}``,
    the site with the oldest open problem first."""
    per: dict[str, dict] = {}
    for p in problems(as_of_ms=as_of_ms):
        s = per.setdefault(p["site"], {"site": p["site"], "open": 0, "problem": 0, "hold": 0,
                                       "oldest_ms": p["since_ms"], "oldest_age_h": p["age_h"]})
        s["open"] += 1
        s[p["kind"]] += 1
    return sorted(per.values(), key=lambda s: (s["oldest_ms"], s["site"]))


def resolve(waybill: str, handled_by: str, how: str, action: str = "closed", scan_id: str | None = None,
            resolved_ms: int | None = None) -> list[dict]:
    """Record how the open problems of ``waybill`` (or only scan ``scan_id``) were handled; returns
    the resolutions written.  Raises ``ProblemError`` when there is nothing open to resolve, the
    staff code is unknown, or ``action`` / ``how`` are not acceptable."""
    if action not in ACTIONS:
        raise ProblemError(f"unknown action {action!r} (one of {', '.join(ACTIONS)})")
    how = (how or "").strip()
    if not how:
        raise ProblemError("say how the problem was handled (--how TEXT)")
    if len(how) > REASON_LEN:
        raise ProblemError(f"--how is longer than {REASON_LEN} characters")
    if len(handled_by) > STAFF_LEN or net.Staff.get_or_none(net.Staff.code == handled_by) is None:
        raise ProblemError(f"unknown staff code {handled_by!r}: who handled it must be on the staff list")
    now = now_ms()
    when = now if resolved_ms is None else resolved_ms
    with database.atomic():
        open_ = [p for p in problems(waybill=waybill) if scan_id is None or p["scan_id"] == scan_id]
        if not open_:
            what = f"scan {scan_id} of {waybill}" if scan_id else waybill
            raise ProblemError(f"{what} has no open problem or hold scan at the hub")
        early = [p for p in open_ if p["since_ms"] > when]
        if early:
            raise ProblemError(f"the resolution time is before the problem scan {early[0]['scan_id']}")
        rows = [{"scan_id": p["scan_id"], "waybill": waybill, "site": p["site"], "resolved_ms": when,
                 "handled_by": handled_by, "action": action, "how": how, "recorded_ms": now} for p in open_]
        bm.ProblemResolution.insert_many(rows).on_conflict_ignore().execute()
    return rows


def resolutions(waybill: str) -> dict[str, dict]:
    """scan id -> its resolution, for ``track``."""
    return {r.scan_id: {"resolved_ms": r.resolved_ms, "handled_by": r.handled_by, "action": r.action, "how": r.how}
            for r in bm.ProblemResolution.select().where(bm.ProblemResolution.waybill == waybill)}
