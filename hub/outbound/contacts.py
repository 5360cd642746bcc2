"""A number on a campaign's list, with what the dialer knows of it (attempts, when it may be
called again, how it ended)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Contact:
    number: str                     # E.164
    name: str = ""
    customer: str = ""
    tz: str = ""                    # IANA zone; empty: the campaign's
    fields: dict = field(default_factory=dict)
    attempts: int = 0
    last_ms: int | None = None
    next_ms: int = 0
    done: bool = False
    outcome: str = ""
    callback_agent: str | None = None

    def record(self) -> dict:
        return {"number": self.number, "name": self.name, "customer": self.customer, "attempts": self.attempts,
                "fields": dict(self.fields)}
