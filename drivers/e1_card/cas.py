"""Channel-associated signalling in timeslot 16 (ITU-T G.704 §5.1.3, G.732 §5).

A CAS multiframe is 16 frames.  TS16 of frame 0 is ``0 0 0 0 x y x x``: the multiframe
alignment signal ``0000``, spare bits x (sent as 1) and y = 1 for a remote multiframe alarm.  TS16
of frame n (1..15) carries ABCD of the channel in timeslot n (bits 1-4) and of the channel in
timeslot n + 16 (bits 5-8).  ABCD ``0000`` is never sent for a channel: it would imitate the
alignment signal.

ABCD values are ints 0..15 with A the most significant bit (``0b1011`` = A1 B0 C1 D1).
"""
from __future__ import annotations

from .errors import CasError, FrameError

MFAS_NIBBLE = 0x0
X_BITS = 0b1011  # x y x x with y = 0
Y_BIT = 0b0100
#: ABCD sent on a channel nobody drives (DAHDI's usual ``cas=`` idle value)
DEFAULT_IDLE = 0b1101


def _check(abcd: int, ts: int) -> int:
    if not 0 <= abcd <= 15:
        raise CasError(f"ABCD for timeslot {ts} must be 0..15, got {abcd!r}")
    if abcd == 0:
        raise CasError(f"ABCD 0000 may not be sent (timeslot {ts}): it imitates the TS16 alignment")
    return abcd


def build_ts16(abcd, *, remote_mf_alarm: bool = False) -> bytes:
    """The 16 TS16 bytes of one CAS multiframe.

    ``abcd`` is indexed by timeslot (a 32-entry sequence; entries 0 and 16 are ignored) or is a
    mapping timeslot -> ABCD (timeslots not given send :data:`DEFAULT_IDLE`).
    """
    if isinstance(abcd, dict):
        table = [DEFAULT_IDLE] * 32
        for ts, v in abcd.items():
            if ts not in range(1, 32) or ts == 16:
                raise CasError(f"timeslot {ts} carries no CAS")
            table[ts] = v
        abcd = table
    if len(abcd) != 32:
        raise CasError("ABCD table must have 32 entries (indexed by timeslot)")
    out = bytearray(16)
    out[0] = (MFAS_NIBBLE << 4) | X_BITS | (Y_BIT if remote_mf_alarm else 0)
    for n in range(1, 16):
        out[n] = (_check(abcd[n], n) << 4) | _check(abcd[n + 16], n + 16)
    return bytes(out)


def parse_ts16(ts16: bytes) -> tuple[list[int], bool]:
    """Read one aligned CAS multiframe -> (ABCD indexed by timeslot, remote multiframe alarm).

    Entries 0 and 16 of the list are 0.  Raises :class:`FrameError` if ``ts16`` is not 16 bytes
    or frame 0 does not carry the ``0000`` alignment signal.
    """
    if len(ts16) != 16:
        raise FrameError(f"a CAS multiframe has 16 TS16 bytes, got {len(ts16)}")
    if ts16[0] >> 4:
        raise FrameError("TS16 of frame 0 lacks the 0000 multiframe alignment signal")
    abcd = [0] * 32
    for n in range(1, 16):
        b = ts16[n]
        abcd[n] = b >> 4
        abcd[n + 16] = b & 0x0F
    return abcd, bool(ts16[0] & Y_BIT)


def format_abcd(abcd: int) -> str:
    """``0b1011`` -> ``'1011'``."""
    return format(abcd, "04b")


def parse_abcd(text: str) -> int:
    """``'1011'`` -> ``0b1011``; anything else raises :class:`CasError`."""
    if len(text) != 4 or set(text) - {"0", "1"}:
        raise CasError(f"ABCD must be four bits like 1011, got {text!r}")
    return int(text, 2)
