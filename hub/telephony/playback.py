"""Playback of audio files into a call: the dial plan target ``play FILE.wav``.

The switch answers the caller and bridges it to a :class:`FileLeg`, whose media endpoint sends
the file as 20 ms RTP packets in the caller's G.711 codec, paced by the event loop's clock; when
the file ends the leg ends and the call with it (an announcement).  Files are WAV, 8000 Hz, mono,
16-bit linear PCM (``sox in.wav -r 8000 -c 1 -b 16 out.wav`` converts one); ``check_wav`` says
what is wrong with any other, and the PBX file check reports it.
"""
from __future__ import annotations

import random
import wave

from drivers.e1_card import alaw
from hub.telephony import rtp
from hub.telephony.model import Leg

FRAME = alaw.BLOCK_SAMPLES


def check_wav(path: str) -> str | None:
    """Why ``path`` cannot be played, or None when it can."""
    try:
        with wave.open(path, "rb") as w:
            if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (8000, 1, 2):
                return (f"must be 8000 Hz mono 16-bit PCM, not {w.getframerate()} Hz, {w.getnchannels()} "
                        f"channel(s), {8 * w.getsampwidth()}-bit (convert: sox IN -r 8000 -c 1 -b 16 OUT.wav)")
    except FileNotFoundError:
        return "no such file"
    except (wave.Error, EOFError, OSError) as e:
        return f"not a WAV file we can read ({e})"
    return None


def load_alaw(path: str) -> bytes:
    with wave.open(path, "rb") as w:
        from array import array
        samples = array("h")
        samples.frombytes(w.readframes(w.getnframes()))
    return alaw.encode(samples)


class FileEndpoint:
    def __init__(self, leg: "FileLeg", audio: bytes) -> None:
        self.leg = leg
        self.audio = audio
        self.pos = 0
        self.peer = None
        self.codec, self.codec_pt, self.te_pt = "PCMA", 8, None
        self.on_packet = None
        self._seq, self._ts, self._ssrc = random.randrange(65536), random.randrange(2 ** 32), random.randrange(2 ** 32)
        self._timer = None
        self._t0 = None
        self.sent = 0

    def deliver(self, data: bytes, pkt) -> None:
        """What the caller says to a file: nothing to do with it (the recorder has it already)."""

    def start(self, loop) -> None:
        self._t0 = loop.time()
        self._loop = loop
        self._tick()

    def _tick(self) -> None:
        if self.leg.state == "ended":
            return
        due = int((self._loop.time() - self._t0) * 1000 // 20) + 1
        while self.sent < due and self.pos < len(self.audio):
            chunk = self.audio[self.pos:self.pos + FRAME].ljust(FRAME, bytes([alaw.SILENCE]))
            self.pos += FRAME
            self._emit(chunk)
        if self.pos >= len(self.audio):
            self.leg.hangup("normal")
            return
        self._timer = self._loop.call_later(max(0.0, self._t0 + self.sent * 0.02 - self._loop.time()), self._tick)

    def _emit(self, chunk: bytes) -> None:
        """One 20 ms A-law frame to the bridged leg (in its codec) and the recorder."""
        peer = self.peer
        pt = peer.codec_pt if peer is not None and peer.codec_pt is not None else 8
        payload = chunk if peer is None or peer.codec == "PCMA" else rtp.alaw_to_ulaw(chunk)
        if self.on_packet is not None:
            self.on_packet(self, rtp.Packet(8, self._seq, self._ts, self._ssrc, False, chunk))
        if peer is not None:          # deliver: an RTP endpoint sends it on, an E1 one plays it out
            marker = self.sent == 0
            peer.deliver(rtp.build(pt, self._seq, self._ts, self._ssrc, payload, marker=marker),
                         rtp.Packet(pt, self._seq, self._ts, self._ssrc, marker, payload))
        self._seq = (self._seq + 1) & 0xFFFF
        self._ts = (self._ts + FRAME) & 0xFFFFFFFF
        self.sent += 1

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


class FileLeg(Leg):
    kind = "file"

    def __init__(self, call, path: str, loop) -> None:
        super().__init__(call, trunk=None, seat=None, channel=f"file {path}", peer=path, direction="out")
        self.loop = loop
        self.media = FileEndpoint(self, load_alaw(path))

    def start(self) -> None:
        offer = getattr(self.call.a, "offer", None)
        if offer is not None and offer.first_g711 is not None:
            self.codec = offer.codec(offer.first_g711)      # the caller's first choice: no transcoding there
        else:
            self.codec = "PCMA"
        self._answered()
        self.media.start(self.loop)

    def answer(self) -> None:
        pass

    def hangup(self, cause: str = "normal") -> None:
        if self.state != "ended":
            self.media.close()
            self._ended(cause)
