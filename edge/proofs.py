"""Proof-of-delivery images at the station: kept durably, sent after the scans, resumable
(docs/protocol.md, "Proof of delivery"; chunk format: ``contract.proof``).

``ProofQueue(path)`` is a SQLite file of its own beside the outbox (``<outbox>.proofs``), so a
large image never slows the scans' commits and ``scanhub edge attach`` can add one while the
station runs.  ``attach(waybill, data)`` checks the image (its type from its magic bytes, its
size) and stores it under its SHA-256: attaching the same image twice stores it once.

``ProofSender`` is driven by the uplink's thread: while scans wait for the hub it sends nothing
(scans first); otherwise it sends one chunk of the oldest unfinished image and waits for the
hub's answer, which says how many bytes the hub holds (``have``): the next chunk starts there,
so a restart or a lost message resumes where the hub stopped.  A chunk unanswered for
``timeout_ms`` is sent again.  An image the hub reports complete is marked sent (the bytes are
kept ``keep_days`` for ``scanhub edge proofs``, then dropped).
"""
from __future__ import annotations

import json
import logging
import sqlite3
import threading

from contract import proof as C
from contract.scan import WAYBILL_LEN
from edge.clock import mono_ms, wall_ms
from edge.errors import EdgeError

log = logging.getLogger("scanhub.edge.proofs")


class ProofRefused(EdgeError):
    """An image the station will not send (not a photo or receipt, too big, no waybill)."""


def queue_path(outbox_path: str) -> str:
    return outbox_path + ".proofs"


class ProofQueue:
    def __init__(self, path: str):
        self.path = path
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS proof (sha256 TEXT NOT NULL, waybill TEXT NOT NULL, "
                         "scan TEXT, type TEXT NOT NULL, size INTEGER NOT NULL, data BLOB NOT NULL, "
                         "added_ms INTEGER NOT NULL, sent INTEGER NOT NULL DEFAULT 0, have INTEGER NOT NULL DEFAULT 0, "
                         "error TEXT, PRIMARY KEY (sha256, waybill))")

    def close(self) -> None:
        self._db.close()

    def attach(self, waybill: str, data: bytes, scan: str | None = None) -> dict:
        """Keep ``data`` as proof of ``waybill`` (and of sign scan ``scan``); returns its row
        (without the bytes).  Raises ``ProofRefused`` with the reason."""
        if not isinstance(waybill, str) or not 0 < len(waybill) <= WAYBILL_LEN:
            raise ProofRefused(f"a waybill number of 1-{WAYBILL_LEN} characters is needed, not {waybill!r}")
        if not data:
            raise ProofRefused("the image is empty")
        if len(data) > C.MAX_BYTES:
            raise ProofRefused(f"the image is {len(data)} bytes, more than {C.MAX_BYTES} (scan it smaller)")
        kind = C.sniff(data)
        if kind is None:
            raise ProofRefused("not a JPEG, PNG, TIFF or PDF file: a proof must be a photo or a scanned receipt")
        sha = C.digest(data)
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO proof (sha256, waybill, scan, type, size, data, added_ms) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?)", (sha, waybill, scan, kind, len(data), data, wall_ms()))
        return {"sha256": sha, "waybill": waybill, "scan": scan, "type": kind, "size": len(data)}

    def list(self) -> list[dict]:
        with self._lock:
            rows = self._db.execute("SELECT sha256, waybill, scan, type, size, added_ms, sent, have, error FROM proof "
                                    "ORDER BY added_ms, sha256").fetchall()
        keys = ("sha256", "waybill", "scan", "type", "size", "added_ms", "sent", "have", "error")
        return [dict(zip(keys, r), sent=bool(r[6])) for r in rows]

    def pending(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM proof WHERE sent = 0").fetchone()[0]

    def next_unsent(self):
        with self._lock:
            return self._db.execute("SELECT sha256, waybill, scan, type, size, data, have FROM proof WHERE sent = 0 "
                                    "ORDER BY added_ms, sha256 LIMIT 1").fetchone()

    def record(self, sha256: str, waybill: str, have: int, complete: bool, error: str | None) -> None:
        with self._lock:
            self._db.execute("UPDATE proof SET have = ?, sent = ?, error = ? WHERE sha256 = ? AND waybill = ?",
                             (have, int(complete), error, sha256, waybill))


class ProofSender:
    """Sends a ``ProofQueue`` one chunk at a time (see the module docstring)."""

    def __init__(self, queue: ProofQueue, publish, scans_waiting, timeout_ms: int = 10_000):
        self.queue, self.publish, self.scans_waiting = queue, publish, scans_waiting
        self.timeout_ms = timeout_ms
        self.waiting: tuple[str, str, int] | None = None    # (sha256, waybill, offset) sent, unanswered
        self.stats = {"chunks_sent": 0, "proofs_sent": 0, "resends": 0}

    def reset(self) -> None:
        """A new connection: anything unanswered is sent again from what the hub says it holds."""
        self.waiting = None

    def tick(self) -> None:
        if self.waiting is not None:
            if mono_ms() - self.waiting[2] < self.timeout_ms:
                return
            self.stats["resends"] += 1
            self.waiting = None
        if self.scans_waiting():
            return
        row = self.queue.next_unsent()
        if row is None:
            return
        sha, waybill, scan, kind, size, data, have = row
        meta = {"sha256": sha, "waybill": waybill, "scan": scan, "type": kind, "size": size}
        offset = have if 0 <= have < size else 0
        self.publish(C.chunk(meta, bytes(data), offset))
        self.waiting = (sha, waybill, mono_ms())
        self.stats["chunks_sent"] += 1

    def on_ack(self, payload: bytes) -> bool:
        """Apply the hub's answer; True when it settled the chunk in flight (send the next)."""
        try:
            body = json.loads(payload)
            sha, waybill, have = str(body["sha256"]), str(body["waybill"]), int(body["have"])
            complete, error = bool(body.get("complete")), body.get("error")
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed proof acknowledgement")
            return False
        if error:
            log.warning("the hub refused part of the proof of %s: %s", waybill, error)
        self.queue.record(sha, waybill, have, complete, error)
        if complete:
            self.stats["proofs_sent"] += 1
        if self.waiting is not None and self.waiting[:2] == (sha, waybill):
            self.waiting = None
            return True
        return False
