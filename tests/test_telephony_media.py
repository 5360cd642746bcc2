"""Media through the B2BUA: RTP relayed both ways, RFC 4733 digits from SIPp's shipped pcaps (each
key once, though its end packet comes three times), and the WAV recording, compared sample for
sample with the audio SIPp played."""
from __future__ import annotations

import struct
import wave

from conftest import wait_for
from sip_peers import Sipp, free_udp_port
from test_telephony_sip import cdrs, pbx, register, target  # noqa: F401 - the pbx fixture

PCAP = "/usr/share/sip-tester/g711a.pcap"


def pcap_rtp_payloads(path: str) -> list[bytes]:
    """The RTP payloads of a classic pcap file of Ethernet/IPv4/UDP/RTP packets."""
    data = open(path, "rb").read()
    assert struct.unpack_from("<I", data)[0] == 0xA1B2C3D4
    off, out = 24, []
    while off + 16 <= len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        ip = pkt[14:]
        udp = ip[(ip[0] & 0x0F) * 4:]
        rtp = udp[8:]
        cc = rtp[0] & 0x0F
        out.append(rtp[12 + 4 * cc:])
    return out


def test_audio_and_digits_pass_through_and_are_recorded(tmp_path, pbx):  # noqa: F811
    trunk_port = free_udp_port()
    p = pbx(trunk_port, recording={"default": True})
    seat_port = register(tmp_path, p)
    seat = Sipp(tmp_path, "seat.xml", target(p), port=seat_port, args=["-m", "1", "-rtp_echo",
                                                                        "-mp", str(free_udp_port(pairs=True))])
    seat.listening()
    caller = Sipp(tmp_path, "caller_media.xml", target(p), port=trunk_port,
                  args=["-s", "8001", "-d", "1000", "-m", "1", "-mp", str(free_udp_port(pairs=True))])
    caller.run(90)
    caller.expect_success()
    seat.expect_success()
    wait_for(lambda: len(cdrs()) == 1, 10, "the CDR")
    (c,) = cdrs()
    from hub.telephony.cdr import show_call
    events = show_call(c["call_id"])["events"]
    digits = [e["data"]["key"] for e in events if e["kind"] == "dtmf" and e["leg"] == "a"]
    assert digits == ["1", "2", "#"], digits          # once each, though each end packet came 3 times
    echoed = [e["data"]["key"] for e in events if e["kind"] == "dtmf" and e["leg"] == "b1"]
    assert echoed == ["1", "2", "#"], echoed          # the seat (SIPp -rtp_echo) sent them back

    # the recording: stereo, 8 kHz, 16-bit; the caller's channel holds what SIPp played
    with wave.open(c["recording"]) as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (2, 8000, 2)
        frames = w.readframes(w.getnframes())
    left = b"".join(frames[i:i + 2] for i in range(0, len(frames), 4))
    right = b"".join(frames[i + 2:i + 4] for i in range(0, len(frames), 4))
    from hub.telephony.rtp import pcm16
    played = pcm16(b"".join(pcap_rtp_payloads(PCAP)), "PCMA")
    assert len(played) == 2 * 236 * 240
    start = left.find(played[:2 * 2400])              # the first 0.3 s, sample for sample
    assert start >= 0 and start % 2 == 0, "the caller's audio is not in the recording"
    same = sum(1 for i in range(0, len(played), 2) if left[start + i:start + i + 2] == played[i:i + 2])
    assert same / (len(played) // 2) > 0.98           # nothing lost on loopback but a packet or two
    # the seat echoed it back: the callee's channel carries the same audio, a little later
    assert right.find(played[2 * 8000:2 * 8000 + 2 * 2400]) >= 0
    from hub.telephony.cdr import recordings
    (r,) = recordings(call_id=c["call_id"])
    assert r["seconds"] >= 7 and r["caller"] == "13912345678" and r["callee"] == "8001"
