"""Media: RTP/RTCP relayed through us between the legs of a call, RFC 4733 digits, recording.

Every SIP leg gets an :class:`RtpEndpoint`: a pair of UDP ports (RTP even, RTCP the next odd
one) from the configured range, which our SDP names.  Packets from the leg's peer are relayed
to the bridged leg's peer unchanged (both legs use the codec the callee chose from the caller's
offer, so nothing is transcoded); the peer's address is the one its SDP gave until its first
packet arrives, then the address that packet came from (symmetric RTP, for peers behind NAT).

On the way through, the relay

* reads RFC 4733 telephone events and reports each key once as a ``dtmf`` event of the call:
  a digit's end packet is sent three times and they share the event's timestamp, which is how
  duplicates are recognised;
* records the call when it is to be recorded (:class:`Recorder`: a stereo 16-bit 8 kHz WAV, the
  caller left and the callee right, each packet placed by its RTP timestamp, so reordering and
  jitter are undone and lost packets become silence);
* counts packets, bytes and losses per endpoint (sequence gaps) for the CDR and ``call active``.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import wave

from contract.clock import now_ms
from hub.telephony import rtp
from hub.telephony.errors import TelephonyError

log = logging.getLogger("scanhub.telephony.media")


class MediaError(TelephonyError):
    """No media port can be had (range exhausted or ports taken)."""


class _Sock:
    """A non-blocking UDP socket read from the event loop (``add_reader``)."""

    def __init__(self, loop, host: str, port: int, on_datagram) -> None:
        self.loop = loop
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.bind((host, port))
        except OSError:
            self.sock.close()
            raise
        self.sock.setblocking(False)
        self.on_datagram = on_datagram
        loop.add_reader(self.sock.fileno(), self._readable)

    def _readable(self) -> None:
        for _ in range(64):
            try:
                data, addr = self.sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:                 # ICMP port unreachable from a peer that went away
                continue
            try:
                self.on_datagram(data, addr)
            except Exception:               # a bad packet never stops the relay
                log.exception("media packet from %s", addr)

    def sendto(self, data: bytes, addr) -> None:
        try:
            self.sock.sendto(data, addr)
        except OSError:
            pass

    def close(self) -> None:
        if self.sock is not None:
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None


class RtpEndpoint:
    """Our side of one leg's media."""

    def __init__(self, relay: "MediaRelay", port: int) -> None:
        self.relay = relay
        self.port = port
        self.host = relay.host
        self.remote: tuple[str, int] | None = None
        self.remote_rtcp: tuple[str, int] | None = None
        self._latched = False
        self.peer: RtpEndpoint | None = None
        self.leg = None
        self.te_pt: int | None = None
        self.codec_pt: int | None = None
        self.codec = "PCMA"
        self.on_packet = None          # recorder tap: fn(endpoint, Packet)
        self.last_out: rtp.Packet | None = None
        self.stats = {"packets_in": 0, "bytes_in": 0, "packets_out": 0, "lost": 0, "rtcp_in": 0}
        self._last_seq: int | None = None
        self._last_event_ts: int | None = None
        self._rtp = self._rtcp = None

    def set_remote(self, host: str, port: int) -> None:
        if not self._latched:
            self.remote = (host, port)
            self.remote_rtcp = (host, port + 1)

    def _received(self, data: bytes, addr, is_rtcp: bool) -> None:
        if is_rtcp:
            self.stats["rtcp_in"] += 1
            self.remote_rtcp = addr
            peer = self.peer
            if getattr(peer, "remote_rtcp", None) is not None and peer._rtcp is not None:
                peer._rtcp.sendto(data, peer.remote_rtcp)
            return
        if not self._latched:
            self.remote, self._latched = addr, True
        elif addr != self.remote:
            return                     # not our peer: ignore
        try:
            pkt = rtp.parse(data)
        except rtp.RtpError:
            return
        st = self.stats
        st["packets_in"] += 1
        st["bytes_in"] += len(data)
        if self._last_seq is not None:
            gap = (pkt.seq - self._last_seq) & 0xFFFF
            if 1 < gap < 3000:
                st["lost"] += gap - 1
        self._last_seq = pkt.seq
        if self.te_pt is not None and pkt.pt == self.te_pt:
            self._event(pkt)
        if self.on_packet is not None:
            self.on_packet(self, pkt)
        if self.peer is not None:
            self.peer.deliver(data, pkt)

    def deliver(self, data: bytes, pkt: rtp.Packet) -> None:
        """A packet from the bridged leg: relayed to our peer unchanged."""
        self.last_out = pkt               # a mixer taking over continues this stream
        if self.remote is not None and self._rtp is not None:
            self._rtp.sendto(data, self.remote)
            self.stats["packets_out"] += 1

    def _event(self, pkt: rtp.Packet) -> None:
        try:
            ev = rtp.parse_event(pkt.payload)
        except rtp.RtpError:
            return
        if ev.end and pkt.ts != self._last_event_ts:
            self._last_event_ts = pkt.ts
            if self.leg is not None:
                self.leg.call.event("dtmf", self.leg, key=ev.key, duration_ms=ev.duration // 8, via="rfc4733")

    def send(self, data: bytes) -> None:
        if self.remote is not None and self._rtp is not None:
            self._rtp.sendto(data, self.remote)
            self.stats["packets_out"] += 1

    def close(self) -> None:
        for t in (self._rtp, self._rtcp):
            if t is not None:
                t.close()
        self._rtp = self._rtcp = None
        self.peer = None
        self.relay._ports_free.add(self.port)


class Recorder:
    """A stereo WAV of one call: channel 0 the caller's audio, channel 1 the callee's."""

    FLUSH_SAMPLES = 16000

    def __init__(self, path: str, t0_ms: int | None = None) -> None:
        self.path = path
        self.t0 = now_ms() if t0_ms is None else t0_ms
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self._w = wave.open(path, "wb")
        self._w.setnchannels(2)
        self._w.setsampwidth(2)
        self._w.setframerate(8000)
        self._base = 0                               # sample index of buf[...][0]
        self._buf = [bytearray(), bytearray()]       # 16-bit LE samples per channel
        self._anchor: dict[int, tuple[int, int]] = {}  # channel -> (rtp ts, sample position)
        self.samples = 0

    def add(self, channel: int, pkt: rtp.Packet, codec: str) -> None:
        anchor = self._anchor.get(channel)
        if anchor is None:
            anchor = (pkt.ts, max(self._base, (now_ms() - self.t0) * 8))
            self._anchor[channel] = anchor
        delta = (pkt.ts - anchor[0]) & 0xFFFFFFFF
        if delta >= 2 ** 31:
            delta -= 2 ** 32
        pos = anchor[1] + delta
        if pos < self._base:
            return                                   # too late: already written
        pcm = rtp.pcm16(pkt.payload, codec)
        buf = self._buf[channel]
        start = (pos - self._base) * 2
        if len(buf) < start:
            buf += bytes(start - len(buf))
        buf[start:start + len(pcm)] = pcm
        if min(len(self._buf[0]), len(self._buf[1])) // 2 > self.FLUSH_SAMPLES or \
                max(len(b) for b in self._buf) // 2 > 4 * self.FLUSH_SAMPLES:
            self._flush(self.FLUSH_SAMPLES // 2)

    def _flush(self, n: int | None = None) -> None:
        longest = max(len(b) for b in self._buf) // 2
        n = longest if n is None else min(n, longest)
        if n <= 0:
            return
        out = bytearray(4 * n)
        for ch, buf in enumerate(self._buf):
            part = bytes(buf[:2 * n]).ljust(2 * n, b"\0")
            del buf[:2 * n]
            out[2 * ch::4] = part[0::2]
            out[2 * ch + 1::4] = part[1::2]
        self._w.writeframes(bytes(out))
        self._base += n
        self.samples += n

    def close(self) -> None:
        if self._w is not None:
            self._flush()
            self._w.close()
            self._w = None


class MediaRelay:
    """Allocates endpoints from the port range and bridges the legs of calls."""

    def __init__(self, loop: asyncio.AbstractEventLoop, host: str, ports: tuple[int, int]) -> None:
        self.loop = loop
        self.host = host
        lo = ports[0] + ports[0] % 2
        self._ports_free = set(range(lo, ports[1], 2))
        self._recorders: dict[str, Recorder] = {}
        self._endpoints: dict[str, list[RtpEndpoint]] = {}
        self._mixers: dict = {}                # call id -> hub.telephony.mixer.Mixer

    def open(self, call_id: str) -> RtpEndpoint:
        """A new endpoint with both sockets bound (MediaError when no pair of ports is free)."""
        for port in sorted(self._ports_free):
            self._ports_free.discard(port)
            ep = RtpEndpoint(self, port)
            try:
                ep._rtp = _Sock(self.loop, self.host, port, lambda d, a, ep=ep: ep._received(d, a, False))
                ep._rtcp = _Sock(self.loop, self.host, port + 1, lambda d, a, ep=ep: ep._received(d, a, True))
            except OSError:
                if ep._rtp is not None:
                    ep._rtp.close()
                continue                      # taken by another program: try the next pair
            self._endpoints.setdefault(call_id, []).append(ep)
            return ep
        raise MediaError("no free media ports left in the configured range")

    def bridge(self, call, a, b) -> None:
        ea, eb = a.media, b.media
        ea.peer, eb.peer = eb, ea
        if call.id in self._recorders:
            rec = self._recorders[call.id]
            ea.on_packet = lambda ep, pkt: pkt.pt == ep.codec_pt and rec.add(0, pkt, ep.codec)
            eb.on_packet = lambda ep, pkt: pkt.pt == ep.codec_pt and rec.add(1, pkt, ep.codec)

    def mixer(self, call):
        """The call's conference mixer (made on first use; ``hub.telephony.mixer``)."""
        if call.id not in self._mixers:
            from hub.telephony.mixer import Mixer
            self._mixers[call.id] = Mixer(self.loop)
        return self._mixers[call.id]

    def move(self, ep: RtpEndpoint, from_call, to_call) -> None:
        """``ep`` now belongs to ``to_call`` (a leg joined to another call by a transfer)."""
        eps = self._endpoints.get(from_call.id, [])
        if ep in eps:
            eps.remove(ep)
            self._endpoints.setdefault(to_call.id, []).append(ep)

    def record(self, call, path: str) -> None:
        self._recorders[call.id] = Recorder(path, call.t_start)
        call.recording = path

    def release(self, call) -> None:
        mixer = self._mixers.pop(call.id, None)
        if mixer is not None:
            mixer.stop()
        for ep in self._endpoints.pop(call.id, []):
            ep.close()
        rec = self._recorders.pop(call.id, None)
        if rec is not None:
            rec.close()

    @property
    def in_use(self) -> int:
        return sum(len(v) for v in self._endpoints.values())
