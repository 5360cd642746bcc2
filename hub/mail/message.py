"""Parsing a received message (RFC 5322 bytes) into the fields the hub keeps, with one clear
error for anything that is not a usable message.

``parse(raw)`` returns an ``Inbound``: the Message-ID (one is made up from the content's hash when
the sender gave none, so the same message stored twice is still one row), In-Reply-To and
References (the thread), the subject, the sender's bare address, the recipients and the text
body (the ``text/plain`` part, else the ``text/html`` part with its tags removed).
"""
from __future__ import annotations

import email
import email.policy
import hashlib
import html
import re
from dataclasses import dataclass, field
from email.utils import getaddresses, parseaddr

from hub.errors import HubError

MAX_BYTES = 10 * 1024 * 1024
MAX_BODY = 200_000
_MSGID = re.compile(r"<[^<>\s]{1,240}>")
_TAG = re.compile(r"<[^>]*>")


class MailError(HubError, ValueError):
    """A message that cannot be read or sent, or a bad mail setting."""


@dataclass(frozen=True)
class Inbound:
    message_id: str
    in_reply_to: str
    references: list[str] = field(default_factory=list)
    subject: str = ""
    sender: str = ""
    recipients: list[str] = field(default_factory=list)
    body: str = ""

    def thread_ids(self) -> list[str]:
        """The Message-IDs this one answers, nearest first."""
        out = [self.in_reply_to] if self.in_reply_to else []
        return out + [r for r in reversed(self.references) if r not in out]


def msg_ids(text) -> list[str]:
    """The ``<id@host>`` items of a header value, in order."""
    return _MSGID.findall(str(text or ""))


def _header(msg, name: str) -> str:
    try:
        v = msg.get(name)
    except (ValueError, TypeError, IndexError, AttributeError):   # malformed header encodings
        return ""
    return " ".join(str(v).split()) if v is not None else ""


def _address(value: str) -> str:
    addr = parseaddr(value)[1].strip()
    return addr if "@" in addr and len(addr) <= 250 else ""


def _text(msg) -> str:
    part = None
    try:
        part = msg.get_body(preferencelist=("plain", "html"))
    except (KeyError, ValueError, TypeError, AttributeError, IndexError):
        part = None
    if part is None:
        return ""
    try:
        text = part.get_content()
    except (LookupError, ValueError, TypeError, AttributeError, AssertionError):
        raw = part.get_payload(decode=True) or b""
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    if not isinstance(text, str):
        text = text.decode("utf-8", "replace") if isinstance(text, bytes) else ""
    if part.get_content_subtype() == "html":
        text = html.unescape(_TAG.sub(" ", text))
    return text.replace("\r\n", "\n").strip()[:MAX_BODY]


def parse(raw: bytes) -> Inbound:
    """The fields of message ``raw``; :class:`MailError` when it is empty, too big or has no
    sender address."""
    if not isinstance(raw, (bytes, bytearray)) or not raw.strip():
        raise MailError("an empty message")
    if len(raw) > MAX_BYTES:
        raise MailError(f"message too big ({len(raw)} bytes, at most {MAX_BYTES})")
    try:
        msg = email.message_from_bytes(bytes(raw), policy=email.policy.default)
    except Exception as e:        # noqa: BLE001 - the parser's own errors are not all ValueError
        raise MailError(f"not a readable message: {e}") from None
    sender = _address(_header(msg, "From"))
    if not sender:
        raise MailError("the message has no sender address (From:)")
    ids = msg_ids(_header(msg, "Message-ID"))
    message_id = ids[0] if ids else f"<{hashlib.sha256(bytes(raw)).hexdigest()[:32]}@scanhub.invalid>"
    reply = msg_ids(_header(msg, "In-Reply-To"))
    to = [a for _, a in getaddresses([_header(msg, "To"), _header(msg, "Cc")]) if "@" in a]
    return Inbound(message_id=message_id, in_reply_to=reply[0] if reply else "",
                   references=msg_ids(_header(msg, "References"))[-50:], subject=_header(msg, "Subject")[:300],
                   sender=sender, recipients=to[:50], body=_text(msg))
