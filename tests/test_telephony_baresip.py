"""baresip, a softphone someone else wrote, as a seat: it registers with digest authentication, a
SIPp caller on the trunk plays SIPp's A-law sample through us, baresip answers and records what it
hears (its sndfile module), and that recording holds the audio SIPp played."""
from __future__ import annotations

import shutil
import subprocess
import wave

import pytest

from conftest import needs, wait_for
from sip_peers import Sipp, free_udp_port, write_baresip
from test_telephony_media import PCAP, pcap_rtp_payloads
from test_telephony_sip import cdrs, pbx, target  # noqa: F401 - the pbx fixture


def free_tcp_and_udp_port() -> int:
    """A port free for TCP and for UDP (baresip listens on both)."""
    import socket
    for _ in range(100):
        t = socket.socket()
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            u.close()
            t.close()
    raise RuntimeError("no free port")


def baresip_dir(tmp_path, pbx_addr, port: int, rtp: int):
    d = tmp_path / "baresip"
    d.mkdir()
    with wave.open(str(d / "say.wav"), "wb") as w:       # what baresip says: 20 s of a quiet 440 Hz tone
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        import math
        import struct
        w.writeframes(b"".join(struct.pack("<h", int(2000 * math.sin(2 * math.pi * 440 * i / 8000)))
                               for i in range(8000 * 20)))
    write_baresip(d, pbx_addr, "8002", "pw-8002", port, rtp, d / "say.wav")
    return d


def test_baresip_hears_what_the_sipp_caller_played(tmp_path, pbx):  # noqa: F811
    if shutil.which("baresip") is None:
        needs("baresip", "install the Debian package baresip (make system-deps does)")
    trunk_port = free_udp_port()
    p = pbx(trunk_port)
    from sip_peers import free_udp_range
    d = baresip_dir(tmp_path, target(p), free_tcp_and_udp_port(), free_udp_range(22))
    log = open(tmp_path / "baresip.log", "wb")
    proc = subprocess.Popen(["baresip", "-f", str(d), "-t", "60"], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: "8002" in [s["seat"] for s in p.snapshot()["seats"]], 30, "baresip registered")
        caller = Sipp(tmp_path, "caller_media.xml", target(p), port=trunk_port,
                      args=["-s", "8002", "-d", "500", "-m", "1", "-mp", str(free_udp_port(pairs=True))])
        caller.run(90)
        caller.expect_success()
        wait_for(lambda: len(cdrs()) == 1, 10, "the CDR")
        wait_for(lambda: list(d.glob("dump-*-dec.wav")), 10, "baresip's recording of what it heard")
    finally:
        proc.terminate()
        proc.wait(10)
    assert cdrs()[0]["disposition"] == "answered"
    (rec,) = d.glob("dump-*-dec.wav")
    with wave.open(str(rec)) as w:
        heard = w.readframes(w.getnframes())
        assert w.getframerate() == 8000 and w.getnchannels() == 1
    from hub.telephony.rtp import pcm16
    played = pcm16(b"".join(pcap_rtp_payloads(PCAP)), "PCMA")
    for at_s in (1, 3, 5):                      # 0.2 s pieces of it, sample for sample, in order
        piece = played[2 * 8000 * at_s:2 * 8000 * at_s + 2 * 1600]
        assert heard.find(piece) >= 0, (at_s, open(tmp_path / "baresip.log").read()[-2000:])


def test_a_played_file_reaches_baresip_as_a_caller(tmp_path, pbx):  # noqa: F811
    """baresip (seat 8002, authenticating its INVITE) dials 7000, which the dial plan plays a WAV
    to; what baresip records is that file, A-law quantised, and the call ends with the file."""
    if shutil.which("baresip") is None:
        needs("baresip", "install the Debian package baresip (make system-deps does)")
    import math
    import struct
    from array import array
    song = tmp_path / "greeting.wav"
    samples = array("h", (int(6000 * math.sin(2 * math.pi * (300 + i / 20) * i / 8000)) for i in range(8000 * 2)))
    with wave.open(str(song), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(samples.tobytes())
    p = pbx(free_udp_port(), dialplan=[{"number": "7000", "to": f"play {song}"}])
    d = baresip_dir(tmp_path, target(p), free_tcp_and_udp_port(), 33100)
    (d / "config").write_text((d / "config").read_text() + "module menu.so\n")
    log = open(tmp_path / "baresip.log", "wb")
    proc = subprocess.Popen(["baresip", "-f", str(d), "-t", "30", "-e", f"/dial sip:7000@{target(p)}"],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: len(cdrs()) == 1, 20, "the announcement call's CDR")
    finally:
        proc.terminate()
        proc.wait(10)
    (c,) = cdrs()
    assert (c["direction"], c["caller"], c["callee"], c["disposition"]) == ("outbound", "8002", "7000", "answered")
    assert 1 <= c["billable_s"] <= 3                          # the file is 2 s long
    (rec,) = d.glob("dump-*-dec.wav")
    with wave.open(str(rec)) as w:
        heard = w.readframes(w.getnframes())
    from drivers.e1_card import alaw
    sent = alaw.decode(alaw.encode(samples)).tobytes()       # what G.711 A-law makes of the file
    for at_s in (0.5, 1.0, 1.5):
        i = int(at_s * 8000) * 2
        assert heard.find(sent[i:i + 1600]) >= 0, (at_s, open(tmp_path / "baresip.log").read()[-2000:])
