"""E1 framer (transmit) and deframer (receive) with G.706 alignment, alarms and counters.

Pure codecs: the :class:`Framer` turns payload + signalling into line bytes, the
:class:`Deframer` turns line bytes (any bit alignment, any chunking) into aligned frames, CAS
bits, alarms and counters.  Neither does I/O.

Alignment rules implemented (ITU-T G.706 §4, G.732 §5, G.775):

* basic frame alignment is gained on FAS in frame N, bit 2 = 1 in frame N+1 and FAS in frame
  N+2, searched bit by bit; it is lost after three consecutive FAS words in error (or three
  consecutive NFAS words with bit 2 = 0), or when 915 or more of 1000 CRC-4 blocks are errored;
* CRC-4 multiframe alignment needs two multiframe alignment signals at a distance of a whole
  number of multiframes within 8 ms of basic alignment; otherwise the basic alignment is taken
  as spurious and searched again.  If that goes on for 400 ms while basic frames are present,
  the far end is taken to send no CRC-4 (G.706 annex B interworking) and the span runs on
  basic frame alignment only (``crc4_interworking``);
* CAS multiframe alignment is gained on the first TS16 word with ``0000`` in bits 1-4 whose
  preceding TS16 word is not all zeros, and lost after two consecutive multiframe alignment
  words in error or a whole multiframe of TS16 zeros;
* AIS: fewer than three zeros in each of two consecutive 512-bit periods (cleared by three or
  more zeros in each of two consecutive periods); LOS comes from the line interface
  (:meth:`Deframer.set_los`);
* RAI (A bit) and the remote multiframe alarm (TS16 y bit) are taken after three consecutive
  equal values.

Counters: ``fas_errors`` (FAS words in error), ``crc4_errors`` (errored sub-multiframes),
``ebit_errors`` (E bits = 0 from the far end), ``crc4_lof_events`` (losses of alignment on CRC-4 errors), ``slips`` (alignment regained at a different bit
phase than it was lost: a slip of the incoming signal), ``lof_events``.  BPV comes from the line
decoder (:class:`drivers.e1_card.hdb3.LineDecoder`).

Speed: the steady state checks a whole chunk of frames with ``bytes.translate`` and slicing;
per-frame Python code only runs while searching or when a chunk holds an error.
"""
from __future__ import annotations

from . import cas as _cas
from .crc4 import crc4 as _crc4
from .errors import FrameError
from .frame import (FAS, FRAME_BYTES, MULTIFRAME_BYTES, SA_BITS, ts0_sequence)

_FAS_TABLE = bytes(b & 0x7F for b in range(256))
_BIT2_TABLE = bytes((b >> 6) & 1 for b in range(256))
_ABIT_TABLE = bytes((b >> 5) & 1 for b in range(256))
_SI_TABLE = bytes(b >> 7 for b in range(256))
_HI_NIBBLE = bytes(b >> 4 for b in range(256))

FAS_PATTERN = "0011011"
#: bits of a 400 ms interval at 2048 kbit/s
_BITS_400MS = 2048 * 400
_CRC_SEARCH_FRAMES = 64  # 8 ms

IDLE_MULTIFRAME = bytes([0xD5]) * MULTIFRAME_BYTES


class Framer:
    """Builds transmit multiframes (16 frames, 2 ms, 512 bytes).

    ``crc4``: send the CRC-4 multiframe; ``cas``: TS16 carries CAS (else the caller's TS16 bytes,
    e.g. an HDLC D channel, are sent untouched).
    """

    def __init__(self, crc4: bool = True, cas: bool = True, sa: int = SA_BITS) -> None:
        self.crc4 = crc4
        self.cas = cas
        self.sa = sa
        self._prev_crc = 0  # CRC of the previous SMF II, sent in SMF I
        self._ts0_cache: dict = {}
        self._ts16_cache: dict = {}

    def multiframe(self, payload: bytes | None = None, abcd=None, *, rai: bool = False,
                   remote_mf_alarm: bool = False, e_bits=(1, 1)) -> bytes:
        """One multiframe of line bytes.

        ``payload``: 512 bytes of frames (TS0 and, with CAS, TS16 are overwritten) or ``None``
        for idle A-law silence.  ``abcd``: per-timeslot ABCD (see :func:`cas.build_ts16`);
        ``None`` sends the default idle.  ``rai`` sets the A bit; ``e_bits`` are the two E bits
        (1 = no error) reporting our received CRC errors to the far end.
        """
        if payload is None:
            buf = bytearray(IDLE_MULTIFRAME)
        else:
            if len(payload) != MULTIFRAME_BYTES:
                raise FrameError(f"a multiframe payload is {MULTIFRAME_BYTES} bytes, got {len(payload)}")
            buf = bytearray(payload)
        if self.cas:
            if abcd is None:
                key16 = (None, remote_mf_alarm)
            elif isinstance(abcd, dict):
                key16 = (tuple(sorted(abcd.items())), remote_mf_alarm)
            else:
                key16 = (tuple(abcd), remote_mf_alarm)
            ts16 = self._ts16_cache.get(key16)
            if ts16 is None:  # signalling changes rarely: build each ABCD pattern once
                ts16 = _cas.build_ts16(abcd if abcd is not None else {}, remote_mf_alarm=remote_mf_alarm)
                if len(self._ts16_cache) > 256:
                    self._ts16_cache.clear()
                self._ts16_cache[key16] = ts16
            buf[16::FRAME_BYTES] = ts16
        key = (bool(rai), tuple(e_bits))
        ts0 = self._ts0_cache.get(key)
        if ts0 is None:
            ts0 = ts0_sequence(None, rai=rai, e_bits=e_bits, sa=self.sa, crc4=self.crc4)
            self._ts0_cache[key] = ts0
        buf[0::FRAME_BYTES] = ts0
        if self.crc4:
            self._set_c(buf, 0, self._prev_crc)
            self._set_c(buf, 8, _crc4(bytes(buf[0:256])))
            self._prev_crc = _crc4(bytes(buf[256:512]))
        return bytes(buf)

    @staticmethod
    def _set_c(buf: bytearray, first_frame: int, crc: int) -> None:
        for i in range(4):
            off = (first_frame + 2 * i) * FRAME_BYTES
            if (crc >> (3 - i)) & 1:
                buf[off] |= 0x80
            else:
                buf[off] &= 0x7F


class Deframer:
    """Receives line bytes and recovers frames, signalling, alarms and counters.

    Feed any chunks with :meth:`feed`; then read :meth:`read_frames` (aligned 32-byte frames,
    only while in frame alignment), ``rx_abcd`` (ABCD by timeslot of the last good CAS
    multiframe), :meth:`alarms` and the counters.  Changes are queued in ``events`` as
    ``("alarm", name, on)`` and ``("abcd", timeslot, value)`` tuples; the owner drains them.
    """

    def __init__(self, crc4: bool = True, cas: bool = True) -> None:
        self.crc4 = crc4
        self.cas = cas
        self.fas_errors = 0
        self.crc4_errors = 0
        self.ebit_errors = 0
        self.slips = 0
        self.lof_events = 0
        self.frames_received = 0
        self.los = False
        self.ais = False
        self.lof = True
        self.rai = False
        self.cas_mf_lof = cas
        self.remote_mf_alarm = False
        self.ts16_ais = False
        self.crc_mf_aligned = False
        self.crc4_interworking = False
        self.rx_abcd = [0] * 32
        self.events: list[tuple] = []
        self._out = bytearray()
        self._buf = bytearray()
        self._skip = 0  # bits of _buf[0] already consumed
        self._abs = 0  # absolute stream bit index of the next unconsumed bit
        self._aligned = False
        self._g = 0  # frames since basic alignment (even = FAS)
        self._bad_fas = 0
        self._bad_nfas = 0
        self._a_run = 0
        self._a_val = 0
        self._lof_start = 0
        self._clock = 0  # bits examined (re-examined bits count again): the alignment timer
        self._since_gain = bytearray()  # aligned bytes since a not yet confirmed alignment
        self._last_phase = None
        self._cand_phase = 0
        # CRC-4 multiframe
        self._crc_base = 0
        self._crc_cand = None  # (base, g of first detection)
        self._mf_sr = 0
        self._smf_partial = bytearray()
        self._prev_smf_crc = None
        self.crc4_lof_events = 0   # losses of alignment on >= 915 errored CRC-4 blocks of 1000
        self._crc_win_n = 0
        self._crc_win_err = 0
        self._e_pending = 0
        # CAS multiframe
        self._cas_aligned = False
        self._cas_base = 0
        self._cas_partial = bytearray()
        self._cas_bad = 0
        self._prev_ts16 = 0
        self._y_run = 0
        self._y_val = 0
        self._cas_started = False
        # AIS
        self._ais_acc = bytearray()
        self._ais_run = 0  # consecutive windows with the opposite verdict

    # ------------------------------------------------------------------ public
    def set_los(self, los: bool) -> None:
        """Loss of signal as seen by the line interface (no pulses)."""
        if los != self.los:
            self.los = los
            self.events.append(("alarm", "LOS", los))
            if los:
                self._lose_alignment(count=self._aligned)
                self._buf.clear()
                self._skip = 0

    def alarms(self) -> list[str]:
        """Present alarm names: LOS, AIS, LOF, RAI, CRCMF (no CRC-4 multiframe), MFLOF (no CAS
        multiframe), MFRAI (remote CAS multiframe alarm), TS16AIS."""
        out = []
        if self.los:
            out.append("LOS")
        if self.ais:
            out.append("AIS")
        if self.lof and not self.los:
            out.append("LOF")
        if self.rai and not self.lof:
            out.append("RAI")
        if self.cas and not self.lof:
            if self.cas_mf_lof:
                out.append("MFLOF")
            if self.remote_mf_alarm:
                out.append("MFRAI")
            if self.ts16_ais:
                out.append("TS16AIS")
        return out

    def counters(self) -> dict[str, int]:
        return {"fas_errors": self.fas_errors, "crc4_errors": self.crc4_errors,
                "ebit_errors": self.ebit_errors, "slips": self.slips,
                "lof_events": self.lof_events, "crc4_lof_events": self.crc4_lof_events,
                "frames": self.frames_received}

    def pop_e_bits(self) -> tuple[int, int]:
        """E bits for our next transmitted multiframe: 0 for each SMF we received errored."""
        n = min(self._e_pending, 2)
        self._e_pending -= n
        return (0 if n >= 1 else 1, 0 if n >= 2 else 1)

    def read_frames(self) -> bytes:
        """Aligned frames received since the last call (a multiple of 32 bytes)."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def feed(self, data: bytes) -> None:
        """Process received line bytes (any length, any bit alignment)."""
        if not data:
            return
        if self.los:
            self.set_los(False)
        self._check_ais(data)
        self._buf += data
        while True:
            if not self._aligned:
                if not self._search():
                    break
            elif not self._run_aligned():
                break

    # ------------------------------------------------------------------ helpers
    def _set_alarm(self, attr: str, name: str, value: bool) -> None:
        if getattr(self, attr) != value:
            setattr(self, attr, value)
            self.events.append(("alarm", name, value))

    def _avail_bits(self) -> int:
        return len(self._buf) * 8 - self._skip

    def _drop_bits(self, n: int) -> None:
        total = self._skip + n
        del self._buf[:total // 8]
        self._skip = total % 8
        self._abs += n
        self._clock += n

    def _take(self, nbytes: int) -> bytes:
        buf = self._buf
        if self._skip == 0:
            chunk = bytes(buf[:nbytes])
        else:
            v = int.from_bytes(buf[:nbytes + 1], "big") >> (8 - self._skip)
            chunk = (v & ((1 << (8 * nbytes)) - 1)).to_bytes(nbytes, "big")
        del buf[:nbytes]
        self._abs += nbytes * 8
        return chunk

    def _unread(self, chunk: bytes) -> None:
        """Put aligned bytes back in front of the stream (after a loss of alignment)."""
        if not chunk:
            return
        avail = self._avail_bits()
        rest = int.from_bytes(self._buf, "big") & ((1 << avail) - 1) if avail else 0
        total = len(chunk) * 8 + avail
        v = (int.from_bytes(chunk, "big") << avail) | rest
        pad = (-total) % 8
        self._buf = bytearray(v.to_bytes((total + pad) // 8, "big"))
        self._skip = pad
        self._abs -= len(chunk) * 8

    def _check_ais(self, data: bytes) -> None:
        acc = self._ais_acc
        acc += data
        n = len(acc) // 64
        if not n:
            return
        if acc.count(0xFF, 0, n * 64) < 61:
            verdicts = [False] * min(n, 2)
        else:
            verdicts = [512 - int.from_bytes(acc[i * 64:(i + 1) * 64], "big").bit_count() < 3
                        for i in range(n)]
            if len(verdicts) > 2:
                verdicts = verdicts[-2:]
        del acc[:n * 64]
        for v in verdicts:
            if v != self.ais:
                self._ais_run += 1
                if self._ais_run >= 2:
                    self._set_alarm("ais", "AIS", v)
                    self._ais_run = 0
            else:
                self._ais_run = 0

    # ------------------------------------------------------------------ search
    def _search(self) -> bool:
        avail = self._avail_bits()
        need = 2 * 256 + 8
        if avail < need + 1:
            return False
        v = int.from_bytes(self._buf, "big") & ((1 << avail) - 1)
        s = format(v, f"0{avail}b")
        p = s.find(FAS_PATTERN, 1)
        limit = avail - need
        while p != -1 and p - 1 <= limit:
            f = p - 1
            if s[f + 257] == "1" and s.startswith(FAS_PATTERN, f + 513):
                self._drop_bits(f)
                self._gain_basic()
                return True
            p = s.find(FAS_PATTERN, p + 1)
        self._drop_bits(max(0, limit + 1))
        return False

    def _gain_basic(self) -> None:
        self._aligned = True
        self._g = 0
        self._bad_fas = 0
        self._bad_nfas = 0
        self._crc_cand = None
        self._mf_sr = 0
        self._smf_partial.clear()
        self._prev_smf_crc = None
        self._cas_partial.clear()
        self._cas_aligned = False
        self._cas_started = False
        self._cand_phase = self._abs % 512
        self._since_gain.clear()
        if not self.crc4 or self.crc4_interworking:
            self._declare_aligned()
        else:
            self.crc_mf_aligned = False

    def _declare_aligned(self) -> None:
        self._since_gain.clear()
        phase = self._cand_phase
        if self._last_phase is not None and phase != self._last_phase:
            self.slips += 1
        self._last_phase = phase
        self._crc_win_n = self._crc_win_err = 0
        self._set_alarm("lof", "LOF", False)

    def _lose_alignment(self, count: bool = True) -> None:
        if self._aligned:
            self._aligned = False
            if not self.lof:
                self.lof_events += 1
                self._lof_start = self._clock
            self._set_alarm("lof", "LOF", True)
            self.crc_mf_aligned = False
            if self.cas:
                self._set_alarm("cas_mf_lof", "MFLOF", True)
            self._cas_aligned = False

    # ------------------------------------------------------------------ aligned
    def _run_aligned(self) -> bool:
        k = min(self._avail_bits() // 256, 500)
        if k == 0:
            return False
        chunk = self._take(k * FRAME_BYTES)
        ts0 = chunk[0::FRAME_BYTES]
        g0 = self._g
        fas_words = ts0[(g0 & 1)::2]
        nfas_words = ts0[1 - (g0 & 1)::2]
        lost_at = None
        if (fas_words.translate(_FAS_TABLE) == bytes([FAS]) * len(fas_words)
                and nfas_words.translate(_BIT2_TABLE) == b"\x01" * len(nfas_words)):
            self._bad_fas = 0
            self._bad_nfas = 0
            good = k
        else:
            good = k
            for i, b in enumerate(ts0):
                if (g0 + i) & 1 == 0:
                    if b & 0x7F != FAS:
                        self.fas_errors += 1
                        self._bad_fas += 1
                        if self._bad_fas >= 3:
                            lost_at = i
                            break
                    else:
                        self._bad_fas = 0
                else:
                    if not b & 0x40:
                        self._bad_nfas += 1
                        if self._bad_nfas >= 3:
                            lost_at = i
                            break
                    else:
                        self._bad_nfas = 0
            if lost_at is not None:
                good = lost_at + 1
        body = chunk[:good * FRAME_BYTES]
        # remote alarm indication from the A bits of the NFAS words
        a_bits = nfas_words[: (good + (g0 & 1)) // 2].translate(_ABIT_TABLE)
        self._filter_a(a_bits)
        deliver = not self.lof
        if self.crc4 and not self.crc4_interworking:
            self._crc_process(body, g0)
        if self.cas and self._aligned and lost_at is None:
            self._cas_process(body[16::FRAME_BYTES])
        if self._aligned and deliver:
            self._out += body
            self.frames_received += good
        self._g = g0 + good
        self._clock += good * 256
        if self.lof and self._aligned:
            self._since_gain += body
        if lost_at is not None or not self._aligned:
            if self.lof:
                # the alignment was never confirmed: it was spurious; search again from the
                # bit after the candidate FAS
                rest = bytes(self._since_gain) + chunk[good * FRAME_BYTES:]
                self._since_gain.clear()
                self._aligned = False
                self._unread(rest)
                self._drop_bits(1)
            else:
                self._lose_alignment()
                self._unread(chunk[good * FRAME_BYTES:])
        return True

    def _filter_a(self, a_bits: bytes) -> None:
        if not a_bits:
            return
        last = a_bits[-1]
        run = len(a_bits) - len(a_bits.rstrip(bytes([last])))
        if last == self._a_val:
            self._a_run += run
        else:
            self._a_val = last
            self._a_run = run
        if self._a_run >= 3:
            self._set_alarm("rai", "RAI", bool(last))

    # ------------------------------------------------------------------ CRC-4
    def _crc_process(self, body: bytes, g0: int) -> None:
        if not self.crc_mf_aligned:
            self._crc_search(body, g0)
            return
        if not self._smf_partial:
            skip = (self._crc_base - g0) % 8  # frames before the next SMF boundary
            if skip:
                body = body[skip * FRAME_BYTES:]
                self._prev_smf_crc = None
        data = self._smf_partial + body
        nsmf = len(data) // 256
        for j in range(nsmf):
            smf = data[j * 256:(j + 1) * 256]
            self._crc_check_smf(smf)
        self._smf_partial = bytearray(data[nsmf * 256:])

    def _crc_search(self, body: bytes, g0: int) -> None:
        ts0 = body[0::FRAME_BYTES]
        for i, b in enumerate(ts0):
            g = g0 + i
            if g & 1:
                self._mf_sr = ((self._mf_sr << 1) | (b >> 7)) & 0x3F
                if self._mf_sr == 0b001011:
                    base = (g - 11) % 16
                    cand = self._crc_cand
                    if cand is not None and cand[0] == base and g - cand[1] <= _CRC_SEARCH_FRAMES:
                        self._crc_base = base
                        self.crc_mf_aligned = True
                        self._declare_aligned()
                        self._smf_partial.clear()
                        self._prev_smf_crc = None
                        start = g - g0 + 1
                        if start * FRAME_BYTES < len(body):
                            rest = body[start * FRAME_BYTES:]
                            if self._aligned:
                                self._out += rest
                                self.frames_received += len(rest) // FRAME_BYTES
                            self._crc_process(rest, g0 + start)
                        return
                    self._crc_cand = (base, g)
            if g >= _CRC_SEARCH_FRAMES:
                # no CRC-4 multiframe within 8 ms of basic alignment
                if self._clock - self._lof_start >= _BITS_400MS:
                    self.crc4_interworking = True
                    self.events.append(("alarm", "CRC4_INTERWORKING", True))
                    self._declare_aligned()
                else:
                    self._aligned = False  # spurious FAS: search again
                return

    def _crc_check_smf(self, smf: bytes) -> None:
        ts0 = smf[0::FRAME_BYTES]
        si = ts0.translate(_SI_TABLE)
        received = (si[0] << 3) | (si[2] << 2) | (si[4] << 1) | si[6]
        if self._prev_smf_crc is not None:
            errored = received != self._prev_smf_crc
            if errored:
                self.crc4_errors += 1
                self._e_pending += 1
            self._crc_win_n += 1
            self._crc_win_err += errored
            if self._crc_win_n >= 1000:
                lost = self._crc_win_err >= 915
                self._crc_win_n = self._crc_win_err = 0
                if lost:        # G.706 4.3.2: assume false alignment, declare LOF and search again
                    self.crc4_lof_events += 1
                    self._lose_alignment()
        # E bits sit in the second SMF (frames 13 and 15 of the multiframe)
        if si[1] == 1 and si[3] == 1:  # SMF II: Si of frames 9, 11 are 1, 1
            for e in (si[5], si[7]):
                if e == 0:
                    self.ebit_errors += 1
        self._prev_smf_crc = _crc4(smf)

    # ------------------------------------------------------------------ CAS
    def _cas_process(self, ts16: bytes) -> None:
        if not self._cas_aligned:
            prev = self._prev_ts16
            for i, b in enumerate(ts16):
                if (b >> 4) == 0 and (prev != 0 or not self._cas_started) and b != 0:
                    self._cas_aligned = True
                    self._cas_bad = 0
                    self._cas_partial = bytearray(ts16[i:])
                    break
                prev = b
                self._cas_started = True
            self._prev_ts16 = ts16[-1] if ts16 else self._prev_ts16
            if not self._cas_aligned:
                return
            data = self._cas_partial
        else:
            data = self._cas_partial + ts16
        nmf = len(data) // 16
        for j in range(nmf):
            self._cas_multiframe(data[j * 16:(j + 1) * 16])
            if not self._cas_aligned:
                self._cas_partial = bytearray()
                return
        self._cas_partial = bytearray(data[nmf * 16:])
        if ts16:
            self._prev_ts16 = ts16[-1]

    def _cas_multiframe(self, mf: bytes) -> None:
        if mf == b"\xff" * 16:
            self._set_alarm("ts16_ais", "TS16AIS", True)
        elif self.ts16_ais:
            self._set_alarm("ts16_ais", "TS16AIS", False)
        if mf[0] >> 4 or mf == bytes(16):
            self._cas_bad += 1
            if self._cas_bad >= 2 or mf == bytes(16):
                self._cas_aligned = False
                self._set_alarm("cas_mf_lof", "MFLOF", True)
            return
        self._cas_bad = 0
        self._set_alarm("cas_mf_lof", "MFLOF", False)
        y = (mf[0] >> 2) & 1
        if y == self._y_val:
            self._y_run += 1
        else:
            self._y_val, self._y_run = y, 1
        if self._y_run >= 3:
            self._set_alarm("remote_mf_alarm", "MFRAI", bool(y))
        rx = self.rx_abcd
        for n in range(1, 16):
            b = mf[n]
            hi, lo = b >> 4, b & 0x0F
            if rx[n] != hi:
                rx[n] = hi
                self.events.append(("abcd", n, hi))
            if rx[n + 16] != lo:
                rx[n + 16] = lo
                self.events.append(("abcd", n + 16, lo))
