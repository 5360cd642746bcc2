"""The conference mixer's arithmetic: who hears whom for every mix of roles, and G.711 round trips."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.telephony import mixer
from hub.telephony.mixer import FRAME, ROLES, decode, encode, hears, mix

roles_st = st.lists(st.sampled_from(ROLES), min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(roles_st, st.data())
def test_each_member_hears_exactly_the_sum_of_those_it_may_hear(role_list, data):
    ids = [f"m{i}" for i in range(len(role_list))]
    roles = dict(zip(ids, role_list))
    targets = {m: (data.draw(st.sampled_from(ids)) if roles[m] == "whisper" else None) for m in ids}
    frames = {m: (None if data.draw(st.booleans()) and i % 2 else
                  np.full(FRAME, (i + 1) * 100, dtype=np.int32)) for i, m in enumerate(ids)}
    out = mix(frames, roles, targets)
    assert set(out) == set(ids)
    for listener in ids:
        expect = sum((frames[s] for s in ids if frames[s] is not None and hears(listener, s, roles, targets)),
                     np.zeros(FRAME, dtype=np.int32))
        assert np.array_equal(out[listener], expect), (listener, roles, targets)


def test_the_supervision_modes():
    roles = {"caller": "party", "agent": "party", "sup": "listen"}
    targets = {"caller": None, "agent": None, "sup": None}
    assert hears("sup", "caller", roles, targets) and hears("sup", "agent", roles, targets)
    assert not hears("caller", "sup", roles, targets) and not hears("agent", "sup", roles, targets)
    roles["sup"], targets["sup"] = "whisper", "agent"
    assert hears("agent", "sup", roles, targets) and not hears("caller", "sup", roles, targets)
    roles["sup"] = "barge"
    assert hears("agent", "sup", roles, targets) and hears("caller", "sup", roles, targets)
    assert not hears("sup", "sup", roles, targets)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-32768, 32767), min_size=1, max_size=400), st.sampled_from(["PCMA", "PCMU"]))
def test_g711_round_trip_is_the_codec_quantisation(samples, codec):
    x = np.array(samples, dtype=np.int32)
    once = decode(encode(x, codec), codec)
    assert np.array_equal(decode(encode(once, codec), codec), once)        # idempotent after one pass
    assert np.all(np.abs(once - x) <= np.maximum(16, np.abs(x) // 14))       # within the segment's step


def test_alaw_agrees_with_the_e1_driver():
    from drivers.e1_card import alaw
    x = np.arange(-32768, 32768, 7, dtype=np.int32)
    assert encode(x, "PCMA") == alaw.encode(x.tolist())


def test_sums_are_clipped_not_wrapped():
    loud = np.full(FRAME, 30000, dtype=np.int32)
    assert np.all(decode(encode(loud * 3, "PCMA"), "PCMA") > 30000)
    assert np.all(decode(encode(-loud * 3, "PCMU"), "PCMU") < -30000)


def test_unknown_role_is_a_clear_error():
    import asyncio

    import pytest

    from hub.telephony.errors import TelephonyError
    m = mixer.Mixer(asyncio.new_event_loop())

    class Ep:
        peer = None
    with pytest.raises(TelephonyError, match="unknown conference role"):
        m.set_role(Ep(), "shout", _new=True)
    with pytest.raises(TelephonyError, match="needs the member"):
        m.set_role(Ep(), "whisper", _new=True)
