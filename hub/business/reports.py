"""Scan queries and reports (docs/hub-business.md, "Reports"); their output formats are ``hub.cli.render``.

* ``scan_details``: receive/dispatch/arrive/deliver (and sign, problem, hold) scans of a site in
  a window, each with its group: the receiving courier, the dispatch's next stop, the arrival's
  previous stop, the delivery courier.
* ``monthly``: a month's scans of one kind at a site, counted and weighed per group.
* ``signed_details``: per site, the parcels it received (sender side) or delivered (receiver
  side), signed or not, with each parcel's current status.
* ``fee_totals``: the fees in force, summed per fee type (transit, courier, delivery, …).

"""
from __future__ import annotations

from contract.scan import KINDS
from hub.business import tables as bm
from hub.business.localtime import TimeFormatError, format_ms, parse_time
from hub.errors import HubError

GROUP_BY = {"receive": ("courier", "receiving courier"), "dispatch": ("peer", "next stop"),
            "arrive": ("peer", "previous stop"), "deliver": ("courier", "delivery courier"),
            "sign": ("courier", "courier"), "problem": ("courier", "courier"), "hold": ("courier", "courier")}


class ReportError(HubError, ValueError):
    """A report request that cannot be answered."""


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise ReportError(f"unknown scan kind {kind!r} (one of: {', '.join(KINDS)})")
    return kind


def scan_details(site: str, kind: str, since_ms: int | None = None, until_ms: int | None = None) -> list[dict]:
    """Scans of ``kind`` at ``site`` in ``[since_ms, until_ms)``, oldest first."""
    field, _ = GROUP_BY[_kind(kind)]
    F = bm.ScanFact
    q = F.select().where((F.site == site) & (F.kind == kind))
    if since_ms is not None:
        q = q.where(F.event_ms >= since_ms)
    if until_ms is not None:
        q = q.where(F.event_ms < until_ms)
    return [{"waybill": f.waybill, "kind": f.kind, "at": format_ms(f.event_ms), "event_ms": f.event_ms,
             "group": getattr(f, field) or "", "courier": f.courier or "", "peer": f.peer or "",
             "shift": f.shift or "", "weight_g": f.weight_g}
            for f in q.order_by(F.event_ms, F.scan_id)]


def month_window(month: str, tz_offset_min: int | None = None) -> tuple[int, int]:
    """``YYYY-MM`` -> [first ms, first ms of the next month) in local network time (the display zone
    unless ``tz_offset_min`` is given)."""
    try:
        y, mo = (int(x) for x in month.split("-"))
        if not 1 <= mo <= 12:
            raise ValueError
    except ValueError as e:
        raise ReportError(f"bad month {month!r}: use YYYY-MM") from e
    nxt = f"{y + (mo == 12)}-{(mo % 12) + 1:02d}-01"
    try:
        return parse_time(f"{y}-{mo:02d}-01", tz_offset_min), parse_time(nxt, tz_offset_min)
    except TimeFormatError as e:
        raise ReportError(str(e)) from e


def monthly(site: str, kind: str, month: str) -> list[dict]:
    """A month list: per group (courier / next stop / previous stop) the scans and total weight."""
    a, b = month_window(month)
    groups: dict[str, dict] = {}
    for r in scan_details(site, kind, a, b):
        g = groups.setdefault(r["group"], {"group": r["group"], "scans": 0, "parcels": set(), "weight_g": 0})
        g["scans"] += 1
        g["parcels"].add(r["waybill"])
        g["weight_g"] += r["weight_g"] or 0
    return [{"month": month, "site": site, "kind": kind, "group": g["group"] or "(none)", "scans": g["scans"],
             "parcels": len(g["parcels"]), "weight_g": g["weight_g"]} for _, g in sorted(groups.items())]


def signed_details(site: str, side: str = "delivered", since_ms: int | None = None,
                   until_ms: int | None = None, signed: bool | None = None) -> list[dict]:
    """Parcels ``site`` received (``side="received"``) or delivered, with sign state and status."""
    P = bm.ParcelFact
    if side == "received":
        col, tcol = P.origin_site, P.origin_ms
    elif side == "delivered":
        col, tcol = P.deliver_site, P.deliver_ms
    else:
        raise ReportError("side must be received or delivered")
    q = P.select().where(col == site)
    if since_ms is not None:
        q = q.where(tcol >= since_ms)
    if until_ms is not None:
        q = q.where(tcol < until_ms)
    if signed is not None:
        q = q.where(P.sign_ms.is_null(not signed))
    return [{"waybill": p.waybill, "origin_site": p.origin_site or "", "dest_site": p.dest_site or "",
             "at": format_ms(getattr(p, tcol.name)), "signed": p.sign_ms is not None,
             "signed_at": format_ms(p.sign_ms), "signer": p.signer or "",
             "status": p.status, "status_site": p.status_site, "status_at": format_ms(p.last_ms)}
            for p in q.order_by(tcol, P.waybill)]


def fee_totals(since_ms: int | None = None, until_ms: int | None = None, site: str | None = None) -> list[dict]:
    """The fees in force (each fee source's active entry), per type: how many and how much.

    A fee's amount is what its payer is charged (the sum of its entry's positive postings); the
    window is the fee's business time (the scan that caused it), ``site`` keeps fees one of whose
    accounts is that site's.  Rows: ``{"type", "fees", "amount_cents"}``, largest type first."""
    from peewee import fn
    E, P = bm.JournalEntry, bm.Posting
    latest = (E.select(E.source, fn.MAX(E.rev).alias("rev")).where(E.source.startswith("fee:"))
              .group_by(E.source))
    q = (E.select(E.id, E.purpose, E.action, E.value_ms)
         .join(latest, on=((E.source == latest.c.source) & (E.rev == latest.c.rev))))
    if since_ms is not None:
        q = q.where(E.value_ms >= since_ms)
    if until_ms is not None:
        q = q.where(E.value_ms < until_ms)
    entries = {e.id: e.purpose for e in q if e.action == "post"}
    totals: dict[str, list[int]] = {}
    amounts: dict[int, int] = {}
    sites: dict[int, set] = {}
    ids = list(entries)
    for i in range(0, len(ids), 500):
        for p in P.select(P.entry, P.account, P.amount_cents).where(P.entry.in_(ids[i:i + 500])).tuples():
            eid, acct, cents = p
            if cents > 0:
                amounts[eid] = amounts.get(eid, 0) + cents
            sites.setdefault(eid, set()).add(acct)
    for eid, purpose in entries.items():
        if site is not None and f"site:{site}" not in sites.get(eid, ()):
            continue
        t = totals.setdefault(purpose, [0, 0])
        t[0] += 1
        t[1] += amounts.get(eid, 0)
    return [{"type": k, "fees": v[0], "amount_cents": v[1]}
            for k, v in sorted(totals.items(), key=lambda kv: (-kv[1][1], kv[0]))]
