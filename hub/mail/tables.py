"""The mail table: every message received or sent, with its thread headers and the ticket it
belongs to (empty until one is known)."""
from __future__ import annotations

import peewee as pw

from hub.store.db import Base


class MailMessage(Base):
    """One message.  ``direction``: ``in`` (received) or ``out`` (sent); ``state``: ``received``,
    ``sent`` or ``failed`` (with ``error``)."""
    id = pw.AutoField()
    direction = pw.CharField(max_length=3, index=True)
    message_id = pw.CharField(max_length=250, unique=True)
    in_reply_to = pw.CharField(max_length=250, default="")
    references = pw.TextField(default="")                    # Message-IDs, space-separated
    subject = pw.CharField(max_length=300, default="")
    sender = pw.CharField(max_length=250, default="")         # the bare address
    recipients = pw.TextField(default="")                    # bare addresses, comma-separated
    body = pw.TextField(default="")
    ticket = pw.CharField(max_length=40, default="", index=True)
    created_ms = pw.BigIntegerField(index=True)
    state = pw.CharField(max_length=10, default="received")
    error = pw.TextField(default="")

    class Meta:
        table_name = "mail_message"


TABLES = (MailMessage,)
