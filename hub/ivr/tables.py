"""The IVR's tables: voicemail left by callers (the audio is a file beside the store)."""
from __future__ import annotations

import peewee as pw

from hub.store.db import Base


class Voicemail(Base):
    """One message: who left it, where in the flow, when, and its WAV file."""
    id = pw.AutoField()
    box = pw.CharField(max_length=64, index=True)            # the flow's voicemail node box (complaints, …)
    caller = pw.CharField(max_length=40, index=True)
    callee = pw.CharField(max_length=40, default="")
    menu_path = pw.TextField(default="")                    # the nodes walked, " > " between them
    call_ms = pw.BigIntegerField(null=True)                 # when the call started (UTC ms)
    recorded_ms = pw.BigIntegerField(index=True)            # when the message ended
    duration_ms = pw.IntegerField()
    file = pw.CharField(max_length=300)                     # relative to the voicemail directory
    sha256 = pw.CharField(max_length=64)
    size = pw.IntegerField()
    state = pw.CharField(max_length=16, default="new")      # new | heard | exported

    class Meta:
        table_name = "ivr_voicemail"


TABLES = (Voicemail,)
