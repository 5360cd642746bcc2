"""E1 legs: calls both ways between the simulated carrier (China No.1 / MFC-R2 and PRI over the
virtual span pair) and SIP peers (SIPp), audio across without transcoding, in-band digits, span
alarms and blocked timeslots in the live view; no timeslot left busy at the end."""
from __future__ import annotations

import pytest

from conftest import wait_for
from drivers.e1_card import alaw
from drivers.e1_card.dtmf import dtmf_samples
from sip_peers import Sipp, free_udp_port
from test_telephony_sip import PASSWORD, cdrs, pbx, register, target  # noqa: F401 - the pbx fixture

PROTOCOLS = {"r2": "r2-cn", "pri": "pri-cpe"}


def e1_pbx(pbx, protocol: str):  # noqa: F811
    trunk_port = free_udp_port()
    p = pbx(trunk_port,
            trunks=[{"name": "carrier", "kind": "sip", "host": "127.0.0.1", "port": trunk_port},
                    {"name": "ct-bj-1", "kind": "e1", "span": 1, "protocol": PROTOCOLS[protocol], "max_dnis": 4}],
            dialplan=[{"number": "8001", "to": "seat 8001", "ring_s": 5},
                      {"prefix": "0", "strip": 1, "to": "trunk ct-bj-1", "ring_s": 5}])
    return p, trunk_port, p.e1.spans["ct-bj-1"]


def idle(p, span) -> bool:
    def check():
        if span.is_r2:
            return all(ch.state == "idle" for ch in span.stack.channels.values()) and \
                all(ch.state == "idle" for ch in span.carrier.channels.values())
        return not span.stack._busy and not span.carrier._busy
    return p.call(check)


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_carrier_calls_a_seat_audio_both_ways(tmp_path, pbx, protocol):  # noqa: F811
    p, _, span = e1_pbx(pbx, protocol)
    seat_port = register(tmp_path, p)
    seat = Sipp(tmp_path, "seat.xml", target(p), port=seat_port,
                args=["-m", "1", "-rtp_echo", "-mp", str(free_udp_port(pairs=True))]).listening()

    def dial():
        if span.is_r2:
            return span.carrier.dial("8001", "13912345678")
        return span.carrier.dial("8001", "13912345678")
    out = p.call(dial)
    wait_for(lambda: p.call(lambda: out.state) == "answered", 20, "the carrier's call answered")
    silence = bytes([alaw.SILENCE]) * 160
    p.call(lambda: [out.play(alaw.encode(dtmf_samples(k, 960)) + silence * 5) for k in "2580"])
    # the hub hears the keys in-band on the E1 leg; the seat echoes the audio, so the carrier gets
    # it back through SIP, RTP and the jitter buffer: bit for bit, since A-law is never transcoded
    sent = [alaw.encode(dtmf_samples(k, 960)) for k in "2580"]
    heard = bytearray()

    def back():
        heard.extend(p.call(lambda: (bytes(out.audio_in), out.audio_in.clear())[0]))
        at = 0
        for tone in sent:
            at = heard.find(tone, at)
            if at < 0:
                return False
        return True
    wait_for(back, 20, "the played audio echoed back to the carrier, bit for bit")

    def hang():
        if span.is_r2:
            span.carrier.channels[out.channel].hangup()
        else:
            span.carrier.hangup(out)
    p.call(hang)
    seat.expect_success()
    wait_for(lambda: len(cdrs()) == 1, 10, "the CDR")
    (c,) = cdrs()
    assert (c["trunk"], c["direction"], c["caller"], c["callee"], c["seat"], c["disposition"]) == \
        ("ct-bj-1", "inbound", "13912345678", "8001", "8001", "answered")
    assert c["channel"] == f"E1 1/{out.channel}"
    from hub.telephony.cdr import show_call
    keys = [e["data"]["key"] for e in show_call(c["call_id"])["events"] if e["kind"] == "dtmf" and e["leg"] == "a"]
    assert keys == list("2580")
    wait_for(lambda: idle(p, span), 10, "every timeslot idle")


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_sip_trunk_caller_dials_out_on_the_e1(tmp_path, pbx, protocol):  # noqa: F811
    p, trunk_port, span = e1_pbx(pbx, protocol)
    seen = []

    def answer_at_carrier(event, call):
        if event == "offered":
            seen.append((call.dnis, call.ani))
            if span.is_r2:
                span.carrier.channels[call.channel].answer()
            else:
                span.carrier.answer(call)
    p.call(lambda: span.carrier.listeners.append(answer_at_carrier))
    caller = Sipp(tmp_path, "caller.xml", target(p), port=trunk_port, args=["-s", "09554", "-d", "1500", "-m", "1"])
    caller.run()
    caller.expect_success()
    wait_for(lambda: len(cdrs()) == 1, 10, "the CDR")
    assert seen == [("9554", "13912345678")]
    (c,) = cdrs()
    assert c["disposition"] == "answered" and c["callee"] == "09554" and 1 <= c["billable_s"] <= 3
    wait_for(lambda: idle(p, span), 10, "every timeslot idle")


def test_unrouted_e1_call_is_refused_with_unallocated(tmp_path, pbx):  # noqa: F811
    p, _, span = e1_pbx(pbx, "r2")
    out = p.call(lambda: span.carrier.dial("7777", "139"))
    wait_for(lambda: p.call(lambda: out.state) == "failed", 20, "the call refused")
    assert out.reason == "unallocated"
    wait_for(lambda: idle(p, span), 10, "every timeslot idle")
    assert cdrs() == []


def test_span_alarms_and_blocked_channels_show_in_call_active(tmp_path, pbx):  # noqa: F811
    from hub.telephony.cdr import active
    p, _, span = e1_pbx(pbx, "r2")
    wait_for(lambda: [s for s in active()["spans"] if s["colour"] == "OK" and s["idle"] == 30], 10, "the span OK")
    p.call(lambda: span.carrier.channels[1].block())
    wait_for(lambda: [s for s in active()["spans"] if s["blocked"] == "1"], 10, "timeslot 1 blocked")
    p.call(lambda: span.pair.line_ab.inject("cut"))
    wait_for(lambda: [s for s in active()["spans"] if "RED" in s["colour"] and "LOS" in s["alarms"]], 10, "LOS")
    p.call(lambda: span.pair.line_ab.inject("restore"))
    p.call(lambda: span.carrier.channels[1].unblock())
    wait_for(lambda: [s for s in active()["spans"] if s["colour"] == "OK" and s["blocked"] == ""], 10, "recovered")
