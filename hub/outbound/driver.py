"""The live dialer: the campaign's ``Dialer`` (``hub.outbound.engine``) carried out on a running
PBX (``hub.telephony.service.Pbx``), on the PBX's event loop.

What each action becomes:

* ``Dial``: ``hub.telephony.originate`` places the call; the number goes through the PBX's dial
  plan (origin ``originate``) to a SIP or an E1 trunk, which rings it; the call is hung up as
  ``no-answer`` after the campaign's ``ring_timeout_s`` (or the rule's ``ring_s``, the sooner).
  A call that ends before an answer is ``Dialer.failed`` with the CDR's disposition.
* The callee's answer: with ``amd.enabled`` the answered audio is heard on an application leg
  (``hub.callflow.leg.AppLeg``, bridged to the callee) and given to ``hub.outbound.amd.detect``
  every 100 ms until it says ``human``, ``machine`` or ``silence`` (or for at most the time the
  detector needs); then ``Dialer.answered(call, machine=...)``, ``silence`` counting as no person.
* ``Connect``: the agent's seat (a registered SIP seat of the PBX file) is rung on the call, as
  the queues ring an agent (``hub.callflow.queue``: a leg the driver owns, so its ringing, answer
  and end come here, not to the dial plan); when it answers, the callee's media is bridged to it.
  A seat that is not registered, refuses or rings ``agent_ring_s`` without answering: the agent
  is logged out for ``SEAT_HOLD_S`` and ``Dialer.connect_failed`` finds the call another agent
  or abandons it.
  The dialer gives a waiting call to an agent at the latest ``CONNECT_MARGIN_S`` before its
  ``connect_within_s`` is over, the time a seat takes to answer.
* ``Abandon``: the campaign's ``abandon_message`` is played to the callee on the application
  leg, then the call is hung up.
* ``StartFlow``: the flow (the campaign's ``flow`` file, or the keypad survey made from its
  ``survey`` questions: ``survey_flow``) runs on the application leg through the IVR engine
  (``hub.callflow.ivr.IvrProgram``), the callee's keys (RFC 4733, or in-band on E1) going to it;
  when the flow hangs up, ``Dialer.flow_done`` gets the answers: the flow's variables named by
  the survey's question ids (a score 1-5 as a number, yes/no from 1/2), and ``optout`` when the
  flow set the variable ``optout`` to 1.
* ``Hangup``: the call is hung up.

Agents are the PBX's SIP seats (``seats``: agent -> extension, by default the agent's id): an
agent is logged in while their seat is registered and logged out when it is not.  When either
party of a connected call hangs up, the call ends with the campaign's ``default_disposition``
(``answered`` when it names none): there is no agent console here to give another code.

``history`` (the campaign's earlier attempts, ``hub.outbound.store.pacer_history``) restores the
pacer's rolling window before the first call, so the abandon rate is kept over the window, not
over this run.

``tick()`` runs at the dialer's ``next_deadline()`` and every ``SEAT_POLL_S`` (with the seat
check).  The records the dialer logs are written by ``Records``, a thread of its own, through the
campaign's store sink (``hub.outbound.store.sink``): the loop that carries the media never waits
for the store.
"""
from __future__ import annotations

import logging
import queue
import threading

import numpy as np

from contract.clock import now_ms
from hub.acd.agents import LOGGED_OUT
from hub.callflow.ivr import IvrProgram
from hub.callflow.leg import AppLeg
from hub.outbound import amd
from hub.outbound.campaign import Campaign
from hub.outbound.contacts import Contact
from hub.outbound.engine import Abandon, Connect, Dial, Dialer, Hangup, Preview, StartFlow
from hub.outbound.errors import OutboundError
from hub.telephony import originate
from hub.telephony.config import Target

log = logging.getLogger("scanhub.outbound")

SEAT_POLL_S = 1.0        # how often the seats' registrations are looked at
AGENT_RING_S = 10.0      # an agent's seat rings at most this long
#: how long an agent's seat may take to answer once rung: a waiting call is given to an agent at
#: the latest this long before its connect_within_s is over (else abandoned then), so that the
#: agent is on the line within it
CONNECT_MARGIN_S = 0.3
SEAT_HOLD_S = 30.0       # an agent whose seat failed a call is logged in again after this
DRAIN_S = 0.3            # a call stays up this long after the last frame of the abandon message
AMD_STEP_S = 0.1         # the detector looks at the audio this often


# ---------------------------------------------------------------- the records' writer

class Records:
    """The dialer's records written through ``sink`` on a thread of its own; a batch the store
    refuses for a store failure (locked, unreachable) is kept and written again a second later."""

    RETRY_S = 1.0

    def __init__(self, sink) -> None:
        self.sink = sink
        self.written = 0
        self._q: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="campaign-records", daemon=True)
        self._thread.start()

    def put(self, batch: list[dict]) -> None:
        self._q.put(list(batch))

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop."""
        self._q.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        from hub.store.db import database, is_store_failure
        pending: list[dict] = []
        done, tries = False, 0
        try:
            while not done or pending:
                try:
                    item = self._q.get(timeout=self.RETRY_S if pending else None)
                except queue.Empty:
                    item = []
                while True:                       # everything queued goes in one transaction
                    if item is None:
                        done = True
                    else:
                        pending.extend(item)
                    try:
                        item = self._q.get_nowait()
                    except queue.Empty:
                        break
                if not pending:
                    continue
                try:
                    self.sink(pending)
                except Exception as e:               # noqa: BLE001 - the run goes on
                    tries += 1
                    if not is_store_failure(e) or done and tries > 10:
                        log.exception("campaign records not written: %d record(s) dropped", len(pending))
                        pending, tries = [], 0
                    else:
                        log.warning("campaign records: the store failed (%s); trying again", e)
                    continue
                self.written += len(pending)
                pending, tries = [], 0
        finally:
            try:
                database.close()                     # this thread's connection
            except Exception:                        # noqa: BLE001 - the store may be gone already
                pass


# ---------------------------------------------------------------- flows on outbound calls

class FlowHost:
    """What ``IvrProgram`` asks of the application it runs in (``hub.callflow.apps.CallFlows`` on
    inbound calls): the self-service, prompts as A-law, and what an outbound call does not have
    (voicemail, transfers: the flow ends there)."""

    def __init__(self, clock=None) -> None:
        self.clock = clock
        self.voicemail_dir = "voicemail"
        self._audio: dict[str, bytes] = {}
        self._services = None

    def services(self):
        if self._services is None:
            from hub.ivr.selfservice import HubServices
            self._services = HubServices(clock=self.clock)
        return self._services

    def prompt(self, flow, pid: str) -> bytes:
        from hub.ivr import audio, prompts
        path = prompts.path_of(flow, pid)
        data = self._audio.get(path)
        if data is None:
            data = self._audio[path] = audio.prompt_samples(path)
        return data

    def save_voicemail(self, call, action: dict) -> None:
        call.event("error", None, error="an outbound call takes no voicemail")

    def transfer(self, prog, to: str, target: str) -> None:
        prog.call.event("error", None, error=f"an outbound flow cannot transfer ({to} {target}): ended")
        prog.leg.hangup("normal")


def survey_flow(campaign: Campaign, prompts_dir: str):
    """The keypad survey of the campaign's ``survey`` questions as an IVR flow: each question's
    prompt (``survey/<id>``, its text the question's ``prompt``) and one key, then thanks.  A
    question not answered in time is asked once more, then skipped."""
    from hub.ivr.flow import check_flow
    prompts = {"survey/thanks": "Thank you. Goodbye.",
               "survey/invalid": "Please press one key on your phone's keypad."}
    nodes: dict[str, dict] = {}
    for i, q in enumerate(campaign.questions):
        pid = f"survey/{q.id}"
        prompts[pid] = q.prompt or ("Press 1 to 5." if q.kind == "score" else "Press 1 for yes, 2 for no.")
        nxt = f"q{i + 1}" if i + 1 < len(campaign.questions) else "bye"
        nodes[f"q{i}"] = {"type": "collect", "play": pid, "into": f"q{i}", "min": 1, "max": 1, "terminator": "",
                          "timeout_s": 6, "retries": 2, "invalid": "survey/invalid", "next": nxt, "exhausted": nxt}
    nodes["bye"] = {"type": "hangup", "play": "survey/thanks"}
    return check_flow({"flow": "survey", "start": "q0" if campaign.questions else "bye", "nodes": nodes,
                       "prompts": prompts, "prompts_dir": prompts_dir}, f"{campaign.source}: survey")


def answers_of(campaign: Campaign, flow, variables: dict[str, str]) -> tuple[dict, bool]:
    """The survey's answers in a flow's variables (by question id; in the generated survey flow
    ``q0``, ``q1``…) and whether the callee opted out (variable ``optout`` = 1)."""
    out: dict = {}
    generated = flow is not None and flow.name == "survey"
    for i, q in enumerate(campaign.questions):
        v = str(variables.get(f"q{i}" if generated else q.id) or "")
        if q.kind == "score" and v.isdigit() and 1 <= int(v) <= 5:
            out[q.id] = int(v)
        elif q.kind == "yesno" and v in ("1", "2"):
            out[q.id] = "yes" if v == "1" else "no"
    optout = str(variables.get("optout") or "").lower() in ("1", "yes", "true")
    return out, optout


# ---------------------------------------------------------------- one call

class _Out:
    """One outbound call: the dialer's action, the PBX's call and the legs we added to it."""

    def __init__(self, dial: Dial) -> None:
        self.dial = dial
        self.id = dial.call
        self.call = None             # hub.telephony.model.Call
        self.callee = None           # the trunk leg that answered
        self.app = None              # our AppLeg (detector, silence, abandon message, flow)
        self.agent = None            # the agent Connect named
        self.agent_leg = None
        self.program = None          # IvrProgram of a StartFlow
        self.flow = None
        self.listen_t0 = None
        self.timers: list = []
        self.finished = False
        self.connected = False


class Driver:
    """The dialer on a running PBX (see the module's docstring).  Everything runs on the PBX's
    loop; ``start``, ``drain``, ``hang_up_all``, ``figures`` and ``stop`` may be called from any
    thread."""

    def __init__(self, pbx, campaign: Campaign, contacts: list[Contact], *, sink=None, dnc=None,
                 seats: dict[str, str] | None = None, flows: dict | None = None,
                 abandon_audio: bytes | None = None, agent_ring_s: float = AGENT_RING_S,
                 on_record=None, on_action=None, history: list[dict] | None = None) -> None:
        self.pbx = pbx
        self.c = campaign
        self.seats = {a: (seats or {}).get(a, a) for a in campaign.agents}
        self.flows = dict(flows or {})            # StartFlow's name -> hub.ivr.flow.Flow
        self.abandon_audio = abandon_audio
        self.agent_ring_s = agent_ring_s
        self.on_record = on_record                # fn(batch), on the loop (tests)
        self.on_action = on_action                # fn(action), on the loop (tests)
        self.records = Records(sink) if sink is not None else None
        self.dialer = Dialer(campaign, contacts, now_ms, log=self._logged, dnc=dnc,
                             connect_margin_ms=int(CONNECT_MARGIN_S * 1000), history=history)
        self.host = FlowHost()
        self.calls: dict[str, _Out] = {}          # the dialer's call id -> the call
        self._by_call: dict[str, _Out] = {}       # the PBX's call id -> the call
        self._hold: dict[str, int] = {}           # agent -> not logged in again before (ms)
        self._timer = None
        self._poll_timer = None
        self._stopped = False
        self.done = threading.Event()             # the dialer finished (list done, or drained)
        self.started_ms: int | None = None
        self.counts = {"placed": 0, "lines_answered": 0, "answered": 0, "machines": 0, "connected": 0,
                       "abandoned": 0, "dropped": 0, "ended": 0, "talk_ms": 0, "seat_failures": 0}
        self._logged_ms: dict[str, int] = {}      # agent -> logged-in ms of spans that ended
        self._login_at: dict[str, int] = {}       # agent -> since when logged in
        self.outcomes: dict[str, int] = {}
        self._people: set[str] = set()            # calls answered by a person, not yet recorded

    # ------------------------------------------------------------ from any thread
    def _on_loop(self, fn, *args):
        import asyncio
        try:
            here = asyncio.get_running_loop() is self.pbx.loop
        except RuntimeError:
            here = False
        return fn(*args) if here else self.pbx.call(fn, *args)

    def start(self) -> "Driver":
        """Start dialling: agents whose seats are registered are logged in."""
        self._on_loop(self._start)
        return self

    def drain(self) -> None:
        """Dial no more numbers; calls in progress go on (``done`` is set when the last ends)."""
        self._on_loop(lambda: self._run(self.dialer.drain()))

    def hang_up_all(self) -> int:
        """Hang up every call in progress (they are recorded as they end); how many there were."""
        def go():
            n = 0
            for o in list(self.calls.values()):
                if o.call is not None and not o.call.ended:
                    self._hang_up(o)
                    n += 1
            return n
        return self._on_loop(go)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the timers and write the records still queued (call after the calls ended)."""
        def go():
            self._stopped = True
            for t in (self._timer, self._poll_timer):
                if t is not None:
                    t.cancel()
            now = now_ms()
            for agent in list(self._login_at):
                self._logged_ms[agent] = self._logged_ms.get(agent, 0) + now - self._login_at.pop(agent)
        try:
            self._on_loop(go)
        except RuntimeError:                      # the loop is closed already
            pass
        if self.records is not None:
            self.records.close(timeout)

    def figures(self) -> dict:
        """Where the run stands: calls placed, answered (by a person), connected, abandoned, the
        abandon rate (abandoned and dropped over answered by a person), agent occupancy (talk time
        over the agents' logged-in time), calls in progress, agents logged in; and the pacer's
        rolling window (earlier runs' calls included): ``window_answered`` person-answered calls
        connected or abandoned, ``window_abandoned``, ``window_abandon_rate``."""
        return self._on_loop(self._figures)

    # ------------------------------------------------------------ the loop
    def _start(self) -> None:
        self.started_ms = now_ms()
        self._poll()

    def _poll(self) -> None:
        if self._stopped:
            return
        self._poll_timer = self.pbx.loop.call_later(SEAT_POLL_S, self._poll)
        sip = self.pbx.switch.lines.get("sip")
        now = now_ms()
        actions: list = []
        for agent, seat in self.seats.items():
            a = self.dialer.agents[agent]
            registered = sip is not None and sip.registered(seat) is not None
            if registered and (a.state == LOGGED_OUT or a.pending) and self._hold.get(agent, 0) <= now:
                actions += self.dialer.login(agent)
            elif not registered and a.state != LOGGED_OUT and not a.pending:
                actions += self.dialer.logout(agent)
        actions += self.dialer.tick()
        self._run(actions)

    def _tick(self) -> None:
        self._timer = None
        self._run(self.dialer.tick())

    def _run(self, actions: list) -> None:
        for a in actions:
            try:
                if self.on_action is not None:
                    self.on_action(a)
                self._act(a)
            except Exception:                     # one action that broke never stops the others
                log.exception("campaign %s: action %r", self.c.name, a)
        self._agents_changed()
        if self._stopped:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        due = self.dialer.next_deadline()
        if due is not None:
            self._timer = self.pbx.loop.call_later(max(0.0, (due - now_ms()) / 1000), self._tick)
        if self.dialer.finished():
            self.done.set()

    def _agents_changed(self) -> None:
        now = now_ms()
        for agent, a in self.dialer.agents.items():
            if a.state != LOGGED_OUT and agent not in self._login_at:
                self._login_at[agent] = now
            elif a.state == LOGGED_OUT and agent in self._login_at:
                self._logged_ms[agent] = self._logged_ms.get(agent, 0) + now - self._login_at.pop(agent)

    def _logged(self, batch: list[dict]) -> None:
        for r in batch:
            if r["kind"] != "attempt":
                continue
            self.counts["ended"] += 1
            self.outcomes[r["outcome"]] = self.outcomes.get(r["outcome"], 0) + 1
            if r.get("connected_ms") is not None:
                self.counts["talk_ms"] += r["ended_ms"] - r["connected_ms"]
            person = r["call"] in self._people
            self._people.discard(r["call"])
            if r["outcome"] == "dropped" and person and self.c.mode != "agentless":
                self.counts["dropped"] += 1           # a person hung up waiting for an agent
        if self.records is not None:
            self.records.put(batch)
        if self.on_record is not None:
            self.on_record(batch)

    def _figures(self) -> dict:
        now = now_ms()
        logged = sum(self._logged_ms.values()) + sum(now - t for t in self._login_at.values())
        talking = sum(now - o.connected_ms for o in self.dialer.calls.values()
                      if o.state == "connected" and o.connected_ms is not None)
        k = self.counts
        person = k["answered"]
        lost = k["abandoned"] + k["dropped"]
        resolved, abandoned = self.dialer.pacer.window(now)
        return {"campaign": self.c.name, "mode": self.c.mode, **{x: k[x] for x in k if x != "talk_ms"},
                "abandon_rate": lost / person if person else 0.0, "abandon_cap": self.c.pacing.abandon_cap,
                "occupancy": (k["talk_ms"] + talking) / logged if logged else 0.0,
                "in_progress": len(self.calls),
                "agents_logged_in": sum(1 for a in self.dialer.agents.values() if a.state != LOGGED_OUT),
                "agents": len(self.dialer.agents), "outcomes": dict(self.outcomes),
                "running_s": (now - self.started_ms) / 1000 if self.started_ms else 0.0,
                "draining": self.dialer.draining, "finished": self.dialer.finished(),
                "window_answered": resolved, "window_abandoned": abandoned,
                "window_abandon_rate": abandoned / resolved if resolved else 0.0}

    # ------------------------------------------------------------ actions
    def _act(self, a) -> None:
        if isinstance(a, Dial):
            self._dial(a)
        elif isinstance(a, Connect):
            self._connect(a)
        elif isinstance(a, Abandon):
            self._abandon(a)
        elif isinstance(a, StartFlow):
            self._start_flow(a)
        elif isinstance(a, Hangup):
            o = self.calls.get(a.call)
            if o is not None:
                self._hang_up(o)
        elif isinstance(a, Preview):
            log.warning("campaign %s: preview of %s for agent %s: no agent console here", self.c.name,
                        a.number, a.agent)

    def _later(self, o: _Out, seconds: float, fn) -> None:
        o.timers.append(self.pbx.loop.call_later(seconds, fn))

    def _dial(self, a: Dial) -> None:
        o = _Out(a)
        self.calls[a.call] = o
        self.counts["placed"] += 1
        sw = self.pbx.switch
        try:
            o.call = originate.originate(sw, a.number, caller=a.caller_id,
                                         on_event=lambda c, ev, o=o: self._event(o, c, ev))
        except Exception as e:                    # noqa: BLE001 - the dialer must hear of it
            log.exception("campaign %s: calling %s", self.c.name, a.number)
            self.calls.pop(a.call, None)
            self.pbx.loop.call_soon(lambda: self._run(self.dialer.failed(a.call, f"failed: {e}")))
            return
        self._by_call[o.call.id] = o
        if o.call.ended:                          # refused at once (no route): its end was heard already
            return
        o.call.event("campaign", None, campaign=self.c.name, call=a.call, step="dial", agent=a.agent)
        self._later(o, a.timeout_s, lambda: self._ring_out(o))

    def _event(self, o: _Out, call, ev) -> None:
        """A switch event of one of our calls (inside the switch's work: only note and defer)."""
        loop = self.pbx.loop
        if ev.kind == "leg-answered" and ev.leg != "a" and o.callee is None:
            leg = next((x for x in call.legs if x.name == ev.leg), None)
            if leg is not None and leg.trunk is not None:
                o.callee = leg
                loop.call_soon(self._callee_answered, o)
        elif ev.kind == "dtmf" and o.callee is not None and ev.leg == o.callee.name and o.program is not None:
            prog, key = o.program, ev.data.get("key")
            loop.call_soon(lambda: prog.digit(key) if o.program is prog and prog.leg.active else None)
        elif ev.kind == "call-end":
            loop.call_soon(self._ended, o)

    def _ring_out(self, o: _Out) -> None:
        """The campaign's ring time is over and nobody answered."""
        if o.callee is not None or o.call is None or o.call.ended:
            return
        ringing = [leg for leg in o.call.legs[1:] if leg.state in ("offered", "ringing")]
        for leg in ringing:
            o.call.event("timeout", leg, after_s=o.dial.timeout_s)
            leg.hangup("no-answer")
        if not ringing:
            originate.hangup(self.pbx.switch, o.call)

    def _app(self, o: _Out) -> AppLeg:
        """Our application leg on the call, bridged to the callee (made on first use)."""
        if o.app is None or not o.app.active:
            leg = AppLeg(o.call, f"campaign {self.c.name}", self.pbx.loop)
            leg.owner = self                      # its answer and end come here, not to the dial plan
            o.app = leg
            leg.start()
            media = self.pbx.switch.media
            if media is not None and o.callee.media is not None:
                media.bridge(o.call, o.callee, leg)
        return o.app

    def _callee_answered(self, o: _Out) -> None:
        if o.finished or o.call.ended or not o.callee.active:
            return
        self.counts["lines_answered"] += 1
        if self.c.amd.get("enabled"):
            app = self._app(o)
            app.media.recording = bytearray()
            o.listen_t0 = self.pbx.loop.time()
            self._later(o, AMD_STEP_S, lambda: self._listen(o))
            return
        self._answered(o, False)

    def _answered(self, o: _Out, machine: bool) -> None:
        self.counts["machines" if machine else "answered"] += 1
        if not machine:
            self._people.add(o.id)
        self._run(self.dialer.answered(o.id, machine=machine))

    def _amd_settings(self) -> dict:
        return {k: v for k, v in self.c.amd.items() if k in amd.DEFAULTS}

    def _listen(self, o: _Out) -> None:
        """Give the answered audio heard so far to the detector; decide, or listen on."""
        if o.finished or o.call.ended or o.app is None or not o.app.active or o.app.media.recording is None:
            return
        s = {**amd.DEFAULTS, **self._amd_settings()}
        elapsed = self.pbx.loop.time() - o.listen_t0
        pcm = np.frombuffer(bytes(o.app.media.recording), dtype="<i2")
        want = int(elapsed * amd.RATE)
        if len(pcm) < want:                       # no packet is silence
            pcm = np.concatenate([pcm, np.zeros(want - len(pcm), dtype="<i2")])
        verdict = amd.detect(pcm, s)
        longest = s["initial_silence_s"] + s["max_greeting_s"] + s["silence_s"] + 0.5
        if verdict.kind == "unsure" and elapsed < longest:
            self._later(o, AMD_STEP_S, lambda: self._listen(o))
            return
        o.app.media.recording = None
        o.call.event("amd", None, verdict=verdict.kind, reason=verdict.reason, greeting_s=verdict.greeting_s,
                     words=verdict.words)
        self._answered(o, verdict.kind in ("machine", "silence"))

    def _connect(self, a: Connect) -> None:
        o = self.calls.get(a.call)
        if o is None or o.call.ended:
            return
        o.agent = a.agent
        seat = self.seats.get(a.agent, a.agent)
        o.call.event("campaign", None, campaign=self.c.name, call=a.call, step="connect", agent=a.agent, seat=seat)
        line = self.pbx.switch.lines.get("sip")
        leg = line.open_leg(o.call, Target("seat", seat), seat) if line is not None else None
        if leg is None:
            self.pbx.loop.call_soon(self._seat_failed, o, "not registered")
            return
        leg.owner = self
        o.agent_leg = leg
        if not leg.active:                        # failed at once (no media port)
            self.pbx.loop.call_soon(self._seat_failed, o, leg.cause or "failed")
            return
        self._later(o, self.agent_ring_s, lambda: leg.state in ("offered", "ringing") and leg.hangup("no-answer"))

    def leg_changed(self, leg) -> None:
        """A leg we own (the agent's, our application leg) rang, answered or ended."""
        o = self._by_call.get(leg.call.id)
        if o is None or (leg is not o.agent_leg and leg is not o.app):
            if leg.state == "answered" and leg.active and not isinstance(leg, AppLeg):
                leg.hangup("normal")
            return
        loop = self.pbx.loop
        if leg is o.agent_leg:
            if leg.state == "answered":
                if o.callee is None or not o.callee.active or o.call.ended:
                    leg.hangup("normal")
                    return
                if o.app is not None and o.app.active:
                    o.app.program = None
                    o.app.hangup("normal")
                if self.pbx.switch.media is not None and o.callee.media is not None and leg.media is not None:
                    self.pbx.switch.media.bridge(o.call, o.callee, leg)
                o.call.event("bridged", None, legs=[o.callee.name, leg.name])
                o.connected = True
                self.counts["connected"] += 1
            elif leg.state == "ended":
                if leg.t_answer is not None:      # the agent hung up: the call is over
                    loop.call_soon(originate.hangup, self.pbx.switch, o.call)
                elif not o.call.ended and o.callee is not None and o.callee.active:
                    loop.call_soon(self._seat_failed, o, leg.cause or "failed")
        elif leg is o.app and leg.state == "ended" and o.program is not None:
            if o.callee is not None and o.callee.active and not o.call.ended:
                loop.call_soon(self._flow_over, o)    # the flow hung up on its own

    def _seat_failed(self, o: _Out, cause: str) -> None:
        if o.finished or o.connected:
            return
        agent = o.agent
        o.agent_leg = None
        self.counts["seat_failures"] += 1
        self._hold[agent] = now_ms() + int(SEAT_HOLD_S * 1000)
        o.call.event("campaign", None, campaign=self.c.name, call=o.id, step="seat-failed", agent=agent,
                     cause=cause)
        log.warning("campaign %s: agent %s's seat %s did not take call %s (%s): logged out for %g s",
                    self.c.name, agent, self.seats.get(agent), o.id, cause, SEAT_HOLD_S)
        if o.callee is not None and o.callee.active:
            self._app(o)                          # the callee hears a steady stream meanwhile
        self._run(self.dialer.connect_failed(o.id))

    def _abandon(self, a: Abandon) -> None:
        o = self.calls.get(a.call)
        if o is None or o.call.ended:
            return
        self.counts["abandoned"] += 1
        o.call.event("campaign", None, campaign=self.c.name, call=a.call, step="abandon", message=a.message)
        if not self.abandon_audio or o.callee is None or not o.callee.active:
            self._hang_up(o)
            return
        app = self._app(o)
        app.program = None
        app.media.stop()
        app.media.play(self.abandon_audio, lambda: self.pbx.loop.call_later(DRAIN_S, self._hang_up, o))
        self._later(o, len(self.abandon_audio) / amd.RATE + 5, lambda: self._hang_up(o))   # whatever happens

    def _flow_of(self, name: str):
        flow = self.flows.get(name)
        if flow is None and name == "survey" and self.c.questions:
            flow = self.flows.get(self.c.flow)
        if flow is None:
            raise OutboundError(f"campaign {self.c.name}: no flow {name!r} is loaded "
                                f"(loaded: {', '.join(sorted(self.flows)) or 'none'})")
        return flow

    def _start_flow(self, a: StartFlow) -> None:
        o = self.calls.get(a.call)
        if o is None or o.call.ended:
            return
        try:
            flow = self._flow_of(a.flow)
        except OutboundError as e:
            o.call.event("error", None, error=str(e))
            log.error("%s", e)
            self._hang_up(o)
            return
        app = self._app(o)
        app.media.recording = None
        prog = IvrProgram(self.host, o.call, app, flow)
        app.program = prog
        o.program, o.flow = prog, flow
        o.call.event("campaign", None, campaign=self.c.name, call=a.call, step="flow", flow=flow.name)
        prog.start()

    def _flow_over(self, o: _Out) -> None:
        if o.finished or o.program is None:
            return
        answers, optout = answers_of(self.c, o.flow, o.program.engine.variables)
        o.program = None
        self._run(self.dialer.flow_done(o.id, answers, optout=optout))

    def _hang_up(self, o: _Out) -> None:
        if o.call is not None and not o.call.ended:
            originate.hangup(self.pbx.switch, o.call)

    def _ended(self, o: _Out) -> None:
        """The PBX's call ended: the dialer hears how."""
        if o.finished:
            return
        o.finished = True
        for t in o.timers:
            t.cancel()
        originate.forget(self.pbx.switch, o.call)
        self._by_call.pop(o.call.id, None)
        self.calls.pop(o.id, None)
        state = self.dialer.calls.get(o.id)
        if state is None:                         # the dialer ended it already (abandoned, machine, flow)
            self._run([])
            return
        if state.state == "dialing":
            cause = o.call.disposition or "failed"
            if o.callee is not None:              # answered, gone while the detector listened
                cause = "hung up during answering-machine detection"
            self._run(self.dialer.failed(o.id, cause))
            return
        answers, code = None, None
        if state.state == "flow" and o.program is not None:
            answers, _ = answers_of(self.c, o.flow, o.program.engine.variables)
        if state.state == "connected":
            code = self.c.default_disposition or None
        self._run(self.dialer.hangup(o.id, code, answers=answers))


def load_message(path: str) -> bytes:
    """The abandon message's audio as A-law: an 8 kHz mono A-law WAV (as ``scanhub ivr prompts``
    makes them) or an 8 kHz mono 16-bit PCM WAV; ``OutboundError`` naming the file otherwise."""
    from hub.ivr import audio
    from hub.ivr.errors import IvrError
    from hub.telephony import playback
    try:
        return audio.prompt_samples(path)
    except IvrError as e:
        first = str(e)
    if playback.check_wav(path) is None:
        return playback.load_alaw(path)
    raise OutboundError(f"abandon_message: {first}")


def voice_parts(campaign: Campaign, base_dir: str, make_prompts: bool = True) -> tuple[dict, bytes | None]:
    """What a live run plays, read and checked before any call: the flows ``StartFlow`` may name
    (the ``flow`` file, relative to ``base_dir``; or the survey made of the questions, whose
    prompts missing under ``base_dir/prompts/survey/`` are spoken with espeak-ng when
    ``make_prompts``) and the abandon message's audio.  ``OutboundError`` (or the IVR's error)
    with one line for anything missing."""
    import os

    from hub.ivr import audio
    from hub.ivr.errors import FlowError
    from hub.ivr.flow import load_flow
    from hub.ivr.prompts import path_of
    flows: dict = {}
    needs_flow = campaign.mode == "agentless" or (campaign.amd.get("enabled")
                                                 and campaign.amd.get("on_machine") == "leave-message")
    if needs_flow and campaign.flow:
        path = campaign.flow if os.path.isabs(campaign.flow) else os.path.join(base_dir, campaign.flow)
        try:
            flow = load_flow(path)
        except FlowError as e:
            raise OutboundError(f"flow {campaign.flow}: " + "; ".join(e.problems)) from None
        flows[campaign.flow] = flow
    elif needs_flow and campaign.questions:
        flow = survey_flow(campaign, os.path.join(os.path.abspath(base_dir), "prompts"))
        for pid in flow.prompt_ids():
            p = path_of(flow, pid)
            if not os.path.exists(p) and make_prompts:
                os.makedirs(os.path.dirname(p), exist_ok=True)
                text = flow.prompts[pid]
                audio.speak(text, "en" if text.isascii() else flow.voice, p + ".part.wav")
                os.replace(p + ".part.wav", p)
        flows["survey"] = flow
    for name, flow in flows.items():
        missing = [pid for pid in flow.prompt_ids() if not os.path.exists(path_of(flow, pid))]
        if missing:
            raise OutboundError(f"flow {name}: prompt file(s) missing: {', '.join(missing[:5])} in "
                                f"{flow.prompts_dir} (make them: scanhub ivr prompts {name})")
    message = None
    if campaign.abandon_message:
        path = campaign.abandon_message
        message = load_message(path if os.path.isabs(path) else os.path.join(base_dir, path))
    return flows, message
