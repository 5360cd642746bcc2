"""A full disk at the station: scans refused with "disk full", the uplink alive, recovery by itself.

The disk is "filled" at the lowest layer, SQLite's own page limit on the outbox's writer
connection (``PRAGMA max_page_count``): the same SQLITE_FULL a full file system gives."""
from __future__ import annotations

from conftest import RULES, wait_for


def wb(i: int) -> str:
    return RULES.make("std14", "7%012d" % i)


def fill_disk(edge, full: bool) -> None:
    db = edge.outbox._db
    with edge.outbox._lock:
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count={pages if full else 1_073_741_823}")


def test_disk_full_is_refused_clearly_and_the_station_recovers(make_edge, hub_service, broker):
    edge = make_edge()
    wait_for(lambda: edge.uplink.clock.synced, what="the station to sync its clock with the hub")
    fill_disk(edge, True)
    verdicts = [edge.capture.scan(wb(i), kind="sign", operator="1002", signer="s" * 100) for i in range(300)]
    refused = [v for v in verdicts if not v.accepted]
    assert refused, "the full disk refused nothing"
    assert all(v.reason.startswith("disk full") for v in refused), {v.reason for v in refused}
    accepted = [v for v in verdicts if v.accepted]
    # acks that arrive while the disk is full cannot be recorded; the uplink stays alive
    fill_disk(edge, False)
    ok = edge.capture.scan(wb(999_999), kind="receive", operator="1002")
    assert ok.accepted
    wait_for(lambda: edge.outbox.counts()["pending"] == 0, timeout=40,
             what="every accepted scan acknowledged once space returned")
    assert edge.uplink._thread.is_alive()
    assert edge.outbox.counts()["acked"] == len(accepted) + 1
