"""An IVR flow on a live call: the IVR engine (``hub.ivr.engine``) driven by the call's events.

The program carries out the engine's actions in order: ``play`` queues the prompt files on the
call's :class:`~hub.callflow.leg.AppLeg` (a key barges in where the action allows it),
``collect`` arms the no-input timer once the prompts are out (reset by every key), ``record``
beeps and keeps the caller's audio until ``#``, the box's limit or the caller's hang-up, then
writes a WAV and hands it to the engine; ``save_voicemail`` stores it (``hub.ivr.voicemail``);
``transfer`` goes to a queue (the same leg plays on for the queue), a seat or a number (through
the dial plan); ``hangup`` ends the call.  Keys come from the call's ``dtmf`` events: RFC 4733
on SIP, the E1 driver's in-band detector on a span.  Every step and key of the engine's trail
becomes an ``ivr`` event of the call (its CDR).
"""
from __future__ import annotations

import logging
import math
import os
import wave

from contract.clock import now_ms
from hub.ivr import audio
from hub.ivr.engine import Engine

log = logging.getLogger("scanhub.callflow")
#: how long a call stays up after its last prompt was sent: a jitter buffer (an E1 span's is
#: 40 ms deep) and the network still hold its end
DRAIN_S = 0.3

def _beep() -> bytes:
    """300 ms of 1 kHz: the tone before a recording."""
    from drivers.e1_card import alaw
    return alaw.encode([int(8000 * math.sin(2 * math.pi * 1000 * i / 8000)) for i in range(8000 * 3 // 10)])


class IvrProgram:
    def __init__(self, apps, call, leg, flow, node: str | None = None) -> None:
        self.apps = apps
        self.call = call
        self.leg = leg
        self.flow = flow
        self.node = node
        self.engine = Engine(flow, apps.services(), clock=apps.clock)
        self._pending: list[dict] = []
        self._collect: dict | None = None
        self._timer = None
        self._sent = 0
        self._record: dict | None = None
        self._gen = 0                     # bumps whenever the engine replaces what the call does
        self._barge = False

    # ------------------------------------------------------------ engine calls
    def start(self) -> None:
        self._run(self.engine.start(self.call.caller, self.call.callee, self.node))

    def digit(self, key: str) -> None:
        if self._record is not None:
            if key == "#":
                self._finish_recording()
            return
        was_playing = self.leg.media.playing
        actions = self.engine.digit(key)
        if actions:
            self._run(actions)
            return
        if self._collect is not None:                 # a key of a number: barge in, restart the timer
            if was_playing and self._barge:
                self.leg.media.stop()
                self._gen += 1
                self._pending = [a for a in self._pending if a["action"] != "play"]
                self._next()
            elif not was_playing:
                self._arm(self._collect["timeout_ms"])
        self._trail()

    def leg_ended(self, leg, cause: str) -> None:
        self._cancel()
        if self._record is not None:
            self._finish_recording(hung_up=True)
        elif not self.engine.ended:
            self._run(self.engine.hangup())

    # ------------------------------------------------------------ carrying out actions
    def _run(self, actions: list[dict]) -> None:
        self._trail()
        self._cancel()
        self.leg.media.stop()
        self._gen += 1
        self._collect = None
        self._pending = list(actions)
        self._next()

    def _trail(self) -> None:
        for entry in self.engine.trail[self._sent:]:
            self.call.event("ivr", None, flow=self.flow.name, **entry)
        self._sent = len(self.engine.trail)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _next(self) -> None:
        gen = self._gen
        while self._pending and gen == self._gen and self.leg.active:
            a = self._pending.pop(0)
            kind = a["action"]
            if kind == "play":
                self._barge = a.get("barge_in", False)
                self._play(a["prompts"], gen)
                return
            if kind == "collect":
                self._collect = a
                self._arm(a["timeout_ms"])
                return
            if kind == "record":
                self.leg.media.play(_beep(), lambda: self._start_recording(a, gen))
                return
            if kind == "stop_recording":
                self._finish_recording()
                return
            if kind == "save_voicemail":
                self.apps.save_voicemail(self.call, a)
                continue
            if kind == "transfer":
                self.apps.transfer(self, a["to"], a["target"])
                return
            if kind == "hangup":            # after the far end's buffers played the last frames out
                self.loop.call_later(DRAIN_S, lambda: self.leg.hangup("normal"))
                return
            log.warning("call %s: unknown IVR action %r", self.call.id, kind)

    def _play(self, ids: list[str], gen: int) -> None:
        media = self.leg.media
        media.play(b"", on_start=lambda: self.call.event("prompt", None, prompts=list(ids), flow=self.flow.name))
        for pid in ids:
            try:
                data = self.apps.prompt(self.flow, pid)
            except audio.IvrError as e:
                self.call.event("error", None, error=str(e))
                continue
            media.play(data, (lambda pid=pid: self.call.event("prompt-end", None, prompt=pid)))
        media.play(b"", lambda: self._played(gen))

    def _played(self, gen: int) -> None:
        if gen != self._gen or not self.leg.active:
            return
        if self._pending and self._pending[0]["action"] == "collect":
            self._next()
            return
        if self._pending:
            self._next()
            return
        self._run(self.engine.prompt_done())

    def _arm(self, ms: int) -> None:
        self._cancel()
        gen = self._gen
        self._timer = self.loop.call_later(ms / 1000, lambda: gen == self._gen and self._run(self.engine.timeout()))

    @property
    def loop(self):
        return self.leg.loop

    # ------------------------------------------------------------ voicemail
    def _start_recording(self, a: dict, gen: int) -> None:
        if gen != self._gen or not self.leg.active:
            return
        self._record = dict(a, started=now_ms())
        self.leg.media.recording = bytearray()
        self.call.event("record-start", None, box=a["box"], max_ms=a["max_ms"])
        self._timer = self.loop.call_later(a["max_ms"] / 1000, self._finish_recording)

    def _finish_recording(self, hung_up: bool = False) -> None:
        rec, self._record = self._record, None
        if rec is None:
            return
        self._cancel()
        pcm = bytes(self.leg.media.recording or b"")
        self.leg.media.recording = None
        path = os.path.join(self.apps.voicemail_dir, "incoming", f"{self.call.id}-{rec['started']}.wav")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with wave.open(path, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(pcm)
        ms = len(pcm) // 16
        self.call.event("record-end", None, box=rec["box"], path=path, duration_ms=ms)
        if hung_up:
            actions = self.engine.recorded(path, ms)
            self._trail()
            for act in actions:
                if act["action"] == "save_voicemail":
                    self.apps.save_voicemail(self.call, act)
            return
        self._run(self.engine.recorded(path, ms))

