"""Live calls through the IVR: a SIPp caller on the trunk walks a flow by RFC 4733 digits, tracks a
parcel the scan pipeline put in the store and hears its status (checked in the call's recording:
every expected prompt, sample for sample, in order); a caller leaves a voicemail whose WAV holds
the caller's audio; the dial plan refuses a flow that is not loaded."""
from __future__ import annotations

import random
import uuid
import wave

import pytest

from conftest import SAMPLE, wait_for, wb
from sip_peers import Sipp, free_udp_port
from test_telephony_media import PCAP, pcap_rtp_payloads
from test_telephony_sip import cdrs, pbx, target  # noqa: F401 - the pbx fixture

WB = wb(16)
FLOW = """
flow: t
timezone: "+08:00"
start: main
prompts_dir: prompts
prompts: {main_menu: m, enter_waybill: e, bye: b, leave: l, saved: s, invalid_key: i, no_input: n}
nodes:
  main: {type: menu, play: main_menu, keys: {"1": waybill, "2": vm}, timeout_s: 5, retries: 2,
         invalid: invalid_key, no_input: no_input, exhausted: bye}
  waybill: {type: collect, play: enter_waybill, into: waybill, min: 10, max: 20, terminator: "#",
            timeout_s: 8, retries: 2, invalid: invalid_key, next: track, exhausted: bye}
  track: {type: service, service: track, next: bye, fail: bye}
  bye: {type: hangup, play: bye}
  vm: {type: voicemail, box: complaints, play: leave, after: saved, max_s: 8}
"""

DIGIT_PCAP = {"#": "pound", "*": "star"}


def flow_with_prompts(tmp_path, extra: str = "", key3: str | None = None, text: str | None = None):
    """The test flow (with ``extra`` nodes, and key 3 going to ``key3``), with every prompt it may play made as 0.4 s of distinct noise (A-law WAV)."""
    from drivers.e1_card import alaw
    from hub.ivr import prompts
    from hub.ivr.flow import load_flow
    path = tmp_path / "flow.yaml"
    text = (text or FLOW) + extra
    if key3:
        text = text.replace('"2": vm}', f'"2": vm, "3": {key3}}}')
    path.write_text(text)
    flow = load_flow(str(path))
    rng = random.Random(7)
    for pid in prompts.texts(flow, prompts.site_texts()):
        p = prompts.path_of(flow, pid)
        import os
        os.makedirs(os.path.dirname(p), exist_ok=True)
        samples = [rng.randint(-6000, 6000) for _ in range(3200)]
        with open(p, "wb") as f:
            data = alaw.encode(samples)
            import struct
            fmt = struct.pack("<HHIIHH", 6, 1, 8000, 8000, 1, 8)
            f.write(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data)) + b"WAVE" +
                    b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data)
    return flow


def key_pcap(tmp_path, key: str, n: int) -> str:
    """SIPp's RFC 4733 pcap of ``key`` with its RTP timestamps moved by ``n`` seconds: SIPp replays a
    pcap as it is, and the same key twice with the same timestamp is one key pressed once."""
    import struct
    src = f"/usr/share/sip-tester/dtmf_2833_{DIGIT_PCAP.get(key, key)}.pcap"
    data = bytearray(open(src, "rb").read())
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        ip = off + 16 + 14
        rtp = ip + (data[ip] & 0x0F) * 4 + 8
        ts = struct.unpack_from("!I", data, rtp + 4)[0]
        struct.pack_into("!I", data, rtp + 4, (ts + 8000 * n) & 0xFFFFFFFF)
        udp = ip + (data[ip] & 0x0F) * 4
        struct.pack_into("!H", data, udp + 6, 0)                # no UDP checksum to keep right
        off += 16 + incl
    path = tmp_path / f"key-{DIGIT_PCAP.get(key, key)}-{n}.pcap"
    path.write_bytes(bytes(data))
    return str(path)


def caller_scenario(tmp_path, steps: list, name="ivr_caller") -> str:
    """A SIPp caller: INVITE, then ``steps`` (("pause", ms) | ("key", k) | ("audio",)), then it waits
    for our BYE (the flow hangs up)."""
    body = []
    for n, s in enumerate(steps):
        if s[0] == "pause":
            body.append(f'  <pause milliseconds="{s[1]}"/>')
        elif s[0] == "key":
            body.append(f'  <nop><action><exec play_pcap_audio="{key_pcap(tmp_path, s[1], n)}"/>'
                        '</action></nop>\n  <pause milliseconds="250"/>')
        else:
            body.append(f'  <nop><action><exec play_pcap_audio="{PCAP}"/></action></nop>')
    src = open(__file__.replace("test_callflow_ivr.py", "data/sipp/caller_media.xml")).read()
    head = src[:src.index("  <nop>")]
    text = head + "\n".join(body) + """
  <recv request="BYE" timeout="30000"/>
  <send>
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
</scenario>
"""
    path = tmp_path / f"{name}.xml"
    path.write_text(text)
    return str(path)


def _store_parcel() -> None:
    """The sample network and a parcel received at 100 and dispatched to 900, through the pipeline."""
    from hub.ingest import pipeline
    from hub.network.basic_data import import_network
    from hub.network.file import load_network
    import_network(load_network(SAMPLE))
    t0 = 1_764_633_600_000
    committed, rejected = pipeline.commit([
        {"id": uuid.uuid4().hex, "station": "st-100-1", "epoch": "e1", "seq": 1, "kind": "receive", "waybill": WB,
         "site": "100", "edge_ms": t0, "event_ms": t0, "operator": "1001"},
        {"id": uuid.uuid4().hex, "station": "st-100-1", "epoch": "e1", "seq": 2, "kind": "dispatch", "waybill": WB,
         "site": "100", "edge_ms": t0 + 60_000, "event_ms": t0 + 60_000, "next_site": "900"}])
    assert rejected == []


@pytest.fixture
def ivr_pbx(tmp_path, pbx):  # noqa: F811
    from hub.callflow.apps import install
    _store_parcel()
    flow = flow_with_prompts(tmp_path)
    trunk_port = free_udp_port()
    p = pbx(trunk_port, recording={"default": True}, dialplan=[{"number": "95311", "to": "ivr t"}])
    apps = install(p, {"t": flow}, voicemail_dir=str(tmp_path / "voicemail"))
    return p, trunk_port, flow, apps


def heard_by_caller(c) -> bytes:
    """Channel 1 of the call's recording (what the caller was sent), 16-bit samples."""
    with wave.open(c["recording"]) as w:
        frames = w.readframes(w.getnframes())
    return b"".join(frames[i + 2:i + 4] for i in range(0, len(frames), 4))


def prompt_pcm(apps, flow, pid) -> bytes:
    from hub.telephony.rtp import pcm16
    return pcm16(apps.prompt(flow, pid), "PCMA")


def assert_heard_in_order(heard: bytes, apps, flow, ids):
    at = 0
    for pid in ids:
        piece = prompt_pcm(apps, flow, pid)[800:800 + 3200]          # 0.2 s from inside the prompt
        found = heard.find(piece, at)
        assert found >= 0, f"prompt {pid} not heard after byte {at} (expected {ids})"
        at = found + len(piece)


def test_a_sip_caller_tracks_a_parcel_by_rfc4733_digits_and_hears_its_status(tmp_path, ivr_pbx):
    p, trunk_port, flow, apps = ivr_pbx
    steps = [("pause", 1200), ("key", "1"), ("pause", 1200)] + [("key", k) for k in WB + "#"]
    caller = Sipp(tmp_path, caller_scenario(tmp_path, steps), target(p), port=trunk_port,
                  args=["-s", "95311", "-m", "1", "-mp", str(free_udp_port(pairs=True))])
    caller.run(120)
    caller.expect_success()
    wait_for(lambda: len(cdrs()) == 1, 15, "the CDR")
    (c,) = cdrs()
    assert c["disposition"] == "answered"
    from hub.telephony.cdr import show_call
    events = show_call(c["call_id"])["events"]
    keys = [e["data"]["key"] for e in events if e["kind"] == "dtmf"]
    assert "".join(keys) == "1" + WB + "#"
    ivr = [e["data"] for e in events if e["kind"] == "ivr"]
    svc = [e for e in ivr if e["event"] == "service"]
    assert svc and svc[0]["outcome"] == "ok" and svc[0]["status"] == "in transit", svc
    assert [e["key"] for e in ivr if e["event"] == "digit"] == list("1" + WB + "#")
    expected = ["main_menu", "enter_waybill", "track/intro", "status/dispatch", "track/at", "site/100",
                "track/next", "site/900", "bye"]
    wait_for(lambda: c["recording"] and __import__("os").path.exists(c["recording"]), 10, "the recording")
    assert_heard_in_order(heard_by_caller(c), apps, flow, expected)


def assert_the_message_holds_the_callers_audio(tmp_path, m, apps, flow) -> None:
    """The message's WAV holds pieces of what the SIPp caller said (the sample pcap), and the
    caller heard the menu, the voicemail prompt and the saved notice, in that order."""
    with wave.open(str(tmp_path / "voicemail" / m["file"])) as w:
        heard = w.readframes(w.getnframes())
    from hub.telephony.rtp import pcm16
    said = pcm16(b"".join(pcap_rtp_payloads(PCAP)), "PCMA")
    for at_s in (1, 2, 3):
        piece = said[2 * 8000 * at_s:2 * 8000 * at_s + 1600]
        assert heard.find(piece) >= 0, at_s
    (c,) = cdrs()
    assert_heard_in_order(heard_by_caller(c), apps, flow, ["main_menu", "leave", "saved"])


def test_a_voicemail_holds_the_callers_audio(tmp_path, ivr_pbx):
    p, trunk_port, flow, apps = ivr_pbx
    steps = [("pause", 1200), ("key", "2"), ("pause", 1200), ("audio",), ("pause", 5000), ("key", "#")]
    caller = Sipp(tmp_path, caller_scenario(tmp_path, steps, "vm_caller"), target(p), port=trunk_port,
                  args=["-s", "95311", "-m", "1", "-mp", str(free_udp_port(pairs=True))])
    caller.run(120)
    caller.expect_success()
    wait_for(lambda: len(cdrs()) == 1, 15, "the CDR")
    from hub.ivr import voicemail
    (m,) = voicemail.messages()
    assert m["box"] == "complaints" and m["caller"] == "13912345678" and m["menu_path"] == "main > vm"
    assert 3000 <= m["duration_ms"] <= 9000
    assert_the_message_holds_the_callers_audio(tmp_path, m, apps, flow)


def test_a_caller_nobody_answers_overflows_into_the_voicemail_box(tmp_path, pbx):  # noqa: F811
    """Key 3 joins queue service, where no agent is logged in; after its 2 s timeout the queue's
    overflow ``voicemail:complaints`` sends the caller to the flow's voicemail node of that box:
    they hear its prompt, leave a message with their audio, and the queue log says EXITWITHTIMEOUT
    (so the caller is on the callback list too)."""
    from hub.acd import store as qstore
    from hub.acd.config import parse_queues
    from hub.callflow.apps import install
    flow = flow_with_prompts(tmp_path, extra="  agent: {type: transfer, queue: service}\n", key3="agent")
    trunk_port = free_udp_port()
    p = pbx(trunk_port, recording={"default": True}, dialplan=[{"number": "95311", "to": "ivr t"}])
    queues = {"agents": [{"id": "8001"}],
              "queues": [{"name": "service", "members": [{"agent": "8001"}], "timeout_s": 2,
                          "overflow": "voicemail:complaints"}]}
    apps = install(p, {"t": flow}, parse_queues(queues), voicemail_dir=str(tmp_path / "voicemail"))
    steps = [("pause", 1000), ("key", "3"), ("pause", 4000), ("audio",), ("pause", 5000), ("key", "#")]
    caller = Sipp(tmp_path, caller_scenario(tmp_path, steps, "overflow_caller"), target(p), port=trunk_port,
                  args=["-s", "95311", "-m", "1", "-mp", str(free_udp_port(pairs=True))])
    caller.run(120)
    caller.expect_success()
    wait_for(lambda: len(cdrs()) == 1, 15, "the CDR")
    from hub.ivr import voicemail
    wait_for(lambda: len(voicemail.messages()) == 1, 15, "the message")
    (m,) = voicemail.messages()
    assert m["box"] == "complaints" and m["caller"] == "13912345678"
    assert_the_message_holds_the_callers_audio(tmp_path, m, apps, flow)
    assert [e.event for e in qstore.entries() if e.callid != "NONE"][-2:] == ["ENTERQUEUE", "EXITWITHTIMEOUT"]


def test_a_queue_target_no_flow_has_is_refused_when_the_pbx_starts(tmp_path, pbx):  # noqa: F811
    from hub.acd.config import parse_queues
    from hub.callflow.apps import install
    from hub.callflow.errors import CallflowError
    flow = flow_with_prompts(tmp_path)
    p = pbx(free_udp_port(), dialplan=[{"number": "95311", "to": "ivr t"}])
    queues = {"agents": [{"id": "8001"}],
              "queues": [{"name": "service", "members": [{"agent": "8001"}], "overflow": "voicemail:sales",
                          "exit_keys": {"0": "ivr:nowhere"}}]}
    with pytest.raises(CallflowError) as e:
        install(p, {"t": flow}, parse_queues(queues))
    assert "queue service: overflow voicemail:sales needs a voicemail node recording into box 'sales'" in str(e.value)
    assert "exit_keys.0 ivr:nowhere" in str(e.value)


def test_the_dial_plan_must_name_loaded_flows(tmp_path, pbx):  # noqa: F811
    from hub.callflow.apps import install
    from hub.callflow.errors import CallflowError
    p = pbx(free_udp_port(), dialplan=[{"number": "95311", "to": "ivr hotline"},
                                       {"number": "95312", "to": "queue service"}])
    with pytest.raises(CallflowError, match="IVR flow 'hotline'.*queue 'service' but no --queues"):
        install(p, {})


def test_an_e1_caller_tracks_a_parcel_by_in_band_dtmf(tmp_path, pbx):  # noqa: F811
    """The simulated carrier calls on the R2 span, keys the menu and the waybill as in-band tones;
    what the carrier hears back holds every expected prompt, bit for bit (A-law end to end)."""
    from drivers.e1_card import alaw
    from drivers.e1_card.dtmf import dtmf_samples
    from hub.callflow.apps import install
    from test_telephony_e1 import idle
    _store_parcel()
    flow = flow_with_prompts(tmp_path)
    trunk_port = free_udp_port()
    p = pbx(trunk_port,
            trunks=[{"name": "carrier", "kind": "sip", "host": "127.0.0.1", "port": trunk_port},
                    {"name": "ct-bj-1", "kind": "e1", "span": 1, "protocol": "r2-cn", "max_dnis": 5}],
            dialplan=[{"number": "95311", "to": "ivr t"}])
    apps = install(p, {"t": flow}, voicemail_dir=str(tmp_path / "voicemail"))
    span = p.e1.spans["ct-bj-1"]
    out = p.call(lambda: span.carrier.dial("95311", "13912345678"))
    wait_for(lambda: p.call(lambda: out.state) == "answered", 20, "the IVR answered the carrier's call")
    heard = bytearray()

    def take():
        heard.extend(p.call(lambda: (bytes(out.audio_in), out.audio_in.clear())[0]))
    silence = bytes([alaw.SILENCE]) * 160

    def keys(text):
        p.call(lambda: [out.play(alaw.encode(dtmf_samples(k, 800)) + silence * 4) for k in text])
    wait_for(lambda: (take(), heard.find(apps.prompt(flow, "main_menu")) >= 0)[1], 20, "the menu heard")
    keys("1")
    wait_for(lambda: (take(), heard.find(apps.prompt(flow, "enter_waybill")) >= 0)[1], 20, "asked for the waybill")
    keys(WB + "#")
    def got():
        return "".join(e.data["key"] for c in p.call(lambda: list(p.switch.calls.values())) for e in c.events
                       if e.kind == "dtmf")
    try:
        wait_for(lambda: (take(), heard.find(apps.prompt(flow, "bye")) >= 0)[1], 60, "the status and goodbye")
    except pytest.fail.Exception:
        from hub.telephony.cdr import show_call
        evs = [(e["kind"], e["data"].get("event"), e["data"].get("key")) for c in cdrs()
               for e in show_call(c["call_id"])["events"]]
        pytest.fail(f"no goodbye; the keys heard: {got()!r}; {evs}")
    at = 0
    for pid in ["main_menu", "enter_waybill", "track/intro", "status/dispatch", "track/at", "site/100",
                "track/next", "site/900", "bye"]:
        found = heard.find(apps.prompt(flow, pid)[400:2000], at)
        assert found >= 0, pid
        at = found
    wait_for(lambda: len(cdrs()) == 1, 20, "the CDR")
    from hub.telephony.cdr import show_call
    events = show_call(cdrs()[0]["call_id"])["events"]
    assert "".join(e["data"]["key"] for e in events if e["kind"] == "dtmf" and e["data"].get("via") == "inband") \
        == "1" + WB + "#"
    wait_for(lambda: idle(p, span), 15, "every timeslot idle")


def test_a_call_at_night_gets_the_closed_flow(tmp_path, pbx):  # noqa: F811
    from hub.callflow.apps import install
    from test_ivr_engine import Clock
    night = FLOW.replace("start: main", "start: hours").replace("nodes:\n", """schedules:
  office: {mon-fri: ["08:30-18:00"]}
nodes:
  hours: {type: schedule, schedule: office, open: main, closed: closed}
  closed: {type: hangup, play: closed}
""").replace("bye: b,", "bye: b, closed: c,")
    (tmp_path / "night").mkdir()
    flow = flow_with_prompts(tmp_path / "night", text=night)
    trunk_port = free_udp_port()
    p = pbx(trunk_port, recording={"default": True}, dialplan=[{"number": "95311", "to": "ivr t"}])
    apps = install(p, {"t": flow}, clock=Clock("2026-12-02 03:00"))
    caller = Sipp(tmp_path, caller_scenario(tmp_path, [("pause", 100)], "night"), target(p), port=trunk_port,
                  args=["-s", "95311", "-m", "1", "-mp", str(free_udp_port(pairs=True))])
    caller.expect_success(60)
    wait_for(lambda: len(cdrs()) == 1, 15, "the CDR")
    (c,) = cdrs()
    from hub.telephony.cdr import show_call
    ivr = [e["data"] for e in show_call(c["call_id"])["events"] if e["kind"] == "ivr"]
    assert [e["state"] for e in ivr if e["event"] == "schedule"] == ["closed"]
    wait_for(lambda: __import__("os").path.exists(c["recording"]), 10, "the recording")
    assert_heard_in_order(heard_by_caller(c), apps, flow, ["closed"])
    assert prompt_pcm(apps, flow, "main_menu")[800:4000] not in heard_by_caller(c)


@pytest.mark.timeout(150)
def test_the_dtmf_bench_runs_quick():
    import json
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = subprocess.run([sys.executable, os.path.join(root, "bench", "telephony.py"), "--section", "dtmf", "--quick",
                        "--rounds", "2", "--json"], cwd=root, env=dict(os.environ, PYTHONPATH=root),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    res = json.loads(p.stdout.strip().splitlines()[-1])
    assert "dtmf_p99" in res["headline"] and isinstance(res["rows"]["dtmf_p99"]["figure"]["median"], (int, float))
