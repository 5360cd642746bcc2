"""Benchmark: ACD routing decisions with 500 agents and 200 waiting calls.

    python bench/acd.py                      # 500 agents, 200 waiting calls, 5,000 decisions, 5 rounds
    python bench/acd.py --quick              # 1,000 decisions, 3 rounds
    python bench/acd.py --strategy rrmemory --agents 1000 --waiting 500
    options: [--rounds 5] [--json]

Every agent is talking and 200 callers wait.  One decision: an agent hangs up
(``Engine.agent_hangup``), becomes ready, and the engine picks the caller to offer them (weight,
priority, arrival; penalties, skills, the strategy) and returns the Ring; that call is timed.
The ring is then answered and a new caller joins (untimed), so the queue stays at 200.  The
baseline, in the same rounds, is a bare priority-queue pop and push (``heapq``) over 200 entries.
Goal: a decision in at most 1 ms at the 99th percentile.
"""
from __future__ import annotations

import heapq
import os
import random
import sys
import time

import harness

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hub.acd.config import parse_queues  # noqa: E402
from hub.acd.engine import Engine, Ring  # noqa: E402


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def setup(agents: int, waiting: int, strategy: str):
    centre = parse_queues({"agents": [{"id": f"a{i}", "skills": ["parcel"]} for i in range(agents)],
                           "queues": [{"name": "service", "strategy": strategy, "skills": ["parcel"],
                                       "rules": [{"after_s": 30, "max_penalty": 5}],
                                       "members": [{"agent": f"a{i}", "penalty": i % 3} for i in range(agents)]}]})
    now = [1_700_000_000_000]
    eng = Engine(centre, lambda: now[0], seed=1)
    n = 0
    for i in range(agents):
        eng.login(f"a{i}")
    for i in range(agents):                # everyone busy
        now[0] += 1
        n += 1
        for a in eng.join(f"c{n}", "service", f"138{n:08d}"):
            if isinstance(a, Ring):
                eng.answered(a.agent, a.call)
    for _ in range(waiting):
        now[0] += 1
        n += 1
        eng.join(f"c{n}", "service", f"138{n:08d}", priority=n % 3)
    return eng, now, n


def decisions(agents: int, waiting: int, count: int, strategy: str, seed: int) -> dict:
    eng, now, n = setup(agents, waiting, strategy)
    rng = random.Random(seed)
    lat = []
    for _ in range(count):
        now[0] += 40_000                  # rules have widened: every penalty is in range
        talking = [a for a in eng.agents.values() if a.state == "talking"]
        call = rng.choice(talking).call
        t0 = time.perf_counter()
        out = eng.agent_hangup(call)
        lat.append((time.perf_counter() - t0) * 1000)
        ring = next(a for a in out if isinstance(a, Ring))
        eng.answered(ring.agent, ring.call)
        n += 1
        eng.join(f"c{n}", "service", f"138{n:08d}", priority=n % 3)
    assert not eng.check()
    return {"p50_ms": pct(lat, 0.5), "p99_ms": pct(lat, 0.99), "per_s": count / (sum(lat) / 1000)}


def heap_baseline(waiting: int, count: int, seed: int) -> dict:
    rng = random.Random(seed)
    heap = [(-rng.randrange(3), i) for i in range(waiting)]
    heapq.heapify(heap)
    lat = []
    for i in range(count):
        t0 = time.perf_counter()
        heapq.heappop(heap)
        heapq.heappush(heap, (-rng.randrange(3), waiting + i))
        lat.append((time.perf_counter() - t0) * 1000)
    return {"p50_ms": pct(lat, 0.5), "p99_ms": pct(lat, 0.99), "per_s": count / (sum(lat) / 1000)}


def main():
    ap = harness.parser(__doc__)
    ap.add_argument("--agents", type=int, default=500, help="agents, all talking at the start")
    ap.add_argument("--waiting", type=int, default=200, help="callers waiting")
    ap.add_argument("--decisions", type=int, default=None, help="decisions per round (default 5000; 1000 with --quick)")
    ap.add_argument("--strategy", default="leastrecent", help="the queue's strategy")
    a = harness.parse(ap)
    count = a.decisions or (1000 if a.quick else 5000)
    b = harness.Bench("acd", a, params={"agents": a.agents, "waiting": a.waiting, "decisions": count,
                                        "strategy": a.strategy})
    b.part("heap", lambda r: heap_baseline(a.waiting, count, r))
    b.part("engine", lambda r: decisions(a.agents, a.waiting, count, a.strategy, r))
    b.compare("decision_p99", "routing decision p99 vs a heap pop", "engine.p99_ms", "heap.p99_ms", unit="ms",
              figure_goal=("<=", 1.0), headline=True)
    b.figure("decision_p50", "  routing decision p50", "engine.p50_ms", unit="ms", better="lower")
    b.compare("decisions_per_s", "decisions per second vs heap pops", "engine.per_s", "heap.per_s", better="higher")
    b.noise_from("heap.p99_ms")
    b.run()


if __name__ == "__main__":
    main()
