"""The ACD seen and driven from outside the PBX process (the web console, the CLI).

The engine lives in the PBX process (``hub.callflow.queue.Acd``); other processes share only the
store.  Two tables carry what crosses over:

``acd_live``     the engine's snapshot (agents with their state and call, calls waiting or
                 ringing with their caller): the PBX writes it when it changes, at most every
                 ``POLL_S``; a wallboard and an agent's screen pop read it.
``acd_command``  what an agent asked for (log in at a seat, ready, pause with a code, log out;
                 a supervisor: ``supervise`` with "MODE CALL SEAT", to listen to, whisper to,
                 barge into or take over a connected call from their seat's phone):
                 any process adds a row, the PBX carries it out in order on its loop and writes
                 the result (the agent's new state, or why not) into the row.

A command older than ``COMMAND_TTL_MS`` when the PBX sees it is not carried out (``expired``):
a click made while no PBX ran must not take effect hours later.  A snapshot older than
``STALE_MS`` is shown as such (no PBX is writing it).
"""
from __future__ import annotations

import json

from contract.clock import now_ms
from hub.acd.errors import AcdError
from hub.acd.tables import AcdCommand, AcdLive
from hub.store.db import write_transaction

COMMANDS = ("login", "ready", "pause", "logout", "supervise",
            "chat-join", "chat-answer", "chat-end", "chat-leave")          # hub.chat
POLL_S = 0.2
COMMAND_TTL_MS = 30_000
STALE_MS = 10_000
MAX_ARG = 200
NAME = "centre"


def request(agent: str, command: str, arg: str = "", *, at_ms: int | None = None) -> int:
    """Ask the running PBX to carry out ``command`` for ``agent``; the command's id."""
    if command not in COMMANDS:
        raise AcdError(f"unknown agent command {command!r}: {', '.join(COMMANDS)}")
    agent, arg = str(agent).strip(), str(arg or "").strip()
    if not agent or len(agent) > 128:
        raise AcdError("an agent id is 1 to 128 characters")
    if len(arg) > MAX_ARG or any(c in arg for c in "|\r\n"):
        raise AcdError(f"a seat, pause code or supervision is at most {MAX_ARG} characters, "
                       "without '|' or line breaks")
    with write_transaction():
        return AcdCommand.create(agent=agent, command=command, arg=arg,
                                 at_ms=now_ms() if at_ms is None else at_ms).id


def ask(agent: str, command_: str, arg: str = "", wait_s: float = 3.0) -> dict:
    """``request`` and wait up to ``wait_s`` for the PBX to carry it out: the command as
    ``command`` returns it (``done_ms`` None: not carried out yet)."""
    import time
    cid = request(agent, command_, arg)
    deadline = time.monotonic() + wait_s
    while True:
        c = command(cid)
        if c["done_ms"] is not None or time.monotonic() >= deadline:
            return c
        time.sleep(0.05)


def command(command_id: int) -> dict | None:
    c = AcdCommand.get_or_none(AcdCommand.id == command_id)
    if c is None:
        return None
    return {"id": c.id, "agent": c.agent, "command": c.command, "arg": c.arg, "at_ms": c.at_ms,
            "done_ms": c.done_ms, "result": json.loads(c.result) if c.result else None}


def pending() -> list[AcdCommand]:
    q = AcdCommand.select().where(AcdCommand.done_ms.is_null())
    return list(q.order_by(AcdCommand.id).limit(100))


def carry_out(run, now: int | None = None) -> int:
    """Carry out the pending commands with ``run(command, agent, arg) -> agent snapshot`` (the
    PBX's ``Acd.agent``); each row gets its result.  Returns how many were done."""
    t = now_ms() if now is None else now
    done = 0
    for c in pending():
        if t - c.at_ms > COMMAND_TTL_MS:
            result = {"ok": False, "error": "expired: no PBX carried it out in time"}
        else:
            try:
                result = {"ok": True, "agent": run(c.command, c.agent, c.arg)}
            except (AcdError, KeyError, ValueError) as e:
                result = {"ok": False, "error": str(e).strip("'\"")}
            except TimeoutError:
                result = {"ok": False, "error": "the PBX was too busy to answer in time (it may still take effect)"}
        with write_transaction():
            AcdCommand.update(done_ms=t, result=json.dumps(result, ensure_ascii=False)) \
                .where(AcdCommand.id == c.id).execute()
        done += 1
    return done


def snapshot_body(snap: dict) -> str:
    """The engine's snapshot as stored: waiting times become entry times, so an unchanged centre
    writes nothing."""
    now = now_ms()
    calls = [{k: v for k, v in c.items() if k != "waited_ms"} | {"entered_ms": now - c["waited_ms"]}
             for c in snap.get("calls", [])]
    return json.dumps({"agents": sorted(snap.get("agents", []), key=lambda a: a["agent"]),
                       "calls": sorted(calls, key=lambda c: c["call"])}, ensure_ascii=False, sort_keys=True)


def publish(body: str, now: int | None = None) -> None:
    t = now_ms() if now is None else now
    with write_transaction():
        if AcdLive.update(body=body, updated_ms=t).where(AcdLive.name == NAME).execute() == 0:
            AcdLive.create(name=NAME, body=body, updated_ms=t)


def heartbeat(now: int | None = None) -> None:
    """The snapshot is still current (written by an idle PBX every ``STALE_MS / 2``)."""
    with write_transaction():
        AcdLive.update(updated_ms=now_ms() if now is None else now).where(AcdLive.name == NAME).execute()


def live(now: int | None = None) -> dict:
    """What the PBX last wrote: ``agents``, ``calls`` (each with ``entered_ms`` and ``waited_ms``),
    ``updated_ms`` and ``stale`` (no PBX has written for ``STALE_MS``; empty when none ever did)."""
    t = now_ms() if now is None else now
    row = AcdLive.get_or_none(AcdLive.name == NAME)
    if row is None:
        return {"agents": [], "calls": [], "updated_ms": None, "stale": True}
    body = json.loads(row.body)
    for c in body["calls"]:
        c["waited_ms"] = max(0, t - c["entered_ms"])
    return {**body, "updated_ms": row.updated_ms, "stale": t - row.updated_ms > STALE_MS}


def agent_view(agent: str, now: int | None = None) -> dict:
    """One agent as their desk shows them: state, since, seat, pause code, pending request, and
    the call they hold with its caller (None when logged out or unknown to the PBX)."""
    snap = live(now)
    a = next((x for x in snap["agents"] if x["agent"] == agent), None)
    call = None
    if a is not None and a.get("call"):
        call = next((c for c in snap["calls"] if c["call"] == a["call"]), None)
    return {"agent": a, "call": call, "stale": snap["stale"], "updated_ms": snap["updated_ms"]}
