"""The campaigns in the hub store: lists, records, DNC lists, survey answers and reports.

``dnc_lookup(campaign)`` is what the dialer asks for every number: the internal list, the
campaign's own, and the SMS opt-outs (``hub.sms``: a customer who opted out of messages is not
called either); opt-outs pressed in an IVR or agentless survey go to the internal list with the
reason ``ivr-optout``.  ``sink(campaign)`` stores the dialer's records as they come; a survey
score at or below the campaign's ``low_score`` calls ``low_score_hook``, which opens a work order
when the work-order package is installed (``hub.crm.workorders.open_work_order``) and logs the
answer otherwise.  ``pacer_history(campaign, since_ms)`` reads the campaign's attempts back for
the dialer that starts, which restores its pacer's rolling window from them.
"""
from __future__ import annotations

import json
import logging

from contract.clock import now_ms
from contract.phone import PhoneError, e164
from hub.outbound.contacts import Contact
from hub.outbound.errors import OutboundError
from hub.outbound.tables import CampaignAttempt, CampaignContact, CampaignRefusal, DoNotCall, SurveyAnswer
from hub.sms.tables import SmsOptOut
from hub.store.db import database

log = logging.getLogger("scanhub.outbound")


def import_contacts(campaign: str, contacts: list[Contact]) -> int:
    """Add ``contacts`` to the campaign's list; numbers already on it are kept once. The count added."""
    have = {r.number for r in CampaignContact.select(CampaignContact.number).where(CampaignContact.campaign == campaign)}
    new = [c for c in contacts if c.number not in have]
    with database.atomic():
        for c in new:
            CampaignContact.create(campaign=campaign, number=c.number, name=c.name, customer=c.customer, tz=c.tz,
                                   fields_json=json.dumps(c.fields, ensure_ascii=False, default=str))
    return len(new)


def contacts_of(campaign: str) -> list[Contact]:
    return [Contact(r.number, r.name, r.customer, r.tz, json.loads(r.fields_json), r.attempts, r.last_ms,
                    max(0, r.next_ms), r.done, r.outcome)
            for r in CampaignContact.select().where(CampaignContact.campaign == campaign).order_by(CampaignContact.id)]


def save_contacts(campaign: str, contacts) -> None:
    with database.atomic():
        for c in contacts:
            CampaignContact.update(attempts=c.attempts, last_ms=c.last_ms, next_ms=max(0, c.next_ms), done=c.done,
                                   outcome=c.outcome).where((CampaignContact.campaign == campaign)
                                                            & (CampaignContact.number == c.number)).execute()


def add_dnc(phone: str, list_: str = "internal", reason: str = "") -> str:
    try:
        number = e164(phone)
    except PhoneError as e:
        raise OutboundError(str(e)) from None
    _put_dnc(number, list_, reason, now_ms())
    return number


def _put_dnc(number: str, list_: str, reason: str, at_ms: int) -> None:
    DoNotCall.insert(phone=number, list=list_, reason=reason, at_ms=at_ms).on_conflict(
        conflict_target=[DoNotCall.phone, DoNotCall.list],
        update={DoNotCall.reason: reason, DoNotCall.at_ms: at_ms}).execute()


def remove_dnc(phone: str, list_: str = "internal") -> int:
    return DoNotCall.delete().where((DoNotCall.phone == e164(phone)) & (DoNotCall.list == list_)).execute()


def dnc_rows() -> list[dict]:
    rows = [{"phone": r.phone, "list": r.list, "reason": r.reason, "at_ms": r.at_ms} for r in DoNotCall.select()]
    rows += [{"phone": r.phone, "list": "sms-optout", "reason": r.reason, "at_ms": r.at_ms} for r in SmsOptOut.select()]
    return sorted(rows, key=lambda r: (r["phone"], r["list"]))


def dnc_lookup(campaign: str):
    """number -> the DNC list it is on (``internal``, ``campaign``, ``ivr-optout``, ``sms-optout``) or None."""
    lists = {}
    for r in DoNotCall.select().where(DoNotCall.list.in_(["internal", campaign])):
        lists.setdefault(r.phone, "ivr-optout" if r.reason == "ivr-optout" else
                         ("internal" if r.list == "internal" else "campaign"))
    for r in SmsOptOut.select(SmsOptOut.phone):
        lists.setdefault(r.phone, "sms-optout")
    return lists.get


def low_score_hook(campaign: str, row: dict, question: str, score: int) -> None:
    """A low survey score: open a work order for the customer when the work orders exist, else log."""
    try:
        from hub.crm.workorders.orders import open_work_order  # the work-order package
    except ImportError:
        log.warning("campaign %s: %s scored %s on %s (call %s); no work-order package to open one",
                    campaign, row["number"], score, question, row["call"])
        return
    open_work_order("inquiry", phone=row["number"], customer_id=row.get("customer") or "",
                    content=f"campaign {campaign}: low survey score {score} on {question} (call {row['call']})",
                    call_id=str(row.get("call") or ""), source="campaign",
                    source_key=f"campaign:{campaign}:{row['call']}:{question}")

def sink(campaign, hook=low_score_hook):
    """A ``log`` for the dialer that stores its records (``campaign``: the checked campaign)."""
    def write(batch: list[dict]) -> None:
        with database.atomic():
            for r in batch:
                if r["kind"] == "refusal":
                    CampaignRefusal.create(campaign=campaign.name, number=r["number"], reason=r["reason"],
                                           at_ms=r["at_ms"])
                elif r["kind"] == "dnc":
                    _put_dnc(r["number"], "internal", r["reason"], r["at_ms"])
                elif r["kind"] == "attempt":
                    CampaignAttempt.create(campaign=campaign.name, call=r["call"], number=r["number"],
                                           customer=r.get("customer") or "", attempt=r["attempt"], agent=r["agent"],
                                           outcome=r["outcome"], mode=r["mode"], reason=r.get("reason") or "",
                                           placed_ms=r["placed_ms"], answered_ms=r["answered_ms"],
                                           connected_ms=r["connected_ms"], ended_ms=r["ended_ms"])
                    for q, a in (r.get("answers") or {}).items():
                        SurveyAnswer.create(campaign=campaign.name, call=r["call"], number=r["number"],
                                            customer=r.get("customer") or "", question=q, answer=str(a),
                                            at_ms=r["ended_ms"])
                        if isinstance(a, int) and a <= campaign.low_score:
                            hook(campaign.name, r, q, a)
    return write


def pacer_history(campaign: str, since_ms: int) -> list[dict]:
    """The campaign's attempts placed since ``since_ms``, oldest first, as the dialer logged them
    (``Dialer(..., history=...)``: ``hub.outbound.engine.past_calls`` reads them)."""
    A = CampaignAttempt
    q = A.select().where((A.campaign == campaign) & (A.placed_ms >= since_ms)).order_by(A.placed_ms, A.id)
    return [{"kind": "attempt", "call": r.call, "number": r.number, "outcome": r.outcome, "reason": r.reason,
             "mode": r.mode, "agent": r.agent, "placed_ms": r.placed_ms, "answered_ms": r.answered_ms,
             "connected_ms": r.connected_ms, "ended_ms": r.ended_ms} for r in q]


def outcomes(campaign: str) -> list[dict]:
    rows: dict[str, dict] = {}
    for r in CampaignAttempt.select().where(CampaignAttempt.campaign == campaign):
        row = rows.setdefault(r.outcome, {"outcome": r.outcome, "calls": 0, "talk_s": 0})
        row["calls"] += 1
        if r.connected_ms:
            row["talk_s"] += (r.ended_ms - r.connected_ms) // 1000
    return sorted(rows.values(), key=lambda r: -r["calls"])


def refusals(campaign: str) -> list[dict]:
    rows: dict[str, int] = {}
    for r in CampaignRefusal.select().where(CampaignRefusal.campaign == campaign):
        rows[r.reason] = rows.get(r.reason, 0) + 1
    return [{"reason": k, "refusals": v} for k, v in sorted(rows.items())]


def survey(campaign: str) -> list[dict]:
    """Per question and answer: how many calls gave it."""
    rows: dict[tuple[str, str], int] = {}
    for r in SurveyAnswer.select().where(SurveyAnswer.campaign == campaign):
        rows[(r.question, r.answer)] = rows.get((r.question, r.answer), 0) + 1
    return [{"question": q, "answer": a, "calls": n} for (q, a), n in sorted(rows.items())]
