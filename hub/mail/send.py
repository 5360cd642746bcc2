"""Sending by SMTP (the standard library's ``smtplib``), with the settings kept in the store.

``configure(host=…, port=…, sender=…)`` keeps the SMTP settings (``scanhub mail setup``);
``send(to, subject, body, ticket=…)`` sends one text message, threaded after the ticket's last
message (In-Reply-To, References), and records it with its thread whether it went out or failed.
A failure raises :class:`MailError` after it is recorded.
"""
from __future__ import annotations

import json
import smtplib
import ssl
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from hub.mail import threads
from hub.mail.message import MailError
from hub.store.meta import get_meta, set_meta

META_KEY = "mail.smtp"
SECURITY = ("none", "starttls", "tls")


@dataclass
class SmtpSettings:
    host: str = ""
    port: int = 25
    sender: str = ""
    security: str = "none"           # none | starttls | tls
    user: str = ""
    password: str = ""
    timeout_s: float = 30.0

    def check(self) -> None:
        if not self.host:
            raise MailError("no SMTP server set: run `scanhub mail setup --smtp HOST:PORT --from ADDRESS`")
        if "@" not in self.sender:
            raise MailError(f"the sender address {self.sender!r} is no e-mail address")
        if self.security not in SECURITY:
            raise MailError(f"security must be one of {', '.join(SECURITY)}, not {self.security!r}")
        if not 0 < int(self.port) < 65536:
            raise MailError(f"bad SMTP port {self.port}")


def settings() -> SmtpSettings:
    raw = get_meta(META_KEY)
    if not raw:
        return SmtpSettings()
    data = json.loads(raw)
    return SmtpSettings(**{k: v for k, v in data.items() if k in SmtpSettings.__dataclass_fields__})


def configure(**changes) -> SmtpSettings:
    cur = asdict(settings())
    for k, v in changes.items():
        if v is None:
            continue
        if k not in cur:
            raise MailError(f"unknown mail setting {k!r}")
        cur[k] = v
    s = SmtpSettings(**cur)
    s.check()
    set_meta(META_KEY, json.dumps(asdict(s)))
    return s


def send(to: str | list[str], subject: str, body: str, *, ticket: str = "", smtp: SmtpSettings | None = None,
         at_ms: int | None = None) -> dict:
    """Send a text message; its recorded row (``message_id``, ``state``)."""
    s = smtp or settings()
    s.check()
    rcpt = [to] if isinstance(to, str) else list(to)
    if not rcpt or any("@" not in a or any(c in a for c in "\r\n ,") for a in rcpt):
        raise MailError(f"bad recipient address in {rcpt!r}")
    if any(c in subject for c in "\r\n"):
        raise MailError("a subject is one line")
    reply_to, refs = threads.last_message_id(ticket) if ticket else ("", [])
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = s.sender, ", ".join(rcpt), subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=s.sender.rpartition("@")[2] or None)
    if reply_to:
        msg["In-Reply-To"], msg["References"] = reply_to, " ".join(refs)
    msg.set_content(body)
    error = ""
    try:
        if s.security == "tls":
            client = smtplib.SMTP_SSL(s.host, int(s.port), timeout=s.timeout_s, context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(s.host, int(s.port), timeout=s.timeout_s)
        with client:
            if s.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if s.user:
                client.login(s.user, s.password)
            client.send_message(msg)
    except (OSError, smtplib.SMTPException) as e:
        error = f"cannot send by {s.host}:{s.port}: {e}"
    row = threads.record_outbound(msg["Message-ID"], to=rcpt, sender=s.sender, subject=subject, body=body,
                                  in_reply_to=reply_to, references=refs, ticket=ticket,
                                  state="failed" if error else "sent", error=error, at_ms=at_ms)
    if error:
        raise MailError(error)
    return row
