"""Background derivation: acknowledgements do not wait for parcels, facts and fees, which catch up."""
import sqlite3

from conftest import read_line, RULES, wait_for


def count(db, sql):
    with sqlite3.connect(db, timeout=30) as c:
        return c.execute(sql).fetchone()[0]


def test_background_derivation_catches_up_exactly(hub_store, broker, make_edge):
    from hub.ingest.service import HubService
    svc = HubService(hub_store, broker.url, derive="background").start()
    try:
        assert svc.wait_connected(10)
        edge = make_edge()
        assert edge.config_event.wait(15)
        c = edge.capture
        c.scan("%KRECEIVE"), c.scan("%P1002")
        wbs = [RULES.make("std14", "700000%07d" % i) for i in range(400)]
        assert all(c.scan(w).accepted for w in wbs)
        c.scan("%KDISPATCH"), c.scan("%D200")
        assert all(c.scan(w).accepted for w in wbs[:100])
        wait_for(lambda: edge.outbox.counts()["acked"] == 500, what="acks")
        wait_for(lambda: count(hub_store, "SELECT COUNT(*) FROM dirtywaybill") == 0, timeout=60,
                 what="derivation to catch up")
        assert count(hub_store, "SELECT COUNT(*) FROM parcel") == 400
        assert count(hub_store, "SELECT COUNT(*) FROM parcel WHERE status='dispatch'") == 100
        assert count(hub_store, "SELECT COUNT(*) FROM parcel_fact") == 400
    finally:
        svc.stop()
    assert not svc.derivation.alive


def test_marks_left_by_a_crash_are_derived_at_the_next_start(tmp_path, hub_store):
    from hub.ingest import pipeline as ingest
    from hub.schema import connect
    from hub.store.db import database
    connect(hub_store)
    try:
        scan = {"id": "a", "station": "s", "epoch": "e", "seq": 1, "kind": "receive", "waybill": "W1",
                "site": "100", "edge_ms": 1_800_000_000_000, "event_ms": 1_800_000_000_000}
        ingest.commit([scan], derive=False)
        ingest.commit([dict(scan, id="b", seq=2, kind="dispatch", next_site="900",
                                  event_ms=1_800_000_000_001)], derive=False)
        assert ingest.dirty_count() == 1
        assert ingest.derive_dirty() == 1 and ingest.dirty_count() == 0
        from hub.scans import tables as m
        assert m.Parcel.get(m.Parcel.waybill == "W1").status == "dispatch"
    finally:
        database.close()


def test_derivation_process_ends_with_a_killed_hub(hub_store, broker):
    import os
    import signal
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    hub = subprocess.Popen([sys.executable, os.path.join(root, "cli.py"), "hub", "run", "--db", hub_store,
                            "--broker", broker.url], stdout=subprocess.PIPE, text=True, cwd=root)
    try:
        assert "broker" in read_line(hub.stdout, what="the first line of the hub")
        assert "running" in read_line(hub.stdout, what="the hub to run")
        line = read_line(hub.stdout, what="the derivation process to be announced")
        assert line.startswith("derivation: background process "), line
        kids = [int(line.split()[-1])]
        assert os.path.exists(f"/proc/{kids[0]}")
    finally:
        hub.send_signal(signal.SIGKILL)
        hub.wait()

    def gone():
        return all(not os.path.exists(f"/proc/{k}") or open(f"/proc/{k}/stat").read().split()[2] == "Z"
                   for k in kids)
    wait_for(gone, what="the orphaned derivation process to exit")


def test_background_derivation_on_postgresql(pg_url, broker, make_edge, sample_network):
    import psycopg2

    from hub.network.basic_data import import_network
    from hub.schema import connect
    from hub.store.db import database
    from hub.ingest.service import HubService
    connect(pg_url, create=True)
    import_network(sample_network)
    database.close()
    svc = HubService(pg_url, broker.url, derive="background").start()
    try:
        assert svc.wait_connected(10)
        edge = make_edge()
        assert edge.config_event.wait(15)
        edge.capture.scan("%KRECEIVE"), edge.capture.scan("%P1002")
        assert all(edge.capture.scan(RULES.make("std14", "700000%07d" % i)).accepted for i in range(150))
        wait_for(lambda: edge.outbox.counts()["acked"] == 150, what="acks")

        def derived():
            with psycopg2.connect(pg_url) as c, c.cursor() as cur:
                cur.execute("SELECT (SELECT COUNT(*) FROM dirtywaybill), (SELECT COUNT(*) FROM parcel)")
                return cur.fetchone() == (0, 150)
        wait_for(derived, timeout=60, what="derivation on PostgreSQL")
    finally:
        svc.stop()


def test_a_killed_derivation_process_is_restarted_and_catches_up(hub_store, broker, make_edge):
    """Derived state must not silently stop following the scans: the hub notices a dead
    derivation process, says so, starts a new one, and that one derives what was left."""
    import os
    import signal
    from hub.ingest.service import HubService
    svc = HubService(hub_store, broker.url, derive="background").start()
    try:
        assert svc.wait_connected(10)
        first = svc.derivation.proc.pid
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: svc.derivation.proc.pid != first and svc.derivation.alive,
                 what="a new derivation process")
        assert svc.stats["derivation_restarts"] == 1
        edge = make_edge()
        assert edge.config_event.wait(15)
        c = edge.capture
        c.scan("%KRECEIVE"), c.scan("%P1002")
        wbs = [RULES.make("std14", "700100%07d" % i) for i in range(50)]
        assert all(c.scan(w).accepted for w in wbs)
        wait_for(lambda: edge.outbox.counts()["acked"] == 50, what="acks")
        wait_for(lambda: count(hub_store, "SELECT COUNT(*) FROM dirtywaybill") == 0, timeout=60,
                 what="the new derivation process to catch up")
        assert count(hub_store, "SELECT COUNT(*) FROM parcel") == 50
        assert svc.healthy
    finally:
        svc.stop()


def test_the_ingest_leaves_log_checkpoints_to_the_derivation(hub_store, broker, make_edge):
    """With a background derivation the ingest's connection runs no checkpoints (they cost the
    acknowledgement path a database sync); the derivation's do, so the log's pages still reach
    the database file."""
    import os
    from hub.ingest.service import HubService
    svc = HubService(hub_store, broker.url, derive="background").start()
    try:
        assert svc.wait_connected(10)
        wait_for(lambda: svc._derivation_checkpoints, what="the ingest to hand checkpoints over")
        size0 = os.path.getsize(hub_store)
        edge = make_edge()
        assert edge.config_event.wait(15)
        c = edge.capture
        c.scan("%KRECEIVE"), c.scan("%P1002")
        wbs = [RULES.make("std14", "700200%07d" % i) for i in range(300)]
        assert all(c.scan(w).accepted for w in wbs)
        wait_for(lambda: edge.outbox.counts()["acked"] == 300, what="acks")
        wait_for(lambda: count(hub_store, "SELECT COUNT(*) FROM dirtywaybill") == 0, timeout=60,
                 what="derivation")
        wait_for(lambda: os.path.getsize(hub_store) > size0, what="checkpointed pages in the database file")
    finally:
        svc.stop()


def test_write_turns_put_a_waiting_ingest_before_the_next_derivation():
    """The ingest waits only for the derivation transaction under way; the derivation starts no
    new one while the ingest waits (``hub.ingest.background.WriteTurns``)."""
    import multiprocessing as mp
    import threading
    from hub.ingest.background import WriteTurns
    turns = WriteTurns(mp.get_context("spawn"))
    order, in_derivation, release = [], threading.Event(), threading.Event()

    def derivation():
        with turns.derivation():
            order.append("derive 1")
            in_derivation.set()
            release.wait(10)
        with turns.derivation():
            order.append("derive 2")

    def ingest():
        with turns.ingest():
            order.append("ingest")

    d = threading.Thread(target=derivation)
    d.start()
    assert in_derivation.wait(10)
    i = threading.Thread(target=ingest)
    i.start()

    def ingest_at_the_gate():
        if turns.gate.acquire(block=False):
            turns.gate.release()
            return False
        return True
    wait_for(ingest_at_the_gate, what="the ingest to wait for its turn")
    release.set()
    d.join(10), i.join(10)
    assert order == ["derive 1", "ingest", "derive 2"]
