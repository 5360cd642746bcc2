"""The ACD engine: pure, driven by events, with an injected clock; it returns actions.

The telephony service (or a simulation) calls one method per event and carries out the actions
returned; it calls ``tick()`` at ``next_deadline()`` (or any time after) so that ring timeouts,
wrap-up ends, queue timeouts and announcements happen.  Nothing here does I/O: the queue log goes
to ``log`` (a callable taking a list of ``queue_log.Entry``), the caller directory is a callable
(caller number -> customer key or None) and randomness comes from a seeded ``random.Random``.

Events from the telephony side that no longer match the engine's state (an answer after the
caller hung up, a ring result for a ring already cancelled) never corrupt it: they are ignored,
and an answer that cannot be honoured returns ``Refuse`` so the agent's leg is hung up.
Agent commands with nothing to do (pause a paused agent) do nothing; unknown agents, queues
and calls are ``AcdError`` for commands and ignored for telephony results.  docs/callcenter.md
describes every event and action.
"""
from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from hub.acd import strategies
from hub.acd.agents import LOGGED_OUT, PAUSED, READY, RINGING, TALKING, WRAPUP, Agent
from hub.acd.config import Centre, Member, Queue, Target
from hub.acd.errors import AcdError
from hub.acd.queue_log import Entry, entry

NO_ANSWER_CODE = "no-answer"


# ---------------------------------------------------------------- actions

@dataclass(frozen=True)
class Ring:
    """Ring ``agent`` for ``call`` (from ``queue``) for at most ``timeout_s``."""
    agent: str
    call: str
    queue: str
    timeout_s: float


@dataclass(frozen=True)
class StopRing:
    agent: str
    call: str


@dataclass(frozen=True)
class Bridge:
    """Connect the caller of ``call`` with ``agent`` (who answered)."""
    call: str
    agent: str


@dataclass(frozen=True)
class Refuse:
    """``agent`` answered ``call`` too late (the caller left, another agent took it): hang up the agent's leg."""
    agent: str
    call: str


@dataclass(frozen=True)
class Announce:
    """Tell the caller their place (1 = next) and the expected wait in seconds (None: not announced)."""
    call: str
    position: int
    expected_wait_s: int | None


@dataclass(frozen=True)
class Play:
    """A periodic comfort message."""
    call: str
    prompt: str


@dataclass(frozen=True)
class Route:
    """The caller leaves the queue for ``target`` (voicemail, IVR, callback, hangup); ``reason``
    the queue-log event that took them out."""
    call: str
    target: Target
    reason: str


@dataclass(frozen=True)
class Supervise:
    """Join ``supervisor`` to ``call`` (connected to ``agent``): ``listen`` (hears both),
    ``whisper`` (heard by the agent only), ``barge`` (heard by both), ``takeover`` (the supervisor
    stays with the caller, the agent leaves)."""
    supervisor: str
    call: str
    agent: str
    mode: str


SUPERVISE_MODES = ("listen", "whisper", "barge", "takeover")


# ---------------------------------------------------------------- calls

@dataclass
class Call:
    id: str
    queue: str
    caller: str
    customer: str
    priority: int
    entered_ms: int
    seq: int
    orig_pos: int
    first_ms: int = 0               # first arrival (kept through overflows and transfers)
    kind: str = "voice"
    state: str = "waiting"          # waiting | ringing | talking
    ringing: dict[str, int] = field(default_factory=dict)    # agent -> ring start ms
    next_try_ms: int = 0
    agent: str | None = None
    connect_ms: int = 0
    hold_start_ms: int | None = None
    next_announce_ms: int | None = None
    next_periodic_ms: int | None = None
    periodic_idx: int = 0


def _s(ms: int) -> str:
    return str(max(0, int(round(ms / 1000))))


class Engine:
    """The ACD of one call center (``centre``: its queues and agents)."""

    def __init__(self, centre: Centre, clock: Callable[[], int], *, log: Callable[[list[Entry]], None] | None = None,
                 directory: Callable[[str], str | None] | None = None, seed: int = 0,
                 last_agents: dict[str, tuple[str, int]] | None = None):
        self.centre = centre
        self.clock = clock
        self._log_sink = log
        self.directory = directory
        self.rng = random.Random(seed)
        self.agents: dict[str, Agent] = {aid: Agent(aid) for aid in centre.agents}
        self.calls: dict[str, Call] = {}
        # queue -> agent -> Member (the active members: logged-in agents of the queue)
        self.members: dict[str, dict[str, Member]] = {q: {} for q in centre.queues}
        self.order: dict[str, list[str]] = {q: [m.agent for m in centre.queues[q].members] for q in centre.queues}
        self.rank: dict[str, dict[str, int]] = {q: {a: i for i, a in enumerate(o)} for q, o in self.order.items()}
        self.rr: dict[str, str] = {}
        self.available: set[str] = set()
        self.last_agent: dict[str, tuple[str, int]] = dict(last_agents or {})   # customer -> (agent, end ms)
        self.handle_ms: dict[str, float] = {q: centre.queues[q].aht_s * 1000 for q in centre.queues}
        self._seq = 0
        self._pending_log: list[Entry] = []

    # ------------------------------------------------------------ plumbing

    def _log(self, now: int, callid: str, queue: str, agent: str, event: str, *data) -> None:
        self._pending_log.append(entry(now, callid, queue, agent, event, *data))

    def _finish(self, now: int, actions: list) -> list:
        actions.extend(self._dispatch(now))
        if self._pending_log:
            batch, self._pending_log = self._pending_log, []
            if self._log_sink is not None:
                self._log_sink(batch)
        return actions

    def _agent(self, aid: str) -> Agent:
        a = self.agents.get(aid)
        if a is None:
            raise AcdError(f"unknown agent {aid!r}")
        return a

    def _set(self, a: Agent, state: str, now: int, call: str | None = None) -> None:
        a.move(state, now, call)
        if state == READY:
            self.available.add(a.id)
        else:
            self.available.discard(a.id)

    def queue(self, name: str) -> Queue:
        return self.centre.queue(name)

    # ------------------------------------------------------------ agent commands

    def login(self, agent: str, seat: str = "") -> list:
        """The agent logs in (at ``seat``) and becomes ready in every queue they are a member of."""
        now, a, out = self.clock(), self._agent(agent), []
        if a.state != LOGGED_OUT:
            if a.pending and a.pending[0] == "logout":
                a.pending = None
            return self._finish(now, out)
        a.seat, a.login_ms, a.no_answer_streak, a.pending = seat, now, 0, None
        self._log(now, "NONE", "NONE", agent, "AGENTLOGIN", seat)
        for qname, q in self.centre.queues.items():
            m = q.member(agent)
            if m is not None:
                self.members[qname][agent] = m
                self._log(now, "NONE", qname, agent, "ADDMEMBER")
        self._set(a, READY, now)
        return self._finish(now, out)

    def add_member(self, agent: str, queue: str, penalty: int = 0) -> list:
        """Add a logged-in agent to ``queue`` for now (a dynamic member, in the last place)."""
        now, a, q = self.clock(), self._agent(agent), self.queue(queue)
        if a.state == LOGGED_OUT:
            raise AcdError(f"agent {agent} is logged out: log in first")
        if agent not in self.members[queue]:
            self.members[queue][agent] = q.member(agent) or Member(agent, penalty)
            if agent not in self.rank[queue]:
                self.rank[queue][agent] = len(self.order[queue])
                self.order[queue].append(agent)
            self._log(now, "NONE", queue, agent, "ADDMEMBER")
        return self._finish(now, [])

    def remove_member(self, agent: str, queue: str) -> list:
        now, a, _ = self.clock(), self._agent(agent), self.queue(queue)
        out: list = []
        if agent in self.members[queue]:
            del self.members[queue][agent]
            self._log(now, "NONE", queue, agent, "REMOVEMEMBER")
            if a.state == RINGING and self.calls[a.call].queue == queue:
                self._cancel_ring(a, now, out)
                self._after_ring(a, now)
            self._leave_empty(now, out)
        return self._finish(now, out)

    def logout(self, agent: str) -> list:
        """Log out; during a call or its wrap-up, at its end."""
        now, a, out = self.clock(), self._agent(agent), []
        if a.state == LOGGED_OUT:
            return self._finish(now, out)
        if a.state in (TALKING, WRAPUP):
            a.pending = ("logout", "")
            return self._finish(now, out)
        if a.state == RINGING:
            self._cancel_ring(a, now, out)
        self._do_logout(a, now)
        self._leave_empty(now, out)
        return self._finish(now, out)

    def _do_logout(self, a: Agent, now: int) -> None:
        for qname, mem in self.members.items():
            if a.id in mem:
                del mem[a.id]
                self._log(now, "NONE", qname, a.id, "REMOVEMEMBER")
        if a.state == PAUSED:
            self._log(now, "NONE", "NONE", a.id, "UNPAUSE", a.pause_code)
        self._log(now, "NONE", "NONE", a.id, "AGENTLOGOFF", a.seat, _s(now - a.login_ms))
        a.pending = None
        self._set(a, LOGGED_OUT, now)

    def pause(self, agent: str, code: str = "") -> list:
        """Not ready with a pause ``code``; during a call or wrap-up, at its end."""
        now, a, out = self.clock(), self._agent(agent), []
        if a.state == LOGGED_OUT:
            raise AcdError(f"agent {agent} is logged out: log in first")
        if a.state in (TALKING, WRAPUP):
            a.pending = ("pause", code)
            return self._finish(now, out)
        if a.state == PAUSED and a.pause_code == code:
            return self._finish(now, out)
        if a.state == RINGING:
            self._cancel_ring(a, now, out)
        self._do_pause(a, now, code)
        self._leave_empty(now, out)
        return self._finish(now, out)

    def _do_pause(self, a: Agent, now: int, code: str) -> None:
        if a.state == PAUSED:
            self._log(now, "NONE", "NONE", a.id, "UNPAUSE", a.pause_code)
        self._set(a, PAUSED, now)
        a.pause_code = code
        self._log(now, "NONE", "NONE", a.id, "PAUSE", code)

    def ready(self, agent: str) -> list:
        """Ready for calls: ends a pause or the wrap-up early, or cancels a pending pause or log-out."""
        now, a, out = self.clock(), self._agent(agent), []
        if a.state == LOGGED_OUT:
            raise AcdError(f"agent {agent} is logged out: log in first")
        a.pending = None
        if a.state == PAUSED:
            self._log(now, "NONE", "NONE", a.id, "UNPAUSE", a.pause_code)
            a.no_answer_streak = 0
            self._set(a, READY, now)
        elif a.state == WRAPUP:
            self._end_wrapup(a, now)
        return self._finish(now, out)

    def end_wrapup(self, agent: str) -> list:
        """The agent finished after-call work before the wrap-up time ran out."""
        now, a = self.clock(), self._agent(agent)
        if a.state == WRAPUP:
            self._end_wrapup(a, now)
        return self._finish(now, [])

    def _end_wrapup(self, a: Agent, now: int) -> None:
        self._log(now, "NONE", "NONE", a.id, "WRAPUPEND", _s(now - a.since_ms))
        self._settle(a, now)

    def _settle(self, a: Agent, now: int) -> None:
        """After a call (and its wrap-up): ready, or what the agent asked for meanwhile."""
        pending, a.pending = a.pending, None
        self._set(a, READY, now)
        if pending and pending[0] == "pause":
            self._do_pause(a, now, pending[1])
        elif pending and pending[0] == "logout":
            self._do_logout(a, now)

    # ------------------------------------------------------------ callers

    def _customer(self, caller: str) -> str:
        key = None
        if self.directory is not None and caller:
            key = self.directory(caller)
        return str(key) if key else caller

    def _logged_in(self, q: str, strict: bool) -> bool:
        for aid in self.members[q]:
            st = self.agents[aid].state
            if st != LOGGED_OUT and not (strict and st == PAUSED):
                return True
        return False

    def join(self, call: str, queue: str, caller: str = "", priority: int = 0) -> list:
        """A caller enters ``queue`` (the IVR sent them); a higher ``priority`` is served first."""
        now, q, out = self.clock(), self.queue(queue), []
        if call in self.calls:
            raise AcdError(f"call {call!r} is already in queue {self.calls[call].queue}")
        self._enter(now, call, q, caller, priority, out, None)
        return self._finish(now, out)

    def _enter(self, now, call, q: Queue, caller, priority, out, first_ms) -> None:
        waiting = [c for c in self.calls.values() if c.queue == q.name and c.state != "talking"]
        if q.max_len and len(waiting) >= q.max_len:
            self._log(now, call, q.name, "NONE", "FULL", "", caller)
            return self._route(now, call, caller, q.when_full, "FULL", out, priority, first_ms)
        if q.join_empty != "yes" and not self._logged_in(q.name, q.join_empty == "strict"):
            self._log(now, call, q.name, "NONE", "JOINEMPTY", "", caller)
            return self._route(now, call, caller, q.when_empty, "JOINEMPTY", out, priority, first_ms)
        self._seq += 1
        c = Call(call, q.name, caller, self._customer(caller), priority, now, self._seq, len(waiting) + 1)
        c.first_ms = first_ms if first_ms is not None else now
        self.calls[call] = c
        self._log(now, call, q.name, "NONE", "ENTERQUEUE", "", caller)
        if q.announce_every_s:
            c.next_announce_ms = now
        if q.periodic_every_s:
            c.next_periodic_ms = now + int(q.periodic_every_s * 1000)

    def _route(self, now, call, caller, target: Target, reason, out, priority=0, first_ms=None) -> None:
        if target.kind == "queue":
            self._enter(now, call, self.queue(target.name), caller, priority, out,
                        first_ms if first_ms is not None else now)
        else:
            out.append(Route(call, target, reason))

    def closed(self, call: str, queue: str, caller: str = "") -> list:
        """A call that reached ``queue`` out of hours (logged CLOSED; it gets a callback entry)."""
        now = self.clock()
        self.queue(queue)
        self._log(now, call, queue, "NONE", "CLOSED", "", caller)
        return self._finish(now, [])

    def _position(self, c: Call) -> tuple[int, int]:
        """(position counting from 1, callers in the queue)."""
        key = self._order_key(c)
        pos, n = 1, 0
        for o in self.calls.values():
            if o.queue == c.queue and o.state != "talking":
                n += 1
                if o is not c and self._order_key(o) < key:
                    pos += 1
        return pos, n

    def _exit(self, now: int, c: Call, event: str, out: list, *extra) -> None:
        pos, _ = self._position(c)
        for aid in list(c.ringing):
            self._cancel_ring(self.agents[aid], now, out)
            self._after_ring(self.agents[aid], now)
        del self.calls[c.id]
        self._log(now, c.id, c.queue, "NONE", event, *extra, str(pos), str(c.orig_pos), _s(now - c.entered_ms))

    def hangup(self, call: str) -> list:
        """The caller hung up: ABANDON while waiting or ringing, COMPLETECALLER when connected."""
        now, out = self.clock(), []
        c = self.calls.get(call)
        if c is None:
            return self._finish(now, out)
        if c.state == "talking":
            self._complete(now, c, "COMPLETECALLER", out)
        else:
            self._exit(now, c, "ABANDON", out)
        return self._finish(now, out)

    def agent_hangup(self, call: str) -> list:
        """The agent hung up a connected call (COMPLETEAGENT)."""
        now, out = self.clock(), []
        c = self.calls.get(call)
        if c is not None and c.state == "talking":
            self._complete(now, c, "COMPLETEAGENT", out)
        return self._finish(now, out)

    def key(self, call: str, digit: str) -> list:
        """The waiting caller pressed ``digit``: if the queue has it as an exit key, they leave."""
        now, out = self.clock(), []
        c = self.calls.get(call)
        if c is not None and c.state != "talking":
            target = self.queue(c.queue).exit_keys.get(digit)
            if target is not None:
                caller, prio, first = c.caller, c.priority, c.first_ms
                self._exit(now, c, "EXITWITHKEY", out, digit)
                self._route(now, call, caller, target, "EXITWITHKEY", out, prio, first)
        return self._finish(now, out)

    def hold(self, call: str) -> list:
        now, c = self.clock(), self.calls.get(call)
        if c is not None and c.state == "talking" and c.hold_start_ms is None:
            c.hold_start_ms = now
            self._log(now, call, c.queue, c.agent, "HOLD")
        return self._finish(now, [])

    def unhold(self, call: str) -> list:
        now, c = self.clock(), self.calls.get(call)
        if c is not None and c.state == "talking" and c.hold_start_ms is not None:
            c.hold_start_ms = None
            self._log(now, call, c.queue, c.agent, "UNHOLD")
        return self._finish(now, [])

    def transfer(self, call: str, target: str) -> list:
        """The agent transferred a connected call: to ``queue:NAME`` (it waits there, keeping its
        place by its first arrival) or to any other extension (it leaves the ACD).  The agent
        goes to wrap-up either way."""
        now, out = self.clock(), []
        c = self.calls.get(call)
        if c is None or c.state != "talking":
            raise AcdError(f"call {call!r} is not connected to an agent")
        kind, _, name = target.partition(":")
        if kind == "queue":
            self.queue(name)
        a = self.agents[c.agent]
        if c.hold_start_ms is not None:
            self._log(now, call, c.queue, a.id, "UNHOLD")
        self._log(now, call, c.queue, a.id, "TRANSFER", target, "", _s(c.connect_ms - c.entered_ms),
                  _s(now - c.connect_ms), str(c.orig_pos))
        del self.calls[call]
        self._after_call(a, c, now)
        if kind == "queue":
            self._enter(now, call, self.queue(name), c.caller, c.priority, out, c.first_ms)
        return self._finish(now, out)

    def supervise(self, supervisor: str, call: str, mode: str) -> list:
        """A supervisor listens to, whispers to, barges into or takes over a connected call.
        A takeover ends the agent's part (TRANSFER to ``supervisor:ID``; the agent goes to wrap-up)."""
        now, out = self.clock(), []
        if mode not in SUPERVISE_MODES:
            raise AcdError(f"unknown supervision mode {mode!r}; one of {', '.join(SUPERVISE_MODES)}")
        c = self.calls.get(call)
        if c is None or c.state != "talking":
            raise AcdError(f"call {call!r} is not connected to an agent")
        out.append(Supervise(supervisor, call, c.agent, mode))
        if mode == "takeover":
            a = self.agents[c.agent]
            if c.hold_start_ms is not None:
                self._log(now, call, c.queue, a.id, "UNHOLD")
            self._log(now, call, c.queue, a.id, "TRANSFER", f"supervisor:{supervisor}", "",
                      _s(c.connect_ms - c.entered_ms), _s(now - c.connect_ms), str(c.orig_pos))
            del self.calls[call]
            self._after_call(a, c, now)
        return self._finish(now, out)

    def _complete(self, now: int, c: Call, event: str, out: list) -> None:
        a = self.agents[c.agent]
        if c.hold_start_ms is not None:
            self._log(now, c.id, c.queue, a.id, "UNHOLD")
        self._log(now, c.id, c.queue, a.id, event, _s(c.connect_ms - c.entered_ms), _s(now - c.connect_ms),
                  str(c.orig_pos))
        del self.calls[c.id]
        self._after_call(a, c, now)

    def _after_call(self, a: Agent, c: Call, now: int) -> None:
        q = self.queue(c.queue)
        a.last_end_ms[c.queue] = now
        self.last_agent[c.customer] = (a.id, now)
        talk = now - c.connect_ms
        self.handle_ms[c.queue] = 0.9 * self.handle_ms[c.queue] + 0.1 * (talk + q.wrapup_s * 1000)
        if q.wrapup_s > 0:
            self._set(a, WRAPUP, now)
            a.wrap_until_ms = now + int(q.wrapup_s * 1000)
        else:
            self._log(now, "NONE", "NONE", a.id, "WRAPUPEND", "0")     # the log says when the agent is free
            self._settle(a, now)

    # ------------------------------------------------------------ ring results

    def answered(self, agent: str, call: str) -> list:
        now, out = self.clock(), []
        a, c = self.agents.get(agent), self.calls.get(call)
        if a is None or c is None or a.state != RINGING or a.call != call or agent not in c.ringing:
            out.append(Refuse(agent, call))
            return self._finish(now, out)
        start = c.ringing.pop(agent)
        for other in list(c.ringing):
            oa = self.agents[other]
            self._cancel_ring(oa, now, out)
            self._after_ring(oa, now)
        c.state, c.agent, c.connect_ms = "talking", agent, now
        c.next_announce_ms = c.next_periodic_ms = None
        a.no_answer_streak = 0
        a.calls[c.queue] = a.calls.get(c.queue, 0) + 1
        self._set(a, TALKING, now, call)
        self._log(now, call, c.queue, agent, "CONNECT", _s(now - c.entered_ms), f"{agent}-{call}", _s(now - start),
                  str(now - start))
        out.append(Bridge(call, agent))
        return self._finish(now, out)

    def no_answer(self, agent: str, call: str) -> list:
        """The agent's phone rang out (or was busy)."""
        return self._ring_failed(agent, call, counts=True)

    def rejected(self, agent: str, call: str) -> list:
        """The agent declined the call."""
        return self._ring_failed(agent, call, counts=True)

    def _ring_failed(self, agent: str, call: str, counts: bool) -> list:
        now, out = self.clock(), []
        a, c = self.agents.get(agent), self.calls.get(call)
        if a is None or c is None or agent not in c.ringing or a.call != call:
            return self._finish(now, out)
        self._no_answer(a, c, now, out, stop=False)
        return self._finish(now, out)

    def _no_answer(self, a: Agent, c: Call, now: int, out: list, stop: bool) -> None:
        start = c.ringing.pop(a.id)
        if stop:
            out.append(StopRing(a.id, c.id))
        self._log(now, c.id, c.queue, a.id, "RINGNOANSWER", str(now - start))
        if not c.ringing:
            c.state = "waiting"
            c.next_try_ms = now + int(self.queue(c.queue).retry_s * 1000)
        a.no_answer_streak += 1
        limit = self.queue(c.queue).max_no_answer
        self._set(a, READY, now)
        if limit and a.no_answer_streak >= limit and not (a.pending and a.pending[0] == "logout"):
            a.pending = None
            self._do_pause(a, now, NO_ANSWER_CODE)
        else:
            self._after_ring(a, now, already_ready=True)

    def _cancel_ring(self, a: Agent, now: int, out: list) -> None:
        """Stop ringing ``a`` (another agent answered, the caller left, the agent paused)."""
        c = self.calls[a.call]
        start = c.ringing.pop(a.id)
        out.append(StopRing(a.id, c.id))
        self._log(now, c.id, c.queue, a.id, "RINGCANCELED", str(now - start))
        if not c.ringing and c.state == "ringing":
            c.state = "waiting"
        self._set(a, READY, now)

    def _after_ring(self, a: Agent, now: int, already_ready: bool = True) -> None:
        if a.pending:
            self._settle(a, now)

    # ------------------------------------------------------------ time

    def tick(self) -> list:
        """Everything due by now: ring timeouts, wrap-up ends, queue timeouts, announcements."""
        now, out = self.clock(), []
        for a in list(self.agents.values()):
            if a.state == WRAPUP and a.wrap_until_ms <= now:
                self._end_wrapup(a, now)
        for c in list(self.calls.values()):
            q = self.queue(c.queue)
            for aid, start in list(c.ringing.items()):
                if start + q.ring_timeout_s * 1000 <= now:
                    self._no_answer(self.agents[aid], c, now, out, stop=True)
        for c in list(self.calls.values()):
            q = self.queue(c.queue)
            if c.state != "talking" and q.timeout_s and c.entered_ms + q.timeout_s * 1000 <= now:
                caller, prio, first = c.caller, c.priority, c.first_ms
                self._exit(now, c, "EXITWITHTIMEOUT", out)
                self._route(now, c.id, caller, q.overflow, "EXITWITHTIMEOUT", out, prio, first)
        self._leave_empty(now, out)
        out = self._finish(now, out)
        for c in self.calls.values():
            if c.state == "talking":
                continue
            q = self.queue(c.queue)
            if c.next_announce_ms is not None and c.next_announce_ms <= now:
                out.append(self.announcement(c.id))
                c.next_announce_ms = now + int(q.announce_every_s * 1000)
            if c.next_periodic_ms is not None and c.next_periodic_ms <= now:
                out.append(Play(c.id, q.periodic_prompts[c.periodic_idx % len(q.periodic_prompts)]))
                c.periodic_idx += 1
                c.next_periodic_ms = now + int(q.periodic_every_s * 1000)
        return out

    def _leave_empty(self, now: int, out: list) -> None:
        for qname, q in self.centre.queues.items():
            if q.leave_empty == "no" or self._logged_in(qname, q.leave_empty == "strict"):
                continue
            for c in [c for c in self.calls.values() if c.queue == qname and c.state == "waiting"]:
                caller, prio, first = c.caller, c.priority, c.first_ms
                self._exit(now, c, "EXITEMPTY", out)
                self._route(now, c.id, caller, q.when_empty, "EXITEMPTY", out, prio, first)

    def next_deadline(self) -> int | None:
        """The earliest time (ms) at which ``tick()`` has something to do, or None."""
        times = [a.wrap_until_ms for a in self.agents.values() if a.state == WRAPUP]
        for c in self.calls.values():
            q = self.queue(c.queue)
            times.extend(start + int(q.ring_timeout_s * 1000) for start in c.ringing.values())
            if c.state == "talking":
                continue
            if q.timeout_s:
                times.append(c.entered_ms + int(q.timeout_s * 1000))
            if c.state == "waiting":
                if c.next_try_ms > self.clock():
                    times.append(c.next_try_ms)
                times.extend(self._widening_times(c, q))
            for t in (c.next_announce_ms, c.next_periodic_ms):
                if t is not None:
                    times.append(t)
        return min(times) if times else None

    def _widening_times(self, c: Call, q: Queue) -> list[int]:
        out = [c.entered_ms + int(r.after_s * 1000) for r in q.rules]
        if q.tier_wait_s:
            levels = {m.level for m in self.members[q.name].values()}
            out.extend(c.entered_ms + int(lv * q.tier_wait_s * 1000) for lv in levels)
        now = self.clock()
        return [t for t in out if t > now]

    # ------------------------------------------------------------ announcements

    def expected_wait_s(self, call: str) -> int | None:
        """The expected wait of a waiting caller: position × the queue's handle time (a moving
        average of its answered calls' talk + wrap-up, starting at ``aht_s``) ÷ the agents
        serving it (logged in, not paused); None when nobody serves it."""
        c = self.calls[call]
        pos, _ = self._position(c)
        serving = sum(1 for aid in self.members[c.queue] if self.agents[aid].state not in (LOGGED_OUT, PAUSED))
        if not serving:
            return None
        return int(math.ceil(pos * self.handle_ms[c.queue] / serving / 1000))

    def announcement(self, call: str) -> Announce:
        c = self.calls[call]
        pos, _ = self._position(c)
        ewt = self.expected_wait_s(call) if self.queue(c.queue).announce_expected_wait else None
        return Announce(call, pos, ewt)

    # ------------------------------------------------------------ routing

    def _order_key(self, c: Call):
        return (-self.centre.queues[c.queue].weight, -c.priority, c.first_ms, c.seq)

    def _eligible(self, c: Call, q: Queue, now: int) -> list[Member]:
        waited = (now - c.entered_ms) / 1000
        skills = q.skills
        # with penalty rules a caller starts with the best members (penalty 0) and each rule
        # whose time has come widens the range; without them every penalty is in range
        hi = 0 if any(r.max_penalty is not None for r in q.rules) else math.inf
        for r in q.rules:
            if waited < r.after_s:
                break
            if r.max_penalty is not None:
                hi = max(hi, r.max_penalty)
            if r.drop_skills:
                skills = frozenset()
        max_level = math.floor(waited / q.tier_wait_s) if q.tier_wait_s else math.inf
        mem = self.members[q.name]
        infos = self.centre.agents
        out = []
        for aid in self.available:
            m = mem.get(aid)
            if m is None or m.penalty > hi or m.level > max_level:
                continue
            if skills and not skills <= infos[aid].skills:
                continue
            out.append(m)
        out.sort(key=lambda m: self.rank[q.name][m.agent])
        return out

    def _dispatch(self, now: int) -> list:
        out: list = []
        if not self.available:
            return out
        waiting = [c for c in self.calls.values() if c.state == "waiting" and c.next_try_ms <= now]
        waiting.sort(key=self._order_key)
        for c in waiting:
            if not self.available:
                break
            q = self.queue(c.queue)
            cands = self._eligible(c, q, now)
            if not cands:
                continue
            pick = None
            if q.sticky_window_s:
                last = self.last_agent.get(c.customer)
                if last and now - last[1] <= q.sticky_window_s * 1000:
                    pick = [m for m in cands if m.agent == last[0]] or None
            if pick is None:
                pick = strategies.choose(q.strategy, cands, self.agents, q.name, self.rr, self.rng,
                                         self.order[q.name], self.rank[q.name])
            for m in pick:
                a = self.agents[m.agent]
                self._set(a, RINGING, now, c.id)
                c.ringing[a.id] = now
                out.append(Ring(a.id, c.id, q.name, q.ring_timeout_s))
            if pick:
                c.state = "ringing"
        return out

    # ------------------------------------------------------------ views and checks

    def snapshot(self) -> dict:
        """Agents and waiting callers as a wallboard shows them."""
        now = self.clock()
        return {"agents": [a.snapshot() for a in self.agents.values()],
                "calls": [{"call": c.id, "queue": c.queue, "caller": c.caller, "state": c.state,
                           "waited_ms": now - c.entered_ms, "position": self._position(c)[0] if c.state != "talking" else None,
                           "agent": c.agent, "ringing": sorted(c.ringing)} for c in self.calls.values()]}

    def check(self) -> list[str]:
        """Violations of the engine's invariants (empty when sound): what the property tests assert."""
        bad = []
        for a in self.agents.values():
            if (a.id in self.available) != (a.state == READY):
                bad.append(f"agent {a.id}: {a.state} but {'' if a.id in self.available else 'not '}available")
            if a.state == RINGING:
                c = self.calls.get(a.call)
                if c is None or a.id not in c.ringing:
                    bad.append(f"agent {a.id} ringing for {a.call} which does not ring them")
            elif a.state == TALKING:
                c = self.calls.get(a.call)
                if c is None or c.state != "talking" or c.agent != a.id:
                    bad.append(f"agent {a.id} talking on {a.call} which is not connected to them")
            elif a.call is not None:
                bad.append(f"agent {a.id} is {a.state} but holds {a.call}")
        for c in self.calls.values():
            q = self.queue(c.queue)
            if c.state == "ringing" and not c.ringing:
                bad.append(f"call {c.id} ringing nobody")
            if len(c.ringing) > 1 and q.strategy != "ringall":
                bad.append(f"call {c.id} rings {len(c.ringing)} agents in a {q.strategy} queue")
            for aid in c.ringing:
                if self.agents[aid].call != c.id or self.agents[aid].state != RINGING:
                    bad.append(f"call {c.id} rings {aid} who is {self.agents[aid].state}")
            if c.state == "talking" and (c.ringing or self.agents[c.agent].call != c.id):
                bad.append(f"call {c.id} talking but agent {c.agent} does not hold it")
        return bad
