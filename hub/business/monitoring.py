"""Monitoring diffs (docs/hub-business.md, "Monitoring diffs"): the eight per-site reports, and the scan facts behind them.

Every report is a query over ``ScanFact``, a per-scan annotation that ``hub.business.facts``
recomputes from *all* scans of the waybills an ingest batch touched.

Rules (times are corrected event times, UTC ms; a window is ``since <= t < until``):

====================== ======================================================================
report                 a row is
====================== ======================================================================
deleted-unuploaded     an audited deletion at the site of a scan that never reached the hub
not-arrived            a dispatch whose next stop is the site, dispatched in the window, with
                       no arrival scan at the site at or after the dispatch
expected-arrivals      the same dispatches, selected by expected arrival time in the window
                       (next departure of the shift + its transit time)
delivered-unsigned     a delivery scan at the site with no sign scan at or after it
                       (``problem: unsigned``), or a sign scan at the site with no delivery scan
                       at or before it (``problem: signed-without-delivery``)
arrived-not-dispatched an arrival at the site with no dispatch, delivery or sign at the site at
                       or after it
dispatched-not-arrived a dispatch from the site with no arrival at its next stop, and the
                       expected arrival + grace is before ``as_of``
received-not-dispatched a receive at the site with no dispatch/delivery/sign there after it
                       (``problem: received-not-dispatched``), or a dispatch from the site with no
                       receive or arrival there before it (``problem: dispatched-not-received``)
prev-not-dispatched    an arrival at the site whose previous stop has no dispatch toward it
====================== ======================================================================
"""
from __future__ import annotations

from contract.clock import now_ms
from hub.business import bags
from hub.business import tables as bm
from hub.errors import HubError
from hub.network import tables as net
from hub.scans import tables as scans

DEFAULT_GRACE_MIN = 120

REPORTS = ("deleted-unuploaded", "not-arrived", "expected-arrivals", "delivered-unsigned",
           "arrived-not-dispatched", "dispatched-not-arrived", "received-not-dispatched",
           "prev-not-dispatched")
#: Beside the eight: the bag diffs (``hub.business.bags``).
BAG_REPORTS = bags.BAG_REPORTS


class MonitorError(HubError, ValueError):
    """A monitoring request that cannot be answered (unknown report, unknown site, bad window)."""


def _window(q, col, since_ms, until_ms):
    if since_ms is not None:
        q = q.where(col >= since_ms)
    if until_ms is not None:
        q = q.where(col < until_ms)
    return q


def _facts(site, kind, since_ms, until_ms, *, by="site", open_=None, orphan=None):
    F = bm.ScanFact
    q = F.select(F.waybill, F.scan_id, F.site, F.event_ms, F.peer, F.peer_src, F.courier, F.shift,
                 F.expected_ms, F.closed_ms, F.weight_g)
    q = q.where(F.kind == kind)
    if site is not None:
        q = q.where((F.peer if by == "peer" else F.site) == site)
    if open_ is not None:
        q = q.where(F.open == open_)
    if orphan is not None:
        q = q.where(F.orphan == orphan)
    return _window(q, F.event_ms, since_ms, until_ms)


def deleted_unuploaded(site, since_ms=None, until_ms=None, **_) -> list[dict]:
    D = scans.Deletion
    q = D.select().where(D.uploaded == False)  # noqa: E712
    if site is not None:
        q = q.where(D.site == site)
    q = _window(q, D.deleted_ms, since_ms, until_ms).order_by(D.deleted_ms, D.scan_id)
    return [{"waybill": d.waybill, "site": d.site, "kind": d.kind, "station": d.station, "seq": d.seq,
             "operator": d.operator, "reason": d.reason, "deleted_ms": d.deleted_ms} for d in q]


def not_arrived(site, since_ms=None, until_ms=None, **_) -> list[dict]:
    q = _facts(site, "dispatch", since_ms, until_ms, by="peer", open_=True)
    return [{"waybill": f.waybill, "site": f.peer, "from_site": f.site, "dispatch_ms": f.event_ms,
             "shift": f.shift, "expected_ms": f.expected_ms}
            for f in q.order_by(bm.ScanFact.event_ms, bm.ScanFact.scan_id)]


def expected_arrivals(site, since_ms=None, until_ms=None, **_) -> list[dict]:
    F = bm.ScanFact
    q = _facts(site, "dispatch", None, None, by="peer", open_=True)
    q = _window(q, F.expected_ms, since_ms, until_ms)
    return [{"waybill": f.waybill, "site": f.peer, "from_site": f.site, "dispatch_ms": f.event_ms,
             "shift": f.shift, "expected_ms": f.expected_ms}
            for f in q.order_by(F.expected_ms, F.scan_id)]


def delivered_unsigned(site, since_ms=None, until_ms=None, **_) -> list[dict]:
    rows = [{"waybill": f.waybill, "site": f.site, "problem": "unsigned", "courier": f.courier, "at_ms": f.event_ms}
            for f in _facts(site, "deliver", since_ms, until_ms, open_=True)]
    rows += [{"waybill": f.waybill, "site": f.site, "problem": "signed-without-delivery", "courier": f.courier,
              "at_ms": f.event_ms} for f in _facts(site, "sign", since_ms, until_ms, orphan=True)]
    return sorted(rows, key=lambda r: (r["at_ms"], r["waybill"], r["problem"]))


def arrived_not_dispatched(site, since_ms=None, until_ms=None, **_) -> list[dict]:
    q = _facts(site, "arrive", since_ms, until_ms, open_=True)
    return [{"waybill": f.waybill, "site": f.site, "arrive_ms": f.event_ms, "prev_site": f.peer}
            for f in q.order_by(bm.ScanFact.event_ms, bm.ScanFact.scan_id)]


def dispatched_not_arrived(site, since_ms=None, until_ms=None, *, as_of_ms=None,
                           grace_min=DEFAULT_GRACE_MIN, **_) -> list[dict]:
    as_of_ms = now_ms() if as_of_ms is None else as_of_ms
    F = bm.ScanFact
    q = _facts(site, "dispatch", since_ms, until_ms, open_=True).where(F.expected_ms + grace_min * 60_000 <= as_of_ms)
    return [{"waybill": f.waybill, "site": f.site, "next_site": f.peer, "dispatch_ms": f.event_ms,
             "shift": f.shift, "expected_ms": f.expected_ms, "overdue_min": (as_of_ms - f.expected_ms) // 60_000}
            for f in q.order_by(F.event_ms, F.scan_id)]


def received_not_dispatched(site, since_ms=None, until_ms=None, **_) -> list[dict]:
    rows = [{"waybill": f.waybill, "site": f.site, "problem": "received-not-dispatched", "courier": f.courier,
             "at_ms": f.event_ms, "next_site": None}
            for f in _facts(site, "receive", since_ms, until_ms, open_=True)]
    rows += [{"waybill": f.waybill, "site": f.site, "problem": "dispatched-not-received", "courier": f.courier,
              "at_ms": f.event_ms, "next_site": f.peer}
             for f in _facts(site, "dispatch", since_ms, until_ms, orphan=True)]
    return sorted(rows, key=lambda r: (r["at_ms"], r["waybill"], r["problem"]))


def prev_not_dispatched(site, since_ms=None, until_ms=None, **_) -> list[dict]:
    q = _facts(site, "arrive", since_ms, until_ms, orphan=True)
    return [{"waybill": f.waybill, "site": f.site, "arrive_ms": f.event_ms, "prev_site": f.peer,
             "prev_source": f.peer_src}
            for f in q.order_by(bm.ScanFact.event_ms, bm.ScanFact.scan_id)]


_FUNCS = {
    "deleted-unuploaded": deleted_unuploaded,
    "not-arrived": not_arrived,
    "expected-arrivals": expected_arrivals,
    "delivered-unsigned": delivered_unsigned,
    "arrived-not-dispatched": arrived_not_dispatched,
    "dispatched-not-arrived": dispatched_not_arrived,
    "received-not-dispatched": received_not_dispatched,
    "prev-not-dispatched": prev_not_dispatched,
    **{name: (lambda site, *a, _n=name, **kw: bags.report(_n, site, *a, **kw)) for name in BAG_REPORTS},
}


def report(name: str, site: str | None, since_ms: int | None = None, until_ms: int | None = None,
           as_of_ms: int | None = None, grace_min: int = DEFAULT_GRACE_MIN) -> list[dict]:
    """Run report ``name`` for ``site`` (None = every site) over ``[since_ms, until_ms)``."""
    fn = _FUNCS.get(name)
    if fn is None:
        raise MonitorError(f"unknown report {name!r} (one of: {', '.join(REPORTS + BAG_REPORTS)})")
    if since_ms is not None and until_ms is not None and since_ms > until_ms:
        raise MonitorError("--since is after --until")
    if grace_min < 0:
        raise MonitorError("grace must be >= 0 minutes")
    if site is not None and net.Site.get_or_none(net.Site.code == site) is None:
        raise MonitorError(f"unknown site {site}")
    return fn(site, since_ms, until_ms, as_of_ms=as_of_ms, grace_min=grace_min)


def counts(site: str | None = None, since_ms: int | None = None, until_ms: int | None = None,
           as_of_ms: int | None = None, grace_min: int = DEFAULT_GRACE_MIN) -> list[dict]:
    """How many rows each report has per site: ``{"report", "site", "count"}`` for every report
    and site with at least one row (``site``: only that site), ordered by report then site."""
    out = []
    for name in REPORTS:
        per: dict[str, int] = {}
        for r in report(name, site, since_ms, until_ms, as_of_ms=as_of_ms, grace_min=grace_min):
            key = r.get("site") or ""
            per[key] = per.get(key, 0) + 1
        out += [{"report": name, "site": s, "count": n} for s, n in sorted(per.items())]
    return out
