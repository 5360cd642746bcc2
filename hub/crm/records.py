"""Business records (the forwarder's quotes and bookings) and the rate statistics mined from
them: lane averages, the monthly trend of a lane, the cheapest upstream carrier per lane."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict

from contract.clock import now_ms
from hub.business.accounts import AccountError, parse_amount
from hub.crm.customers import CrmError, _get
from hub.crm.tables import CrmRecord

FIELDS = ("origin", "dest", "container", "base", "rate", "carrier", "quote", "cargo", "voyage", "schedule", "closed")


def _cents(text, what):
    if text in (None, ""):
        return None
    try:
        return parse_amount(str(text), allow_zero=True)
    except AccountError as e:
        raise CrmError(f"{what}: {e}") from None


def _quote_ms(text) -> int:
    if text in (None, ""):
        return now_ms()
    from hub.business.localtime import parse_time
    try:
        return parse_time(str(text))
    except Exception as e:  # noqa: BLE001 - parse_time's own error, said once
        raise CrmError(f"quote time: {e}") from None


def _values(v: dict) -> dict:
    out = {}
    for k in ("origin", "dest", "container", "carrier", "cargo", "voyage", "schedule"):
        if v.get(k) is not None:
            out[k] = str(v[k]).strip()
            limit = CrmRecord._meta.fields[k].max_length
            if len(out[k]) > limit:
                raise CrmError(f"{k} is longer than {limit} characters")
    if "origin" in out and not out["origin"] or "dest" in out and not out["dest"]:
        raise CrmError("a record needs its origin and destination ports")
    out["container"] = out.get("container", "").upper() if "container" in out else out.get("container")
    if out.get("container") is None:
        out.pop("container", None)
    if "base" in v and v["base"] is not None:
        out["base_cents"] = _cents(v["base"], "base price")
    if "rate" in v and v["rate"] is not None:
        out["rate_cents"] = _cents(v["rate"], "rate")
    if v.get("quote") is not None:
        out["quote_ms"] = _quote_ms(v["quote"])
    if v.get("closed") is not None:
        out["closed"] = bool(v["closed"])
    return out


def row(r: CrmRecord) -> dict:
    return {"id": r.id, "customer": r.customer, "origin": r.origin, "dest": r.dest, "container": r.container,
            "base_cents": r.base_cents, "rate_cents": r.rate_cents, "carrier": r.carrier, "quote_ms": r.quote_ms,
            "cargo": r.cargo, "voyage": r.voyage, "schedule": r.schedule, "closed": r.closed}


def add(customer_id, values: dict) -> dict:
    c = _get(customer_id)
    v = _values(values)
    if not v.get("origin") or not v.get("dest"):
        raise CrmError("a record needs --origin and --dest (the ports)")
    v.setdefault("quote_ms", now_ms())
    return row(CrmRecord.create(customer=c.id, **v))


def change(record_id: int, values: dict) -> dict:
    r = CrmRecord.get_or_none(CrmRecord.id == record_id)
    if r is None:
        raise CrmError(f"no business record {record_id}")
    for k, val in _values(values).items():
        setattr(r, k, val)
    r.save()
    return row(r)


def remove(record_id: int) -> None:
    if not CrmRecord.delete().where(CrmRecord.id == record_id).execute():
        raise CrmError(f"no business record {record_id}")


def records(customer_id=None, *, origin=None, dest=None, limit: int | None = None) -> list[dict]:
    q = CrmRecord.select().order_by(CrmRecord.quote_ms.desc(), CrmRecord.id.desc())
    if customer_id is not None:
        q = q.where(CrmRecord.customer == _get(customer_id).id)
    if origin:
        q = q.where(CrmRecord.origin == origin)
    if dest:
        q = q.where(CrmRecord.dest == dest)
    if limit:
        q = q.limit(limit)
    return [row(r) for r in q]


def for_customers(ids: list[int], limit: int = 20) -> list[dict]:
    if not ids:
        return []
    q = (CrmRecord.select().where(CrmRecord.customer.in_(ids))
         .order_by(CrmRecord.quote_ms.desc(), CrmRecord.id.desc()).limit(limit))
    return [row(r) for r in q]


def _month(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m")


def _avg(xs):
    xs = [x for x in xs if x is not None]
    return round(sum(xs) / len(xs)) if xs else None


def rates(*, origin=None, dest=None, since_ms=None, until_ms=None) -> dict:
    """``{"lanes": [...], "trend": [...], "best": [...]}``: per lane (origin, dest, container)
    the records, the average base price and rate (cents) and the margin; per lane and month the
    average rate; per lane the carrier with the lowest average base price."""
    q = CrmRecord.select()
    if origin:
        q = q.where(CrmRecord.origin == origin)
    if dest:
        q = q.where(CrmRecord.dest == dest)
    if since_ms is not None:
        q = q.where(CrmRecord.quote_ms >= since_ms)
    if until_ms is not None:
        q = q.where(CrmRecord.quote_ms < until_ms)
    lanes, months, carriers = defaultdict(list), defaultdict(list), defaultdict(list)
    for r in q:
        key = (r.origin, r.dest, r.container)
        lanes[key].append(r)
        months[key + (_month(r.quote_ms),)].append(r.rate_cents)
        if r.carrier and r.base_cents is not None:
            carriers[key + (r.carrier,)].append(r.base_cents)
    out_lanes = []
    for (o, d, c), rs in sorted(lanes.items()):
        base, rate = _avg(r.base_cents for r in rs), _avg(r.rate_cents for r in rs)
        out_lanes.append({"origin": o, "dest": d, "container": c, "records": len(rs),
                          "closed": sum(r.closed for r in rs), "avg_base_cents": base, "avg_rate_cents": rate,
                          "avg_margin_cents": None if base is None or rate is None else rate - base})
    trend = [{"origin": o, "dest": d, "container": c, "month": m, "records": len(xs), "avg_rate_cents": _avg(xs)}
             for (o, d, c, m), xs in sorted(months.items())]
    best: dict = {}
    for (o, d, c, carrier), xs in sorted(carriers.items()):
        avg = _avg(xs)
        k = (o, d, c)
        if k not in best or avg < best[k]["avg_base_cents"]:
            best[k] = {"origin": o, "dest": d, "container": c, "carrier": carrier, "records": len(xs),
                       "avg_base_cents": avg}
    return {"lanes": out_lanes, "trend": trend, "best": [best[k] for k in sorted(best)]}

