"""Inbound e-mail into work orders: a message names its order by the ticket in its subject
(``[WO000123]`` or ``WO000123``) or by threading (In-Reply-To / References of a message kept
with an order); it is kept with that order's thread and noted on it.  A message that names no
order opens an inquiry with the sender's address (notices by e-mail).  The same message twice
(same Message-ID) changes nothing the second time."""
from __future__ import annotations

import re

from hub.crm.workorders.orders import note, open_work_order
from hub.crm.workorders.tables import WorkOrder
from hub.mail import threads
from hub.mail.message import parse
from hub.store.db import write_transaction

_TICKET = re.compile(r"\bWO(\d{6,})\b", re.IGNORECASE)


def ticket_in(subject: str) -> str:
    """The ticket named in a subject that the hub knows, or ``""``."""
    for m in _TICKET.finditer(subject or ""):
        t = f"WO{m.group(1)}"
        if WorkOrder.select().where(WorkOrder.ticket == t).exists():
            return t
    return ""


def handle(raw: bytes, at_ms: int | None = None) -> str:
    """Take one received message (bytes); what was done, in one line (``MailError`` when it is
    unreadable: nothing is stored).  Taking a message again after a failure finishes what the
    failed try began: a reply is kept with its note in one transaction, and a message that opens
    a work order is kept first and tied to its order last (the order is opened once, by the
    message's id), so a message is never kept without what it does."""
    msg = parse(raw)
    ticket = threads.ticket_of(msg.thread_ids()) or ticket_in(msg.subject)
    if ticket:
        with write_transaction():
            row, new = threads.store_inbound(msg, ticket, at_ms)
            if new:
                note(ticket, f"{msg.subject}\n\n{msg.body}"[:4000], actor=msg.sender, action="mail", at_ms=at_ms)
        return f"{msg.message_id}: added to {ticket}" if new else \
            f"{msg.message_id}: already kept (ticket {row['ticket'] or 'none'})"
    row, new = threads.store_inbound(msg, "", at_ms)
    if not new and row["ticket"]:
        return f"{msg.message_id}: already kept (ticket {row['ticket']})"
    o = open_work_order("inquiry", content=f"{msg.subject}\n\n{msg.body}"[:4000], email=msg.sender,
                        notify_email=True, source="email", source_key=f"email:{msg.message_id}"[:120],
                        accept=False, at_ms=at_ms)
    threads.set_ticket(msg.message_id, o["ticket"])
    return f"{msg.message_id}: opened {o['ticket']}"
