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
from hub.telephony.errors import TelephonyError
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

    # ------------------------------------------------------------------ attended transfer
    def attended_transfer(self, held: Leg, consult: Leg, done=None) -> None:
        """Attended transfer: the party who holds two calls (its leg ``held`` in the first, where
        the other party waits, and ``consult`` in the second, where it spoke to the transfer
        target) leaves both; the two other parties are joined in one call and talk.  The call
        that goes on is the one whose caller stays (its CDR gets a ``transfer`` event and the
        joined leg); the other call ends.  ``done(status)`` is told 200 before the transferor's
        legs are hung up (the SIP side sends its NOTIFY then), or 481 when either call is not a
        plain two-party call in which that leg talks."""
        c1, c2 = held.call, consult.call
        x = self._other_party(held)
        y = self._other_party(consult)
        if x is None or y is None or c1 is c2:
            if done:
                done(481)
            raise TelephonyError("attended transfer needs two answered two-party calls, each with "
                                 "the transferor's leg in it")
        if x is c1.a or y is not c2.a:
            keep, gone, stay, move, keep_leg, gone_leg = c1, c2, x, y, held, consult
        else:
            keep, gone, stay, move, keep_leg, gone_leg = c2, c1, y, x, consult, held
        keep.event("transfer", keep_leg, type="attended", joined=f"{gone.id}/{move.name}", to=move.peer)
        gone.event("transfer", gone_leg, type="attended", joined_into=keep.id, leg=move.name)
        gone.legs.remove(move)
        for s_ in (self._state[keep.id], self._state[gone.id]):
            if s_.get("bridged") is move or s_.get("bridged") is keep_leg or s_.get("bridged") is gone_leg:
                s_["bridged"] = None
        move.call = keep
        move.name = keep._next_leg_name("out")
        keep.legs.append(move)
        if self.media is not None and move.media is not None:
            self.media.move(move.media, gone, keep)
        st = self._state[keep.id]
        st["talk"] = {stay: "party", move: "party"}
        if self.media is not None and stay.media is not None and move.media is not None:
            self.media.bridge(keep, stay, move)
        keep.event("bridged", None, legs=[stay.name, move.name])
        if done:
            done(200)
        for leg in (keep_leg, gone_leg):
            if leg.active:
                leg.hangup("normal")

    def _other_party(self, leg: Leg) -> Leg | None:
        st = self._state.get(leg.call.id)
        if st is None or "talk" in st or st.get("bridged") is None or leg.state != "answered":
            return None
        pair = (leg.call.a, st["bridged"])
        if leg not in pair:
            return None
        other = pair[1] if leg is pair[0] else pair[0]
        return other if other.active else None

    # ------------------------------------------------------------------ conference and supervision
    def conference(self, call: Call, number: str, role: str = "party", agent: Leg | None = None) -> Leg:
        """Add a party to an answered call: ``number`` is routed by the dial plan to a seat or
        a trunk and called; when it answers, the call's media moves onto a mixer
        (``hub.telephony.mixer``) and every party hears the others.  ``role`` is ``party`` or a
        supervisor's ``listen`` / ``whisper`` / ``barge`` (a whisper is heard by ``agent``,
        by default the party the caller was bridged to).  Returns the new leg."""
        from hub.telephony.mixer import ROLES
        st = self._state.get(call.id)
        if role not in ROLES:
            raise TelephonyError(f"unknown conference role {role!r} (one of {', '.join(ROLES)})")
        if st is None or call.ended or (st.get("bridged") is None and "talk" not in st):
            raise TelephonyError(f"call {call.id} is not answered: nobody to conference with")
        rule = self.config.route(number, call.origin)
        if rule is None or rule.to.kind not in ("seat", "trunk"):
            raise TelephonyError(f"{number} does not route to a seat or a trunk")
        target, dialled = rule.to, number[rule.strip:]
        kind = self.config.trunks[target.arg].kind if target.kind == "trunk" else "sip"
        line = self.lines.get(kind)
        if line is None:
            raise TelephonyError(f"no {kind} line is running")
        if agent is None:
            agent = st.get("bridged") or next((m for m in st.get("talk", {}) if m is not call.a), None)
        leg = line.open_leg(call, target, dialled)
        if leg is None:
            raise TelephonyError(f"{number} cannot be called now (not registered?)")
        call.event("conference", leg, number=number, role=role)
        st.setdefault("joining", {})[leg] = (role, agent)
        if leg.active:
            self.later(rule.ring_s, lambda: leg.state in ("offered", "ringing") and leg.hangup("no-answer"))
        return leg

    def supervise(self, call: Call, supervisor_seat: str, mode: str = "listen", agent: Leg | None = None) -> Leg:
        """A supervisor joins an answered call from ``supervisor_seat`` (called like any seat):
        ``listen`` hears both, heard by none; ``whisper`` is heard by the agent only; ``barge``
        is heard by both.  Called again for a supervisor already on the call, it changes the
        mode.  ``takeover`` (the queues' fourth mode): the supervisor becomes a party of the call
        and the agent leaves.  Returns the supervisor's leg."""
        st = self._state.get(call.id) or {}
        if mode == "takeover":
            leg = self.supervise(call, supervisor_seat, "barge", agent)
            st["takeover"] = leg
            if leg in st.get("talk", {}):
                self._take_over(call, leg)
            return leg
        for leg, role in list(st.get("talk", {}).items()) + [(k, v[0]) for k, v in st.get("joining", {}).items()]:
            if leg.seat == supervisor_seat and leg.active and role != "party":
                self.set_role(call, leg, mode, agent)
                return leg
        if supervisor_seat not in self.config.seats:
            raise TelephonyError(f"{supervisor_seat} is not a seat of this PBX")
        return self.conference(call, supervisor_seat, role=mode, agent=agent)

    def set_role(self, call: Call, leg: Leg, role: str, agent: Leg | None = None) -> None:
        """Change a conference member's role (a supervisor going from listen to whisper to barge)."""
        st = self._state.get(call.id) or {}
        if leg in st.get("joining", {}):
            st["joining"][leg] = (role, agent or st["joining"][leg][1])
            return
        talk = st.get("talk", {})
        if leg not in talk:
            raise TelephonyError(f"leg {leg.name} is not in call {call.id}'s conference")
        if agent is None:
            agent = getattr(leg, "_whisper_to", None)
        self.media.mixer(call).set_role(leg.media, role, agent.media if agent is not None else None)
        leg._whisper_to = agent
        talk[leg] = role
        if role == "party":
            call.event("role", leg, role=role)
        else:
            call.event("supervise", leg, mode=role)

    def _joined(self, call: Call, leg: Leg) -> None:
        st = self._state[call.id]
        role, agent = st["joining"].pop(leg)
        if call.t_answer is None:
            call.t_answer = now_ms()
        talk = st.get("talk")
        if talk is None:                               # two parties bridged: they become members
            talk = st["talk"] = {m: "party" for m in (call.a, st["bridged"]) if m is not None and m.active}
        mixer = self.media.mixer(call) if self.media is not None else None
        if mixer is not None:
            for m, r in talk.items():
                if m.media is not None and id(m.media) not in mixer.members:
                    mixer.add(m.media, r, getattr(m, "_whisper_to", None) and m._whisper_to.media)
        if agent is None or not agent.active:
            agent = next((m for m in talk if m is not call.a), None)
        leg._whisper_to = agent
        talk[leg] = role
        if mixer is not None and leg.media is not None:
            mixer.add(leg.media, role, agent.media if agent is not None and role == "whisper" else None)
        call.event("joined", leg, role=role, members=[m.name for m in talk])
        if role != "party":
            call.event("supervise", leg, mode=role)
        if st.get("takeover") is leg:
            self._take_over(call, leg)

    def _take_over(self, call: Call, leg: Leg) -> None:
        """The supervisor on ``leg`` takes the call: a party now, and the agent is hung up."""
        st = self._state[call.id]
        st.pop("takeover", None)
        agent = getattr(leg, "_whisper_to", None)
        self.set_role(call, leg, "party")
        call.event("supervise", leg, mode="takeover", agent=agent.name if agent is not None else None)
        if agent is not None and agent.active:
            agent.hangup("normal")

    def _member_ended(self, call: Call, leg: Leg) -> None:
        st = self._state[call.id]
        if st.get("closing"):
            return
        if st.get("joining", {}).pop(leg, None) is not None:
            call.event("conference-failed", leg, cause=leg.cause)
            return
        talk = st.get("talk", {})
        if leg in talk:
            del talk[leg]
            if self.media is not None and call.id in self.media._mixers and leg.media is not None:
                self.media.mixer(call).remove(leg.media)
        talkers = [m for m, r in talk.items() if r == "party" and m.active]    # supervisors keep no call
        if len(talkers) < 2 and not st.get("joining"):
            st["closing"] = True
            for m in call.legs:
                if m.active:
                    m.hangup("normal")
            self._finish(call)

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
        if leg in st.get("joining", {}):
            self._joined(call, leg)
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
        if "talk" in st or leg in st.get("joining", {}):
            self._member_ended(call, leg)
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
        if call.ended or any(leg.active for leg in call.legs[1:]) and call.a.active \
                and not self._state.get(call.id, {}).get("closing"):
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
