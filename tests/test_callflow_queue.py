"""Live calls through the queues, over SIP and E1.  Callers arrive as a Poisson process (seeded):
SIPp callers on the SIP trunk, and the simulated carrier's callers on a China No.1 (MFC-R2) span
and a PRI span; each chooses the queue by an IVR digit (RFC 4733 on SIP, in-band DTMF on E1).
SIPp agents at registered seats answer and hang up after exponential talk times (seeded).

From the system's own queue log: every call's wait equals a plain first-come-first-served
reference model's, fed per call the arrival (ENTERQUEUE) and the agent's busy time for it (from
the moment the call was offered to the agent, CONNECT less its ring time in ms, to the moment the
agent was free again, the WRAPUPEND after the call's end), to the engine's clock step; the agents
were often all busy; abandoned callers have callback entries; CDRs and the queue log reconcile;
no call, dialog, media port or E1 timeslot is left."""
from __future__ import annotations

import heapq
import random
import time

import pytest

from conftest import wait_for
from sip_peers import Sipp, free_udp_port, ring_and_answer, send_bye
from test_callflow_ivr import caller_scenario, flow_with_prompts
from test_telephony_e1 import idle
from test_telephony_sip import PASSWORD, cdrs, pbx, register, target  # noqa: F401 - the pbx fixture

#: the engine's clock step: it reads whole milliseconds (contract.clock.now_ms), and one event's
#: entries (an agent free, the next caller offered to them) carry the same millisecond
STEP_MS = 1
SEED = 20240611

#: a seat's SIPp: rings 100 ms, answers, talks an exponential time (mean MEAN_MS), hangs up.  A
#: PBX slow to read (a loaded machine) retransmits its INVITE (RFC 3261 timer A) while the 200
#: waits in its socket: a copy during the ring ends the ring, a copy before the ACK is absorbed
#: (SIPp aborts a call on a request it does not expect, and the call would stay connected)
AGENT = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="agent answering, talking an exponential time, hanging up">
  <recv request="INVITE" crlf="true">
    <action><ereg regexp=".*" search_in="hdr" header="From:" assign_to="remote_from"/></action>
  </recv>
""" + ring_and_answer(100) + """  <pause distribution="exponential" mean="MEAN_MS"/>
""" + send_bye("agent") + """  <recv response="200"/>
</scenario>
"""

#: what the agents of this test talk instead: the ms of their injection file's line (seeded)
TALK = """  <nop><action><assignstr assign_to="t" value="[field0]"/><todouble assign_to="talk" variable="t"/></action></nop>
  <pause variable="talk"/>
"""

#: the first thing a SIP caller does: wait until its arrival (ms after SIPp started, field 0)
ARRIVE = """  <nop><action><assignstr assign_to="a" value="[field0]"/><todouble assign_to="arrive" variable="a"/></action></nop>
  <pause variable="arrive"/>
"""

AGENTS = {"8001": PASSWORD, "8002": "pw-8002", "8003": "pw-8003"}
SEATS = [{"extension": ext, "password": pw} for ext, pw in AGENTS.items()]
E1_TRUNKS = [{"name": "ct-bj-1", "kind": "e1", "span": 1, "protocol": "r2-cn", "max_dnis": 5},
             {"name": "ct-bj-2", "kind": "e1", "span": 2, "protocol": "pri-cpe", "max_dnis": 5}]
#: how a caller comes in -> the trunk of its CDR; the digit after 1390 in its number
KINDS = {"sip": ("carrier", "0"), "r2": ("ct-bj-1", "1"), "pri": ("ct-bj-2", "2")}

FLOW_QUEUE = """
  agent: {type: transfer, queue: service}
"""


def queues(agents) -> dict:
    return {"agents": [{"id": a} for a in agents],
            "queues": [{"name": "service", "strategy": "leastrecent", "ring_timeout_s": 10, "retry_s": 0,
                        "members": [{"agent": a} for a in agents]}]}


def media_ports() -> str:
    """A first port for SIPp's media: it binds that one and the next three (audio and video pairs)."""
    from sip_peers import port_taken
    for _ in range(100):
        port = free_udp_port(pairs=True)
        if not port_taken(port + 2) and not port_taken(port + 3):
            return str(port)
    raise RuntimeError("no four free UDP ports in a row")


def reference_waits(agents: int, arrivals, busy):
    """FCFS with ``agents`` identical servers, free from the first arrival on: each caller's wait
    (ms) until a server takes them, which then stays busy ``busy`` ms."""
    free = [arrivals[0]] * agents
    heapq.heapify(free)
    out = []
    for t, b in zip(arrivals, busy):
        start = max(t, free[0])
        heapq.heapreplace(free, start + b)
        out.append(start - t)
    return out


def offered_and_free(log) -> dict:
    """call -> (ms the call was offered to its agent, ms the agent was free again), read from the
    queue log: CONNECT less its ring time in ms (its fourth field), and the agent's WRAPUPEND that
    follows the call's end (COMPLETE* or TRANSFER)."""
    out, last = {}, {}
    for e in log:                                     # the store's order: time, then as logged
        if e.event == "CONNECT":
            out[e.callid] = [e.time_ms - int(e.data[3]), None]
        elif e.event in ("COMPLETEAGENT", "COMPLETECALLER", "TRANSFER"):
            last[e.agent] = e.callid
        elif e.event == "WRAPUPEND" and e.agent in last:
            out[last.pop(e.agent)][1] = e.time_ms
    return {k: tuple(v) for k, v in out.items()}


def plan(seed: int, calls: int, agents: int, mean_gap_ms: float, mean_talk_ms: float):
    """Poisson arrivals (exponential gaps) with a kind each (SIP, R2 or PRI, 3:1:1) and a number
    (1390 + the kind's digit + the call's index); exponential talk times, one list per agent."""
    rng = random.Random(seed)
    t, out = 0.0, []
    for i in range(calls):
        t += rng.expovariate(1 / mean_gap_ms)
        kind = rng.choices(list(KINDS), (3, 1, 1))[0]
        out.append((int(t), kind, f"1390{KINDS[kind][1]}{i:06d}"))
    talks = [[int(rng.expovariate(1 / mean_talk_ms)) for _ in range(calls)] for _ in range(agents)]
    return out, talks


def test_fifty_sip_and_e1_callers_choose_the_queue_by_digit_and_wait_as_the_reference_model(tmp_path, pbx):  # noqa: F811
    queue_calls(tmp_path, pbx, SEED, calls=50, agents=3, mean_gap_ms=450, mean_talk_ms=1000)


@pytest.mark.slow
@pytest.mark.parametrize("replica", range(3))
def test_replicated_longer_runs_through_the_queue(tmp_path, pbx, replica):  # noqa: F811
    queue_calls(tmp_path, pbx, SEED + 1 + replica, calls=120, agents=2, mean_gap_ms=800, mean_talk_ms=1300)


def queue_calls(tmp_path, pbx, seed: int, *, calls: int, agents: int, mean_gap_ms: float,  # noqa: F811
                mean_talk_ms: float) -> None:
    from drivers.e1_card import alaw
    from drivers.e1_card.dtmf import dtmf_samples
    from hub.acd import callbacks, kpi
    from hub.acd import store as qstore
    from hub.acd.config import parse_queues
    from hub.acd.queue_log import read_file
    from hub.callflow.apps import install
    arrivals, talks = plan(seed, calls, agents, mean_gap_ms, mean_talk_ms)
    kinds = {k: [a for a in arrivals if a[1] == k] for k in KINDS}
    assert all(kinds.values()), f"seed {seed} gives no caller of some kind: {[len(v) for v in kinds.values()]}"
    ids = list(AGENTS)[:agents]
    flow = flow_with_prompts(tmp_path, extra=FLOW_QUEUE, key3="agent")
    trunk_port = free_udp_port()
    p = pbx(trunk_port, seats=SEATS,
            trunks=[{"name": "carrier", "kind": "sip", "host": "127.0.0.1", "port": trunk_port}] + E1_TRUNKS,
            dialplan=[{"number": "95311", "to": "ivr t"}])
    spans = [p.e1.spans[t["name"]] for t in E1_TRUNKS]
    ports = [register(tmp_path, p, a, AGENTS[a]) for a in ids]
    agent_xml = tmp_path / "agent.xml"
    exponential = '  <pause distribution="exponential" mean="MEAN_MS"/>\n'
    assert exponential in AGENT
    agent_xml.write_text(AGENT.replace(exponential, TALK))
    timeout = 60 + (mean_gap_ms + mean_talk_ms) * calls / 1000
    agent_sipps = []
    for a, port, mine in zip(ids, ports, talks):
        inf = tmp_path / f"talk-{a}.csv"
        inf.write_text("SEQUENTIAL\n" + "".join(f"{ms};\n" for ms in mine))
        agent_sipps.append(Sipp(tmp_path, str(agent_xml), target(p), port=port, name=f"agent-{a}",
                                args=["-m", str(calls), "-inf", str(inf), "-timeout", f"{timeout:.0f}s",
                                      "-mp", media_ports()]).listening())
    apps = install(p, {"t": flow}, parse_queues(queues(ids)), queue_log=str(tmp_path / "queue_log"),
                   logins={a: a for a in ids}, voicemail_dir=str(tmp_path / "vm"))
    steps = [("pause", 1000), ("key", "3")]

    # SIP callers: one SIPp starting every call at once; each waits for its arrival, then calls
    scen = caller_scenario(tmp_path, steps, "queue_caller")
    text = open(scen).read().replace("13912345678", "[field1]")
    head = '<scenario name="scanhub caller with audio and digits">\n'
    assert head in text
    open(scen, "w").write(text.replace(head, head + ARRIVE))
    inf = tmp_path / "sip-callers.csv"
    inf.write_text("SEQUENTIAL\n" + "".join(f"{at};{number};\n" for at, _, number in kinds["sip"]))
    n_sip = len(kinds["sip"])
    callers = Sipp(tmp_path, scen, target(p), port=trunk_port,
                   args=["-s", "95311", "-inf", str(inf), "-m", str(n_sip), "-r", str(n_sip), "-rp", "100",
                         "-l", str(n_sip), "-timeout", f"{timeout:.0f}s", "-mp", media_ports()])

    # E1 callers: the carrier dials each at its arrival, waits for the menu, keys 3 in-band
    menu = apps.prompt(flow, "main_menu")
    key3 = alaw.encode(dtmf_samples("3", 800)) + bytes([alaw.SILENCE]) * 160 * 4
    e1 = [{"at": at, "span": spans[0] if kind == "r2" else spans[1], "number": number, "out": None,
           "heard": bytearray(), "keyed": False} for at, kind, number in arrivals if kind != "sip"]

    def e1_step(now: float) -> bool:              # on the PBX's loop
        for c in e1:
            out = c["out"]
            if out is None:
                if now >= c["at"]:
                    c["out"] = c["span"].carrier.dial("95311", c["number"])
                continue
            if out.state == "answered" and not c["keyed"]:
                c["heard"] += out.audio_in
                if c["heard"].find(menu) >= 0:
                    out.play(key3)
                    c["keyed"] = True
                del c["heard"][:-len(menu)]
            out.audio_in.clear()
        return all(c["out"] is not None and c["out"].state in ("cleared", "failed") for c in e1)

    callers.start()
    t0 = time.monotonic()
    try:
        wait_for(lambda: p.call(lambda: e1_step((time.monotonic() - t0) * 1000)), timeout,
                 "every E1 caller through the queue and cleared", interval=0.01)
    except pytest.fail.Exception:
        left = p.call(lambda: [(c["number"], c["out"] and c["out"].state, c["keyed"]) for c in e1
                               if c["out"] is None or c["out"].state not in ("cleared", "failed")])
        pytest.fail(f"E1 callers not through: {left}; the ACD: {p.call(apps.acd.engine.snapshot)}; "
                    f"SIPp agents exited: {[a.proc.poll() for a in agent_sipps]}")
    callers.expect_success(timeout)
    assert [(c["number"], c["out"].state, c["keyed"]) for c in e1] == \
        [(c["number"], "cleared", True) for c in e1]
    wait_for(lambda: len(cdrs()) == calls, 30, "every CDR")
    for a in agent_sipps:
        a.stop()

    # two callers who give up while every agent is paused: abandoned, and on the callback list
    p.call(lambda: [apps.acd.agent("pause", a, "break") for a in ids])
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
    wait_for(lambda: sum(e.event == "ABANDON" for e in qstore.entries()) == 2
             and len(read_file(str(tmp_path / "queue_log"))) == len(qstore.entries()), 30,
             "both abandons in the store and the file")

    log = qstore.entries()
    rows = sorted((r for r in kpi.call_waits(log) if r["caller"].startswith("1390")),
                  key=lambda r: r["entered_ms"])
    assert sorted(r["caller"] for r in rows) == sorted(a[2] for a in arrivals)
    assert all(r["outcome"] == "answered" and r["talk_ms"] is not None for r in rows), rows
    # every ring was answered: the agents' busy periods are exactly those of the answered calls
    assert [e for e in log if e.event in ("RINGNOANSWER", "RINGCANCELED")] == []
    busy = offered_and_free(log)
    assert all(busy[r["call"]][1] is not None for r in rows), "a call without its agent's WRAPUPEND"
    ref = reference_waits(agents, [r["entered_ms"] for r in rows],
                          [busy[r["call"]][1] - busy[r["call"]][0] for r in rows])
    for r, w in zip(rows, ref):
        ring = r["entered_ms"] + r["wait_ms"] - busy[r["call"]][0]
        # the queue log's wait (ENTERQUEUE to CONNECT) = the model's wait for an agent + the ring
        assert abs(r["wait_ms"] - (w + ring)) <= STEP_MS, (r, w, ring)
    waited = sum(w > 0 for w in ref)
    assert waited >= calls // 5, f"only {waited} of {calls} callers found every agent busy: the test shows little"
    # the file says what the store says
    assert [e.line() for e in read_file(str(tmp_path / "queue_log"))] == [e.line() for e in log]
    # abandoned callers are on the callback list; answered calls are never counted abandoned
    left = [r for r in kpi.call_waits(log) if r["caller"].startswith("1391111")]
    assert [r["outcome"] for r in left] == ["abandon", "abandon"]
    callbacks.refresh()
    assert sorted(c["caller"] for c in callbacks.listing()) == \
        sorted(r["caller"] for r in left)
    by_call = {c["call_id"]: c for c in cdrs()}
    assert all(by_call[r["call"]]["disposition"] == "answered" for r in rows)
    # each caller came in on the trunk of its kind
    trunk_of = {number: KINDS[kind][0] for _, kind, number in arrivals}
    assert sorted((by_call[r["call"]]["trunk"], r["caller"]) for r in rows) == \
        sorted((trunk_of[r["caller"]], r["caller"]) for r in rows)
    assert p.call(lambda: apps.acd.engine.check()) == []
    assert p.call(lambda: [a["state"] for a in apps.acd.engine.snapshot()["agents"]]) == ["paused"] * agents
    wait_for(lambda: all(idle(p, s) for s in spans), 15, "every E1 timeslot idle")


if __name__ == "__main__":
    pytest.main([__file__])
