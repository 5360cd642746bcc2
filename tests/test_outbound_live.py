"""Live outbound campaigns over the real telephony path (``hub.outbound.driver`` on a running PBX).

The called people are SIPp on a SIP trunk and the simulated carrier behind an MFC-R2 span; each
number says how its owner behaves (answer after a ring time and hang up after a talk time, ring
until given up, or busy), drawn at random with a seed, the same sequence for every campaign.  The
agents are SIPp seats that register and answer.  A predictive and a progressive campaign run at
once, each with its own two agents, over the same kind of traffic: the predictive one, which has
dialled since earlier today (those hours are in its records, and restore its rolling window),
abandons no more than the 3 % cap over that window (an answered call not bridged to an agent
within 2 s, read from the CDR's events), keeps its agents busier, and for both every dialled
number's outcome is in the CDR and in the campaign's records while no number on a DNC list or
outside its calling window is dialled.
Then ``scanhub campaign run`` end to end, and its one-line errors."""
from __future__ import annotations

import datetime as dt
import os
import random
import struct
import subprocess
import sys

import pytest
import yaml
from click.testing import CliRunner

from cli import main
from conftest import read_line, wait_for
from sip_peers import Sipp, free_udp_port, free_udp_range, port_taken, recv_ok, ring_and_answer, send_bye
from test_telephony_sip import register, target

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = 20261203
RUN_S = 25                        # how long both campaigns dial
#: the predictive campaign's earlier hours today, in its records before the run: calls answered
#: by a person (and connected), of which abandoned; as many more rang out or were busy
EARLIER_ANSWERED, EARLIER_ABANDONED = 100, 1
SEATS = {"8001": "pw-8001", "8002": "pw-8002", "8003": "pw-8003", "8004": "pw-8004"}
E1_TRUNK = {"name": "ct-bj-1", "kind": "e1", "span": 1, "protocol": "r2-cn", "max_dnis": 11}
#: who answers how: kind 0 answers after RR tenths of a second and hangs up TT tenths after its
#: answer, 1 rings until the PBX gives up, 2 is busy after RR tenths.  A number is
#: +86 13x K RR TT NNN: 139 on the SIP trunk, 137 on the E1 span
ANSWER, NO_ANSWER, BUSY = 0, 1, 2

#: the called people on the SIP trunk: the number's digits say what to do (the To header holds it)
CALLEE = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="a called person: answers, rings out or is busy, as its number says">
  <recv request="INVITE" crlf="true">
    <action>
      <ereg regexp="sip:\\+8613[0-9]([0-9])([0-9]{2})([0-9]{2})" search_in="hdr" header="To:" check_it="true"
            assign_to="num,kind,ring,talk"/>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="remote_from"/>
      <todouble assign_to="k" variable="kind"/>
      <todouble assign_to="r" variable="ring"/>
      <todouble assign_to="t" variable="talk"/>
      <multiply assign_to="r" value="100"/>
      <multiply assign_to="t" value="100"/>
      <test assign_to="no_answer" variable="k" compare="equal" value="1"/>
      <test assign_to="busy" variable="k" compare="equal" value="2"/>
    </action>
  </recv>
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]callee[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Subject: [$num]
      Content-Length: 0
    ]]>
  </send>
  <nop test="no_answer" next="ring_out"/>
  <pause variable="r"/>
  <nop test="busy" next="busy"/>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]callee[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:callee@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=callee 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
    ]]>
  </send>
  <recv request="ACK" crlf="true"/>
  <pause variable="t"/>
""" + send_bye("callee") + """  <recv response="200" next="end"/>
  <label id="busy"/>
  <send>
    <![CDATA[
      SIP/2.0 486 Busy Here
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]callee[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <recv request="ACK" next="end"/>
  <label id="ring_out"/>
  <recv request="CANCEL"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]callee[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <send>
    <![CDATA[
      SIP/2.0 487 Request Terminated
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]callee[call_number]
      [last_Call-ID:]
      CSeq: 1 INVITE
      Content-Length: 0
    ]]>
  </send>
  <recv request="ACK"/>
  <label id="end"/>
</scenario>
"""

#: an agent's seat: rings 50 ms, answers, then (AGENT_END) waits for the PBX's BYE or hangs up
#: itself.  A PBX slow to read retransmits its INVITE: a copy during the ring ends the ring, one
#: before the ACK is absorbed
AGENT = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="an agent's seat answering">
AGENT_INVITE
""" + ring_and_answer(50) + """AGENT_END
</scenario>
"""
WAIT_FOR_BYE = recv_ok("BYE")
HANG_UP_AFTER = '  <pause milliseconds="MS"/>\n' + send_bye("agent") + '  <recv response="200"/>\n'


def scenario(tmp_path, name: str, text: str) -> str:
    path = tmp_path / f"{name}.xml"
    path.write_text(text)
    return str(path)


def media_ports() -> str:
    """A first port for SIPp's media: it binds that one and the next three."""
    for _ in range(100):
        port = free_udp_port(pairs=True)
        if not port_taken(port + 2) and not port_taken(port + 3):
            return str(port)
    raise RuntimeError("no four free UDP ports in a row")


def number(via: str, kind: int, ring_ds: int, talk_ds: int, index: int) -> str:
    return f"+86{'139' if via == 'sip' else '137'}{kind}{ring_ds:02d}{talk_ds:02d}{index:03d}"


def behaviour(num: str) -> tuple[int, float, float]:
    """(kind, ring s, talk s) of a number made by ``number`` (E.164 or the E1 span's DNIS)."""
    d = num[-8:]
    return int(d[0]), int(d[1:3]) / 10, int(d[3:5]) / 10


def traffic(n: int, seed: int = SEED) -> list[tuple[str, int, int, int]]:
    """``n`` called people, the same for every campaign: (via, kind, ring ds, talk ds); half answer
    after 0.2-0.8 s and talk about 1.2 s (at least 0.8), a third are busy, the rest do not answer;
    one in five is on the E1 span."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        u = rng.random()
        kind = ANSWER if u < 0.5 else BUSY if u < 0.8 else NO_ANSWER
        talk = min(60, max(8, round(rng.expovariate(1 / 12))))
        out.append(("e1" if rng.random() < 0.2 else "sip", kind, rng.randint(2, 8), talk))
    return out


def open_window() -> dict:
    """A calling window open now and for the next hour in UTC, since three hours before this one
    (the campaign's earlier hours today: ``earlier_today``), closed twelve hours away."""
    h = dt.datetime.now(dt.timezone.utc).hour
    hours = sorted({(h + k) % 24 for k in range(-3, 2)})
    return {"mon-sun": [f"{x:02d}:00-{x + 1:02d}:00" for x in hours]}


def abandon_wav(path) -> str:
    """0.6 s of a 440 Hz tone as an 8 kHz A-law WAV: the identifying message."""
    import math

    from drivers.e1_card import alaw
    data = alaw.encode([int(6000 * math.sin(2 * math.pi * 440 * i / 8000)) for i in range(4800)])
    fmt = struct.pack("<HHIIHH", 6, 1, 8000, 8000, 1, 8)
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data)) + b"WAVE" + b"fmt "
                + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data)
    return str(path)


def pbx_doc(trunk_port: int, sip_port: int, media_lo: int, e1: bool = True) -> dict:
    trunks = [{"name": "carrier", "kind": "sip", "host": "127.0.0.1", "port": trunk_port}]
    plan = [{"prefix": "+86139", "to": "trunk carrier", "ring_s": 2}]
    if e1:
        trunks.append(E1_TRUNK)
        plan.append({"prefix": "+86137", "strip": 3, "to": "trunk ct-bj-1", "ring_s": 6})   # MF signalling first
    return {"sip": {"listen": f"127.0.0.1:{sip_port}", "realm": "scanhub-test",
                    "media_ports": f"{media_lo}-{media_lo + 399}"},
            "trunks": trunks, "seats": [{"extension": e, "password": pw} for e, pw in SEATS.items()],
            "dialplan": plan}


@pytest.fixture
def live_pbx(tmp_path):
    """``make(doc)``: a running PBX for a PBX document with a SQLite store; at the end nothing is
    left busy."""
    from hub.schema import connect
    from hub.store.db import database
    from hub.telephony.config import check_pbx
    from hub.telephony.service import Pbx
    connect(str(tmp_path / "hub.db"), create=True)
    started = []

    def make(doc: dict):
        cfg = check_pbx(doc, "test")
        cfg.recording_dir = str(tmp_path / "rec")
        started.append(Pbx(cfg, worker="test").start())
        return started[-1]
    yield make
    try:
        for p in started:
            def idle():
                s = p.snapshot()
                return not s["calls"] and s["media_endpoints"] == 0 and s["dialogs"] == 0
            wait_for(idle, 20, "every call, dialog and media port to be released")
    finally:
        for p in started:
            p.stop()
        database.close()


@pytest.fixture
def peers():
    """The SIPp processes a test started (``peers.append``), stopped at its end (after the PBX
    fixture's own end, when asked for before it)."""
    started: list[Sipp] = []
    yield started
    for sipp in started:
        sipp.stop()


def carrier_callees(p, span) -> None:
    """The carrier's called people on the R2 span behave as their DNIS says (on the PBX's loop)."""
    carrier = span.carrier

    def policy(call):
        return "busy" if behaviour(call.dnis)[0] == BUSY else "accept"

    def hear(event, call):
        kind, ring, talk = behaviour(call.dnis) if len(call.dnis) >= 8 else (NO_ANSWER, 0, 0)
        ch = carrier.channels[call.channel]
        if event == "offered" and kind == ANSWER:
            p.loop.call_later(ring, lambda: ch.call is call and _try(ch.answer))
        elif event == "answered":
            p.loop.call_later(talk, lambda: ch.call is call and _try(ch.hangup))

    def _try(fn):
        try:
            fn()
        except Exception:                  # the hub gave up meanwhile
            pass
        return True
    p.call(lambda: (setattr(carrier, "offer_policy", policy), carrier.listeners.append(hear)))


def agents_at(tmp_path, p, seats, peers, end: str = WAIT_FOR_BYE) -> list[Sipp]:
    """SIPp agents registered at ``seats``, answering every call (``end``: what they do then)."""
    invite = '  <recv request="INVITE" crlf="true"/>' if end == WAIT_FOR_BYE else (
        '  <recv request="INVITE" crlf="true">\n'
        '    <action><ereg regexp=".*" search_in="hdr" header="From:" assign_to="remote_from"/></action>\n'
        '  </recv>')
    xml = scenario(tmp_path, "agent", AGENT.replace("AGENT_END\n", end).replace("AGENT_INVITE", invite))
    out = []
    for ext in seats:
        port = register(tmp_path, p, ext, SEATS[ext])
        out.append(Sipp(tmp_path, xml, target(p), port=port, name=f"agent-{ext}",
                        args=["-timeout", "300s", "-mp", media_ports()]).listening())
    peers.extend(out)
    return out


def cdr_calls() -> dict:
    """callee -> its CDR with the call's events."""
    from hub.telephony.cdr import list_calls, show_call
    return {c["callee"]: dict(c, events=show_call(c["call_id"])["events"]) for c in list_calls()}


def agent_bridge_ms(cdr: dict) -> int | None:
    """When the callee was bridged to an agent: the ``bridged`` event naming a seat's leg."""
    seat_legs = {e["leg"] for e in cdr["events"] if e["kind"] == "leg-offered" and e["data"].get("seat")}
    for e in cdr["events"]:
        if e["kind"] == "bridged" and set(e["data"].get("legs") or []) & seat_legs:
            return e["t_ms"]
    return None


def callee_answer_ms(cdr: dict) -> int | None:
    trunk_legs = {e["leg"] for e in cdr["events"] if e["kind"] == "leg-offered" and e["data"].get("trunk")}
    return next((e["t_ms"] for e in cdr["events"] if e["kind"] == "leg-answered" and e["leg"] in trunk_legs), None)


def campaign_doc(name: str, mode: str, agents: list[str], **over) -> dict:
    doc = {"name": name, "mode": mode, "window": open_window(), "timezone": "UTC", "agents": agents,
           "max_attempts": 1, "min_spacing_min": 0, "ring_timeout_s": 8, "wrapup_s": 0,
           "abandon_message": "abandon.wav",
           "dispositions": [{"code": "talked", "final": True}], "default_disposition": "talked"}
    doc.update(over)
    return doc


def earlier_today(c, now: int, answered: int, abandoned: int, hours: float = 2.5) -> list[dict]:
    """The attempt records of campaign ``c``'s earlier hours (the ``hours`` before ``now``, inside
    its calling window and its rolling window), as its dialer logs them: the same kind of people as
    ``traffic`` (another draw), dialled until ``answered`` of them answered; all of those reached an
    agent after a few hundred ms and talked as their number says, but ``abandoned`` of them, spread
    over the hours, waited the 2 s for nobody."""
    people, out = [], []
    for person in traffic(400, seed=SEED + 1):
        people.append(person)
        if sum(kind == ANSWER for _, kind, _, _ in people) == answered:
            break
    lost = {round((k + 0.5) * answered / abandoned) for k in range(abandoned)} if abandoned else set()
    step = int(hours * 3_600_000 / len(people))
    n = 0
    for i, (via, kind, ring, talk) in enumerate(people):
        placed = now - int(hours * 3_600_000) + i * step
        setup = 0 if via == "sip" else 1500                       # the R2 span's signalling first
        r = {"kind": "attempt", "call": f"{c.name}-earlier-{i}", "number": number(via, kind, ring, talk, 600 + i),
             "customer": "", "attempt": 1, "agent": None, "mode": c.mode, "reason": "", "placed_ms": placed,
             "answered_ms": None, "connected_ms": None, "answers": {}, "callback_ms": None}
        if kind == BUSY:
            r.update(outcome="busy", reason="busy", ended_ms=placed + setup + ring * 100)
        elif kind == NO_ANSWER:
            r.update(outcome="no-answer", reason="no-answer", ended_ms=placed + (2000 if via == "sip" else 6000))
        else:
            answer = placed + setup + ring * 100
            n += 1
            if n in lost:
                r.update(outcome="abandoned", reason="no agent within 2 s", answered_ms=answer,
                         ended_ms=answer + 1700 + 600)                # the message played, then hung up
            else:
                r.update(outcome="talked", agent=c.agents[i % len(c.agents)], answered_ms=answer,
                         connected_ms=answer + 150 + 50 * (i % 5), ended_ms=answer + talk * 100)
        out.append(r)
    return out


OUTCOME_DISPOSITION = {"busy": "busy", "no-answer": "no-answer", "talked": "answered", "abandoned": "answered",
                       "dropped": "answered"}


def test_predictive_abandons_within_its_cap_and_keeps_agents_busier_than_progressive(tmp_path, peers, live_pbx):
    from contract.clock import now_ms
    from hub.outbound import store
    from hub.outbound.campaign import check_campaign
    from hub.outbound.contacts import Contact
    from hub.outbound.driver import Driver, load_message
    from hub.outbound.engine import Dial
    from hub.outbound.tables import CampaignAttempt, CampaignRefusal
    trunk_port = free_udp_port()
    p = live_pbx(pbx_doc(trunk_port, free_udp_port(), free_udp_range(400)))
    peers.append(Sipp(tmp_path, scenario(tmp_path, "callee", CALLEE), target(p), port=trunk_port,
                      args=["-timeout", "300s", "-mp", media_ports()]).listening())
    carrier_callees(p, p.e1.spans["ct-bj-1"])
    agents_at(tmp_path, p, list(SEATS), peers)
    message = load_message(abandon_wav(tmp_path / "abandon.wav"))
    people = traffic(150)
    plan = {"pred": ("predictive", ["8001", "8002"], 0), "prog": ("progressive", ["8003", "8004"], 500)}
    drivers, dialled, records, refused, earlier = {}, {}, {}, {}, {}
    for name, (mode, seats, base) in plan.items():
        c = check_campaign(campaign_doc(name, mode, seats))
        assert c.pacing.abandon_cap == 0.03 and c.pacing.window_h == 24          # the defaults: the rule
        # the predictive campaign has dialled since the morning: those hours are in its records
        earlier[name] = earlier_today(c, now_ms(), EARLIER_ANSWERED, EARLIER_ABANDONED) if mode == "predictive" else []
        store.sink(c)(earlier[name])
        contacts = [Contact(number(via, kind, ring, talk, base + i)) for i, (via, kind, ring, talk) in enumerate(people)]
        # early in the list: three numbers on the DNC list, three whose owners live twelve hours away
        dnc = [Contact(number("sip", ANSWER, 2, 10, base + 400 + i)) for i in range(3)]
        far = [Contact(number("sip", ANSWER, 2, 10, base + 410 + i), tz="Etc/GMT-12") for i in range(3)]
        for i, ct in enumerate(dnc + far):
            contacts.insert(2 * i + 1, ct)
        for ct in dnc:
            store.add_dnc(ct.number, "internal", "asked not to be called")
        refused[name] = {ct.number: "dnc:internal" for ct in dnc} | {ct.number: "closed" for ct in far}
        dialled[name], records[name] = [], []
        # as `scanhub campaign run` starts: the rolling window restored from the records
        history = store.pacer_history(name, now_ms() - int(c.pacing.window_h * 3_600_000))
        assert len(history) == len(earlier[name])
        drivers[name] = Driver(p, c, contacts, sink=store.sink(c), dnc=store.dnc_lookup(name), abandon_audio=message,
                               on_record=records[name].extend, history=history,
                               on_action=lambda a, got=dialled[name]: isinstance(a, Dial) and got.append(a.number))
    assert p.call(lambda: drivers["pred"].dialer.pacer.window(now_ms())) == (EARLIER_ANSWERED, EARLIER_ABANDONED)
    t0 = now_ms()
    p.call(lambda: [d._start() for d in drivers.values()])          # both at the same instant
    wait_for(lambda: now_ms() - t0 >= RUN_S * 1000, RUN_S + 10, "the campaigns' dialling time", interval=0.2)
    t_stop = now_ms()
    for d in drivers.values():
        d.drain()
    wait_for(lambda: all(d.done.is_set() for d in drivers.values()), 40, "every call of both campaigns to end")
    figures = {name: d.figures() for name, d in drivers.items()}
    for d in drivers.values():
        d.stop()
    total = sum(len(v) for v in dialled.values())
    from hub.telephony.cdr import list_calls
    wait_for(lambda: len(list_calls()) == total, 20, "a CDR for every dialled number")
    cdrs = cdr_calls()

    measured = {}
    for name, (mode, seats, _) in plan.items():
        numbers_ = dialled[name]
        assert len(numbers_) == len(set(numbers_)) > 10, numbers_       # each once (max_attempts 1)
        # every dialled number: its outcome in the records, in the store and in the CDR, and they agree
        attempts = {r["number"]: r for r in records[name] if r["kind"] == "attempt"}
        assert set(attempts) == set(numbers_)
        rows = list(CampaignAttempt.select().where(CampaignAttempt.campaign == name))
        stored = {r.number: r.outcome for r in rows if r.placed_ms >= t0}
        assert stored == {n: r["outcome"] for n, r in attempts.items()}
        assert sorted((r.call, r.outcome) for r in rows if r.placed_ms < t0) == \
            sorted((r["call"], r["outcome"]) for r in earlier[name])           # the earlier hours, kept
        for n in numbers_:
            assert cdrs[n]["disposition"] == OUTCOME_DISPOSITION[attempts[n]["outcome"]], (n, attempts[n], cdrs[n])
            assert cdrs[n]["direction"] == "outbound" and cdrs[n]["origin"] == "originate"
            kind = behaviour(n)[0]
            assert {ANSWER: "answered", BUSY: "busy", NO_ANSWER: "no-answer"}[kind] == cdrs[n]["disposition"], n
        assert {cdrs[n]["trunk"] for n in numbers_} == {"carrier", "ct-bj-1"}
        # nobody on a DNC list or outside the window was dialled; each refusal is recorded
        assert not set(refused[name]) & (set(numbers_) | set(cdrs))
        got = {r.number: r.reason for r in CampaignRefusal.select().where(CampaignRefusal.campaign == name)}
        assert {n: got.get(n) for n in refused[name]} == refused[name]
        # from the CDR's events: answered calls, those not bridged to an agent within 2 s, talk time
        answered = [cdrs[n] for n in numbers_ if callee_answer_ms(cdrs[n]) is not None]
        late = [c for c in answered if agent_bridge_ms(c) is None or agent_bridge_ms(c) - callee_answer_ms(c) > 2000]
        talk = sum(max(0, min(c["end_ms"], t_stop) - max(agent_bridge_ms(c), t0))
                   for c in answered if agent_bridge_ms(c) is not None)
        # the rolling window: the earlier hours' calls answered by a person and abandoned, and this run's
        before_answered = sum(r["answered_ms"] is not None for r in earlier[name])
        before_lost = sum(r["outcome"] == "abandoned" for r in earlier[name])
        measured[name] = {"dialled": len(numbers_), "answered": len(answered), "abandoned": len(late),
                          "abandon_rate": len(late) / len(answered), "occupancy": talk / (len(seats) * (t_stop - t0)),
                          "window_answered": before_answered + len(answered),
                          "window_abandoned": before_lost + len(late),
                          "window_abandon_rate": (before_lost + len(late)) / (before_answered + len(answered)),
                          "driver": {k: figures[name][k] for k in ("placed", "answered", "connected", "abandoned",
                                                                    "dropped", "abandon_rate", "occupancy",
                                                                    "window_answered", "window_abandoned",
                                                                    "window_abandon_rate")}}
        # the pacer's window is the earlier hours' calls and this run's, each counted once
        lost = [r for r in attempts.values() if r["outcome"] in ("abandoned", "dropped")]
        reached = [r for r in attempts.values() if r["connected_ms"] is not None]
        assert (figures[name]["window_answered"], figures[name]["window_abandoned"]) == \
            (before_answered + len(reached) + len(lost), before_lost + len(lost)), measured
        assert figures[name]["abandoned"] + figures[name]["dropped"] == len(lost), measured
        # the records' abandoned (who heard the identifying message before the hang-up) and
        # dropped calls (the callee hung up first) are among them
        assert {c["callee"] for c in late} >= {n for n, r in attempts.items()
                                                if r["outcome"] in ("abandoned", "dropped")}, measured
        for c in (cdrs[n] for n, r in attempts.items() if r["outcome"] == "abandoned"):
            at = next(e["t_ms"] for e in c["events"] if e["kind"] == "campaign" and e["data"].get("step") == "abandon")
            assert c["end_ms"] - at >= 600, c["callee"]
    print(f"\nlive campaigns over {RUN_S} s, after {EARLIER_ANSWERED} answered calls earlier today: {measured}")
    pred, prog = measured["pred"], measured["prog"]
    assert prog["abandoned"] == 0                              # one call per free agent never abandons
    assert pred["answered"] >= 10
    cap = drivers["pred"].c.pacing.abandon_cap
    # over the rolling window (the earlier hours and this run, read from the CDR's events) within
    # the cap; and so is what the pacer counted
    assert pred["window_abandon_rate"] <= cap, measured
    assert pred["driver"]["window_abandon_rate"] <= cap, measured
    # this run's own abandons are within what the earlier hours left it
    assert pred["abandoned"] <= int(cap * pred["window_answered"] + 1e-9) - EARLIER_ABANDONED, measured
    assert pred["occupancy"] > prog["occupancy"], measured


def run_cli(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, os.path.join(ROOT, "cli.py"), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_campaign_run_dials_the_list_connects_the_agent_and_stops_on_sigterm(tmp_path, peers):
    import signal
    db = str(tmp_path / "hub.db")
    cli = CliRunner()
    assert cli.invoke(main, ["hub", "init", "--db", db]).exit_code == 0
    trunk_port, sip_port = free_udp_port(), free_udp_port()
    (tmp_path / "pbx.yaml").write_text(yaml.safe_dump(pbx_doc(trunk_port, sip_port, free_udp_range(400), e1=False)))
    answers, busy = number("sip", ANSWER, 3, 99, 1), number("sip", BUSY, 2, 0, 2)
    (tmp_path / "list.csv").write_text(f"phone,name\n{answers},Wang\n{busy},Li\n")
    doc = campaign_doc("cli-live", "progressive", ["a1"], list={"source": "csv", "path": "list.csv"})
    del doc["abandon_message"]
    (tmp_path / "camp.yaml").write_text(yaml.safe_dump(doc))
    res = cli.invoke(main, ["campaign", "import", str(tmp_path / "camp.yaml"), "--db", db])
    assert res.exit_code == 0 and "2 number(s) added" in res.output, res.output

    class Where:                                  # the seat's registration, as `call active` sees it
        address = ("127.0.0.1", sip_port)

        @staticmethod
        def snapshot():
            out = cli.invoke(main, ["call", "active", "--db", db, "--json"])
            return {"seats": [{"seat": r["seat"]} for r in yaml.safe_load(out.output)["seats"]]}

    peers.append(Sipp(tmp_path, scenario(tmp_path, "callee", CALLEE), f"127.0.0.1:{sip_port}", port=trunk_port,
                      args=["-timeout", "120s", "-mp", media_ports()]).listening())
    proc = run_cli("campaign", "run", str(tmp_path / "camp.yaml"), "--pbx", str(tmp_path / "pbx.yaml"),
                   "--db", db, "--seat", "a1=8001", "--every", "1")
    try:
        first = read_line(proc.stdout, 20, "the running line")
        assert "campaign cli-live (progressive) running: 2 number(s) to call" in first and "a1 at seat 8001" in first
        # the agent's seat registers, answers, talks a second and hangs up: the call ends with the
        # campaign's default disposition
        port = register(tmp_path, Where, "8001", SEATS["8001"])
        agent = Sipp(tmp_path, "agent.xml", f"127.0.0.1:{sip_port}", port=port,
                     args=["-m", "1", "-d", "1000", "-mp", media_ports()])
        peers.append(agent)
        agent.expect_success(40)
        out, err = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, (out, err)
    lines = (first + out).splitlines()
    assert any("occupancy" in ln and "1/1 logged in" in ln for ln in lines), lines
    assert "campaign cli-live stopped after" in lines[-1] and "0 number(s) still to call" in lines[-1]
    assert "busy 1" in lines[-1] and "talked 1" in lines[-1], lines[-1]
    rows = {r["outcome"]: r["calls"] for r in yaml.safe_load(
        cli.invoke(main, ["campaign", "report", "cli-live", "--db", db, "--format", "json"]).output)}
    assert rows == {"talked": 1, "busy": 1}
    calls = {c["callee"]: c for c in yaml.safe_load(cli.invoke(main, ["call", "list", "--db", db, "--json"]).output)}
    assert (calls[answers]["disposition"], calls[answers]["seat"], calls[busy]["disposition"]) == \
        ("answered", "8001", "busy")
    assert 1 <= calls[answers]["billable_s"] <= 3                  # the agent hung up after a second

    # two more numbers that ring out; SIGTERM while the first rings: dialling stops, the call
    # in progress ends, the other number is still to call
    more = [number("sip", NO_ANSWER, 0, 0, 3), number("sip", NO_ANSWER, 0, 0, 4)]
    (tmp_path / "more.csv").write_text("phone\n" + "".join(f"{n}\n" for n in more))
    assert cli.invoke(main, ["campaign", "import", str(tmp_path / "camp.yaml"), "--csv", str(tmp_path / "more.csv"),
                             "--db", db]).exit_code == 0
    agent = Sipp(tmp_path, scenario(tmp_path, "agent", AGENT.replace("AGENT_END\n", WAIT_FOR_BYE).replace(
        "AGENT_INVITE", '  <recv request="INVITE" crlf="true"/>')), f"127.0.0.1:{sip_port}", port=port,
        args=["-mp", media_ports()])
    peers.append(agent)
    proc = run_cli("campaign", "run", str(tmp_path / "camp.yaml"), "--pbx", str(tmp_path / "pbx.yaml"),
                   "--db", db, "--seat", "a1=8001", "--every", "0.5")
    try:
        assert "2 number(s) to call" in read_line(proc.stdout, 20, "the running line")
        register(tmp_path, Where, "8001", SEATS["8001"], port=port)
        agent.start()
        wait_for(lambda: "1 call(s) in progress" in read_line(proc.stdout, 10, "a progress line"), 20,
                 "a call in progress")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and "Traceback" not in err, (out, err)
    assert "dialling stopped (asked to stop)" in out, out
    assert "1 number(s) still to call" in out.splitlines()[-1], out
    rows = {r["outcome"]: r["calls"] for r in yaml.safe_load(
        cli.invoke(main, ["campaign", "report", "cli-live", "--db", db, "--format", "json"]).output)}
    assert rows == {"talked": 1, "busy": 1, "no-answer": 1}
    status = cli.invoke(main, ["campaign", "status", "cli-live", "--db", db]).output
    assert "4 numbers, 3 done, 3 attempts" in status, status


def test_campaign_run_refuses_bad_input_in_one_line(tmp_path):
    db = str(tmp_path / "hub.db")
    cli = CliRunner()
    assert cli.invoke(main, ["hub", "init", "--db", db]).exit_code == 0
    camp = tmp_path / "camp.yaml"
    doc = campaign_doc("bad", "predictive", ["8001"], abandon_message="abandon.wav")
    camp.write_text(yaml.safe_dump(doc))
    abandon_wav(tmp_path / "abandon.wav")
    good = tmp_path / "pbx.yaml"
    good.write_text(yaml.safe_dump(pbx_doc(free_udp_port(), free_udp_port(), free_udp_range(400), e1=False)))
    bad = tmp_path / "bad-pbx.yaml"
    bad.write_text("trunks: [{name: x, kind: pots}]\ndialplan: [{number: '1', to: 'seat 9'}]\n")

    def run(*args):
        res = cli.invoke(main, ["campaign", "run", str(camp), "--db", db, *args])
        assert res.exit_code != 0 and "Traceback" not in res.output, res.output
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert len(lines) == 1, res.output
        return lines[0]

    line = run("--pbx", str(bad))
    assert line.startswith(f"Error: --pbx {bad}: 2 problem(s): ") and "kind must be sip or e1" in line, line
    assert "nowhere.yaml: 1 problem(s): file not found" in run("--pbx", str(tmp_path / "nowhere.yaml"))
    assert "seat 9001 is not a seat of the PBX file" in run("--pbx", str(good), "--seat", "8001=9001")
    assert "has no numbers: run `scanhub campaign import" in run("--pbx", str(good))
    os.unlink(tmp_path / "abandon.wav")
    assert "abandon_message" in run("--pbx", str(good))


def rtp_pcap(path, chunks: list[bytes]) -> str:
    """A pcap of Ethernet/IPv4/UDP/RTP packets, one 20 ms A-law frame each (what SIPp's
    play_pcap_audio sends, paced by the capture times)."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for i, chunk in enumerate(chunks):
        rtp = struct.pack("!BBHII", 0x80, 8, i, i * 160, 0x5CA9) + chunk
        udp = struct.pack("!HHHH", 6000, 6002, 8 + len(rtp), 0) + rtp
        ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0,
                                   bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])))
        total = sum(struct.unpack("!10H", bytes(ip)))
        total = (total & 0xFFFF) + (total >> 16)
        struct.pack_into("!H", ip, 10, ~((total & 0xFFFF) + (total >> 16)) & 0xFFFF)
        frame = bytes(6) + bytes(6) + b"\x08\x00" + bytes(ip) + udp
        out += struct.pack("<IIII", i // 50, (i % 50) * 20000, len(frame), len(frame)) + frame
    open(path, "wb").write(bytes(out))
    return str(path)


def words(count: int, word_s: float = 0.3, gap_s: float = 0.2) -> list[bytes]:
    """``count`` "words" (bursts of a 440 Hz tone) with quiet gaps between them, as 20 ms frames."""
    import math

    from drivers.e1_card import alaw
    samples = []
    for _ in range(count):
        samples += [int(8000 * math.sin(2 * math.pi * 440 * i / 8000)) for i in range(int(word_s * 8000))]
        samples += [(-1) ** i * 40 for i in range(int(gap_s * 8000))]            # the line's noise
    data = alaw.encode(samples)
    return [data[k * 160:(k + 1) * 160].ljust(160, data[-1:]) for k in range((len(data) + 159) // 160)]


def media_callee(tmp_path, name: str, steps: str) -> str:
    """A called person that answers at once, then does ``steps`` (scenario text), then waits for
    the PBX's BYE."""
    invite = CALLEE[:CALLEE.index('  <recv request="INVITE"')] + '  <recv request="INVITE" crlf="true"/>\n'
    ringing = CALLEE[CALLEE.index("  <send>"):CALLEE.index('  <nop test="no_answer"')].replace(
        "      Subject: [$num]\n", "")
    answer = CALLEE[CALLEE.index('  <send retrans="500">'):CALLEE.index('  <pause variable="t"/>')]
    return scenario(tmp_path, name, invite + ringing + answer + steps + WAIT_FOR_BYE + "</scenario>\n")


def test_answering_machines_never_reach_an_agent_and_an_agentless_survey_takes_the_keys(tmp_path, peers, live_pbx):
    """AMD on the answered audio: a person says a short hello and waits (connected to the agent),
    a machine plays a long greeting (hung up, no agent rung); an agentless keypad survey (made from
    the campaign's questions) gets its answers by RFC 4733 keys and stores them."""
    from hub.outbound import store
    from hub.outbound.campaign import check_campaign
    from hub.outbound.contacts import Contact
    from hub.outbound.driver import Driver, voice_parts
    from hub.outbound.tables import SurveyAnswer
    from test_callflow_ivr import key_pcap
    ports = {k: free_udp_port() for k in ("person", "machine", "survey")}
    doc = pbx_doc(ports["person"], free_udp_port(), free_udp_range(400), e1=False)
    doc["trunks"] = [{"name": k, "kind": "sip", "host": "127.0.0.1", "port": port} for k, port in ports.items()]
    doc["dialplan"] = [{"prefix": f"+8613{i}", "to": f"trunk {k}", "ring_s": 5} for i, k in zip((5, 6, 7), ports)]
    p = live_pbx(doc)
    hello = rtp_pcap(tmp_path / "hello.pcap", words(2, 0.2, 0.1) + words(1, 0, 1.5))   # "hel-lo?" and waits
    greeting = rtp_pcap(tmp_path / "greeting.pcap", words(8))                          # a message of 8 words
    callees = {
        "person": media_callee(tmp_path, "person", f'  <nop><action><exec play_pcap_audio="{hello}"/></action></nop>\n'),
        "machine": media_callee(tmp_path, "machine",
                                f'  <nop><action><exec play_pcap_audio="{greeting}"/></action></nop>\n'),
        "survey": media_callee(tmp_path, "survey", "".join(
            f'  <pause milliseconds="1200"/>\n  <nop><action><exec play_pcap_audio="{key_pcap(tmp_path, k, n)}"/>'
            '</action></nop>\n' for n, k in enumerate("41")))}
    sipps = {k: Sipp(tmp_path, xml, target(p), port=ports[k], args=["-m", "1", "-mp", media_ports()]).listening()
             for k, xml in callees.items()}
    peers.extend(sipps.values())
    agents_at(tmp_path, p, ["8001"], peers, end=HANG_UP_AFTER.replace("MS", "1000"))
    amd_c = check_campaign(campaign_doc("amd", "progressive", ["8001"], amd={"enabled": True, "on_machine": "hangup"}))
    survey_c = check_campaign(campaign_doc("survey", "agentless", [], lines=2, abandon_message="", survey={"questions": [
        {"id": "satisfied", "kind": "score", "prompt": "How satisfied were you? Press 1 to 5."},
        {"id": "again", "kind": "yesno", "prompt": "Would you send with us again? 1 yes, 2 no."}]}))
    for pid in ("satisfied", "again", "thanks", "invalid"):                  # the survey's prompts, recorded
        abandon_wav(os.makedirs(tmp_path / "prompts" / "survey", exist_ok=True) or
                    tmp_path / "prompts" / "survey" / f"{pid}.wav")
    flows, _ = voice_parts(survey_c, str(tmp_path), make_prompts=False)
    records = []
    person, machine, surveyed = "+8613510000001", "+8613610000002", "+8613710000003"
    drivers = [Driver(p, amd_c, [Contact(person), Contact(machine)], sink=store.sink(amd_c),
                      on_record=records.extend),
               Driver(p, survey_c, [Contact(surveyed)], sink=store.sink(survey_c), flows=flows,
                      on_record=records.extend)]
    for d in drivers:
        d.start()
    wait_for(lambda: all(d.done.is_set() for d in drivers), 40, "both campaigns' lists done")
    for d in drivers:
        d.stop()
    for k, sipp in sipps.items():
        sipp.expect_success(20)
    got = {r["number"]: r for r in records if r["kind"] == "attempt"}
    assert (got[person]["outcome"], got[person]["agent"]) == ("talked", "8001")
    assert (got[machine]["outcome"], got[machine]["connected_ms"]) == ("machine", None)
    assert (got[surveyed]["outcome"], got[surveyed]["answers"]) == ("completed", {"satisfied": 4, "again": "yes"})
    from hub.telephony.cdr import list_calls
    wait_for(lambda: len(list_calls()) == 3, 20, "the three CDRs")
    cdrs = cdr_calls()
    verdicts = {n: [e["data"]["verdict"] for e in cdrs[n]["events"] if e["kind"] == "amd"] for n in (person, machine)}
    assert verdicts == {person: ["human"], machine: ["machine"]}
    assert cdrs[person]["seat"] == "8001" and cdrs[machine]["seat"] is None
    assert {(a.question, a.answer) for a in SurveyAnswer.select().where(SurveyAnswer.campaign == "survey")} == \
        {("satisfied", "4"), ("again", "yes")}


def test_the_documented_live_example_checks():
    """docs/outbound.md's live run: its campaign and PBX files are valid and agree on the seats."""
    from hub.outbound.campaign import load_campaign
    from hub.telephony.config import load_pbx
    here = os.path.join(ROOT, "docs", "examples", "outbound")
    c = load_campaign(os.path.join(here, "live.yaml"))
    cfg = load_pbx(os.path.join(here, "live-pbx.yaml"))
    assert c.agents and set(c.agents) <= set(cfg.seats)
    assert c.default_disposition in c.dispositions
    for n in ("+8613800138000", "+8613900139000"):
        assert cfg.route(n, "originate").to.kind == "trunk"


REFUSING_SEAT = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="a seat that refuses every call">
  <recv request="INVITE" crlf="true"/>
  <send>
    <![CDATA[
      SIP/2.0 486 Busy Here
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]seat[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <recv request="ACK"/>
</scenario>
"""


def test_an_agent_whose_phone_refuses_is_logged_out_and_the_callee_hears_the_abandon_message(tmp_path, peers,
                                                                                                live_pbx):
    import wave

    import numpy as np

    from hub.outbound import store
    from hub.outbound.campaign import check_campaign
    from hub.outbound.contacts import Contact
    from hub.outbound.driver import Driver, load_message
    from hub.telephony.cdr import list_calls
    trunk_port = free_udp_port()
    doc = pbx_doc(trunk_port, free_udp_port(), free_udp_range(400), e1=False)
    doc["trunks"][0]["record"] = True
    p = live_pbx(doc)
    peers.append(Sipp(tmp_path, media_callee(tmp_path, "callee", ""), target(p), port=trunk_port,
                      args=["-m", "1", "-mp", media_ports()]).listening())
    seat_port = register(tmp_path, p, "8001", SEATS["8001"])
    peers.append(Sipp(tmp_path, scenario(tmp_path, "refusing", REFUSING_SEAT), target(p), port=seat_port,
                      args=["-m", "1"]).listening())
    c = check_campaign(campaign_doc("refused", "progressive", ["8001"]))
    records = []
    d = Driver(p, c, [Contact("+8613900000001"), Contact("+8613900000002")], sink=store.sink(c),
               abandon_audio=load_message(abandon_wav(tmp_path / "abandon.wav")), on_record=records.extend).start()
    wait_for(lambda: any(r["kind"] == "attempt" for r in records), 20, "the call to end")
    assert p.call(lambda: d.dialer.agents["8001"].state) == "logged-out"      # and stays out for a while
    d.drain()
    wait_for(d.done.is_set, 10, "the run to end")
    d.stop()
    (r,) = [r for r in records if r["kind"] == "attempt"]                    # the second number waits
    assert (r["outcome"], r["connected_ms"]) == ("abandoned", None)
    assert 1500 <= r["ended_ms"] - r["answered_ms"] <= 2000                   # within the 2 s, seat time kept
    wait_for(lambda: len(list_calls()) == 1, 10, "the CDR")
    (cdr,) = cdr_calls().values()
    steps = [e["data"]["step"] for e in cdr["events"] if e["kind"] == "campaign"]
    assert steps == ["dial", "connect", "seat-failed", "abandon"]
    with wave.open(cdr["recording"], "rb") as w:                              # what the callee was sent
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)[:, 1].astype(float)
    loud = [np.sqrt(np.mean(pcm[i:i + 160] ** 2)) > 2000 for i in range(0, len(pcm) - 160, 160)]
    assert 28 <= sum(loud) <= 32, sum(loud)                                    # the 0.6 s message, all of it
