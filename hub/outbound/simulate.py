"""A campaign on a simulated clock: called numbers that answer with a random answer rate, ring
time and talk time, driven through the real dialer (``hub.outbound.engine``): for the statistical
tests, ``bench/dialer.py`` and ``scanhub campaign simulate``.

``Traffic`` describes the called people; ``run(campaign, contacts, traffic, minutes)`` plays the
campaign for that long and returns the campaign records, every action the dialer took, and the
figures: agent occupancy (talk time over logged-in time), abandon rate, calls per agent hour.
The same ``seed`` gives the same people (the answer, ring time and talk time of the n-th call
placed to a number), so two modes can be compared on the same traffic.
"""
from __future__ import annotations

import heapq
import itertools
import random
from dataclasses import dataclass, field

from hub.outbound.campaign import Campaign
from hub.outbound.engine import Abandon, Connect, Contact, Dial, Dialer, Hangup, Preview, StartFlow

START_MS = 1_764_554_400_000          # Mon 2025-12-01 02:00 UTC (10:00 in Shanghai)


@dataclass(frozen=True)
class Traffic:
    answer_rate: float = 0.35         # answered by a person
    machine_rate: float = 0.0         # answered by a machine
    busy_rate: float = 0.05
    ring_s: tuple[float, float] = (3.0, 20.0)   # a person answers after a uniform time in this range
    talk_s: float = 90.0              # mean (exponential)
    preview_s: float = 8.0            # an agent reads the record before dialling
    flow_s: float = 25.0              # an agentless notice or survey
    seed: int = 0


@dataclass
class Result:
    records: list[dict] = field(default_factory=list)
    actions: list = field(default_factory=list)
    dialled: list[tuple[int, str]] = field(default_factory=list)     # (ms, number)
    figures: dict = field(default_factory=dict)
    dialer: Dialer | None = None


def _person(traffic: Traffic, number: str, attempt: int) -> random.Random:
    return random.Random(f"{traffic.seed}:{number}:{attempt}")


def run(campaign: Campaign, contacts: list[Contact], traffic: Traffic, minutes: float, *,
        start_ms: int = START_MS, dnc=None, pacer=None, on_dial=None, history=None) -> Result:
    """Play ``campaign`` over ``contacts`` for ``minutes`` of simulated time (``history``: earlier
    attempt records, which restore the pacer's rolling window at ``start_ms``)."""
    now = [start_ms]
    res = Result()
    seq = itertools.count()
    events: list = []
    eng = Dialer(campaign, contacts, lambda: now[0], log=res.records.extend, dnc=dnc, pacer=pacer, history=history)
    res.dialer = eng
    end_ms = start_ms + int(minutes * 60_000)
    attempt_of: dict[str, int] = {}

    def at(t: float, fn, *args) -> None:
        heapq.heappush(events, (int(t), next(seq), fn, args))

    def carry_out(actions) -> None:
        for a in actions:
            res.actions.append(a)
            if isinstance(a, Dial):
                res.dialled.append((now[0], a.number))
                if on_dial is not None:
                    on_dial(now[0], a)
                n = attempt_of[a.number] = attempt_of.get(a.number, 0) + 1
                rng = _person(traffic, a.number, n)
                u = rng.random()
                ring = rng.uniform(*traffic.ring_s) * 1000
                if u < traffic.answer_rate and ring < a.timeout_s * 1000:
                    at(now[0] + ring, lambda c=a.call: carry_out(eng.answered(c)))
                elif u < traffic.answer_rate + traffic.machine_rate:
                    at(now[0] + min(ring, 4000), lambda c=a.call: carry_out(eng.answered(c, machine=True)))
                elif u < traffic.answer_rate + traffic.machine_rate + traffic.busy_rate:
                    at(now[0] + 1000, lambda c=a.call: carry_out(eng.failed(c, "busy")))
                else:
                    at(now[0] + a.timeout_s * 1000, lambda c=a.call: carry_out(eng.failed(c, "no-answer")))
                talk_of[a.call] = max(1000.0, rng.expovariate(1 / (traffic.talk_s * 1000)))
            elif isinstance(a, Connect):
                at(now[0] + talk_of.get(a.call, 60_000), lambda c=a.call: carry_out(eng.hangup(c, _code(c))))
            elif isinstance(a, Preview):
                at(now[0] + traffic.preview_s * 1000, lambda g=a.agent: carry_out(eng.preview_dial(g)))
            elif isinstance(a, StartFlow):
                at(now[0] + traffic.flow_s * 1000, lambda c=a.call: carry_out(eng.flow_done(c, _answers(c))))
            elif isinstance(a, (Abandon, Hangup)):
                pass

    talk_of: dict[str, float] = {}
    finals = [d.code for d in campaign.dispositions.values() if d.final and not d.dnc]

    def _code(call: str):
        return finals[hash(call) % len(finals)] if finals else None

    def _answers(call: str) -> dict:
        rng = random.Random(f"{traffic.seed}:{call}")
        return {q.id: (rng.randint(1, 5) if q.kind == "score" else rng.choice(("yes", "no")))
                for q in campaign.questions}

    for ag in campaign.agents:
        carry_out(eng.login(ag))
    carry_out(eng.tick())                  # agentless: nobody logs in, the lines start at once
    while now[0] < end_ms:
        due = eng.next_deadline()
        nxt = events[0][0] if events else None
        if due is not None and due <= now[0]:
            due = now[0]
        if due is not None and (nxt is None or due < nxt):
            if due >= end_ms:
                break
            now[0] = max(now[0], due)
            carry_out(eng.tick())
            continue
        if nxt is None or nxt >= end_ms:
            break
        t, _, fn, args = heapq.heappop(events)
        now[0] = max(now[0], t)
        fn(*args)
    now[0] = end_ms
    res.figures = figures(res.records, campaign, start_ms, end_ms)
    return res


def figures(records: list[dict], campaign: Campaign, start_ms: int, end_ms: int) -> dict:
    """Occupancy, abandon rate, attempts per outcome of a run's records."""
    attempts = [r for r in records if r["kind"] == "attempt"]
    talk = sum(min(r["ended_ms"], end_ms) - r["connected_ms"] for r in attempts if r.get("connected_ms"))
    staffed = max(1, len(campaign.agents)) * (end_ms - start_ms)
    person = [r for r in attempts if r["outcome"] not in ("no-answer", "busy", "failed", "machine")
              and r.get("answered_ms") is not None]
    abandoned = sum(r["outcome"] in ("abandoned", "dropped") for r in person)
    outcomes: dict[str, int] = {}
    for r in attempts:
        outcomes[r["outcome"]] = outcomes.get(r["outcome"], 0) + 1
    hours = (end_ms - start_ms) / 3_600_000
    return {"occupancy": talk / staffed if campaign.agents else 0.0,
            "abandon_rate": abandoned / len(person) if person else 0.0,
            "answered": len(person), "abandoned": abandoned, "attempts": len(attempts),
            "connected_per_agent_hour": (sum(1 for r in attempts if r.get("connected_ms"))
                                         / max(1, len(campaign.agents)) / hours if hours else 0.0),
            "refusals": sum(1 for r in records if r["kind"] == "refusal"), "outcomes": outcomes}
