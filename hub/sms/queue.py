"""The durable send queue: enqueue, dispatch through a sender, delivery reports, statistics, opt-out.

* :func:`enqueue` — a message to a number, from a template and its variables (or plain text);
  ``dedupe`` makes it once-only (a notice per waybill).  An opted-out number is recorded as
  ``optout`` and never sent.
* :func:`dispatch` — send what is due through ``sender`` (anything with
  ``send(number, text) -> (modem name, sent)`` where ``sent.references`` lists the parts' TP-MR:
  ``drivers.gsm_modem.ModemPool``), respecting quiet hours and rate limits
  (``hub.sms.policy``); a failed send is retried after ``retry_s`` doubling, ``retries`` times,
  then the message is ``failed``.  The message is marked ``sending`` in its own transaction
  before the modem is called; :func:`recover` (at start) puts interrupted ones back in the queue,
  so a crash can send a message twice but never lose one.
* :func:`record_report` — a delivery report (modem, reference, status) marks its part, and the
  message ``delivered`` when every part is, ``failed`` when one failed.
* :func:`stats` — sent, delivered, failed and not sent by template and local day.
"""
from __future__ import annotations

import json
import time

from contract.phone import PhoneError, e164
from hub.business.localtime import network_offset
from hub.errors import HubError
from hub.sms import templates
from hub.sms.policy import DAY_MS, MINUTE_MS, Policy, minutes, next_allowed
from hub.sms.tables import SmsMessage, SmsOptOut, SmsPart
from hub.store.db import database
from hub.store.meta import get_meta, set_meta

STATES = ("queued", "sending", "sent", "delivered", "failed", "optout", "cancelled")
MAX_TEXT = 1000


class SmsError(HubError, ValueError):
    """A bad phone number, text, policy value or queue request."""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def normalize_phone(phone: str) -> str:
    """One form per number, E.164 (``contract.phone.e164``: ``138 0000 0000`` and
    ``0086 13800000000`` are ``+8613800000000``); :class:`SmsError` when it is no number."""
    try:
        return e164(phone)
    except PhoneError as e:
        raise SmsError(str(e)) from None


# --- policy -----------------------------------------------------------------------------------
def get_policy() -> Policy:
    raw = get_meta("sms.policy")
    if not raw:
        return Policy()
    data = json.loads(raw)
    return Policy(**{k: v for k, v in data.items() if k in Policy.__dataclass_fields__})


def set_policy(**changes) -> Policy:
    """Change the stored policy (unknown keys or bad values: :class:`SmsError`)."""
    cur = get_policy().__dict__.copy()
    for k, v in changes.items():
        if v is None:
            continue
        if k not in cur or k == "extra":
            raise SmsError(f"unknown policy setting {k!r}")
        cur[k] = v
    try:
        minutes(cur["quiet_start"]), minutes(cur["quiet_end"])
    except ValueError as e:
        raise SmsError(str(e)) from None
    for k in ("per_hour", "per_day", "retries", "retry_s"):
        if not isinstance(cur[k], int) or cur[k] < 0:
            raise SmsError(f"{k} must be a whole number ≥ 0")
    p = Policy(**cur)
    set_meta("sms.policy", p.to_json())
    return p


# --- opt-out ----------------------------------------------------------------------------------
def opt_out(phone: str, reason: str = "") -> str:
    p = normalize_phone(phone)
    with database.atomic():
        SmsOptOut.insert(phone=p, reason=reason, at_ms=now_ms()).on_conflict_ignore().execute()
        SmsMessage.update(state="optout", reason="the number opted out", done_ms=now_ms()).where(
            (SmsMessage.phone == p) & (SmsMessage.state == "queued")).execute()
    return p


# Replies that mean "no more messages" (回复TD退订, the carriers' convention, and the usual others).
STOP_WORDS = frozenset({"td", "t", "n", "stop", "unsubscribe", "退订", "退", "取消", "取消订阅"})


def handle_reply(phone: str, text: str) -> bool:
    """A message a customer sent back: a stop word (TD, 退订, STOP…) opts the number out.
    True when it did."""
    word = "".join(c for c in text.strip().lower() if c.isalnum())
    if word not in STOP_WORDS:
        return False
    try:
        opt_out(phone, f"replied {text.strip()[:40]}")
    except SmsError:
        return False
    return True


def opt_in(phone: str) -> bool:
    return bool(SmsOptOut.delete().where(SmsOptOut.phone == normalize_phone(phone)).execute())


def opted_out() -> list[dict]:
    return [{"phone": o.phone, "reason": o.reason, "at_ms": o.at_ms} for o in SmsOptOut.select().order_by(SmsOptOut.phone)]


def is_opted_out(phone: str) -> bool:
    return SmsOptOut.get_or_none(SmsOptOut.phone == phone) is not None


# --- enqueue ----------------------------------------------------------------------------------
def network_vars() -> dict:
    return {"network": get_meta("network", "") or ""}


def enqueue(phone: str, *, template: str | None = None, variables: dict | None = None, text: str | None = None,
            dedupe: str | None = None, waybill: str | None = None, at_ms: int | None = None) -> int | None:
    """Queue one message; its id, or ``None`` when ``dedupe`` was queued before (nothing new)."""
    p = normalize_phone(phone)
    if (template is None) == (text is None):
        raise SmsError("give a template or a text, not both")
    body = templates.fill(templates.get(template).body, {**network_vars(), **(variables or {})}) if template else text
    if not body.strip():
        raise SmsError("an empty message cannot be sent")
    if len(body) > MAX_TEXT:
        raise SmsError(f"message too long ({len(body)} characters, at most {MAX_TEXT})")
    t = now_ms() if at_ms is None else at_ms
    state, reason = ("optout", "the number opted out") if is_opted_out(p) else ("queued", "")
    q = SmsMessage.insert(phone=p, template=template or "", body=body, state=state, reason=reason, dedupe=dedupe,
                          waybill=waybill, created_ms=t, due_ms=t, done_ms=t if state == "optout" else None)
    if dedupe is None:
        return q.execute()
    with database.atomic():
        if SmsMessage.select().where(SmsMessage.dedupe == dedupe).exists():
            return None
        return q.on_conflict_ignore().execute() or None


def cancel(message_id: int) -> None:
    n = SmsMessage.update(state="cancelled", done_ms=now_ms(), reason="cancelled").where(
        (SmsMessage.id == message_id) & (SmsMessage.state == "queued")).execute()
    if not n:
        raise SmsError(f"message {message_id} is not in the queue (only queued messages can be cancelled)")


def retry(message_id: int) -> None:
    """Queue a failed (or cancelled) message again, now."""
    n = SmsMessage.update(state="queued", due_ms=now_ms(), attempts=0, reason="").where(
        (SmsMessage.id == message_id) & (SmsMessage.state.in_(("failed", "cancelled")))).execute()
    if not n:
        raise SmsError(f"message {message_id} has not failed and was not cancelled")


# --- dispatch ---------------------------------------------------------------------------------
def recover() -> int:
    """Put messages left ``sending`` by a crash back in the queue (they may go twice)."""
    return SmsMessage.update(state="queued", reason="interrupted while sending").where(
        SmsMessage.state == "sending").execute()


def _sent_times(phone: str, since_ms: int) -> list[int]:
    return [r[0] for r in SmsMessage.select(SmsMessage.sent_ms).where(
        (SmsMessage.phone == phone) & (SmsMessage.sent_ms > since_ms)).tuples()]


def dispatch(sender, now: int | None = None, limit: int = 100, policy: Policy | None = None) -> dict:
    """Send what is due; counts of what happened (sent, deferred, retry, failed, optout)."""
    t = now_ms() if now is None else now
    pol = policy or get_policy()
    tz = network_offset()
    counts = dict.fromkeys(("sent", "deferred", "retry", "failed", "optout"), 0)
    due = list(SmsMessage.select().where((SmsMessage.state == "queued") & (SmsMessage.due_ms <= t))
               .order_by(SmsMessage.due_ms, SmsMessage.id).limit(limit))
    for m in due:
        if is_opted_out(m.phone):
            SmsMessage.update(state="optout", reason="the number opted out", done_ms=t).where(SmsMessage.id == m.id).execute()
            counts["optout"] += 1
            continue
        allowed = next_allowed(t, _sent_times(m.phone, t - DAY_MS), pol, tz)
        if allowed > t:
            SmsMessage.update(due_ms=allowed).where(SmsMessage.id == m.id).execute()
            counts["deferred"] += 1
            continue
        with database.atomic():
            if not SmsMessage.update(state="sending").where((SmsMessage.id == m.id) & (SmsMessage.state == "queued")).execute():
                continue
        try:
            modem, sent = sender.send(m.phone, m.body)
        except Exception as e:          # noqa: BLE001 - any sending failure is this message's failure
            attempts = m.attempts + 1
            if attempts > pol.retries:
                SmsMessage.update(state="failed", attempts=attempts, reason=f"not sent: {e}", done_ms=t).where(
                    SmsMessage.id == m.id).execute()
                counts["failed"] += 1
            else:
                SmsMessage.update(state="queued", attempts=attempts, reason=f"retrying: {e}",
                                  due_ms=t + pol.retry_s * 1000 * 2 ** (attempts - 1)).where(SmsMessage.id == m.id).execute()
                counts["retry"] += 1
            continue
        with database.atomic():
            SmsMessage.update(state="sent", attempts=m.attempts + 1, modem=modem, parts=len(sent.references),
                              sent_ms=t, reason="").where(SmsMessage.id == m.id).execute()
            SmsPart.insert_many([{"message": m.id, "part": i, "modem": modem, "reference": ref, "state": "sent",
                                  "at_ms": t} for i, ref in enumerate(sent.references, 1)]).execute()
        counts["sent"] += 1
    return counts


def record_report(modem: str, reference: int, status: str, at_ms: int | None = None) -> int | None:
    """Apply a delivery report to the latest part sent through ``modem`` with TP-MR
    ``reference``; the message id, or ``None`` when no sent part matches (a late or foreign
    report).  ``status``: delivered, pending (no change) or failed."""
    t = now_ms() if at_ms is None else at_ms
    with database.atomic():
        part = (SmsPart.select().where((SmsPart.modem == modem) & (SmsPart.reference == reference) & (SmsPart.state == "sent"))
                .order_by(SmsPart.at_ms.desc(), SmsPart.id.desc()).first())
        if part is None:
            return None
        if status == "pending":
            return part.message
        SmsPart.update(state=status, at_ms=t).where(SmsPart.id == part.id).execute()
        states = [p.state for p in SmsPart.select(SmsPart.state).where(SmsPart.message == part.message)]
        if "failed" in states:
            SmsMessage.update(state="failed", reason="the network could not deliver it", done_ms=t).where(
                (SmsMessage.id == part.message) & (SmsMessage.state == "sent")).execute()
        elif all(s == "delivered" for s in states):
            SmsMessage.update(state="delivered", done_ms=t).where(
                (SmsMessage.id == part.message) & (SmsMessage.state == "sent")).execute()
        return part.message


def count_delivered(ids) -> int:
    """How many of the messages ``ids`` are delivered."""
    ids = list(ids)
    return SmsMessage.select().where(SmsMessage.id.in_(ids) & (SmsMessage.state == "delivered")).count() if ids else 0


# --- reading ----------------------------------------------------------------------------------
def messages(state: str | None = None, phone: str | None = None, limit: int = 200) -> list[dict]:
    q = SmsMessage.select().order_by(SmsMessage.id.desc()).limit(limit)
    if state:
        if state not in STATES:
            raise SmsError(f"unknown state {state!r} (one of {', '.join(STATES)})")
        q = q.where(SmsMessage.state == state)
    if phone:
        q = q.where(SmsMessage.phone == normalize_phone(phone))
    return [{"id": m.id, "phone": m.phone, "template": m.template, "state": m.state, "attempts": m.attempts,
             "parts": m.parts, "due_ms": m.due_ms, "sent_ms": m.sent_ms, "reason": m.reason, "body": m.body} for m in q]


def stats(since_ms: int | None = None, until_ms: int | None = None) -> list[dict]:
    """Per template and local day (of queueing): sent (went out), delivered, failed, not sent
    (opted out or cancelled), waiting (queued or sending)."""
    tz = network_offset() * MINUTE_MS
    q = SmsMessage.select(SmsMessage.template, SmsMessage.created_ms, SmsMessage.state, SmsMessage.sent_ms)
    if since_ms is not None:
        q = q.where(SmsMessage.created_ms >= since_ms)
    if until_ms is not None:
        q = q.where(SmsMessage.created_ms < until_ms)
    rows: dict[tuple, dict] = {}
    for template, created, state, sent in q.tuples():
        day = time.strftime("%Y-%m-%d", time.gmtime((created + tz) // 1000))
        r = rows.setdefault((day, template), {"day": day, "template": template or "(text)", "sent": 0,
                                              "delivered": 0, "failed": 0, "not_sent": 0, "waiting": 0})
        if sent is not None:
            r["sent"] += 1
        if state == "delivered":
            r["delivered"] += 1
        elif state == "failed":
            r["failed"] += 1
        elif state in ("optout", "cancelled"):
            r["not_sent"] += 1
        elif state in ("queued", "sending"):
            r["waiting"] += 1
    return [rows[k] for k in sorted(rows)]

