"""The E1 side: spans from the PBX file as legs of calls, and their audio bridged to RTP.

Each E1 trunk of the PBX file becomes an :class:`E1Span`: the span (backend ``sim``: the
virtual span pair of ``drivers.e1_card.virtual``, whose far end is a simulated carrier switch
that tests and demos place calls from; backend ``dahdi``: a card) and our signalling stack on
it (China No.1 / MFC-R2, or PRI as the user side).  :class:`E1Line` steps every span each 20 ms
on the service's event loop, turns the stack's calls into :class:`E1Leg` legs and opens outgoing
ones when the dial plan names an E1 trunk.

Media: an E1 channel carries A-law, so a SIP leg bridged to it uses PCMA and the audio crosses
without transcoding (a PCMU peer is converted sample by sample).  RTP from the SIP side goes
through a :class:`JitterBuffer` (packets placed by timestamp, played out 20 ms at a time after
40 ms of depth; a lost packet is silence) into the timeslot; audio from the timeslot is sent as
20 ms RTP packets.  Keys pressed on the E1 side are heard in-band by the driver's DTMF detector
and reported as ``dtmf`` events of the call.
"""
from __future__ import annotations

import logging
import random
import time

from drivers.e1_card import alaw
from drivers.e1_card.dtmf import DTMFReceiver
from drivers.e1_card.errors import E1Error
from drivers.e1_card.pri import PriStack, SpanDChannel
from drivers.e1_card.r2 import R2Stack
from drivers.e1_card.span import SpanConfig, backend_class
from drivers.e1_card.trunks import trunk_from_dict
from drivers.e1_card.virtual import STEP_MS, VirtualSpanPair
from hub.telephony import rtp
from hub.telephony.config import E1Trunk, Target
from hub.telephony.errors import TelephonyError
from hub.telephony.model import Leg

log = logging.getLogger("scanhub.telephony.e1")
#: an E1 call's end reason -> the leg's cause (what the dial plan's fallbacks see)
REASON_CAUSE = {"normal": "normal", "clear-back": "normal", "busy": "busy", "no-answer": "no-answer",
                "caller-abandoned": "cancelled", "congestion": "failed", "unallocated": "failed",
                "rejected": "failed", "alarm": "failed", "remote-release": "normal"}
#: our cause -> Q.931 cause value for PRI
CAUSE_Q931 = {"normal": 16, "busy": 17, "no-answer": 19, "unavailable": 20, "rejected": 21, "congestion": 34,
              "not-found": 1, "cancelled": 16, "failed": 41}


class E1Span:
    """One E1 trunk: its span, our stack, and (backend ``sim``) the carrier at the far end."""

    def __init__(self, trunk: E1Trunk) -> None:
        self.name = trunk.name
        t = trunk_from_dict(dict(trunk.settings))
        self.protocol = t.config.protocol
        self.carrier = None
        self.pair = None
        if trunk.backend == "sim":
            if self.protocol == "r2-cn":
                far = SpanConfig(span=t.config.span + 100, name="carrier")
            else:
                far = SpanConfig(span=t.config.span + 100, name="carrier", signalling="ccs",
                                 protocol="pri-net" if self.protocol == "pri-cpe" else "pri-cpe")
            self.pair = VirtualSpanPair(far, t.config)
            self.span = self.pair.b
            self.carrier = self._stack(self.pair.a, far.protocol, hunt="up", carrier=True, max_dnis=t.max_dnis)
        else:
            try:
                self.span = backend_class(trunk.backend)(t.config)
            except E1Error as e:
                raise TelephonyError(f"E1 trunk {trunk.name}: {e}") from None
        self.stack = self._stack(self.span, self.protocol, hunt="down", carrier=False, max_dnis=t.max_dnis)
        if self.pair is not None:
            self.pair.tick_hooks += [self.carrier.poll, self.stack.poll]
            self.pair.run(60)                     # frame and multiframe alignment
            if self.protocol != "r2-cn":
                self.carrier.start()
                self.stack.start()
                self.pair.run_until(lambda: self.carrier.up and self.stack.up, 5000)

    @staticmethod
    def _stack(span, protocol: str, *, hunt: str, carrier: bool, max_dnis: int):
        if protocol == "r2-cn":
            return R2Stack(span, "CN", hunt=hunt, glare_wins=carrier, max_dnis=max_dnis)
        return PriStack(SpanDChannel(span), protocol == "pri-net", span=span, hunt=hunt)

    @property
    def is_r2(self) -> bool:
        return self.protocol == "r2-cn"

    def step(self) -> None:
        if self.pair is not None:
            self.pair.step()
        else:
            self.stack.poll()

    def status(self) -> dict:
        st = self.span.status()
        if self.is_r2:
            channels = {ts: ch.state for ts, ch in self.stack.channels.items()}
        else:
            channels = {ts: ("busy" if ts in self.stack._busy else "idle") for ts in self.stack.channels}
            if not self.stack.up:
                channels = {ts: "out-of-service" for ts in channels}
        blocked = sorted(ts for ts, s in channels.items() if s in ("blocked", "remote_blocked", "alarm",
                                                                    "out-of-service"))
        busy = sorted(ts for ts, s in channels.items() if s not in ("idle", "blocked", "remote_blocked", "alarm",
                                                                     "out-of-service"))
        return {"trunk": self.name, "span": self.span.number, "protocol": self.protocol, "colour": st.colour,
                "alarms": ",".join(st.alarms), "busy": len(busy), "idle": len(channels) - len(busy) - len(blocked),
                "blocked": ",".join(map(str, blocked))}


class JitterBuffer:
    """RTP payloads (one byte per sample) placed by timestamp, read out ``frame`` samples at a time."""

    def __init__(self, depth: int = 320, frame: int = alaw.BLOCK_SAMPLES, fill: int = alaw.SILENCE) -> None:
        self.depth, self.frame, self.fill = depth, frame, fill
        self._buf = bytearray()
        self._base_ts: int | None = None      # timestamp of _buf[0]
        self._started = False
        self.late = 0
        self.underruns = 0

    def put(self, ts: int, payload: bytes) -> None:
        if self._base_ts is None:
            self._base_ts = ts
        off = (ts - self._base_ts) & 0xFFFFFFFF
        if off >= 2 ** 31:
            self.late += 1                    # older than what was played already
            return
        if off > 8000 * 2:                    # a jump (new stream, long pause): start again there
            self._buf.clear()
            self._base_ts, off, self._started = ts, 0, False
        end = off + len(payload)
        if len(self._buf) < end:
            self._buf += bytes([self.fill]) * (end - len(self._buf))
        self._buf[off:end] = payload

    def get(self) -> bytes | None:
        """The next frame, or None before the buffer has filled to its depth (or after it ran dry)."""
        if not self._started:
            if len(self._buf) < self.depth:
                return None
            self._started = True
        if not self._buf:
            self.underruns += 1
            self._started = False
            return None
        out = bytes(self._buf[:self.frame]).ljust(self.frame, bytes([self.fill]))
        del self._buf[:self.frame]
        self._base_ts = (self._base_ts + self.frame) & 0xFFFFFFFF
        return out


_ALAW_OF_ULAW = bytes(alaw.encode([rtp.ULAW_DECODE[c] for c in range(256)]))


class E1Endpoint:
    """The media side of an E1 leg, bridged to an RTP endpoint (``peer``)."""

    def __init__(self, leg: "E1Leg") -> None:
        self.leg = leg
        self.peer = None
        self.codec, self.codec_pt, self.te_pt = "PCMA", 8, None
        self.on_packet = None
        self.jitter = JitterBuffer()
        self.dtmf = DTMFReceiver()
        self._seq = random.randrange(65536)
        self._ts = random.randrange(2 ** 32)
        self._ssrc = random.randrange(2 ** 32)
        self._pending = bytearray()
        self.stats = {"packets_in": 0, "packets_out": 0}

    def deliver(self, data: bytes, pkt: rtp.Packet) -> None:
        """An RTP packet from the bridged SIP leg."""
        if pkt.pt != self.peer.codec_pt:
            return                                   # telephone-event and anything else
        payload = pkt.payload if self.peer.codec == "PCMA" else pkt.payload.translate(_ALAW_OF_ULAW)
        self.jitter.put(pkt.ts, payload)
        self.stats["packets_in"] += 1

    def tick(self) -> None:
        call = self.leg.e1call
        if call is None:
            return
        frame = self.jitter.get()
        if frame is not None:
            call.play(frame)
        if not call.audio_in:
            return
        data = bytes(call.audio_in)
        call.audio_in.clear()
        self._pending += data
        whole = len(self._pending) - len(self._pending) % alaw.BLOCK_SAMPLES
        for key in self.dtmf.feed(bytes(self._pending[:whole])):   # whole blocks: the detector drops a tail
            self.leg.call.event("dtmf", self.leg, key=key, via="inband")
        while len(self._pending) >= alaw.BLOCK_SAMPLES:
            chunk = bytes(self._pending[:alaw.BLOCK_SAMPLES])
            del self._pending[:alaw.BLOCK_SAMPLES]
            peer = self.peer
            pt = peer.codec_pt if peer is not None and peer.codec_pt is not None else 8
            payload = chunk if peer is None or peer.codec == "PCMA" else rtp.alaw_to_ulaw(chunk)
            pkt = rtp.Packet(pt, self._seq, self._ts, self._ssrc, False, payload)
            if self.on_packet is not None:
                self.on_packet(self, rtp.Packet(8, self._seq, self._ts, self._ssrc, False, chunk))
            if peer is not None:
                peer.send(rtp.build(pt, self._seq, self._ts, self._ssrc, payload))
                self.stats["packets_out"] += 1
            self._seq = (self._seq + 1) & 0xFFFF
            self._ts = (self._ts + alaw.BLOCK_SAMPLES) & 0xFFFFFFFF

    def close(self) -> None:
        self.peer = None


class E1Leg(Leg):
    kind = "e1"

    def __init__(self, line: "E1Line", call, span: E1Span, e1call, direction: str, peer: str) -> None:
        self.line = line
        self.span = span
        self.e1call = e1call
        super().__init__(call, trunk=span.name, seat=None, channel=f"E1 {span.span.number}/{e1call.channel}",
                         peer=peer, direction=direction)
        self.codec = "PCMA"
        self.media = E1Endpoint(self)
        line.legs[id(e1call)] = self

    def answer(self) -> None:
        if self.direction != "in" or self.state == "ended":
            return
        try:
            if self.span.is_r2:
                self.span.stack.channels[self.e1call.channel].answer()
            else:
                self.span.stack.answer(self.e1call)
        except E1Error as e:
            self.call.event("error", self, error=str(e))

    def hangup(self, cause: str = "normal") -> None:
        if self.state == "ended":
            return
        self._ended(cause)
        try:
            if self.span.is_r2:
                self.span.stack.channels[self.e1call.channel].hangup()
            else:
                self.span.stack.hangup(self.e1call, CAUSE_Q931.get(cause, 16))
        except E1Error:
            pass                                     # already released by the far end


class E1Line:
    def __init__(self, config, switch, loop, media) -> None:
        self.config = config
        self.switch = switch
        self.loop = loop
        self.media = media
        self.spans: dict[str, E1Span] = {}
        self.legs: dict[int, E1Leg] = {}
        self._t0 = None
        self._steps = 0
        self._timer = None
        for t in config.trunks.values():
            if isinstance(t, E1Trunk):
                span = E1Span(t)
                span.stack.listeners.append(lambda ev, c, span=span: self._on_e1(span, ev, c))
                span.stack.offer_policy = lambda c, span=span: (
                    "accept" if self.config.route(c.dnis, span.name) is not None else "unallocated")
                self.spans[t.name] = span
        switch.listeners.append(self._forget)

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._tick()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _tick(self) -> None:
        due = int((time.monotonic() - self._t0) * 1000 // STEP_MS)
        for _ in range(min(10, max(1, due - self._steps))):     # catch up after a stall, a little
            self._steps += 1
            for span in self.spans.values():
                try:
                    span.step()
                except Exception:
                    log.exception("E1 span %s", span.name)
            for leg in list(self.legs.values()):
                if leg.state == "answered":
                    leg.media.tick()
        self._steps = max(self._steps, due - 10)
        nxt = self._t0 + (self._steps + 1) * STEP_MS / 1000
        self._timer = self.loop.call_later(max(0.0, nxt - time.monotonic()), self._tick)

    def _forget(self, call, event) -> None:
        if event.kind == "call-end":
            for leg in call.legs:
                if isinstance(leg, E1Leg):
                    self.legs.pop(id(leg.e1call), None)

    # ------------------------------------------------------------------ the stacks' calls
    def _on_e1(self, span: E1Span, event: str, e1call) -> None:
        leg = self.legs.get(id(e1call))
        if event == "offered" and leg is None and e1call.direction == "in":
            call = self.switch.new_call(origin=span.name, caller=e1call.ani, callee=e1call.dnis)
            leg = E1Leg(self, call, span, e1call, "in", e1call.ani)
            if self.config.records(trunk=span.name):
                self.switch.record(call)
            self.switch.incoming(call)
            return
        if leg is None:
            return
        if event == "accepted" and leg.direction == "out":
            leg._ringing()
        elif event == "answered":
            leg._answered()
        elif event in ("cleared", "failed", "clear-back"):
            leg._ended(REASON_CAUSE.get(e1call.reason or "normal", "failed"))

    def open_leg(self, call, target: Target, number: str) -> E1Leg | None:
        span = self.spans.get(target.arg)
        if span is None:
            return None
        ani = "".join(ch for ch in (call.caller or "") if ch.isdigit())[:20]
        try:
            e1call = span.stack.dial(number, ani)
        except E1Error as e:
            call.event("error", None, trunk=span.name, error=str(e))
            return None
        return E1Leg(self, call, span, e1call, "out", number)

    def status(self) -> list[dict]:
        return [s.status() for s in self.spans.values()]
