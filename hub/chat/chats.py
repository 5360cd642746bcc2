"""Chats: a customer writes from the public page, the chat waits in an ACD queue like a call,
rings an agent (on the agent's desk instead of a phone), is taken and answered there, and ends.

One agent state covers calls and chats: a chat is a "call" of the engine whose id starts with
``chat-``; while an agent has one they are ringing or talking and get no call, and the chat is
counted in the queue's figures (the queue log has it like a call).  The engine runs in the PBX
process; this module asks it through the store (``hub.acd.presence``) and keeps the
conversation itself (``chat``, ``chat_message``): the transcript stays with the customer's number
(the screen pop shows it) and with any work order opened from the chat (its ``call_id``).
"""
from __future__ import annotations

import os
import secrets

from contract.clock import now_ms
from contract.phone import PhoneError, e164
from hub.chat.tables import Chat, ChatMessage
from hub.errors import HubError
from hub.store.db import write_transaction

PREFIX = "chat-"
MAX_TEXT = 2000
SIDES = ("customer", "agent", "system")


class ChatError(HubError, ValueError):
    """A chat request that cannot be done (bad text, unknown or ended chat)."""


def is_chat(call_id: str | None) -> bool:
    return bool(call_id) and str(call_id).startswith(PREFIX)


def _text(text) -> str:
    text = str(text or "").strip()
    if not text:
        raise ChatError("a message needs text")
    if len(text) > MAX_TEXT:
        raise ChatError(f"a message is at most {MAX_TEXT} characters")
    return text


def row(c: Chat) -> dict:
    return {"id": c.id, "name": c.name, "phone": c.phone, "queue": c.queue, "agent": c.agent, "state": c.state,
            "started_ms": c.started_ms, "answered_ms": c.answered_ms, "ended_ms": c.ended_ms,
            "ended_by": c.ended_by}


def open_chat(queue: str, text: str, *, name: str = "", phone: str = "", at_ms: int | None = None) -> tuple[dict, str]:
    """A new chat with the customer's first message; ``(chat, secret)``.  The secret is the
    customer's key to it (the page's link); the queue is joined by ``join``."""
    text = _text(text)
    norm = ""
    if phone and phone.strip():
        try:
            norm = e164(phone)
        except PhoneError as e:
            raise ChatError(str(e)) from None
    name = str(name or "").strip()[:80]
    t = now_ms() if at_ms is None else at_ms
    secret = secrets.token_urlsafe(24)
    with write_transaction():
        c = Chat.create(id=PREFIX + os.urandom(8).hex(), secret=secret, name=name, phone=norm, queue=queue,
                        started_ms=t)
        ChatMessage.create(chat=c.id, at_ms=t, side="customer", author=name, text=text)
    return row(c), secret


def join(c: dict, wait_s: float) -> None:
    """Put a new chat in its ACD queue through the running PBX (``hub.acd.presence``); when the
    PBX refuses it or does not answer within ``wait_s``, the chat ends with a note saying why
    (and, not answered, is withdrawn again, in case the PBX carries the join out late)."""
    from hub.acd import presence
    r = presence.ask(c["id"], "chat-join", f"{c['queue']} {c['id']} {c['phone'] or '-'}", wait_s)
    if r["done_ms"] is not None and r["result"]["ok"]:
        return
    if r["done_ms"] is None:
        presence.request(c["id"], "chat-leave", c["id"])
    why = "our service is not running" if r["done_ms"] is None else r["result"]["error"]
    ended(c["id"], "system", f"Sorry, no agent can take your chat now ({why}). Please try again later or call us.")


def get(chat_id: str) -> dict:
    c = Chat.get_or_none(Chat.id == str(chat_id)[:40])
    if c is None:
        raise ChatError(f"no chat {chat_id!r}")
    return row(c)


def by_secret(chat_id: str, secret: str) -> dict | None:
    """The chat when ``secret`` is its customer's key (compared in constant time), else None."""
    c = Chat.get_or_none(Chat.id == str(chat_id)[:40])
    if c is None or not secrets.compare_digest(c.secret.encode(), str(secret or "").encode()):
        return None
    return row(c)


def say(chat_id: str, side: str, text: str, author: str = "", at_ms: int | None = None) -> dict:
    """Add a message; refused on an ended chat."""
    if side not in SIDES:
        raise ChatError(f"side is one of {', '.join(SIDES)}")
    text = _text(text)
    with write_transaction():
        c = Chat.get_or_none(Chat.id == chat_id)
        if c is None:
            raise ChatError(f"no chat {chat_id!r}")
        if c.state == "ended" and side != "system":
            raise ChatError("this chat has ended")
        m = ChatMessage.create(chat=chat_id, at_ms=now_ms() if at_ms is None else at_ms, side=side,
                               author=str(author)[:128], text=text)
    return {"id": m.id, "at_ms": m.at_ms, "side": side, "author": m.author, "text": text}


def answered(chat_id: str, agent: str, at_ms: int | None = None) -> None:
    t = now_ms() if at_ms is None else at_ms
    with write_transaction():
        Chat.update(state="talking", agent=agent, answered_ms=t).where(Chat.id == chat_id, Chat.state == "waiting") \
            .execute()
        ChatMessage.create(chat=chat_id, at_ms=t, side="system", author="", text=f"agent {agent} joined")


def ended(chat_id: str, by: str, note: str = "", at_ms: int | None = None) -> bool:
    """Mark the chat ended (once); True when this call ended it."""
    t = now_ms() if at_ms is None else at_ms
    with write_transaction():
        n = Chat.update(state="ended", ended_ms=t, ended_by=by).where(Chat.id == chat_id, Chat.state != "ended") \
            .execute()
        if n:
            ChatMessage.create(chat=chat_id, at_ms=t, side="system", author="",
                               text=note or f"the {by} ended the chat")
    return bool(n)


def transcript(chat_id: str, after_id: int = 0) -> list[dict]:
    q = ChatMessage.select().where(ChatMessage.chat == chat_id, ChatMessage.id > after_id).order_by(ChatMessage.id)
    return [{"id": m.id, "at_ms": m.at_ms, "side": m.side, "author": m.author, "text": m.text} for m in q]


def for_phone(phone: str, limit: int = 10) -> list[dict]:
    """The chats of a customer's number, newest first (the screen pop)."""
    if not phone:
        return []
    q = Chat.select().where(Chat.phone == phone).order_by(Chat.started_ms.desc()).limit(limit)
    return [row(c) for c in q]


def still_open() -> list[str]:
    """Chats not ended: a PBX that starts ends those an earlier one left open, with a note."""
    return [c.id for c in Chat.select(Chat.id).where(Chat.state != "ended")]
