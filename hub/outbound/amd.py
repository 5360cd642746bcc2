"""Answering-machine and no-voice detection on the first seconds of an answered call's audio:
energy and cadence, with numpy.

The audio (8 kHz, linear samples) is cut into 20 ms frames; a frame is **voiced** when its
energy is ``threshold_db`` above the quietest tenth of the frames (the line's noise) and above an
absolute floor.  Voiced frames closer than ``gap_s`` form one **word**.  Then, as a person and a
recorded greeting differ:

* no word in ``initial_silence_s``: ``silence`` (no voice: a dead line or a silent machine);
* a greeting (the first words) longer than ``max_greeting_s`` without a pause of ``silence_s``,
  or ``max_words`` words or more before such a pause: ``machine``;
* a short greeting followed by a pause of ``silence_s`` (a person says "hello?" and waits):
  ``human``;
* audio that ends before either: ``unsure`` (the campaign treats it as a person).

The figures are the campaign's ``amd:`` keys (docs/outbound.md), defaults as below.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RATE = 8000
FRAME = 160                     # 20 ms
DEFAULTS = {"initial_silence_s": 2.5, "max_greeting_s": 1.5, "silence_s": 0.8, "max_words": 4,
            "threshold_db": 12.0, "floor_db": -50.0, "gap_s": 0.15}


@dataclass(frozen=True)
class Verdict:
    kind: str                   # human | machine | silence | unsure
    reason: str
    greeting_s: float = 0.0
    words: int = 0


def frames_db(samples: np.ndarray) -> np.ndarray:
    """The energy of each 20 ms frame in dB below full scale (16-bit)."""
    x = np.asarray(samples, dtype=np.float64)
    n = len(x) // FRAME
    if n == 0:
        return np.zeros(0)
    x = x[:n * FRAME].reshape(n, FRAME) / 32768.0
    rms = np.sqrt(np.mean(x * x, axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-6))


def words(voiced: np.ndarray, gap_frames: int) -> list[tuple[int, int]]:
    """Runs of voiced frames (start, end exclusive), joined across gaps shorter than ``gap_frames``."""
    out: list[list[int]] = []
    idx = np.flatnonzero(voiced)
    for i in idx:
        if out and i - out[-1][1] <= gap_frames:
            out[-1][1] = i + 1
        else:
            out.append([i, i + 1])
    return [(a, b) for a, b in out]


def detect(samples, settings: dict | None = None) -> Verdict:
    s = {**DEFAULTS, **(settings or {})}
    db = frames_db(samples)
    if len(db) == 0:
        return Verdict("unsure", "no audio")
    noise = float(np.percentile(db, 10))
    voiced = (db > max(s["floor_db"], noise + s["threshold_db"]))
    ws = words(voiced, int(round(s["gap_s"] / 0.02)))
    sec = 0.02
    if not ws or ws[0][0] * sec >= s["initial_silence_s"]:
        if len(db) * sec >= s["initial_silence_s"] or ws:
            return Verdict("silence", f"no voice in the first {s['initial_silence_s']:g} s")
        return Verdict("unsure", "the audio ended before the initial silence")
    pause = int(round(s["silence_s"] / sec))
    start = ws[0][0]
    count = 0
    for k, (a, b) in enumerate(ws):
        count += 1
        greeting = (b - start) * sec
        if greeting > s["max_greeting_s"]:
            return Verdict("machine", f"a greeting longer than {s['max_greeting_s']:g} s", greeting, count)
        if count >= s["max_words"]:
            return Verdict("machine", f"{count} words without a pause", greeting, count)
        following = (ws[k + 1][0] if k + 1 < len(ws) else len(db)) - b
        if following >= pause:
            return Verdict("human", f"a {greeting:.1f} s greeting, then a pause", greeting, count)
    return Verdict("unsure", "the audio ended during the greeting", (ws[-1][1] - start) * sec, count)
