"""SIPp as the peer of the telephony tests: run scenarios from tests/data/sipp/, and a PBX on free ports.

Each SIPp run is a real process speaking SIP (and RTP) over loopback; its exit status says
whether every call of its scenario went as the scenario expects (0), and its message trace
(``-trace_msg``) is kept for the test to read.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from conftest import needs, wait_for

SCENARIOS = Path(__file__).resolve().parent / "data" / "sipp"


def need_sipp() -> str:
    path = shutil.which("sipp")
    if path is None:
        needs("SIPp", "install the Debian package sip-tester (make system-deps does)")
    return path


def free_udp_port(pairs: bool = False) -> int:
    """A UDP port nobody holds now (with ``pairs``: an even one whose neighbour is free too)."""
    for _ in range(200):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        if not pairs:
            s.close()
            return port
        if port % 2 == 0 and port < 65000:
            try:
                t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                t.bind(("127.0.0.1", port + 1))
                t.close()
                s.close()
                return port
            except OSError:
                pass
        s.close()
    raise RuntimeError("no free UDP port")


def free_udp_range(n: int, lo: int = 40000, hi: int = 60000) -> int:
    """The first of ``n`` consecutive UDP ports nobody holds now (even, at a random place in
    ``lo``..``hi``): media port ranges for peers and PBXs, so that two suites run at once, or a
    PBX and a softphone in one test, never share one."""
    import random
    for _ in range(200):
        start = random.randrange(lo, hi - n) & ~1
        if not any(port_taken(q) for q in range(start, start + n)):
            return start
    raise RuntimeError(f"no {n} free UDP ports in a row")


def port_taken(port: int) -> bool:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", port))
        return False
    except OSError:
        return True
    finally:
        s.close()


class Sipp:
    """One SIPp process: ``scenario`` is a file in tests/data/sipp or a path; ``args`` more options."""

    def __init__(self, workdir: Path, scenario: str, target: str, *, port: int | None = None,
                 args: list[str] = (), name: str | None = None) -> None:
        self.bin = need_sipp()
        self.port = port or free_udp_port()
        self.name = name or Path(scenario).stem
        self.dir = workdir / f"sipp-{self.name}-{self.port}"
        self.dir.mkdir(parents=True, exist_ok=True)
        path = scenario if os.path.isabs(scenario) else str(SCENARIOS / scenario)
        self.cmd = [self.bin, "-sf", path, "-i", "127.0.0.1", "-p", str(self.port), "-nostdin",
                    "-trace_msg", "-message_file", str(self.dir / "messages.log"),
                    "-trace_err", "-error_file", str(self.dir / "errors.log"),
                    "-timeout", "60s", "-timeout_error", *args, target]
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Sipp":
        self.proc = subprocess.Popen(self.cmd, cwd=self.dir, stdout=subprocess.DEVNULL,
                                     stderr=open(self.dir / "stderr.log", "wb"))
        return self

    def listening(self) -> "Sipp":
        """Start and wait until it holds its port (for answering scenarios)."""
        self.start()
        wait_for(lambda: port_taken(self.port) or self.proc.poll() is not None, 10, f"SIPp {self.name} to bind")
        assert self.proc.poll() is None, self.explain()
        return self

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"SIPp {self.name} did not finish in {timeout:.0f} s\n{self.explain()}")

    def run(self, timeout: float = 60) -> int:
        self.start()
        return self.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def messages(self) -> str:
        p = self.dir / "messages.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def explain(self) -> str:
        out = []
        for f in ("stderr.log", "errors.log"):
            p = self.dir / f
            if p.exists():
                out.append(f"--- {f}\n" + p.read_text(errors="replace")[-3000:])
        out.append("--- messages (tail)\n" + self.messages[-4000:])
        return "\n".join(out)

    def expect_success(self, timeout: float = 60) -> None:
        if self.proc is None:
            self.start()
        rc = self.wait(timeout)
        assert rc == 0, f"SIPp {self.name} exited {rc}\n{self.explain()}"


def variant(tmp_path: Path, base: str, replacements: dict[str, str], name: str) -> str:
    """A scenario made from ``base`` with text replaced (e.g. another final status)."""
    text = (SCENARIOS / base).read_text()
    for old, new in replacements.items():
        assert old in text, f"{old!r} not in {base}"
        text = text.replace(old, new)
    path = tmp_path / f"{name}.xml"
    path.write_text(text)
    return str(path)


#: a scenario's answer to the request it just received: 200 OK echoing the dialog's headers
OK_200 = """  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
"""


#: an agent's seat, after the INVITE: 180, a ring of ``ring_ms`` (a retransmitted INVITE ends it
#: early), 200 with an A-law answer retransmitted until the ACK, and a copy of the INVITE before
#: the ACK absorbed (a PBX slow to read retransmits it; SIPp would abort the call and leave it up)
_RING_AND_ANSWER = """  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]agent[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:agent@[local_ip]:[local_port]>
      Content-Length: 0
    ]]>
  </send>
  <recv request="INVITE" timeout="RING_MS" ontimeout="answer"/>
  <label id="answer"/>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]agent[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:agent@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=agent 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
    ]]>
  </send>
  <recv request="INVITE" optional="true"/>
  <recv request="ACK" crlf="true"/>
"""


def ring_and_answer(ring_ms: int) -> str:
    """Scenario text: what an agent's seat does from the INVITE it received to the ACK."""
    return _RING_AND_ANSWER.replace("RING_MS", str(int(ring_ms)))


def send_bye(user: str, tag: str | None = None) -> str:
    """Scenario text: hang up the dialog (BYE from ``user`` with the dialog's tag ``[pid]TAG[n]``,
    retransmitted until answered; the caller's From was kept as ``remote_from``)."""
    return ('  <send retrans="500">\n    <![CDATA[\n      BYE sip:scanhub@[remote_ip]:[remote_port] SIP/2.0\n'
            '      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n'
            f'      From: <sip:{user}@[local_ip]>;tag=[pid]{tag or user}[call_number]\n'
            '      To: [$remote_from]\n      [last_Call-ID:]\n      CSeq: 1 BYE\n      Max-Forwards: 70\n'
            '      Content-Length: 0\n    ]]>\n  </send>\n')


def recv_ok(request: str, action: str = "") -> str:
    """Scenario text: receive ``request`` (with an optional ``<action>`` body) and answer 200."""
    if action:
        return f'  <recv request="{request}">\n    <action>{action}</action>\n  </recv>\n' + OK_200
    return f'  <recv request="{request}"/>\n' + OK_200


def seat_request(method: str, cseq: int, headers: str = "", user: str = "8001") -> str:
    """Scenario text: a seat (the UAS of the dialog, whose INVITE's From was stored in
    ``$remote_from``) sends an in-dialog request to us, retransmitted until answered."""
    extra = "".join(f"      {h}\n" for h in headers.splitlines() if h.strip())
    return f"""  <send retrans="500">
    <![CDATA[
      {method} sip:scanhub@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{user}@[local_ip]>;tag=[pid]seat[call_number]
      To: [$remote_from]
      [last_Call-ID:]
      CSeq: {cseq} {method}
{extra}      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
"""


def stop_all(procs) -> None:
    """Terminate processes started by a test, then wait for each (kill after 15 s)."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def write_baresip(d: Path, pbx_addr: str, ext: str, password: str, port: int, rtp: int, say: Path,
                  modules: tuple[str, ...] = ()) -> Path:
    """A baresip configuration in ``d``: seat ``ext`` registered at ``pbx_addr``, answering at
    once, saying the WAV ``say`` and recording what it hears (sndfile: dump-*-dec.wav in ``d``)."""
    extra = "".join(f"module {m}\n" for m in modules)
    (d / "config").write_text(f"""poll_method epoll
sip_listen 127.0.0.1:{port}
audio_source aufile,{say}
audio_player aubridge,x
ausrc_srate 8000
auplay_srate 8000
ausrc_channels 1
auplay_channels 1
rtp_ports {rtp}-{rtp + 20}
snd_path {d}
module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module aubridge.so
module sndfile.so
module account.so
{extra}""")
    (d / "accounts").write_text(f"<sip:{ext}@{pbx_addr}>;auth_pass={password};answermode=auto;regint=600;"
                                "audio_codecs=PCMA\n")
    return d
