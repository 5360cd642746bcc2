"""China No.1 signalling (MFC-R2, libopenr2's "CN" variant): line and register signalling.

Line signalling (CAS, TS16): the A and B bits carry the state, C and D are fixed (China: 1, 1,
so idle is ``1011`` on the wire).  Forward = from the calling side, backward = from the called
side.

=================  ========  =========
signal             forward   backward
=================  ========  =========
idle               10        10
seize              00
seize acknowledge            11
answer                       01
clear-back                   11
clear-forward      10
blocked                      11 (while forward is idle)
=================  ========  =========

Register signalling: compelled two-out-of-six MF (:mod:`.mf`).  The forward side sends a
group I/II signal until it recognises the backward group A/B answer, then stops; the backward
side stops when it sees the forward signal stop; the forward side acts on the backward signal
when it sees it stop.  China flow for an incoming call::

    ->  I: first DNIS digit           <-  A6  send KA (category) and the caller's number
    ->  II: KA                        <-  A1  next ANI digit
    ->  I: ANI digits …               <-  A1 each
    ->  I-15 end of ANI               <-  A1  next DNIS digit
    ->  I: DNIS digits …              <-  A1 each, A3 after the last (change to group B)
    ->  II: KD                        <-  B1  subscriber free (B2 busy, B4 congestion …)
    backward answers: 01 on the line

China has no "end of DNIS" signal (I-15 is only "end of ANI"), so the called side must know how
many DNIS digits to take (``max_dnis``), as openr2 does.  Timers (ms) are per variant
(:class:`R2Variant`); every CAS change and MF signal is traced per channel.

Glare (both ends seize the same channel at once): the side created with ``glare_wins=True``
keeps its call; the other side gives its call up (reason ``glare``) and acknowledges the seizure.
If neither side wins, both give up and return to idle.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from . import alaw
from .calls import Call
from .errors import SignallingError
from .mf import MFDetector, MFSender

DIGITS = "1234567890"  # signal n (1..10) -> DNIS/ANI digit


def digit_to_signal(d: str) -> int:
    if d not in DIGITS or len(d) != 1:
        raise SignallingError(f"not an R2 digit: {d!r}")
    return DIGITS.index(d) + 1


@dataclass(frozen=True)
class R2Variant:
    """Everything a country variant changes: bits, signal meanings, timers (ms)."""

    name: str = "CN"
    cd_bits: int = 0b11
    # line signalling, A and B bits
    ab_idle: int = 0b10
    ab_seize: int = 0b00
    ab_seize_ack: int = 0b11
    ab_answer: int = 0b01
    ab_clear_back: int = 0b11
    ab_clear_forward: int = 0b10
    ab_blocked: int = 0b11
    # group A (backward, register phase)
    a_next_dnis: int = 1
    a_dnis_minus_1: int = 2
    a_change_to_b: int = 3
    a_congestion: int = 4
    a_next_ani: int = 1
    a_category: int = 6
    # group B (backward, result)
    b_accept_charge: int = 1
    b_busy: int = 2
    b_congestion: int = 4
    b_unallocated: int = 5
    b_accept_no_charge: int = 7
    b_out_of_order: int = 8
    # group I / II (forward)
    i_no_more_ani: int = 15
    i_no_more_dnis: int | None = None
    ii_category: int = 1  # national subscriber
    get_ani_first: bool = True
    request_ani: bool = True  # ask for KA and the caller's number after the first DNIS digit
    max_dnis: int = 8
    max_ani: int = 20
    # timers, ms
    t_mf_back_cycle: int = 5000
    t_mf_fwd_safety: int = 30000
    t_seize: int = 8000
    t_answer: int = 60000
    t_answer_delay: int = 150
    t_double_answer: int = 400
    t_release_guard: int = 100

    def abcd(self, ab: int) -> int:
        return (ab << 2) | self.cd_bits

    def with_timers(self, **timers) -> "R2Variant":
        """A copy with other timer values (``t_seize=…`` etc.) or DNIS length."""
        return dataclasses.replace(self, **timers)

    def b_signal(self, decision: str) -> int:
        table = {"accept": self.b_accept_charge, "accept-free": self.b_accept_no_charge,
                 "busy": self.b_busy, "congestion": self.b_congestion,
                 "unallocated": self.b_unallocated, "out-of-order": self.b_out_of_order}
        if decision not in table:
            raise SignallingError(f"unknown call decision {decision!r}: {', '.join(table)}")
        return table[decision]

    def b_meaning(self, signal: int) -> str:
        return {self.b_accept_charge: "accept", self.b_accept_no_charge: "accept-free",
                self.b_busy: "busy", self.b_congestion: "congestion",
                self.b_unallocated: "unallocated", self.b_out_of_order: "out-of-order"}.get(signal, "rejected")


VARIANTS = {
    "CN": R2Variant(),
    "ITU": R2Variant(name="ITU", cd_bits=0b01, a_next_ani=5, a_category=5, b_accept_charge=6,
                     b_busy=3, b_accept_no_charge=7, i_no_more_dnis=15),
}

LINE_NAMES_FWD = {0b10: "idle/clear-forward", 0b00: "seize"}
LINE_NAMES_BWD = {0b10: "idle", 0b11: "seize-ack/clear-back/blocked", 0b01: "answer"}


class R2Channel:
    """One channel's line and register signalling state machine.

    Driven by the stack: :meth:`on_abcd` for received CAS, :meth:`on_audio` for each received
    20 ms block, :meth:`tick` for timers and transmit audio.
    """

    def __init__(self, stack: "R2Stack", ts: int) -> None:
        self.stack = stack
        self.span = stack.span
        self.ts = ts
        self.v = stack.variant
        self.state = "idle"
        self.call: Call | None = None
        self.trace: list[dict] = []
        self._timers: dict[str, int] = {}
        self._rx_ab = self.v.ab_idle
        self._fwd_sender = MFSender(forward=True)
        self._bwd_sender = MFSender(forward=False)
        self._fwd_det = MFDetector(forward=True)
        self._bwd_det = MFDetector(forward=False)
        self._mf_sub = ""
        self._last_rx_mf: int | None = None
        self._pending_bwd: int | None = None
        self._tx_ab = None
        self._trace_call: Call | None = None  # the call the trace belongs to, until idle again
        self._set_line(self.v.ab_idle)

    # ------------------------------------------------------------------ helpers
    @property
    def now(self) -> int:
        return self.span.now_ms

    def _trace(self, direction: str, kind: str, value, meaning: str = "") -> None:
        rec = {"t": self.now, "span": self.span.number, "ch": self.ts, "dir": direction,
               "kind": kind, "value": value, "meaning": meaning, "state": self.state}
        self.trace.append(rec)
        if len(self.trace) > 2000:
            del self.trace[:1000]
        if self._trace_call is not None:
            self._trace_call.trace.append(rec)
        for cb in self.stack.trace_listeners:
            cb(rec)

    def _set_line(self, ab: int) -> None:
        if ab == self._tx_ab:
            return
        self._tx_ab = ab
        abcd = self.v.abcd(ab)
        self.span.set_tx_abcd(self.ts, abcd)
        self._trace("tx", "cas", format(abcd, "04b"), self._line_meaning(ab, tx=True))

    def _line_meaning(self, ab: int, tx: bool) -> str:
        outgoing = self.state.startswith("out") or (self.state == "idle" and tx and ab == self.v.ab_seize)
        forward = outgoing if tx else not outgoing
        names = LINE_NAMES_FWD if forward else LINE_NAMES_BWD
        return names.get(ab, "?")

    def _start(self, name: str, ms: int) -> None:
        self._timers[name] = self.now + ms

    def _stop(self, *names: str) -> None:
        for n in names or list(self._timers):
            self._timers.pop(n, None)

    def _set_state(self, state: str) -> None:
        if state in ("idle", "alarm", "blocked", "remote_blocked"):
            self._trace_call = None
        self.state = state
        self.span.channel_state[self.ts] = state

    def _tone(self, forward: bool, signal: int | None, meaning: str = "") -> None:
        sender = self._fwd_sender if forward else self._bwd_sender
        if sender.signal != signal:
            sender.set(signal)
            if signal is not None:
                self._trace("tx", "mf", signal, meaning)
            else:
                self._trace("tx", "mf", "off")

    def _tones_off(self) -> None:
        self._fwd_sender.set(None)
        self._bwd_sender.set(None)

    def _end_call(self, state: str, reason: str) -> None:
        call = self.call
        if call is None:
            return
        call.state = state
        call.reason = reason
        call.t_end = self.now
        self.call = None
        self.stack._notify("failed" if state == "failed" else "cleared", call)

    # ------------------------------------------------------------------ application requests
    def dial(self, dnis: str, ani: str = "", category: int | None = None) -> Call:
        if self.state != "idle":
            raise SignallingError(f"channel {self.ts} is {self.state}, not idle")
        if self._rx_ab != self.v.ab_idle:
            raise SignallingError(f"channel {self.ts}: far end is not idle (blocked or busy)")
        for d in dnis + ani:
            digit_to_signal(d)
        if not dnis:
            raise SignallingError("a call needs a called number (DNIS)")
        call = Call("out", self.span.number, self.ts, dnis=dnis, ani=ani,
                    category=category or self.v.ii_category, t_seize=self.now)
        self.call = call
        self._trace_call = call
        self._dnis_i = 0
        self._ani_i = 0
        self._category_sent = False
        self._fmode = "dnis"
        self._group = "A"
        self._set_state("out_seize")
        self._set_line(self.v.ab_seize)
        self._start("seize", self.v.t_seize)
        return call

    def answer(self) -> None:
        if self.state != "in_accepted":
            raise SignallingError(f"channel {self.ts}: nothing to answer ({self.state})")
        self._set_state("in_answering")
        self._start("answer_delay", self.v.t_answer_delay)

    def hangup(self) -> None:
        st = self.state
        if st.startswith("out") and st not in ("out_release",):
            self._tones_off()
            self._stop()
            if self.call is not None:
                reason = "normal" if st == "out_answered" else "caller-abandoned"
                self._end_call("cleared" if st == "out_answered" else "failed", reason)
            self._clear_forward()
        elif st in ("in_accepted", "in_answering", "in_answered"):
            self._stop()
            self._set_state("in_clear_back")
            self._set_line(self.v.ab_clear_back)
            self._end_call("cleared", "clear-back")
        elif st.startswith("in_mf"):
            raise SignallingError(f"channel {self.ts}: an incoming call in MF is refused by the B signal")
        else:
            raise SignallingError(f"channel {self.ts}: no call to hang up ({st})")

    def block(self) -> None:
        if self.state != "idle":
            raise SignallingError(f"channel {self.ts} is {self.state}: block it when idle")
        self._set_state("blocked")
        self._set_line(self.v.ab_blocked)

    def unblock(self) -> None:
        if self.state == "blocked":
            self._set_state("idle")
            self._set_line(self.v.ab_idle)

    def _clear_forward(self) -> None:
        self._set_line(self.v.ab_clear_forward)
        if self._rx_ab == self.v.ab_idle:  # the far end is idle already: released
            self._set_state("idle")
            return
        self._set_state("out_release")
        self._start("release", self.v.t_seize)

    # ------------------------------------------------------------------ line signals
    def on_abcd(self, abcd: int) -> None:
        ab = (abcd >> 2) & 0b11
        if ab == self._rx_ab:
            return
        self._rx_ab = ab
        self._trace("rx", "cas", format(abcd, "04b"), self._line_meaning(ab, tx=False))
        v = self.v
        st = self.state
        if st == "idle":
            if ab == v.ab_seize:
                self._incoming_seize()
            elif ab == v.ab_blocked:
                self._set_state("remote_blocked")
        elif st == "remote_blocked":
            if ab == v.ab_idle:
                self._set_state("idle")
            elif ab == v.ab_seize:
                self._incoming_seize()
        elif st == "out_seize":
            if ab == v.ab_seize_ack:
                self._stop("seize")
                self._set_state("out_mf")
                self._send_next_forward(self._next_dnis_signal())
            elif ab == v.ab_seize:
                self._glare()
        elif st == "out_mf":
            if ab == v.ab_answer:
                self._tones_off()
                self._stop()
                self._answered_out()
            elif ab == v.ab_idle:
                self._fail_out("remote-release")
        elif st == "out_accepted":
            if ab == v.ab_answer:
                self._stop("answer")
                self._answered_out()
            elif ab == v.ab_idle:
                self._fail_out("remote-release")
        elif st == "out_answered":
            if ab == v.ab_clear_back:
                call = self.call
                self._end_call("cleared", "clear-back")
                if call is not None:
                    self.stack._notify("clear-back", call)
                self._clear_forward()
            elif ab == v.ab_idle:
                self._end_call("cleared", "remote-release")
                self._clear_forward()
        elif st == "out_release":
            if ab == v.ab_idle:
                self._stop("release")
                self._set_state("idle")
        elif st.startswith("in_"):
            if ab == v.ab_clear_forward:
                self._clear_forward_received()

    def _incoming_seize(self) -> None:
        self.call = Call("in", self.span.number, self.ts, t_seize=self.now)
        self._trace_call = self.call
        if self.trace and self.trace[-1]["dir"] == "rx" and self.trace[-1]["kind"] == "cas":
            self.call.trace.append(self.trace[-1])  # the seizure itself
        self._expect = "dnis"
        self._ani_requested = False
        self._ani_done = False
        self._final: str | None = None
        self._set_state("in_mf")
        self._mf_sub = "wait_fwd"
        self._last_rx_mf = None
        self._set_line(self.v.ab_seize_ack)
        self._start("back_cycle", self.v.t_mf_back_cycle)

    def _glare(self) -> None:
        if self.stack.glare_wins:
            self._trace("rx", "cas", "glare", "double seizure: we keep the channel")
            return
        self._stop()
        self._end_call("failed", "glare")
        if self.stack.glare_yield_accept:
            self._set_state("idle")
            self._incoming_seize()
        else:
            self._set_state("out_release")
            self._set_line(self.v.ab_idle)
            self._start("release", self.v.t_seize)

    def _clear_forward_received(self) -> None:
        st = self.state
        self._tones_off()
        self._stop()
        if self.call is not None:
            if st == "in_answered":
                self._end_call("cleared", "normal")
            elif st in ("in_mf", "in_accepted", "in_answering"):
                self._end_call("failed", "caller-abandoned")
            else:
                self._end_call("cleared", "normal")
        self._set_state("in_release")
        self._start("release_guard", self.v.t_release_guard)

    def _answered_out(self) -> None:
        call = self.call
        self._set_state("out_answered")
        if call is not None:
            if call.t_accept is None:
                call.t_accept = self.now
            call.t_answer = self.now
            call.state = "answered"
            self.stack._notify("answered", call)

    def _fail_out(self, reason: str) -> None:
        self._tones_off()
        self._stop()
        self._end_call("failed", reason)
        self._clear_forward()

    # ------------------------------------------------------------------ register signals
    def _next_dnis_signal(self) -> int | None:
        call = self.call
        if self._dnis_i < len(call.dnis):
            d = call.dnis[self._dnis_i]
            self._dnis_i += 1
            return digit_to_signal(d)
        return self.v.i_no_more_dnis  # None in China: say nothing

    def _send_next_forward(self, signal: int | None, meaning: str = "") -> None:
        self._stop("fwd_safety")
        self._start("fwd_safety", self.v.t_mf_fwd_safety)
        if signal is None:
            self._mf_sub = "wait_bwd"  # nothing to send: wait for the far end to decide
            return
        self._tone(True, signal, meaning)
        self._mf_sub = "wait_bwd"

    def on_audio(self, block: bytes) -> None:
        st = self.state
        if st == "out_mf":
            sig = self._bwd_det.detect_alaw(block)
            self._on_backward_mf(sig)
        elif st == "in_mf":
            sig = self._fwd_det.detect_alaw(block)
            self._on_forward_mf(sig)
        elif self.call is not None and st in ("in_answered", "out_answered"):
            self.call.audio_in += block
            if len(self.call.audio_in) > 8000 * 60:
                del self.call.audio_in[:8000 * 30]

    def _on_backward_mf(self, sig: int | None) -> None:
        if sig == self._last_rx_mf:
            return
        self._last_rx_mf = sig
        if sig is not None:
            self._trace("rx", "mf", sig, self._bwd_meaning(sig))
        else:
            self._trace("rx", "mf", "off")
        if self._mf_sub == "wait_bwd" and sig is not None:
            self._pending_bwd = sig
            self._tone(True, None)
            self._mf_sub = "wait_bwd_off"
        elif self._mf_sub == "wait_bwd_off" and sig is None:
            b = self._pending_bwd
            self._pending_bwd = None
            self._act_on_backward(b)

    def _bwd_meaning(self, sig: int) -> str:
        v = self.v
        if getattr(self, "_group", "A") == "B":
            return "B" + str(sig) + " " + v.b_meaning(sig)
        names = {v.a_next_dnis: "next digit", v.a_category: "send category/ANI",
                 v.a_change_to_b: "change to group B", v.a_congestion: "congestion",
                 v.a_dnis_minus_1: "repeat previous digit"}
        return "A" + str(sig) + " " + names.get(sig, "?")

    def _act_on_backward(self, b: int) -> None:
        v = self.v
        call = self.call
        if self._group == "B":
            meaning = v.b_meaning(b)
            self._stop("fwd_safety")
            if meaning.startswith("accept"):
                call.t_accept = self.now
                call.state = "accepted"
                self._set_state("out_accepted")
                self._start("answer", v.t_answer)
                self.stack._notify("accepted", call)
            else:
                self._fail_out(meaning)
            return
        if b == v.a_category and not self._category_sent:
            self._category_sent = True
            self._fmode = "ani"
            self._send_next_forward(call.category or v.ii_category, "KA category")
        elif b == v.a_next_ani and self._fmode == "ani":
            if self._ani_i < len(call.ani):
                d = call.ani[self._ani_i]
                self._ani_i += 1
                self._send_next_forward(digit_to_signal(d), "ANI digit " + d)
            else:
                self._fmode = "dnis"
                self._send_next_forward(v.i_no_more_ani, "I-15 end of ANI")
        elif b == v.a_next_dnis:
            self._send_next_forward(self._next_dnis_signal(), "DNIS digit")
        elif b == v.a_dnis_minus_1 and self._dnis_i >= 2:
            self._dnis_i -= 2
            self._send_next_forward(self._next_dnis_signal(), "DNIS digit (repeat)")
        elif b == v.a_change_to_b:
            self._group = "B"
            self._send_next_forward(call.category or v.ii_category, "KD category")
        elif b == v.a_congestion:
            self._fail_out("congestion")
        else:
            self._fail_out("protocol-error")

    def _on_forward_mf(self, sig: int | None) -> None:
        if sig == self._last_rx_mf:
            return
        self._last_rx_mf = sig
        self._trace("rx", "mf", sig if sig is not None else "off", self._fwd_meaning(sig))
        if self._mf_sub == "wait_fwd" and sig is not None:
            resp = self._backward_response(sig)
            self._tone(False, resp[0], resp[1])
            self._mf_sub = "wait_fwd_off"
            self._start("back_cycle", self.v.t_mf_back_cycle)
        elif self._mf_sub == "wait_fwd_off" and sig is None:
            self._tone(False, None)
            if self._final is not None:
                self._stop("back_cycle")
                call = self.call
                if self._final.startswith("accept"):
                    call.t_accept = self.now
                    call.state = "offered"
                    self._set_state("in_accepted")
                    self.stack._notify("offered", call)
                    if self.call is call and self.state == "in_accepted":   # not answered or cleared meanwhile
                        call.state = "accepted"        # our B signal (subscriber free) accepted it
                        self.stack._notify("accepted", call)
                else:
                    self._set_state("in_rejected")
                    self._end_call("failed", self._final)
            else:
                self._mf_sub = "wait_fwd"
                self._start("back_cycle", self.v.t_mf_back_cycle)

    def _fwd_meaning(self, sig: int | None) -> str:
        if sig is None:
            return ""
        exp = getattr(self, "_expect", "dnis")
        if exp == "category":
            return f"II-{sig} KA category"
        if exp == "ii":
            return f"II-{sig} KD category"
        if sig == self.v.i_no_more_ani and exp == "ani":
            return "I-15 end of ANI"
        if 1 <= sig <= 10:
            return f"I-{sig} {'ANI' if exp == 'ani' else 'DNIS'} digit {DIGITS[sig - 1]}"
        return f"I-{sig}"

    def _backward_response(self, f: int) -> tuple[int, str]:
        v = self.v
        call = self.call
        exp = self._expect
        if exp == "dnis":
            if 1 <= f <= 10:
                call.dnis += DIGITS[f - 1]
            elif v.i_no_more_dnis is not None and f == v.i_no_more_dnis:
                self._expect = "ii"
                return v.a_change_to_b, "A3 change to group B"
            else:
                self._final = "congestion"
                self._expect = "ii"
                return v.a_congestion, "A4 congestion (unexpected signal)"
            if v.request_ani and v.get_ani_first and not self._ani_requested:
                self._ani_requested = True
                self._expect = "category"
                return v.a_category, "A6 send KA and caller number"
            if len(call.dnis) >= v.max_dnis:
                self._expect = "ii"
                return v.a_change_to_b, "A3 change to group B"
            return v.a_next_dnis, "A1 next DNIS digit"
        if exp == "category":
            call.category = f
            self._expect = "ani"
            return v.a_next_ani, "A1 next ANI digit"
        if exp == "ani":
            if f == v.i_no_more_ani or f == 12:
                self._ani_done = True
                self._expect = "dnis"
                if len(call.dnis) >= v.max_dnis:
                    self._expect = "ii"
                    return v.a_change_to_b, "A3 change to group B"
                return v.a_next_dnis, "A1 next DNIS digit"
            if 1 <= f <= 10 and len(call.ani) < v.max_ani:
                call.ani += DIGITS[f - 1]
            return v.a_next_ani, "A1 next ANI digit"
        # group II: the category again (KD), then our decision as a group B signal
        call.category = call.category or f
        decision = self.stack.offer_policy(call)
        self._final = decision
        sig = v.b_signal(decision)
        return sig, f"B{sig} {decision}"

    # ------------------------------------------------------------------ time
    def tick(self) -> None:
        now = self.now
        due = [n for n, t in self._timers.items() if t <= now]
        for name in due:
            self._timers.pop(name, None)
            self._expire(name)
        # transmit audio for this step
        if self._fwd_sender.signal is not None:
            self.span.write_audio(self.ts, self._fwd_sender.read())
        elif self._bwd_sender.signal is not None:
            self.span.write_audio(self.ts, self._bwd_sender.read())
        elif self.call is not None and self.call.audio_out and self.state in ("in_answered", "out_answered"):
            n = alaw.BLOCK_SAMPLES
            chunk = bytes(self.call.audio_out[:n])
            del self.call.audio_out[:n]
            self.span.write_audio(self.ts, chunk)

    def _expire(self, name: str) -> None:
        self._trace("--", "timer", name, "expired")
        st = self.state
        if name == "seize" and st == "out_seize":
            self._fail_out("seize-timeout")
        elif name == "fwd_safety" and st == "out_mf":
            self._fail_out("mf-timeout")
        elif name == "answer" and st == "out_accepted":
            self._fail_out("no-answer")
        elif name == "back_cycle" and st == "in_mf":
            self._tones_off()
            self._set_state("in_rejected")
            self._end_call("failed", "mf-timeout")
        elif name == "answer_delay" and st == "in_answering":
            self._set_state("in_answered")
            self._set_line(self.v.ab_answer)
            call = self.call
            call.t_answer = self.now
            call.state = "answered"
            self.stack._notify("answered", call)
        elif name == "release_guard" and st == "in_release":
            self._set_line(self.v.ab_idle)
            self._set_state("idle")
        elif name == "release" and st == "out_release":
            # the far end never returned to idle: take the channel out of service
            self._set_state("remote_blocked" if self._rx_ab != self.v.ab_idle else "idle")


class R2Stack:
    """China No.1 on every channel of one span.

    ``listener(event, call)`` receives ``offered``, ``accepted``, ``answered``, ``clear-back``,
    ``cleared`` and ``failed``.  ``offer_policy(call)`` decides what to answer an incoming call
    with: ``accept`` (B1), ``busy``, ``congestion``, ``unallocated``, ``out-of-order``.
    ``hunt`` is the order in which :meth:`dial` picks channels (``up`` or ``down``; give the
    two ends of a trunk opposite orders to make glare rare).  ``max_dnis``: how many called
    digits this side takes before asking for group B (China sends no end-of-DNIS signal).
    ``request_ani=False``: do not ask for KA and the caller's number (for peers such as
    libopenr2's CN forward side, which answers every A1 with the next DNIS digit).
    """

    def __init__(self, span, variant: R2Variant | str = "CN", listener=None, *, glare_wins: bool = False,
                 glare_yield_accept: bool = True, hunt: str = "up", offer_policy=None,
                 max_dnis: int | None = None, request_ani: bool | None = None) -> None:
        if isinstance(variant, str):
            if variant.upper() not in VARIANTS:
                raise SignallingError(f"unknown R2 variant {variant!r} (known: {', '.join(VARIANTS)})")
            variant = VARIANTS[variant.upper()]
        if max_dnis is not None:
            if not 1 <= max_dnis <= 30:
                raise SignallingError("max_dnis must be 1..30")
            variant = variant.with_timers(max_dnis=max_dnis)
        if request_ani is not None:
            variant = variant.with_timers(request_ani=bool(request_ani))
        if hunt not in ("up", "down"):
            raise SignallingError("hunt must be 'up' or 'down'")
        self.span = span
        self.variant = variant
        self.listeners = [listener] if listener else []
        self.trace_listeners: list = []
        self.glare_wins = glare_wins
        self.glare_yield_accept = glare_yield_accept
        self.hunt = hunt
        self.offer_policy = offer_policy or (lambda call: "accept")
        self.channels = {ts: R2Channel(self, ts) for ts in span.config.channels}
        self.alarmed = False
        span.listeners.append(self._on_span_event)
        self.calls: list[Call] = []

    def _notify(self, event: str, call: Call) -> None:
        for cb in self.listeners:
            cb(event, call)

    def _on_span_event(self, ev) -> None:
        if ev.kind == "abcd":
            ch = self.channels.get(ev.key)
            if ch is not None and not self.alarmed:
                ch.on_abcd(ev.value)
        elif ev.kind == "alarms":
            bad = bool({"LOS", "LOF", "AIS", "RAI", "MFLOF", "TS16AIS"} & set(ev.value))
            if bad and not self.alarmed:
                self.alarmed = True
                for ch in self.channels.values():
                    ch._tones_off()
                    ch._stop()
                    ch._end_call("failed", "alarm")
                    ch._set_state("alarm")
            elif not bad and self.alarmed:
                self.alarmed = False
                for ts, ch in self.channels.items():
                    ch._set_state("idle")
                    ch._set_line(ch.v.ab_idle)
                    ch._rx_ab = -1
                    ch.on_abcd(self.span.rx_abcd(ts))

    def poll(self, now_ms: int | None = None) -> None:
        """Run one 20 ms step of every channel (call after each span step)."""
        span = self.span
        for ts, ch in self.channels.items():
            data = span.read_audio(ts)
            if data and (ch.state in ("out_mf", "in_mf") or ch.call is not None):
                for i in range(0, len(data) - alaw.BLOCK_SAMPLES + 1, alaw.BLOCK_SAMPLES):
                    ch.on_audio(data[i:i + alaw.BLOCK_SAMPLES])
            ch.tick()

    def free_channel(self) -> R2Channel | None:
        order = sorted(self.channels) if self.hunt == "up" else sorted(self.channels, reverse=True)
        for ts in order:
            ch = self.channels[ts]
            if ch.state == "idle" and ch._rx_ab == ch.v.ab_idle:
                return ch
        return None

    def dial(self, dnis: str, ani: str = "", channel: int | None = None, category: int | None = None) -> Call:
        """Place a call; raises :class:`SignallingError` when no channel is free."""
        if self.alarmed:
            raise SignallingError(f"span {self.span.number} is in alarm")
        ch = self.channels.get(channel) if channel is not None else self.free_channel()
        if ch is None:
            raise SignallingError(f"span {self.span.number}: no free channel" if channel is None
                                  else f"span {self.span.number} has no channel {channel}")
        call = ch.dial(dnis, ani, category)
        self.calls.append(call)
        return call

    def channel_of(self, call: Call) -> R2Channel:
        return self.channels[call.channel]
