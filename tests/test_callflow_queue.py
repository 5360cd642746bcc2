"""Live calls through the queues: SIPp callers choose the queue by IVR digit (RFC 4733), two SIPp
agents at registered seats answer and hang up after exponential talk times.  From the system's own
queue log: every call's wait equals a plain first-come-first-served reference model's fed the same
arrivals and talk times (within the step: the ring and answer signalling); abandoned callers have
callback entries; CDRs and the queue log reconcile; no call, dialog or media port is left."""
from __future__ import annotations

import heapq

import pytest

from conftest import wait_for
from sip_peers import Sipp, free_udp_port
from test_callflow_ivr import caller_scenario, flow_with_prompts
from test_telephony_sip import PASSWORD, cdrs, pbx, register, target  # noqa: F401 - the pbx fixture

STEP_MS = 1000          # ring + answer signalling and the loop's scheduling, on a loaded machine

AGENT = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="agent answering, talking an exponential time, hanging up">
  <recv request="INVITE" crlf="true">
    <action><ereg regexp=".*" search_in="hdr" header="From:" assign_to="remote_from"/></action>
  </recv>
  <send>
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
  <pause milliseconds="100"/>
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
  <recv request="ACK" crlf="true"/>
  <pause distribution="exponential" mean="MEAN_MS"/>
  <send retrans="500">
    <![CDATA[
      BYE sip:scanhub@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:agent@[local_ip]>;tag=[pid]agent[call_number]
      To: [$remote_from]
      [last_Call-ID:]
      CSeq: 1 BYE
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>
</scenario>
"""

QUEUES = {"agents": [{"id": "8001"}, {"id": "8002"}],
          "queues": [{"name": "service", "strategy": "leastrecent", "ring_timeout_s": 10, "retry_s": 0,
                      "members": [{"agent": "8001"}, {"agent": "8002"}]}]}

FLOW_QUEUE = """
  agent: {type: transfer, queue: service}
"""


def media_ports() -> str:
    """A first port for SIPp's media: it binds that one and the next three (audio and video pairs)."""
    from sip_peers import port_taken
    for _ in range(100):
        port = free_udp_port(pairs=True)
        if not port_taken(port + 2) and not port_taken(port + 3):
            return str(port)
    raise RuntimeError("no four free UDP ports in a row")


def reference_waits(agents: int, arrivals, talks):
    """FCFS with identical servers: each caller's wait (ms)."""
    free = [arrivals[0]] * agents
    heapq.heapify(free)
    out = []
    for t, talk in zip(arrivals, talks):
        start = max(t, free[0])
        heapq.heapreplace(free, start + talk)
        out.append(start - t)
    return out


def test_callers_choose_the_queue_by_digit_and_wait_as_the_reference_model(tmp_path, pbx):  # noqa: F811
    queue_calls(tmp_path, pbx, 10)


@pytest.mark.slow
def test_fifty_calls_through_the_queue(tmp_path, pbx):  # noqa: F811
    queue_calls(tmp_path, pbx, 50, talk_ms=1500)


def queue_calls(tmp_path, pbx, calls: int, talk_ms: int = 2500):  # noqa: F811
    """``calls`` callers, one every 1.2 s, two agents talking ``talk_ms`` on average (exponential)."""
    from hub.acd import callbacks, kpi
    from hub.acd import store as qstore
    from hub.acd.config import parse_queues
    from hub.callflow.apps import install
    flow = flow_with_prompts(tmp_path, extra=FLOW_QUEUE, key3="agent")
    trunk_port = free_udp_port()
    p = pbx(trunk_port, dialplan=[{"number": "95311", "to": "ivr t"}])
    ports = [register(tmp_path, p, "8001", PASSWORD), register(tmp_path, p, "8002", "pw-8002")]
    agent_xml = tmp_path / "agent.xml"
    agent_xml.write_text(AGENT.replace("MEAN_MS", str(talk_ms)))
    agents = [Sipp(tmp_path, str(agent_xml), target(p), port=port, name=f"agent-{port}",
                   args=["-m", str(calls), "-timeout", f"{60 + 6 * calls}s", "-mp", media_ports()]).listening() for port in ports]
    apps = install(p, {"t": flow}, parse_queues(QUEUES), queue_log=str(tmp_path / "queue_log"),
                   logins={"8001": "8001", "8002": "8002"}, voicemail_dir=str(tmp_path / "vm"))
    steps = [("pause", 1000), ("key", "3")]
    scen = caller_scenario(tmp_path, steps, "queue_caller")
    text = open(scen).read().replace("13912345678", "1390000[call_number]")
    open(scen, "w").write(text)
    callers = Sipp(tmp_path, scen, target(p), port=trunk_port,
                   args=["-s", "95311", "-m", str(calls), "-r", "1", "-rp", "1200", "-l", str(calls),
                         "-timeout", f"{60 + 6 * calls}s", "-mp", media_ports()])
    callers.run(60 + 6 * calls)
    callers.expect_success(60 + 6 * calls)
    wait_for(lambda: len(cdrs()) == calls, 30, "every CDR")
    for a in agents:
        a.stop()
    # two callers who give up while both agents are paused: abandoned, and on the callback list
    p.call(lambda: [apps.acd.agent("pause", a, "break") for a in ("8001", "8002")])
    leaver = caller_scenario(tmp_path, steps + [("pause", 2000)], "leaver")
    text = open(leaver).read()
    text = text.replace("13912345678", "1391111[call_number]")
    head, _, _ = text.partition('  <recv request="BYE" timeout="30000"/>')
    bye = open(__file__.replace("test_callflow_queue.py", "data/sipp/caller_media.xml")).read()
    bye = bye[bye.index('  <send retrans="500">\n    <![CDATA[\n      BYE'):]
    open(leaver, "w").write(head + bye.replace("13912345678", "1391111[call_number]"))
    gone = Sipp(tmp_path, leaver, target(p), port=trunk_port, args=["-s", "95311", "-m", "2", "-l", "2"])
    gone.run(120)
    gone.expect_success(120)
    wait_for(lambda: len(cdrs()) == calls + 2, 30, "every CDR")
    # the engine's sink writes the file first, then the store: the CDR may come before either
    from hub.acd.queue_log import read_file
    wait_for(lambda: sum(e.event == "ABANDON" for e in qstore.entries()) == 2
             and len(read_file(str(tmp_path / "queue_log"))) == len(qstore.entries()), 30,
             "both abandons in the store and the file")

    log = qstore.entries()
    rows = sorted((r for r in kpi.call_waits(log) if r["caller"].startswith("1390000")),
                  key=lambda r: r["entered_ms"])
    assert len(rows) == calls and all(r["outcome"] == "answered" and r["talk_ms"] is not None for r in rows), rows
    ref = reference_waits(2, [r["entered_ms"] for r in rows],
                          [r["talk_ms"] for r in rows])
    for r, w in zip(rows, ref):
        assert abs(r["wait_ms"] - w) <= STEP_MS, (r, w)
    assert any(w > 0 for w in ref), "the agents were never all busy: the test shows nothing"
    # the file says what the store says
    assert [e.line() for e in read_file(str(tmp_path / "queue_log"))] == [e.line() for e in log]
    # abandoned callers are on the callback list; answered calls are never counted abandoned
    left = [r for r in kpi.call_waits(log) if r["caller"].startswith("1391111")]
    assert [r["outcome"] for r in left] == ["abandon", "abandon"]
    callbacks.refresh()
    assert sorted(c["caller"] for c in callbacks.listing()) == \
        sorted(r["caller"] for r in left)
    by_call = {c["call_id"]: c for c in cdrs()}
    answered_in_log = {r["call"] for r in rows}
    assert all(by_call[cid]["disposition"] == "answered" for cid in answered_in_log)
    assert p.call(lambda: apps.acd.engine.check()) == []
    assert p.call(lambda: [a["state"] for a in apps.acd.engine.snapshot()["agents"]]) == ["paused", "paused"]


if __name__ == "__main__":
    pytest.main([__file__])
