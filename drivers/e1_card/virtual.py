"""The virtual E1 backend: a span pair back to back over simulated lines, with fault injection.

Like a CAN library's virtual bus, it lives with the driver it stands in for, so every test, demo
and ``scanhub e1 … --backend sim`` runs the real framing and signalling without a card.
``virtual_pair(protocol)`` wires our signalling stacks on both ends (span 1 plays the carrier,
span 2 the hub).

Every 20 ms step each span builds ten real multiframes (framer, CAS or HDLC D channel, CRC-4,
A-law payload), the line carries them (optionally through the HDB3 line code, so bipolar
violations exist as real symbols), and the far span's deframer recovers alignment, alarms,
counters, ABCD bits and channel audio exactly as from a card.

Time is simulated (:class:`SimClock`): ``time_compressed`` runs as fast as the CPU allows,
otherwise each step waits for the wall clock, i.e. real time.

Faults (:meth:`SimLine.inject`): ``cut`` (no signal: LOS), ``ais`` (unframed all ones),
``corrupt`` (flip N random bits: FAS/CRC-4 errors), ``slip`` (insert N bits, or delete -N:
loss and regain of alignment), ``bpv`` (with the HDB3 line code: N symbols of wrong polarity), ``restore``.
"""
from __future__ import annotations

import random
import time

from drivers.e1_card.errors import BackendError, E1Error, SignallingError
from drivers.e1_card.frame import FRAME_BYTES, MULTIFRAME_BYTES
from drivers.e1_card.framer import Deframer, Framer
from drivers.e1_card.hdb3 import Hdb3Encoder, LineDecoder, AmiEncoder
from drivers.e1_card.hdlc import HdlcDecoder, HdlcEncoder
from drivers.e1_card.pri import PriStack, SpanDChannel
from drivers.e1_card.r2 import R2Stack
from drivers.e1_card.span import Span, SpanConfig, SpanStatus

STEP_MS = 20
MF_PER_STEP = STEP_MS // 2
SILENCE = 0xD5
#: received audio kept per channel when nobody reads it (bytes = 1 s)
RX_KEEP = 8000


class SimClock:
    """Simulated milliseconds; ``realtime=True`` paces steps to the wall clock."""

    def __init__(self, realtime: bool = False) -> None:
        self.now_ms = 0
        self.realtime = realtime
        self._t0 = time.monotonic()

    def advance(self, ms: int) -> None:
        self.now_ms += ms
        if self.realtime:
            delay = self._t0 + self.now_ms / 1000 - time.monotonic()
            if delay > 0:
                time.sleep(delay)


class SimLine:
    """One direction of the cable, with the faults a real line has."""

    def __init__(self, line_code: str | None = None, seed: int | None = None) -> None:
        self.line_code = line_code
        self.cut = False
        self.ais = False
        self._corrupt = 0
        self._slip = 0
        self._bpv = 0
        self._carry_bits = (0, 0)  # (value, count) left over after a slip
        self._rng = random.Random(seed)
        if line_code:
            self._enc = Hdb3Encoder() if line_code == "hdb3" else AmiEncoder()
            self.decoder = LineDecoder(hdb3=line_code == "hdb3")
        else:
            self.decoder = None

    def inject(self, fault: str, n: int = 1) -> None:
        if fault == "cut":
            self.cut = True
        elif fault == "ais":
            self.ais = True
        elif fault == "restore":
            self.cut = self.ais = False
        elif fault == "corrupt":
            self._corrupt += n
        elif fault == "slip":
            self._slip += n
        elif fault == "bpv":
            if not self.line_code:
                raise BackendError("bpv faults need a line code (line_code='hdb3')")
            self._bpv += n
        else:
            raise BackendError(f"unknown line fault {fault!r}: cut, ais, corrupt, slip, bpv, restore")

    def carry(self, data: bytes) -> bytes | None:
        """What the far end receives; ``None`` = no pulses (LOS)."""
        if self.cut:
            return None
        if self.ais:
            data = b"\xff" * len(data)
        if self._corrupt:
            buf = bytearray(data)
            for _ in range(self._corrupt):
                i = self._rng.randrange(len(buf))
                buf[i] ^= 1 << self._rng.randrange(8)
            self._corrupt = 0
            data = bytes(buf)
        if self._slip or self._carry_bits[1]:
            data = self._apply_slip(data)
        if self.decoder is not None:
            sym = bytearray(self._enc.encode(data))
            for _ in range(self._bpv):
                marks = [i for i in range(0, len(sym), 7) if sym[i]]
                if marks:
                    i = self._rng.choice(marks)
                    sym[i] = 0x01 if sym[i] == 0xFF else 0xFF
            self._bpv = 0
            data = self.decoder.decode(bytes(sym))
        return data

    def _apply_slip(self, data: bytes) -> bytes:
        n = self._slip
        self._slip = 0
        v = int.from_bytes(data, "big")
        total = 8 * len(data)
        if n > 0:  # insert n random bits at the start
            v = (self._rng.getrandbits(n) << total) | v
            total += n
        elif n < 0:  # lose -n bits
            n = min(-n, total)
            total -= n
            v &= (1 << total) - 1
        # keep whole bytes, carry the rest into the next call
        cv, cn = self._carry_bits
        v |= cv << total
        total += cn
        keep = total // 8 * 8
        rest = total - keep
        self._carry_bits = (v & ((1 << rest) - 1), rest) if rest else (0, 0)
        v >>= rest
        out = v.to_bytes(keep // 8, "big")
        return out


class VirtualSpan(Span):
    """One simulated span; two of them form a :class:`VirtualSpanPair`."""

    def __init__(self, config: SpanConfig, clock: SimClock | None = None) -> None:
        super().__init__(config)
        self.clock = clock or SimClock()
        ccs = config.signalling == "ccs"
        self.framer = Framer(crc4=config.crc4, cas=not ccs)
        self.deframer = Deframer(crc4=config.crc4, cas=not ccs)
        self._tx_abcd = [config.idle_abcd] * 32
        self._tx_audio: dict[int, bytearray] = {ts: bytearray() for ts in config.channels}
        self._rx_audio: dict[int, bytearray] = {ts: bytearray() for ts in config.channels}
        self.underruns = 0
        self._hdlc_tx = HdlcEncoder() if ccs else None
        self._hdlc_rx = HdlcDecoder() if ccs else None
        self._dframes: list[bytes] = []
        self._idle_payload = bytes([SILENCE]) * MULTIFRAME_BYTES
        self.line_decoder = None  # set by the pair when the line has a line code

    # -------------------------------------------------------------- Span interface
    @property
    def now_ms(self) -> int:
        return self.clock.now_ms

    def set_tx_abcd(self, ts: int, abcd: int) -> None:
        if ts not in self._tx_audio:
            raise BackendError(f"span {self.number} has no channel {ts}")
        if not 1 <= abcd <= 15:
            raise E1Error(f"ABCD {abcd:04b} may not be sent on channel {ts}")
        self._tx_abcd[ts] = abcd

    def tx_abcd(self, ts: int) -> int:
        return self._tx_abcd[ts]

    def rx_abcd(self, ts: int) -> int:
        return self.deframer.rx_abcd[ts]

    def write_audio(self, ts: int, data: bytes) -> None:
        buf = self._tx_audio.get(ts)
        if buf is None:
            raise BackendError(f"span {self.number} has no channel {ts}")
        buf += data

    def read_audio(self, ts: int) -> bytes:
        buf = self._rx_audio.get(ts)
        if buf is None:
            raise BackendError(f"span {self.number} has no channel {ts}")
        out = bytes(buf)
        buf.clear()
        return out

    def send_dchannel(self, frame: bytes) -> None:
        if self._hdlc_tx is None:
            super().send_dchannel(frame)
        self._hdlc_tx.send(frame)

    def read_dchannel(self) -> list[bytes]:
        if self._hdlc_rx is None:
            super().read_dchannel()
        out, self._dframes = self._dframes, []
        return out

    def status(self) -> SpanStatus:
        d = self.deframer
        counters = d.counters()
        if self.line_decoder is not None:
            counters["bpv"] = self.line_decoder.bpv
        else:
            counters["bpv"] = 0
        counters["underruns"] = self.underruns
        if self._hdlc_rx is not None:
            counters["hdlc_fcs_errors"] = self._hdlc_rx.fcs_errors
        framing = "CCS" if self.config.signalling == "ccs" else "CAS"
        framing += "/" + self.config.line_code.upper() + ("/CRC4" if self.config.crc4 else "")
        return SpanStatus(self.number, self.config.name, d.alarms(), counters,
                          dict(self.channel_state), framing)

    # -------------------------------------------------------------- line side
    def produce(self) -> bytes:
        """The next 20 ms of line bytes."""
        n = STEP_MS * 8
        payloads = [bytearray(self._idle_payload) for _ in range(MF_PER_STEP)]
        for ts, buf in self._tx_audio.items():
            if not buf:
                continue
            if len(buf) < n:
                self.underruns += 1
                buf += bytes([SILENCE]) * (n - len(buf))
            chunk = bytes(buf[:n])
            del buf[:n]
            for m in range(MF_PER_STEP):
                payloads[m][ts::FRAME_BYTES] = chunk[16 * m:16 * m + 16]
        if self._hdlc_tx is not None:
            d = self._hdlc_tx.read(n)
            for m in range(MF_PER_STEP):
                payloads[m][16::FRAME_BYTES] = d[16 * m:16 * m + 16]
        d = self.deframer
        rai = bool(d.los or d.lof or d.ais)
        mf_rai = (not rai) and d.cas and d.cas_mf_lof
        out = []
        for p in payloads:
            out.append(self.framer.multiframe(bytes(p), self._tx_abcd, rai=rai,
                                              remote_mf_alarm=mf_rai, e_bits=d.pop_e_bits()))
        return b"".join(out)

    def consume(self, data: bytes | None) -> None:
        """What arrived from the line in the last 20 ms (``None``: no signal)."""
        d = self.deframer
        before = set(d.alarms())
        if data is None:
            d.set_los(True)
        else:
            d.feed(data)
        frames = d.read_frames()
        if frames:
            for ts, buf in self._rx_audio.items():
                buf += frames[ts::FRAME_BYTES]
                if len(buf) > RX_KEEP:
                    del buf[:len(buf) - RX_KEEP]
            if self._hdlc_rx is not None:
                self._dframes += self._hdlc_rx.feed(frames[16::FRAME_BYTES])
        events, d.events = d.events, []
        for ev in events:
            if ev[0] == "abcd":
                if ev[1] in self._rx_audio:
                    self._emit("abcd", ev[1], ev[2])
            else:
                self._emit("alarm", ev[1], ev[2])
        after = set(d.alarms())
        if before != after:
            self._emit("alarms", None, sorted(after))


class VirtualSpanPair:
    """Two spans back to back: ``a`` (e.g. the carrier switch) and ``b`` (our side).

    ``step()`` advances 20 ms: both spans transmit, the lines carry, both receive, then every
    callable in ``tick_hooks`` runs (signalling stacks poll their channels there).
    """

    def __init__(self, config_a: SpanConfig | None = None, config_b: SpanConfig | None = None, *,
                 realtime: bool = False, line_code: str | None = None, seed: int | None = None) -> None:
        self.clock = SimClock(realtime)
        config_a = config_a or SpanConfig(span=1, name="carrier")
        config_b = config_b or SpanConfig(span=2, name="hub", signalling=config_a.signalling,
                                          protocol=config_a.protocol, crc4=config_a.crc4)
        self.a = VirtualSpan(config_a, self.clock)
        self.b = VirtualSpan(config_b, self.clock)
        self.line_ab = SimLine(line_code, seed)
        self.line_ba = SimLine(line_code, None if seed is None else seed + 1)
        self.b.line_decoder = self.line_ab.decoder
        self.a.line_decoder = self.line_ba.decoder
        self.tick_hooks: list = []
        self.steps = 0

    @property
    def now_ms(self) -> int:
        return self.clock.now_ms

    def step(self) -> None:
        out_a = self.a.produce()
        out_b = self.b.produce()
        self.b.consume(self.line_ab.carry(out_a))
        self.a.consume(self.line_ba.carry(out_b))
        self.clock.advance(STEP_MS)
        self.steps += 1
        for hook in list(self.tick_hooks):
            hook(self.clock.now_ms)

    def run(self, ms: int) -> None:
        for _ in range(max(1, ms // STEP_MS)):
            self.step()

    def run_until(self, predicate, timeout_ms: int) -> bool:
        """Step until ``predicate()`` is true or ``timeout_ms`` of simulated time has passed."""
        end = self.clock.now_ms + timeout_ms
        while not predicate():
            if self.clock.now_ms >= end:
                return False
            self.step()
        return True


PROTOCOLS = ("r2-cn", "pri")


def virtual_pair(protocol: str, *, seed: int | None = None, line_code: str | None = None, realtime: bool = False,
          max_dnis: int = 8):
    """(pair, carrier stack, hub stack) for ``protocol``."""
    if protocol not in PROTOCOLS:
        raise SignallingError(f"protocol must be one of {', '.join(PROTOCOLS)}")
    if protocol == "r2-cn":
        pair = VirtualSpanPair(SpanConfig(span=1, name="carrier"), SpanConfig(span=2, name="hub"),
                           seed=seed, line_code=line_code, realtime=realtime)
        carrier = R2Stack(pair.a, "CN", hunt="up", glare_wins=True, max_dnis=max_dnis)
        hub = R2Stack(pair.b, "CN", hunt="down", max_dnis=max_dnis)
    else:
        pair = VirtualSpanPair(SpanConfig(span=1, name="carrier", signalling="ccs", protocol="pri-net"),
                           SpanConfig(span=2, name="hub", signalling="ccs", protocol="pri-cpe"),
                           seed=seed, line_code=line_code, realtime=realtime)
        carrier = PriStack(SpanDChannel(pair.a), True, span=pair.a, hunt="up")
        hub = PriStack(SpanDChannel(pair.b), False, span=pair.b, hunt="down")
    pair.tick_hooks += [carrier.poll, hub.poll]
    pair.run(60)
    if protocol == "pri":
        carrier.start()
        hub.start()
        pair.run_until(lambda: carrier.up and hub.up, 5000)
    return pair, carrier, hub
