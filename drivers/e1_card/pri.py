"""ISDN PRI basic call control (Q.931 over Q.921) for the user and the network side.

:class:`PriStack` runs one D channel (a :class:`.q921.Q921Link`) and the calls on the span's B
channels.  It is transport-agnostic: ``dchannel`` is any object with ``send(frame)`` and
``recv() -> list[frame]`` (frames without FCS).  :class:`SpanDChannel` carries them in HDLC on
TS16 of a span; :class:`SocketDChannel` over a socket pair, framed as DAHDI hands HDLC frames to
libpri (two trailing FCS octets).

Call states (Q.931 numbering): 0 null, 1 call initiated, 3 outgoing call proceeding, 4 call
delivered, 6 call present, 7 call received, 8 connect request, 9 incoming call proceeding,
10 active, 11 disconnect request, 12 disconnect indication, 19 release request.

Timers (ms, configurable): T303 (SETUP unanswered, 4000, one retransmission), T310 (after
CALL PROCEEDING, 10000), T313 (CONNECT unacknowledged, 4000), T305 (DISCONNECT unanswered,
30000), T308 (RELEASE unanswered, 4000, one retransmission), T301 (alerting without answer,
180000).

Channel collisions: the network side refuses a SETUP for a B channel it has taken itself
(cause 44); the user side gives its own unanswered call up to the network's SETUP (reason
``glare``).
"""
from __future__ import annotations

import socket

from . import alaw, q931
from .calls import Call
from .errors import Q931Error, SignallingError
from .frame import VOICE_TIMESLOTS
from .q921 import Q921Link
from .q931 import IE, MT, Message

CAUSE_REASON = {16: "normal", 17: "busy", 18: "no-answer", 19: "no-answer", 1: "unallocated",
                21: "rejected", 27: "out-of-order", 34: "congestion", 42: "congestion",
                44: "glare", 102: "timeout", 31: "normal"}
REASON_CAUSE = {"accept": None, "busy": 17, "congestion": 34, "unallocated": 1,
                "out-of-order": 27, "rejected": 21}
DEFAULT_TIMERS = {"T303": 4000, "T310": 10000, "T313": 4000, "T305": 30000, "T308": 4000,
                  "T301": 180000}


class SpanDChannel:
    """Q.921 frames in HDLC on TS16 of a CCS span."""

    def __init__(self, span) -> None:
        self.span = span

    def send(self, frame: bytes) -> None:
        self.span.send_dchannel(frame)

    def recv(self) -> list[bytes]:
        return self.span.read_dchannel()


class SocketDChannel:
    """Q.921 frames over a datagram socket, each followed by two FCS octets as DAHDI's HDLC
    channels deliver them (libpri's ``pri_new_cb`` expects exactly that)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        sock.setblocking(False)

    def send(self, frame: bytes) -> None:
        from .hdlc import add_fcs
        self.sock.send(add_fcs(frame))

    def recv(self) -> list[bytes]:
        out = []
        while True:
            try:
                data = self.sock.recv(1024)
            except (BlockingIOError, InterruptedError):
                break
            if len(data) > 2:
                out.append(data[:-2])
        return out


class _CallState:
    def __init__(self, call: Call, cref: int, flag: int) -> None:
        self.call = call
        self.cref = cref
        self.flag = flag  # our flag value on messages we send for this call
        self.state = 0
        self.timers: dict[str, int] = {}
        self.retried: set[str] = set()
        self.cause: int | None = None
        self.notified_end = False


class PriStack:
    """Q.931 call control on one PRI span.

    ``listener(event, call)`` receives ``offered``, ``accepted`` (ALERTING), ``answered``,
    ``cleared``, ``failed``; ``offer_policy(call)`` returns ``accept``, ``busy``,
    ``congestion``, ``unallocated``, ``out-of-order`` or ``rejected``.
    """

    def __init__(self, dchannel, network: bool, listener=None, *, span=None, offer_policy=None,
                 channels=None, hunt: str = "up", timers: dict | None = None,
                 t200: int = 1000, t203: int = 10000) -> None:
        self.dchannel = dchannel
        self.network = network
        self.span = span
        self.listeners = [listener] if listener else []
        self.trace_listeners: list = []
        self.offer_policy = offer_policy or (lambda call: "accept")
        self.channels = tuple(channels or (span.config.channels if span is not None else VOICE_TIMESLOTS))
        if hunt not in ("up", "down"):
            raise SignallingError("hunt must be 'up' or 'down'")
        self.hunt = hunt
        self.timers = dict(DEFAULT_TIMERS, **(timers or {}))
        self.link = Q921Link(network, self._send_raw, on_message=self._on_l3, on_state=self._on_link,
                             t200=t200, t203=t203)
        self.now = 0
        self._calls: dict[tuple[int, int], _CallState] = {}  # (cref, our flag) -> state
        self._busy: dict[int, _CallState] = {}  # B channel -> call
        self._next_cref = 1
        self.trace: list[dict] = []
        self.calls: list[Call] = []
        self.restarts = 0
        self.protocol_errors = 0
        if span is not None:
            span.listeners.append(self._on_span_event)

    # ------------------------------------------------------------------ plumbing
    def _send_raw(self, frame: bytes) -> None:
        self.dchannel.send(frame)

    def _trace(self, direction: str, msg: Message) -> None:
        rec = {"t": self.now, "dir": direction, "kind": "q931", "value": q931.describe(msg),
               "span": self.span.number if self.span is not None else 0,
               "ch": self._channel_of(msg)}
        self.trace.append(rec)
        if len(self.trace) > 2000:
            del self.trace[:1000]
        cs = self._calls.get((msg.cref, msg.flag if direction == "tx" else msg.flag ^ 1))
        if cs is not None:
            cs.call.trace.append(rec)
        for cb in self.trace_listeners:
            cb(rec)

    def _channel_of(self, msg: Message):
        cs = self._calls.get((msg.cref, msg.flag ^ 1)) or self._calls.get((msg.cref, msg.flag))
        return cs.call.channel if cs is not None else None

    def _notify(self, event: str, call: Call) -> None:
        for cb in self.listeners:
            cb(event, call)

    def _send(self, cs: _CallState | None, mtype: int, ies=(), cref: int | None = None, flag: int | None = None) -> None:
        msg = Message(mtype, cs.cref if cs else (cref or 0), cs.flag if cs else (flag or 0), list(ies))
        self._trace("tx", msg)
        self.link.send(msg.encode())

    def _on_link(self, up: bool) -> None:
        self.trace.append({"t": self.now, "dir": "--", "kind": "q921", "value": "link up" if up else "link down",
                           "span": self.span.number if self.span is not None else 0, "ch": None})
        if not up:
            for cs in list(self._calls.values()):
                self._finish(cs, "alarm", failed=cs.state != 10)

    def _on_span_event(self, ev) -> None:
        if ev.kind == "alarms":
            bad = bool({"LOS", "LOF", "AIS", "RAI"} & set(ev.value))
            if bad and self.link.state != "down":
                self.link._set_state("down")
                self.link._t200_at = self.link._t203_at = None
            elif not bad and self.link.state == "down":
                self.link.start(self.now)

    # ------------------------------------------------------------------ API
    def start(self, now: int | None = None) -> None:
        """Bring the D channel up (SABME)."""
        if now is not None:
            self.now = now
        if self.link.state == "down":
            self.link.start(self.now)

    @property
    def up(self) -> bool:
        return self.link.up

    def free_channel(self) -> int | None:
        order = sorted(self.channels, reverse=self.hunt == "down")
        for ch in order:
            if ch not in self._busy:
                return ch
        return None

    def dial(self, dnis: str, ani: str = "", channel: int | None = None) -> Call:
        if not self.link.up:
            raise SignallingError("the D channel is down")
        ch = channel if channel is not None else self.free_channel()
        if ch is None:
            raise SignallingError("no free B channel")
        if ch in self._busy:
            raise SignallingError(f"B channel {ch} is busy")
        ies = [(IE["BEARER"], q931.bearer_capability()), (IE["CHANNEL_ID"], q931.channel_id(ch, True))]
        if ani:
            ies.append((IE["CALLING"], q931.calling_number(ani)))
        ies.append((IE["CALLED"], q931.called_number(dnis)))
        ies.append((IE["SENDING_COMPLETE"], b""))
        cref = self._alloc_cref()
        call = Call("out", self.span.number if self.span is not None else 0, ch, dnis=dnis, ani=ani,
                    t_seize=self.now)
        cs = _CallState(call, cref, 0)
        self._calls[(cref, 0)] = cs
        self._busy[ch] = cs
        self.calls.append(call)
        cs.setup_ies = ies
        self._send(cs, MT["SETUP"], ies)
        self._enter(cs, 1, T303=self.timers["T303"])
        return call

    def answer(self, call: Call) -> None:
        cs = self._cs_of(call)
        if cs.state not in (6, 7, 9):
            raise SignallingError(f"call on channel {call.channel} cannot be answered in state {cs.state}")
        self._send(cs, MT["CONNECT"], [(IE["CHANNEL_ID"], q931.channel_id(call.channel, True))])
        self._enter(cs, 8, T313=self.timers["T313"])

    def hangup(self, call: Call, cause: int = 16) -> None:
        cs = self._cs_of(call)
        if cs.state in (0, 11, 19):
            return
        cs.cause = cause
        self._send(cs, MT["DISCONNECT"], [(IE["CAUSE"], q931.cause(cause))])
        self._enter(cs, 11, T305=self.timers["T305"])
        self._finish_notify(cs, CAUSE_REASON.get(cause, "normal"), failed=call.t_answer is None)

    def restart(self) -> None:
        """Send RESTART for the whole interface (clears every call)."""
        self._send(None, MT["RESTART"], [(IE["RESTART"], q931.restart_indicator(7))], cref=0, flag=0)
        for cs in list(self._calls.values()):
            self._finish(cs, "alarm", failed=cs.state != 10)

    def _cs_of(self, call: Call) -> _CallState:
        for cs in self._calls.values():
            if cs.call is call:
                return cs
        raise SignallingError(f"no such call (channel {call.channel})")

    def _alloc_cref(self) -> int:
        for _ in range(32767):
            c = self._next_cref
            self._next_cref = self._next_cref % 32767 + 1
            if (c, 0) not in self._calls:
                return c
        raise SignallingError("no free call reference")

    def _enter(self, cs: _CallState, state: int, **timers) -> None:
        cs.state = state
        cs.timers = {k: self.now + v for k, v in timers.items()}

    # ------------------------------------------------------------------ endings
    def _finish_notify(self, cs: _CallState, reason: str, failed: bool) -> None:
        if cs.notified_end:
            return
        cs.notified_end = True
        call = cs.call
        call.t_end = self.now
        call.reason = reason
        call.state = "failed" if failed else "cleared"
        self._notify(call.state, call)

    def _finish(self, cs: _CallState, reason: str, failed: bool) -> None:
        self._finish_notify(cs, reason, failed)
        self._calls.pop((cs.cref, cs.flag), None)
        if self._busy.get(cs.call.channel) is cs:
            del self._busy[cs.call.channel]
        cs.state = 0

    # ------------------------------------------------------------------ receive
    def _on_l3(self, data: bytes) -> None:
        try:
            msg = q931.decode(data)
        except Q931Error:
            self.protocol_errors += 1
            return
        self._trace("rx", msg)
        try:
            self._dispatch(msg)
        except Q931Error:
            self.protocol_errors += 1

    def _dispatch(self, msg: Message) -> None:
        t = msg.type
        if msg.cref == 0 and t == MT["RESTART"]:
            self.restarts += 1
            ri = msg.ie(IE["RESTART"]) or q931.restart_indicator(7)
            chans = None
            if (ri[0] & 0x07) == 0 and msg.ie(IE["CHANNEL_ID"]):
                ch, _ = q931.parse_channel_id(msg.ie(IE["CHANNEL_ID"]))
                chans = {ch}
            for cs in list(self._calls.values()):
                if chans is None or cs.call.channel in chans:
                    self._finish(cs, "alarm", failed=cs.state != 10)
            self._send(None, MT["RESTART_ACKNOWLEDGE"], msg.ies, cref=0, flag=1)
            return
        if msg.cref == 0:
            return  # RESTART ACKNOWLEDGE and other global messages: nothing to do
        # the peer's flag is the inverse of ours on the same call
        cs = self._calls.get((msg.cref, msg.flag ^ 1))
        if cs is None:
            if t == MT["SETUP"] and msg.flag == 0:
                self._incoming_setup(msg)
            elif t == MT["RELEASE_COMPLETE"]:
                pass
            elif t == MT["STATUS"]:
                pass
            else:
                self._send(None, MT["RELEASE_COMPLETE"], [(IE["CAUSE"], q931.cause(81))],
                           cref=msg.cref, flag=msg.flag ^ 1)
            return
        self._in_call(cs, msg)

    def _incoming_setup(self, msg: Message) -> None:
        chan_ie = msg.ie(IE["CHANNEL_ID"])
        want, exclusive = (q931.parse_channel_id(chan_ie) if chan_ie else (None, False))
        flag = 1
        reject = None
        if want is not None and want not in self.channels:
            reject = 82 if exclusive else None
            want = None
        if want is not None and want in self._busy:
            mine = self._busy[want]
            if not self.network and mine.call.direction == "out" and mine.state == 1:
                self._finish(mine, "glare", failed=True)  # the network's choice wins
            elif exclusive:
                reject = 44
            else:
                want = None
        ch = want if want is not None else (self.free_channel() if reject is None else None)
        if ch is None and reject is None:
            reject = 34
        if reject is not None:
            self._send(None, MT["RELEASE_COMPLETE"], [(IE["CAUSE"], q931.cause(reject))],
                       cref=msg.cref, flag=flag)
            return
        called = msg.ie(IE["CALLED"])
        calling = msg.ie(IE["CALLING"])
        call = Call("in", self.span.number if self.span is not None else 0, ch,
                    dnis=q931.parse_number(called)["digits"] if called else "",
                    ani=q931.parse_number(calling)["digits"] if calling else "", t_seize=self.now)
        cs = _CallState(call, msg.cref, flag)
        self._calls[(msg.cref, flag)] = cs
        self._busy[ch] = cs
        self.calls.append(call)
        if self.trace and self.trace[-1]["value"].startswith("SETUP"):
            call.trace.append(self.trace[-1])
        self._send(cs, MT["CALL_PROCEEDING"], [(IE["CHANNEL_ID"], q931.channel_id(ch, True))])
        self._enter(cs, 9)
        decision = self.offer_policy(call)
        if decision == "accept":
            self._send(cs, MT["ALERTING"], [(IE["PROGRESS"], q931.progress(8))])
            self._enter(cs, 7)
            call.t_accept = self.now
            call.state = "offered"
            self._notify("offered", call)
        else:
            c = REASON_CAUSE.get(decision)
            if c is None:
                raise SignallingError(f"unknown call decision {decision!r}")
            cs.cause = c
            self._send(cs, MT["DISCONNECT"], [(IE["CAUSE"], q931.cause(c))])
            self._enter(cs, 11, T305=self.timers["T305"])
            self._finish_notify(cs, decision, failed=True)

    def _in_call(self, cs: _CallState, msg: Message) -> None:
        t = msg.type
        call = cs.call
        if t == MT["CALL_PROCEEDING"] and cs.state == 1:
            self._enter(cs, 3, T310=self.timers["T310"])
        elif t == MT["ALERTING"] and cs.state in (1, 3):
            self._enter(cs, 4, T301=self.timers["T301"])
            call.t_accept = self.now
            call.state = "accepted"
            self._notify("accepted", call)
        elif t == MT["CONNECT"] and cs.state in (1, 3, 4):
            self._send(cs, MT["CONNECT_ACKNOWLEDGE"])
            self._enter(cs, 10)
            if call.t_accept is None:
                call.t_accept = self.now
            call.t_answer = self.now
            call.state = "answered"
            self._notify("answered", call)
        elif t == MT["CONNECT_ACKNOWLEDGE"] and cs.state == 8:
            self._enter(cs, 10)
            call.t_answer = self.now
            call.state = "answered"
            self._notify("answered", call)
        elif t == MT["PROGRESS"]:
            pass
        elif t == MT["DISCONNECT"]:
            c = msg.ie(IE["CAUSE"])
            value = q931.parse_cause(c)[0] if c else 31
            self._finish_notify(cs, CAUSE_REASON.get(value, "rejected"), failed=call.t_answer is None)
            self._send(cs, MT["RELEASE"])
            self._enter(cs, 19, T308=self.timers["T308"])
        elif t == MT["RELEASE"]:
            c = msg.ie(IE["CAUSE"])
            value = q931.parse_cause(c)[0] if c else 16
            self._send(cs, MT["RELEASE_COMPLETE"])
            self._finish(cs, CAUSE_REASON.get(value, "normal"), failed=call.t_answer is None)
        elif t == MT["RELEASE_COMPLETE"]:
            c = msg.ie(IE["CAUSE"])
            value = q931.parse_cause(c)[0] if c else 16
            self._finish(cs, CAUSE_REASON.get(value, "normal"), failed=call.t_answer is None)
        elif t == MT["STATUS_ENQUIRY"]:
            self._send(cs, MT["STATUS"], [(IE["CAUSE"], q931.cause(30)), (IE["CALL_STATE"], q931.call_state(cs.state))])
        elif t == MT["STATUS"]:
            st = msg.ie(IE["CALL_STATE"])
            if st is not None and (st[0] & 0x3F) == 0:
                self._finish(cs, "remote-release", failed=call.t_answer is None)
        else:
            self._send(cs, MT["STATUS"], [(IE["CAUSE"], q931.cause(101)), (IE["CALL_STATE"], q931.call_state(cs.state))])

    # ------------------------------------------------------------------ time
    def poll(self, now: int | None = None) -> None:
        """Receive D-channel frames, run timers, move B-channel audio (call every 20 ms)."""
        if now is not None:
            self.now = now
        elif self.span is not None:
            self.now = self.span.now_ms
        for frame in self.dchannel.recv():
            self.link.receive(frame, self.now)
        self.link.tick(self.now)
        for cs in list(self._calls.values()):
            for name, at in list(cs.timers.items()):
                if at <= self.now:
                    cs.timers.pop(name, None)
                    self._expire(cs, name)
        if self.span is not None:
            self._move_audio()

    def _move_audio(self) -> None:
        span = self.span
        for ch, cs in list(self._busy.items()):
            call = cs.call
            if cs.state != 10:
                continue
            data = span.read_audio(ch)
            if data:
                call.audio_in += data
                if len(call.audio_in) > 8000 * 60:
                    del call.audio_in[:8000 * 30]
            if call.audio_out:
                n = alaw.BLOCK_SAMPLES
                span.write_audio(ch, bytes(call.audio_out[:n]))
                del call.audio_out[:n]

    def _expire(self, cs: _CallState, name: str) -> None:
        if name == "T303":
            if "T303" not in cs.retried:
                cs.retried.add("T303")
                self._send(cs, MT["SETUP"], cs.setup_ies)
                cs.timers["T303"] = self.now + self.timers["T303"]
            else:
                self._send(cs, MT["RELEASE_COMPLETE"], [(IE["CAUSE"], q931.cause(102))])
                self._finish(cs, "timeout", failed=True)
        elif name in ("T310", "T301", "T313"):
            self.hangup(cs.call, 102 if name != "T301" else 19)
            cs.call.reason = "no-answer" if name == "T301" else "timeout"
        elif name == "T305":
            self._send(cs, MT["RELEASE"], [(IE["CAUSE"], q931.cause(cs.cause or 16))])
            self._enter(cs, 19, T308=self.timers["T308"])
        elif name == "T308":
            if "T308" not in cs.retried:
                cs.retried.add("T308")
                self._send(cs, MT["RELEASE"], [(IE["CAUSE"], q931.cause(cs.cause or 16))])
                cs.timers["T308"] = self.now + self.timers["T308"]
            else:
                self._finish(cs, cs.call.reason or "timeout", failed=cs.call.t_answer is None)
