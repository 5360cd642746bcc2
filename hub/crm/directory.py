"""The CRM behind the IVR's caller-directory interface (``hub.ivr.directory.CallerDirectory``).

``CrmDirectory`` answers with CRM customers (ids ``crm:ID``): every customer a number belongs to,
the customer's own argon2-hashed telephone PIN, and the orders of all of the customer's numbers
from the hub's sources.  A customer without a PIN proves itself as the hub's directory asks
(the last digits of one of its orders or waybills).

``caller_directory()`` is what the IVR and the queues' sticky agent are given: the CRM first, the
hub's own directory when the CRM does not know the number; PINs and orders are answered by the
directory that made the customer's id.  So a caller the CRM knows is one customer (the sticky
agent keys on it), and a caller only the hub's orders know is still found.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from contract.phone import PhoneError, e164
from hub.crm import customers as cu
from hub.crm.tables import CrmPhone
from hub.ivr.directory import Customer, HubDirectory, OrderStatus

PREFIX = "crm:"


def _phones(customer_id: str) -> list[str]:
    try:
        cid = int(customer_id[len(PREFIX):])
    except ValueError:
        return []
    return sorted({p.phone for p in CrmPhone.select(CrmPhone.phone).where(CrmPhone.customer == cid)})


@dataclass
class CrmDirectory:
    hub: HubDirectory = field(default_factory=HubDirectory)

    def customers(self, number: str) -> list[Customer]:
        try:
            phone = e164(number)
        except PhoneError:
            return []
        return [Customer(id=f"{PREFIX}{c.id}", name=c.name, phone=phone, source="crm") for c in cu.by_phone(phone)]

    def check_pin(self, customer_id: str, pin: str) -> bool:
        if not customer_id.startswith(PREFIX):
            return False
        try:
            has_pin = bool(cu._get(customer_id).pin_hash)
        except cu.CrmError:
            return False
        if has_pin:
            return cu.check_pin(customer_id, pin)
        return any(self.hub.check_pin(f"phone:{p}", pin) for p in _phones(customer_id))

    def orders(self, customer_id: str) -> list[OrderStatus]:
        if not customer_id.startswith(PREFIX):
            return []
        out, seen = [], set()
        for p in _phones(customer_id):
            for o in self.hub.orders(f"phone:{p}"):
                if (o.order_no, o.waybill) not in seen:
                    seen.add((o.order_no, o.waybill))
                    out.append(o)
        return out


@dataclass
class CombinedDirectory:
    """The CRM's customers, else the hub's; PINs and orders by whose id it is."""
    crm: CrmDirectory = field(default_factory=CrmDirectory)
    hub: HubDirectory = field(default_factory=HubDirectory)

    def customers(self, number: str) -> list[Customer]:
        return self.crm.customers(number) or self.hub.customers(number)

    def _of(self, customer_id: str):
        return self.crm if customer_id.startswith(PREFIX) else self.hub

    def check_pin(self, customer_id: str, pin: str) -> bool:
        return self._of(customer_id).check_pin(customer_id, pin)

    def orders(self, customer_id: str) -> list[OrderStatus]:
        return self._of(customer_id).orders(customer_id)


def caller_directory() -> CombinedDirectory:
    """The caller directory for the IVR and the sticky agent (see the module's docstring)."""
    hub = HubDirectory()
    return CombinedDirectory(crm=CrmDirectory(hub=hub), hub=hub)
