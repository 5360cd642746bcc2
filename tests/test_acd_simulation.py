"""The ACD on a simulated clock against Erlang C / A and an independent reference model.

Poisson callers and exponential talk times go through the real engine (``sim.callcenter``); the
waits are read back from the queue log it wrote.  Per-call waits must equal those of a plain
FCFS multi-server model fed the same lists; the service level, ASA and abandonment over
replications must agree with Erlang C (no abandonment) and Erlang A (patience) within a tolerance
from the replications' own spread.
"""
from __future__ import annotations

import heapq
import math
import statistics

import pytest

from hub.acd import erlang, kpi
from hub.acd.simulate import run, workload


def reference_waits(agents, load):
    """FCFS with ``agents`` identical servers: each caller's wait, or None when they abandon."""
    free = [load.arrivals_ms[0]] * agents
    heapq.heapify(free)
    out = []
    for t, talk, patience in zip(load.arrivals_ms, load.talk_ms, load.patience_ms):
        start = max(t, free[0])
        if patience is not None and start - t > patience:
            out.append(None)
            continue
        heapq.heapreplace(free, start + talk)
        out.append(start - t)
    return out


def measured(log):
    rows = {r["call"]: r for r in kpi.call_waits(log)}
    return [rows[f"c{i}"]["wait_ms"] if rows[f"c{i}"]["outcome"] == "answered" else None for i in range(len(rows))]


@pytest.mark.parametrize("strategy", ["leastrecent", "ringall", "rrmemory", "random", "top-down"])
@pytest.mark.parametrize("patience", [None, 60])
def test_per_call_waits_equal_the_reference_model(strategy, patience):
    load = workload(400, per_hour=216, aht_s=180, patience_s=patience, seed=7)
    assert measured(run(13, load, strategy)) == reference_waits(13, load)


def replicate(agents, reps, calls, patience=None):
    sl, asa, ab = [], [], []
    warm = calls // 10
    for seed in range(reps):
        load = workload(calls, per_hour=216, aht_s=180, patience_s=patience, seed=100 + seed)
        rows = sorted(kpi.call_waits(run(agents, load)), key=lambda r: r["entered_ms"])[warm:]
        answered = [r for r in rows if r["outcome"] == "answered"]
        sl.append(sum(r["wait_ms"] <= 20_000 for r in answered) / len(rows))
        asa.append(sum(r["wait_ms"] for r in answered) / 1000 / max(1, len(answered)))
        ab.append(sum(r["outcome"] == "abandon" for r in rows) / len(rows))
    return sl, asa, ab


def agrees(samples, expected, floor):
    se = statistics.stdev(samples) / math.sqrt(len(samples))
    mean = statistics.fmean(samples)
    assert abs(mean - expected) <= max(4 * se, floor), (mean, expected, se)


@pytest.mark.parametrize("agents", [12, 14])
def test_service_level_and_asa_agree_with_erlang_c(agents):
    sl, asa, _ = replicate(agents, reps=12, calls=1200)
    f = erlang.erlang_c_figures(agents, 216, 3600, 180, 20)
    agrees(sl, f["service_level"], 0.01)
    agrees(asa, f["asa_s"], 0.5)


def test_service_level_and_abandonment_agree_with_erlang_a():
    sl, asa, ab = replicate(12, reps=12, calls=1200, patience=120)
    f = erlang.erlang_a_figures(12, 216, 3600, 180, 20, 120)
    agrees(sl, f["service_level"], 0.01)
    agrees(asa, f["asa_s"], 0.5)
    agrees(ab, f["p_abandon"], 0.005)


@pytest.mark.slow
def test_erlang_c_over_many_replications():
    sl, asa, _ = replicate(13, reps=40, calls=4000)
    f = erlang.erlang_c_figures(13, 216, 3600, 180, 20)
    agrees(sl, f["service_level"], 0.005)


def test_the_published_worked_case():
    f = erlang.agents_needed(100, 1800, 180, 0.80, 20)
    assert f["agents"] == 14
    assert round(f["p_wait"], 3) == 0.174 and round(f["service_level"], 3) == 0.888
    assert round(f["occupancy"], 3) == 0.714
    a = erlang.erlang_a_figures(14, 100, 1800, 180, 20, patience_s=1e9)     # no abandonment: Erlang C
    assert a["service_level"] == pytest.approx(f["service_level"], abs=1e-6)
    assert a["asa_s"] == pytest.approx(f["asa_s"], abs=0.01)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(calls=st.floats(1, 5000), aht=st.floats(5, 1200), target=st.floats(1, 120), sl=st.floats(0.05, 0.99))
def test_agents_needed_is_the_fewest_that_reach_the_target(calls, aht, target, sl):
    f = erlang.agents_needed(calls, 1800, aht, sl, target)
    assert f["service_level"] >= sl
    if f["agents"] - 1 > f["traffic"]:
        assert erlang.erlang_c_figures(f["agents"] - 1, calls, 1800, aht, target)["service_level"] < sl
    more = erlang.erlang_c_figures(f["agents"] + 1, calls, 1800, aht, target)
    assert more["service_level"] >= f["service_level"] and more["p_wait"] <= f["p_wait"]


@settings(max_examples=60, deadline=None)
@given(agents=st.integers(1, 40), calls=st.floats(1, 400), aht=st.floats(30, 600), patience=st.floats(5, 600))
def test_erlang_a_is_a_distribution_and_beats_erlang_c(agents, calls, aht, patience):
    a = erlang.erlang_a_figures(agents, calls, 1800, aht, 20, patience)
    assert 0 <= a["p_abandon"] <= a["p_wait"] <= 1 + 1e-9 and 0 <= a["service_level"] <= 1 + 1e-9
    c = erlang.erlang_c_figures(agents, calls, 1800, aht, 20)
    assert a["p_wait"] <= c["p_wait"] + 1e-6                    # abandonment only shortens the queue
