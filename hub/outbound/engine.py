"""The dialer: pure, driven by events, with an injected clock; it returns actions (like the ACD
engine, ``hub.acd.engine``).

A driver (the real telephony path, ``hub.outbound.driver``, or the simulation,
``hub.outbound.simulate``) calls one method per event and carries out the actions; it calls
``tick()`` at ``next_deadline()`` (or any time after) so that abandon deadlines, wrap-up ends,
recycled numbers and callbacks come due.  Nothing here does I/O: the campaign records go to
``log`` (a callable taking a list of dicts, ``kind`` ``attempt`` or ``refusal``), the DNC
lists are a callable (number -> the list's name or None).

Every number is checked by ``hub.outbound.compliance`` at the instant it would be dialled; a
refused number is logged with its reason and asked again when the reason may have passed.

Modes:

* ``preview``: a free agent gets ``Preview`` (the record); ``preview_dial`` places the call for
  them, ``preview_skip`` puts the number back;
* ``progressive``: one call per free agent, reserved for them while it rings;
* ``predictive``: as many calls as ``hub.outbound.pacing`` says; an answered call goes to the
  agent ready longest, or waits at most ``connect_within_s`` and is then **abandoned**: the
  ``Abandon`` action plays the identifying message and hangs up;
* ``agentless``: up to ``lines`` calls at once; an answered call gets ``StartFlow`` (the notice
  or keypad survey) and ends with ``flow_done``.

The pacer's rolling window is the campaign's: ``Dialer(..., history=attempts)`` restores it from
the attempt records of earlier runs (the dicts it logs, as ``hub.outbound.store.pacer_history``
reads them back; ``past_calls`` says what each one was), before any event of this run.

Agents use the ACD's agent state machine (``hub.acd.agents``): ready, ringing (a call reserved
or being previewed for them), talking, wrap-up.
"""
from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass

from hub.acd.agents import LOGGED_OUT, READY, RINGING, TALKING, WRAPUP, Agent
from hub.outbound import compliance
from hub.outbound.campaign import Campaign
from hub.outbound.contacts import Contact
from hub.outbound.errors import OutboundError
from hub.outbound.pacing import Pacer, PastCall

#: the ``reason`` of an attempt whose person hung up waiting for an agent (outcome ``dropped``)
WAITED_DROP = "hung up before an agent was connected"
#: the ``reason`` of an answering machine's call that ran the flow (a message left)
MACHINE_FLOW = "answering machine"


# ---------------------------------------------------------------- actions

@dataclass(frozen=True)
class Dial:
    call: str
    number: str
    agent: str | None          # reserved agent (preview, progressive, callbacks), else None
    timeout_s: float
    caller_id: str = ""


@dataclass(frozen=True)
class Preview:
    agent: str
    number: str
    record: dict


@dataclass(frozen=True)
class Connect:
    call: str
    agent: str


@dataclass(frozen=True)
class Abandon:
    """No agent within the time allowed: play ``message`` (who called, how to call back), hang up."""
    call: str
    message: str


@dataclass(frozen=True)
class StartFlow:
    call: str
    flow: str


@dataclass(frozen=True)
class Hangup:
    call: str
    reason: str


# ---------------------------------------------------------------- state

@dataclass
class Outgoing:
    id: str
    contact: Contact
    agent: str | None
    placed_ms: int
    state: str = "dialing"          # dialing | waiting | connected | flow | ending
    answered_ms: int | None = None
    connected_ms: int | None = None
    deadline_ms: int | None = None
    machine: bool = False

    @property
    def key(self) -> tuple[str, int]:
        """The pacer's key of the call (its id and when it was placed: unique across runs)."""
        return (self.id, self.placed_ms)


def past_calls(attempts) -> list[PastCall]:
    """What the pacer hears of each earlier attempt record (the dicts ``log`` gets, kind
    ``attempt``): answered by a person or not, connected to an agent or abandoned (and when), its
    talk time; in the terms the live steps use."""
    out = []
    for r in attempts:
        if r.get("kind", "attempt") != "attempt":
            continue
        answered, connected, ended = r.get("answered_ms"), r.get("connected_ms"), r["ended_ms"]
        outcome, reason = r["outcome"], r.get("reason") or ""
        person = answered is not None and outcome != "machine" and reason != MACHINE_FLOW
        abandoned = person and connected is None and (
            outcome == "abandoned" or outcome == "dropped" and reason == WAITED_DROP)
        resolved = connected if person and connected is not None else ended if abandoned else None
        out.append(PastCall(r["call"], r["placed_ms"], ended, answered, person, resolved, abandoned,
                            ended - connected if connected is not None else None))
    return out


class Dialer:
    def __init__(self, campaign: Campaign, contacts: list[Contact], clock: Callable[[], int], *,
                 log: Callable[[list[dict]], None] | None = None,
                 dnc: Callable[[str], str | None] | None = None, pacer: Pacer | None = None,
                 call_ids: Callable[[], str] | None = None, connect_margin_ms: int = 0,
                 history: list[dict] | None = None) -> None:
        """``connect_margin_ms``: how long an agent's phone takes to answer once ``Connect`` rings
        it (the live driver's seats): an answered call waiting for an agent is given to one at the
        latest that long before its ``connect_within_s`` is over, or abandoned then.  ``history``:
        the campaign's earlier attempt records, which restore the pacer's rolling window."""
        self.c = campaign
        self.clock = clock
        self._sink = log
        self.dnc = dnc
        self.pacer = pacer or Pacer(campaign.pacing)
        if history:
            self.pacer.restore(past_calls(history), clock())
        self.contacts: dict[str, Contact] = {}
        self._heap: list[tuple[int, int, str]] = []
        self._order = itertools.count()
        self.agents: dict[str, Agent] = {a: Agent(a) for a in campaign.agents}
        self.calls: dict[str, Outgoing] = {}
        self._ids = call_ids or (lambda n=itertools.count(1): f"{campaign.name}-{next(n)}")
        self._pending: list[dict] = []
        self.extra_dnc: set[str] = set()          # numbers put on the DNC list by this run's dispositions
        self.previews: dict[str, Contact] = {}    # agent -> the record they are looking at
        self._callbacks: dict[str, Contact] = {}  # number -> a contact waiting for its own agent
        self.draining = False                     # drain(): no number is dialled any more
        self.connect_window_ms = max(0, int(campaign.pacing.connect_within_s * 1000) - connect_margin_ms)
        for ct in contacts:
            self.add(ct)

    # ------------------------------------------------------------ plumbing
    def add(self, contact: Contact) -> None:
        """Add a number to the list (a number already there is kept once)."""
        if contact.number in self.contacts:
            return
        self.contacts[contact.number] = contact
        if not contact.done:
            heapq.heappush(self._heap, (contact.next_ms, next(self._order), contact.number))

    def _log(self, **rec) -> None:
        self._pending.append({"campaign": self.c.name, **rec})

    def _finish(self, now: int, actions: list) -> list:
        actions.extend(self._dispatch(now))
        if self._pending:
            batch, self._pending = self._pending, []
            if self._sink is not None:
                self._sink(batch)
        return actions

    def _agent(self, aid: str) -> Agent:
        a = self.agents.get(aid)
        if a is None:
            raise OutboundError(f"agent {aid!r} is not in campaign {self.c.name}")
        return a

    def _listed(self, number: str) -> str | None:
        if number in self.extra_dnc:
            return "internal"
        return self.dnc(number) if self.dnc is not None else None

    def _next_contact(self, now: int, agent: str | None = None) -> Contact | None:
        """The next number that may be dialled now, every refusal on the way logged."""
        if agent is not None:                     # this agent's own callbacks first
            for ct in list(self._callbacks.values()):
                if ct.callback_agent == agent and not ct.done and ct.next_ms <= now and self._allowed(ct, now):
                    ct.callback_agent = None
                    self._callbacks.pop(ct.number, None)
                    return ct
        deferred = []
        found = None
        while self._heap and self._heap[0][0] <= now:
            due, _, number = heapq.heappop(self._heap)
            ct = self.contacts[number]
            if ct.done or due != ct.next_ms:
                continue                          # a stale heap entry
            if ct.callback_agent is not None:
                deferred.append(ct)               # waits for its agent
                continue
            if self._allowed(ct, now):
                found = ct
                break
        for ct in deferred:
            heapq.heappush(self._heap, (ct.next_ms, next(self._order), ct.number))
        return found

    def _allowed(self, ct: Contact, now: int) -> bool:
        no = compliance.refusal(ct, now, self.c, self._listed)
        if no is None:
            return True
        self._log(kind="refusal", number=ct.number, reason=no.reason, at_ms=now, attempts=ct.attempts)
        if no.retry_ms is None:
            ct.done, ct.outcome = True, no.reason
            ct.callback_agent = None
            self._callbacks.pop(ct.number, None)
        else:
            self._reschedule(ct, no.retry_ms)
        return False

    def _reschedule(self, ct: Contact, at_ms: int) -> None:
        ct.next_ms = at_ms
        if ct.callback_agent is None:
            heapq.heappush(self._heap, (at_ms, next(self._order), ct.number))

    def _place(self, now: int, ct: Contact, agent: str | None) -> Dial:
        call = self._ids()
        ct.attempts += 1
        ct.last_ms = now
        ct.next_ms = -1                           # in progress: no heap entry is valid
        self.calls[call] = Outgoing(call, ct, agent, now)
        if agent is not None:
            a = self.agents[agent]
            if a.state == READY:
                a.move(RINGING, now, call)
            else:
                a.call = call                     # already reserved (preview)
        return Dial(call, ct.number, agent, self.c.ring_timeout_s, self.c.caller_id)

    def _ready(self) -> list[Agent]:
        return sorted((a for a in self.agents.values() if a.state == READY), key=lambda a: (a.ready_since_ms, a.id))

    # ------------------------------------------------------------ the decisions
    def _dispatch(self, now: int) -> list:
        out: list = []
        mode = self.c.mode
        for call in sorted((o for o in self.calls.values() if o.state == "waiting"), key=lambda o: o.answered_ms):
            ready = self._ready()
            if not ready:
                break
            out.extend(self._connect(now, call, ready[0]))
        if self.draining:
            return out
        if mode == "agentless":
            busy = sum(1 for o in self.calls.values())
            for _ in range(max(0, self.c.lines - busy)):
                ct = self._next_contact(now)
                if ct is None:
                    break
                out.append(self._place(now, ct, None))
            return out
        for a in self._ready():
            if mode == "preview":
                ct = self._next_contact(now, a.id)
                if ct is None:
                    break
                a.move(RINGING, now, f"preview:{ct.number}")
                self.previews[a.id] = ct
                ct.next_ms = -1
                out.append(Preview(a.id, ct.number, ct.record()))
            elif mode == "progressive" or self._own_callback_due(a.id, now):
                ct = self._next_contact(now, a.id)
                if ct is None:
                    if mode == "progressive":
                        break
                    continue
                out.append(self._place(now, ct, a.id))
        if mode == "predictive":
            out.extend(self._predict(now))
        return out

    def _own_callback_due(self, agent: str, now: int) -> bool:
        return any(ct.callback_agent == agent and not ct.done and ct.next_ms <= now for ct in self._callbacks.values())

    def _predict(self, now: int) -> list:
        ready = len(self._ready())
        talking = [now - a.since_ms for a in self.agents.values() if a.state == TALKING]
        wrap = [max(0, a.wrap_until_ms - now) for a in self.agents.values() if a.state == WRAPUP]
        reserved = sum(1 for a in self.agents.values() if a.state == RINGING)
        if not (ready or talking or wrap or reserved):
            return []
        in_flight = sum(1 for o in self.calls.values() if o.state == "dialing" and o.agent is None)
        waiting = sum(1 for o in self.calls.values() if o.state == "waiting")
        n = self.pacer.lines(now, ready=ready, talking_ms=talking, wrap_left_ms=wrap, in_flight=in_flight,
                             waiting=waiting)
        out = []
        for _ in range(n):
            ct = self._next_contact(now)
            if ct is None:
                break
            out.append(self._place(now, ct, None))
        return out

    def _connect(self, now: int, call: Outgoing, agent: Agent) -> list:
        if agent.state == READY:
            agent.move(RINGING, now, call.id)
        agent.move(TALKING, now, call.id)
        call.agent, call.state, call.connected_ms, call.deadline_ms = agent.id, "connected", now, None
        if call.answered_ms is not None:
            self.pacer.resolved_call(now, False, call=call.key)
        return [Connect(call.id, agent.id)]

    def _release_agent(self, now: int, call: Outgoing, wrap: bool) -> None:
        if call.agent is None:
            return
        a = self.agents[call.agent]
        if a.call != call.id:
            return
        if wrap and a.state == TALKING and self.c.wrapup_s > 0:
            a.move(WRAPUP, now)
            a.wrap_until_ms = now + int(self.c.wrapup_s * 1000)
        elif a.state in (RINGING, TALKING):
            a.move(READY, now)
        a.call = None
        if a.pending and a.pending[0] == "logout" and a.state != WRAPUP:
            a.move(LOGGED_OUT, now)
            a.pending = None

    def _end(self, now: int, call: Outgoing, outcome: str, *, code_obj=None, callback_ms: int | None = None,
             same_agent: bool = False, answers: dict | None = None, reason: str = "") -> None:
        """Record the attempt, recycle or close the number."""
        self.calls.pop(call.id, None)
        ct = call.contact
        self._log(kind="attempt", call=call.id, number=ct.number, customer=ct.customer, attempt=ct.attempts,
                  agent=call.agent, outcome=outcome, placed_ms=call.placed_ms, answered_ms=call.answered_ms,
                  connected_ms=call.connected_ms, ended_ms=now, mode=self.c.mode, reason=reason,
                  answers=answers or {}, callback_ms=callback_ms)
        ct.outcome = outcome
        if code_obj is not None and code_obj.dnc:
            self.extra_dnc.add(ct.number)
            self._log(kind="dnc", number=ct.number, reason=f"disposition {outcome}", at_ms=now)
        if code_obj is not None and code_obj.final or outcome == "completed" or (code_obj and code_obj.dnc):
            ct.done = True
            return
        if code_obj is not None and code_obj.callback:
            if callback_ms is None:
                raise OutboundError(f"disposition {outcome} needs a callback time")
            ct.callback_agent = call.agent if same_agent and call.agent else None
            if ct.callback_agent is not None:
                self._callbacks[ct.number] = ct
            self._reschedule(ct, callback_ms)
            return
        if ct.attempts >= self.c.max_attempts:
            ct.done = True
            return
        minutes = (code_obj.recycle_min if code_obj is not None and code_obj.recycle_min is not None
                   else self.c.recycle_min.get(outcome, 60))
        self._reschedule(ct, now + int(minutes * 60_000))

    # ------------------------------------------------------------ agent commands
    def login(self, agent: str) -> list:
        now, a = self.clock(), self._agent(agent)
        if a.state == LOGGED_OUT:
            a.login_ms = now
            a.move(READY, now)
        a.pending = None
        return self._finish(now, [])

    def logout(self, agent: str) -> list:
        now, a = self.clock(), self._agent(agent)
        if a.state in (READY,):
            a.move(LOGGED_OUT, now)
        elif a.state != LOGGED_OUT:
            a.pending = ("logout", "")
        return self._finish(now, [])

    def preview_dial(self, agent: str) -> list:
        now, a = self.clock(), self._agent(agent)
        ct = self.previews.pop(agent, None)
        if ct is None:
            raise OutboundError(f"agent {agent} has no record in preview")
        out = []
        if compliance.refusal(ct, now, self.c, self._listed) is not None:
            self._allowed(ct, now)                # logged, rescheduled
            a.move(READY, now)
        else:
            out.append(self._place(now, ct, agent))
        return self._finish(now, out)

    def preview_skip(self, agent: str) -> list:
        now, a = self.clock(), self._agent(agent)
        ct = self.previews.pop(agent, None)
        if ct is None:
            raise OutboundError(f"agent {agent} has no record in preview")
        a.move(READY, now)
        self._log(kind="refusal", number=ct.number, reason="skipped-by-agent", at_ms=now, attempts=ct.attempts)
        self._reschedule(ct, now + int(self.c.min_spacing_min * 60_000))
        return self._finish(now, [])

    def drain(self) -> list:
        """Dial no more numbers (the end of a run): calls in progress go on, answered calls still
        reach agents or are abandoned as usual; ``finished()`` once the last one ended."""
        self.draining = True
        return self._finish(self.clock(), [])

    # ------------------------------------------------------------ telephony results
    def answered(self, call: str, machine: bool = False) -> list:
        """The number answered; ``machine``: the answering-machine detector said so."""
        now, o, out = self.clock(), self.calls.get(call), []
        if o is None or o.state != "dialing":
            return self._finish(now, out)
        o.answered_ms = now
        self.pacer.dial_result(not machine, now - o.placed_ms, call=o.key)
        if machine:
            o.machine = True
            self._release_agent(now, o, wrap=False)
            if self.c.amd.get("on_machine") == "leave-message" and self.c.flow:
                o.state = "flow"
                o.agent = None
                out.append(StartFlow(call, self.c.flow))
                return self._finish(now, out)
            out.append(Hangup(call, "machine"))
            o.state = "ending"
            self._end(now, o, "machine")
            return self._finish(now, out)
        if self.c.mode == "agentless":
            o.state = "flow"
            out.append(StartFlow(call, self.c.flow or "survey"))
            return self._finish(now, out)
        if o.agent is not None:
            a = self.agents[o.agent]
            o.state = "connected"
            o.connected_ms = now
            a.move(TALKING, now, call)
            self.pacer.resolved_call(now, False, call=o.key)   # a person, with their agent at once
            out.append(Connect(call, a.id))
            return self._finish(now, out)
        ready = self._ready()
        if ready:
            out.extend(self._connect(now, o, ready[0]))
        else:
            o.state = "waiting"
            o.deadline_ms = now + self.connect_window_ms
        return self._finish(now, out)

    def failed(self, call: str, cause: str) -> list:
        """The call was not answered: ``busy``, ``no-answer`` or ``failed``."""
        now, o = self.clock(), self.calls.get(call)
        if o is None or o.state != "dialing":
            return self._finish(now, [])
        outcome = cause if cause in ("busy", "no-answer") else "failed"
        self.pacer.dial_result(False, call=o.key)
        self._release_agent(now, o, wrap=False)
        self._end(now, o, outcome, reason=cause)
        return self._finish(now, [])

    def hangup(self, call: str, disposition: str | None = None, *, callback_ms: int | None = None,
               same_agent: bool = False, answers: dict | None = None) -> list:
        """The call ended (either side hung up); for a call that was with an agent, the agent's
        ``disposition`` (one of the campaign's codes; none given: ``answered``)."""
        now, o = self.clock(), self.calls.get(call)
        if o is None:
            return self._finish(now, [])
        if o.state == "dialing":                  # the line gave up before any answer
            return self.failed(call, "no-answer")
        if o.state == "waiting":
            self.pacer.resolved_call(now, True, call=o.key)   # answered, never reached an agent
            self._end(now, o, "dropped", reason=WAITED_DROP)
            return self._finish(now, [])
        if o.state == "flow":
            self._end(now, o, "completed" if answers else "dropped", answers=answers,
                      reason=MACHINE_FLOW if o.machine else "")
            return self._finish(now, [])
        if o.state == "ending":
            return self._finish(now, [])
        code = disposition or "answered"
        obj = self.c.dispositions.get(code)
        if disposition is not None and obj is None:
            raise OutboundError(f"{disposition!r} is not a disposition of campaign {self.c.name} "
                                f"(known: {', '.join(self.c.dispositions) or 'none'})")
        if o.connected_ms is not None:
            self.pacer.talk(now - o.connected_ms, call=o.key)
        self._release_agent(now, o, wrap=True)
        self._end(now, o, code, code_obj=obj, callback_ms=callback_ms, same_agent=same_agent, answers=answers)
        return self._finish(now, [])

    def flow_done(self, call: str, answers: dict | None = None, optout: bool = False) -> list:
        """An agentless call's flow is over (``answers``: question id -> keypad answer;
        ``optout``: the called person asked to be called no more)."""
        now, o = self.clock(), self.calls.get(call)
        if o is None:
            return self._finish(now, [])
        if optout:
            self.extra_dnc.add(o.contact.number)
            self._log(kind="dnc", number=o.contact.number, reason="ivr-optout", at_ms=now)
            o.contact.done = True
        self._end(now, o, "completed", answers=answers or {}, reason=MACHINE_FLOW if o.machine else "")
        if optout:
            o.contact.done = True
        return self._finish(now, [Hangup(call, "flow done")])

    def connect_failed(self, call: str) -> list:
        """The agent's phone did not take the call ``Connect`` gave them (not registered, not
        answering): the agent is logged out, and the call waits for another agent for what is left
        of its ``connect_within_s`` after the answer, or is abandoned."""
        now, o = self.clock(), self.calls.get(call)
        if o is None or o.state != "connected" or o.agent is None:
            return self._finish(now, [])
        a = self.agents[o.agent]
        if a.call == call and a.state in (RINGING, TALKING):
            a.move(LOGGED_OUT, now)
            a.pending = None
        if o.connected_ms is not None:
            self.pacer.unresolve(o.connected_ms, call=o.key)  # counted as reaching an agent in time: it did not
        o.agent, o.state, o.connected_ms = None, "waiting", None
        o.deadline_ms = (o.answered_ms if o.answered_ms is not None else now) + self.connect_window_ms
        return self.tick()

    # ------------------------------------------------------------ timers
    def next_deadline(self) -> int | None:
        times = [o.deadline_ms for o in self.calls.values() if o.state == "waiting" and o.deadline_ms is not None]
        times += [a.wrap_until_ms for a in self.agents.values() if a.state == WRAPUP]
        now = self.clock()
        # numbers due now wait for a free agent or line (every event looks again); only later ones are timers
        later = [t for t, _, n in self._heap if t > now]
        if later:
            times.append(min(later))
        times += [ct.next_ms for ct in self._callbacks.values() if not ct.done and ct.next_ms > now]
        return min(times) if times else None

    def tick(self) -> list:
        now, out = self.clock(), []
        for a in self.agents.values():
            if a.state == WRAPUP and a.wrap_until_ms <= now:
                a.move(READY, now)
                if a.pending and a.pending[0] == "logout":
                    a.move(LOGGED_OUT, now)
                    a.pending = None
        for o in sorted(self.calls.values(), key=lambda o: o.placed_ms):
            if o.state == "waiting" and o.deadline_ms is not None and o.deadline_ms <= now:
                ready = self._ready()
                if ready:
                    out.extend(self._connect(now, o, ready[0]))
                    continue
                o.state = "ending"
                self.pacer.resolved_call(now, True, call=o.key)
                out.append(Abandon(o.id, self.c.abandon_message))
                self._end(now, o, "abandoned", reason=f"no agent within {self.c.pacing.connect_within_s:g} s")
        return self._finish(now, out)

    # ------------------------------------------------------------ views
    def status(self) -> dict:
        states: dict[str, int] = {}
        for ct in self.contacts.values():
            key = "done" if ct.done else ("in-call" if ct.next_ms == -1 else "pending")
            states[key] = states.get(key, 0) + 1
        return {"campaign": self.c.name, "mode": self.c.mode, "contacts": states,
                "calls": {o.id: o.state for o in self.calls.values()},
                "agents": {a.id: a.state for a in self.agents.values()},
                "abandon_rate": self.pacer.abandon_rate(self.clock()),
                "answer_rate": self.pacer.answer_rate()}

    def finished(self) -> bool:
        """Nothing in progress and no number left that could still be dialled (or draining)."""
        if self.calls:
            return False
        return self.draining or all(ct.done or ct.attempts >= self.c.max_attempts for ct in self.contacts.values())
