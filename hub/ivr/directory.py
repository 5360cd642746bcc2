"""The caller directory: who is calling, and what they may hear about their own parcels.

The interface (``CallerDirectory``) is what the IVR, and later the queues' sticky agent and the
CRM, ask::

    customers(number)          -> [Customer]       # every customer this phone number belongs to
    check_pin(customer_id, pin) -> bool            # the caller proved to be that customer
    orders(customer_id)        -> [OrderStatus]     # their orders and where each parcel stands

``HubDirectory`` answers from the data the hub has: platform orders by phone number (and any
other ``sources`` given to it: entered waybills with the sender's or receiver's phone plug in
there, as a function ``phone -> [{"order_no", "waybill", "name"}]``).  The hub keeps no PINs, so
its PIN is the last four digits of any of the customer's order numbers or waybills — what a caller
has on the paper in front of them.  The CRM supplies customers with real PINs behind the same
interface.

Phone numbers are compared in E.164 (``contract.phone``), and a field holding several numbers
("0571-8888 1234 / 13800000000") matches each of them: the numbers are written to an index table
with each order and waybill, so finding a caller's parcels is an indexed query, never a scan.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

import peewee as pw

from contract.phone import PhoneError, e164
from hub.business import tables as bm
from hub.business.tracking import statuses
from hub.waybills import tables as wt
from hub.waybills.records import load_entries

PIN_DIGITS = 4


@dataclass(frozen=True)
class Customer:
    id: str                 # stable within its directory ("phone:+8613800000000" for the hub's)
    name: str
    phone: str              # E.164 (contract.phone)
    source: str             # which data it came from ("platform_orders", "crm", …)


@dataclass(frozen=True)
class OrderStatus:
    order_no: str
    waybill: str            # "" when no parcel is bound to the order yet
    kind: str | None        # the parcel's latest scan kind (``scanhub track``), None before any scan
    status: str             # ``scanhub track``'s status word, or "pending" (no parcel yet)
    site: str | None = None


class CallerDirectory(Protocol):
    def customers(self, number: str) -> list[Customer]: ...

    def check_pin(self, customer_id: str, pin: str) -> bool: ...

    def orders(self, customer_id: str) -> list[OrderStatus]: ...


#: ``phone -> rows``; the hub's own sources also take ``limit=`` (``default_sources``).
OrderSource = Callable[[str], list[dict]]


def platform_orders(phone: str, limit: int | None = None) -> list[dict]:
    """Platform orders whose phone field holds ``phone`` (E.164): one indexed query on the numbers
    written with each order (``hub.business.tables.OrderPhone``).  With ``limit``, the orders with
    the highest (waybill, order number) only, as the caller lookup shows them."""
    O, P = bm.PlatformOrder, bm.OrderPhone
    q = O.select(O.order_no, O.waybill, O.sender).join(P, on=(P.order_no == O.order_no)).where(P.phone == phone)
    if limit is not None:
        q = q.order_by(pw.fn.COALESCE(O.waybill, "").desc(), O.order_no.desc()).limit(limit)
    rows = [{"order_no": o.order_no, "waybill": o.waybill or "", "name": o.sender or "", "role": "sender"} for o in q]
    return sorted(rows, key=lambda r: r["order_no"])


def entered_waybills(phone: str, limit: int | None = None) -> list[dict]:
    """Entered waybills (``hub.waybills``) whose sender or receiver phone holds ``phone``: one
    indexed query on the numbers written with each entry (``hub.waybills.tables.WaybillPhone``).
    The name and ``role`` are the sender's, else the receiver's.  With ``limit``, the highest
    waybill numbers only (a shop's number is on thousands)."""
    P = wt.WaybillPhone
    roles: dict[str, str] = {}
    q = P.select(P.waybill, P.role).where(P.phone == phone)
    if limit is not None:
        q = q.order_by(P.waybill.desc()).limit(2 * limit)        # a waybill is there once per role
    for wb, role in q.tuples():
        if roles.get(wb) != "sender":
            roles[wb] = role
    out = [{"order_no": wb, "waybill": wb, "name": e["fields"].get(f"{roles[wb]}_name") or "", "role": roles[wb]}
           for wb, e in sorted(load_entries(roles).items())]
    return out if limit is None else out[max(0, len(out) - limit):]


def default_sources() -> dict[str, OrderSource]:
    """The hub's data by phone number: platform orders and entered waybills.  The hook for more:
    another source adds its own ``phone -> rows`` function here under its own name."""
    return {"platform_orders": platform_orders, "entered_waybills": entered_waybills}


@dataclass
class HubDirectory:
    """The caller directory over the hub's own data (see the module's docstring)."""
    sources: dict[str, OrderSource] = field(default_factory=default_sources)

    def _rows(self, phone: str) -> Iterable[tuple[str, dict]]:
        for name, source in self.sources.items():
            for row in source(phone):
                yield name, row

    def customers(self, number: str) -> list[Customer]:
        try:
            phone = e164(number)
        except PhoneError:
            return []
        found = list(self._rows(phone))
        if not found:
            return []
        names = [r.get("name") for _, r in found if r.get("name")]
        return [Customer(id=f"phone:{phone}", name=names[0] if names else "", phone=phone, source=found[0][0])]

    def _phone_of(self, customer_id: str) -> str:
        return customer_id[len("phone:"):] if customer_id.startswith("phone:") else ""

    def check_pin(self, customer_id: str, pin: str) -> bool:
        pin = str(pin or "")
        phone = self._phone_of(customer_id)
        if not phone or not re.fullmatch(r"[0-9]{%d}" % PIN_DIGITS, pin):
            return False
        return any(str(r.get(k) or "").endswith(pin) and len(str(r.get(k) or "")) >= PIN_DIGITS
                   for _, r in self._rows(phone) for k in ("order_no", "waybill"))

    def orders(self, customer_id: str) -> list[OrderStatus]:
        phone = self._phone_of(customer_id)
        rows = [r for _, r in self._rows(phone)] if phone else []
        known = statuses(str(r.get("waybill") or "") for r in rows)
        out = []
        for r in rows:
            wb = str(r.get("waybill") or "")
            t = known.get(wb)
            out.append(OrderStatus(order_no=str(r.get("order_no") or ""), waybill=wb,
                                   kind=t["kind"] if t else None,
                                   status=t["status"] if t else "pending", site=t["site"] if t else None))
        return out


