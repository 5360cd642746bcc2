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
