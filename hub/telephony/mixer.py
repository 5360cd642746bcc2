"""The conference mixer: N parties of one call, each hearing the sum of those it may hear.

A call's legs are normally bridged two by two, packets relayed unchanged (``hub.telephony.media``).
When a third party joins (a conference, or a supervisor), the switch moves the call's legs onto a
:class:`Mixer` instead: every 20 ms it takes one frame (160 samples) from each member's jitter
buffer, decodes it (G.711 A-law or µ-law, by table, with numpy), and sends each member the sum
of what *that member* hears, clipped and encoded in the member's own codec, as an RTP stream of
our own (sequence, timestamp and SSRC per member).

Who hears whom is the member's **role** (:func:`hears`):

==========  ==============================  ==================================
role        hears                           heard by
==========  ==============================  ==================================
``party``   everyone else                   everyone else
``listen``  everyone                        nobody
``whisper`` everyone                        its target only (the agent)
``barge``   everyone                        everyone
==========  ==============================  ==================================

:func:`mix` is the pure part (frames in, frames out) and is what the property tests check; the
:class:`Mixer` adds the buffers, the clock and the sockets.  A member whose buffer runs dry adds
silence until it has two frames again (jitter is absorbed, nothing is stretched); a buffer longer
than six frames loses its oldest audio (a peer sending too fast cannot make the delay grow).
"""
from __future__ import annotations

import random

import numpy as np

from hub.telephony import rtp
from hub.telephony.errors import TelephonyError

FRAME = 160                 # samples per 20 ms at 8 kHz
TICK_S = FRAME / 8000
PREFILL = 2 * FRAME         # bytes buffered before a member's audio is used (after a dry spell)
MAX_BUFFER = 6 * FRAME
ROLES = ("party", "listen", "whisper", "barge")
CODEC_PT = {"PCMU": 0, "PCMA": 8}


def _tables():
    from drivers.e1_card.alaw import _ENCODE_TABLE, DECODE_TABLE
    dec = {"PCMA": np.array(DECODE_TABLE, dtype=np.int32),
           "PCMU": np.array(rtp.ULAW_DECODE, dtype=np.int32)}
    enc = {"PCMA": np.frombuffer(_ENCODE_TABLE, dtype=np.uint8)}
    # µ-law: for every 16-bit value the code whose decoded value is nearest
    order = np.argsort(dec["PCMU"], kind="stable")
    values = dec["PCMU"][order]
    x = np.arange(65536, dtype=np.int32)
    x = np.where(x >= 32768, x - 65536, x)
    i = np.clip(np.searchsorted(values, x), 1, 255)
    nearer_left = (x - values[i - 1]) <= (values[i] - x)
    enc["PCMU"] = order[np.where(nearer_left, i - 1, i)].astype(np.uint8)
    return dec, enc


_DEC, _ENC = _tables()


def decode(payload: bytes, codec: str) -> np.ndarray:
    """G.711 bytes -> int32 linear samples."""
    return _DEC[codec][np.frombuffer(payload, dtype=np.uint8)]


def encode(samples: np.ndarray, codec: str) -> bytes:
    """Linear samples (any int dtype; clipped to 16 bits) -> G.711 bytes."""
    s = np.clip(samples, -32768, 32767).astype(np.int16).view(np.uint16)
    return _ENC[codec][s].tobytes()


def hears(listener: str, speaker: str, roles: dict[str, str], targets: dict[str, str | None]) -> bool:
    """Whether ``listener`` hears ``speaker`` (member ids; ``roles`` and whisper ``targets`` by id)."""
    if listener == speaker:
        return False
    role = roles[speaker]
    if role in ("party", "barge"):
        return True
    return role == "whisper" and targets.get(speaker) == listener


def mix(frames: dict[str, np.ndarray | None], roles: dict[str, str],
        targets: dict[str, str | None]) -> dict[str, np.ndarray]:
    """One tick: each member's frame (None = nothing this tick) -> what each member hears
    (int32, not yet clipped).  The sum of the public speakers is made once; each listener's
    own voice is taken out of it and the whispers meant for it are added."""
    silent = np.zeros(FRAME, dtype=np.int32)
    public = silent.copy()
    for m, f in frames.items():
        if f is not None and roles[m] in ("party", "barge"):
            public += f
    out = {}
    for m in roles:
        heard = public - frames[m] if frames.get(m) is not None and roles[m] in ("party", "barge") else public.copy()
        for s, t in targets.items():
            if t == m and roles[s] == "whisper" and frames.get(s) is not None and s != m:
                heard += frames[s]
        out[m] = heard
    return out


class _Member:
    def __init__(self, ep, role: str, target) -> None:
        self.ep = ep
        self.role = role
        self.target = target                  # whisper: the endpoint that hears it
        self.buf = bytearray()
        self.playing = False
        last = getattr(ep, "last_out", None)
        if last is not None and last.pt == ep.codec_pt:
            # the stream the peer already receives goes on (a peer's jitter buffer would take a
            # new stream with lower sequence numbers for late packets and drop them)
            self.seq, self.ts, self.ssrc = (last.seq + 1) & 0xFFFF, (last.ts + FRAME) & 0xFFFFFFFF, last.ssrc
        else:
            self.seq = random.randrange(1 << 16)
            self.ts = random.randrange(1 << 32)
            self.ssrc = random.randrange(1, 1 << 32)
        self.marker = True


class _Inlet:
    """Stands in as an endpoint's ``peer``: what the endpoint receives goes into the mixer."""

    remote_rtcp = None
    _rtcp = None

    def __init__(self, mixer: "Mixer", ep) -> None:
        self.mixer, self.ep = mixer, ep

    def deliver(self, data: bytes, pkt: rtp.Packet) -> None:
        self.mixer.push(self.ep, pkt)


class Mixer:
    """The running mixer of one call, on the service's event loop (see the module docstring)."""

    def __init__(self, loop) -> None:
        self.loop = loop
        self.members: dict[int, _Member] = {}    # id(endpoint) -> member
        self._next = None
        self._handle = None
        self.ticks = 0

    # ---------------------------------------------------------------- membership
    def add(self, ep, role: str = "party", target=None) -> None:
        self.set_role(ep, role, target, _new=True)
        ep.peer = _Inlet(self, ep)
        if self._handle is None:
            self._next = self.loop.time()
            self._tick()

    def set_role(self, ep, role: str, target=None, _new: bool = False) -> None:
        if role not in ROLES:
            raise TelephonyError(f"unknown conference role {role!r} (one of {', '.join(ROLES)})")
        if role == "whisper" and target is None:
            raise TelephonyError("a whisper needs the member who hears it")
        m = self.members.get(id(ep))
        if m is None:
            if not _new:
                raise TelephonyError("not a member of this conference")
            self.members[id(ep)] = _Member(ep, role, target)
        else:
            m.role, m.target = role, target

    def remove(self, ep) -> None:
        m = self.members.pop(id(ep), None)
        if m is not None and isinstance(ep.peer, _Inlet):
            ep.peer = None
        for other in self.members.values():          # a whisper to someone gone goes silent
            if other.target is ep:
                other.target = None
                if other.role == "whisper":
                    other.role = "listen"
        if not self.members:
            self.stop()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    # ---------------------------------------------------------------- media
    def push(self, ep, pkt: rtp.Packet) -> None:
        m = self.members.get(id(ep))
        if m is None or pkt.pt != ep.codec_pt:
            return                                   # telephone-events and strays are not mixed
        m.buf += pkt.payload
        if len(m.buf) > MAX_BUFFER:
            del m.buf[:len(m.buf) - MAX_BUFFER]

    def _take(self, m: _Member) -> np.ndarray | None:
        if not m.playing:
            if len(m.buf) < PREFILL:
                return None
            m.playing = True
        if len(m.buf) < FRAME:
            m.playing = False
            return None
        chunk = bytes(m.buf[:FRAME])
        del m.buf[:FRAME]
        return decode(chunk, m.ep.codec if m.ep.codec in _DEC else "PCMA")

    def _tick(self) -> None:
        now = self.loop.time()
        behind = int((now - self._next) / TICK_S)
        if behind > 5:                               # the loop stalled: skip, do not burst
            self._next = now
        for _ in range(min(behind + 1, 3)):
            self._mix_once()
            self._next += TICK_S
        self._handle = self.loop.call_at(self._next, self._tick)

    def _mix_once(self) -> None:
        self.ticks += 1
        ids = {k: str(k) for k in self.members}
        frames = {ids[k]: self._take(m) for k, m in self.members.items()}
        roles = {ids[k]: m.role for k, m in self.members.items()}
        targets = {ids[k]: (str(id(m.target)) if m.target is not None else None)
                   for k, m in self.members.items()}
        heard = mix(frames, roles, targets)
        for k, m in self.members.items():
            codec = m.ep.codec if m.ep.codec in _ENC else "PCMA"
            pt = m.ep.codec_pt if m.ep.codec_pt is not None else CODEC_PT[codec]
            m.ep.send(rtp.build(pt, m.seq, m.ts, m.ssrc, encode(heard[ids[k]], codec), m.marker))
            m.marker = False
            m.seq = (m.seq + 1) & 0xFFFF
            m.ts = (m.ts + FRAME) & 0xFFFFFFFF
