"""Tone generation and Goertzel power measurement on 8 kHz linear samples.

Levels are in dBm0.  The A-law full-scale sine is +3.14 dBm0 (G.711), so a 0 dBm0 sine has a
peak of 32768 × 10^(-3.14/20) ≈ 22 827 in 16-bit linear units.

:func:`goertzel_power` is the textbook recursive Goertzel filter.  Detectors use
:class:`ToneBank`, which computes the same quantity |X(f)|² for several frequencies at once as
windowed correlations with precomputed tables (``sum(map(mul, …))`` runs in C), which is several
times faster in pure Python than running the recursion sample by sample.
"""
from __future__ import annotations

import math
from array import array
from operator import mul

from .errors import ToneError

SAMPLE_RATE = 8000
FULL_SCALE_DBM0 = 3.14
ZERO_DBM0_PEAK = 32768 * 10 ** (-FULL_SCALE_DBM0 / 20)


def dbm0_to_peak(dbm0: float) -> float:
    """Peak amplitude (16-bit linear) of a sine at ``dbm0``."""
    return ZERO_DBM0_PEAK * 10 ** (dbm0 / 20)


def peak_to_dbm0(peak: float) -> float:
    if peak <= 0:
        return -math.inf
    return 20 * math.log10(peak / ZERO_DBM0_PEAK)


class ToneGenerator:
    """Phase-continuous sum of sines, so a tone can be produced block by block without clicks.

    ``set(freqs_hz, dbm0)`` changes the tone (empty = silence); ``read(n)`` returns ``n``
    samples as ``array('h')``.
    """

    def __init__(self, rate: int = SAMPLE_RATE) -> None:
        self.rate = rate
        self._tones: list[list[float]] = []  # [phase increment, phase, peak]

    def set(self, freqs_hz=(), dbm0: float = -11.5) -> None:
        if not -60 <= dbm0 <= FULL_SCALE_DBM0:
            raise ToneError(f"tone level {dbm0} dBm0 outside -60..+3.14")
        peak = dbm0_to_peak(dbm0)
        tones = []
        for f in freqs_hz:
            if not 0 < f < self.rate / 2:
                raise ToneError(f"tone frequency {f} Hz outside 0..{self.rate // 2}")
            tones.append([2 * math.pi * f / self.rate, 0.0, peak])
        if sum(t[2] for t in tones) > 32767:
            raise ToneError("tones too loud together: they would clip")
        self._tones = tones

    @property
    def active(self) -> bool:
        return bool(self._tones)

    def read(self, n: int) -> array:
        if not self._tones:
            return array("h", bytes(2 * n))
        acc = [0.0] * n
        for t in self._tones:
            inc, ph, peak = t
            sin = math.sin
            acc = [a + peak * sin(ph + inc * i) for i, a in enumerate(acc)]
            t[1] = (ph + inc * n) % (2 * math.pi)
        return array("h", (int(round(a)) for a in acc))


def goertzel_power(samples, freq_hz: float, rate: int = SAMPLE_RATE) -> float:
    """|X(f)|² of ``samples`` at ``freq_hz`` by the Goertzel recursion (rectangular window)."""
    w = 2 * math.pi * freq_hz / rate
    coeff = 2 * math.cos(w)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    # |X|^2 for a non-integer bin: real/imaginary parts of the final state
    re = s1 - s2 * math.cos(w)
    im = s2 * math.sin(w)
    return re * re + im * im


class ToneBank:
    """|X(f)|² of fixed-length blocks at several frequencies, windowed or not.

    ``powers(block)`` returns a list of powers in ``freqs`` order.  With ``window='hann'`` the
    powers are of the Hann-windowed block; :meth:`amplitude` turns a power back into the peak
    amplitude of a sine that would give it.
    """

    def __init__(self, freqs_hz, n: int, window: str = "rect", rate: int = SAMPLE_RATE) -> None:
        if n <= 0:
            raise ToneError("block length must be positive")
        if window == "hann":
            win = [0.5 - 0.5 * math.cos(2 * math.pi * (i + 0.5) / n) for i in range(n)]
        elif window == "rect":
            win = [1.0] * n
        else:
            raise ToneError(f"unknown window {window!r}")
        self.n = n
        self.freqs = tuple(freqs_hz)
        self._gain = sum(win) / 2  # |X| of a unit-peak sine at its own frequency
        self._tables = []
        for f in self.freqs:
            w = 2 * math.pi * f / rate
            # phase reference at the end of the block, as the Goertzel recursion has it
            self._tables.append(([win[i] * math.cos(w * (i - n + 1)) for i in range(n)],
                                 [win[i] * math.sin(w * (i - n + 1)) for i in range(n)]))

    def powers(self, block) -> list[float]:
        if len(block) != self.n:
            raise ToneError(f"block must have {self.n} samples, got {len(block)}")
        if not isinstance(block, list) or not isinstance(block[0], float):
            block = list(map(float, block))  # float x float products are much faster
        out = []
        for c, s in self._tables:
            re = sum(map(mul, block, c))
            im = sum(map(mul, block, s))
            out.append(re * re + im * im)
        return out

    def amplitude(self, power: float) -> float:
        return math.sqrt(power) / self._gain


def mean_square(block) -> float:
    return sum(map(mul, block, block)) / len(block)


def as_floats(block) -> list[float]:
    return block if isinstance(block, list) else list(map(float, block))
