"""Sign rate (docs/hub-business.md, "Sign rate"): on-time vs overtime signs against each center's deadlines.

A center sets, per site, how long after it dispatches a parcel toward that site the parcel must
be signed (``SignDeadline``; ``DEFAULT_DEADLINE_MIN`` when no rule).  A parcel counts for the
center that last dispatched it toward the site that delivered/signed it (``ParcelFact.center``),
from that dispatch (``center_ms``):

* ``on_time``: signed at or before the deadline;
* ``overtime``: signed after it;
* ``overdue``: not signed and the deadline has passed at ``as_of``;
* ``pending``: not signed, deadline still ahead.

Rates (``on_time_rate = on_time / (on_time + overtime + overdue)``, ``sign_rate = signed /
parcels``) are grouped by the receiver side (the destination site) or the sender side (the origin
site), per day or month of the center's dispatch (local network time).
"""
from __future__ import annotations

import datetime as dt

from hub.errors import HubError
from hub.business import tables as bm
from hub.network import tables as net
from hub.business.localtime import DEFAULT_TZ_OFFSET_MIN

DEFAULT_DEADLINE_MIN = 48 * 60
SIDES = ("receiver", "sender")
PERIODS = ("day", "month")


class SignRateError(HubError, ValueError):
    """A bad sign-rate request or rule."""


def set_deadline(center: str, site: str, minutes: int) -> None:
    """Center ``center`` requires parcels it sends to ``site`` to be signed within ``minutes``."""
    c = net.Site.get_or_none(net.Site.code == center)
    if c is None or c.kind != "center":
        raise SignRateError(f"{center} is not a center")
    if net.Site.get_or_none(net.Site.code == site) is None:
        raise SignRateError(f"unknown site {site}")
    if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes <= 0:
        raise SignRateError("deadline must be a positive number of minutes")
    bm.SignDeadline.insert(center=center, site=site, deadline_min=minutes).on_conflict(
        conflict_target=[bm.SignDeadline.center, bm.SignDeadline.site],
        update={bm.SignDeadline.deadline_min: minutes}).execute()


def classify(center_ms: int, deadline_min: int, sign_ms: int | None, as_of_ms: int) -> str:
    """``on_time`` | ``overtime`` | ``overdue`` | ``pending`` for one parcel (pure)."""
    due = center_ms + deadline_min * 60_000
    if sign_ms is not None:
        return "on_time" if sign_ms <= due else "overtime"
    return "overdue" if as_of_ms > due else "pending"


def period_of(ms: int, period: str, tz_offset_min: int = DEFAULT_TZ_OFFSET_MIN) -> str:
    d = dt.datetime.fromtimestamp(ms / 1000, dt.timezone(dt.timedelta(minutes=tz_offset_min)))
    return d.strftime("%Y-%m-%d" if period == "day" else "%Y-%m")


def period_start(day: str, tz_offset_min: int = DEFAULT_TZ_OFFSET_MIN) -> int:
    """UTC ms of the start of ``day`` (YYYY-MM-DD, local network time)."""
    d = dt.datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=dt.timezone(dt.timedelta(minutes=tz_offset_min)))
    return int(d.timestamp() * 1000)


def records(site: str | None = None, side: str = "receiver", since_ms: int | None = None,
            until_ms: int | None = None, as_of_ms: int | None = None) -> list[dict]:
    """One row per parcel with a center dispatch toward its delivering site in the window."""
    if side not in SIDES:
        raise SignRateError(f"side must be one of {', '.join(SIDES)}")
    import time
    as_of_ms = int(time.time() * 1000) if as_of_ms is None else as_of_ms
    P = bm.ParcelFact
    q = P.select().where(P.center.is_null(False))
    col = P.dest_site if side == "receiver" else P.origin_site
    if site is not None:
        q = q.where(col == site)
    if since_ms is not None:
        q = q.where(P.center_ms >= since_ms)
    if until_ms is not None:
        q = q.where(P.center_ms < until_ms)
    rules = {(r.center, r.site): r.deadline_min for r in bm.SignDeadline.select()}
    out = []
    for p in q.order_by(P.center_ms, P.waybill):
        terminal = p.sign_site or p.deliver_site or p.dest_site
        minutes = rules.get((p.center, terminal), DEFAULT_DEADLINE_MIN)
        out.append({"waybill": p.waybill, "origin_site": p.origin_site, "dest_site": terminal, "center": p.center,
                    "center_ms": p.center_ms, "deadline_ms": p.center_ms + minutes * 60_000, "sign_ms": p.sign_ms,
                    "status": classify(p.center_ms, minutes, p.sign_ms, as_of_ms)})
    return out


def rates(rows: list[dict], side: str = "receiver", period: str = "day",
          tz_offset_min: int = DEFAULT_TZ_OFFSET_MIN) -> list[dict]:
    """Aggregate ``records`` per (site of the side, period)."""
    if period not in PERIODS:
        raise SignRateError(f"period must be one of {', '.join(PERIODS)}")
    key_col = "dest_site" if side == "receiver" else "origin_site"
    groups: dict[tuple, dict] = {}
    for r in rows:
        k = (r[key_col] or "", period_of(r["center_ms"], period, tz_offset_min))
        g = groups.setdefault(k, {"site": k[0], "period": k[1], "parcels": 0, "on_time": 0, "overtime": 0,
                                  "overdue": 0, "pending": 0})
        g["parcels"] += 1
        g[r["status"]] += 1
    out = []
    for k in sorted(groups):
        g = groups[k]
        due = g["on_time"] + g["overtime"] + g["overdue"]
        g["signed"] = g["on_time"] + g["overtime"]
        g["on_time_rate"] = round(g["on_time"] / due, 4) if due else None
        g["sign_rate"] = round(g["signed"] / g["parcels"], 4) if g["parcels"] else None
        out.append(g)
    return out


def trend(site: str | None = None, since_ms: int | None = None, until_ms: int | None = None,
          as_of_ms: int | None = None, tz_offset_min: int = DEFAULT_TZ_OFFSET_MIN) -> list[dict]:
    """The whole network's (or one receiving site's) sign rate per day of the center's dispatch:
    ``{"period", "parcels", "signed", "on_time", "overtime", "overdue", "pending", "on_time_rate",
    "sign_rate"}``, oldest first."""
    rows = records(site, "receiver", since_ms, until_ms, as_of_ms)
    for r in rows:
        r["dest_site"] = ""                 # one group per day, whatever the site
    out = rates(rows, "receiver", "day", tz_offset_min)
    for g in out:
        del g["site"]
    return out
