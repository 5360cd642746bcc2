"""The call record shared by the signalling stacks (R2 and PRI).

Times are simulated or monotonic milliseconds from the span's clock.  ``setup_ms`` is seizure
(or SETUP) to the moment the call is known accepted at the far end (B-signal / ALERTING or
CONNECT), the figure the benchmark compares with the protocol's own minimum.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

_ids = itertools.count(1)

#: why a call ended or failed: the values a caller of this layer can rely on
REASONS = ("normal", "busy", "congestion", "unallocated", "out-of-order", "no-answer",
           "caller-abandoned", "clear-back", "glare", "seize-timeout", "mf-timeout",
           "protocol-error", "alarm", "rejected", "remote-release", "timeout")


@dataclass
class Call:
    direction: str  # "in" (offered to us) or "out" (we placed it)
    span: int
    channel: int
    dnis: str = ""
    ani: str = ""
    category: int | None = None
    state: str = "setup"  # setup, offered/accepted, answered, cleared, failed
    reason: str | None = None
    t_seize: int | None = None
    t_accept: int | None = None
    t_answer: int | None = None
    t_end: int | None = None
    id: int = field(default_factory=lambda: next(_ids))
    audio_in: bytearray = field(default_factory=bytearray, repr=False)
    audio_out: bytearray = field(default_factory=bytearray, repr=False)
    #: every CAS change and MF signal (R2) or Q.931 message (PRI) of this call
    trace: list = field(default_factory=list, repr=False)

    @property
    def setup_ms(self) -> int | None:
        if self.t_seize is None or self.t_accept is None:
            return None
        return self.t_accept - self.t_seize

    def play(self, alaw_bytes: bytes) -> None:
        """Queue A-law audio to send on the channel once the call is answered."""
        self.audio_out += alaw_bytes

    def to_dict(self) -> dict:
        return {"id": self.id, "direction": self.direction, "span": self.span,
                "channel": self.channel, "dnis": self.dnis, "ani": self.ani,
                "category": self.category, "state": self.state, "reason": self.reason,
                "t_seize": self.t_seize, "t_accept": self.t_accept, "t_answer": self.t_answer,
                "t_end": self.t_end, "setup_ms": self.setup_ms}
