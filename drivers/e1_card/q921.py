"""Q.921 (LAPD) on the PRI D channel: frame codec and the data-link state machine.

Frames here are the HDLC payload (address, control, information) without flags or FCS.

* Address: SAPI (6 bits), C/R, EA0 = 0 | TEI (7 bits), EA1 = 1.  PRI uses TEI 0, SAPI 0 for
  call control.  Commands from the network side carry C/R = 1, from the user side C/R = 0;
  responses the opposite.
* Control: I frames ``N(S) << 1 | 0``, ``N(R) << 1 | P``; S frames RR 0x01, RNR 0x05,
  REJ 0x09 then ``N(R) << 1 | P/F``; U frames SABME 0x6F, DM 0x0F, UI 0x03, DISC 0x43, UA 0x63,
  FRMR 0x87 with P/F = 0x10.  Sequence numbers are modulo 128.

:class:`Q921Link` implements point-to-point multiple-frame operation (establishment, I-frame
acknowledgement with window k = 7, REJ recovery, T200 retransmission with N200 = 3 retries,
T203 keep-alive, release), enough to carry Q.931 over a PRI.  Time is the caller's clock in ms.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import Q931Error

SAPI_CALL_CONTROL = 0
SAPI_MANAGEMENT = 63
MOD = 128

RR, RNR, REJ = 0x01, 0x05, 0x09
SABME, DM, UI, DISC, UA, FRMR, XID = 0x6F, 0x0F, 0x03, 0x43, 0x63, 0x87, 0xAF
PF = 0x10
U_NAMES = {SABME: "SABME", DM: "DM", UI: "UI", DISC: "DISC", UA: "UA", FRMR: "FRMR", XID: "XID"}
S_NAMES = {RR: "RR", RNR: "RNR", REJ: "REJ"}


@dataclass
class Frame:
    """A decoded LAPD frame.  ``kind`` is ``I``, an S name (``RR``…) or a U name (``SABME``…)."""

    sapi: int
    tei: int
    cr: int
    kind: str
    ns: int | None = None
    nr: int | None = None
    pf: int = 0
    info: bytes = b""

    def encode(self) -> bytes:
        if not 0 <= self.sapi < 64 or not 0 <= self.tei < 128:
            raise Q931Error("SAPI is 0..63 and TEI 0..127")
        addr = bytes(((self.sapi << 2) | (self.cr << 1), (self.tei << 1) | 1))
        if self.kind == "I":
            return addr + bytes(((self.ns % MOD) << 1, ((self.nr % MOD) << 1) | self.pf)) + self.info
        for code, name in S_NAMES.items():
            if name == self.kind:
                return addr + bytes((code, ((self.nr % MOD) << 1) | self.pf))
        for code, name in U_NAMES.items():
            if name == self.kind:
                return addr + bytes((code | (PF if self.pf else 0),)) + self.info
        raise Q931Error(f"unknown LAPD frame kind {self.kind!r}")


def decode_frame(data: bytes) -> Frame:
    """Decode a LAPD frame (no FCS); raises :class:`Q931Error` on malformed input."""
    if len(data) < 3:
        raise Q931Error(f"LAPD frame too short ({len(data)} bytes)")
    a0, a1 = data[0], data[1]
    if a0 & 1 or not a1 & 1:
        raise Q931Error("LAPD address extension bits wrong (need EA0 = 0, EA1 = 1)")
    sapi, cr, tei = a0 >> 2, (a0 >> 1) & 1, a1 >> 1
    c = data[2]
    if not c & 1:  # I frame
        if len(data) < 4:
            raise Q931Error("I frame without its second control octet")
        return Frame(sapi, tei, cr, "I", ns=c >> 1, nr=data[3] >> 1, pf=data[3] & 1, info=bytes(data[4:]))
    if c & 3 == 1:  # S frame
        if len(data) != 4:
            raise Q931Error("S frame must be 4 octets")
        name = S_NAMES.get(c)
        if name is None:
            raise Q931Error(f"unknown S frame control 0x{c:02X}")
        return Frame(sapi, tei, cr, name, nr=data[3] >> 1, pf=data[3] & 1)
    name = U_NAMES.get(c & ~PF)
    if name is None:
        raise Q931Error(f"unknown U frame control 0x{c:02X}")
    return Frame(sapi, tei, cr, name, pf=1 if c & PF else 0, info=bytes(data[3:]))


class Q921Link:
    """One LAPD data link (SAPI 0, TEI 0) in point-to-point mode.

    ``send_raw(frame_bytes)`` is called to transmit; feed received frames to :meth:`receive`;
    call :meth:`tick` regularly with the time in ms.  Delivered layer-3 messages go to
    ``on_message(bytes)``; link state changes to ``on_state(up: bool)``.
    """

    def __init__(self, network: bool, send_raw, *, on_message=None, on_state=None,
                 t200: int = 1000, t203: int = 10000, n200: int = 3, k: int = 7, tei: int = 0) -> None:
        self.network = network
        self.send_raw = send_raw
        self.on_message = on_message or (lambda b: None)
        self.on_state = on_state or (lambda up: None)
        self.t200, self.t203, self.n200, self.k = t200, t203, n200, k
        self.tei = tei
        self.state = "down"  # down, establishing, up, recovery
        self.vs = self.vr = self.va = 0
        self._unacked: dict[int, bytes] = {}
        self._queue: list[bytes] = []
        self._t200_at: int | None = None
        self._t203_at: int | None = None
        self._rc = 0
        self._rej_sent = False
        self.now = 0
        self.trace: list[tuple] = []
        self.frames_in = self.frames_out = self.errors = 0

    # ------------------------------------------------------------------ helpers
    def _cmd_cr(self) -> int:
        return 1 if self.network else 0

    def _resp_cr(self) -> int:
        return 0 if self.network else 1

    def _is_command(self, f: Frame) -> bool:
        # a command from the peer carries the peer's command C/R value
        return f.cr == (0 if self.network else 1)

    def _tx(self, f: Frame) -> None:
        self.frames_out += 1
        self.trace.append((self.now, "tx", f.kind, f.ns, f.nr, f.pf))
        if len(self.trace) > 1000:
            del self.trace[:500]
        self.send_raw(f.encode())

    def _set_state(self, st: str) -> None:
        was_up = self.state in ("up", "recovery")
        self.state = st
        is_up = st in ("up", "recovery")
        if was_up != is_up:
            self.on_state(is_up)

    def _start_t200(self) -> None:
        self._t200_at = self.now + self.t200

    def _reset_vars(self) -> None:
        self.vs = self.vr = self.va = 0
        self._rej_sent = False

    # ------------------------------------------------------------------ API
    @property
    def up(self) -> bool:
        return self.state in ("up", "recovery")

    def start(self, now: int = 0) -> None:
        """Establish multiple-frame operation (send SABME)."""
        self.now = now
        self._rc = 0
        self._set_state("establishing")
        self._tx(Frame(SAPI_CALL_CONTROL, self.tei, self._cmd_cr(), "SABME", pf=1))
        self._start_t200()

    def stop(self) -> None:
        if self.up:
            self._tx(Frame(SAPI_CALL_CONTROL, self.tei, self._cmd_cr(), "DISC", pf=1))
        self._set_state("down")
        self._t200_at = self._t203_at = None

    def send(self, message: bytes) -> None:
        """Queue a layer-3 message for acknowledged transfer."""
        self._queue.append(bytes(message))
        self._pump()

    def _pump(self) -> None:
        if self.state != "up":
            return
        while self._queue and (self.vs - self.va) % MOD < self.k:
            info = self._queue.pop(0)
            ns = self.vs
            self._unacked[ns] = info
            self._tx(Frame(SAPI_CALL_CONTROL, self.tei, self._cmd_cr(), "I", ns=ns, nr=self.vr, info=info))
            self.vs = (self.vs + 1) % MOD
            if self._t200_at is None:
                self._start_t200()

    def receive(self, data: bytes, now: int | None = None) -> None:
        if now is not None:
            self.now = now
        try:
            f = decode_frame(data)
        except Q931Error:
            self.errors += 1
            return
        if f.sapi != SAPI_CALL_CONTROL or f.tei != self.tei:
            return  # management or another TEI: not ours on a PRI
        self.frames_in += 1
        self.trace.append((self.now, "rx", f.kind, f.ns, f.nr, f.pf))
        cmd = self._is_command(f)
        k = f.kind
        if k == "SABME":
            self._tx(Frame(SAPI_CALL_CONTROL, self.tei, self._resp_cr(), "UA", pf=f.pf))
            lost = [self._unacked[n] for n in sorted(self._unacked, key=lambda n: (n - self.va) % MOD)]
            self._unacked.clear()
            self._queue[:0] = lost if self.state == "establishing" else []
            self._reset_vars()
            self._t200_at = None
            self._t203_at = self.now + self.t203
            self._set_state("up")
            self._pump()
            return
        if k == "UA":
            if self.state == "establishing":
                self._reset_vars()
                self._t200_at = None
                self._t203_at = self.now + self.t203
                self._set_state("up")
                self._pump()
            return
        if k == "DISC":
            self._tx(Frame(SAPI_CALL_CONTROL, self.tei, self._resp_cr(), "UA" if self.up else "DM", pf=f.pf))
            self._set_state("down")
            self._t200_at = self._t203_at = None
            return
        if k == "DM":
            if self.up or self.state == "establishing":
                self.start(self.now)  # the peer lost the link: establish again
            return
        if k in ("UI", "FRMR", "XID"):
            if k == "UI" and f.info:
                self.on_message(f.info)
            return
        if not self.up:
            if cmd and f.pf:
                self._tx(Frame(SAPI_CALL_CONTROL, self.tei, self._resp_cr(), "DM", pf=1))
            return
        self._t203_at = self.now + self.t203
        if k == "I":
            if f.ns == self.vr:
                self.vr = (self.vr + 1) % MOD
                self._rej_sent = False
                self._ack(f.nr)
                self.on_message(f.info)
                if not self._queue or f.pf:
                    self._tx(Frame(SAPI_CALL_CONTROL, self.tei, self._resp_cr(), "RR", nr=self.vr, pf=f.pf))
                self._pump()
            else:
                self._ack(f.nr)
                if not self._rej_sent:
                    self._rej_sent = True
                    self._tx(Frame(SAPI_CALL_CONTROL, self.tei, self._resp_cr(), "REJ", nr=self.vr, pf=f.pf))
            return
        # S frames
        if cmd and f.pf:
            self._tx(Frame(SAPI_CALL_CONTROL, self.tei, self._resp_cr(), "RR", nr=self.vr, pf=1))
        self._ack(f.nr)
        if self.state == "recovery" and not cmd and f.pf:
            self._set_state("up")
            self._retransmit_from(f.nr)
        elif k == "REJ":
            self._retransmit_from(f.nr)
        self._pump()

    def _ack(self, nr: int) -> None:
        if (nr - self.va) % MOD > (self.vs - self.va) % MOD:
            self.errors += 1  # N(R) outside the window: ignore it
            return
        while self.va != nr:
            self._unacked.pop(self.va, None)
            self.va = (self.va + 1) % MOD
        if self.va == self.vs:
            self._t200_at = None
            self._rc = 0
        elif self.state == "up":
            self._start_t200()

    def _retransmit_from(self, nr: int) -> None:
        n = nr
        resend = []
        while n != self.vs:
            if n in self._unacked:
                resend.append((n, self._unacked[n]))
            n = (n + 1) % MOD
        for ns, info in resend:
            self._tx(Frame(SAPI_CALL_CONTROL, self.tei, self._cmd_cr(), "I", ns=ns, nr=self.vr, info=info))
        if resend:
            self._start_t200()

    def tick(self, now: int) -> None:
        self.now = now
        if self._t200_at is not None and now >= self._t200_at:
            self._t200_at = None
            self._rc += 1
            if self.state == "establishing":
                if self._rc > self.n200:
                    self._set_state("down")
                    self._rc = 0
                    self._queue.clear()
                    return
                self._tx(Frame(SAPI_CALL_CONTROL, self.tei, self._cmd_cr(), "SABME", pf=1))
                self._start_t200()
            elif self.up:
                if self._rc > self.n200:
                    self.start(now)  # re-establish
                    return
                self._set_state("recovery")
                self._tx(Frame(SAPI_CALL_CONTROL, self.tei, self._cmd_cr(), "RR", nr=self.vr, pf=1))
                self._start_t200()
        if self._t203_at is not None and now >= self._t203_at and self.state == "up":
            self._t203_at = now + self.t203
            self._rc = 0
            self._set_state("recovery")
            self._tx(Frame(SAPI_CALL_CONTROL, self.tei, self._cmd_cr(), "RR", nr=self.vr, pf=1))
            self._start_t200()
