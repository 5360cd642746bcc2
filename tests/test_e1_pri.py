"""ISDN PRI: Q.921 and Q.931 codecs, and calls over the simulated CCS span pair."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from drivers.e1_card import q931
from drivers.e1_card.errors import Q931Error, SignallingError
from drivers.e1_card.hdlc import HdlcDecoder, HdlcEncoder, add_fcs, check_fcs
from drivers.e1_card.pri import PriStack, SpanDChannel
from drivers.e1_card.q921 import Frame, Q921Link, decode_frame
from drivers.e1_card.q931 import IE, MT, Message
from drivers.e1_card.span import SpanConfig
from drivers.e1_card.virtual import VirtualSpanPair

SETTINGS = settings(max_examples=100, deadline=None)


# ------------------------------------------------------------------------------ codecs
def test_q921_golden_frames():
    # SABME from the network side (command, C/R = 1), SAPI 0, TEI 0, P = 1
    assert Frame(0, 0, 1, "SABME", pf=1).encode() == bytes.fromhex("02017F")
    # UA response from the user side (C/R = 1 for user responses), F = 1
    assert Frame(0, 0, 1, "UA", pf=1).encode() == bytes.fromhex("020173")
    # I frame N(S) = 3, N(R) = 5 from the user side (command, C/R = 0)
    assert Frame(0, 0, 0, "I", ns=3, nr=5, info=b"\x08").encode() == bytes.fromhex("0001060A08")
    assert Frame(0, 0, 0, "RR", nr=127, pf=1).encode() == bytes.fromhex("000101FF")
    f = decode_frame(bytes.fromhex("0001060A08"))
    assert (f.kind, f.ns, f.nr, f.info) == ("I", 3, 5, b"\x08")


@SETTINGS
@given(st.sampled_from(["I", "RR", "RNR", "REJ", "SABME", "DM", "UI", "DISC", "UA"]),
       st.integers(0, 63), st.integers(0, 127), st.integers(0, 1), st.integers(0, 127),
       st.integers(0, 127), st.integers(0, 1), st.binary(max_size=40))
def test_q921_round_trip(kind, sapi, tei, cr, ns, nr, pf, info):
    f = Frame(sapi, tei, cr, kind, ns=ns if kind == "I" else None,
              nr=nr if kind in ("I", "RR", "RNR", "REJ") else None, pf=pf,
              info=info if kind in ("I", "UI") else b"")
    assert decode_frame(f.encode()) == f


@pytest.mark.parametrize("bad", [b"", b"\x02\x01", b"\x03\x01\x7f", b"\x02\x00\x7f", b"\x02\x01\x01",
                                 b"\x02\x01\x0d\x00", b"\x02\x01\x00"])
def test_q921_malformed(bad):
    with pytest.raises(Q931Error):
        decode_frame(bad)


def test_q931_setup_golden_bytes():
    m = Message(MT["SETUP"], 1, 0)
    m.add(IE["BEARER"], q931.bearer_capability())
    m.add(IE["CHANNEL_ID"], q931.channel_id(1, True))
    m.add(IE["CALLING"], q931.calling_number("1391", ton=q931.TON_NATIONAL))
    m.add(IE["CALLED"], q931.called_number("95546"))
    m.add(IE["SENDING_COMPLETE"])
    assert m.encode().hex() == (
        "08" "02" "0001" "05"
        "04" "03" "8090a3"          # speech, circuit 64 kbit/s, G.711 A-law
        "18" "03" "a98381"          # PRI, exclusive, B channel 1
        "6c" "06" "2180" "31333931"  # national/ISDN, presentation allowed
        "70" "06" "81" "3935353436"  # unknown/ISDN, 95546
        "a1")                       # sending complete
    d = q931.decode(m.encode())
    assert d.name == "SETUP" and d.cref == 1 and d.flag == 0
    assert q931.parse_channel_id(d.ie(IE["CHANNEL_ID"])) == (1, True)
    assert q931.parse_number(d.ie(IE["CALLING"]))["digits"] == "1391"
    assert q931.parse_bearer(d.ie(IE["BEARER"])) == {"capability": 0, "rate": 0x10, "layer1": 3}
    assert q931.parse_cause(q931.cause(17)) == (17, 1)


@SETTINGS
@given(st.sampled_from(sorted(q931.MESSAGES)), st.integers(0, 32767), st.integers(0, 1),
       st.lists(st.tuples(st.integers(0, 0x7F), st.binary(max_size=30)), max_size=6))
def test_q931_round_trip(mtype, cref, flag, ies):
    m = Message(mtype, cref, flag, ies)
    assert q931.decode(m.encode()) == m


@pytest.mark.parametrize("bad", [b"", b"\x09\x02\x00\x01\x05", b"\x08\x03\x00\x00\x00\x05",
                                 b"\x08\x02\x00\x01\x85", b"\x08\x02\x00\x01\x05\x70",
                                 b"\x08\x02\x00\x01\x05\x70\x05\x81"])
def test_q931_malformed(bad):
    with pytest.raises(Q931Error):
        q931.decode(bad)


@SETTINGS
@given(st.lists(st.binary(min_size=3, max_size=80), min_size=1, max_size=6),
       st.lists(st.integers(1, 50), max_size=20))
def test_hdlc_round_trip_any_chunking(frames, sizes):
    enc = HdlcEncoder()
    for f in frames:
        enc.send(f)
    dec = HdlcDecoder()
    got = []
    sizes = sizes or [16]
    i = 0
    for _ in range(400):
        got += dec.feed(enc.read(sizes[i % len(sizes)]))
        i += 1
        if len(got) == len(frames):
            break
    assert got == frames and dec.fcs_errors == 0
    assert check_fcs(add_fcs(b"abc")) and not check_fcs(b"abc\x00\x00")


# ------------------------------------------------------------------------------ calls
class PriRig:
    def __init__(self, *, net_kw=None, cpe_kw=None, line_code=None):
        self.pair = VirtualSpanPair(SpanConfig(span=1, name="carrier", signalling="ccs", protocol="pri-net"),
                                SpanConfig(span=2, name="hub", signalling="ccs", protocol="pri-cpe"),
                                line_code=line_code)
        self.events = []
        self.net = PriStack(SpanDChannel(self.pair.a), True, lambda e, c: self.events.append(("net", e, c)),
                            span=self.pair.a, **(net_kw or {}))
        self.cpe = PriStack(SpanDChannel(self.pair.b), False, lambda e, c: self.events.append(("cpe", e, c)),
                            span=self.pair.b, hunt="down", **(cpe_kw or {}))
        self.pair.tick_hooks += [self.net.poll, self.cpe.poll]
        self.pair.run(60)
        self.net.start()
        self.cpe.start()
        self.until(lambda: self.net.up and self.cpe.up)

    def until(self, pred, ms=10000):
        assert self.pair.run_until(pred, ms), "condition not reached in simulated time"

    def got(self, side, event):
        return [c for s, e, c in self.events if s == side and e == event]

    def quiet(self):
        return not self.net._calls and not self.cpe._calls


def test_call_from_the_network_answered_with_audio_and_cleared():
    rig = PriRig()
    out = rig.net.dial("95546", "13812345678")
    rig.until(lambda: rig.got("cpe", "offered"))
    inc = rig.got("cpe", "offered")[0]
    assert (inc.dnis, inc.ani, inc.channel) == ("95546", "13812345678", out.channel)
    rig.until(lambda: out.state == "accepted")
    rig.cpe.answer(inc)
    rig.until(lambda: out.state == "answered" and inc.state == "answered")
    out.play(bytes(range(256)) * 5)
    rig.pair.run(200)
    assert bytes(range(256)) * 2 in bytes(inc.audio_in)
    rig.cpe.hangup(inc)
    rig.until(rig.quiet)
    assert out.reason == "normal" and inc.reason == "normal" and out.state == "cleared"
    kinds = [t["value"].split(" cref")[0] for t in inc.trace]
    assert kinds == ["SETUP", "CALL PROCEEDING", "ALERTING", "CONNECT", "CONNECT ACKNOWLEDGE",
                     "DISCONNECT", "RELEASE", "RELEASE COMPLETE"]


def test_call_from_the_hub_side():
    rig = PriRig()
    out = rig.cpe.dial("80012345", "4008123456")
    assert out.channel == 31
    rig.until(lambda: rig.got("net", "offered"))
    rig.net.answer(rig.got("net", "offered")[0])
    rig.until(lambda: out.state == "answered")
    rig.net.hangup(rig.got("net", "offered")[0])
    rig.until(rig.quiet)
    assert out.reason == "normal"


@pytest.mark.parametrize("decision,reason", [("busy", "busy"), ("congestion", "congestion"),
                                             ("unallocated", "unallocated")])
def test_busy_congestion_unallocated(decision, reason):
    rig = PriRig(cpe_kw={"offer_policy": lambda c: decision})
    out = rig.net.dial("95546", "1")
    rig.until(lambda: out.state == "failed")
    assert out.reason == reason
    rig.until(rig.quiet)


def test_caller_hangs_up_before_answer():
    rig = PriRig()
    out = rig.net.dial("95546", "1")
    rig.until(lambda: rig.got("cpe", "offered"))
    rig.net.hangup(out)
    rig.until(rig.quiet)
    inc = rig.got("cpe", "offered")[0]
    assert inc.state == "failed" and out.state == "failed"


def test_glare_on_the_same_b_channel_network_wins():
    rig = PriRig()
    c_net = rig.net.dial("95546", "1", channel=9)
    c_cpe = rig.cpe.dial("80012345", "2", channel=9)
    rig.until(lambda: c_cpe.state == "failed" and rig.got("cpe", "offered"))
    assert c_cpe.reason == "glare"
    rig.until(lambda: c_net.state == "accepted")


def test_setup_timer_t303_expiry():
    rig = PriRig(net_kw={"timers": {"T303": 500}})
    rig.cpe._incoming_setup = lambda msg: None  # the far end ignores SETUP
    out = rig.net.dial("95546", "1")
    rig.until(lambda: out.state == "failed", 3000)
    assert out.reason == "timeout"
    setups = [t for t in rig.net.trace if t["value"].startswith("SETUP")]
    assert len(setups) == 2  # sent, then retransmitted once on T303


def test_unknown_call_reference_and_status_enquiry():
    rig = PriRig()
    rig.net._send(None, MT["DISCONNECT"], [(IE["CAUSE"], q931.cause(16))], cref=77, flag=0)
    rig.pair.run(100)
    assert any("RELEASE COMPLETE cref=77" in t["value"] and "cause=81" in t["value"]
               for t in rig.net.trace if t["dir"] == "rx")
    out = rig.net.dial("95546", "1")
    rig.until(lambda: out.state == "accepted")
    rig.net._send(rig.net._cs_of(out), MT["STATUS_ENQUIRY"])
    rig.pair.run(100)
    assert any(t["value"].startswith("STATUS ") for t in rig.net.trace if t["dir"] == "rx")


def test_restart_clears_calls():
    rig = PriRig()
    out = rig.net.dial("95546", "1")
    rig.until(lambda: out.state == "accepted")
    rig.net.restart()
    rig.until(lambda: rig.cpe.restarts == 1 and rig.quiet())
    rig.until(lambda: any(t["value"].startswith("RESTART ACKNOWLEDGE")
                          for t in rig.net.trace if t["dir"] == "rx"))


def test_thirty_simultaneous_calls():
    rig = PriRig()
    calls = [rig.net.dial("9554%d" % i, "1390%d" % i) for i in range(30)]
    with pytest.raises(SignallingError):
        rig.net.dial("1", "1")
    rig.until(lambda: len(rig.got("cpe", "offered")) == 30)
    for inc in rig.got("cpe", "offered"):
        rig.cpe.answer(inc)
    rig.until(lambda: all(c.state == "answered" for c in calls))
    assert sorted(c.channel for c in calls) == list(range(1, 16)) + list(range(17, 32))
    for c in calls:
        rig.net.hangup(c)
    rig.until(rig.quiet)


def test_d_channel_survives_bit_errors_and_recovers_from_a_cut():
    rig = PriRig(line_code="hdb3")
    rig.pair.line_ab.inject("corrupt", 40)
    out = rig.net.dial("95546", "1")
    rig.until(lambda: out.state == "accepted")
    rig.pair.line_ab.inject("cut")
    rig.pair.run(200)
    assert out.state == "failed" and out.reason == "alarm"
    rig.pair.line_ab.inject("restore")
    rig.until(lambda: rig.net.up and rig.cpe.up)
    c = rig.cpe.dial("80012345", "1")
    rig.until(lambda: c.state == "accepted")


def test_q921_link_retransmits_lost_frames():
    a_out, b_out = [], []
    a = Q921Link(True, a_out.append, t200=100)
    got = []
    b = Q921Link(False, b_out.append, on_message=got.append, t200=100)
    a.start(0)
    b.receive(a_out.pop(), 0)
    a.receive(b_out.pop(), 0)
    assert a.up and b.up
    a.send(b"one")
    a.send(b"two")
    a_out.pop(0)  # "one" is lost on the line
    b.receive(a_out.pop(0), 10)  # "two" arrives out of sequence -> REJ
    for f in b_out:
        a.receive(f, 20)
    b_out.clear()
    for f in a_out:
        b.receive(f, 30)
    assert got == [b"one", b"two"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=20), min_size=1, max_size=25),
       st.lists(st.booleans(), min_size=1, max_size=60), st.integers(0, 2**32 - 1))
def test_q921_delivers_everything_in_order_despite_losses(messages, drops, seed):
    import random
    rnd = random.Random(seed)
    wire_ab, wire_ba = [], []
    got = []
    a = Q921Link(True, wire_ab.append, t200=100, t203=10_000, n200=50)
    b = Q921Link(False, wire_ba.append, on_message=got.append, t200=100, t203=10_000, n200=50)
    a.start(0)
    now = 0
    sent = 0
    i = 0
    while now < 60_000 and len(got) < len(messages):
        if a.up and sent < len(messages) and rnd.random() < 0.5:
            a.send(messages[sent])
            sent += 1
        for wire, dst in ((wire_ab, b), (wire_ba, a)):
            frames, wire[:] = list(wire), []
            for f in frames:
                lost = drops[i % len(drops)] and rnd.random() < 0.3
                i += 1
                if not lost:
                    dst.receive(f, now)
        now += 10
        a.tick(now)
        b.tick(now)
    assert got == messages


def test_backend_registry_knows_sim_and_dahdi():
    from drivers.e1_card.span import backend_class
    from drivers.e1_card.virtual import VirtualSpan
    assert backend_class("sim") is VirtualSpan
    span = backend_class("sim")(SpanConfig(span=3, signalling="ccs", protocol="pri-net"))
    assert span.status().framing == "CCS/HDB3/CRC4"
