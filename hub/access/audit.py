"""The audit log: who changed what, appended, never edited."""
from __future__ import annotations

from contract.clock import now_ms
from hub.access.tables import AuditEntry


def record(actor: str, action: str, target: str = "", detail: str = "", address: str = "") -> None:
    AuditEntry.create(at_ms=now_ms(), actor=actor[:80], action=action[:40], target=target[:200],
                      detail=detail[:2000], address=(address or "")[:64])


def entries(limit: int = 100, actor: str | None = None) -> list[dict]:
    """Newest first: ``{"id", "at_ms", "actor", "action", "target", "detail", "address"}``."""
    q = AuditEntry.select().order_by(AuditEntry.id.desc()).limit(limit)
    if actor:
        q = q.where(AuditEntry.actor == actor)
    return [{"id": e.id, "at_ms": e.at_ms, "actor": e.actor, "action": e.action, "target": e.target,
             "detail": e.detail, "address": e.address} for e in q]
