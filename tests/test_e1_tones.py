"""MF two-out-of-six and DTMF generation and detection on real 8 kHz A-law samples."""
from __future__ import annotations

import math
import random
from array import array

import pytest
from hypothesis import given, settings, strategies as st

from drivers.e1_card import alaw, mf
from drivers.e1_card.dtmf import DTMFDetector, DTMFReceiver, dtmf_samples
from drivers.e1_card.errors import ToneError
from drivers.e1_card.tones import ToneBank, ToneGenerator, goertzel_power, peak_to_dbm0

SETTINGS = settings(max_examples=120, deadline=None)


def test_q441_signal_table():
    assert mf.frequencies(1, True) == (1380, 1500)
    assert mf.frequencies(3, True) == (1500, 1620)
    assert mf.frequencies(10, True) == (1740, 1860)
    assert mf.frequencies(15, True) == (1860, 1980)
    assert mf.frequencies(1, False) == (1140, 1020)
    assert mf.frequencies(15, False) == (660, 540)
    assert len({mf.frequencies(n, True) for n in range(1, 16)}) == 15
    with pytest.raises(ToneError):
        mf.frequencies(0, True)


def test_goertzel_recursion_equals_tone_bank():
    x = mf.mf_samples(7, True)
    for f in (1380, 1740, 1000.5):
        assert goertzel_power(x, f) == pytest.approx(ToneBank([f], len(x)).powers(x)[0], rel=1e-9)


@SETTINGS
@given(st.integers(1, 15), st.booleans(), st.floats(-28.0, -3.0), st.floats(-10.0, 10.0),
       st.floats(-6.5, 6.5))
def test_mf_detected_within_tolerances(signal, forward, dbm0, offset, twist):
    x = mf.mf_samples(signal, forward, dbm0=dbm0, offset_hz=offset, twist_db=twist)
    block = alaw.decode(alaw.encode(x))
    assert mf.MFDetector(forward).detect(block) == signal
    assert mf.MFDetector(not forward).detect(block) is None


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 15), st.booleans())
def test_mf_sender_block_by_block_is_detected(signal, forward):
    s = mf.MFSender(forward)
    s.set(signal)
    det = mf.MFDetector(forward)
    blocks = [s.read() for _ in range(4)]
    assert all(det.detect_alaw(b) == signal for b in blocks)
    level = peak_to_dbm0(max(abs(v) for v in alaw.decode(b"".join(blocks))) / 2)
    assert -13.0 < level < -10.0  # -11.5 dBm0 per frequency (two tones add to the peak)
    s.set(None)
    assert s.read() == bytes([alaw.SILENCE]) * 160


def _noise(n, peak, seed):
    rnd = random.Random(seed)
    return array("h", (int(rnd.uniform(-peak, peak)) for _ in range(n)))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000))
def test_mf_rejects_noise_single_tones_and_three_tones(seed):
    det_f, det_b = mf.MFDetector(True), mf.MFDetector(False)
    noise = _noise(160, 8000, seed)
    assert det_f.detect(noise) is None and det_b.detect(noise) is None
    rnd = random.Random(seed)
    f = rnd.choice(mf.FORWARD)
    single = array("h", (int(6000 * math.sin(2 * math.pi * f * i / 8000)) for i in range(160)))
    assert det_f.detect(single) is None
    f1, f2, f3 = rnd.sample(mf.FORWARD, 3)
    three = array("h", (int(4000 * (math.sin(2 * math.pi * f1 * i / 8000)
                                   + math.sin(2 * math.pi * f2 * i / 8000)
                                   + math.sin(2 * math.pi * f3 * i / 8000))) for i in range(160)))
    assert det_f.detect(three) is None
    # too weak: -45 dBm0 each
    weak = mf.mf_samples(5, True, dbm0=-45)
    assert det_f.detect(weak) is None


def test_tone_generator_is_phase_continuous_and_checks_input():
    g = ToneGenerator()
    g.set((1000,), -10)
    a = g.read(80) + g.read(80)
    g2 = ToneGenerator()
    g2.set((1000,), -10)
    b = g2.read(160)
    assert max(abs(x - y) for x, y in zip(a, b)) <= 1
    with pytest.raises(ToneError):
        g.set((5000,))
    with pytest.raises(ToneError):
        g.set((1000,), 10)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from("0123456789*#ABCD"), st.floats(-25.0, -3.0))
def test_dtmf_detected(key, dbm0):
    x = alaw.decode(alaw.encode(dtmf_samples(key, dbm0=dbm0)))
    assert DTMFDetector().detect(x) == key


def test_dtmf_rejects_mf_and_noise_and_receiver_counts_presses():
    det = DTMFDetector()
    assert det.detect(mf.mf_samples(4, True)) is None
    assert det.detect(_noise(160, 8000, 1)) is None
    rx = DTMFReceiver()
    silence = bytes([alaw.SILENCE]) * 160
    seq = []
    for k in "0571#":
        seq += [alaw.encode(dtmf_samples(k))] * 3 + [silence] * 2
    assert rx.feed(b"".join(seq)) == list("0571#")
    with pytest.raises(ToneError):
        dtmf_samples("X")
