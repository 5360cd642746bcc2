"""The leg an application answers a caller with: prompts out, the caller's audio in.

An :class:`AppLeg` is bridged to the caller's ``a`` leg like any callee (the switch answers the
caller when it answers).  Its :class:`AppEndpoint` sends one 20 ms A-law frame every 20 ms,
paced by the event loop's clock: the next frame of what is playing, else silence, so the
caller's side always has a steady stream (a jitter buffer on an E1 span never runs dry).  What
the caller says arrives as RTP from a SIP leg (``deliver``) or as RTP built by an E1 leg
(``send``); while a recording runs it is kept as 16-bit PCM.
"""
from __future__ import annotations

from collections import deque

from drivers.e1_card import alaw
from hub.telephony import rtp
from hub.telephony.model import Leg
from hub.telephony.playback import FileEndpoint, FileLeg

FRAME = alaw.BLOCK_SAMPLES
SILENCE = bytes([alaw.SILENCE]) * FRAME


class _Start:
    """A marker in the frame queue called as the frame after it is sent (a prompt's start)."""

    def __init__(self, fn) -> None:
        self.fn = fn

    def __call__(self) -> None:
        self.fn()


class AppEndpoint(FileEndpoint):
    def __init__(self, leg: "AppLeg", loop) -> None:
        super().__init__(leg, b"")
        self.loop = loop
        self._frames: deque[bytes] = deque()
        self.recording: bytearray | None = None

    # ------------------------------------------------------------ playing
    @property
    def playing(self) -> bool:
        return bool(self._frames)

    def play(self, audio: bytes, on_done=None, on_start=None) -> None:
        """Queue ``audio`` (A-law) after what is playing; ``on_start()`` as its first frame goes out,
        ``on_done()`` once its last frame went out."""
        if on_start is not None:
            self._frames.append(_Start(on_start))
        for i in range(0, len(audio), FRAME):
            self._frames.append(audio[i:i + FRAME].ljust(FRAME, bytes([alaw.SILENCE])))
        if on_done is not None:
            self._frames.append(on_done)        # a marker: called when the frames before it are sent

    def stop(self) -> None:
        """Stop playing at once (a key barged in); pending ``on_done`` callbacks are dropped."""
        self._frames.clear()

    def start(self, loop=None) -> None:
        self._t0 = self.loop.time()
        self._tick()

    def _tick(self) -> None:
        if self.leg.state == "ended":
            return
        due = int((self.loop.time() - self._t0) * 1000 // 20) + 1
        for _ in range(min(10, max(0, due - self.sent))):      # catch up after a stall, a little
            self._send_frame()
        self.sent = max(self.sent, due - 10)
        self._timer = self.loop.call_later(max(0.0, self._t0 + self.sent * 0.02 - self.loop.time()), self._tick)

    def _send_frame(self) -> None:
        while self._frames and callable(self._frames[0]):
            self._frames.popleft()()
        chunk = self._frames.popleft() if self._frames else SILENCE
        while self._frames and callable(self._frames[0]) and not isinstance(self._frames[0], _Start):
            self._frames.popleft()()                         # the end of a prompt: tell at once
        self._emit(chunk)

    # ------------------------------------------------------------ what the caller says
    def deliver(self, data: bytes, pkt: rtp.Packet) -> None:
        """An RTP packet from the caller's SIP leg."""
        peer = self.peer
        if self.recording is not None and peer is not None and pkt.pt == peer.codec_pt:
            self.recording += rtp.pcm16(pkt.payload, peer.codec)

    def send(self, data: bytes) -> None:
        """An RTP packet an E1 leg built from its timeslot (always A-law)."""
        if self.recording is None:
            return
        try:
            pkt = rtp.parse(data)
        except rtp.RtpError:
            return
        self.recording += rtp.pcm16(pkt.payload, "PCMA" if pkt.pt == 8 else "PCMU")

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._frames.clear()
        self.peer = None


class AppLeg(FileLeg):
    """Answers like a ``play`` target's leg (``FileLeg``), with an endpoint that plays what it is
    told; ``program`` hears the leg's end (``leg_ended(leg, cause)``)."""

    kind = "app"

    def __init__(self, call, name: str, loop, program=None) -> None:
        Leg.__init__(self, call, trunk=None, seat=None, channel=name, peer=name, direction="out")
        self.loop = loop
        self.program = program
        self.media = AppEndpoint(self, loop)

    def hangup(self, cause: str = "normal") -> None:
        if self.state != "ended":
            super().hangup(cause)
            if self.program is not None:
                self.program.leg_ended(self, cause)
