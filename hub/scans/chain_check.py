"""The scan chain verified as scans commit: a break is found when it arrives, not when someone asks.

Each station chains its scans (``contract.chain``: a scan's ``chain`` is the hash of its content,
its seq and the chain of the scan before it in its epoch).  ``check`` runs inside the commit's
transaction (``hub.scans.commit.commit_scans``) after the batch's scans and tombstones are stored:

* one indexed read (``station, epoch, seq``) of the scans around the batch's seqs, so that each
  new scan meets its predecessor and the scan after it meets the new one; tombstones of scans
  that never reached the hub are read only where a predecessor is not a committed scan;
* a verdict for every seq whose answer the batch may change (the new seqs, the one before them
  and the two after), written over the earlier verdict: so scans arriving in any order, late or
  twice, end with the same verdicts (each is a function of the scans at seq-2 … seq+1 only).

A verdict is either nothing (the chain follows), ``pending`` (a chained scan whose predecessor the
hub does not hold yet: table ``chain_pending``) or a break (table ``chain_break``), one of
``BREAKS``:

* ``replayed`` — two different scans under one seq, or a scan carrying its neighbour's chain (an
  old scan sent again under a new seq);
* ``reordered`` — the scan's chain follows from the scan after it, or from the one two before
  it (under its own seq or the one before): two scans swapped, and the scan after them;
* ``renumbered`` — its chain follows from its predecessor under the next seq (a scan was removed
  before it and the later ones renumbered);
* ``missing`` — where that removal happened: the scan after it is ``renumbered``;
* ``altered`` — anything else: the scan (or the one before it) was changed, or its chain stripped
  after a chained predecessor.

``hub gaps`` reads the verdicts (``breaks``, ``pending``); ``recheck`` recomputes them from the
stored scans with the same rules and says where the stored ones differ (a store from before this
check, or restored, gets its verdicts that way).  docs/protocol.md, "The scan chain".
"""
from __future__ import annotations

import json
from collections.abc import Iterable

import peewee

from contract.chain import GENESIS, content_digest, link, values_digest
from contract.errors import PayloadError
from contract.protocol import seq_ranges
from contract.scan import CONTENT_FIELDS, validate_scan
from hub.scans import tables as m
from hub.store.db import bulk_insert, database, executemany

BREAKS = ("altered", "missing", "renumbered", "reordered", "replayed")
PENDING = "pending"

Entries = dict[int, set[tuple[str | None, str]]]   # seq -> {(chain, content digest)} of one epoch
_CHUNK = 100                                       # (station, epoch, seq range) conditions per statement


def _one(held: Entries, seq: int) -> tuple[str | None, str] | None:
    e = held.get(seq)
    if not e:
        return None
    if len(e) == 1:
        return next(iter(e))
    return min(e, key=lambda x: (x[0] or "", x[1]))


def judge(epoch: str, held: Entries, seq: int) -> str | None:
    """The verdict for the scan(s) at ``seq`` of one epoch: None (the chain follows, or an
    unchained scan of a station on older software), ``PENDING`` or one of ``BREAKS``.  Reads
    ``held`` at ``seq - 2 … seq + 1`` only."""
    if len(held[seq]) > 1:
        return "replayed"
    chain, digest = _one(held, seq)
    pred = _one(held, seq - 1)
    if not chain:
        return "altered" if pred is not None and pred[0] else None
    if seq == 1:
        prev = GENESIS
    elif pred is None:
        return PENDING
    else:
        prev = pred[0] or GENESIS
    if link(prev, epoch, seq, digest) == chain:
        return None
    before, after = _one(held, seq - 2), _one(held, seq + 1)
    if any(n is not None and n[0] == chain for n in (before, pred, after)):
        return "replayed"
    if seq > 1 and (before is not None or seq == 2):
        if link((before[0] if before else None) or GENESIS, epoch, seq - 1, digest) == chain:
            return "reordered"
    if after is not None and after[0] and link(after[0], epoch, seq + 1, digest) == chain:
        return "reordered"
    if before is not None and before[0] and link(before[0], epoch, seq, digest) == chain:
        return "reordered"                # it follows the scan two before: the one between was moved
    if link(prev, epoch, seq + 1, digest) == chain:
        return "renumbered"
    if after is not None and after[0] and link(chain, epoch, seq + 2, after[1]) == after[0]:
        return "missing"
    return "altered"


def _ranges_where(keys: list[tuple[str, str, int, int]]) -> str:
    p = database.obj.param
    return " OR ".join(f'("station" = {p} AND "epoch" = {p} AND "seq" BETWEEN {p} AND {p})' for _ in keys)


def _read(table: str, columns: str, keys: list[tuple[str, str, int, int]]):
    for i in range(0, len(keys), _CHUNK):
        chunk = keys[i:i + _CHUNK]
        yield from database.obj.execute_sql(f'SELECT "station", "epoch", "seq", {columns} FROM "{table}" '
                                            f"WHERE {_ranges_where(chunk)}", [v for k in chunk for v in k]).fetchall()


_SCAN_COLUMNS = ", ".join(f'"{m.ScanEvent._meta.fields[f].column_name}"' for f in ("chain",) + CONTENT_FIELDS)


def tombstone_entry(raw: str) -> tuple[str | None, str] | None:
    """(chain, content digest) of a tombstone's deleted scan (``Deletion.scan_json``), or None
    when it is not a scan the schema accepts."""
    try:
        scan = json.loads(raw)
        return scan.get("chain") or None, content_digest(validate_scan(scan, stamped=False))
    except (ValueError, TypeError, AttributeError, PayloadError):
        return None


def _held(window: dict[tuple[str, str], set[int]]) -> dict[tuple[str, str], Entries]:
    """What the hub holds at the ``window`` seqs: committed scans (one read), then tombstones where
    a predecessor is not a committed scan (rare: a scan deleted before it was sent)."""
    keys = [(st, ep, lo, hi) for (st, ep), seqs in window.items() for lo, hi in seq_ranges(seqs)]
    out: dict[tuple[str, str], Entries] = {}
    for st, ep, seq, chain, *content in _read("scanevent", _SCAN_COLUMNS, keys):
        out.setdefault((st, ep), {}).setdefault(seq, set()).add((chain or None, values_digest(content)))
    lacking = {}
    for key, seqs in window.items():
        held = out.get(key, {})
        top = max(held, default=0)
        gaps = {s - 1 for s in held if s > 1 and s - 1 not in held and s - 1 in seqs}
        gaps |= {s for s in seqs if s not in held and s < top}
        if gaps:
            lacking[key] = gaps
    if lacking:
        keys = [(st, ep, lo, hi) for (st, ep), seqs in lacking.items() for lo, hi in seq_ranges(seqs)]
        for st, ep, seq, raw in _read("deletion", '"scan_json"', keys):
            entry = tombstone_entry(raw)
            if entry is not None:
                out.setdefault((st, ep), {}).setdefault(seq, set()).add(entry)
    return out


def check(rows: Iterable[dict], deletions: Iterable[dict] = (), found_ms: int = 0) -> dict[str, int]:
    """Verify the chain around a committed batch (``rows``: its scans as ``validate_scan`` rows,
    ``deletions``: its tombstones as ``validate_deletion`` rows), inside the commit's transaction;
    returns how many verdicts of each kind it wrote."""
    touched: dict[tuple[str, str], set[int]] = {}
    for r in rows:
        touched.setdefault((r["station"], r.get("epoch") or ""), set()).add(r["seq"])
    for d in deletions:
        touched.setdefault((d["station"], d.get("epoch") or ""), set()).add(d["seq"])
    if not touched:
        return {}
    window = {k: {s + i for s in seqs for i in range(-3, 4) if s + i >= 1} for k, seqs in touched.items()}
    held = _held(window)
    again = {k: {s + i for s in seqs for i in (-1, 0, 1, 2) if s + i >= 1} for k, seqs in touched.items()}
    return _write(again, held, found_ms)


def _write(again: dict[tuple[str, str], set[int]], held: dict[tuple[str, str], Entries], found_ms: int) -> dict[str, int]:
    breaks, pending, clear, counts = [], [], [], {}
    for (st, ep), seqs in again.items():
        h = held.get((st, ep), {})
        clear += [(st, ep, lo, hi) for lo, hi in seq_ranges(seqs)]
        for s in sorted(seqs):
            if s not in h:
                continue
            v = judge(ep, h, s)
            if v is None:
                continue
            counts[v] = counts.get(v, 0) + 1
            if v == PENDING:
                pending.append({"station": st, "epoch": ep, "seq": s})
            else:
                breaks.append({"station": st, "epoch": ep, "seq": s, "kind": v, "found_ms": found_ms})
    for table in ("chain_break", "chain_pending"):
        executemany(f'DELETE FROM "{table}" WHERE "station" = ? AND "epoch" = ? AND "seq" BETWEEN ? AND ?', clear)
    bulk_insert(m.ChainBreak, breaks)
    bulk_insert(m.ChainPending, pending)
    return counts


def verdicts(station: str | None = None) -> dict[tuple[str, str], dict[str, list[int]]]:
    """The stored verdicts: (station, epoch) -> kind (``BREAKS`` and ``PENDING``) -> seqs."""
    out: dict[tuple[str, str], dict[str, list[int]]] = {}
    q1 = m.ChainBreak.select(m.ChainBreak.station, m.ChainBreak.epoch, m.ChainBreak.seq, m.ChainBreak.kind)
    q2 = m.ChainPending.select(m.ChainPending.station, m.ChainPending.epoch, m.ChainPending.seq)
    if station:
        q1, q2 = q1.where(m.ChainBreak.station == station), q2.where(m.ChainPending.station == station)
    for st, ep, seq, kind in q1.tuples():
        out.setdefault((st, ep), {}).setdefault(kind, []).append(seq)
    for st, ep, seq in q2.tuples():
        out.setdefault((st, ep), {}).setdefault(PENDING, []).append(seq)
    for kinds in out.values():
        for seqs in kinds.values():
            seqs.sort()
    return out


def totals() -> dict[str, int]:
    """Breaks by kind and pending scans, over the whole store (metrics, ``hub status``)."""
    out = {k: 0 for k in (*BREAKS, PENDING)}
    for kind, n in m.ChainBreak.select(m.ChainBreak.kind, peewee.fn.COUNT(m.ChainBreak.seq)).group_by(m.ChainBreak.kind).tuples():
        out[kind] = n
    out[PENDING] = m.ChainPending.select().count()
    return out


def recheck(chains: dict[tuple[str, str], list[tuple[int, str | None, str]]], station: str | None = None,
            repair: bool = False, found_ms: int = 0) -> list[dict]:
    """Recompute every verdict from ``chains`` (``hub.scans.gaps.chain_rows``: all the scans the hub
    holds) with the rules of ``judge`` and compare with the stored ones; returns the differences
    ``{"station", "epoch", "seq", "stored", "recomputed"}``; with ``repair`` the stored verdicts
    are replaced by the recomputed ones."""
    stored = verdicts(station)
    diffs = []
    held_all: dict[tuple[str, str], Entries] = {}
    for key, entries in chains.items():
        held = held_all.setdefault(key, {})
        for seq, chain, digest in entries:
            held.setdefault(seq, set()).add((chain or None, digest))
    for key in sorted(set(held_all) | set(stored)):
        held = held_all.get(key, {})
        now = {s: judge(key[1], held, s) for s in held}
        was = {s: kind for kind, seqs in stored.get(key, {}).items() for s in seqs}
        for s in sorted(set(now) | set(was)):
            if now.get(s) != was.get(s):
                diffs.append({"station": key[0], "epoch": key[1], "seq": s, "stored": was.get(s),
                              "recomputed": now.get(s)})
    if repair:
        with database.atomic():
            for model in (m.ChainBreak, m.ChainPending):
                q = model.delete()
                model_station = model.station
                (q.where(model_station == station) if station else q).execute()
            for key, held in held_all.items():
                _write({key: set(held)}, {key: held}, found_ms)
    return diffs
