"""A call center on a simulated clock: Poisson callers and exponential talk times driven through
the real ACD engine (``hub.acd.engine``): a what-if for staffing (``scanhub cc simulate``) and the
statistical check against Erlang C / A in the tests.

``workload(...)`` draws the arrival, talk-time and patience lists once (integer milliseconds), so
the same lists can be fed to the engine here and to an independent reference model in the tests.
``run(centre_queue, agents, workload)`` plays them: every Ring is answered at once, each caller
hangs up at the end of their patience if no agent has connected by then, the agent hangs up at
the end of the talk time.  It returns the queue log the engine wrote.
"""
from __future__ import annotations

import heapq
import random
from dataclasses import dataclass

from hub.acd.config import parse_queues
from hub.acd.engine import Engine, Ring
from hub.acd.errors import AcdError


@dataclass(frozen=True)
class Workload:
    arrivals_ms: list[int]
    talk_ms: list[int]
    patience_ms: list[int | None]


def workload(calls: int, per_hour: float, aht_s: float, patience_s: float | None = None, seed: int = 0,
             start_ms: int = 1_700_000_000_000) -> Workload:
    rng = random.Random(seed)
    t, arrivals, talks, patience = float(start_ms), [], [], []
    for _ in range(calls):
        t += rng.expovariate(per_hour / 3_600_000)
        arrivals.append(int(t))
        talks.append(max(1, int(rng.expovariate(1 / (aht_s * 1000)))))
        patience.append(None if patience_s is None else max(1, int(rng.expovariate(1 / (patience_s * 1000)))))
    return Workload(arrivals, talks, patience)


# event order at one instant: calls end first, then arrivals, then patience runs out
_END, _ARRIVE, _PATIENCE = 0, 1, 2


def run(agents: int, load: Workload, strategy: str = "leastrecent", seed: int = 0, wrapup_s: float = 0,
        queue: str = "sim", sink=None) -> list:
    """Play ``load`` through an engine with ``agents`` identical agents in one queue; the queue log
    (also handed to ``sink`` batch by batch when given, e.g. ``hub.acd.store.Sink``)."""
    if agents < 1:
        raise AcdError("a simulation needs at least one agent")
    centre = parse_queues({"agents": [{"id": f"ag{i}"} for i in range(agents)],
                           "queues": [{"name": queue, "strategy": strategy, "ring_timeout_s": 30, "wrapup_s": wrapup_s,
                                       "members": [{"agent": f"ag{i}"} for i in range(agents)]}]})
    now = [load.arrivals_ms[0] if load.arrivals_ms else 0]
    log: list = []

    def write(batch):
        log.extend(batch)
        if sink is not None:
            sink(batch)
    eng = Engine(centre, lambda: now[0], log=write, seed=seed)
    events: list = []
    for i, t in enumerate(load.arrivals_ms):
        heapq.heappush(events, (t, _ARRIVE, i))
        if load.patience_ms[i] is not None:
            heapq.heappush(events, (t + load.patience_ms[i], _PATIENCE, i))
    talking: set[str] = set()

    def carry_out(actions):
        for a in actions:
            if isinstance(a, Ring):
                i = int(a.call[1:])
                talking.add(a.call)
                heapq.heappush(events, (now[0] + load.talk_ms[i], _END, i))
                carry_out(eng.answered(a.agent, a.call))

    for i in range(agents):
        eng.login(f"ag{i}")
    while events:
        due = eng.next_deadline()
        if due is not None and due < events[0][0]:      # wrap-up ends, ring timeouts: the engine's own timers
            now[0] = due
            carry_out(eng.tick())
            continue
        t, kind, i = heapq.heappop(events)
        now[0] = t
        call = f"c{i}"
        if kind == _ARRIVE:
            carry_out(eng.join(call, queue, f"caller{i}"))
        elif kind == _END:
            carry_out(eng.agent_hangup(call))
        elif call not in talking:
            carry_out(eng.hangup(call))
    while (due := eng.next_deadline()) is not None:     # the last wrap-ups
        now[0] = max(now[0], due)
        carry_out(eng.tick())
    for i in range(agents):
        eng.logout(f"ag{i}")
    return log


def measure(log, target_s: float = 20, warm_up: float = 0.0) -> dict:
    """SL (answered within ``target_s`` over offered), ASA, abandonment and mean wait of a run's
    queue log, leaving out the first ``warm_up`` share of callers (the empty start)."""
    from hub.acd import kpi
    rows = sorted(kpi.call_waits(log), key=lambda r: r["entered_ms"])
    rows = rows[int(len(rows) * warm_up):]
    answered = [r for r in rows if r["outcome"] == "answered"]
    n = len(rows) or 1
    return {"calls": len(rows), "service_level": sum(r["wait_ms"] <= target_s * 1000 for r in answered) / n,
            "asa_s": sum(r["wait_ms"] for r in answered) / 1000 / max(1, len(answered)),
            "abandon_rate": sum(r["outcome"] == "abandon" for r in rows) / n,
            "mean_wait_s": sum(r["wait_ms"] or 0 for r in rows) / 1000 / n}
