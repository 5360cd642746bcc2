"""Call control: the dial plan applied to a call, the legs it opens, the bridge, the ending.

The switch owns the calls in progress.  A signalling side (SIP, E1) that receives a call makes
its ``a`` leg and hands it to :meth:`Switch.incoming`; the switch routes the dialled number
through the dial plan (``hub.telephony.config``) and asks a **line** (the SIP side for seats and
SIP trunks, the E1 side for spans) to open the next leg.  What happens when that callee is busy,
does not answer in ``ring_s`` or is not registered is the rule's ``on_busy`` / ``on_no_answer``
/ ``on_unregistered`` target, itself tried the same way; without one, the caller hears the
cause.  When a callee answers, the two legs' media are bridged and the caller is answered; when
either side hangs up, the other is hung up and the call ends: it gets its disposition and its
``call-end`` event, which the CDR writer stores.

Everything here runs on one thread (the service's event loop): lines and timers call in from it.
"""
from __future__ import annotations

import os
import time

from contract.clock import now_ms
from hub.telephony.config import HANGUP_CAUSES, PbxConfig, Rule, Target
from hub.telephony.model import CAUSE_DISPOSITION, Call, Leg

MAX_HOPS = 8


class Switch:
    def __init__(self, config: PbxConfig, scheduler) -> None:
        """``scheduler(seconds, fn)`` runs ``fn`` later and returns something with ``cancel()``."""
        self.config = config
        self.later = scheduler
        self.lines: dict[str, object] = {}     # "sip", "e1" -> line objects (``open_leg``)
        self.calls: dict[str, Call] = {}
        self.listeners: list = []              # fn(call, event)
        self._state: dict[str, dict] = {}      # call id -> routing state
        self.media = None                      # bridges two legs' media (hub.telephony.media)
        self.loop = getattr(scheduler, "__self__", None)   # the event loop, for paced playback
        #: applications by dial plan target kind (``ivr``, ``queue``: hub.callflow registers them):
        #: ``app(call, arg)`` returns the leg that answers the caller, or None when it cannot
        self.apps: dict[str, object] = {}

    # ------------------------------------------------------------------ entry
    def new_call(self, *, origin: str, caller: str, callee: str) -> Call:
        callee_is_seat = callee in self.config.seats
        if origin == "seats":
            direction = "internal" if callee_is_seat else "outbound"
        else:
            direction = "inbound"
        call = Call(self, origin=origin, caller=caller, callee=callee, direction=direction)
        self.calls[call.id] = call
        self._state[call.id] = {"hops": 0, "rule": None, "leg": None, "timer": None, "bridged": None}
        return call

    def incoming(self, call: Call) -> None:
        """Route a new call whose ``a`` leg has been made."""
        self._dial(call, call.callee)

    # ------------------------------------------------------------------ routing
    def _dial(self, call: Call, dialled: str) -> None:
        rule = self.config.route(dialled, call.origin)
        if rule is None:
            call.event("dialplan", None, number=dialled, rule=None)
            self._fail(call, "not-found")
            return
        call.rule = rule.index if call.rule is None else call.rule
        self._state[call.id]["rule"] = rule
        self._try(call, rule, rule.to, dialled[rule.strip:])

    def _try(self, call: Call, rule: Rule, target: Target, number: str) -> None:
        st = self._state.get(call.id)
        if st is None or call.ended or not call.a.active:
            return
        st["hops"] += 1
        if st["hops"] > MAX_HOPS:
            call.event("dialplan", None, error=f"more than {MAX_HOPS} targets tried: a loop in the dial plan?")
            self._fail(call, "congestion")
            return
        call.event("dialplan", None, rule=rule.index, target=str(target), number=number)
        if target.kind == "hangup":
            self._fail(call, target.arg)
            return
        if target.kind == "number":
            self._dial(call, target.arg)
            return
        if target.kind == "play":
            from hub.telephony.playback import FileLeg
            leg = FileLeg(call, target.arg, self.loop)
            st["leg"] = leg
            leg.start()
            return
        if target.kind in self.apps:
            leg = self.apps[target.kind](call, target.arg)
            if leg is None:
                self._fail(call, "congestion")
                return
            st["leg"] = leg
            return
        line_kind = "sip"
        if target.kind == "trunk":
            line_kind = self.config.trunks[target.arg].kind
        line = self.lines.get(line_kind)
        if line is None:
            call.event("dialplan", None, error=f"no {line_kind} line is running")
            self._fail(call, "congestion")
            return
        leg = line.open_leg(call, target, number)
        if leg is None:                        # e.g. the seat is not registered
            self._fallback(call, "unavailable")
            return
        st["leg"] = leg
        if target.kind == "seat" or target.kind == "trunk":
            st["timer"] = self.later(rule.ring_s, lambda: self._ring_timeout(call, leg))

    def transfer(self, call: Call, transferor: Leg, number: str, done=None) -> None:
        """Blind transfer: ``transferor`` leaves; the party it was bridged to is routed to ``number``
        through the dial plan.  ``done(status)`` hears how it went (200 answered, else the failure)."""
        st = self._state.get(call.id)
        if st is None or st["bridged"] is not transferor:
            if done:
                done(481)
            return
        call.event("transfer", transferor, to=number, type="blind")
        st["bridged"] = None
        st["transfer_done"] = done
        if transferor.media is not None:
            transferor.media.peer = None
        if call.a.media is not None:
            call.a.media.peer = None
        self._dial(call, number)

    def _ring_timeout(self, call: Call, leg: Leg) -> None:
        if leg.state in ("offered", "ringing") and not call.ended:
            call.event("timeout", leg, after_s=self._state[call.id]["rule"].ring_s)
            leg.hangup("no-answer")

    def _fallback(self, call: Call, cause: str) -> None:
        st = self._state[call.id]
        rule: Rule = st["rule"]
        nxt = {"busy": rule.on_busy, "no-answer": rule.on_no_answer,
               "unavailable": rule.on_unregistered}.get(cause)
        if nxt is not None and call.a.active:
            call.event("fallback", None, cause=cause, target=str(nxt))
            self._try(call, rule, nxt, nxt.arg if nxt.kind != "seat" else nxt.arg)
            return
        self._fail(call, cause)

    def _fail(self, call: Call, cause: str) -> None:
        if cause not in HANGUP_CAUSES and cause not in CAUSE_DISPOSITION:
            cause = "congestion"
        if self._state.get(call.id, {}).get("transfer_done"):
            self._state[call.id].pop("transfer_done")(HANGUP_CAUSES.get(cause, 503))
        self._state[call.id]["fail"] = cause
        if call.a.active:
            call.a.hangup(cause)
        self._finish(call)

    # ------------------------------------------------------------------ reports from legs
    def connect(self, call: Call, leg: Leg) -> None:
        """An application hands its caller to ``leg`` (answered, e.g. a queue's agent): the leg the
        caller was bridged to ends and the caller is bridged to ``leg``."""
        st = self._state.get(call.id)
        if st is None or not call.a.active:
            leg.hangup("normal")
            return
        old, st["bridged"], st["leg"] = st["bridged"], leg, leg
        leg.owner = None
        if old is not None and old.media is not None:
            old.media.peer = None
        if self.media is not None and call.a.media is not None and leg.media is not None:
            self.media.bridge(call, call.a, leg)
        call.event("bridged", None, legs=[call.a.name, leg.name])
        if old is not None and old.active:
            old.hangup("normal")

    def on_ringing(self, leg: Leg) -> None:
        call = leg.call
        if getattr(leg, "owner", None) is not None:      # a leg an application opened reports to it
            leg.owner.leg_changed(leg)
            return
        if leg is not call.a and call.a.state == "offered":
            call.a.ring()

    def on_answered(self, leg: Leg) -> None:
        call = leg.call
        st = self._state.get(call.id)
        if st is None or leg is call.a:
            return
        if getattr(leg, "owner", None) is not None:
            leg.owner.leg_changed(leg)
            return
        if st["timer"] is not None:
            st["timer"].cancel()
            st["timer"] = None
        if not call.a.active or st["bridged"] is not None:
            leg.hangup("normal")
            return
        st["bridged"] = leg
        if call.t_answer is None:
            call.t_answer = now_ms()
        if st.get("transfer_done"):
            st.pop("transfer_done")(200)
        call.a.codec = leg.codec
        if self.media is not None and call.a.media is not None and leg.media is not None:
            self.media.bridge(call, call.a, leg)
        call.a.answer()
        call.event("bridged", None, legs=[call.a.name, leg.name])

    def on_ended(self, leg: Leg) -> None:
        call = leg.call
        st = self._state.get(call.id)
        if st is None:
            return
        if leg is call.a:
            for other in call.legs[1:]:
                if other.active:
                    other.hangup("cancelled" if other.state != "answered" else "normal")
            if call.t_answer is None:
                st.setdefault("fail", "abandoned" if leg.cause in ("normal", "cancelled", "abandoned") else leg.cause)
            self._finish(call)
            return
        if getattr(leg, "owner", None) is not None:
            leg.owner.leg_changed(leg)
            return
        if st["timer"] is not None and st["leg"] is leg:
            st["timer"].cancel()
            st["timer"] = None
        if st["bridged"] is leg:
            if call.a.active:
                call.a.hangup("normal")
            self._finish(call)
        elif st["leg"] is leg and st["bridged"] is None and call.a.active:
            self._fallback(call, leg.cause or "failed")

    # ------------------------------------------------------------------ the end
    def _finish(self, call: Call) -> None:
        if call.ended or any(leg.active for leg in call.legs[1:]) and call.a.active:
            return
        st = self._state.pop(call.id, None) or {}
        if st.get("timer") is not None:
            st["timer"].cancel()
        for leg in call.legs:
            if leg.active:
                leg.hangup("normal")
        if self.media is not None:
            self.media.release(call)
        call.t_end = now_ms()
        if call.t_answer is not None:
            call.disposition = "answered"
        else:
            cause = st.get("fail", "failed")
            call.disposition = CAUSE_DISPOSITION.get(cause, "failed")
        self.calls.pop(call.id, None)
        call.event("call-end", None, disposition=call.disposition, billable_s=call.billable_s())

    def active(self) -> list[Call]:
        return list(self.calls.values())

    def record(self, call: Call) -> None:
        """Record ``call`` (once): a WAV under the recording folder, by day and call id."""
        if call.recording is not None or self.media is None:
            return
        day = time.strftime("%Y/%m/%d", time.gmtime(call.t_start / 1000))
        path = os.path.join(self.config.recording_dir, day, f"{call.id}.wav")
        self.media.record(call, path)
        call.event("record-start", None, path=path)
