"""The caller lookup: a number -> its customer(s) -> their parcels, calls, SMS, quotes, tasks and
work orders, in one call (``scanhub crm lookup PHONE --json``, the agent's screen pop).

The number is normalised (``contract.phone``) and found with one indexed query on ``crm_phone``;
a number several customers share returns all of them and ``"shared": true``, never one picked.
Parcels come from the hub's own sources by the caller's number and each customer's numbers
(``hub.ivr.directory.default_sources``: platform orders and entered waybills, as sender or
receiver).  Calls are the CDRs whose caller or callee is the number in any form a switch may have
stored it in; SMS are the messages to it.

Related records from packages above the customers plug in as providers: a function
``(customer_ids, phone) -> [dict]`` under a name (``register``).  Work orders
(``hub.crm.workorders``) join by themselves when that package defines
``lookup_related(customer_ids, phone)``: ``providers()`` imports it lazily, if it is there.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable

from contract.phone import Phone, PhoneError, e164, parse, written_forms
from hub.crm import records
from hub.crm.customers import CrmError, by_phone, row
from hub.crm.tables import CrmPhone, CrmTask
from hub.ivr.directory import default_sources
from hub.sms.tables import SmsMessage
from hub.telephony.tables import CallRecord

Provider = Callable[[list[int], str], list[dict]]
PROVIDERS: dict[str, Provider] = {}
LIMIT = 20          # rows of each kind in a lookup (newest first)
WORK_ORDERS = "hub.crm.workorders"


def register(name: str, provider: Provider) -> None:
    """Add a provider of related records to every lookup, under ``name`` (a key of ``related``)."""
    PROVIDERS[name] = provider


def providers() -> dict[str, Provider]:
    """The registered providers, and the work orders' when ``hub.crm.workorders`` provides one."""
    out = dict(PROVIDERS)
    if "work_orders" not in out:
        try:
            mod = importlib.import_module(WORK_ORDERS)
        except ModuleNotFoundError as e:
            if not (e.name or "").startswith(WORK_ORDERS):
                raise
            mod = None
        fn = getattr(mod, "lookup_related", None) if mod else None
        if fn is not None:
            out["work_orders"] = fn
    return out


def _phones_of(ids: list[int]) -> list[str]:
    return sorted({p.phone for p in CrmPhone.select(CrmPhone.phone).where(CrmPhone.customer.in_(ids))}) if ids else []


def parcels_for(phones: list[str], limit: int = LIMIT, status: bool = True) -> list[dict]:
    """Parcels and orders by phone numbers (E.164), each once: order_no, waybill, role, source,
    and where the parcel stands (``scanhub track``'s status, kind, site) when ``status``."""
    from hub.business.tracking import statuses
    out, seen = [], set()
    for phone in phones:
        for source, fn in default_sources().items():
            for r in fn(phone, limit=limit):        # each source's newest: their union holds the newest overall
                key = (r.get("order_no"), r.get("waybill"))
                if key in seen:
                    continue
                seen.add(key)
                out.append({"order_no": r.get("order_no") or "", "waybill": r.get("waybill") or "",
                            "role": r.get("role") or "", "name": r.get("name") or "", "source": source,
                            "phone": phone})
    out.sort(key=lambda r: (r["waybill"], r["order_no"]), reverse=True)
    out = out[:limit]
    if status:
        known = statuses(r["waybill"] for r in out)
        for r in out:
            t = known.get(r["waybill"])
            r.update(status=t["status"] if t else "pending", kind=t["kind"] if t else None,
                     site=t["site"] if t else None)
    return out


def parcel_count(customer_id: int) -> int:
    return len(parcels_for(_phones_of([customer_id]), limit=10**9, status=False))


def calls_for(phones: list[str], limit: int = LIMIT) -> list[dict]:
    forms = sorted({f for p in phones for f in written_forms(p)})
    if not forms:
        return []
    C = CallRecord
    q = (C.select().where(C.caller.in_(forms) | C.callee.in_(forms)).order_by(C.start_ms.desc()).limit(limit))
    return [{"call_id": c.call_id, "start_ms": c.start_ms, "direction": c.direction, "caller": c.caller,
             "callee": c.callee, "disposition": c.disposition, "duration_s": c.duration_s, "seat": c.seat,
             "recording": c.recording} for c in q]


def sms_for(phones: list[str], limit: int = LIMIT) -> list[dict]:
    if not phones:
        return []
    q = SmsMessage.select().where(SmsMessage.phone.in_(phones)).order_by(SmsMessage.created_ms.desc()).limit(limit)
    return [{"id": m.id, "phone": m.phone, "created_ms": m.created_ms, "state": m.state, "template": m.template,
             "waybill": m.waybill, "body": m.body} for m in q]


def lookup(number: str, *, limit: int = LIMIT) -> dict:
    """The whole picture for a caller's number (the JSON fields are in docs/crm.md)."""
    try:
        p = parse(number)
    except PhoneError:
        try:                            # a caller id need not be a valid number to be looked up
            n = e164(number)
        except PhoneError as e:
            raise CrmError(str(e)) from None
        p = Phone(e164=n, kind="unknown", extension="", national=n)
    found = by_phone(p.e164)
    ids = [c.id for c in found]
    phones = sorted({p.e164, *_phones_of(ids)})
    customers = [row(c) for c in found]
    tasks = ([{"id": t.id, "customer": t.customer, "due": t.due, "kind": t.kind, "owner": t.owner, "note": t.note}
              for t in CrmTask.select().where(CrmTask.customer.in_(ids), CrmTask.done_ms.is_null())
              .order_by(CrmTask.due).limit(limit)] if ids else [])
    out = {"phone": p.e164, "national": p.national, "kind": p.kind, "known": bool(found),
           "shared": len(found) > 1, "customers": customers,
           "parcels": parcels_for(phones, limit), "calls": calls_for(phones, limit), "sms": sms_for(phones, limit),
           "quotes": records.for_customers(ids, limit), "tasks": tasks, "work_orders": [], "related": {}}
    for name, fn in providers().items():
        rows = fn(ids, p.e164)
        if name == "work_orders":
            out["work_orders"] = rows
        else:
            out["related"][name] = rows
    return out
