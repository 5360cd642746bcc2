"""``scanhub edge salvage``: copy what is readable of a damaged outbox into a new one.

The station must be stopped (the salvage takes the outbox's lock, ``edge.outbox.lock_outbox``).
Then:

1. The file and its ``-wal`` are copied to a scratch folder beside them; a truncated copy is
   padded with empty pages to the size its header names, so that SQLite reads the pages that are
   left instead of refusing the whole file.  The original is never written to.
2. The copy is read table by table and row by row in ranges of ``rowid``; a range SQLite cannot
   read is split in halves down to single rows, so one bad page costs only the rows on it.  Rows
   whose columns disagree with their own payload are not taken.  ``PRAGMA quick_check`` says
   what SQLite found wrong, and the indexes (which live on other pages) name the lost rows they
   still know: their waybill and state.
3. A new outbox is written with a new epoch: every scan keeps its ``id``, state, capture times and
   payload, but gets a new ``seq`` (1, 2, 3 … in the old order) and the new ``epoch`` in its
   payload, because the hub numbers each (station, epoch) from 1 and reads a gap as a lost scan
   (docs/protocol.md).  Tombstones are copied as they are: they name a scan of the old epoch.
   Configuration, forecast and clock offsets are kept.
4. The old file (and its ``-wal``, ``-shm``, ``.hwm``) is renamed aside with a timestamp suffix and
   the new one takes its place.

The sqlite3 command-line ``.recover`` is not used: the shell Debian ships (3.40) is built without
the ``sqlite_dbpage`` table it reads pages through, and answers every file with "SQL logic
error".  The kept old file can be given to a shell that has it.

A running station uses the same copy to move to a new epoch when it finds its file holds fewer
seqs than it had stored (``Outbox.claim``).
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import struct
import tempfile
import time
from collections import Counter

from edge.outbox import (ACKED, HWM_SUFFIX, PENDING, REJECTED, SCHEMA, OutboxError, check_lines, lock_outbox,
                         open_high_water, read_high_water, storage_error, write_high_water)

CHUNK = 256                  # rows per query while the file reads well
PROBE_BUDGET = 2_000_000     # failed single-row reads before the salvage stops probing a table
STATES = {PENDING: "pending", ACKED: "acked", REJECTED: "rejected"}
SCAN_COLUMNS = "id, waybill, kind, created_ms, mono_ms, boot, payload, state, acked_ms, reason"
DELETION_COLUMNS = "id, seq, deleted_ms, operator, reason, uploaded, scan, state"
WAYBILL_COLUMNS = "id, waybill, created_ms, mono_ms, boot, payload, state, acked_ms, reason"
DROPPED_META = ("epoch", "pruned", "status", "salvage", "chain")   # written anew (status: the old station's live state)


class SalvageError(OutboxError):
    """The salvage could not be done; the outbox was left as it was."""


# ---------------------------------------------------------------- reading a damaged copy
def _pad(path: str) -> list[str]:
    """Extend a truncated copy to the size its header names (or to whole pages) with zeros."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(100)
    if len(head) < 100 or not head.startswith(b"SQLite format 3\0"):
        return [f"the file has no SQLite header ({size} bytes)"]
    page = struct.unpack(">H", head[16:18])[0]
    page = 65536 if page == 1 else page
    if page < 512 or page & (page - 1):
        return [f"its header names an impossible page size ({page})"]
    pages = struct.unpack(">I", head[28:32])[0]
    want = pages * page if head[24:28] == head[92:96] else 0     # the count is valid for this version
    if want > 4 * size + (64 << 20):                               # a damaged header, not a short file
        want = 0
    want = max(want, -(-size // page) * page)
    if want <= size:
        return []
    with open(path, "r+b") as f:
        f.truncate(want)
    return [f"the file is {size} bytes but holds {want // page} pages of {page}: truncated; "
            f"the missing {want - size} bytes were read as empty pages"]


class _Reader:
    """Reads every row SQLite can still read, one range of rowids at a time."""

    def __init__(self, path: str):
        self.db = sqlite3.connect(path, isolation_level=None)
        self.probes = 0
        self.gave_up: list[str] = []

    def close(self) -> None:
        self.db.close()

    def one(self, sql: str, default=None):
        try:
            row = self.db.execute(sql).fetchone()
        except sqlite3.Error:
            return default
        return default if row is None or row[0] is None else row[0]

    def check(self) -> list[str]:
        try:
            return check_lines(self.db.execute("PRAGMA quick_check(20)").fetchall())
        except sqlite3.Error as e:
            return [str(e)]

    def table(self, table: str, columns: str, top: int, known=()) -> tuple[list[tuple], list[int]]:
        """``(rows, bad)``: the readable rows ``(rowid, *columns)`` in rowid order, and the rowids
        that could not be read.  ``top`` is the highest rowid the file is known to have used,
        ``known`` rowids an index names."""
        sel = f"SELECT rowid, {columns} FROM {table}"
        found: dict[int, tuple] = {}
        bad: set[int] = set()
        a = min(1, self.one(f"SELECT MIN(rowid) FROM {table}", 1))
        while a <= top:
            if self.probes >= PROBE_BUDGET:
                self.gave_up.append(f"{table}: stopped reading at rowid {a} of {top}")
                break
            b = min(a + CHUNK - 1, top)
            before = len(found)
            self._split(sel, a, b, found, bad)
            window, a = range(a, b + 1), b + 1
            if len(found) == before and not bad.intersection(window):     # a hole: jump it
                try:
                    nxt = self.db.execute(f"SELECT MIN(rowid) FROM {table} WHERE rowid>?", (b,)).fetchone()[0]
                except sqlite3.Error:
                    continue                  # step on through the damage
                if nxt is None:
                    break                     # nothing further
                a = max(a, nxt)
        try:                                  # rows past what the file said it had used
            for r in self.db.execute(f"{sel} WHERE rowid>? ORDER BY rowid", (top,)):
                found.setdefault(r[0], r)
        except sqlite3.Error:
            pass
        # a damaged page can end a range read early without an error: ask for single rows at both
        # ends of every hole among the rows read (a range cut short leaves one), and for every
        # rowid an index names
        todo = set(known).difference(found)
        keys = sorted(k for k in found if k <= top) + [top + 1]
        for prev, nxt in zip(keys, keys[1:]):
            if nxt - prev > 1:
                todo.update(range(prev + 1, min(nxt, prev + 1 + CHUNK)))
                todo.update(range(max(prev + 1, nxt - CHUNK), nxt))
        todo = sorted(todo)
        for x in todo:
            if self.probes >= PROBE_BUDGET:
                self.gave_up.append(f"{table}: stopped asking for single rows at rowid {x}")
                break
            self.probes += 1
            try:
                row = self.db.execute(f"{sel} WHERE rowid=?", (x,)).fetchone()
            except sqlite3.Error:
                bad.add(x)
                continue
            if row is not None:
                found[x] = row
                bad.discard(x)
        return [found[k] for k in sorted(found)], sorted(bad)

    def _split(self, sel: str, lo: int, hi: int, found: dict, bad: set) -> None:
        todo = [(lo, hi)]
        while todo:
            a, b = todo.pop()
            self.probes += 1
            try:
                rows = self.db.execute(f"{sel} WHERE rowid BETWEEN ? AND ? ORDER BY rowid", (a, b)).fetchall()
            except sqlite3.Error:
                if a == b:
                    bad.add(a)
                else:
                    m = (a + b) // 2
                    todo += [(m + 1, b), (a, m)]
                continue
            for r in rows:
                if isinstance(r[0], int) and a <= r[0] <= b:
                    found.setdefault(r[0], r)

    def index(self, sql: str) -> list[tuple]:
        """What a covering index scan yields before the first page it cannot read."""
        out: list[tuple] = []
        try:
            cur = self.db.execute(sql)
            while True:
                got = cur.fetchmany(1000)
                if not got:
                    break
                out.extend(got)
        except sqlite3.Error:
            pass
        return out


def _scan_row(r: tuple):
    """A usable ``scans`` row (its payload a JSON object that agrees with its columns), or None."""
    seq, sid, waybill, kind, created, mono, boot, payload, state, acked, reason = r
    if not (isinstance(seq, int) and seq != 0 and isinstance(sid, str) and sid and isinstance(payload, str)
            and isinstance(created, int) and isinstance(mono, int) and isinstance(boot, str) and state in STATES):
        return None
    try:
        scan = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(scan, dict) or scan.get("id") != sid or scan.get("waybill") != waybill \
            or scan.get("kind") != kind:
        return None
    if seq < 0 and not (isinstance(scan.get("seq"), int) and scan.get("epoch")):
        return None                          # kept from an earlier epoch: it names its own seq
    return seq, sid, waybill, kind, created, mono, boot, scan, state, acked, reason


def _deletion_row(r: tuple):
    rowid, sid, seq, deleted_ms, operator, reason, uploaded, scan, state = r
    if not (isinstance(sid, str) and sid and isinstance(seq, int) and isinstance(deleted_ms, int)
            and isinstance(reason, str) and uploaded in (0, 1) and isinstance(scan, str) and state in STATES):
        return None
    try:
        body = json.loads(scan)
    except ValueError:
        return None
    if not isinstance(body, dict) or body.get("id") != sid:
        return None
    return sid, seq, deleted_ms, operator, reason, uploaded, scan, state


def _waybill_row(r: tuple):
    """A readable waybill record row (``edge.entry``), or None when it is not whole."""
    rowid, rid, waybill, created, mono, boot, payload, state, acked, reason = r
    if not (isinstance(rid, str) and rid and isinstance(waybill, str) and isinstance(created, int)
            and isinstance(mono, int) and isinstance(boot, str) and isinstance(payload, str) and state in STATES):
        return None
    try:
        body = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(body, dict) or body.get("id") != rid:
        return None
    return rid, waybill, created, mono, boot, payload, state, acked, reason


def _epoch_of(payload: str) -> str | None:
    try:
        return json.loads(payload).get("epoch")
    except (ValueError, AttributeError):
        return None


def _ranges(numbers) -> list[list[int]]:
    out: list[list[int]] = []
    for n in sorted(numbers):
        if out and out[-1][1] == n - 1:
            out[-1][1] = n
        else:
            out.append([n, n])
    return out


def _read(copy: str, noted: tuple[str, int] | None) -> dict:
    """Everything readable in the scratch copy, and what is missing."""
    rd = _Reader(copy)
    try:
        check = rd.check()
        meta_rows, meta_bad = rd.table("meta", "key, value", rd.one("SELECT MAX(rowid) FROM meta", 0))
        meta = {k: v for _, k, v in meta_rows if isinstance(k, str) and isinstance(v, str)}
        old_epoch = meta.get("epoch")
        dels_top = rd.one("SELECT MAX(rowid) FROM deletions", 0)
        del_rows, del_bad = rd.table("deletions", DELETION_COLUMNS, dels_top)
        tombstones = [d for d in map(_deletion_row, del_rows) if d is not None]
        wb_rows, wb_bad = rd.table("waybills", WAYBILL_COLUMNS, rd.one("SELECT MAX(rowid) FROM waybills", 0))
        records = [w for w in map(_waybill_row, wb_rows) if w is not None]
        # the highest seq the file handed out, from whatever still answers
        tops = [rd.one("SELECT seq FROM sqlite_sequence WHERE name='scans'", 0),
                rd.one("SELECT MAX(seq) FROM scans", 0),
                rd.one("SELECT MAX(seq) FROM scans INDEXED BY scans_state", 0),
                max((d[1] for d in tombstones if _epoch_of(d[6]) in (None, old_epoch)), default=0)]
        if noted and (old_epoch is None or noted[0] == old_epoch):
            tops.append(noted[1])
        top = max(t for t in tops if isinstance(t, int))
        # what the indexes still know (they live on pages of their own): rows to ask for, and
        # the waybill and state of the rows that are lost
        by_state = dict((seq, st) for st, seq in rd.index("SELECT state, seq FROM scans INDEXED BY scans_state"))
        by_waybill = dict((seq, wb) for wb, seq in rd.index("SELECT waybill, seq FROM scans INDEXED BY scans_waybill"))
        by_id = dict((seq, i) for i, seq in rd.index("SELECT id, seq FROM scans INDEXED BY sqlite_autoindex_scans_1"))
        scan_rows, scan_bad = rd.table("scans", SCAN_COLUMNS, top, set(by_state) | set(by_waybill) | set(by_id))
        gave_up = rd.gave_up
    finally:
        rd.close()
    scans, unusable = [], 0
    for r in scan_rows:
        s = _scan_row(r)
        if s is None:
            unusable += 1
        else:
            scans.append(s)
    if old_epoch is None:
        epochs = Counter(s[7].get("epoch") for s in scans if s[7].get("epoch"))
        old_epoch = epochs.most_common(1)[0][0] if epochs else (noted[0] if noted else None)
    return {"check": check, "meta": meta, "meta_lost": len(meta_bad), "old_epoch": old_epoch, "top": top,
            "scans": scans, "unusable": unusable, "tombstones": tombstones,
            "tombstones_lost": len(del_bad) + (len(del_rows) - len(tombstones)),
            "waybills": records, "waybills_lost": len(wb_bad) + (len(wb_rows) - len(records)),
            "by_state": by_state, "by_waybill": by_waybill, "by_id": by_id, "gave_up": gave_up,
            "read_errors": len(scan_bad)}


# ---------------------------------------------------------------- writing the new outbox
def _write(path: str, meta: dict, scans: list, tombstones: list, waybills: list = ()) -> None:
    for f in (path, path + "-wal", path + "-shm"):
        if os.path.exists(f):
            os.remove(f)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(SCHEMA)
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO meta(key, value) VALUES(?, ?)", sorted(meta.items()))
        db.executemany("INSERT INTO scans(seq, id, waybill, kind, created_ms, mono_ms, boot, payload, state, acked_ms, "
                       "reason) VALUES(?,?,?,?,?,?,?,?,?,?,?)", scans)
        db.executemany(f"INSERT INTO deletions({DELETION_COLUMNS}) VALUES(?,?,?,?,?,?,?,?)", tombstones)
        db.executemany(f"INSERT INTO waybills({WAYBILL_COLUMNS}) VALUES(?,?,?,?,?,?,?,?,?)", waybills)
        # the next scan is seq 1 + the highest pending one (never 0 or below, whatever was inserted)
        db.execute("DELETE FROM sqlite_sequence WHERE name='scans'")
        db.execute("INSERT INTO sqlite_sequence(name, seq) "
                   "VALUES('scans', MAX(0, (SELECT COALESCE(MAX(seq), 0) FROM scans)))")
        db.execute("COMMIT")
    finally:
        db.close()                       # the last connection: checkpointed into the file, -wal removed
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _aside_name(path: str, now: float) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    aside, n = f"{path}.salvaged-{stamp}", 1
    while os.path.exists(aside) or os.path.exists(aside + "-wal"):
        n += 1
        aside = f"{path}.salvaged-{stamp}-{n}"
    return aside


def _sync_dir(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def salvage(path: str, *, reason: str | None = None, locked: bool = False, now: float | None = None) -> dict:
    """Replace the outbox at ``path`` with a new one holding every readable scan and tombstone,
    in a new epoch; the old file is kept beside it.  Returns the report (see ``edge salvage``).

    Raises ``OutboxInUse`` while a station runs on it (unless ``locked``: the caller holds the
    lock) and ``SalvageError`` when the copy cannot be made (the outbox is then unchanged)."""
    if not os.path.isfile(path):
        raise SalvageError(f"no outbox at {path}")
    lock = None if locked else lock_outbox(path, "stop it before `scanhub edge salvage`")
    folder = os.path.dirname(os.path.abspath(path))
    now = time.time() if now is None else now
    new_path = path + ".salvage-new"
    scratch = None
    try:
        try:
            scratch = tempfile.mkdtemp(prefix=".salvage-", dir=folder)
            copy = os.path.join(scratch, "old.db")
            shutil.copyfile(path, copy)
            had_wal = os.path.exists(path + "-wal")
            if had_wal:
                shutil.copyfile(path + "-wal", copy + "-wal")
            notes = _pad(copy)
            if had_wal and os.path.getsize(path + "-wal"):
                notes.append(f"its -wal file ({os.path.getsize(path + '-wal')} bytes) was read too")
            noted = read_high_water(path)
            got = _read(copy, noted)
        except OSError as e:
            raise SalvageError(f"could not copy {path} to read it: {storage_error(e)}") from None
        report = _plan(path, got, notes, reason, now)
        try:
            _write(new_path, report.pop("_meta"), report.pop("_scans"), got["tombstones"], got["waybills"])
        except (sqlite3.Error, OSError) as e:
            for f in (new_path, new_path + "-wal", new_path + "-shm"):
                if os.path.exists(f):
                    os.remove(f)
            raise SalvageError(f"could not write the new outbox beside {path}: {storage_error(e)}") from None
        _swap(path, new_path, report["kept_as"])
        fd = open_high_water(path)
        try:
            write_high_water(fd, report["epoch"], report["seqs"]["new_high"])
        finally:
            os.close(fd)
        _sync_dir(folder)
        return report
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
        if lock is not None:
            lock.close()


def _plan(path: str, got: dict, notes: list[str], reason: str | None, now: float) -> dict:
    """The new outbox's rows and meta, and the report."""
    import secrets
    epoch = secrets.token_hex(4)
    while epoch == got["old_epoch"]:
        epoch = secrets.token_hex(4)
    # the old epoch's seqs with no usable scan or tombstone (an unusable row counts as missing)
    have = {s[0] for s in got["scans"] if s[0] > 0}
    have |= {t[1] for t in got["tombstones"] if _epoch_of(t[6]) in (None, got["old_epoch"])}
    deleted = {t[0] for t in got["tombstones"]}
    pending, settled, ids, skipped = [], [], set(), 0
    for seq, sid, waybill, kind, created, mono, boot, scan, state, acked, why in got["scans"]:
        if sid in deleted or sid in ids:    # a tombstone is the truth; an id is stored once
            skipped += 1
            continue
        ids.add(sid)
        if state == PENDING:                # sent again: the new epoch, numbered 1, 2, 3 …
            scan.pop("seq", None)
            scan.pop("chain", None)         # chained in the old epoch: sent unchained in the new one
            scan["epoch"] = epoch
            pending.append((sid, waybill, kind, created, mono, boot, scan, state, acked, why))
        else:                               # never sent again: kept as the hub knows it
            if seq > 0:
                scan["seq"] = seq
            settled.append((sid, waybill, kind, created, mono, boot, scan, state, acked, why))
    # settled scans take the places below 1, oldest first, so no seq of the new epoch goes to them
    rows = [(n, *r[:6], json.dumps(r[6], separators=(",", ":"), ensure_ascii=False), *r[7:])
            for n, r in zip(range(-len(settled), 0), settled)]
    rows += [(n, *r[:6], json.dumps(r[6], separators=(",", ":"), ensure_ascii=False), *r[7:])
             for n, r in enumerate(pending, 1)]
    states = Counter(r[8] for r in rows)
    missing = [n for n in range(1, got["top"] + 1) if n not in have]
    pruned = got["meta"].get("pruned")
    pruned = int(pruned) if pruned is not None and pruned.isdigit() else None
    known = {n: got["by_state"].get(n) for n in missing if n in got["by_state"] or n in got["by_waybill"]
             or n in got["by_id"]}
    lost_pending = sorted({got["by_waybill"][n] for n, st in known.items() if st == PENDING and n in got["by_waybill"]})
    # settled scans an earlier salvage kept (below 1, numbered densely) that are unreadable now
    kept = sorted(s[0] for s in got["scans"] if s[0] < 0)
    low = min(kept + [n for n in got["by_state"] if n < 0], default=0)
    kept_lost = max(0, -low - len(kept))
    kept_as = _aside_name(path, now)
    history = []
    try:
        history = json.loads(got["meta"].get("salvage", "[]"))
    except ValueError:
        pass
    record = {"at_ms": int(now * 1000), "from_epoch": got["old_epoch"], "kept_as": kept_as, "reason": reason,
              "scans": len(rows), "pending": len(pending), "missing_seqs": len(missing)}
    meta = {k: v for k, v in got["meta"].items() if k not in DROPPED_META}
    meta.update(epoch=epoch, pruned="0",
                salvage=json.dumps((history if isinstance(history, list) else []) + [record]))
    return {
        "outbox": path, "kept_as": kept_as, "old_epoch": got["old_epoch"], "epoch": epoch, "reason": reason,
        "read": {"notes": notes + got["gave_up"], "check": got["check"]},
        "saved": {"scans": len(rows), "pending": states[PENDING], "acked": states[ACKED], "rejected": states[REJECTED],
                  "tombstones": len(got["tombstones"]),
                  "tombstones_pending": sum(1 for t in got["tombstones"] if t[7] == PENDING),
                  "waybill_records": len(got["waybills"]),
                  "waybill_records_pending": sum(1 for w in got["waybills"] if w[6] == PENDING),
                  "meta": sorted(meta)},
        "seqs": {"old_high": got["top"], "new_high": len(pending), "settled_kept": len(settled)},
        "not_saved": {"missing_seqs": len(missing), "missing_ranges": _ranges(missing),
                      "pruned": pruned, "lost": None if pruned is None else max(0, len(missing) - pruned),
                      "known_lost": {STATES.get(st, "unknown"): n for st, n in Counter(known.values()).items()},
                      "lost_pending_waybills": lost_pending, "earlier_epochs_lost": kept_lost,
                      "unusable_rows": got["unusable"],
                      "skipped_rows": skipped, "read_errors": got["read_errors"],
                      "tombstones_lost": got["tombstones_lost"], "meta_lost": got["meta_lost"],
                      "waybill_records_lost": got["waybills_lost"]},
        "_meta": meta, "_scans": rows,
    }


def _swap(path: str, new_path: str, aside: str) -> None:
    """Put the old files aside and the new outbox in their place.  The old ``-wal`` goes first:
    SQLite would read a ``-wal`` it finds beside the new file as the new file's own."""
    for suffix in ("-wal", "-shm", HWM_SUFFIX):
        if os.path.exists(path + suffix):
            os.rename(path + suffix, aside + suffix)
    try:
        os.link(path, aside)                 # the path never goes missing
    except OSError:
        os.rename(path, aside)
    os.replace(new_path, path)
