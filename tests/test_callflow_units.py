"""The pieces of the live call flows without a network: the application leg's endpoint takes any
datagram (fuzzed) without breaking, frames and markers go out in order, and the PBX file knows
the ivr and queue targets."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.callflow.leg import FRAME, AppEndpoint
from hub.telephony import rtp


class _Leg:
    state = "answered"


class _Peer:
    codec, codec_pt = "PCMA", 8

    def __init__(self):
        self.got = []

    def deliver(self, data, pkt):
        self.got.append(pkt)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_any_datagram_from_the_caller_is_taken_or_dropped_never_an_error(data):
    ep = AppEndpoint(_Leg(), loop=None)
    ep.peer = _Peer()
    ep.recording = bytearray()
    ep.send(data)                                   # from an E1 leg: RTP bytes, or garbage
    try:
        pkt = rtp.parse(data)
    except rtp.RtpError:
        assert ep.recording == b""
        return
    ep.deliver(data, pkt)                           # from a SIP leg
    assert len(ep.recording) % 2 == 0


def test_frames_and_markers_go_out_in_order():
    ep = AppEndpoint(_Leg(), loop=None)
    peer = ep.peer = _Peer()
    seen = []
    ep.play(b"\x01" * (FRAME + 10), on_done=lambda: seen.append(("done", len(peer.got))),
            on_start=lambda: seen.append(("start", len(peer.got))))
    ep.play(b"", on_start=lambda: seen.append(("second", len(peer.got))))
    for _ in range(4):
        ep._send_frame()
    # the first prompt starts as its first frame goes out and is done as its second (last) goes out;
    # the next starts with the third
    assert seen == [("start", 0), ("done", 1), ("second", 2)]
    assert [p.payload[:1] for p in peer.got[:2]] == [b"\x01", b"\x01"] and peer.got[1].payload[10:11] != b"\x01"
    assert len({p.seq for p in peer.got}) == 4


def test_the_pbx_file_takes_ivr_and_queue_targets_and_refuses_bad_names():
    from hub.telephony.config import check_pbx
    from hub.telephony.errors import PbxConfigError
    cfg = check_pbx({"dialplan": [{"number": "1", "to": "ivr hotline"}, {"number": "2", "to": "queue service"}]})
    assert [str(r.to) for r in cfg.dialplan] == ["ivr hotline", "queue service"]
    with pytest.raises(PbxConfigError, match="is not a name"):
        check_pbx({"dialplan": [{"number": "1", "to": "ivr ho/tline"}]})
