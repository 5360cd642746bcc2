"""Work orders (工单, docs/crm.md "Work orders"): complaints, follow-ups, suggestions, praise,
exceptions and pickup problems, carried through a flow given as data (``flow.py``) with per-step
deadlines on business calendars (``calendar.py``), responsibility by written rules (``rules.py``),
reminders and escalations that fire once (``orders.remind``), notices to the customer by SMS and
e-mail (``notices.py``), orders opened from the hub's own facts (``auto.py``), inbound e-mail
(``mailin.py``) and SLA figures (``sla.py``).  ``orders.open_work_order`` is the one way an order
is opened."""
