"""Receiving: an SMTP listener (aiosmtpd) or polling an IMAP mailbox (the standard library's
``imaplib``).  Each message's bytes go to ``handle(raw) -> str``; what it returns is logged.

The listener answers ``250`` only after ``handle`` returned, so a message the sender was told we
have is stored; a message ``handle`` refuses (:class:`MailError`) is answered ``550`` with the
reason.  The IMAP poll marks a message seen only after ``handle`` returned (a message it refuses
is counted as refused and marked seen too: it reads no better next time); anything else ``handle``
raises stops the poll with that message still unseen, for the next poll.  A server that cannot be
reached, refuses the login, goes away or stops answering for ``timeout_s`` is a ``MailError``.
"""
from __future__ import annotations

import imaplib
import logging
from collections.abc import Callable

from aiosmtpd.controller import Controller

from hub.mail.message import MailError

log = logging.getLogger("scanhub.mail")
Handler = Callable[[bytes], str]


class _SmtpHandler:
    def __init__(self, handle: Handler):
        self.handle = handle

    async def handle_DATA(self, server, session, envelope):   # noqa: N802 - aiosmtpd's hook name
        try:
            what = self.handle(envelope.original_content or envelope.content)
        except MailError as e:
            log.warning("mail refused: %s", e)
            return f"550 {str(e)[:200]}"
        log.info("mail from %s: %s", envelope.mail_from, what)
        return "250 OK"


def smtp_listener(handle: Handler, host: str = "127.0.0.1", port: int = 2525) -> Controller:
    """An SMTP listener (not started: ``.start()`` and ``.stop()``) handing messages to ``handle``."""
    return Controller(_SmtpHandler(handle), hostname=host, port=port, data_size_limit=10 * 1024 * 1024)


def _reason(e: Exception) -> str:
    """An imaplib error's text (the server's own words come as bytes) or an OSError's."""
    arg = e.args[0] if len(e.args) == 1 else e
    return arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)


def _text(parts) -> str:
    """The server's words of an IMAP answer (a list of bytes lines), for a log line."""
    words = [p.decode("utf-8", "replace") for p in parts or () if isinstance(p, bytes)]
    return "; ".join(words) or "no body"


def poll_imap(handle: Handler, host: str, user: str, password: str, *, port: int | None = None,
              mailbox: str = "INBOX", ssl: bool = True, timeout_s: float = 30.0) -> dict:
    """Hand every unseen message of the mailbox to ``handle``; ``{"handled", "refused", "left"}``:
    a message taken or refused is marked seen; one the server would not give (FETCH answered NO,
    or no body) is ``left`` unseen, for the next poll."""
    try:
        cls = imaplib.IMAP4_SSL if ssl else imaplib.IMAP4
        client = cls(host, port or (993 if ssl else 143), timeout=timeout_s)
    except (OSError, imaplib.IMAP4.error) as e:       # no connection, no greeting, or a BYE
        raise MailError(f"cannot reach the IMAP server {host}: {_reason(e)}") from None
    handled = refused = left = 0
    broken = False
    try:
        try:
            client.login(user, password)
            typ, _ = client.select(mailbox)
            if typ != "OK":
                raise MailError(f"no mailbox {mailbox!r} on {host}")
            typ, data = client.search(None, "UNSEEN")
            for num in (data[0] or b"").split():
                typ, parts = client.fetch(num, "(BODY.PEEK[])")
                raw = next((p[1] for p in parts or () if isinstance(p, tuple)), None) if typ == "OK" else None
                if not raw:
                    log.warning("IMAP %s: message %s could not be fetched (%s); left unseen for the next poll",
                                host, num.decode(), _text(parts))
                    left += 1
                    continue
                try:
                    log.info("mail: %s", handle(raw))
                    handled += 1
                except MailError as e:
                    log.warning("mail refused: %s", e)
                    refused += 1
                client.store(num, "+FLAGS", "\\Seen")
        except (imaplib.IMAP4.error, OSError) as e:   # refused, or the connection broke / timed out
            broken = isinstance(e, (imaplib.IMAP4.abort, OSError))
            raise MailError(f"IMAP {host}: {_reason(e)}") from None
    finally:
        try:
            client.shutdown() if broken else client.logout()   # no LOGOUT to wait for on a dead line
        except (OSError, imaplib.IMAP4.error):
            pass
    return {"handled": handled, "refused": refused, "left": left}
