"""R2 multifrequency (two-out-of-six) signals, ITU-T Q.441 / Q.442 and China No.1.

Forward signals (groups I and II, from the calling side) use 1380, 1500, 1620, 1740, 1860 and
1980 Hz; backward signals (groups A and B) use 1140, 1020, 900, 780, 660 and 540 Hz.  Signal
*n* (1..15) is a pair of frequencies taken in Q.441's order: (f0 f1), (f0 f2), (f1 f2),
(f0 f3), (f1 f3), (f2 f3), (f0 f4) … (f4 f5).

Senders: −11.5 dBm0 per frequency ± 1 dB, frequency within ± 4 Hz (we generate exactly).
The detector (:class:`MFDetector`) works on 20 ms blocks (160 samples) with a Hann window and
accepts: each of the two strongest frequencies above −38 dBm0 (operate ≥ −35, never ≤ −42), twist up to 7 dB, a
third frequency at least 12 dB below the weaker one, and the pair carrying at least 75 % of the
block's power; it tolerates ± 10 Hz.  A signal is reported when it is present in a block.
"""
from __future__ import annotations

import math
from array import array

from . import alaw
from .errors import ToneError
from .tones import ToneBank, ToneGenerator, as_floats, dbm0_to_peak, mean_square

FORWARD = (1380, 1500, 1620, 1740, 1860, 1980)
BACKWARD = (1140, 1020, 900, 780, 660, 540)
SEND_LEVEL_DBM0 = -11.5
BLOCK = alaw.BLOCK_SAMPLES

#: signal number -> (index of lower-numbered frequency, index of the other)
PAIRS: dict[int, tuple[int, int]] = {}
_n = 1
for _j in range(1, 6):
    for _i in range(_j):
        PAIRS[_n] = (_i, _j)
        _n += 1
_BY_PAIR = {v: k for k, v in PAIRS.items()}

MIN_DBM0 = -38.0  # must operate down to -35, must not below -42 (Q.442)
MAX_TWIST_DB = 7.0
THIRD_BELOW_DB = 12.0
PURITY = 0.75


def frequencies(signal: int, forward: bool) -> tuple[int, int]:
    """The two frequencies (Hz) of MF signal 1..15, forward or backward."""
    if signal not in PAIRS:
        raise ToneError(f"R2 MF signals are 1..15, got {signal!r}")
    i, j = PAIRS[signal]
    table = FORWARD if forward else BACKWARD
    return table[i], table[j]


class MFSender:
    """Produces the audio of one channel's MF sender, block by block (A-law or linear)."""

    def __init__(self, forward: bool, dbm0: float = SEND_LEVEL_DBM0, offset_hz: float = 0.0) -> None:
        self.forward = forward
        self.dbm0 = dbm0
        self.offset_hz = offset_hz
        self.signal: int | None = None
        self._gen = ToneGenerator()

    def set(self, signal: int | None) -> None:
        """Start sending ``signal`` (1..15) or stop (``None``)."""
        if signal == self.signal:
            return
        if signal is None:
            self._gen.set(())
        else:
            f1, f2 = frequencies(signal, self.forward)
            self._gen.set((f1 + self.offset_hz, f2 + self.offset_hz), self.dbm0)
        self.signal = signal

    def read_linear(self, n: int = BLOCK) -> array:
        return self._gen.read(n)

    def read(self, n: int = BLOCK) -> bytes:
        """``n`` A-law bytes (silence when no signal)."""
        if self.signal is None:
            return bytes([alaw.SILENCE]) * n
        return alaw.encode(self._gen.read(n))


def mf_samples(signal: int, forward: bool, n: int = BLOCK, dbm0: float = SEND_LEVEL_DBM0,
               offset_hz: float = 0.0, twist_db: float = 0.0) -> array:
    """A block of one MF signal (linear); ``twist_db`` > 0 lowers the second frequency of the
    pair by that many dB, < 0 lowers the first."""
    f1, f2 = frequencies(signal, forward)
    a1 = dbm0_to_peak(dbm0 + min(twist_db, 0))
    a2 = dbm0_to_peak(dbm0 - max(twist_db, 0))
    w1 = 2 * math.pi * (f1 + offset_hz) / 8000
    w2 = 2 * math.pi * (f2 + offset_hz) / 8000
    return array("h", (int(round(a1 * math.sin(w1 * i) + a2 * math.sin(w2 * i + 1.0)))
                       for i in range(n)))


class MFDetector:
    """Two-out-of-six detector for one direction (``forward=True`` listens to group I/II)."""

    def __init__(self, forward: bool, n: int = BLOCK) -> None:
        self.forward = forward
        self.bank = ToneBank(FORWARD if forward else BACKWARD, n, window="hann")
        self.n = n
        self._min_peak = dbm0_to_peak(MIN_DBM0)
        self._min_ms = self._min_peak ** 2 / 2 * 0.9

    def detect(self, block) -> int | None:
        """The MF signal present in ``block`` (``n`` linear samples), or ``None``."""
        block = as_floats(block)
        ms = mean_square(block)
        if ms < self._min_ms:
            return None
        bank = self.bank
        amps = [bank.amplitude(p) for p in bank.powers(block)]
        order = sorted(range(6), key=amps.__getitem__, reverse=True)
        i, j, k = order[0], order[1], order[2]
        a, b, c = amps[i], amps[j], amps[k]
        if b < self._min_peak:
            return None
        if a > b * 10 ** (MAX_TWIST_DB / 20):
            return None
        if c > b * 10 ** (-THIRD_BELOW_DB / 20):
            return None
        if (a * a + b * b) / 2 < PURITY * ms:
            return None
        return _BY_PAIR[(min(i, j), max(i, j))]

    def detect_alaw(self, data: bytes) -> int | None:
        return self.detect(alaw.decode_float(data))
