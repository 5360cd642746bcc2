"""Overdue pickups raise work orders (docs/hub-business.md, "Telephone pickup orders").

``hub.business.pickup.overdue`` finds the open tasks whose window has passed; the business layer
sits below the CRM, so the raising is here: ``raise_overdue(rows)`` opens one work order of kind
``pickup`` (subkind ``missed``) per overdue task through the work orders package's ``open_work_order`` and
remembers it (meta ``pickup_watch:<code>``), so running it again (``scanhub pickup overdue
--work-orders``, from cron say) opens none twice.  Without the work orders package it says so.
"""
from __future__ import annotations

from hub.errors import HubError
from hub.store.meta import get_meta, set_meta


class PickupWatchError(HubError):
    """Work orders cannot be raised here."""


def _opener():
    try:
        from hub.crm.workorders.orders import open_work_order
    except ImportError:
        raise PickupWatchError("the work orders package (hub.crm.workorders) is not in this scanhub: "
                               "overdue pickups are listed, no work order was opened") from None
    return open_work_order


def raise_overdue(rows: list[dict]) -> int:
    """A work order for each overdue task of ``rows`` (``overdue``'s) that has none yet; returns
    how many were opened."""
    todo = [r for r in rows if not get_meta(f"pickup_watch:{r['code']}")]
    if not todo:
        return 0
    open_work_order = _opener()
    n = 0
    for r in todo:
        wo = open_work_order("pickup", subkind="missed", phone=r["phone"] or "", name=r["sender"] or "",
                             address=r["address"] or "", source="pickup", source_key=f"pickup:{r['code']}",
                             content=f"pickup {r['code']} at site {r['site']} not done: its window ended "
                                     f"{r['overdue_min']} min ago ({r['parcels']} parcel(s))")
        set_meta(f"pickup_watch:{r['code']}", str(wo.get("ticket", "")) if isinstance(wo, dict) else str(wo))
        n += 1
    return n
