"""The routing strategies: which of the free, eligible members of a queue is rung for a call.

Every function takes the candidates (``Member``s of agents that are ready and eligible for this
caller now, in the queue's member order), the engine's view of the agents and the queue's round-
robin memory, and returns the members to ring: one, or for ``ringall`` all of the best penalty.
Penalties: app_queue rings the lowest penalty present first (``best_penalty``); ``wrandom`` uses
the penalty as a weight instead.
"""
from __future__ import annotations

import random as _random


def best_penalty(cands):
    low = min(m.penalty for m in cands)
    return [m for m in cands if m.penalty == low]


def choose(strategy: str, cands: list, agents: dict, queue: str, rr: dict, rng: _random.Random,
           order: list[str], rank: dict[str, int]) -> list:
    """``order``: the queue's member ids in their round-robin order, ``rank`` their index in it;
    ``rr[queue]`` the last one rung (updated here)."""
    if not cands:
        return []
    if strategy == "wrandom":
        return [min(cands, key=lambda m: (rng.randrange(1000 * (m.penalty + 1)), m.agent))]
    cands = best_penalty(cands)
    if strategy == "ringall":
        return cands
    if strategy == "leastrecent":
        return [min(cands, key=lambda m: (agents[m.agent].last_end_ms.get(queue, -1), rank[m.agent]))]
    if strategy == "fewestcalls":
        return [min(cands, key=lambda m: (agents[m.agent].calls.get(queue, 0), rank[m.agent]))]
    if strategy == "random":
        return [rng.choice(cands)]
    if strategy in ("rrmemory", "rrordered"):
        last = rr.get(queue)
        start = rank[last] + 1 if last in rank else 0
        ids = {m.agent: m for m in cands}
        for k in range(len(order)):
            aid = order[(start + k) % len(order)]
            if aid in ids:
                rr[queue] = aid
                return [ids[aid]]
        return []
    if strategy == "linear":
        return [min(cands, key=lambda m: rank[m.agent])]
    if strategy == "longest-idle-agent":
        return [min(cands, key=lambda m: (agents[m.agent].ready_since_ms, rank[m.agent]))]
    if strategy == "top-down":
        return [min(cands, key=lambda m: (m.level, m.position, rank[m.agent]))]
    raise ValueError(f"unknown strategy {strategy}")
