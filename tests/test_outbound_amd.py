"""Answering-machine detection on synthetic audio and on speech made by espeak-ng."""
from __future__ import annotations

import shutil
import subprocess
import wave

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from hub.outbound.amd import RATE, detect

rng = np.random.default_rng(1)


def noise(s, level=30):
    return rng.normal(0, level, int(s * RATE))


def syllables(s, rate_hz=4.0, level=6000):
    """Speech-like: a voiced carrier switched on and off at the syllable rate, with short gaps."""
    t = np.arange(int(s * RATE)) / RATE
    envelope = (np.sin(2 * np.pi * rate_hz * t) > -0.3).astype(float)
    return level * envelope * np.sin(2 * np.pi * 180 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t)) + noise(s)


def test_a_person_says_hello_and_waits():
    audio = np.concatenate([noise(0.4), syllables(0.7), noise(2.0)])
    v = detect(audio)
    assert v.kind == "human", v


def test_a_recorded_greeting_talks_on():
    audio = np.concatenate([noise(0.3), syllables(4.0), noise(0.5)])
    assert detect(audio).kind == "machine"


def test_a_silent_line_has_no_voice():
    assert detect(noise(3.0)).kind == "silence"
    assert detect(np.zeros(RATE * 3)).kind == "silence"


def test_short_audio_is_unsure_not_a_guess():
    assert detect(np.zeros(100)).kind == "unsure"


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(-32768, 32767), max_size=4000))
def test_any_samples_give_a_verdict(samples):
    assert detect(np.array(samples)).kind in ("human", "machine", "silence", "unsure")


def espeak(tmp_path, text, name):
    for tool, package in (("espeak-ng", "espeak-ng"), ("sox", "sox")):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (Debian package {package})")
    raw, out = tmp_path / f"{name}-raw.wav", tmp_path / f"{name}.wav"
    subprocess.run(["espeak-ng", "-w", str(raw), text], check=True, capture_output=True)
    subprocess.run(["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(out)], check=True, capture_output=True)
    with wave.open(str(out)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(float)


def test_espeak_speech_hello_is_a_person_and_a_long_greeting_a_machine(tmp_path):
    hello = espeak(tmp_path, "Hello?", "hello")
    greeting = espeak(tmp_path, "Hi, you have reached the Wang family. We cannot take your call right now, "
                                "please leave a message after the tone.", "greeting")
    assert detect(np.concatenate([noise(0.5), hello, noise(2.0)])).kind == "human"
    assert detect(np.concatenate([noise(0.5), greeting])).kind == "machine"
