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
("0571-8888 1234 / 13800000000") matches each of them.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from contract.phone import PhoneError, e164, numbers_in
from hub.business import tables as bm
from hub.business.tracking import track
from hub.waybills import tables as wt

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


OrderSource = Callable[[str], list[dict]]


def platform_orders(phone: str) -> list[dict]:
    """Platform orders whose phone field holds ``phone`` (normalised).  The store is asked for
    fields holding its last four digits (a field written "138 0000 0000" holds no longer run of
    them), and each candidate's numbers are then compared whole."""
    tail = phone[-4:]
    out = []
    for o in bm.PlatformOrder.select().where(bm.PlatformOrder.phone.contains(tail)).order_by(bm.PlatformOrder.order_no):
        if phone in numbers_in(o.phone):
            out.append({"order_no": o.order_no, "waybill": o.waybill or "", "name": o.sender or "", "role": "sender"})
    return out


def entered_waybills(phone: str) -> list[dict]:
    """Entered waybills (``hub.waybills``) whose sender or receiver phone holds ``phone``, found
    the way ``platform_orders`` finds orders; the name and ``role`` are the sender's or the
    receiver's."""
    import json
    E = wt.WaybillEntry
    out = []
    for e in E.select(E.waybill, E.fields_json).where(E.fields_json.contains(phone[-4:])).order_by(E.waybill):
        f = json.loads(e.fields_json)
        for role in ("sender", "receiver"):
            if phone in numbers_in(f.get(f"{role}_phone") or ""):
                out.append({"order_no": e.waybill, "waybill": e.waybill, "name": f.get(f"{role}_name") or "",
                            "role": role})
                break
    return out


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
        out = []
        for _, r in (self._rows(phone) if phone else []):
            wb = str(r.get("waybill") or "")
            t = track(wb) if wb else None
            out.append(OrderStatus(order_no=str(r.get("order_no") or ""), waybill=wb,
                                   kind=t["kind"] if t else None,
                                   status=t["status"] if t else "pending", site=t["site"] if t else None))
        return out


