"""`scanhub hub backup` while the hub runs, `scanhub hub restore` into a fresh hub, and what the
stations and `hub gaps` then make of it (docs/operations.md, "Backup and restore")."""
from __future__ import annotations

import json
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
from click.testing import CliRunner

from conftest import read_line, sample_store, wait_for, wb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = os.path.join(ROOT, "cli.py")
# station, site, kind, operator, waybill block: one of the sample network's stations each
STATIONS = [("st-100-1", "100", "%KRECEIVE", "%P1002", 0), ("st-200-1", "200", "%KARRIVE", "%P2002", 2),
            ("st-900-1", "900", "%KARRIVE", "%P9001", 5)]


def cli(*args):
    import cli as root
    return CliRunner().invoke(root.main, list(args), catch_exceptions=False)


def cli_process(*args, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, CLI, *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout)


def start_hub(db, *args):
    hub = subprocess.Popen([sys.executable, CLI, "hub", "run", "--db", db, "--heartbeat", "0", *args],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    first = read_line(hub.stdout, what="the hub's broker line")
    assert first.startswith("broker: "), first
    assert "hub running" in read_line(hub.stdout, what="the hub to run"), "the hub did not start"
    return hub, first


def store_ids(db) -> dict[str, tuple]:
    with sqlite3.connect(db, timeout=30) as c:
        return {i: (st, ep, seq) for i, st, ep, seq in c.execute("SELECT id, station, epoch, seq FROM scanevent")}


def outbox_rows(edge) -> list[dict]:
    """Every scan in a station's outbox: id, seq, state (0 pending, 1 acked), acked_ms (station time)."""
    with sqlite3.connect(edge.cfg.outbox, timeout=30) as c:
        rows = c.execute("SELECT seq, payload, state, acked_ms FROM scans ORDER BY seq").fetchall()
    return [{"id": json.loads(p)["id"], "seq": seq, "state": st, "acked_ms": acked} for seq, p, st, acked in rows]


def expand(ranges) -> set[int]:
    return {n for lo, hi in ranges for n in range(lo, hi + 1)}


class Load:
    """Each station scans a new parcel every few milliseconds until stopped."""

    def __init__(self, edges):
        self.edges, self.stops, self.threads = edges, {}, []
        for st, edge in edges.items():
            stop = threading.Event()
            self.stops[st] = stop
            block = next(b for s, _, _, _, b in STATIONS if s == st)
            t = threading.Thread(target=self._scan, args=(edge, block, stop), daemon=True)
            t.start()
            self.threads.append(t)

    @staticmethod
    def _scan(edge, block, stop):
        n = 0
        while not stop.is_set():
            n += 1
            assert edge.capture.scan(wb(n, block)).accepted
            time.sleep(0.004)

    def stop(self, station=None):
        for st, ev in self.stops.items():
            if station in (None, st):
                ev.set()
        if station is None:
            for t in self.threads:
                t.join(10)


def acked_after(edge, ms) -> int:
    return sum(1 for r in outbox_rows(edge) if r["state"] == 1 and r["acked_ms"] >= ms)


def test_backup_under_load_restored_into_a_fresh_hub_reconciles(tmp_path, make_edge):
    """The hub's disk is lost: a backup taken under load is restored into a fresh hub, which the
    stations find on the same address.  Guaranteed: nothing doubled, nothing the hub never had,
    every scan a station had not seen acknowledged arrives; the scans the old hub acknowledged
    after the snapshot are exactly what `hub gaps` lists as missing, for a station that has gone
    quiet too (it reports its highest seq)."""
    from contract.version import SOFTWARE_VERSION
    from hub.network.broker import free_port, port_open
    from hub.store.db import database
    db = sample_store(str(tmp_path / "hub.db"))
    database.close()
    port = free_port()
    hub, _ = start_hub(db, "--listen", f"127.0.0.1:{port}")
    load = None
    try:
        edges = {}
        for st, site, kind, op, _ in STATIONS:
            edges[st] = make_edge(station=st, site=site, broker_url=f"mqtt://127.0.0.1:{port}")
        for st, site, kind, op, _ in STATIONS:
            assert edges[st].config_event.wait(15), f"{st} never got its configuration"
            edges[st].capture.scan(kind), edges[st].capture.scan(op)
        load = Load(edges)
        wait_for(lambda: all(e.outbox.counts()["acked"] >= 100 for e in edges.values()), what="the load to flow")

        r = cli_process("hub", "backup", "--db", db, "--out", str(tmp_path / "backup.db"), "--json")
        assert r.returncode == 0, r.stdout + r.stderr
        taken = json.loads(r.stdout)["taken_ms"]

        # the center's station goes quiet soon after the backup: the old hub acknowledges its last scans
        wait_for(lambda: acked_after(edges["st-900-1"], taken) >= 20, what="st-900-1 acked after the backup")
        load.stop("st-900-1")
        wait_for(lambda: edges["st-900-1"].outbox.counts()["pending"] == 0, what="st-900-1 fully acknowledged")
        wait_for(lambda: all(acked_after(e, taken) >= 50 for e in edges.values() if e is not edges["st-900-1"]),
                 what="scans acknowledged after the backup")
        hub.send_signal(signal.SIGKILL)            # the hub host is lost; its broker goes with it
        hub.wait()
        wait_for(lambda: not port_open("127.0.0.1", port), what="the old broker to be gone")
        # an ack the old hub sent just before it died is taken on the station's network thread
        # before that thread sees the link drop: once every station saw it, no old ack comes
        wait_for(lambda: not any(e.uplink.connected.is_set() for e in edges.values()),
                 what="every station to see the old hub gone")
        killed_ms = int(time.time() * 1000)
        time.sleep(1.0)                            # the other two scan on: their scans wait in the outboxes

        r = cli_process("hub", "restore", str(tmp_path / "backup.db"), "--db", str(tmp_path / "new.db"))
        assert r.returncode == 0, r.stdout + r.stderr
        assert "hub gaps" in r.stdout
        # the restored store remembers where the broker listened: the same station files reach it
        hub, first = start_hub(str(tmp_path / "new.db"))
        assert f":{port} " in first, first
        wait_for(lambda: all(e.uplink.connected.is_set() for e in edges.values()), what="stations to reconnect")
        time.sleep(0.5)
        load.stop()
        for st, e in edges.items():
            wait_for(lambda: e.outbox.counts()["pending"] == 0, timeout=60, what=f"{st} to drain")

        new = store_ids(str(tmp_path / "new.db"))
        held = {r["id"]: (st, r) for st, e in edges.items() for r in outbox_rows(e)}
        assert set(new) <= set(held), "the hub holds scans no station made"
        with sqlite3.connect(str(tmp_path / "new.db")) as c:
            assert c.execute("SELECT COUNT(*) FROM (SELECT 1 FROM scanevent GROUP BY station, epoch, seq "
                             "HAVING COUNT(*) > 1)").fetchone()[0] == 0, "a scan stored twice"
        missing = {i: v for i, v in held.items() if i not in new}
        assert missing, "nothing was acknowledged after the backup: the test proves nothing"
        for i, (st, row) in missing.items():
            # only what the old hub acknowledged after the snapshot, before it was lost
            assert row["state"] == 1 and taken <= row["acked_ms"] <= killed_ms, (st, row)
        assert any(st == "st-900-1" for st, _ in missing.values())

        def gaps_match():
            gaps = json.loads(cli("hub", "gaps", "--db", str(tmp_path / "new.db"), "--json").output)
            listed = {(g["station"], n) for g in gaps for n in expand(g["missing"])}
            return listed == {(st, row["seq"]) for st, row in missing.values()}
        wait_for(gaps_match, what="`hub gaps` to list exactly the scans acknowledged after the backup")

        states = json.loads(cli("hub", "stations", "--db", str(tmp_path / "new.db"), "--json").output)
        assert {s["station"]: (s["state"], s["software_version"]) for s in states} == {
            st: ("online", SOFTWARE_VERSION) for st, *_ in STATIONS}
    finally:
        if load:
            load.stop()
        hub.kill()
        hub.wait()


def test_the_backup_is_one_snapshot_of_a_store_being_written(tmp_path):
    """Transactions of 100 rows commit without pause while the backup runs: the copy holds whole
    transactions only, passes SQLite's check, and says when it was taken."""
    from hub.store.db import database
    db = sample_store(str(tmp_path / "hub.db"))
    database.close()
    stop = threading.Event()
    written = []

    def writer():
        c = sqlite3.connect(db, timeout=30)
        c.execute("PRAGMA journal_mode=wal")
        c.execute("CREATE TABLE IF NOT EXISTS load (n INTEGER)")
        c.commit()
        while not stop.is_set():
            with c:
                c.executemany("INSERT INTO load VALUES (?)", [(i,) for i in range(100)])
            written.append(1)
        c.close()

    t = threading.Thread(target=writer)
    t.start()
    try:
        wait_for(lambda: len(written) > 20, what="the writer")
        before = int(time.time() * 1000)
        r = cli("hub", "backup", "--db", db, "--out", str(tmp_path / "b.db"), "--json")
        assert r.exit_code == 0, r.output
        wait_for(lambda: len(written) > 40, what="the writer to go on")
    finally:
        stop.set()
        t.join()
    info = json.loads(r.output)
    assert before <= info["taken_ms"] <= int(time.time() * 1000)
    with sqlite3.connect(str(tmp_path / "b.db")) as c:
        assert c.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        rows = c.execute("SELECT COUNT(*) FROM load").fetchone()[0]
        assert rows % 100 == 0 and 0 < rows < 100 * len(written)
        assert c.execute("SELECT value FROM meta WHERE key='backup_taken_ms'").fetchone()[0] == str(info["taken_ms"])
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "delete"      # one self-contained file
    assert not [p for p in os.listdir(tmp_path) if ".partial-" in p]
    # a backup is a hub store: the read commands take it
    assert cli("hub", "check", "--db", str(tmp_path / "b.db")).exit_code == 0


def test_backup_and_restore_refuse_what_would_lose_data(tmp_path):
    from hub.store.db import database
    db = sample_store(str(tmp_path / "hub.db"))
    database.close()
    r = cli("hub", "backup", "--db", db, "--out", db)
    assert r.exit_code == 1 and "is the store itself" in r.output
    assert cli("hub", "backup", "--db", db, "--out", str(tmp_path / "b.db")).exit_code == 0
    r = cli("hub", "backup", "--db", db, "--out", str(tmp_path / "b.db"))
    assert r.exit_code == 1 and "exists" in r.output and "--force" in r.output
    assert cli("hub", "backup", "--db", db, "--out", str(tmp_path / "b.db"), "--force").exit_code == 0
    # a restore goes into a new store, never over one
    r = cli("hub", "restore", str(tmp_path / "b.db"), "--db", db)
    assert r.exit_code == 1 and "exists" in r.output and "move the old store aside" in r.output
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    r = cli("hub", "restore", str(tmp_path / "junk.db"), "--db", str(tmp_path / "new.db"))
    assert r.exit_code == 1 and "not a hub store backup" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "new.db").exists()
    r = cli("hub", "restore", str(tmp_path / "b.db"), "--db", str(tmp_path / "new.db"), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["scans"] == 0
    with sqlite3.connect(str(tmp_path / "new.db")) as c:
        restored = json.loads(c.execute("SELECT value FROM meta WHERE key='restored_from'").fetchone()[0])
    assert restored["file"] == str(tmp_path / "b.db") and restored["taken_ms"]


def test_postgresql_goes_the_documented_pg_dump_route(pg_url, tmp_path):
    """`hub backup` on PostgreSQL names the pg_dump command, `hub restore` the pg_restore one;
    both, run as given, give a new database the hub takes with every scan."""
    from hub.ingest import pipeline as ingest
    from hub.store.db import database
    sample_store(pg_url)
    t = 1_795_600_000_000
    ingest.commit([{"id": f"pg-{i}", "station": "st-100-1", "epoch": "e", "seq": i, "kind": "receive",
                    "waybill": wb(i), "site": "100", "edge_ms": t, "event_ms": t + i} for i in range(1, 51)])
    database.close()
    dump = str(tmp_path / "hub.dump")
    r = cli("hub", "backup", "--db", pg_url, "--out", dump)
    assert r.exit_code == 1 and "pg_dump" in r.output
    backup_cmd = r.output.split(": ", 2)[-1].split(" (docs/operations.md")[0]
    assert backup_cmd.startswith("pg_dump "), r.output
    subprocess.run(shlex.split(backup_cmd), check=True, timeout=60)
    r = cli("hub", "restore", dump, "--db", pg_url)
    assert r.exit_code == 1 and "pg_restore" in r.output
    restore_cmd = r.output.split("into a new database: ", 1)[1].split(", then run the hub")[0]
    import psycopg2
    name = "scanhub_r_" + os.urandom(4).hex()
    restore_cmd = restore_cmd.replace("NEW_DB", name)
    admin = psycopg2.connect(pg_url)
    admin.autocommit = True
    try:
        create, restore = restore_cmd.split(" && ")
        env = dict(os.environ)
        p = __import__("urllib.parse").parse.urlparse(pg_url)
        env.update(PGHOST=p.hostname, PGPORT=str(p.port or 5432), PGUSER=p.username or "postgres")
        subprocess.run(shlex.split(create), check=True, env=env, timeout=60)
        subprocess.run(shlex.split(restore), check=True, env=env, timeout=60)
        new_url = pg_url.rsplit("/", 1)[0] + "/" + name
        assert cli("hub", "check", "--db", new_url).exit_code == 0
        gaps = json.loads(cli("hub", "gaps", "--db", new_url, "--json").output)
        assert [(g["station"], g["scans"], g["missing"]) for g in gaps] == [("st-100-1", 50, [])]
    finally:
        database.close()
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
