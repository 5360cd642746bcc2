"""Benchmark: the outbound dialer's modes on the same simulated traffic, and the pacing decision.

    python bench/dialer.py                  # 20 agents, 180 simulated minutes, 5 rounds
    python bench/dialer.py --quick          # 10 agents, 60 minutes, 3 rounds
    options: [--agents 20] [--minutes 180] [--answer-rate 0.3] [--rounds 5] [--json]

Each round plays one campaign list (as many numbers as the run can use) through the real dialer
(``hub.outbound.engine``) on a simulated clock (``hub.outbound.simulate``) in preview,
progressive and predictive mode, on the same called people (the seed is the round): agent
occupancy (talk time over staffed time) and abandon rate (answered calls not with an agent
within 2 s).  Progressive is the baseline of predictive's occupancy.  Goal: predictive above
progressive with an abandon rate under the 3 % cap.

The pacing decision (``Pacer.lines``, 20 agents' state) is timed against a trivial baseline
measured in the same rounds: one call per ready agent (progressive's rule).
"""
from __future__ import annotations

import os
import random
import sys
import time

import harness

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hub.outbound import simulate  # noqa: E402
from hub.outbound.campaign import Pacing, check_campaign  # noqa: E402
from hub.outbound.contacts import Contact  # noqa: E402
from hub.outbound.pacing import Pacer  # noqa: E402


def campaign(mode: str, agents: int):
    return check_campaign({"name": "bench", "mode": mode, "window": {"mon-sun": ["00:00-24:00"]},
                           "agents": [f"a{i}" for i in range(agents)], "abandon_message": "abandon.wav",
                           "max_attempts": 3, "min_spacing_min": 30, "wrapup_s": 5,
                           "dispositions": [{"code": "done", "final": True}]})


def mode_part(mode: str, agents: int, minutes: float, answer_rate: float):
    def part(r: int) -> dict:
        contacts = [Contact(f"+86138{i:08d}") for i in range(int(agents * minutes * 2))]
        f = simulate.run(campaign(mode, agents), contacts, simulate.Traffic(answer_rate=answer_rate, seed=r),
                         minutes).figures
        return {"occupancy": f["occupancy"], "abandon_rate": f["abandon_rate"], "answered": f["answered"]}
    return part


def states(n: int, seed: int):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        ready = rng.randrange(0, 5)
        talking = [rng.randrange(0, 300_000) for _ in range(rng.randrange(5, 20))]
        wrap = [rng.randrange(0, 5000) for _ in range(rng.randrange(0, 3))]
        out.append((ready, talking, wrap, rng.randrange(0, 10)))
    return out


def decide(n: int, seed: int, trivial: bool) -> dict:
    pacer = Pacer(Pacing())
    rng = random.Random(seed)
    for i in range(300):
        pacer.dial_result(rng.random() < 0.3, 8000)
        pacer.talk(rng.expovariate(1 / 90_000))
        pacer.resolved_call(1_700_000_000_000 + i * 1000, rng.random() < 0.01)
    now = 1_700_000_300_000
    todo = states(n, seed)
    t0 = time.perf_counter()
    if trivial:
        for ready, talking, wrap, flight in todo:
            max(0, ready - flight)
    else:
        for ready, talking, wrap, flight in todo:
            pacer.lines(now, ready=ready, talking_ms=talking, wrap_left_ms=wrap, in_flight=flight)
    took = time.perf_counter() - t0
    return {"us": took / n * 1e6}


def main():
    ap = harness.parser(__doc__)
    ap.add_argument("--agents", type=int, default=None, help="agents (default 20; 10 with --quick)")
    ap.add_argument("--minutes", type=float, default=None, help="simulated minutes (default 180; 60 with --quick)")
    ap.add_argument("--answer-rate", type=float, default=0.3)
    a = harness.parse(ap)
    agents = a.agents or (10 if a.quick else 20)
    minutes = a.minutes or (60 if a.quick else 180)
    n = 2000 if a.quick else 20000
    b = harness.Bench("dialer", a, params={"agents": agents, "minutes": minutes, "answer_rate": a.answer_rate})
    for mode in ("preview", "progressive", "predictive"):
        b.part(mode, mode_part(mode, agents, minutes, a.answer_rate))
    b.part("trivial", lambda r: decide(n, r, True))
    b.part("pacer", lambda r: decide(n, r, False))
    b.compare("occupancy", "predictive occupancy vs progressive", "predictive.occupancy", "progressive.occupancy",
              goal=(">", 1.0), headline=True)
    b.compare("preview_occupancy", "  preview occupancy vs progressive", "preview.occupancy", "progressive.occupancy",
              better="higher")
    b.figure("abandon", "predictive abandon rate", "predictive.abandon_rate", goal=("<", 0.03), headline=True)
    b.figure("abandon_progressive", "  progressive abandon rate", "progressive.abandon_rate", better="lower")
    b.compare("decision", "pacing decision vs one-per-ready-agent", "pacer.us", "trivial.us", unit="us",
              figure_goal=("<=", 100))
    b.noise_from("trivial.us")
    b.note("occupancy and abandon rates come from the simulated clock (they do not move with the machine's load); "
           "only the decision times do")
    b.run()


if __name__ == "__main__":
    main()
