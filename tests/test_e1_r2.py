"""China No.1 (MFC-R2, CN variant) calls end to end over the simulated span pair."""
from __future__ import annotations

import pytest

from drivers.e1_card import alaw
from drivers.e1_card.dtmf import DTMFReceiver, dtmf_samples
from drivers.e1_card.errors import SignallingError
from drivers.e1_card.r2 import VARIANTS, R2Stack
from drivers.e1_card.span import SpanConfig
from drivers.e1_card.virtual import VirtualSpanPair

CN = VARIANTS["CN"]


class Rig:
    """Carrier switch (span a) and hub (span b) back to back, each running China No.1."""

    def __init__(self, variant=CN, *, a_kw=None, b_kw=None, poll_b=True):
        self.pair = VirtualSpanPair()
        self.events: list[tuple] = []
        self.a = R2Stack(self.pair.a, variant, lambda e, c: self.events.append(("a", e, c)),
                         hunt="up", **(a_kw or {}))
        self.b = R2Stack(self.pair.b, variant, lambda e, c: self.events.append(("b", e, c)),
                         hunt="down", **(b_kw or {}))
        self.pair.tick_hooks.append(self.a.poll)
        if poll_b:
            self.pair.tick_hooks.append(self.b.poll)
        self.pair.run(60)  # frame and multiframe alignment

    def until(self, pred, ms=15000):
        assert self.pair.run_until(pred, ms), "condition not reached in simulated time"

    def got(self, side, event):
        return [c for s, e, c in self.events if s == side and e == event]

    def idle(self):
        return all(ch.state == "idle" for ch in self.a.channels.values()) and \
            all(ch.state == "idle" for ch in self.b.channels.values())


def _offered_call(rig, side="b"):
    rig.until(lambda: rig.got(side, "offered"))
    return rig.got(side, "offered")[-1]


def test_incoming_call_offered_answered_with_audio_and_cleared():
    rig = Rig()
    out = rig.a.dial("80012345", "13912345678")
    inc = _offered_call(rig)
    assert (inc.dnis, inc.ani, inc.category, inc.channel) == ("80012345", "13912345678", 1, out.channel)
    rig.until(lambda: out.state == "accepted")
    rig.b.channel_of(inc).answer()
    rig.until(lambda: out.state == "answered")
    assert inc.state == "answered" and out.t_answer - inc.t_answer < 100
    # audio: the caller keys digits, the hub hears them
    silence = bytes([alaw.SILENCE]) * 160
    for k in "2580":
        out.play(alaw.encode(dtmf_samples(k)) * 3 + silence * 2)
    rig.pair.run(600)
    assert DTMFReceiver().feed(bytes(inc.audio_in)) == list("2580")
    rig.a.channel_of(out).hangup()
    rig.until(lambda: inc.state == "cleared" and rig.idle())
    assert inc.reason == "normal" and out.reason == "normal"
    # the trace holds every CAS change and MF signal of the call
    tr = inc.trace
    assert tr and all(t["ch"] == inc.channel for t in tr)
    kinds = {(t["dir"], t["kind"]) for t in tr}
    assert {("rx", "cas"), ("tx", "cas"), ("rx", "mf"), ("tx", "mf")} <= kinds
    tx_cas = [t["value"] for t in tr if t["dir"] == "tx" and t["kind"] == "cas"]
    assert tx_cas == ["1111", "0111", "1011"]  # seize-ack, answer, idle after clear-forward
    assert tr[0]["value"] == "0011" and tr[0]["dir"] == "rx"  # the seizure opens the call's trace
    sent_b = [t["value"] for t in tr if t["dir"] == "tx" and t["kind"] == "mf" and t["value"] != "off"]
    assert sent_b[0] == 6 and sent_b[-2:] == [3, 1]  # A6 first, A3 then B1 last


def test_outgoing_call_from_the_hub():
    rig = Rig(a_kw={"max_dnis": 5})  # the carrier takes 5-digit service numbers
    out = rig.b.dial("95546", "4008123456")
    assert out.channel == 31  # the hub hunts downwards
    inc = _offered_call(rig, "a")
    assert (inc.dnis, inc.ani) == ("95546", "4008123456")
    rig.a.channel_of(inc).answer()
    rig.until(lambda: out.state == "answered")
    assert out.setup_ms is not None and out.setup_ms > 0
    rig.b.channel_of(out).hangup()
    rig.until(rig.idle)


@pytest.mark.parametrize("decision,reason", [("busy", "busy"), ("congestion", "congestion"),
                                             ("unallocated", "unallocated")])
def test_busy_congestion_unallocated(decision, reason):
    rig = Rig(b_kw={"offer_policy": lambda call: decision})
    out = rig.a.dial("80012345", "139")
    rig.until(lambda: out.state == "failed")
    assert out.reason == reason
    rig.until(rig.idle)
    assert rig.got("b", "failed")[-1].reason == decision


def test_caller_hangs_up_during_mf():
    rig = Rig()
    out = rig.a.dial("80012345", "13912345678")
    rig.until(lambda: len(rig.b.channels[out.channel].call.ani or "") >= 3 if rig.b.channels[out.channel].call else False)
    rig.a.channel_of(out).hangup()
    assert out.state == "failed" and out.reason == "caller-abandoned"
    rig.until(lambda: rig.got("b", "failed"))
    assert rig.got("b", "failed")[0].reason == "caller-abandoned"
    rig.until(rig.idle)
    assert not rig.got("b", "offered")


def test_called_party_clear_back():
    rig = Rig()
    out = rig.a.dial("80012345", "1391")
    inc = _offered_call(rig)
    rig.b.channel_of(inc).answer()
    rig.until(lambda: out.state == "answered")
    rig.b.channel_of(inc).hangup()
    rig.until(lambda: rig.got("a", "clear-back"))
    assert out.reason == "clear-back" and inc.reason == "clear-back"
    rig.until(rig.idle)


def test_glare_one_side_wins():
    rig = Rig(a_kw={"glare_wins": True, "max_dnis": 5})
    ca = rig.a.dial("80012345", "111", channel=5)
    cb = rig.b.dial("95546", "222", channel=5)
    rig.until(lambda: cb.state == "failed")
    assert cb.reason == "glare"
    inc = _offered_call(rig)
    assert inc.dnis == "80012345" and inc.channel == 5
    rig.until(lambda: ca.state == "accepted")


def test_glare_nobody_wins_both_back_off():
    rig = Rig(a_kw={"glare_yield_accept": False}, b_kw={"glare_yield_accept": False})
    ca = rig.a.dial("80012345", "111", channel=7)
    cb = rig.b.dial("95546", "222", channel=7)
    rig.until(lambda: ca.state == "failed" and cb.state == "failed")
    assert ca.reason == cb.reason == "glare"
    rig.until(rig.idle)
    # the channel works again afterwards
    c = rig.a.dial("80012345", "111", channel=7)
    rig.until(lambda: c.state == "accepted")


def test_seize_timeout():
    v = CN.with_timers(t_seize=600)
    rig = Rig(v)
    rig.pair.b.listeners.clear()  # the far end ignores line signals: no seize acknowledgement
    out = rig.a.dial("80012345", "1")
    rig.until(lambda: out.state == "failed", 2000)
    assert out.reason == "seize-timeout" and rig.pair.now_ms - out.t_seize >= 600


def test_mf_timeouts_on_both_sides():
    v = CN.with_timers(t_mf_fwd_safety=700, t_mf_back_cycle=500)
    rig = Rig(v)
    for ch in rig.b.channels.values():  # the far end acknowledges the seizure, hears no MF
        ch.on_audio = lambda block: None
    out = rig.a.dial("80012345", "1")
    rig.until(lambda: out.state == "failed", 3000)
    assert out.reason == "mf-timeout"
    assert rig.got("b", "failed")[0].reason == "mf-timeout"
    rig.until(rig.idle, 3000)
    # and a far end that never sends its first MF signal times out the backward side
    rig2 = Rig(v)
    rig2.pair.tick_hooks.remove(rig2.a.poll)
    rig2.a.channels[3]._set_line(CN.ab_seize)  # seize without ever sending MF
    rig2.until(lambda: rig2.got("b", "failed"), 3000)
    assert rig2.got("b", "failed")[0].reason == "mf-timeout"


def test_no_answer_timer():
    rig = Rig(CN.with_timers(t_answer=800))
    out = rig.a.dial("80012345", "1")
    _offered_call(rig)
    rig.until(lambda: out.state == "failed", 3000)
    assert out.reason == "no-answer"
    rig.until(rig.idle)


def test_blocked_channel_is_not_hunted_and_dial_checks_input():
    rig = Rig()
    rig.b.channels[1].block()
    rig.pair.run(60)
    assert rig.a.channels[1].state == "remote_blocked"
    c = rig.a.dial("80012345", "1")
    assert c.channel == 2
    with pytest.raises(SignallingError):
        rig.a.dial("80012345", "1", channel=1)
    with pytest.raises(SignallingError):
        rig.a.dial("12a4")
    rig.b.channels[1].unblock()
    rig.pair.run(60)
    assert rig.a.channels[1].state == "idle"


def test_line_cut_fails_calls_and_recovers():
    rig = Rig(a_kw={"max_dnis": 5})
    out = rig.a.dial("80012345", "1")
    inc = _offered_call(rig)
    rig.b.channel_of(inc).answer()
    rig.until(lambda: out.state == "answered")
    rig.pair.line_ab.inject("cut")
    rig.pair.run(100)
    assert inc.state == "failed" and inc.reason == "alarm"
    assert out.state == "failed" and out.reason == "alarm"  # the far end sees RAI
    assert "LOS" in rig.pair.b.status().alarms and "RAI" in rig.pair.a.status().alarms
    rig.pair.line_ab.inject("restore")
    rig.until(lambda: not rig.pair.b.status().alarms and rig.b.channels[out.channel].state == "idle")
    c = rig.b.dial("95546", "1")
    rig.until(lambda: c.state == "accepted")


def test_thirty_simultaneous_calls_on_one_span():
    rig = Rig()
    calls = [rig.a.dial("8001%04d" % i, "1390000%04d" % i) for i in range(30)]
    with pytest.raises(SignallingError):
        rig.a.dial("80019999", "1")
    rig.until(lambda: all(c.state == "accepted" for c in calls), 20000)
    offered = rig.got("b", "offered")
    assert sorted(c.dnis for c in offered) == sorted(c.dnis for c in calls)
    for inc in offered:
        rig.b.channel_of(inc).answer()
    rig.until(lambda: all(c.state == "answered" for c in calls))
    for c in calls:
        rig.a.channel_of(c).hangup()
    rig.until(rig.idle)
    assert all(c.reason == "normal" for c in offered)


def test_span_config_validation():
    from drivers.e1_card.errors import ConfigError
    with pytest.raises(ConfigError):
        SpanConfig(signalling="isdn").validate()
    with pytest.raises(ConfigError):
        SpanConfig(channels=(16,)).validate()
    with pytest.raises(ConfigError):
        SpanConfig(protocol="pri-net").validate()
    with pytest.raises(SignallingError):
        R2Stack(VirtualSpanPair().a, "XX")


def test_an_incoming_call_is_accepted_for_the_listener_too():
    rig = Rig()
    rig.a.dial("80012345", "13912345678")
    inc = _offered_call(rig)
    rig.until(lambda: rig.got("b", "accepted"))
    assert rig.got("b", "accepted") == [inc] and inc.state == "accepted"
    order = [e for s, e, c in rig.events if s == "b"]
    assert order.index("offered") < order.index("accepted")
    rig.b.channel_of(inc).answer()
    rig.until(lambda: inc.state == "answered")
