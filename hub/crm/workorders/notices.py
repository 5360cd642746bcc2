"""Notices to the customer when their order enters a step (if they asked for them): by SMS
through the SMS queue with the ``work_order_step`` template (``hub.sms``), and by e-mail with the
same template's text, threaded with the order (``hub.mail``).  A notice that cannot go out (no
SMTP server set, a refused address) is recorded on the order, never lost silently and never
undoing the step."""
from __future__ import annotations

from contract.clock import now_ms
from hub.business.localtime import format_ms
from hub.crm.workorders.flow import STEP_NAMES
from hub.crm.workorders.tables import WorkOrder, WorkOrderEvent
from hub.errors import HubError
from hub.mail import send as mail_send
from hub.sms import queue, templates

TEMPLATE = "work_order_step"


def variables(o: WorkOrder, step: str, tz_offset_min: int) -> dict:
    return {"ticket": o.ticket, "step": STEP_NAMES.get(step, step),
            "deadline": format_ms(o.deadline_ms, tz_offset_min)[:16] if o.deadline_ms else "尽快"}


def text_for(o: WorkOrder, step: str, tz_offset_min: int) -> str:
    return templates.fill(templates.get(TEMPLATE).body, {**queue.network_vars(), **variables(o, step, tz_offset_min)})


def subject(o: WorkOrder, what: str) -> str:
    return f"[{o.ticket}] {what}"


def notify(o: WorkOrder, step: str, tz_offset_min: int, at_ms: int | None = None) -> list[str]:
    """Send the step's notice by each channel the customer chose; what happened, per channel."""
    t = now_ms() if at_ms is None else at_ms
    out = []
    text = text_for(o, step, tz_offset_min)
    n = WorkOrderEvent.select().where(WorkOrderEvent.order == o.id).count()
    if o.notify_sms and o.phone:
        try:
            mid = queue.enqueue(o.phone, template=TEMPLATE, variables=variables(o, step, tz_offset_min),
                                dedupe=f"wo:{o.ticket}:{step}:{n}", waybill=o.waybill or None, at_ms=t)
            out.append(f"sms queued ({mid})")
        except HubError as e:
            out.append(f"sms not queued: {e}")
    if o.notify_email and o.email:
        try:
            mail_send.send(o.email, subject(o, f"工单进度：{STEP_NAMES.get(step, step)}"), text, ticket=o.ticket, at_ms=t)
            out.append("e-mail sent")
        except HubError as e:
            out.append(f"e-mail not sent: {e}")
    for what in out:
        WorkOrderEvent.create(order=o.id, at_ms=t, action="notice", step=step, text=what)
    return out
