"""Conference and supervision heard by real softphones: three baresip seats, each saying a tone of
its own (customer 440 Hz, agent 1000 Hz, supervisor 1700 Hz) and recording what it hears.  The
tones found in each recording prove who hears whom: a supervisor who listens hears both and is
heard by none, one who whispers is heard by the agent only, one who barges by both; in a
three-way conference everybody hears the two others."""
from __future__ import annotations

import shutil
import subprocess
import wave

import numpy as np
import pytest

from conftest import needs, wait_for
from sip_peers import free_udp_port, stop_all, write_baresip
from test_telephony_baresip import free_tcp_and_udp_port
from test_telephony_sip import pbx, target  # noqa: F401 - the pbx fixture

TONES = {"8003": 440, "8002": 1000, "8001": 1700}       # customer, agent, supervisor
SEATS = [{"extension": e, "password": f"pw-{e}"} for e in TONES]
DIALPLAN = [{"number": e, "to": f"seat {e}", "ring_s": 10} for e in TONES]
WINDOW = 4000                                            # 0.5 s


def phone(tmp_path, p, ext: str, rtp: int, dial: str | None = None):
    d = tmp_path / f"baresip-{ext}"
    d.mkdir()
    t = np.arange(8000 * 90)
    tone = (2000 * np.sin(2 * np.pi * TONES[ext] * t / 8000)).astype("<i2")
    with wave.open(str(d / "say.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(tone.tobytes())
    write_baresip(d, target(p), ext, f"pw-{ext}", free_tcp_and_udp_port(), rtp, d / "say.wav", ("menu.so",))
    args = ["baresip", "-f", str(d), "-t", "120"] + (["-e", f"/dial sip:{dial}@{target(p)}"] if dial else [])
    log = open(d / "log", "wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return d, proc


def _recording(d) -> np.ndarray | None:
    """What the phone heard, once it has finished writing its recording (at the call's end)."""
    for rec in d.glob("dump-*-dec.wav"):
        try:
            with wave.open(str(rec)) as w:
                return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(float)
        except (wave.Error, EOFError):
            return None
    return None


def heard(d) -> dict[int, list[bool]]:
    """For each tone: in which 0.5 s windows of the phone's recording it is present."""
    wait_for(lambda: _recording(d) is not None, 15, f"the recording in {d.name}")
    x = _recording(d)
    out = {f: [] for f in TONES.values()}
    for i in range(0, len(x) - WINDOW + 1, WINDOW):
        spec = np.abs(np.fft.rfft(x[i:i + WINDOW]))
        for f in out:
            out[f].append(spec[f * WINDOW // 8000] > 2000 * WINDOW / 2 / 8)
    return out


@pytest.fixture
def three_phones(tmp_path, pbx):  # noqa: F811
    if shutil.which("baresip") is None:
        needs("baresip", "install the Debian package baresip (make system-deps does)")
    p = pbx(free_udp_port(), seats=SEATS, dialplan=DIALPLAN)
    procs, dirs = [], {}
    try:
        from sip_peers import free_udp_range
        for ext in ("8002", "8001"):
            dirs[ext], proc = phone(tmp_path, p, ext, free_udp_range(22))
            procs.append(proc)
        wait_for(lambda: {"8001", "8002"} <= {s["seat"] for s in p.snapshot()["seats"]}, 20, "agent and supervisor registered")
        dirs["8003"], proc = phone(tmp_path, p, "8003", free_udp_range(22), dial="8002")
        procs.append(proc)
        wait_for(lambda: any(sum(leg["state"] == "answered" for leg in c["legs"]) == 2 for c in p.snapshot()["calls"]),
                 30, "the customer's call answered by the agent")
        call = p.call(lambda: next(iter(p.switch.calls.values())))
        yield p, call, dirs
    finally:
        stop_all(procs)


def _ticks(p, call, n: int, what: str) -> None:
    """Wait until the call's mixer has mixed ``n`` more frames (20 ms each)."""
    mixer = p.call(lambda: p.media.mixer(call))
    start = mixer.ticks
    wait_for(lambda: mixer.ticks >= start + n, 10 + n / 25, what)


def _joined(p, call, ext):
    wait_for(lambda: any(e.kind == "joined" and e.data.get("role") for e in list(call.events)), 20, f"{ext} joined")


def _end(p, call):
    p.call(lambda: call.a.hangup("normal"))
    wait_for(lambda: call.ended, 10, "the call to end")


def test_supervisor_listens_then_whispers_then_barges(three_phones):
    p, call, dirs = three_phones
    p.call(p.switch.supervise, call, "8001", "listen")
    _joined(p, call, "the supervisor")
    _ticks(p, call, 200, "4 s of listening")
    p.call(p.switch.supervise, call, "8001", "whisper")
    _ticks(p, call, 200, "4 s of whispering")
    p.call(p.switch.supervise, call, "8001", "barge")
    _ticks(p, call, 200, "4 s of barging")
    _end(p, call)
    modes = [e.data["mode"] for e in call.events if e.kind == "supervise"]
    assert modes == ["listen", "whisper", "barge"]
    customer, agent, sup = heard(dirs["8003"]), heard(dirs["8002"]), heard(dirs["8001"])
    n_sup = len(sup[440])
    assert sum(sup[440]) >= n_sup - 3 and sum(sup[1000]) >= n_sup - 3, "the supervisor hears both all along"
    assert sum(customer[1000]) >= len(customer[1000]) - 3, "the customer hears the agent all along"
    assert sum(agent[440]) >= len(agent[440]) - 3, "the agent hears the customer all along"
    heard_by_agent, heard_by_customer = sum(agent[1700]), sum(customer[1700])
    # 12 s supervised = about 24 windows: the agent hears whisper and barge (about 16), the customer
    # the barge only (about 8), nobody the listening
    assert 5 <= heard_by_customer <= 12, heard_by_customer
    assert heard_by_agent >= heard_by_customer + 5, (heard_by_agent, heard_by_customer)
    assert heard_by_agent <= n_sup - 5, (heard_by_agent, n_sup)
    # and nobody heard the supervisor while it listened: its tone is absent from the start of both
    first = agent[1700].index(True)
    assert not any(customer[1700][:first + 5]), "the customer heard the whisper"


def test_three_way_conference_everyone_hears_the_other_two(three_phones):
    p, call, dirs = three_phones
    leg = p.call(p.switch.conference, call, "8001")
    assert leg.seat == "8001"
    _joined(p, call, "the third party")
    _ticks(p, call, 250, "5 s of conference")
    p.call(lambda: call.a.hangup("normal"))          # the customer leaves: the other two talk on
    wait_for(lambda: not call.a.active, 10, "the customer's leg to end")
    assert p.call(lambda: not call.ended and call.id in p.switch.calls)
    agent = next(leg for leg in call.legs if leg.seat == "8002")
    p.call(lambda: agent.hangup("normal"))             # then only one is left: the call ends
    wait_for(lambda: call.ended, 10, "the call to end")
    assert call.disposition == "answered"
    third = heard(dirs["8001"])
    for ext, h in (("8003", heard(dirs["8003"])), ("8002", heard(dirs["8002"])), ("8001", third)):
        others = [f for e, f in TONES.items() if e != ext]
        for f in others:
            assert sum(h[f]) >= 7, (ext, f, sum(h[f]))
        # a party does not hear itself back beyond the codec's faint echo (never its own tone)
        assert sum(h[TONES[ext]]) <= 1, (ext, sum(h[TONES[ext]]))


def test_supervisor_takes_over_and_the_agent_leaves(three_phones):
    """The queues' takeover: the supervisor joins, becomes a party, the agent is hung up; the
    customer then hears the supervisor and the call goes on until the customer leaves."""
    p, call, dirs = three_phones
    leg = p.call(p.switch.supervise, call, "8001", "takeover")
    _joined(p, call, "the supervisor")
    agent = next(m for m in call.legs if m.seat == "8002")
    wait_for(lambda: not agent.active, 10, "the agent to be hung up")
    assert leg.active and not call.ended
    _ticks(p, call, 150, "3 s of the supervisor with the customer")
    _end(p, call)
    modes = [e.data["mode"] for e in call.events if e.kind == "supervise"]
    assert modes == ["barge", "takeover"], modes
    customer = heard(dirs["8003"])
    assert sum(customer[1700]) >= 4, "the customer hears the supervisor after the takeover"
    assert sum(heard(dirs["8001"])[440]) >= 4, "the supervisor hears the customer"
