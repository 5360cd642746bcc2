"""Queues on live calls: the ACD engine (``hub.acd.engine``) driven by the calls and the seats.

One :class:`Acd` per PBX holds the engine (on the wall clock) and a timer at the engine's next
deadline.  A caller that reaches ``queue NAME`` (a dial plan target or an IVR transfer) joins;
while waiting it hears the hold music (``hold_music``, looped) on its app leg, with the
position announcements and comfort messages the engine asks for.  ``Ring`` opens a SIP leg to
the seat the agent logged in at (owned by the queue: its ringing, answer and end come here, not
to the dial plan); the engine's answer is ``Bridge`` (the switch connects the caller to the
agent, the app leg ends) or ``Refuse`` (the agent's leg is hung up).  Ring timeouts are the
engine's; ``StopRing`` cancels the agent's leg.  The hang-ups of the caller and of the agent
are told back (``hangup`` / ``agent_hangup``), and the engine's queue log goes to the file and
the store through ``hub.acd.store.Sink``.

A bridge thread (``presence=True``) shares the engine with other processes through the store
(``hub.acd.presence``): every ``POLL_S`` it carries out the agents' requests made elsewhere (the
web console's state buttons) on the loop, and writes the engine's snapshot when it changed, which
the wallboard and the agents' screen pop read.  The store's waits happen on that thread, never on
the loop that carries the media.
"""
from __future__ import annotations

import concurrent.futures
import logging
import threading
import time

from contract.clock import now_ms
from hub.acd import engine as acd
from hub.acd.errors import AcdError
from hub.ivr import say
from hub.telephony.config import Target

log = logging.getLogger("scanhub.callflow")


class QueueProgram:
    """What the caller's app leg does while the call is in a queue."""

    def __init__(self, acd_: "Acd", call, leg, queue: str) -> None:
        self.acd = acd_
        self.call = call
        self.leg = leg
        self.queue = queue
        self.agent_leg = None

    def start(self) -> None:
        self.leg.program = self
        self._music()
        self.acd.run(lambda e: e.join(self.call.id, self.queue, self.call.caller))

    def _music(self) -> None:
        if self.acd.hold_music and self.leg.active and not self.leg.media.playing:
            self.leg.media.play(self.acd.hold_music, self._music)

    def say(self, ids: list[str]) -> None:
        media = self.leg.media
        media.stop()
        for pid in ids:
            try:
                media.play(self.acd.apps.prompt(None, pid))
            except Exception as e:               # a missing prompt is logged, the caller keeps waiting
                self.call.event("error", None, error=str(e))
        self.call.event("prompt", None, prompts=ids, queue=self.queue)
        media.play(b"", self._music)

    def digit(self, key: str) -> None:
        self.acd.run(lambda e: e.key(self.call.id, key))

    def leg_ended(self, leg, cause: str) -> None:
        if self.acd.bridged.get(self.call.id) is None:     # the caller left (or was routed out) waiting
            self.acd.run(lambda e: e.hangup(self.call.id))


class Acd:
    def __init__(self, apps, centre, *, queue_log: str | None = None, hold_music: bytes = b"",
                 sink=None, presence: bool = True) -> None:
        from hub.acd.store import Sink
        self.apps = apps
        self.switch = apps.switch
        self.loop = apps.loop
        self.sink = sink if sink is not None else Sink(queue_log)
        self.engine = acd.Engine(centre, now_ms, log=self.sink)
        self.hold_music = hold_music
        self.programs: dict[str, QueueProgram] = {}
        self.ringing: dict[tuple[str, str], object] = {}     # (agent, call) -> the agent's leg
        self.bridged: dict[str, tuple[str, object]] = {}     # call -> (agent, leg)
        self.supervisor_seats: dict[str, str] = {}            # supervisor -> the seat they supervise from
        self.chats: set[str] = set()                          # chats in the engine (no SIP leg: the desk rings)
        self._timer = None
        apps.switch.listeners.append(self._on_event)
        self.bridge = threading.Thread(target=self._bridge, name="acd-presence", daemon=True) if presence else None
        if self.bridge is not None:
            self.bridge.start()

    # ------------------------------------------------------------ other processes (the store)
    def _on_loop(self, fn, timeout: float = 5.0):
        """``fn()`` on the loop's thread, from the bridge thread; its result (or its exception)."""
        done: concurrent.futures.Future = concurrent.futures.Future()

        def go():
            try:
                done.set_result(fn())
            except BaseException as e:           # noqa: BLE001 - handed back to the caller
                done.set_exception(e)
        self.loop.call_soon_threadsafe(go)
        return done.result(timeout)

    def _bridge(self) -> None:
        from hub.store.db import database
        try:
            self._bridge_loop()
        finally:
            try:
                database.close()                 # this thread's connection
            except Exception:                    # noqa: BLE001 - the store may be gone already
                pass

    def _bridge_loop(self) -> None:
        from hub.acd import presence
        from hub.chat import chats
        last, beat = None, 0.0
        try:
            for cid in chats.still_open():           # left open by an earlier PBX
                chats.ended(cid, "system", "the service restarted: please write again")
        except Exception as e:                       # noqa: BLE001 - a store without the tables yet
            log.warning("ACD chats: %r", e)
        while True:
            time.sleep(presence.POLL_S)
            if self.loop.is_closed() or not self.loop.is_running():
                return
            try:
                presence.carry_out(lambda c, a, arg: self._on_loop(lambda: self.agent(c, a, arg)))
                for cid in self._on_loop(self._chats_gone):
                    chats.ended(cid, "system", "no agent could take the chat: we will get back to you")
                body = presence.snapshot_body(self._on_loop(self.engine.snapshot))
                if body != last:
                    presence.publish(body)
                    last, beat = body, time.monotonic()
                elif time.monotonic() - beat > presence.STALE_MS / 2000:
                    presence.heartbeat()
                    beat = time.monotonic()
            except RuntimeError:                 # the loop closed under us: the PBX stopped
                return
            except Exception as e:               # noqa: BLE001 - a busy store is tried again next time
                log.warning("ACD presence: %r", e)

    # ------------------------------------------------------------ the engine
    def run(self, fn) -> list:
        """``fn(engine)`` on the loop's thread, then its actions carried out and the timer reset."""
        try:
            actions = fn(self.engine)
        except AcdError as e:
            log.warning("ACD: %s", e)
            raise
        self._carry_out(actions)
        self._rearm()
        return actions

    def _rearm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        due = self.engine.next_deadline()
        if due is not None:
            self._timer = self.loop.call_later(max(0.0, (due - now_ms()) / 1000), self._tick)

    def _tick(self) -> None:
        self._timer = None
        self._carry_out(self.engine.tick())
        self._rearm()

    def enter(self, call, leg, queue: str) -> None:
        self.engine.queue(queue)                  # AcdError (unknown queue) before anything changes
        prog = QueueProgram(self, call, leg, queue)
        self.programs[call.id] = prog
        call.event("queue", None, queue=queue)
        prog.start()

    # ------------------------------------------------------------ actions
    def _carry_out(self, actions) -> None:
        for a in actions:
            try:
                self._one(a)
            except Exception:                    # one action that broke never stops the others
                log.exception("ACD action %r", a)

    def _one(self, a) -> None:
        if isinstance(a, acd.Ring):
            self._ring(a)
        elif isinstance(a, acd.StopRing):
            leg = self.ringing.pop((a.agent, a.call), None)
            if leg is not None and leg.active:
                leg.hangup("cancelled")
        elif isinstance(a, acd.Bridge):
            leg = self.ringing.pop((a.agent, a.call), None)
            prog = self.programs.get(a.call)
            if leg is None or prog is None or not leg.active:
                return
            self.bridged[a.call] = (a.agent, leg)
            prog.agent_leg = leg
            self.switch.connect(prog.call, leg)
        elif isinstance(a, acd.Refuse):
            leg = self.ringing.pop((a.agent, a.call), None)
            if leg is not None and leg.active:
                leg.hangup("normal")
        elif isinstance(a, acd.Announce):
            prog = self.programs.get(a.call)
            if prog is not None:
                ids = ["queue/position"] + say.number(a.position)
                if a.expected_wait_s is not None:
                    ids += ["queue/wait"] + say.number(max(1, round(a.expected_wait_s / 60))) + ["queue/minutes"]
                prog.say(ids)
        elif isinstance(a, acd.Play):
            prog = self.programs.get(a.call)
            if prog is not None:
                prog.say([a.prompt])
        elif isinstance(a, acd.Route):
            prog = self.programs.pop(a.call, None)
            if prog is not None:
                prog.call.event("queue-exit", None, queue=prog.queue, reason=a.reason, to=str(a.target))
                self.apps.route_out(prog, a.target)
        elif isinstance(a, acd.Supervise):
            prog, b = self.programs.get(a.call), self.bridged.get(a.call)
            seat = self.supervisor_seats.get(a.supervisor)
            if prog is None or b is None or not seat:
                log.warning("supervision %s of call %s: the call or the supervisor's seat is gone", a.mode, a.call)
                return
            self.switch.supervise(prog.call, seat, a.mode, b[1])

    def _chats_gone(self) -> list[str]:
        gone = [c for c in self.chats if c not in self.engine.calls]
        self.chats.difference_update(gone)
        return gone

    def _ring(self, a: acd.Ring) -> None:
        if a.call in self.chats:                  # a chat rings on the agent's desk: the engine times it
            return
        prog = self.programs.get(a.call)
        seat = self.engine.agents[a.agent].seat or a.agent
        line = self.switch.lines.get("sip")
        leg = None
        if prog is not None and line is not None and prog.leg.call.a.active:
            prog.call.event("queue-ring", None, queue=a.queue, agent=a.agent, seat=seat)
            leg = line.open_leg(prog.call, Target("seat", seat), seat)
        if leg is None:
            self.loop.call_soon(lambda: self.run(lambda e: e.no_answer(a.agent, a.call)))
            return
        leg.owner = self
        leg.acd_agent = a.agent
        self.ringing[(a.agent, a.call)] = leg
        if not leg.active:                        # failed at once (no media port)
            self.leg_changed(leg)

    # ------------------------------------------------------------ the agents' legs (owner)
    def leg_changed(self, leg) -> None:
        call, agent = leg.call, leg.acd_agent
        if self.ringing.get((agent, call.id)) is not leg:
            if leg.state == "answered":
                leg.hangup("normal")
            return
        if leg.state == "answered":
            self.run(lambda e: e.answered(agent, call.id))
        elif leg.state == "ended":
            self.ringing.pop((agent, call.id), None)
            self.run(lambda e: e.no_answer(agent, call.id))

    def _on_event(self, call, ev) -> None:
        if ev.kind != "leg-ended":
            return
        b = self.bridged.get(call.id)
        if b is None:
            return
        agent, leg = b
        if ev.leg == leg.name:
            self.bridged.pop(call.id, None)
            self.programs.pop(call.id, None)
            self.loop.call_soon(lambda: self.run(lambda e: e.agent_hangup(call.id)))
        elif ev.leg == "a":
            self.bridged.pop(call.id, None)
            self.programs.pop(call.id, None)
            self.loop.call_soon(lambda: self.run(lambda e: e.hangup(call.id)))

    def _chat(self, command: str, agent: str, arg: str) -> dict:
        """``chat-join`` (arg "QUEUE CHAT CALLER"), ``chat-answer`` / ``chat-end`` (the agent,
        arg CHAT), ``chat-leave`` (arg CHAT: the customer left)."""
        from hub.acd.agents import RINGING
        eng = self.engine
        if command == "chat-join":
            parts = arg.split(" ")
            if len(parts) != 3:
                raise AcdError("chat-join takes QUEUE CHAT CALLER")
            queue, chat, caller = parts
            self.chats.add(chat)
            self.run(lambda e: e.join(chat, queue, "" if caller == "-" else caller))
            if chat not in eng.calls:
                self.chats.discard(chat)
                raise AcdError(f"queue {queue} cannot take the chat now (no agent logged in, or full)")
            return {"chat": chat, "state": eng.calls[chat].state}
        chat = arg.strip()
        if chat not in self.chats:
            raise AcdError(f"no chat {chat!r} in the queues")
        if command == "chat-answer":
            a = eng.agents.get(agent)
            if a is None or a.state != RINGING or a.call != chat:
                raise AcdError(f"chat {chat} is not ringing for {agent}")
            self.run(lambda e: e.answered(agent, chat))
        elif command == "chat-end":
            c = eng.calls.get(chat)
            if c is None or c.agent != agent:
                raise AcdError(f"chat {chat} is not connected to {agent}")
            self.chats.discard(chat)
            self.run(lambda e: e.agent_hangup(chat))
        elif command == "chat-leave":
            self.chats.discard(chat)
            self.run(lambda e: e.hangup(chat))
        else:
            raise AcdError(f"unknown chat command {command!r}")
        return {"chat": chat, "state": eng.calls[chat].state if chat in eng.calls else "ended"}

    # ------------------------------------------------------------ agents
    def agent(self, command: str, agent: str, arg: str = "") -> dict:
        """``login`` (arg: the seat), ``logout``, ``pause`` (arg: the code), ``ready``;
        ``supervise`` (``agent`` the supervisor, arg "MODE CALL SEAT": listen, whisper, barge or
        takeover of a connected call, from the phone at SEAT).  The agent's snapshot (for
        ``supervise``: the supervised agent's)."""
        eng = self.engine
        if command.startswith("chat-"):
            return self._chat(command, agent, arg)
        if command == "supervise":
            parts = arg.split()
            if len(parts) != 3:
                raise AcdError("supervise takes MODE CALL SEAT")
            mode, call, seat = parts
            if seat not in self.switch.config.seats:
                raise AcdError(f"{seat} is not a seat of this PBX")
            c = eng.calls.get(call)
            if c is None or c.agent is None:
                raise AcdError(f"call {call!r} is not connected to an agent")
            talking = c.agent
            self.supervisor_seats[agent] = seat
            self.run(lambda e: e.supervise(agent, call, mode))
            return eng.agents[talking].snapshot()
        if command == "login":
            self.run(lambda e: e.login(agent, arg or agent))
        elif command == "logout":
            self.run(lambda e: e.logout(agent))
        elif command == "pause":
            self.run(lambda e: e.pause(agent, arg))
        elif command == "ready":
            self.run(lambda e: e.ready(agent))
        else:
            raise AcdError(f"unknown agent command {command!r}: login, logout, pause or ready")
        return eng.agents[agent].snapshot()
