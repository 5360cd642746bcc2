"""Background derivation: the pipeline (``hub.ingest.pipeline``) catches up behind the ingest.

With ``HubService(derive="background")`` (the default of ``scanhub hub run``) an ingest
transaction commits the scans and marks their waybills dirty; the hub acknowledges at once.  A
separate process (its own core, lower priority) derives the dirty waybills oldest first, in short
transactions of ``batch`` waybills (each takes the write lock at once, so it never fails half way).  Derivation is a pure function of all of a waybill's scans,
so it gives the same results whatever the order and however late; a crash leaves the marks, and
the next start derives them.

On SQLite the two processes share one write lock, and SQLite lets a writer that finds it taken
sleep and poll (1, 2, 5, 10 … ms).  So that the ingest never sleeps behind a derivation
transaction, the two take turns (``WriteTurns``): an ingest transaction waits at most for the
derivation transaction under way and is woken the moment it ends, and the derivation does not
start another while the ingest waits.  The turns only order the two; SQLite's own locking still
guards every write, so a turn that times out (a derivation killed while it held one) costs time,
never data.

The checkpoints of SQLite's write-ahead log (copying committed pages into the database file and
syncing it) are moved off the acknowledgement path as well: the derivation's connection does
them, when its commits find the log past SQLite's default size and every ``CHECKPOINT_IDLE_S``
while it has nothing to derive; the ingest's does one only when the log has grown far past that
(``INGEST_CHECKPOINT_PAGES`` in ``hub.ingest.service``: a bound for a derivation that falls behind).  A
commit is durable once it is in the synced log, so this changes when pages reach the database
file, never what an acknowledgement means.  Should the derivation process die, the hub starts a
new one (``HubService``) and, until then, checkpoints itself.
"""
from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import time

import peewee

log = logging.getLogger("scanhub.hub.derivation")

IDLE_S = 0.2
BATCH = 500          # waybills a derivation transaction while the ingest is idle
BUSY_BATCH = 100     # … and while batches wait for the ingest: the longest an ingest commit waits
CHECKPOINT_IDLE_S = 5.0
TURN_TIMEOUT_S = 5.0


class WriteTurns:
    """The ingest and the derivation take turns at the store's write lock, the ingest first.

    Two locks: ``turn`` is held by whoever writes; ``gate`` is held by the ingest from the moment it
    wants to write until it has written.  The derivation passes through the gate before each of its
    transactions, so while the ingest waits it starts none; the ingest waits only for the one under
    way.  Both are semaphores shared with the derivation process (woken at once, no polling).  A
    wait longer than ``TURN_TIMEOUT_S`` goes ahead without the turn and says so: the turns order
    the writers, SQLite's locking keeps the data safe either way."""

    def __init__(self, ctx):
        self.gate, self.turn = ctx.Lock(), ctx.Lock()
        self.busy = ctx.Value("b", 0, lock=False)    # the ingest has batches waiting (a hint)
        self.late = 0           # waits that timed out (in this process)

    def _take(self, lock) -> bool:
        if lock.acquire(timeout=TURN_TIMEOUT_S):
            return True
        self.late += 1
        if self.late == 1 or self.late % 100 == 0:
            log.warning("waited %.0f s for the store's write turn (%d times); going ahead: SQLite's "
                        "locking still guards the write", TURN_TIMEOUT_S, self.late)
        return False

    @contextlib.contextmanager
    def _holding(self, lock):
        got = self._take(lock)
        try:
            yield
        finally:
            if got:
                lock.release()

    @contextlib.contextmanager
    def ingest(self):
        with self._holding(self.gate), self._holding(self.turn):
            yield

    @contextlib.contextmanager
    def derivation(self):
        with self._holding(self.gate):          # passes only while no ingest waits
            pass
        with self._holding(self.turn):
            yield


def derivation_loop(db_url: str, hub_pid: int, batch: int = BATCH, nice: int = 5,
                    turns: WriteTurns | None = None) -> None:
    """Derive dirty waybills until the hub stops us (SIGTERM) or dies (we are re-parented).

    Being stopped mid-transaction is safe: SQLite / PostgreSQL roll it back and the marks stay."""
    from hub.ingest.pipeline import derive_dirty
    from hub.schema import connect
    from hub.store.db import database
    try:
        os.nice(nice)
    except OSError:
        pass
    db = connect(db_url)
    my_turn = turns.derivation if turns is not None else contextlib.nullcontext
    sqlite = isinstance(db, peewee.SqliteDatabase)
    if sqlite:
        # derived state is recomputed from the scans: a derivation transaction lost in a power cut
        # loses its clearing of the dirty marks with it, and is derived again.  So its commits
        # need no sync of their own; its checkpoints (automatic, at the default log size, and
        # when idle) still sync the log before and the database file after.
        db.execute_sql("PRAGMA synchronous=NORMAL")
    checkpointed = time.monotonic()
    try:
        while os.getppid() == hub_pid:           # a hub killed with -9 takes us along
            try:
                # while batches wait for the ingest, short turns: an ack waits at most for one
                size = BUSY_BATCH if turns is not None and turns.busy.value else batch
                with my_turn():
                    done = derive_dirty(size)
                if done == 0:
                    if sqlite and time.monotonic() - checkpointed > CHECKPOINT_IDLE_S:
                        db.execute_sql("PRAGMA wal_checkpoint(PASSIVE)")   # what the ingest wrote
                        checkpointed = time.monotonic()
                    time.sleep(IDLE_S)
            except Exception:                   # keep deriving; the marks stay until it succeeds
                log.exception("derivation failed; retrying")
                time.sleep(1.0)
    finally:
        database.close()


class BackgroundDerivation:
    """The derivation process of one hub.  On SQLite it takes write turns with the hub's ingest
    (``turns``: use ``with derivation.turns.ingest():`` around an ingest transaction)."""

    def __init__(self, db_url: str, batch: int = BATCH):
        ctx = mp.get_context("spawn")          # never fork a process that runs MQTT threads
        self.turns = None if db_url.startswith(("postgres://", "postgresql://")) else WriteTurns(ctx)
        self.proc = ctx.Process(target=derivation_loop, args=(db_url, os.getpid(), batch),
                                kwargs={"turns": self.turns}, name="scanhub-derivation", daemon=True)
        self.db_url, self.batch = db_url, batch

    def start(self) -> "BackgroundDerivation":
        self.proc.start()
        return self

    @property
    def alive(self) -> bool:
        return self.proc.is_alive()

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.proc.is_alive():
            self.proc.terminate()
        self.proc.join(timeout_s)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)
