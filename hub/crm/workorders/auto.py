"""Orders opened from the hub's own facts, once each (``source_key``), however often it runs:

* ``loss`` — a parcel dispatched and not arrived at its next stop ``days`` days after its expected
  arrival (``hub.business.monitoring``'s dispatched-not-arrived report): an exception, lost;
* ``dispute`` — a problem scan recorded after the parcel's sign scan (the receiver disputes the
  signature): a complaint, wrong delivery;
* ``voicemail`` — a message left in a complaint box of the IVR (``hub.ivr.voicemail``): a
  complaint with the caller's number and the recording.
"""
from __future__ import annotations

from contract.clock import now_ms
from contract.phone import PhoneError, e164
from hub.business import monitoring
from hub.crm.workorders.orders import current_flow, open_work_order
from hub.ivr.tables import Voicemail
from hub.scans import tables as m

DEFAULT_DAYS = 3
COMPLAINT_BOXES = ("complaints", "complaint")


def _phone(text: str) -> str:
    try:
        return e164(text)
    except PhoneError:
        return ""


def scan_auto(now: int | None = None, days: int = DEFAULT_DAYS, boxes: tuple[str, ...] = COMPLAINT_BOXES) -> dict:
    """Open what the facts call for; ``{"loss", "dispute", "voicemail"}``: the tickets opened now."""
    t = now_ms() if now is None else now
    flow = current_flow()
    out: dict[str, list[str]] = {"loss": [], "dispute": [], "voicemail": []}

    def opened(kind_of: str, r: dict) -> None:
        if not r["existing"]:
            out[kind_of].append(r["ticket"])

    for r in monitoring.dispatched_not_arrived(None, as_of_ms=t, grace_min=days * 1440):
        opened("loss", open_work_order(
            "exception", subkind="lost", waybill=r["waybill"], source="loss", at_ms=t, flow=flow,
            source_key=f"loss:{r['waybill']}:{r['dispatch_ms']}",
            content=f"dispatched from {r['site']} to {r['next_site']}, not arrived {r['overdue_min'] // 1440} "
                    f"day(s) after its expected arrival"))
    E = m.ScanEvent
    signed: dict[str, int] = {}          # the first sign of each signed parcel
    for wb, ms in E.select(E.waybill, E.event_ms).where(E.kind == "sign", m.live_events()).tuples():
        signed[wb] = min(ms, signed.get(wb, ms))
    if signed:
        for sid, wb, site, ms, reason in (E.select(E.id, E.waybill, E.site, E.event_ms, E.reason)
                                          .where(E.kind == "problem", E.waybill.in_(list(signed)), m.live_events())
                                          .order_by(E.event_ms, E.id).tuples()):
            if ms >= signed[wb]:
                opened("dispute", open_work_order(
                    "complaint", subkind="", waybill=wb, source="dispute", at_ms=t, flow=flow,
                    source_key=f"dispute:{sid}",
                    content=f"the receiver disputes the signature: problem scan at {site}"
                            + (f" (reason {reason})" if reason else "")))
    for v in Voicemail.select().where(Voicemail.box.in_(list(boxes))).order_by(Voicemail.id):
        opened("voicemail", open_work_order(
            "complaint", phone=_phone(v.caller), recording=v.file, source="voicemail", at_ms=t, flow=flow,
            source_key=f"voicemail:{v.id}", content=f"voicemail in {v.box} ({round(v.duration_ms / 1000)} s)"))
    return out
