"""The queue log in the hub's store: write the engine's entries, import a ``queue_log`` file, read back.

``record(entries)`` is what the engine's ``log`` sink calls (with ``Sink`` it also appends the
file): one transaction per batch.  Every stored event has the key ``base:n``: ``base`` is what the
file keeps of it (``Entry.key()``: whole seconds and every field) and ``n`` counts the earlier
events with that base, so two identical lines in one second are two events.  The engine's
events take the next ``n`` in the store; an imported file numbers its lines itself and skips the
keys the store has: importing the file after the store was down adds exactly what is missing,
and importing it twice adds nothing.
"""
from __future__ import annotations

import json
from collections import Counter

import peewee as pw

from hub.acd.queue_log import Entry, FileWriter, read_file
from hub.acd.tables import QueueLogEntry
from hub.store.db import bulk_insert, write_transaction


def _rows(entries, numbers):
    return [{"base": b, "key": f"{b}:{n}", "time_ms": e.time_ms, "callid": e.callid, "queue": e.queue,
             "agent": e.agent, "event": e.event, "data": json.dumps(list(e.data), ensure_ascii=False)} for (e, b), n in zip(entries, numbers)]


def _counts(bases) -> Counter:
    out = Counter()
    uniq = sorted(set(bases))
    for i in range(0, len(uniq), 500):
        q = (QueueLogEntry.select(QueueLogEntry.base, pw.fn.COUNT(QueueLogEntry.id))
             .where(QueueLogEntry.base.in_(uniq[i:i + 500])).group_by(QueueLogEntry.base).tuples())
        out.update(dict(q))
    return out


def record(entries) -> int:
    """Store the engine's entries, after everything stored before; returns how many."""
    keyed = [(e, e.key()) for e in entries]
    if not keyed:
        return 0
    with write_transaction():
        seen = _counts(b for _, b in keyed)
        numbers = []
        for _, b in keyed:
            numbers.append(seen[b])
            seen[b] += 1
        bulk_insert(QueueLogEntry, _rows(keyed, numbers))
    return len(keyed)


def import_file(path: str) -> dict:
    """Store the lines of a queue-log file the store does not have; ``{"lines", "stored"}``."""
    entries = read_file(path)
    seen: Counter = Counter()
    stored = 0
    for i in range(0, len(entries), 5000):
        keyed = [(e, e.key()) for e in entries[i:i + 5000]]
        numbers = []
        for _, b in keyed:
            numbers.append(seen[b])
            seen[b] += 1
        with write_transaction():
            before = QueueLogEntry.select().count()
            bulk_insert(QueueLogEntry, _rows(keyed, numbers), ignore_conflicts=True)
            stored += QueueLogEntry.select().count() - before
    return {"lines": len(entries), "stored": stored}


def _entry(row) -> Entry:
    return Entry(row.time_ms, row.callid, row.queue, row.agent, row.event, tuple(json.loads(row.data)))


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
