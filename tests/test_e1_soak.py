"""Many calls over the simulated spans: a short run by default, long soaks with -m slow."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from drivers.e1_card.r2 import R2Stack
from sim.e1_carrier import run_calls
from drivers.e1_card.virtual import VirtualSpanPair


@pytest.mark.parametrize("protocol", ["r2-cn", "pri"])
def test_short_run_every_call_completes(protocol):
    res = run_calls(protocol, 45, concurrent=30, hold_ms=500)
    s = res.summary()
    assert s["placed"] == 45 and s["answered"] == 45 and s["failed"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["r2-cn", "pri"])
def test_soak_thousand_calls(protocol):
    res = run_calls(protocol, 1000, concurrent=30, hold_ms=3000, seed=7)
    s = res.summary()
    assert s["answered"] == 1000 and s["failed"] == 0


@settings(max_examples=25, deadline=None)
@given(dnis=st.text("0123456789", min_size=1, max_size=12), ani=st.text("0123456789", max_size=15),
       decision=st.sampled_from(["accept", "busy", "congestion", "unallocated", "out-of-order"]))
def test_r2_delivers_any_numbers_and_any_decision(dnis, ani, decision):
    pair = VirtualSpanPair()
    offered = []
    a = R2Stack(pair.a, "CN", max_dnis=len(dnis))
    b = R2Stack(pair.b, "CN", lambda e, c: offered.append(c) if e in ("offered", "failed") else None,
                max_dnis=len(dnis), offer_policy=lambda call: decision)
    pair.tick_hooks += [a.poll, b.poll]
    pair.run(60)
    call = a.dial(dnis, ani)
    assert pair.run_until(lambda: call.state in ("accepted", "failed"), 20000)
    assert offered and offered[0].dnis == dnis and offered[0].ani == ani
    if decision == "accept":
        assert call.state == "accepted"
    else:
        assert call.state == "failed" and call.reason == decision
    a.channel_of(call).hangup() if call.state == "accepted" else None
    assert pair.run_until(lambda: all(ch.state == "idle" for ch in a.channels.values())
                          and all(ch.state == "idle" for ch in b.channels.values()), 5000)
