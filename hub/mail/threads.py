"""Messages kept with their threads: store what came in or went out, find the ticket a reply
belongs to from its In-Reply-To and References, list a ticket's thread."""
from __future__ import annotations

from contract.clock import now_ms
from hub.mail.message import Inbound
from hub.mail.tables import MailMessage


def _row(m: MailMessage) -> dict:
    return {"id": m.id, "direction": m.direction, "message_id": m.message_id, "in_reply_to": m.in_reply_to,
            "subject": m.subject, "sender": m.sender, "recipients": m.recipients, "body": m.body,
            "ticket": m.ticket, "created_ms": m.created_ms, "state": m.state, "error": m.error}


def store_inbound(msg: Inbound, ticket: str = "", at_ms: int | None = None) -> tuple[dict, bool]:
    """Keep a received message; ``(row, new)``: a message already kept (same Message-ID) is not
    kept twice and comes back with ``new`` false."""
    old = MailMessage.get_or_none(MailMessage.message_id == msg.message_id)
    if old is not None:
        return _row(old), False
    m = MailMessage.create(direction="in", message_id=msg.message_id, in_reply_to=msg.in_reply_to,
                           references=" ".join(msg.references), subject=msg.subject, sender=msg.sender,
                           recipients=", ".join(msg.recipients), body=msg.body, ticket=ticket,
                           created_ms=now_ms() if at_ms is None else at_ms, state="received")
    return _row(m), True


def record_outbound(message_id: str, *, to: list[str], sender: str, subject: str, body: str, in_reply_to: str = "",
                    references: list[str] | None = None, ticket: str = "", state: str = "sent", error: str = "",
                    at_ms: int | None = None) -> dict:
    m = MailMessage.create(direction="out", message_id=message_id, in_reply_to=in_reply_to,
                           references=" ".join(references or []), subject=subject[:300], sender=sender,
                           recipients=", ".join(to), body=body, ticket=ticket,
                           created_ms=now_ms() if at_ms is None else at_ms, state=state, error=error)
    return _row(m)


def set_ticket(message_id: str, ticket: str) -> None:
    MailMessage.update(ticket=ticket).where(MailMessage.message_id == message_id).execute()


def ticket_of(message_ids: list[str]) -> str:
    """The ticket of the nearest message of the thread the hub knows, or ``""``."""
    if not message_ids:
        return ""
    known = {m.message_id: m.ticket for m in
             MailMessage.select(MailMessage.message_id, MailMessage.ticket)
             .where(MailMessage.message_id.in_(message_ids), MailMessage.ticket != "")}
    return next((known[i] for i in message_ids if i in known), "")


def thread(ticket: str) -> list[dict]:
    """Every message of ``ticket``, oldest first."""
    return [_row(m) for m in MailMessage.select().where(MailMessage.ticket == ticket)
            .order_by(MailMessage.created_ms, MailMessage.id)]


def last_message_id(ticket: str) -> tuple[str, list[str]]:
    """``(the latest Message-ID of the thread, all its Message-IDs)``: what a new message of the
    thread answers (In-Reply-To and References)."""
    ids = [m["message_id"] for m in thread(ticket)]
    return (ids[-1] if ids else ""), ids[-20:]
