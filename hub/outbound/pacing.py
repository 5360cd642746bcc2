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
"""
from __future__ import annotations

import math
from collections import deque

from hub.outbound.campaign import Pacing

SAMPLES = 200


class Pacer:
    def __init__(self, pacing: Pacing, *, prior_answer: float = 0.3, prior_talk_s: float = 120,
                 prior_ring_s: float = 10) -> None:
        self.p = pacing
        self.results: deque[bool] = deque(maxlen=SAMPLES)       # answered by a person?
        self.talks: deque[float] = deque(maxlen=SAMPLES)         # ms
        self.rings: deque[float] = deque(maxlen=SAMPLES)         # ms from dial to answer
        self.resolved: deque[tuple[int, bool]] = deque()        # (ms, abandoned) of person-answered calls
        self.abandoned = 0
        self.prior = (prior_answer, prior_talk_s * 1000, prior_ring_s * 1000)
        self.aggressiveness = 1.0

    # ------------------------------------------------------------ what happened
    def dial_result(self, answered: bool, ring_ms: float | None = None) -> None:
        self.results.append(bool(answered))
        if answered and ring_ms is not None:
            self.rings.append(max(0.0, ring_ms))

    def talk(self, talk_ms: float) -> None:
        self.talks.append(max(1.0, talk_ms))

    def resolved_call(self, now_ms: int, abandoned: bool) -> None:
        """A call answered by a person was connected to an agent in time, or abandoned."""
        self.resolved.append((now_ms, abandoned))
        self.abandoned += abandoned
        self._expire(now_ms)
        rate = self.abandon_rate(now_ms)
        if abandoned or rate >= self.p.backoff_at * self.p.abandon_cap:
            self.aggressiveness = max(0.5, self.aggressiveness * 0.85)
        else:
            self.aggressiveness = min(1.5, self.aggressiveness + 0.01)

    def unresolve(self, at_ms: int) -> None:
        """Take back a call counted at ``at_ms`` as connected in time (its agent's phone failed)."""
        try:
            self.resolved.remove((at_ms, False))
        except ValueError:
            pass

    def _expire(self, now_ms: int) -> None:
        horizon = now_ms - self.p.window_h * 3_600_000
        while self.resolved and self.resolved[0][0] < horizon:
            self.abandoned -= self.resolved.popleft()[1]

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
