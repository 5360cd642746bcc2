"""The queue log in the hub's store: write the engine's entries, import a ``queue_log`` file, read back.

``record(entries)`` is what the engine's ``log`` sink calls (with ``Sink`` it also appends the
file): one transaction per batch, and an event already stored (same key) is skipped, so an
import of the file after a crash, or twice, stores nothing twice.
"""
from __future__ import annotations

from hub.acd.queue_log import Entry, FileWriter, read_file
from hub.acd.tables import QueueLogEntry
from hub.store.db import bulk_insert, write_transaction


def record(entries) -> int:
    rows = [{"key": e.key(), "time_ms": e.time_ms, "callid": e.callid, "queue": e.queue, "agent": e.agent,
             "event": e.event, "data": "|".join(e.data)} for e in entries]
    if not rows:
        return 0
    with write_transaction():
        before = QueueLogEntry.select().count()
        bulk_insert(QueueLogEntry, rows, ignore_conflicts=True)
        return QueueLogEntry.select().count() - before


def import_file(path: str) -> dict:
    """Store every line of a queue-log file; ``{"lines", "stored"}`` (stored < lines: already there)."""
    entries = read_file(path)
    stored = 0
    for i in range(0, len(entries), 5000):
        stored += record(entries[i:i + 5000])
    return {"lines": len(entries), "stored": stored}


def _entry(row) -> Entry:
    return Entry(row.time_ms, row.callid, row.queue, row.agent, row.event, tuple(row.data.split("|")) if row.data else ())


def entries(since_ms: int | None = None, until_ms: int | None = None, queue: str | None = None,
            after_id: int | None = None) -> list[Entry]:
    q = QueueLogEntry.select().order_by(QueueLogEntry.time_ms, QueueLogEntry.id)
    if since_ms is not None:
        q = q.where(QueueLogEntry.time_ms >= since_ms)
    if until_ms is not None:
        q = q.where(QueueLogEntry.time_ms < until_ms)
    if queue is not None:
        q = q.where((QueueLogEntry.queue == queue) | (QueueLogEntry.queue == "NONE"))
    if after_id is not None:
        q = q.where(QueueLogEntry.id > after_id)
    return [_entry(r) for r in q]


def entries_of_calls(callids) -> list[Entry]:
    out = []
    ids = sorted(set(callids))
    for i in range(0, len(ids), 500):
        q = QueueLogEntry.select().where(QueueLogEntry.callid.in_(ids[i:i + 500]))
        out.extend(_entry(r) for r in q.order_by(QueueLogEntry.time_ms, QueueLogEntry.id))
    return out


class Sink:
    """The engine's ``log``: the store, and the Asterisk file when ``path`` is given."""

    def __init__(self, path: str | None = None):
        self.file = FileWriter(path) if path else None

    def __call__(self, batch) -> None:
        if self.file is not None:
            self.file.write(batch)
        record(batch)


def last_agents(window_ms: int, now: int, directory=None) -> dict[str, tuple[str, int]]:
    """For the sticky agent after a restart: customer (``directory(number)``, else the number) ->
    (the agent of their last answered call, when it ended) over the last ``window_ms``."""
    from hub.acd import kpi
    out: dict[str, tuple[str, int]] = {}
    for r in kpi.call_waits(entries(now - window_ms, now)):
        if r["agent"] and r["talk_ms"] is not None and r["caller"]:
            key = (directory(r["caller"]) if directory else None) or r["caller"]
            out[str(key)] = (r["agent"], r["entered_ms"] + r["wait_ms"] + r["talk_ms"] + r["hold_ms"])
    return out
