"""Notices the scans trigger, as a derivation step: arrival at the destination site texts the
receiver (template ``arrival_notice``), once per waybill.

``refresh(waybills, events)`` is called by ``hub.ingest.pipeline.derive``.  For each waybill
whose live events hold an arrival scan at its destination (``hub.business.facts.parcel_dest``)
it queues the notice with the dedupe key ``arrival:<waybill>``, so any order, duplication or
delay of the scans queues it once; a queued notice whose arrival scan was deleted meanwhile is
cancelled.  Nothing is queued while ``arrival_notices`` is off in the SMS policy, nor for a
waybill without a known receiver phone (:func:`receiver_phone`), nor when the template was
edited to need a variable the notice does not have (``waybill``, ``site_name``, ``network``).
"""
from __future__ import annotations

from hub.business import tables as bm
from hub.business.facts import parcel_dest
from hub.network.tables import Site
from hub.sms import queue, templates
from hub.sms.tables import SmsMessage
from hub.store.db import rows_where_in
from hub.waybills.records import load_entries


def receiver_phone(waybills: set[str]) -> dict[str, str]:
    """The phone number to text about each waybill's arrival, for those that have one.

    The one place the notices learn a receiver's phone: the entered waybill's
    ``receiver_phone`` (``hub.waybills``, station entry or ``scanhub waybill import``) first,
    else the phone of the platform order bound to the waybill at pickup
    (``hub.business.tables.PlatformOrder``)."""
    if not waybills:
        return {}
    rows = bm.PlatformOrder.select(bm.PlatformOrder.waybill, bm.PlatformOrder.phone).where(
        bm.PlatformOrder.waybill.in_(sorted(waybills)) & (bm.PlatformOrder.phone != "")).tuples()
    out = {wb: phone for wb, phone in rows}
    for wb, e in load_entries(waybills).items():
        phone = (e["fields"].get("receiver_phone") or "").strip()
        if phone:
            out[wb] = phone
    return out


def arrived(events: list[dict]) -> dict | None:
    """The first arrival scan at the destination site, if any."""
    if not any(e["kind"] == "arrive" for e in events):
        return None
    dest = parcel_dest(events)
    hits = [e for e in events if e["kind"] == "arrive" and dest and e["site"] == dest]
    return min(hits, key=lambda e: (e["event_ms"], e["id"])) if hits else None


def refresh(waybills: set[str], events: dict[str, list[dict]]) -> int:
    """Queue the arrival notices the waybills' scans call for; returns how many were queued."""
    arrivals = {wb: a for wb in waybills if (a := arrived(events.get(wb, [])))}
    gone = [f"arrival:{wb}" for wb in waybills if wb not in arrivals]
    if gone:
        rows_where_in(f'UPDATE "{SmsMessage._meta.table_name}" SET "state" = \'cancelled\', '
                      f'"reason" = \'the arrival scan was deleted\' WHERE "dedupe" IN ({{in}}) AND "state" = ?',
                      sorted(gone), params=("queued",))
    if not arrivals or not queue.get_policy().arrival_notices:
        return 0
    phones = receiver_phone(set(arrivals))
    names = {s.code: s.name for s in Site.select().where(Site.code.in_({a["site"] for a in arrivals.values()}))}
    n = 0
    for wb, a in sorted(arrivals.items()):
        phone = phones.get(wb)
        if not phone:
            continue
        try:
            if queue.enqueue(phone, template="arrival_notice", dedupe=f"arrival:{wb}", waybill=wb,
                             variables={"waybill": wb, "site_name": names.get(a["site"], a["site"])}) is not None:
                n += 1
        except (queue.SmsError, templates.TemplateError):
            # a malformed phone on the order, or a template edited to need a variable a notice
            # does not have: no notice, and the scans still commit
            continue
    return n
