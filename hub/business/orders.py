"""E-commerce platform orders (docs/hub-business.md, "Platform orders").

* ``import_orders``: batch intake from CSV or JSON; each order is checked and assigned to the site
  that covers its address (``Coverage`` rules: the most specific match wins — district, then
  city, then province — then the higher priority, then the lower site code).  An order with no
  covering site, or bad fields, is stored as ``failed`` with its reason.  Re-importing an order
  number changes nothing (idempotent).
* ``pickup``: batch pickup scanning binds waybills to orders at the picking site; an order of
  another site is refused (mis-sorted: ``transfer`` it first).
* ``transfer``: move a mis-sorted order to another site, with an audit row.
* ``counts``: orders by status (order accepted/failed, pickup ok/failed/pending, delivery
  ok/failed/pending) and by province-city-district.  Delivery status is derived from the
  parcel's scans: signed = ok, a problem scan and no sign = failed.

Order file columns (CSV header or JSON object keys): ``order_no`` (required), ``platform``,
``sender``, ``phone``, ``address``, ``province``, ``city``, ``district`` (region codes).  An order
without region codes is placed by its free address text (``hub.business.address``); one that
cannot be placed waits as ``failed`` with the reason, and ``reassign`` places the waiting ones
again (after coverage was loaded, say).  ``pickup`` checks each waybill number against the
network's waybill rules and issuance records.
"""
from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterable, Mapping

import yaml

from contract.phone import numbers_in
from hub.errors import HubError
from hub.business import tables as bm
from hub.network import tables as net
from hub.store.db import bulk_insert_all, database, rows_where_in

FIELDS = ("order_no", "platform", "sender", "phone", "address", "province", "city", "district")


class OrderError(HubError, ValueError):
    """An order operation that cannot be done."""


def now_ms() -> int:
    return int(time.time() * 1000)


def parse_orders(text: str, fmt: str) -> list[dict]:
    """Orders from CSV or JSON text (a list of objects, or ``{"orders": [...]}``)."""
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or "order_no" not in reader.fieldnames:
            raise OrderError("CSV needs a header row with at least order_no")
        return [dict(r) for r in reader]
    if fmt == "json":
        try:
            data = json.loads(text)
        except ValueError as e:
            raise OrderError(f"not valid JSON: {e}") from e
        if isinstance(data, Mapping):
            data = data.get("orders")
        if not isinstance(data, list) or not all(isinstance(x, Mapping) for x in data):
            raise OrderError("JSON must be a list of order objects (or {\"orders\": [...]})")
        return [dict(x) for x in data]
    raise OrderError(f"unknown order file format {fmt!r} (csv or json)")


def read_orders(path: str) -> list[dict]:
    fmt = "json" if path.lower().endswith(".json") else "csv"
    try:
        with open(path, encoding="utf-8-sig") as f:
            return parse_orders(f.read(), fmt)
    except OSError as e:
        raise OrderError(f"{path}: {e.strerror}") from e


def load_coverage(rules: Iterable[Mapping], replace: bool = True) -> int:
    """Store coverage rules ``[{site, province, city?, district?, priority?}]``."""
    rows, problems = [], []
    sites = {s.code for s in net.Site.select(net.Site.code)}
    for i, r in enumerate(rules):
        site, prov = str(r.get("site") or "").strip(), str(r.get("province") or "").strip()
        if site not in sites:
            problems.append(f"coverage[{i}]: unknown site {site!r}")
        if not prov:
            problems.append(f"coverage[{i}]: province is required")
        city, district = str(r.get("city") or "").strip(), str(r.get("district") or "").strip()
        if district and not city:
            problems.append(f"coverage[{i}]: a district needs its city")
        try:
            prio = int(r.get("priority") or 0)
        except (TypeError, ValueError):
            problems.append(f"coverage[{i}]: priority must be a whole number")
            prio = 0
        rows.append({"site": site, "province": prov, "city": city, "district": district, "priority": prio})
    if problems:
        raise OrderError("; ".join(problems))
    with database.atomic():
        if replace:
            bm.Coverage.delete().execute()
        for i in range(0, len(rows), 500):
            bm.Coverage.insert_many(rows[i:i + 500]).execute()
    return len(rows)


def load_coverage_file(path: str) -> int:
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        raise OrderError(f"{path}: {e}") from e
    if isinstance(data, Mapping):
        data = data.get("coverage")
    if not isinstance(data, list):
        raise OrderError(f"{path}: expected a list of coverage rules (or coverage: [...])")
    return load_coverage(data)


def assign(province: str, city: str, district: str, rules: list[bm.Coverage]) -> str | None:
    """The site covering an address (pure over the given rules)."""
    best, best_key = None, None
    for r in rules:
        if r.province != province or (r.city and r.city != city) or (r.district and r.district != district):
            continue
        key = (bool(r.district), bool(r.city), r.priority, [-ord(c) for c in r.site])
        if best_key is None or key > best_key:
            best, best_key = r.site, key
    return best


def _place(d: dict, parsed, rules: list) -> tuple[str | None, str]:
    """``(site, reason)`` for an order's fields ``d`` (codes filled in from ``parsed`` when the
    order had none)."""
    if not d["province"] and parsed is not None:
        if not parsed.resolved:
            return None, parsed.reason
        d["province"], d["city"], d["district"] = parsed.province, parsed.city, parsed.district
    if not d["province"]:
        return None, "no province code in the address"
    site = assign(d["province"], d["city"], d["district"], rules)
    if site is None:
        return None, f"no site covers {d['province']}-{d['city']}-{d['district']}"
    return site, ""


def place(address: str, province: str = "", city: str = "", district: str = "") -> tuple[str | None, dict, str]:
    """The site covering one address, as for a platform order: ``(site, codes, reason)`` with
    ``codes`` the province / city / district used (parsed from ``address`` when none are given)
    and ``reason`` why no site was found ("" when one was)."""
    d = {"address": address or "", "province": province or "", "city": city or "", "district": district or ""}
    parsed = _parsed([d]).get(0)
    site, reason = _place(d, parsed, list(bm.Coverage.select()))
    return site, {k: d[k] for k in ("province", "city", "district")}, reason


def _parsed(rows: list[dict]) -> dict[int, object]:
    """The address of each order without codes, parsed (one call for the batch)."""
    from hub.business.address import parse_many
    todo = [i for i, d in enumerate(rows) if not d["province"] and d["address"]]
    return dict(zip(todo, parse_many([rows[i]["address"] for i in todo])))


def import_orders(orders: list[dict], platform: str = "taobao") -> dict:
    """Store new orders, assigning each to its site.  Returns counts: accepted, failed (stored,
    accept state failed, with the reason), duplicate, and skipped (no order number: not stored)."""
    rules = list(bm.Coverage.select())
    existing = {o.order_no for o in bm.PlatformOrder.select(bm.PlatformOrder.order_no)}
    rows, seen, counts = [], set(), {"accepted": 0, "failed": 0, "duplicate": 0, "skipped": 0}
    fresh = []
    for o in orders:
        d = {k: str(o.get(k) or "").strip() for k in FIELDS}
        no = d["order_no"]
        if not no:
            counts["skipped"] += 1         # nothing to store it under
            continue
        if no in existing or no in seen:
            counts["duplicate"] += 1
            continue
        seen.add(no)
        fresh.append(d)
    parsed = _parsed(fresh)
    for i, d in enumerate(fresh):
        no = d["order_no"]
        if len(no) > 64:
            site, reason = None, "order number longer than 64 characters"
        else:
            site, reason = _place(d, parsed.get(i), rules)
        rows.append(dict(d, platform=d["platform"] or platform, accept="failed" if reason else "accepted",
                         reason=reason, site=site, imported_ms=now_ms()))
        counts["failed" if reason else "accepted"] += 1
    with database.atomic():
        for i in range(0, len(rows), 300):
            bm.PlatformOrder.insert_many(rows[i:i + 300]).on_conflict_ignore().execute()
        index_phones([r["order_no"] for r in rows])
    return counts


def index_phones(order_nos: Iterable[str] | None = None) -> int:
    """Write the ``OrderPhone`` rows of ``order_nos`` (of every order when None) from their stored
    phone fields: each number the field holds, in E.164.  Idempotent; returns the rows written."""
    O = bm.PlatformOrder
    if order_nos is None:
        pairs = O.select(O.order_no, O.phone).where(O.phone != "").tuples().iterator()
    else:
        pairs = rows_where_in(f'SELECT "order_no", "phone" FROM "{O._meta.table_name}" WHERE "order_no" IN ({{in}})',
                              sorted(set(order_nos)))
    return bulk_insert_all(bm.OrderPhone, ({"phone": n, "order_no": no} for no, phone in pairs
                                           for n in numbers_in(phone)), ignore_conflicts=True)


def reassign(every: bool = False) -> dict:
    """Place again the orders waiting as failed (``every``: also accepted ones not picked up yet),
    with the coverage and address data now in force.  Returns ``{"assigned", "moved", "failed"}``;
    an order that moves gets an ``OrderTransfer`` row."""
    O = bm.PlatformOrder
    q = O.select().where(O.pickup != "ok")
    if not every:
        q = q.where(O.accept == "failed")
    todo = list(q)
    rules = list(bm.Coverage.select())
    rows = [{k: getattr(o, k) or "" for k in FIELDS if k != "platform"} for o in todo]
    parsed = _parsed(rows)
    out = {"assigned": 0, "moved": 0, "failed": 0}
    with database.atomic():
        for i, (o, d) in enumerate(zip(todo, rows)):
            site, reason = _place(d, parsed.get(i), rules)
            if reason:
                out["failed"] += 1
                O.update(accept="failed", reason=reason).where(O.order_no == o.order_no).execute()
                continue
            if o.accept == "accepted" and o.site == site:
                continue
            if o.accept == "accepted":
                bm.OrderTransfer.create(order_no=o.order_no, from_site=o.site, to_site=site,
                                        reason="reassigned by coverage", at_ms=now_ms())
                out["moved"] += 1
            else:
                out["assigned"] += 1
            O.update(site=site, accept="accepted", reason="", province=d["province"], city=d["city"],
                     district=d["district"]).where(O.order_no == o.order_no).execute()
    return out


def _order(no: str) -> bm.PlatformOrder:
    o = bm.PlatformOrder.get_or_none(bm.PlatformOrder.order_no == no)
    if o is None:
        raise OrderError(f"unknown order {no}")
    return o


def pickup(site: str, pairs: Iterable[tuple[str, str]]) -> list[dict]:
    """Batch pickup at ``site``: bind each (order_no, waybill).  Returns one result per pair:
    ``{"order_no", "waybill", "ok", "reason"}``; refused pairs change nothing."""
    from contract.issuance import IssuanceIndex
    from contract.waybill import WaybillRules
    from hub.network import basic_data
    rules = WaybillRules(basic_data.waybill_rules())
    issued = IssuanceIndex([{"site": r.site, "first": r.first, "last": r.last} for r in net.Issuance.select()])
    out = []
    with database.atomic():
        for no, wb in pairs:
            o = bm.PlatformOrder.get_or_none(bm.PlatformOrder.order_no == no)
            reason = ""
            owner = issued.site_of(wb) if wb else None
            if wb and rules.refusal(wb):
                reason = rules.refusal(wb)
            elif owner is not None and owner != site:
                reason = f"waybill {wb} was issued to site {owner}, not to {site}"
            elif o is None:
                reason = "unknown order"
            elif o.accept != "accepted":
                reason = f"order was not accepted: {o.reason}"
            elif o.site != site:
                reason = f"order belongs to site {o.site} (mis-sorted: transfer it first)"
            elif o.waybill and o.waybill != wb:
                reason = f"already picked up as {o.waybill}"
            elif not wb:
                reason = "no waybill"
            if not reason:
                bm.PlatformOrder.update(waybill=wb, pickup="ok", pickup_reason="").where(
                    bm.PlatformOrder.order_no == no).execute()
            out.append({"order_no": no, "waybill": wb, "ok": not reason, "reason": reason})
    return out


def pickup_failed(no: str, reason: str) -> None:
    o = _order(no)
    if o.pickup == "ok":
        raise OrderError(f"order {no} was already picked up as {o.waybill}")
    bm.PlatformOrder.update(pickup="failed", pickup_reason=reason).where(bm.PlatformOrder.order_no == no).execute()


def transfer(no: str, to_site: str, reason: str) -> None:
    """Move a mis-sorted order to ``to_site`` (and reopen its pickup)."""
    o = _order(no)
    if net.Site.get_or_none(net.Site.code == to_site) is None:
        raise OrderError(f"unknown site {to_site}")
    if o.pickup == "ok":
        raise OrderError(f"order {no} was already picked up at {o.site}")
    if o.site == to_site:
        raise OrderError(f"order {no} is already at {to_site}")
    with database.atomic():
        bm.OrderTransfer.create(order_no=no, from_site=o.site, to_site=to_site, reason=reason, at_ms=now_ms())
        bm.PlatformOrder.update(site=to_site, accept="accepted", reason="", pickup="pending").where(
            bm.PlatformOrder.order_no == no).execute()


def delivery_state(o: bm.PlatformOrder, facts: dict[str, bm.ParcelFact]) -> str:
    if not o.waybill or o.waybill not in facts:
        return "pending"
    p = facts[o.waybill]
    if p.sign_ms is not None:
        return "ok"
    return "failed" if p.problem else "pending"


def orders(site: str | None = None) -> list[dict]:
    q = bm.PlatformOrder.select().order_by(bm.PlatformOrder.order_no)
    if site:
        q = q.where(bm.PlatformOrder.site == site)
    os_ = list(q)
    wbs = [o.waybill for o in os_ if o.waybill]
    facts = {}
    for i in range(0, len(wbs), 300):
        for p in bm.ParcelFact.select().where(bm.ParcelFact.waybill.in_(wbs[i:i + 300])):
            facts[p.waybill] = p
    return [{"order_no": o.order_no, "platform": o.platform, "site": o.site or "", "accept": o.accept,
             "reason": o.reason, "waybill": o.waybill or "", "pickup": o.pickup,
             "delivery": delivery_state(o, facts), "province": o.province, "city": o.city,
             "district": o.district} for o in os_]


def counts(by: str = "status") -> list[dict]:
    """Counts by ``status`` (accept/pickup/delivery) or by ``region`` (province-city-district)."""
    rows = orders()
    out: dict[tuple, int] = {}
    if by == "status":
        for r in rows:
            for what in ("accept", "pickup", "delivery"):
                if what != "accept" and r["accept"] != "accepted":
                    continue
                out[(what, r[what])] = out.get((what, r[what]), 0) + 1
        return [{"what": k[0], "state": k[1], "orders": v} for k, v in sorted(out.items())]
    if by == "region":
        for r in rows:
            k = (r["province"], r["city"], r["district"])
            out[k] = out.get(k, 0) + 1
        return [{"province": k[0], "city": k[1], "district": k[2], "orders": v} for k, v in sorted(out.items())]
    raise OrderError("count by status or region")
