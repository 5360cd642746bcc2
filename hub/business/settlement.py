"""Settlement statistics (结算费用统计): what each site, opening center or the whole network was
paid and charged per fee type and period, from the fees in force in the ledger.

A fee counts once, as its source's active entry (a recomputed or reversed fee counts as it is
now), in the period of its business time (the scan that caused it).  For a site the amount of a
fee type is the net change of its prepaid account (``site:<code>``) by fees of that type: positive
it was paid, negative it paid; COD collected counts at the collecting site (what it owes) and at
the origin (``cod:<origin>``, what its senders are owed).  Deposits and transfers are no fees and
not counted.
"""
from __future__ import annotations

from peewee import fn

from hub.business import tables as bm
from hub.business.localtime import DEFAULT_TZ_OFFSET_MIN
from hub.errors import HubError
from hub.network import tables as net
from hub.store.meta import get_meta

#: fee types, as columns, and the ledger purposes behind each
TYPES = {"transit": ("transit",), "courier": ("courier",), "delivery": ("delivery",),
         "freight_collect": ("freight-collect",), "cod": ("cod-collect",),
         "handling": ("freight-handling",), "surcharge": ("surcharge",), "insurance": ("insurance",),
         "return": ("return",)}
_TYPE_OF = {p: t for t, ps in TYPES.items() for p in ps}
GROUPS = ("site", "center", "network")
PERIODS = ("day", "month", "all")


class SettlementError(HubError):
    pass


def _period(ms: int, period: str, tz_offset_min: int) -> str:
    import datetime as dt
    if period == "all":
        return "all"
    t = dt.datetime.fromtimestamp(ms / 1000, dt.timezone(dt.timedelta(minutes=tz_offset_min)))
    return t.strftime("%Y-%m-%d" if period == "day" else "%Y-%m")


def statistics(since_ms: int | None = None, until_ms: int | None = None, *, by: str = "site",
               period: str = "all", site: str | None = None, center: str | None = None) -> list[dict]:
    """Rows ``{"period", "group", <type>_cents for each of TYPES, "net_cents", "fees"}``, one per
    period and site (``by="site"``), opening center (``"center"``: its sites together) or the
    network (``"network"``: every site; its net is 0 less what outside accounts hold — insurance,
    couriers, COD owed to senders).  ``site`` / ``center`` keep one site or one center's sites."""
    if by not in GROUPS:
        raise SettlementError(f"--by must be one of {', '.join(GROUPS)}")
    if period not in PERIODS:
        raise SettlementError(f"--period must be one of {', '.join(PERIODS)}")
    tz = int(get_meta("tz_offset_min", str(DEFAULT_TZ_OFFSET_MIN)))
    centers = {s.code: s.center or s.code for s in net.Site.select(net.Site.code, net.Site.center)}
    for a in bm.Account.select(bm.Account.site, bm.Account.opening_center):
        if a.opening_center:
            centers[a.site] = a.opening_center
    if site is not None and site not in centers:
        raise SettlementError(f"unknown site {site}")
    if center is not None and center not in set(centers.values()):
        raise SettlementError(f"unknown opening center {center}")
    E, P = bm.JournalEntry, bm.Posting
    latest = (E.select(E.source, fn.MAX(E.rev).alias("rev"))
              .where(E.source.startswith("fee:") | E.source.startswith("cod:collect:")).group_by(E.source))
    q = (E.select(E.id, E.purpose, E.action, E.value_ms)
         .join(latest, on=((E.source == latest.c.source) & (E.rev == latest.c.rev))))
    if since_ms is not None:
        q = q.where(E.value_ms >= since_ms)
    if until_ms is not None:
        q = q.where(E.value_ms < until_ms)
    entries = {e.id: (_TYPE_OF.get(e.purpose), e.value_ms) for e in q if e.action == "post"}
    rows: dict[tuple[str, str], dict] = {}
    counted: dict[tuple[str, str], set] = {}
    ids = list(entries)
    for i in range(0, len(ids), 500):
        for eid, acct, cents in P.select(P.entry, P.account, P.amount_cents).where(P.entry.in_(ids[i:i + 500])).tuples():
            kind, value_ms = entries[eid]
            owner = acct.split(":", 1)[1] if acct.startswith(("site:", "cod:")) else None
            if kind is None or owner is None or owner not in centers:
                continue
            if (site and owner != site) or (center and centers[owner] != center):
                continue
            group = owner if by == "site" else centers[owner] if by == "center" else "network"
            key = (_period(value_ms, period, tz), group)
            row = rows.setdefault(key, {"period": key[0], "group": group,
                                        **{f"{t}_cents": 0 for t in TYPES}, "net_cents": 0, "fees": 0})
            row[f"{kind}_cents"] += cents
            row["net_cents"] += cents
            seen = counted.setdefault(key, set())
            if eid not in seen:
                seen.add(eid)
                row["fees"] += 1
    return [rows[k] for k in sorted(rows)]
