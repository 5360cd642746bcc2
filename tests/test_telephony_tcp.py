"""SIP over TCP: a SIPp caller on the trunk speaking TCP (``-t t1``) reaches a SIPp seat on UDP
through us and hangs up; and the framing of a TCP byte stream into messages, fuzzed."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import wait_for
from hub.telephony.errors import SipParseError
from hub.telephony.transport import MAX_STREAM_MESSAGE, split_stream
from sip_peers import Sipp, free_udp_port
from test_telephony_sip import cdrs, pbx, register, target  # noqa: F401 - the pbx fixture


def test_a_caller_over_tcp_reaches_a_seat_over_udp(tmp_path, pbx):  # noqa: F811
    trunk_port = free_udp_port()
    p = pbx(trunk_port)
    seat_port = register(tmp_path, p)
    seat = Sipp(tmp_path, "seat.xml", target(p), port=seat_port, args=["-m", "1"]).listening()
    caller = Sipp(tmp_path, "caller.xml", target(p), port=trunk_port,
                  args=["-t", "t1", "-s", "8001", "-d", "500", "-m", "1"])
    caller.run()
    caller.expect_success()
    seat.expect_success()
    assert "SIP/2.0/TCP" in caller.messages
    wait_for(lambda: len(cdrs()) == 1, 10, "the CDR")
    (c,) = cdrs()
    assert (c["disposition"], c["caller"], c["callee"]) == ("answered", "13912345678", "8001")


def _msg(i: int, body: bytes) -> bytes:
    return (f"OPTIONS sip:x@h SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK{i}\r\nCSeq: {i} OPTIONS\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=300), min_size=1, max_size=5), st.data())
def test_any_cut_of_a_stream_gives_back_the_same_messages(bodies, data):
    stream = b"".join((b"\r\n" if i % 2 else b"") + _msg(i, b) for i, b in enumerate(bodies))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    buf, got, last = bytearray(), [], 0
    for cut in cuts + [len(stream)]:
        buf += stream[last:cut]
        last = cut
        got += split_stream(buf)
    assert got == [_msg(i, b) for i, b in enumerate(bodies)] and not buf


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_garbage_is_framed_or_refused_never_a_crash(data):
    buf = bytearray(data)
    try:
        for m in split_stream(buf):
            assert b"\r\n\r\n" in m
    except SipParseError:
        pass


def test_a_stream_that_never_ends_its_headers_is_refused():
    with pytest.raises(SipParseError, match="no end of SIP headers"):
        split_stream(bytearray(b"INVITE " + b"x" * (MAX_STREAM_MESSAGE + 1)))
    with pytest.raises(SipParseError, match="body of"):
        split_stream(bytearray(b"INVITE sip:x@h SIP/2.0\r\nl: 999999\r\n\r\n"))


def test_our_requests_to_a_tcp_peer_say_tcp_in_their_via(tmp_path, pbx):  # noqa: F811
    """The seat hangs up: the BYE we send the caller goes over its TCP connection, and its Via
    names TCP (RFC 3261 §18.1.1: the transport the request is sent over)."""
    import os
    from test_callflow_queue import AGENT
    here = os.path.join(os.path.dirname(__file__), "data", "sipp")
    caller_xml = open(os.path.join(here, "caller.xml")).read()
    seat_xml = open(os.path.join(here, "seat.xml")).read()
    waits_for_bye = caller_xml[:caller_xml.index("  <pause/>")] + seat_xml[seat_xml.index('  <recv request="BYE"/>'):]
    (tmp_path / "caller_waits.xml").write_text(waits_for_bye)
    (tmp_path / "seat_hangs_up.xml").write_text(
        AGENT.replace('<pause distribution="exponential" mean="MEAN_MS"/>', '<pause milliseconds="500"/>'))
    trunk_port = free_udp_port()
    p = pbx(trunk_port)
    seat_port = register(tmp_path, p)
    seat = Sipp(tmp_path, str(tmp_path / "seat_hangs_up.xml"), target(p), port=seat_port, args=["-m", "1"]).listening()
    caller = Sipp(tmp_path, str(tmp_path / "caller_waits.xml"), target(p), port=trunk_port,
                  args=["-t", "t1", "-s", "8001", "-m", "1"])
    caller.run()
    caller.expect_success()
    seat.expect_success()
    bye = caller.messages[caller.messages.index("BYE sip:"):]
    via = next(line for line in bye.splitlines() if line.lower().startswith(("via:", "v:")))
    assert "SIP/2.0/TCP" in via, bye[:600]
    wait_for(lambda: len(cdrs()) == 1, 10, "the CDR")
