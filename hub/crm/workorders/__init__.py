"""Work orders (工单, docs/crm.md "Work orders"): complaints, follow-ups, suggestions, praise,
exceptions and pickup problems, carried through a flow given as data (``flow.py``) with per-step
deadlines on business calendars (``calendar.py``), responsibility by written rules (``rules.py``),
reminders and escalations that fire once (``orders.remind``), notices to the customer by SMS and
e-mail (``notices.py``), orders opened from the hub's own facts (``auto.py``), inbound e-mail
(``mailin.py``) and SLA figures (``sla.py``).  ``orders.open_work_order`` is the one way an order
is opened."""


def lookup_related(customer_ids: list[int], phone: str, limit: int = 20) -> list[dict]:
    """The work orders a CRM lookup shows (``hub.crm.lookup``): those of the caller's number or of
    any of their customers, newest first."""
    from hub.crm.workorders.orders import _row
    from hub.crm.workorders.tables import WorkOrder
    cond = WorkOrder.phone == phone
    if customer_ids:
        cond = cond | WorkOrder.customer_id.in_([str(i) for i in customer_ids])
    q = WorkOrder.select().where(cond).order_by(WorkOrder.created_ms.desc(), WorkOrder.id.desc()).limit(limit)
    return [_row(o) for o in q]
