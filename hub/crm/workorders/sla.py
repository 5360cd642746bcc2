"""SLA figures per responsible party (site or department) and kind: orders opened and closed,
first response and resolution times (medians, hours of wall-clock time), breaches (steps ended
after their deadline, open steps past it, and orders answered or closed later than the flow's
``sla`` targets), and the share of orders within their resolution target."""
from __future__ import annotations

import statistics

from contract.clock import now_ms
from hub.crm.workorders.orders import current_flow
from hub.crm.workorders.tables import WorkOrder, WorkOrderEvent

HOUR_MS = 3_600_000


def figures(since_ms: int | None = None, until_ms: int | None = None, now: int | None = None) -> list[dict]:
    flow = current_flow()
    t = now_ms() if now is None else now
    q = WorkOrder.select()
    if since_ms is not None:
        q = q.where(WorkOrder.created_ms >= since_ms)
    if until_ms is not None:
        q = q.where(WorkOrder.created_ms < until_ms)
    orders = list(q)
    late_steps: dict[int, int] = {}
    if orders:
        for e in WorkOrderEvent.select(WorkOrderEvent.order, WorkOrderEvent.at_ms, WorkOrderEvent.deadline_ms).where(
                WorkOrderEvent.order.in_([o.id for o in orders]), WorkOrderEvent.deadline_ms.is_null(False),
                WorkOrderEvent.action.not_in(["remind", "escalate", "notice", "mail", "note"])):
            if e.at_ms > e.deadline_ms:
                late_steps[e.order] = late_steps.get(e.order, 0) + 1
    groups: dict[tuple[str, str], list[WorkOrder]] = {}
    for o in orders:
        groups.setdefault((o.assignee or "(unassigned)", o.kind), []).append(o)
    rows = []
    for (who, kind), os_ in sorted(groups.items()):
        fr = [(o.first_response_ms - o.created_ms) / HOUR_MS for o in os_ if o.first_response_ms]
        res = [(o.closed_ms - o.created_ms) / HOUR_MS for o in os_ if o.closed_ms]
        breaches = sum(late_steps.get(o.id, 0) for o in os_)
        breaches += sum(1 for o in os_ if o.status == "open" and o.deadline_ms is not None and o.deadline_ms < t)
        within = 0
        for o in os_:
            fr_target = flow.sla_deadline("first_response", o.created_ms)
            res_target = flow.sla_deadline("resolution", o.created_ms)
            if fr_target is not None and (o.first_response_ms or t) > fr_target:
                breaches += 1
            if res_target is not None and (o.closed_ms or t) > res_target:
                breaches += 1
            elif o.closed_ms:
                within += 1
        closed = sum(1 for o in os_ if o.closed_ms)
        rows.append({"assignee": who, "kind": kind, "opened": len(os_), "closed": closed,
                     "first_response_h": round(statistics.median(fr), 2) if fr else None,
                     "resolution_h": round(statistics.median(res), 2) if res else None,
                     "breaches": breaches, "within_sla_rate": round(within / closed, 4) if closed else None})
    return rows
