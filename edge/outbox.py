"""The station's durable outbox: every accepted scan is in this SQLite file before the good beep.

* WAL journal, ``synchronous=FULL``: a committed scan survives power loss and ``kill -9``.
* Group commit: the first capture to arrive writes (no thread hand-off on a quiet station);
  captures that arrive while it commits queue up and the next leader writes them all in one
  transaction, so a burst from several guns costs one fsync per group, not per scan.
* Nothing leaves the outbox until the hub acknowledges it: rows go ``pending`` -> ``acked`` (or
  ``rejected`` with the hub's reason) and acked rows are pruned only after ``keep_acked_days``.
* A deletion is audited: the scan moves to ``deletions`` as a tombstone that is itself uploaded.
* Limits: a pending count (warning at 80 %; when full, new scans are *refused* with a clear reason
  and the operator hears the error beep) and an age (a warning when pending scans are older than
  ``max_age_days``; old scans are still kept and sent).  Nothing is ever dropped silently.
* Damage: a file SQLite cannot read raises ``OutboxDamaged`` (the file, what SQLite said); the
  running station checks the file when it claims it (``PRAGMA quick_check``), and
  ``scanhub edge salvage`` (``edge.salvage``) copies what is readable into a new outbox.
* Lost commits: the running station notes the highest seq it has stored in ``<outbox>.hwm``, a
  file outside SQLite, after each commit.  A file that holds fewer (its ``-wal`` file deleted, an
  older copy put back) would hand out those seqs again within the same epoch, so the hub could not
  see the loss: when it claims such a file the station starts a new epoch (``edge.salvage``) and
  logs why.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass

from contract.chain import content_digest, link
from contract.clock import CLOCK_SANE_MS
from contract.errors import PayloadError
from contract.scan import validate_scan
from edge.errors import EdgeError

log = logging.getLogger("scanhub.edge")

PENDING, ACKED, REJECTED = 0, 1, 2
GROUP_LINGER_S = 0.001
WARN_FRACTION = 0.8

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS scans (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    waybill    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    created_ms INTEGER NOT NULL,          -- station wall clock at capture (may be untrusted)
    mono_ms    INTEGER NOT NULL,          -- monotonic clock at capture
    boot       TEXT NOT NULL,             -- boot id: monotonic readings compare within one boot
    payload    TEXT NOT NULL,             -- the scan as captured (JSON), without time correction
    state      INTEGER NOT NULL DEFAULT 0,
    acked_ms   INTEGER,
    reason     TEXT
);
CREATE INDEX IF NOT EXISTS scans_state ON scans(state, seq);
CREATE INDEX IF NOT EXISTS scans_waybill ON scans(waybill);
CREATE TABLE IF NOT EXISTS deletions (
    id         TEXT PRIMARY KEY,          -- the deleted scan's id
    seq        INTEGER NOT NULL,
    deleted_ms INTEGER NOT NULL,
    operator   TEXT,
    reason     TEXT NOT NULL,
    uploaded   INTEGER NOT NULL,          -- had the hub committed the scan before it was deleted?
    scan       TEXT NOT NULL,
    state      INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS waybills (     -- waybill records (entries and corrections) for the hub
    id         TEXT PRIMARY KEY,
    waybill    TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    mono_ms    INTEGER NOT NULL,
    boot       TEXT NOT NULL,
    payload    TEXT NOT NULL,          -- the record as entered (JSON), without time correction
    state      INTEGER NOT NULL DEFAULT 0,
    acked_ms   INTEGER,
    reason     TEXT
);
CREATE INDEX IF NOT EXISTS waybills_state ON waybills(state, created_ms);
CREATE INDEX IF NOT EXISTS waybills_waybill ON waybills(waybill);
"""


def _digest(scan: dict) -> str | None:
    """The scan's content digest for the chain, or None for a scan the hub's schema refuses
    (kept unchained: the hub reports it, it never breaks the capture)."""
    try:
        return content_digest(validate_scan(scan, stamped=False))
    except PayloadError:
        return None


class OutboxError(EdgeError):
    """The outbox cannot take a scan (full, or the disk refused the write)."""


class OutboxFull(OutboxError):
    pass


class OutboxInUse(OutboxError):
    """Another running station already owns this outbox."""


class OutboxDamaged(OutboxError):
    """SQLite cannot read the outbox file (truncated, a damaged page, not a database at all).

    ``path`` is the file and ``detail`` what SQLite said; the CLI adds the salvage command with
    the station file it was given (``hint``)."""

    def __init__(self, path: str, detail: str):
        self.path, self.detail = path, detail
        super().__init__(f"outbox {path} is damaged: SQLite says \"{detail}\"")

    def hint(self, config_path: str = "station.yaml") -> str:
        return f"{self} - run `scanhub edge salvage --config {config_path}`"


# SQLite's primary result codes that mean the file itself is bad (or the disk under it)
SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_NOTADB = 10, 11, 26


def is_damage(e: BaseException) -> bool:
    """True for a SQLite error that says the file cannot be read as a database."""
    code = getattr(e, "sqlite_errorcode", None)
    if isinstance(e, sqlite3.DatabaseError) and code is not None:
        return code & 0xFF in (SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_NOTADB)
    return isinstance(e, sqlite3.DatabaseError) and type(e) is sqlite3.DatabaseError


def check_lines(rows) -> list[str]:
    """``PRAGMA quick_check`` rows as one line per problem (``["ok"]`` for a whole file)."""
    return [line for r in rows for line in str(r[0]).splitlines()
            if line.strip() and not line.startswith("*** in database")]


def lock_outbox(path: str, purpose: str = "one `scanhub edge run` per station file"):
    """The exclusive lock on ``<path>.lock`` that one running station holds (``Outbox.claim``)
    and ``scanhub edge salvage`` takes too; returns the open file (closing it releases the lock,
    and so does the end of the process, kill -9 included).  Raises ``OutboxInUse`` naming the
    process that holds it, with ``purpose`` saying what to do."""
    f = open(path + ".lock", "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "?"
        f.close()
        raise OutboxInUse(f"outbox {path} is in use by another running station (pid {holder}): {purpose}") from None
    f.seek(0)
    f.truncate()
    f.write(str(os.getpid()))
    f.flush()
    return f


HWM_SUFFIX = ".hwm"
_HWM_WIDTH = 64


def read_high_water(path: str) -> tuple[str, int] | None:
    """``(epoch, seq)`` from ``<path>.hwm``, or None when it is missing or unreadable."""
    try:
        with open(path + HWM_SUFFIX, "rb") as f:
            epoch, seq = f.read(_HWM_WIDTH).decode("ascii").split()
        return epoch, int(seq)
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def write_high_water(fd: int, epoch: str, seq: int) -> None:
    """Overwrite the high-water record in place (one small write; no fsync: it only has to
    outlive the outbox's own ``-wal`` file, which a power cut does not take)."""
    os.pwrite(fd, f"{epoch} {seq}".ljust(_HWM_WIDTH - 1).encode("ascii") + b"\n", 0)


def open_high_water(path: str) -> int:
    return os.open(path + HWM_SUFFIX, os.O_RDWR | os.O_CREAT, 0o644)


def high_water(db: sqlite3.Connection) -> int:
    """The highest seq this outbox file has ever handed out (AUTOINCREMENT keeps it in
    ``sqlite_sequence``, so pruned and deleted scans count too)."""
    top = db.execute("SELECT COALESCE(MAX(seq), 0) FROM scans").fetchone()[0]
    try:
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name='scans'").fetchone()
    except sqlite3.OperationalError:         # no AUTOINCREMENT row yet: nothing was ever stored
        row = None
    return max(top, row[0] if row else 0)


@dataclass
class Limits:
    max_pending: int = 2_000_000        # scans waiting for the hub
    max_age_days: float = 30.0          # oldest pending scan
    keep_acked_days: float = 7.0        # acked scans kept for local queries, then pruned


def read_error(e: sqlite3.Error, path: str) -> OutboxError:
    """The error SQLite gave reading the outbox at ``path``, as one line: ``OutboxDamaged`` when
    the file itself is bad, else what SQLite said."""
    return OutboxDamaged(path, str(e)) if is_damage(e) else OutboxError(f"outbox {path}: SQLite says \"{e}\"")


def storage_error(e: BaseException, path: str | None = None) -> OutboxError:
    """An ``OutboxError`` for a failed write, with the reason an operator can act on: a full disk,
    a damaged file (``OutboxDamaged``, when ``path`` names the outbox), or what SQLite said."""
    text = str(e)
    if isinstance(e, sqlite3.Error) and ("full" in text.lower() or getattr(e, "sqlite_errorcode", None) == 13) \
            or isinstance(e, OSError) and e.errno == 28:
        return OutboxError("disk full: the station cannot store scans until space is freed on its disk")
    if path is not None and is_damage(e):
        return OutboxDamaged(path, text)
    return OutboxError(f"could not store the scan: {text}")


def _connect(path: str) -> sqlite3.Connection:
    c = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    c.execute("PRAGMA journal_mode=WAL")
    c.execute("PRAGMA synchronous=FULL")
    c.execute("PRAGMA busy_timeout=30000")
    return c


class _Request:
    """Captures waiting for a group commit (one gun's scan, or a cradle upload).

    ``signal`` is a lock held from the start: the waiting gun blocks acquiring it, and whoever has
    news for it (its scans are committed, or it is to lead the next round) releases it — the
    cheapest hand-off between threads Python has."""
    __slots__ = ("items", "done", "signal", "lead", "seqs", "error")

    def __init__(self, items):
        self.items = items
        self.done = False
        self.signal = threading.Lock()
        self.signal.acquire()
        self.lead = False
        self.seqs: list[int] = []
        self.error: Exception | None = None

    def notify(self) -> None:
        try:
            self.signal.release()
        except RuntimeError:          # already signalled and not yet seen: one wake-up is enough
            pass


class Outbox:
    """One station's SQLite outbox (see the module docstring for the guarantees).

    ``add`` / ``add_many`` store scans durably (group commit) and return their sequence numbers;
    ``pending_after`` gives the uplink what to send; ``mark_acked`` applies the hub's answer
    (acknowledged ranges and rejections); ``delete`` moves a scan to an audited tombstone;
    ``counts`` and ``usage`` feed the station status.  ``epoch`` names this file: sequences restart
    only with a new epoch, so the hub can tell a new outbox from a lost scan.
    """

    def __init__(self, path: str, limits: Limits | None = None):
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        self.path = path
        self.limits = limits or Limits()
        self._lock = threading.Lock()           # guards self._db (writes and uplink queries)
        self._rlock = threading.Lock()
        self._db = self._rdb = None
        self._hwm: int | None = None            # <outbox>.hwm, open while claimed
        self.renewed: dict | None = None        # the report when claim() started a new epoch
        try:
            self._open()
        except sqlite3.DatabaseError as e:
            self._close_connections()
            raise read_error(e, path) from None
        self._waiting: list[list] = []          # captures queued for the next group commit
        self._qlock = threading.Lock()
        self._queued = threading.Condition(self._qlock)
        self._leader = False
        self._last_group = 1
        self._closed = False
        self._claim = None

    def _open(self) -> None:
        """Open both connections, create the tables in a new file, read the epoch and the count."""
        existed = os.path.exists(self.path) and os.path.getsize(self.path) > 0
        self._db = _connect(self.path)
        if existed:
            names = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            # never create tables in a stranger's file; a file with no table at all is an outbox
            # whose creation was cut short (the WAL pragma writes the header before the tables)
            if names and not {"meta", "scans"} <= names:
                raise sqlite3.DatabaseError("no outbox tables in this file "
                                            "(not an outbox, or its first page is damaged)")
        # all tables or none: a station killed while creating its outbox can start again
        self._db.executescript("BEGIN IMMEDIATE;" + SCHEMA + "COMMIT;")
        # capture-side lookups get their own connection: WAL readers never wait for a commit's fsync
        self._rdb = _connect(self.path)
        self.epoch = self.get_meta("epoch")
        if self.epoch is None:
            self.epoch = secrets.token_hex(4)
            self.set_meta("epoch", self.epoch)
            if self.max_seq() == 0:
                self.set_meta("pruned", "0")     # counted from the start: salvage tells pruned from lost
        self._pending = self._count_pending()
        self._chain_head = self.get_meta("chain") or None     # the last scan's chain (contract.chain)

    def _close_connections(self) -> None:
        for attr in ("_db", "_rdb"):
            c = getattr(self, attr)
            if c is not None:
                try:
                    c.close()
                except sqlite3.Error:
                    pass
                setattr(self, attr, None)

    # ------------------------------------------------------------ transactions
    @contextlib.contextmanager
    def _transaction(self):
        """``BEGIN IMMEDIATE`` … ``COMMIT`` on the writer connection (the caller holds ``_lock``).
        On an error it rolls back while a transaction is still open (on a full disk SQLite has
        already ended it, and a second ROLLBACK would hide the real error), and raises the
        storage error as an ``OutboxError`` that says what happened (``OutboxDamaged`` when SQLite
        finds the file damaged)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException as e:
            if self._db.in_transaction:
                try:
                    self._db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            if isinstance(e, (sqlite3.Error, OSError)):
                raise storage_error(e, self.path) from e
            raise

    # ------------------------------------------------------------ meta
    def get_meta(self, key: str, default=None):
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                             (key, value))

    # ------------------------------------------------------------ capture side
    def usage(self, now_ms: int | None = None) -> dict:
        """Fill level: ``{"pending", "limit", "fraction", "oldest_ms", "warning", "full", "too_old"}``.

        Ages count only from captures with a sane wall clock (a Pi without RTC may say 1970).
        """
        now_ms = now_ms or int(time.time() * 1000)
        with self._lock:
            oldest = self._db.execute(f"SELECT MIN(created_ms) FROM scans WHERE state={PENDING} AND created_ms>?",
                                      (CLOCK_SANE_MS,)).fetchone()[0]
        frac = self._pending / self.limits.max_pending if self.limits.max_pending else 0.0
        too_old = bool(oldest and self.limits.max_age_days
                       and now_ms - oldest > self.limits.max_age_days * 86_400_000)
        return {"pending": self._pending, "limit": self.limits.max_pending, "fraction": round(frac, 4),
                "oldest_ms": oldest, "warning": frac >= WARN_FRACTION or too_old, "full": frac >= 1.0,
                "too_old": too_old}

    def _check_room(self) -> None:
        if self.limits.max_pending and self._pending >= self.limits.max_pending:
            raise OutboxFull(f"outbox full: {self._pending} scans wait for the hub "
                             f"(limit {self.limits.max_pending}); check the uplink")

    def add(self, scan: dict, created_ms: int, mono_ms: int, boot: str) -> int:
        """Durably store ``scan`` (its ``id``, ``waybill``, ``kind`` are required); returns its seq.

        Returns only after the row is committed with ``synchronous=FULL``.  Raises ``OutboxFull``
        when the limit is reached and ``OutboxError`` when the write fails.
        """
        return self.add_many([(scan, created_ms, mono_ms, boot)])[0]

    def add_many(self, items: list[tuple[dict, int, int, str]]) -> list[int]:
        """Store several ``(scan, created_ms, mono_ms, boot)`` in one transaction (a cradle upload);
        all or none.  Returns their seqs in order."""
        if self._closed:
            raise OutboxError("outbox is closed")
        if self.limits.max_pending and self._pending + len(items) > self.limits.max_pending:
            self._check_room()
            raise OutboxFull(f"outbox full: {len(items)} scans do not fit "
                             f"({self._pending} of {self.limits.max_pending} waiting for the hub)")
        # serialise here, in the capturing thread, while the leader may be waiting on the disk
        req = _Request([(scan, created, mono, boot, json.dumps(scan, separators=(",", ":"), ensure_ascii=False),
                         _digest(scan)) for scan, created, mono, boot in items])
        with self._qlock:
            self._waiting.append(req)
            if self._leader:
                self._queued.notify()
            else:
                self._leader = req.lead = True
        while True:
            if req.lead:
                req.lead = False
                self._commit_round()
            if req.done:
                break
            req.signal.acquire()
        if req.error is not None:
            raise req.error
        return req.seqs

    def _commit_round(self) -> None:
        """As the leader: commit everything queued in one transaction, then hand the lead to the
        next waiting capture (so this gun goes back to scanning and joins the next group).

        When the last group had company (several guns at once), wait up to ``GROUP_LINGER_S``
        for as many guns to queue their next scan, so a burst commits in few large groups."""
        with self._qlock:
            if self._last_group > 1:
                deadline = time.monotonic() + GROUP_LINGER_S
                while len(self._waiting) < self._last_group and time.monotonic() < deadline:
                    self._queued.wait(deadline - time.monotonic())
            group, self._waiting = self._waiting, []
        try:
            self._write_group(group)
        except BaseException as e:           # never leave waiting guns hanging
            for req in group:
                if not req.done:
                    req.error = e if isinstance(e, OutboxError) else OutboxError(f"could not store the scan: {e!r}")
                    req.done = True
                    req.notify()
        finally:
            self._hand_over(len(group))

    def _hand_over(self, last_group: int) -> None:
        with self._qlock:
            self._last_group = last_group
            if self._waiting:
                nxt = self._waiting[0]
                nxt.lead = True
                nxt.notify()
            else:
                self._leader = False

    def _write_group(self, group: list[_Request]) -> None:
        try:
            with self._lock:
                head = self._chain_head
                with self._transaction():
                    for req in group:
                        seqs = []
                        for scan, created, mono, boot, payload, digest in req.items:
                            cur = self._db.execute(
                                "INSERT INTO scans(id, waybill, kind, created_ms, mono_ms, boot, payload) "
                                "VALUES(?,?,?,?,?,?,?)",
                                (scan["id"], scan["waybill"], scan["kind"], created, mono, boot, payload))
                            seq = cur.lastrowid
                            # the hash chain (contract.chain): the scan's own payload carries it
                            head = link(head, self.epoch, seq, digest) if digest else None
                            if head:
                                self._db.execute("UPDATE scans SET payload=? WHERE seq=?",
                                                 (payload[:-1] + ',"chain":"' + head + '"}', seq))
                            seqs.append(seq)
                        req.seqs = seqs
                    self._db.execute("INSERT INTO meta(key, value) VALUES('chain', ?) "
                                     "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (head or "",))
                self._chain_head = head
                self._pending += sum(len(req.items) for req in group)
                stored = [req.seqs[-1] for req in group if req.seqs]
                if stored:
                    self._note_high_water(max(stored))
        except OutboxError as e:
            for req in group:
                req.error = e
        for req in group:
            req.done = True
            req.notify()

    # ------------------------------------------------------------ uplink side
    def pending_after(self, after_seq: int, limit: int, upto: int | None = None) -> list[tuple]:
        """Pending rows ``(seq, payload, mono_ms, boot, created_ms)`` with seq > after_seq (<= upto)."""
        sql = f"SELECT seq, payload, mono_ms, boot, created_ms FROM scans WHERE state={PENDING} AND seq>?"
        args: list = [after_seq]
        if upto is not None:
            sql += " AND seq<=?"
            args.append(upto)
        sql += " ORDER BY seq LIMIT ?"
        args.append(limit)
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def max_seq(self) -> int:
        with self._lock:       # (scans a salvage kept from an earlier epoch sit below 1)
            return self._db.execute("SELECT MAX(0, COALESCE(MAX(seq), 0)) FROM scans").fetchone()[0]

    def mark_acked(self, ranges: list[list[int]], rejected: list[dict], acked_ms: int) -> int:
        """Apply a hub acknowledgement; returns how many pending rows it settled."""
        settled = 0
        with self._lock:
            with self._transaction():
                for lo, hi in ranges:
                    cur = self._db.execute(f"UPDATE scans SET state={ACKED}, acked_ms=? "
                                           f"WHERE state={PENDING} AND seq BETWEEN ? AND ?",
                                           (acked_ms, int(lo), int(hi)))
                    settled += cur.rowcount
                for r in rejected:
                    cur = self._db.execute(f"UPDATE scans SET state={REJECTED}, acked_ms=?, reason=? "
                                           f"WHERE state={PENDING} AND seq=?",
                                           (acked_ms, str(r.get("reason"))[:500], int(r["seq"])))
                    settled += cur.rowcount
            self._pending -= settled
        return settled

    def _count_pending(self) -> int:
        with self._lock:
            return self._db.execute(f"SELECT COUNT(*) FROM scans WHERE state={PENDING}").fetchone()[0]

    @property
    def pending(self) -> int:
        return self._pending

    # ------------------------------------------------------------ deletions
    def delete(self, scan_id: str, reason: str, operator: str | None, deleted_ms: int) -> dict:
        """Delete a scan with an audit tombstone; raises ``KeyError`` for an unknown id."""
        if not reason or not reason.strip():
            raise ValueError("a deletion needs a reason")
        with self._lock:
            with self._transaction():
                row = self._db.execute("SELECT seq, payload, state FROM scans WHERE id=?", (scan_id,)).fetchone()
                if row is None:
                    raise KeyError(f"no scan {scan_id} in this outbox")
                seq, payload, state = row
                if seq < 1:     # kept by a salvage from an earlier epoch: named as the hub knows it
                    seq = json.loads(payload).get("seq", seq)
                self._db.execute("INSERT INTO deletions(id, seq, deleted_ms, operator, reason, uploaded, scan) "
                                 "VALUES(?,?,?,?,?,?,?)",
                                 (scan_id, seq, deleted_ms, operator, reason.strip(), int(state == ACKED), payload))
                self._db.execute("DELETE FROM scans WHERE id=?", (scan_id,))
            if state == PENDING:
                self._pending -= 1
        return {"id": scan_id, "seq": seq, "uploaded": state == ACKED}

    def pending_deletions(self, limit: int = 100) -> list[dict]:
        with self._lock:
            rows = self._db.execute("SELECT id, deleted_ms, operator, reason, uploaded, scan, seq FROM deletions "
                                    f"WHERE state={PENDING} ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [{"id": r[0], "deleted_ms": r[1], "operator": r[2], "reason": r[3], "uploaded": bool(r[4]),
                 "scan": dict(json.loads(r[5]), seq=r[6])} for r in rows]

    def mark_deletions_acked(self, ids: list[str], rejected: list[str] = ()) -> None:
        """The hub has the tombstones ``ids``; ``rejected`` ones it refused (kept, not resent)."""
        with self._lock, self._transaction():
            self._db.executemany(f"UPDATE deletions SET state={ACKED} WHERE id=?", [(i,) for i in ids])
            self._db.executemany(f"UPDATE deletions SET state={REJECTED} WHERE id=?", [(i,) for i in rejected])

    # ------------------------------------------------------------ waybill records
    def add_waybill(self, record: dict, created_ms: int, mono: int, boot: str) -> None:
        """Store one waybill record durably (its own transaction); the uplink sends it with the
        next batch and it stays until the hub's ack names its id."""
        with self._lock:
            with self._transaction():
                self._db.execute("INSERT INTO waybills(id, waybill, created_ms, mono_ms, boot, payload) "
                                 "VALUES(?,?,?,?,?,?)",
                                 (record["id"], record["waybill"], created_ms, mono, boot,
                                  json.dumps(record, ensure_ascii=False, sort_keys=True)))

    def pending_waybills(self, limit: int = 100) -> list[tuple]:
        """Pending records ``(id, payload, mono_ms, boot, created_ms)``, oldest first."""
        with self._lock:
            return self._db.execute("SELECT id, payload, mono_ms, boot, created_ms FROM waybills "
                                    f"WHERE state={PENDING} ORDER BY created_ms, id LIMIT ?", (limit,)).fetchall()

    def mark_waybills_acked(self, ids: list[str], rejected: list[tuple[str, str]], acked_ms: int) -> None:
        """The hub has the records ``ids``; ``rejected``: ``(id, reason)`` it refused (kept, not resent)."""
        with self._lock, self._transaction():
            self._db.executemany(f"UPDATE waybills SET state={ACKED}, acked_ms=? WHERE id=? AND state={PENDING}",
                                 [(acked_ms, i) for i in ids])
            self._db.executemany(f"UPDATE waybills SET state={REJECTED}, acked_ms=?, reason=? "
                                 f"WHERE id=? AND state={PENDING}",
                                 [(acked_ms, str(r)[:500], i) for i, r in rejected])

    def waybill_records(self, waybill: str | None = None) -> list[dict]:
        """The records this station entered (of one waybill), oldest first, each with its
        ``state`` and the hub's ``reason`` when it refused it."""
        sql, args = "SELECT payload, state, reason FROM waybills", []
        if waybill is not None:
            sql += " WHERE waybill=?"
            args.append(waybill)
        with self._rlock:
            rows = self._rdb.execute(sql + " ORDER BY created_ms, id", args).fetchall()
        return [dict(json.loads(p), state=st, reason=r) for p, st, r in rows]

    # ------------------------------------------------------------ queries and upkeep
    def scans_since(self, since_ms: int) -> list[dict]:
        """Scans (any state) captured at or after ``since_ms`` (station wall clock), oldest first."""
        with self._rlock:
            rows = self._rdb.execute("SELECT payload FROM scans WHERE created_ms>=? ORDER BY seq", (since_ms,)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def captures_since(self, since_ms: int) -> list[tuple[str, str, int]]:
        """``(waybill, kind, created_ms)`` of scans captured at or after ``since_ms``."""
        with self._rlock:
            return self._rdb.execute("SELECT waybill, kind, created_ms FROM scans WHERE created_ms>=?",
                                     (since_ms,)).fetchall()

    def last_ack_ms(self) -> int | None:
        with self._lock:
            return self._db.execute("SELECT MAX(acked_ms) FROM scans").fetchone()[0]

    def last_capture(self, waybill: str, kind: str) -> int | None:
        """Wall time of the latest capture of ``waybill`` as ``kind`` (for repeat-scan warnings)."""
        with self._rlock:
            row = self._rdb.execute("SELECT MAX(created_ms) FROM scans WHERE waybill=? AND kind=?",
                                    (waybill, kind)).fetchone()
        return row[0] if row else None

    def scans(self, state: int | None = None, limit: int | None = None) -> list[dict]:
        sql = "SELECT seq, payload, state, reason FROM scans"
        args: list = []
        if state is not None:
            sql += " WHERE state=?"
            args.append(state)
        sql += " ORDER BY seq"
        if limit:
            sql += " LIMIT ?"
            args.append(limit)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        out = []
        for s, p, st, r in rows:
            scan = json.loads(p)
            scan["seq"] = scan.get("seq", s)   # a scan a salvage kept from an earlier epoch has its own
            scan["state"], scan["reason"] = st, r
            out.append(scan)
        return out

    def counts(self) -> dict:
        with self._lock:
            by = dict(self._db.execute("SELECT state, COUNT(*) FROM scans GROUP BY state").fetchall())
            dels = self._db.execute(f"SELECT COUNT(*), SUM(state={PENDING}) FROM deletions").fetchone()
        return {"pending": by.get(PENDING, 0), "acked": by.get(ACKED, 0), "rejected": by.get(REJECTED, 0),
                "deleted": dels[0] or 0, "deletions_pending": dels[1] or 0}

    def waybill_counts(self) -> dict:
        """Waybill records entered here: ``{"entered", "pending", "rejected"}``."""
        with self._lock:
            n, pending, rejected = self._db.execute(f"SELECT COUNT(*), SUM(state={PENDING}), SUM(state={REJECTED}) "
                                                    "FROM waybills").fetchone()
        return {"entered": n or 0, "pending": pending or 0, "rejected": rejected or 0}

    def prune(self, now_ms: int) -> int:
        """Drop acked scans older than ``keep_acked_days``; returns how many."""
        cutoff = now_ms - int(self.limits.keep_acked_days * 86_400_000)
        old = f"state={ACKED} AND acked_ms<?"
        with self._lock, self._transaction():
            # how many of this epoch's seqs leave the file on purpose (salvage tells them from lost ones)
            mine = self._db.execute(f"SELECT COUNT(*) FROM scans WHERE {old} AND seq>0", (cutoff,)).fetchone()[0]
            n = self._db.execute(f"DELETE FROM scans WHERE {old}", (cutoff,)).rowcount
            if mine:
                self._db.execute("UPDATE meta SET value=CAST(value AS INTEGER)+? WHERE key='pruned'", (mine,))
        return n

    def claim(self) -> None:
        """Take this outbox for one running station (an exclusive lock on ``<outbox>.lock``, held
        until ``close`` or the process ends, kill -9 included).  Raises ``OutboxInUse`` naming the
        process that holds it.  ``edge status`` and ``edge outbox`` read without claiming.

        Before the station uses the file: ``PRAGMA quick_check`` (``OutboxDamaged`` when SQLite
        finds damage: salvage it), and the high-water check (module docstring): when the file
        holds fewer seqs than were stored in this epoch, a new epoch (``renewed`` says what)."""
        if self._claim is not None:
            return
        f = lock_outbox(self.path)
        try:
            self._check_whole()
            noted = read_high_water(self.path)
            if noted and noted[0] != self.epoch and noted[1]:
                # a new file in place of the old one: its own epoch, so no seq is used twice
                log.warning("outbox %s: epoch %s (seq %d stored) was replaced by a new file, epoch %s",
                            self.path, noted[0], noted[1], self.epoch)
            why = self.lost_commits()
            if why:
                self._renew(why)
            self._hwm = open_high_water(self.path)
            with self._lock:
                top = high_water(self._db)
            write_high_water(self._hwm, self.epoch, top)
        except BaseException:
            self._close_high_water()
            f.close()
            raise
        self._claim = f

    def _check_whole(self) -> None:
        try:
            with self._lock:
                problems = check_lines(self._db.execute("PRAGMA quick_check(5)").fetchall())
        except sqlite3.DatabaseError as e:
            raise read_error(e, self.path) from None
        if problems != ["ok"]:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise OutboxDamaged(self.path, problems[0] + more)

    def lost_commits(self) -> str | None:
        """Why this file cannot go on in its epoch (scans stored in it are missing), or None.

        Reads ``<outbox>.hwm`` before the file: a running station writes them in the other order,
        so a scan committed between the two reads never looks lost."""
        noted = read_high_water(self.path)
        with self._lock:
            top = high_water(self._db)
        if noted is None or noted[0] != self.epoch or noted[1] <= top:
            return None
        return (f"seqs {top + 1}..{noted[1]} of epoch {noted[0]} were stored but are not in the file "
                "(its -wal file lost, or an older copy put back)")

    def _renew(self, why: str) -> None:
        """Move to a new epoch (``edge.salvage``: the same copy a damaged file gets, the old file
        kept beside it) so that no (epoch, seq) the hub may hold is handed out again."""
        from edge.salvage import salvage      # salvage builds on this module
        with self._lock, self._rlock:
            self._close_connections()
        try:
            self.renewed = salvage(self.path, reason=why, locked=True)
        finally:
            self._open()
        log.warning("outbox %s: %s; started epoch %s (was %s), pending scans renumbered in it; "
                    "the old file is kept as %s",
                    self.path, why, self.epoch, self.renewed["old_epoch"], self.renewed["kept_as"])

    def _note_high_water(self, seq: int) -> None:
        if self._hwm is None:
            return
        try:
            write_high_water(self._hwm, self.epoch, seq)
        except OSError as e:                  # a safety net: never a reason to refuse a scan
            log.warning("could not note the outbox high-water mark in %s: %s", self.path + HWM_SUFFIX, e)

    def _close_high_water(self) -> None:
        if self._hwm is not None:
            os.close(self._hwm)
            self._hwm = None

    def close(self) -> None:
        if self._claim is not None:
            with self._lock:
                self._close_high_water()
            self._claim.close()            # releases the lock
            self._claim = None
        if self._closed:
            return
        self._closed = True
        with self._lock, self._rlock:
            self._close_connections()
