"""HDB3 and AMI line codes (ITU-T G.703 annex A) as pure, streaming codecs.

Line symbols are carried as ``bytes``, one byte per unit interval: ``0x00`` no pulse, ``0x01``
a positive mark, ``0xFF`` a negative mark (``-1`` as a signed byte).  Binary data are bytes sent
most significant bit first, as on an E1 line.

HDB3 replaces every run of four zeros by ``000V`` when an odd number of marks was sent since the
last violation, else by ``B00V``; ``B`` obeys the alternate-mark rule and ``V`` has the polarity of
the mark before it, so successive violations alternate and the line has no DC component.

The encoders and decoders are table-driven finite state machines: each byte of input is one table
lookup, so a second of E1 line (256 000 bytes) costs a few tens of milliseconds of CPU.

The decoder also counts *bipolar violations that are not part of an HDB3 code* (``bpv``),
*excess zeros* (four or more zeros in a row, impossible in HDB3: ``exz``) and reports loss of
signal (``los``: 255 unit intervals without a pulse, cleared by 32 pulses none of which is
separated by such a gap: G.775's 10…255 window, upper end).
"""
from __future__ import annotations

from .errors import CodecError

ZERO, POS, NEG = 0x00, 0x01, 0xFF

#: unit intervals without a pulse that declare loss of signal (G.775 allows 10 to 255)
LOS_ZEROS = 255
#: pulses needed after LOS to clear it
LOS_CLEAR_PULSES = 32

_SYMBOL_OK = frozenset((ZERO, POS, NEG))


def _bits(byte: int):
    return [(byte >> (7 - i)) & 1 for i in range(8)]


# ---------------------------------------------------------------------------- encoders
# Encoder state: (last mark polarity: +1/-1, marks since last V odd?: 0/1, pending zeros 0..3).
def _hdb3_encode_byte(state: tuple[int, int, int], byte: int) -> tuple[bytes, tuple[int, int, int]]:
    pol, odd, zeros = state
    out = bytearray()
    for bit in _bits(byte):
        if bit:
            out.extend(b"\x00" * zeros)
            zeros = 0
            pol = -pol
            out.append(pol & 0xFF)
            odd ^= 1
        else:
            zeros += 1
            if zeros == 4:
                if odd:  # 000V: V repeats the last mark's polarity
                    out.extend((0, 0, 0, pol & 0xFF))
                else:  # B00V: B alternates, V repeats B
                    pol = -pol
                    out.extend((pol & 0xFF, 0, 0, pol & 0xFF))
                odd = 0
                zeros = 0
    return bytes(out), (pol, odd, zeros)


def _state_index(state: tuple[int, int, int]) -> int:
    pol, odd, zeros = state
    return ((pol > 0) << 3) | (odd << 2) | zeros


_HDB3_ENC: list[tuple[bytes, int]] = [None] * (16 * 256)  # type: ignore[list-item]
for _pol in (-1, 1):
    for _odd in (0, 1):
        for _z in range(4):
            _s = (_pol, _odd, _z)
            for _b in range(256):
                _o, _ns = _hdb3_encode_byte(_s, _b)
                _HDB3_ENC[(_state_index(_s) << 8) | _b] = (_o, _state_index(_ns))


class Hdb3Encoder:
    """Streaming HDB3 encoder.  ``encode(data)`` returns the symbols decided so far.

    Up to three trailing zeros stay pending (the next bits decide whether they become ``B00V``);
    :meth:`flush` sends them as plain zeros at the end of a transmission.
    """

    def __init__(self) -> None:
        self._state = _state_index((-1, 0, 0))

    def encode(self, data: bytes) -> bytes:
        table = _HDB3_ENC
        state = self._state
        parts = []
        append = parts.append
        for b in data:
            out, state = table[(state << 8) | b]
            append(out)
        self._state = state
        return b"".join(parts)

    def flush(self) -> bytes:
        zeros = self._state & 3
        self._state &= ~3
        return b"\x00" * zeros


def hdb3_encode(data: bytes) -> bytes:
    """Encode a whole message; trailing pending zeros are sent as zeros."""
    enc = Hdb3Encoder()
    return enc.encode(data) + enc.flush()


def _ami_encode_byte(pol: int, byte: int) -> tuple[bytes, int]:
    out = bytearray()
    for bit in _bits(byte):
        if bit:
            pol = -pol
            out.append(pol & 0xFF)
        else:
            out.append(0)
    return bytes(out), pol


_AMI_ENC = {}
for _pol in (-1, 1):
    for _b in range(256):
        _AMI_ENC[(_pol, _b)] = _ami_encode_byte(_pol, _b)


class AmiEncoder:
    """Streaming AMI encoder: marks alternate polarity, zeros are sent as no pulse."""

    def __init__(self) -> None:
        self._pol = -1

    def encode(self, data: bytes) -> bytes:
        pol = self._pol
        parts = []
        for b in data:
            out, pol = _AMI_ENC[(pol, b)]
            parts.append(out)
        self._pol = pol
        return b"".join(parts)

    def flush(self) -> bytes:
        return b""


def ami_encode(data: bytes) -> bytes:
    """Encode a whole message in AMI."""
    return AmiEncoder().encode(data)


# ---------------------------------------------------------------------------- decoders
class LineDecoder:
    """Streaming HDB3 (or AMI with ``hdb3=False``) decoder with line counters.

    ``decode(symbols)`` returns the whole bytes completed so far; bits of an unfinished byte and
    up to three symbols that may still turn out to be part of a ``B00V``/``000V`` substitution
    are kept for the next call.

    Counters (monotonic): ``bpv`` (bipolar violations that are not HDB3 codes), ``exz`` (runs of
    four or more zeros in HDB3, of 16 or more in AMI), ``los_events``.  ``los`` is the present
    loss-of-signal state.
    """

    def __init__(self, hdb3: bool = True) -> None:
        self.hdb3 = hdb3
        self.bpv = 0
        self.exz = 0
        self.los = False
        self.los_events = 0
        self._last = NEG  # polarity of the last mark seen (first mark expected positive)
        self._pending: list[int] = []  # raw symbols not yet decided (<= 3)
        self._bits = 0  # value of completed bits of the current byte
        self._nbits = 0
        self._zrun = 0  # zero symbols in a row
        self._los_pulses = 0

    def _emit(self, out: bytearray, bit: int) -> None:
        self._bits = (self._bits << 1) | bit
        self._nbits += 1
        if self._nbits == 8:
            out.append(self._bits)
            self._bits = 0
            self._nbits = 0

    def decode(self, symbols: bytes) -> bytes:
        if not _SYMBOL_OK.issuperset(symbols):
            raise CodecError("line symbols must be 0x00, 0x01 or 0xFF")
        out = bytearray()
        pend = self._pending
        hdb3 = self.hdb3
        exz_limit = 4 if hdb3 else 16
        for s in symbols:
            # loss of signal bookkeeping
            if s == ZERO:
                self._zrun += 1
                if self._zrun == exz_limit:
                    self.exz += 1
                if self._zrun >= LOS_ZEROS and not self.los:
                    self.los = True
                    self.los_events += 1
                    self._los_pulses = 0
            else:
                if self.los:
                    self._los_pulses += 1
                    if self._los_pulses >= LOS_CLEAR_PULSES:
                        self.los = False
                self._zrun = 0
            if not hdb3:
                if s == ZERO:
                    self._emit(out, 0)
                else:
                    if s == self._last:
                        self.bpv += 1
                    self._last = s
                    self._emit(out, 1)
                continue
            if s == ZERO:
                pend.append(0)
                if len(pend) > 3:
                    # four symbols held: the oldest can no longer be part of a code
                    self._release(out, pend.pop(0))
                continue
            # a mark
            if s == self._last:
                # same polarity as the previous mark: an HDB3 V if the gap fits
                if len(pend) == 3 and pend == [0, 0, 0]:
                    pend.clear()
                    for _ in range(4):
                        self._emit(out, 0)
                    continue
                if len(pend) == 3 and pend[0] == s and pend[1] == 0 and pend[2] == 0:
                    pend.clear()
                    for _ in range(4):
                        self._emit(out, 0)
                    continue
                self.bpv += 1
            # an ordinary mark (or a violation counted above): it may be a future B
            while pend:
                self._release(out, pend.pop(0))
            pend.append(s)
            self._last = s
        return bytes(out)

    def _release(self, out: bytearray, sym: int) -> None:
        self._emit(out, 0 if sym == 0 else 1)

    def flush(self) -> bytes:
        """End of transmission: decide the held symbols as plain marks/zeros."""
        out = bytearray()
        while self._pending:
            self._release(out, self._pending.pop(0))
        return bytes(out)


def hdb3_decode(symbols: bytes) -> tuple[bytes, int]:
    """Decode a whole HDB3 message; returns (data, bipolar violations).  Pending symbols at the
    end are decided as plain AMI."""
    dec = LineDecoder(hdb3=True)
    return dec.decode(symbols) + dec.flush(), dec.bpv


def ami_decode(symbols: bytes) -> tuple[bytes, int]:
    """Decode a whole AMI message; returns (data, bipolar violations)."""
    dec = LineDecoder(hdb3=False)
    return dec.decode(symbols), dec.bpv
