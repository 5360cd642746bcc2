"""E1 frame layout (ITU-T G.704 §2.3): 32 timeslots of 8 bits, 8000 frames per second.

Bits are numbered 1..8 from the most significant (sent first).  Timeslot 0 alternates:

* FAS frames (even frame numbers): ``Si 0 0 1 1 0 1 1``  -> ``0x1B | Si << 7``
* NFAS frames (odd): ``Si 1 A Sa4 Sa5 Sa6 Sa7 Sa8``; bit 2 = 1 tells NFAS from FAS, A = 1 is the
  remote alarm indication (RAI, "yellow"); the Sa bits are national and sent as 1 when unused.

With CRC-4 the Si bits carry the CRC-4 multiframe (16 frames, two sub-multiframes of 8): C1..C4 in
the FAS frames of each SMF, and in the NFAS frames 1,3,5,7,9,11 the multiframe alignment signal
``0 0 1 0 1 1``, in frames 13 and 15 the E bits (0 = the far end received SMF I resp. II with a
CRC error).

Channels are numbered by timeslot as DAHDI does: 1-15 and 17-31 carry voice; 16 carries CAS
(or the D channel on PRI); 0 carries framing.
"""
from __future__ import annotations

from .errors import FrameError

TIMESLOTS = 32
FRAME_BYTES = 32
FRAMES_PER_SECOND = 8000
BITS_PER_SECOND = FRAMES_PER_SECOND * FRAME_BYTES * 8  # 2 048 000
MULTIFRAME_FRAMES = 16
MULTIFRAME_BYTES = MULTIFRAME_FRAMES * FRAME_BYTES  # 2 ms of line
VOICE_TIMESLOTS = tuple(list(range(1, 16)) + list(range(17, 32)))

FAS = 0x1B  # bits 2-8 of a FAS word
FAS_MASK = 0x7F
NFAS_BIT2 = 0x40
A_BIT = 0x20
SA_BITS = 0x1F
SI_BIT = 0x80

#: Si bits of NFAS frames 1,3,5,7,9,11 (the CRC-4 multiframe alignment signal)
CRC4_MFAS = (0, 0, 1, 0, 1, 1)


def fas_word(si: int = 1) -> int:
    """TS0 of a FAS frame."""
    return FAS | ((si & 1) << 7)


def nfas_word(si: int = 1, a: int = 0, sa: int = SA_BITS) -> int:
    """TS0 of an NFAS frame: Si, bit 2 = 1, remote alarm A, Sa4..Sa8 (5 bits)."""
    if not 0 <= sa <= SA_BITS:
        raise FrameError(f"Sa4-Sa8 is a 5-bit field, got {sa}")
    return ((si & 1) << 7) | NFAS_BIT2 | ((a & 1) << 5) | sa


def is_fas(ts0: int) -> bool:
    return ts0 & FAS_MASK == FAS


def ts0_sequence(crc_bits=None, *, rai: bool = False, e_bits=(1, 1), sa: int = SA_BITS,
                 crc4: bool = True) -> bytes:
    """The 16 TS0 words of one multiframe.

    ``crc_bits``: the CRC-4 of the previous SMF I and of this multiframe's SMF I are not known at
    the start, so the caller passes ``(c_smf1, c_smf2)`` (each 0..15) or ``None`` for zeros.
    """
    a = 1 if rai else 0
    out = bytearray(16)
    c1, c2 = crc_bits if crc_bits is not None else (0, 0)
    for f in range(16):
        if f % 2 == 0:
            if crc4:
                c = c1 if f < 8 else c2
                si = (c >> (3 - (f % 8) // 2)) & 1
            else:
                si = 1
            out[f] = fas_word(si)
        else:
            if crc4:
                k = f // 2
                si = CRC4_MFAS[k] if k < 6 else e_bits[k - 6]
            else:
                si = 1
            out[f] = nfas_word(si, a, sa)
    return bytes(out)


def check_frame(frame: bytes) -> None:
    if len(frame) != FRAME_BYTES:
        raise FrameError(f"an E1 frame is {FRAME_BYTES} bytes, got {len(frame)}")


def timeslot(frames: bytes, ts: int) -> bytes:
    """The bytes of timeslot ``ts`` (one per frame) from aligned frames."""
    if not 0 <= ts < TIMESLOTS:
        raise FrameError(f"timeslot {ts} outside 0..31")
    if len(frames) % FRAME_BYTES:
        raise FrameError("aligned frames must be a whole number of 32-byte frames")
    return frames[ts::FRAME_BYTES]
