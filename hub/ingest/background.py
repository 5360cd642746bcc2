"""Background derivation: the pipeline (``hub.ingest.pipeline``) catches up behind the ingest.

With ``HubService(derive="background")`` (the default of ``scanhub hub run``) an ingest
transaction commits the scans and marks their waybills dirty; the hub acknowledges at once.  A
separate process (its own core, lower priority) derives the dirty waybills oldest first, in short
transactions of ``batch`` waybills (each takes the write lock at once, so it never fails half way).  Derivation is a pure function of all of a waybill's scans,
so it gives the same results whatever the order and however late; a crash leaves the marks, and
the next start derives them.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import os
import time

log = logging.getLogger("scanhub.hub.derivation")

IDLE_S = 0.2


def derivation_loop(db_url: str, hub_pid: int, batch: int = 500, nice: int = 5) -> None:
    """Derive dirty waybills until the hub stops us (SIGTERM) or dies (we are re-parented).

    Being stopped mid-transaction is safe: SQLite / PostgreSQL roll it back and the marks stay."""
    from hub.ingest.pipeline import derive_dirty
    from hub.schema import connect
    from hub.store.db import database
    try:
        os.nice(nice)
    except OSError:
        pass
    connect(db_url)
    try:
        while os.getppid() == hub_pid:           # a hub killed with -9 takes us along
            try:
                if derive_dirty(batch) == 0:
                    time.sleep(IDLE_S)
            except Exception:                   # keep deriving; the marks stay until it succeeds
                log.exception("derivation failed; retrying")
                time.sleep(1.0)
    finally:
        database.close()


class BackgroundDerivation:
    """The derivation process of one hub."""

    def __init__(self, db_url: str, batch: int = 500):
        ctx = mp.get_context("spawn")          # never fork a process that runs MQTT threads
        self.proc = ctx.Process(target=derivation_loop, args=(db_url, os.getpid(), batch),
                                name="scanhub-derivation", daemon=True)

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
