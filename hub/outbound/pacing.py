"""Predictive pacing: how many numbers to dial now so that agents keep talking and the abandon
rate stays under the cap.

The pacer learns three things from the campaign's own calls: the **answer rate** (answered by a
person over dialled, the last ``SAMPLES``), the **talk time** (mean of the last ``SAMPLES``) and
the time from dialling to an answer.  Before ``min_samples`` results it uses the priors.

``lines(...)`` is the number of new calls to place.  The agents expected to be free when those
calls are answered are the ready ones plus each talking agent with the chance that their call is
over by then (talk times taken as exponential: ``1 - exp(-ring / talk)``) plus agents whose
wrap-up ends by then; the calls needed are that times the aggressiveness over the answer rate,
less the calls already ringing, at most ``max_ratio`` per agent.

The **abandon rate** is abandoned over answered-by-a-person calls in the rolling window
(``window_h``).  Two rules keep it under the cap: once it reaches ``backoff_at`` × cap, every
further answered call lowers the aggressiveness (and every connected call below that raises it a
little); and when one more abandon would put the rate over the cap, the pacer dials only for
agents who are ready now (progressive), which cannot abandon.

The window is the campaign's, not the process's: ``restore(calls, now_ms)`` replays the calls the
campaign placed before this pacer started (``PastCall``, plain data read back from its records,
``hub.outbound.engine.past_calls``) through the same steps as the live events, in time order, so
a pacer restored at noon is the one that would have heard the whole morning.  Every call is known
by its key (call id, placed ms): a call heard live, or restored once already, is never counted
again.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from hub.outbound.campaign import Pacing

SAMPLES = 200

Key = tuple[str, int]            # (call id, placed ms): one call, whatever run placed it


@dataclass(frozen=True)
class PastCall:
    """A call placed before the pacer started, as the campaign's records tell it."""
    call: str
    placed_ms: int
    ended_ms: int
    answered_ms: int | None = None      # answered (by a person or a machine)
    person: bool = False                # answered by a person
    resolved_ms: int | None = None      # a person's call connected to an agent, or abandoned, then
    abandoned: bool = False
    talk_ms: float | None = None        # with an agent this long, until ``ended_ms``


class Pacer:
    def __init__(self, pacing: Pacing, *, prior_answer: float = 0.3, prior_talk_s: float = 120,
                 prior_ring_s: float = 10) -> None:
        self.p = pacing
        self.results: deque[bool] = deque(maxlen=SAMPLES)       # answered by a person?
        self.talks: deque[float] = deque(maxlen=SAMPLES)         # ms
        self.rings: deque[float] = deque(maxlen=SAMPLES)         # ms from dial to answer
        self.resolved: deque[tuple[int, bool, Key | None]] = deque()   # (ms, abandoned, call) of person-answered calls
        self.abandoned = 0
        self._counted: set[Key] = set()                          # the calls in ``resolved``
        self._heard: set[Key] = set()                            # every call heard in the window
        self._heard_order: deque[Key] = deque()
        self.prior = (prior_answer, prior_talk_s * 1000, prior_ring_s * 1000)
        self.aggressiveness = 1.0

    # ------------------------------------------------------------ what happened
    def _hear(self, call: Key | None) -> None:
        if call is not None and call not in self._heard:
            self._heard.add(call)
            self._heard_order.append(call)

    def dial_result(self, answered: bool, ring_ms: float | None = None, *, call: Key | None = None) -> None:
        self._hear(call)
        self.results.append(bool(answered))
        if answered and ring_ms is not None:
            self.rings.append(max(0.0, ring_ms))

    def talk(self, talk_ms: float, *, call: Key | None = None) -> None:
        self._hear(call)
        self.talks.append(max(1.0, talk_ms))

    def resolved_call(self, now_ms: int, abandoned: bool, *, call: Key | None = None) -> None:
        """A call answered by a person was connected to an agent in time, or abandoned
        (``call``: its key; a call already counted is not counted again)."""
        if call is not None:
            if call in self._counted:
                return
            self._counted.add(call)
            self._hear(call)
        self.resolved.append((now_ms, abandoned, call))
        self.abandoned += abandoned
        self._expire(now_ms)
        rate = self.abandon_rate(now_ms)
        if abandoned or rate >= self.p.backoff_at * self.p.abandon_cap:
            self.aggressiveness = max(0.5, self.aggressiveness * 0.85)
        else:
            self.aggressiveness = min(1.5, self.aggressiveness + 0.01)

    def unresolve(self, at_ms: int, *, call: Key | None = None) -> None:
        """Take back a call counted at ``at_ms`` as connected in time (its agent's phone failed)."""
        try:
            self.resolved.remove((at_ms, False, call))
        except ValueError:
            return
        self._counted.discard(call)

    def restore(self, calls, now_ms: int) -> int:
        """Hear ``calls`` (``PastCall``), placed before now, as they happened: each in the window
        (placed at most ``window_h`` before ``now_ms``, ended by then) and not heard yet gives its
        dial result, resolution and talk time in time order, through the live steps.  Meant for a
        pacer that has heard nothing yet (a dialer that starts); the number of calls restored."""
        horizon = now_ms - self.p.window_h * 3_600_000
        events: list[tuple[int, int, int, int, str, tuple]] = []
        seen: set[Key] = set()
        for i, c in enumerate(calls):
            key = (c.call, c.placed_ms)
            if key in self._heard or key in seen or c.placed_ms < horizon or c.ended_ms > now_ms:
                continue
            seen.add(key)
            at = c.answered_ms if c.answered_ms is not None else c.ended_ms
            ring = at - c.placed_ms if c.person else None
            events.append((at, c.placed_ms, 0, i, "dial", (c.person, ring, key)))
            if c.resolved_ms is not None:
                events.append((c.resolved_ms, c.placed_ms, 1, i, "resolved", (c.resolved_ms, c.abandoned, key)))
            if c.talk_ms is not None:
                events.append((c.ended_ms, c.placed_ms, 2, i, "talk", (c.talk_ms, key)))
        events.sort(key=lambda e: e[:4])
        in_order = not self.resolved
        for *_, kind, args in events:
            if kind == "dial":
                self.dial_result(args[0], args[1], call=args[2])
            elif kind == "resolved":
                self.resolved_call(args[0], args[1], call=args[2])
            else:
                self.talk(args[0], call=args[1])
        if not in_order:                          # heard live already: keep the window in time order
            self.resolved = deque(sorted(self.resolved, key=lambda e: e[0]))
        self._expire(now_ms)
        return len(seen)

    def _expire(self, now_ms: int) -> None:
        horizon = now_ms - self.p.window_h * 3_600_000
        while self.resolved and self.resolved[0][0] < horizon:
            _, abandoned, call = self.resolved.popleft()
            self.abandoned -= abandoned
            self._counted.discard(call)
        while self._heard_order and self._heard_order[0][1] < horizon:
            self._heard.discard(self._heard_order.popleft())

    # ------------------------------------------------------------ estimates
    def answer_rate(self) -> float:
        if len(self.results) < self.p.min_samples:
            return self.prior[0]
        return max(0.02, sum(self.results) / len(self.results))

    def talk_ms(self) -> float:
        return self.prior[1] if len(self.talks) < self.p.min_samples else sum(self.talks) / len(self.talks)

    def ring_ms(self) -> float:
        return self.prior[2] if len(self.rings) < self.p.min_samples else sum(self.rings) / len(self.rings)

    def abandon_rate(self, now_ms: int) -> float:
        self._expire(now_ms)
        return self.abandoned / len(self.resolved) if self.resolved else 0.0

    def window(self, now_ms: int) -> tuple[int, int]:
        """(resolved, abandoned): the person-answered calls in the rolling window and how many of
        them were abandoned."""
        self._expire(now_ms)
        return len(self.resolved), self.abandoned

    def at_risk(self, now_ms: int) -> bool:
        """Would one more abandon put the rolling rate over the cap?"""
        self._expire(now_ms)
        return (self.abandoned + 1) / (len(self.resolved) + 1) > self.p.abandon_cap

    # ------------------------------------------------------------ the decision
    def lines(self, now_ms: int, *, ready: int, talking_ms: list[int], wrap_left_ms: list[int],
              in_flight: int, waiting: int = 0, agents: int | None = None) -> int:
        """New calls to place now.  ``ready``: agents free now (not holding a call), ``talking_ms``:
        how long each talking agent has talked, ``wrap_left_ms``: wrap-up left per agent in
        wrap-up, ``in_flight``: calls dialled and not answered yet, ``waiting``: answered calls
        waiting for an agent."""
        if self.at_risk(now_ms):
            return max(0, ready - in_flight - waiting)
        horizon = self.ring_ms()
        talk = self.talk_ms()
        soon = ready + sum(1 - math.exp(-horizon / talk) for _ in talking_ms) \
            + sum(1 for w in wrap_left_ms if w <= horizon)
        need = (soon - waiting) * self.aggressiveness / self.answer_rate()
        staff = agents if agents is not None else ready + len(talking_ms) + len(wrap_left_ms)
        need = min(need, staff * self.p.max_ratio)
        return max(0, int(need) - in_flight)
