"""Staffing: Erlang C (callers wait forever) and Erlang A (callers abandon after an exponential
patience), for a forecast of calls per interval and a handle time.

Erlang C, with traffic A = λ · AHT (erlangs) and N agents (N > A):

    P(wait) = C(N, A) = (A^N / N!) · N/(N−A) / (Σ_{k<N} A^k/k! + A^N/N! · N/(N−A))
    SL(t)   = 1 − C(N, A) · e^{−(N−A)·t/AHT}             (answered within t)
    ASA     = C(N, A) · AHT / (N − A)                      occupancy = A / N

Erlang A (M/M/N+M, patience mean 1/θ): the birth–death chain of the number of callers n, births
λ, deaths min(n, N)·μ + max(n − N, 0)·θ, solved for its stationary law (truncated where the
tail is below 1e-12).  An arriving caller (PASTA) who finds n ≥ N waits; with j callers ahead
they move up at rate N·μ + j·θ while they themselves abandon at rate θ, so the chance of being
answered within t is a transient probability of that small chain (uniformisation).
P(abandon) = θ · Lq / λ, the mean wait of all callers (answered or not) = Lq / λ, and ASA (the
mean wait of answered callers) = E[wait · 1{answered}] ÷ P(answered), in closed form along the same
chain (``_answered_wait``).
SL here is answered within t over all offered calls.
"""
from __future__ import annotations

import math

import numpy as np

from hub.acd.errors import AcdError


class StaffingError(AcdError):
    """Inputs that give no staffing answer (no calls, a target that cannot be met)."""


def _check(calls: float, interval_s: float, aht_s: float) -> float:
    if not (calls > 0 and interval_s > 0 and aht_s > 0) or any(math.isinf(v) for v in (calls, interval_s, aht_s)):
        raise StaffingError("calls, interval and handle time must be positive numbers")
    return calls / interval_s * aht_s


def erlang_c(agents: int, traffic: float) -> float:
    """C(N, A): the probability that a caller waits (1.0 when N ≤ A: the queue grows without end)."""
    if agents <= traffic:
        return 1.0
    # Erlang B by its stable recursion, then C from B
    b = 1.0
    for k in range(1, agents + 1):
        b = traffic * b / (k + traffic * b)
    return agents * b / (agents - traffic * (1 - b))


def erlang_c_figures(agents: int, calls: float, interval_s: float, aht_s: float, target_s: float) -> dict:
    """Expected figures with ``agents`` for ``calls`` per ``interval_s`` and AHT ``aht_s``."""
    a = _check(calls, interval_s, aht_s)
    c = erlang_c(agents, a)
    if agents <= a:
        return {"agents": agents, "traffic": a, "p_wait": 1.0, "service_level": 0.0, "asa_s": math.inf,
                "occupancy": 1.0}
    return {"agents": agents, "traffic": a, "p_wait": c,
            "service_level": 1 - c * math.exp(-(agents - a) * target_s / aht_s),
            "asa_s": c * aht_s / (agents - a), "occupancy": a / agents}


def _stationary(agents: int, lam: float, mu: float, theta: float) -> list[float]:
    p = [1.0]
    n, total = 0, 1.0
    while True:
        n += 1
        death = min(n, agents) * mu + max(n - agents, 0) * theta
        if death <= 0:
            raise StaffingError("with no patience limit and too few agents the queue grows without end")
        p.append(p[-1] * lam / death)
        total += p[-1]
        if n > agents and p[-1] / total < 1e-13 and lam < death:
            break
        if n > 100_000:
            raise StaffingError("the queue does not settle (too few agents for this load)")
    return [x / total for x in p]


class _Waiting:
    """The chain of one waiting caller: state j = callers ahead of them, plus "answered" and
    "abandoned"; advanced by uniformisation (numpy), exact within each step."""

    def __init__(self, agents: int, mu: float, theta: float, start: list[float]):
        self.k = k = len(start)
        self.vec = np.concatenate([np.asarray(start, dtype=float), [0.0, 0.0]])
        j = np.arange(k)
        self.up = agents * mu + j * theta             # someone ahead leaves (answered or abandoned)
        self.rates = self.up + theta                  # ... or this caller abandons
        self.big = float(self.rates.max()) if k else 1.0
        self.theta = theta

    def _step(self, cur):
        k, big = self.k, self.big
        nxt = np.zeros_like(cur)
        w = cur[:k]
        nxt[:k] += w * (1 - self.rates / big)
        moved = w * self.up / big
        nxt[k] += moved[0]                            # the head of the queue reaches an agent
        nxt[:k - 1] += moved[1:]
        nxt[k + 1] += w.sum() * self.theta / big
        nxt[k:] += cur[k:]
        return nxt

    def advance(self, dt: float) -> None:
        term, n, acc = math.exp(-self.big * dt), 0, 0.0
        cur, out = self.vec, np.zeros_like(self.vec)
        while True:
            acc += term
            out += term * cur
            if 1 - acc < 1e-12 or n > 10_000:
                break
            cur = self._step(cur)
            n += 1
            term *= self.big * dt / n
        self.vec = out

    @property
    def answered(self) -> float:
        return float(self.vec[self.k])


def _answered_within(agents: int, mu: float, theta: float, start: list[float], t: float) -> float:
    """P(reach an agent within t) from the law ``start`` of callers ahead (index j = j ahead),
    in steps short enough for the Poisson weights to stay representable."""
    k = len(start)
    if t <= 0 or k == 0:
        return 0.0
    chain = _Waiting(agents, mu, theta, start)
    steps = max(1, math.ceil(chain.big * t / 30))
    for _ in range(steps):
        chain.advance(t / steps)
    return chain.answered


def _answered_wait(agents: int, mu: float, theta: float, start: list[float]) -> float:
    """E[wait · 1{answered}] over arriving callers who wait.  With j ahead the caller passes
    stages j, j−1, …, 0; stage i ends at rate R_i = N·μ + i·θ + θ, by moving up with probability
    (N·μ + i·θ) / R_i (else they abandon), and a stage left by moving up still lasts Exp(R_i) on
    average 1/R_i.  So E[wait · 1{answered} | j] = Π p_i · Σ 1/R_i over i ≤ j."""
    total, prod, acc = 0.0, 1.0, 0.0
    for j, pj in enumerate(start):
        up = agents * mu + j * theta
        prod *= up / (up + theta)
        acc += 1 / (up + theta)
        total += pj * prod * acc
    return total


def erlang_a_figures(agents: int, calls: float, interval_s: float, aht_s: float, target_s: float,
                     patience_s: float) -> dict:
    """Expected figures with abandonment (mean patience ``patience_s``)."""
    _check(calls, interval_s, aht_s)
    if not patience_s > 0:
        raise StaffingError("the mean patience must be a positive number of seconds")
    lam, mu, theta = calls / interval_s, 1 / aht_s, 1 / patience_s
    p = _stationary(agents, lam, mu, theta)
    p_wait = sum(p[agents:])
    lq = sum((n - agents) * p[n] for n in range(agents, len(p)))
    ahead = [p[n] for n in range(agents, len(p))]          # j = n − N ahead on arrival
    sl = (1 - p_wait) + _answered_within(agents, mu, theta, ahead, target_s)
    busy = sum(min(n, agents) * p[n] for n in range(len(p)))
    p_abandon = theta * lq / lam
    asa = _answered_wait(agents, mu, theta, ahead) / max(1e-300, 1 - p_abandon)
    def unit(x):                 # rounding may step a hair outside 0..1
        return min(1.0, max(0.0, x))
    return {"agents": agents, "traffic": lam * aht_s, "p_wait": unit(p_wait), "service_level": unit(sl),
            "p_abandon": p_abandon, "asa_s": asa, "mean_wait_s": lq / lam, "occupancy": unit(busy / agents)}


def agents_needed(calls: float, interval_s: float, aht_s: float, target_sl: float, target_s: float,
                  patience_s: float | None = None, max_agents: int = 10_000) -> dict:
    """The fewest agents whose expected service level reaches ``target_sl`` (0..1) within
    ``target_s``; Erlang A when ``patience_s`` is given, else Erlang C."""
    if not 0 < target_sl < 1:
        raise StaffingError(f"the service-level target {target_sl} must be between 0 and 1 (80/20 is 0.80)")
    a = _check(calls, interval_s, aht_s)
    n = max(1, math.floor(a) + (0 if patience_s else 1))
    while n <= max_agents:
        f = (erlang_a_figures(n, calls, interval_s, aht_s, target_s, patience_s) if patience_s
             else erlang_c_figures(n, calls, interval_s, aht_s, target_s))
        if f["service_level"] >= target_sl:
            return f
        n += 1
    raise StaffingError(f"more than {max_agents} agents would be needed")
