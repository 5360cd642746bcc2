"""One state machine per agent, the same for every queue the agent serves.

::

    logged-out ──login──▶ ready ◀──unpause── paused(code)
                           │  ▲                 ▲
                        ring  ring failed        │ pending pause, auto-pause
                           ▼  │                  │
                         ringing ──answer──▶ talking ──call ends / transfer──▶ wrap-up ──▶ ready

A state is changed only through ``Agent.move``, which refuses a move the diagram does not have
(``AgentStateError``).  Requests that arrive in a busy state (pause or log out while talking)
are kept as ``pending`` and take effect when the call and its wrap-up are over.  The work an
agent holds is ``call``; ``kind`` names the kind of work ("voice" now; chats are a second kind
with their own capacity in a later version, beside the voice state).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from hub.acd.errors import AcdError

LOGGED_OUT, READY, PAUSED, RINGING, TALKING, WRAPUP = "logged-out", "ready", "paused", "ringing", "talking", "wrap-up"
STATES = (LOGGED_OUT, READY, PAUSED, RINGING, TALKING, WRAPUP)
#: state -> the states it may move to
MOVES = {
    LOGGED_OUT: {READY},
    READY: {PAUSED, RINGING, LOGGED_OUT},
    PAUSED: {READY, PAUSED, LOGGED_OUT},
    RINGING: {TALKING, READY, PAUSED, LOGGED_OUT},
    TALKING: {WRAPUP, READY, PAUSED, LOGGED_OUT},
    WRAPUP: {READY, PAUSED, LOGGED_OUT},
}
#: states in which the agent holds a call
WITH_CALL = (RINGING, TALKING)


class AgentStateError(AcdError):
    """A state change the agent state machine does not allow."""


@dataclass
class Agent:
    id: str
    state: str = LOGGED_OUT
    since_ms: int = 0
    pause_code: str = ""
    seat: str = ""
    call: str | None = None           # the call ringing or connected to this agent
    kind: str = "voice"
    pending: tuple[str, str] | None = None   # ("pause", code) or ("logout", "")
    wrap_until_ms: int = 0
    login_ms: int = 0
    ready_since_ms: int = 0
    last_end_ms: dict[str, int] = field(default_factory=dict)   # queue -> last call end
    calls: dict[str, int] = field(default_factory=dict)         # queue -> calls answered
    no_answer_streak: int = 0

    def move(self, state: str, now_ms: int, call: str | None = None) -> None:
        if state not in MOVES[self.state]:
            raise AgentStateError(f"agent {self.id}: cannot go from {self.state} to {state}")
        if (state in WITH_CALL) != (call is not None):
            raise AgentStateError(f"agent {self.id}: {state} {'needs' if state in WITH_CALL else 'takes no'} call")
        self.state, self.since_ms, self.call = state, now_ms, call
        if state == READY:
            self.ready_since_ms = now_ms
            self.pause_code = ""
        if state != PAUSED:
            self.pause_code = ""

    def snapshot(self) -> dict:
        """What a wallboard shows."""
        return {"agent": self.id, "state": self.state, "since_ms": self.since_ms, "pause_code": self.pause_code,
                "seat": self.seat, "call": self.call, "pending": self.pending[0] if self.pending else None,
                "wrap_until_ms": self.wrap_until_ms if self.state == WRAPUP else None}
