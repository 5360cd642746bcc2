"""DTMF (ITU-T Q.23 / Q.24) detection for IVR digits, on 20 ms blocks of 8 kHz samples.

Rows 697, 770, 852, 941 Hz; columns 1209, 1336, 1477, 1633 Hz.  A digit is reported when the
strongest row and column tones are each at least −30 dBm0, each at least 6 dB above the other
tones of its group, within 8 dB of each other (normal and reverse twist), and together carry at
least 70 % of the block's power.  :class:`DTMFReceiver` turns blocks into key presses: a key
counts once per press (present in two consecutive blocks, then released by a block without it).
"""
from __future__ import annotations

import math
from array import array

from . import alaw
from .errors import ToneError
from .tones import ToneBank, as_floats, dbm0_to_peak, mean_square

ROWS = (697, 770, 852, 941)
COLS = (1209, 1336, 1477, 1633)
KEYS = ("123A", "456B", "789C", "*0#D")
BLOCK = alaw.BLOCK_SAMPLES
MIN_DBM0 = -30.0


def dtmf_samples(key: str, n: int = BLOCK, dbm0: float = -7.0) -> array:
    """``n`` linear samples of DTMF key ``key`` (each tone at ``dbm0``)."""
    for r, row in enumerate(KEYS):
        c = row.find(key)
        if c >= 0 and len(key) == 1:
            break
    else:
        raise ToneError(f"not a DTMF key: {key!r}")
    a = dbm0_to_peak(dbm0)
    w1, w2 = 2 * math.pi * ROWS[r] / 8000, 2 * math.pi * COLS[c] / 8000
    return array("h", (int(round(a * (math.sin(w1 * i) + math.sin(w2 * i)))) for i in range(n)))


class DTMFDetector:
    def __init__(self, n: int = BLOCK) -> None:
        self.bank = ToneBank(ROWS + COLS, n)
        self._min = dbm0_to_peak(MIN_DBM0)

    def detect(self, block) -> str | None:
        block = as_floats(block)
        ms = mean_square(block)
        if ms < self._min ** 2 / 2 * 0.9:
            return None
        amps = [self.bank.amplitude(p) for p in self.bank.powers(block)]
        rows, cols = amps[:4], amps[4:]
        r = max(range(4), key=rows.__getitem__)
        c = max(range(4), key=cols.__getitem__)
        ar, ac = rows[r], cols[c]
        if ar < self._min or ac < self._min:
            return None
        lim = 10 ** (-6 / 20)
        if any(v > ar * lim for i, v in enumerate(rows) if i != r):
            return None
        if any(v > ac * lim for i, v in enumerate(cols) if i != c):
            return None
        if max(ar, ac) > min(ar, ac) * 10 ** (8 / 20):
            return None
        if (ar * ar + ac * ac) / 2 < 0.7 * ms:
            return None
        return KEYS[r][c]


class DTMFReceiver:
    """Feed A-law blocks of one channel; collects the keys pressed in ``keys``."""

    def __init__(self) -> None:
        self.detector = DTMFDetector()
        self.keys: list[str] = []
        self._last: str | None = None
        self._held = False

    def feed(self, data: bytes) -> list[str]:
        new = []
        for block in alaw.blocks(data):
            k = self.detector.detect(alaw.decode_float(block))
            if k is not None and k == self._last and not self._held:
                self._held = True
                new.append(k)
            elif k != self._last:
                self._held = False
            self._last = k
        self.keys.extend(new)
        return new
