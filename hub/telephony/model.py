"""The call model: a call is one or more legs, each a channel to one party, and a list of events.

A **leg** is one party's side of a call on one channel: a SIP dialog with a seat or a trunk, or
an E1 timeslot.  The legs of a call are bridged by the switch (``hub.telephony.switch``); a leg
knows only its own signalling.  Every leg moves through the same states::

    offered ──▶ ringing ──▶ answered ──▶ ended
       └───────────┴──────────────────────▲        (cause: normal, busy, no-answer, cancelled, …)

The **call** holds its legs in order (``a`` is the party that called; ``b1``, ``b2``… are the
parties the dial plan tried, in order), the times (UTC epoch ms), the disposition, and a CEL-like
list of :class:`Event` (call-start, leg-offered, leg-ringing, leg-answered, bridged, dtmf,
dialplan, fallback, leg-ended, call-end…) to which later parts (IVR path, queue, transfers) add
their own kinds.  Listeners (``Switch.listeners``) receive every event as it happens, the CDR
writer among them.

Dispositions, for the CDR (what a report counts): ``answered`` (some callee answered),
``busy``, ``no-answer``, ``failed`` (unroutable, unreachable, refused), ``abandoned`` (the caller
hung up before an answer).
"""
from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field

from contract.clock import now_ms

LEG_STATES = ("offered", "ringing", "answered", "ended")
DISPOSITIONS = ("answered", "busy", "no-answer", "failed", "abandoned")
#: leg end causes that say why a callee was not reached, -> the call's disposition
CAUSE_DISPOSITION = {"busy": "busy", "no-answer": "no-answer", "unavailable": "no-answer",
                     "cancelled": "abandoned", "abandoned": "abandoned"}


@dataclass
class Event:
    t_ms: int
    kind: str
    leg: str | None = None
    data: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"t_ms": self.t_ms, "kind": self.kind, "leg": self.leg, "data": self.data}


class Leg:
    """Base of every leg.  Subclasses implement the signalling: ``ring``, ``answer``, ``hangup``
    (and for an outgoing leg, starting it); they report back through ``_ringing``,
    ``_answered`` and ``_ended``, which keep the state and tell the call."""

    kind = "?"

    def __init__(self, call: "Call", *, trunk: str | None, seat: str | None, channel: str, peer: str,
                 direction: str) -> None:
        self.call = call
        self.name = call._next_leg_name(direction)
        self.trunk = trunk          # the trunk's name, None for a seat
        self.seat = seat            # the seat's extension, None on a trunk
        self.channel = channel      # "E1 1/5" or the SIP Call-ID of the leg's dialog
        self.peer = peer            # the number or extension on the far end
        self.direction = direction  # "in" (called us) or "out" (we called it)
        self.state = "offered"
        self.cause: str | None = None
        self.t_offer = now_ms()
        self.t_answer: int | None = None
        self.t_end: int | None = None
        self.codec: str | None = None
        self.media = None           # a media endpoint, for the bridge
        call.legs.append(self)
        call.event("leg-offered", self, type=self.kind, trunk=trunk, seat=seat, channel=channel, peer=peer,
                   direction=direction)

    # ------------------------------------------------------------ signalling (subclasses)
    def ring(self) -> None:
        """Tell the caller the callee is being alerted (incoming legs)."""

    def answer(self) -> None:
        raise NotImplementedError

    def hangup(self, cause: str = "normal") -> None:
        """End the leg from our side (BYE, CANCEL, a rejection, or clearing the timeslot)."""
        raise NotImplementedError

    # ------------------------------------------------------------ reports (signalling -> model)
    @property
    def active(self) -> bool:
        return self.state != "ended"

    def _ringing(self) -> None:
        if self.state == "offered":
            self.state = "ringing"
            self.call.event("leg-ringing", self)
            self.call.switch.on_ringing(self)

    def _answered(self) -> None:
        if self.state in ("offered", "ringing"):
            self.state = "answered"
            self.t_answer = now_ms()
            self.call.event("leg-answered", self, codec=self.codec)
            self.call.switch.on_answered(self)

    def _ended(self, cause: str = "normal") -> None:
        if self.state == "ended":
            return
        self.state = "ended"
        self.cause = cause
        self.t_end = now_ms()
        self.call.event("leg-ended", self, cause=cause)
        self.call.switch.on_ended(self)

    def to_dict(self) -> dict:
        return {"leg": self.name, "kind": self.kind, "trunk": self.trunk, "seat": self.seat,
                "channel": self.channel, "peer": self.peer, "direction": self.direction, "state": self.state,
                "cause": self.cause, "codec": self.codec, "offer_ms": self.t_offer, "answer_ms": self.t_answer,
                "end_ms": self.t_end}


class Call:
    """One call: its legs, times, disposition and events (see the module's docstring)."""

    def __init__(self, switch, *, origin: str, caller: str, callee: str, direction: str) -> None:
        self.switch = switch
        self.id = uuid.uuid4().hex[:20]
        self.origin = origin          # the trunk's name, or "seats"
        self.caller = caller
        self.callee = callee
        self.direction = direction    # inbound (trunk -> us), outbound (seat -> trunk), internal
        self.legs: list[Leg] = []
        self.events: list[Event] = []
        self.t_start = now_ms()
        self.t_answer: int | None = None
        self.t_end: int | None = None
        self.disposition: str | None = None
        self.recording: str | None = None
        self.rule: int | None = None      # the dial plan rule that routed it
        self._names = itertools.count(1)
        self.event("call-start", None, origin=origin, caller=caller, callee=callee, direction=direction)

    def _next_leg_name(self, direction: str) -> str:
        return "a" if not self.legs else f"b{next(self._names)}"

    @property
    def a(self) -> Leg:
        return self.legs[0]

    @property
    def ended(self) -> bool:
        return self.t_end is not None

    def event(self, kind: str, leg: Leg | None = None, /, **data) -> Event:
        ev = Event(now_ms(), kind, leg.name if leg is not None else None, data)
        self.events.append(ev)
        for cb in list(self.switch.listeners):
            cb(self, ev)
        return ev

    def billable_s(self) -> int:
        if self.t_answer is None or self.t_end is None:
            return 0
        return max(0, (self.t_end - self.t_answer + 500) // 1000)

    def to_dict(self) -> dict:
        return {"call_id": self.id, "origin": self.origin, "caller": self.caller, "callee": self.callee,
                "direction": self.direction, "start_ms": self.t_start, "answer_ms": self.t_answer,
                "end_ms": self.t_end, "disposition": self.disposition, "recording": self.recording,
                "legs": [leg.to_dict() for leg in self.legs]}
