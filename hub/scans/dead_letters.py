"""Reading the dead-letter table: payloads the hub could not use (``commit.dead_letter`` writes them)."""
from __future__ import annotations

from contract.clock import iso
from hub.scans.tables import DeadLetter


def recent(limit: int = 50) -> list[dict]:
    """Newest first: ``{"id", "received", "received_ms", "topic", "station", "reason", "payload"}``
    (the payload's first 200 bytes as text)."""
    return [{"id": d.id, "received": iso(d.received_ms), "received_ms": d.received_ms, "topic": d.topic,
             "station": d.station, "reason": d.reason, "payload": bytes(d.payload)[:200].decode("utf-8", "replace")}
            for d in DeadLetter.select().order_by(DeadLetter.id.desc()).limit(limit)]


def count() -> int:
    return DeadLetter.select().count()
