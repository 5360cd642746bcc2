"""The outbound tables: campaigns' lists, every attempt and refusal, the DNC lists, survey answers."""
from __future__ import annotations

import peewee as pw

from hub.store.db import Base


class CampaignContact(Base):
    """A number on a campaign's list and where the dialer is with it."""
    id = pw.AutoField()
    campaign = pw.CharField(max_length=64, index=True)
    number = pw.CharField(max_length=24)
    name = pw.CharField(max_length=200, default="")
    customer = pw.CharField(max_length=64, default="")
    tz = pw.CharField(max_length=64, default="")
    fields_json = pw.TextField(default="{}")
    attempts = pw.IntegerField(default=0)
    last_ms = pw.BigIntegerField(null=True)
    next_ms = pw.BigIntegerField(default=0)
    done = pw.BooleanField(default=False)
    outcome = pw.CharField(max_length=48, default="")

    class Meta:
        table_name = "outbound_contact"
        indexes = ((("campaign", "number"), True),)


class CampaignAttempt(Base):
    """One call placed, with its outcome (a dialer outcome or the agent's disposition)."""
    id = pw.AutoField()
    campaign = pw.CharField(max_length=64, index=True)
    call = pw.CharField(max_length=64, index=True)
    number = pw.CharField(max_length=24, index=True)
    customer = pw.CharField(max_length=64, default="")
    attempt = pw.IntegerField()
    agent = pw.CharField(max_length=64, null=True)
    outcome = pw.CharField(max_length=48)
    mode = pw.CharField(max_length=16)
    reason = pw.TextField(default="")
    placed_ms = pw.BigIntegerField(index=True)
    answered_ms = pw.BigIntegerField(null=True)
    connected_ms = pw.BigIntegerField(null=True)
    ended_ms = pw.BigIntegerField()

    class Meta:
        table_name = "outbound_attempt"


class CampaignRefusal(Base):
    """A number the dialer would have called and did not, with the rule that said no."""
    id = pw.AutoField()
    campaign = pw.CharField(max_length=64, index=True)
    number = pw.CharField(max_length=24)
    reason = pw.CharField(max_length=48)
    at_ms = pw.BigIntegerField()

    class Meta:
        table_name = "outbound_refusal"


class DoNotCall(Base):
    """A number not to be called: ``list`` is ``internal`` (every campaign) or a campaign's name."""
    phone = pw.CharField(max_length=24)
    list = pw.CharField(max_length=64)
    reason = pw.CharField(max_length=200, default="")
    at_ms = pw.BigIntegerField()

    class Meta:
        table_name = "outbound_dnc"
        primary_key = pw.CompositeKey("phone", "list")


class SurveyAnswer(Base):
    id = pw.AutoField()
    campaign = pw.CharField(max_length=64, index=True)
    call = pw.CharField(max_length=64, index=True)
    number = pw.CharField(max_length=24)
    customer = pw.CharField(max_length=64, default="")
    question = pw.CharField(max_length=64)
    answer = pw.CharField(max_length=16)
    at_ms = pw.BigIntegerField()

    class Meta:
        table_name = "outbound_survey_answer"


TABLES = (CampaignContact, CampaignAttempt, CampaignRefusal, DoNotCall, SurveyAnswer)
