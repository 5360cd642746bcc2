"""The pipeline with real parts: Mosquitto, the hub service, edge agents — and their failures."""
import json
import os
import signal
import sqlite3
import subprocess
import sys

import yaml

from conftest import fail_on_waybill, raw_station, read_line, wait_for, wb
from contract import protocol as P

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = os.path.join(ROOT, "cli.py")


def hub_query(db_path, sql):
    """Read the hub's SQLite store directly (the in-process hub keeps its own connection)."""
    with sqlite3.connect(db_path, timeout=30) as c:
        return c.execute(sql).fetchall()


def hub_counts(db_path):
    total = hub_query(db_path, "SELECT COUNT(*) FROM scanevent")[0][0]
    dup = hub_query(db_path, "SELECT COUNT(*) FROM (SELECT waybill FROM scanevent GROUP BY waybill, kind "
                             "HAVING COUNT(*) > 1)")[0][0]
    return total, dup


def start_receiving(agent, device="menu"):
    assert agent.config_event.wait(15), "station never got its configuration"
    agent.capture.scan("%KRECEIVE", device=device)
    agent.capture.scan("%P1002", device=device)


def test_scans_reach_the_hub_exactly_once_and_track(hub_service, make_edge, hub_store):
    edge = make_edge()
    start_receiving(edge)
    accepted = [edge.capture.scan(wb(i)) for i in range(300)]
    assert all(v.accepted for v in accepted)
    wait_for(lambda: edge.outbox.counts()["acked"] == 300, what="all 300 scans acknowledged")
    assert hub_counts(hub_store) == (300, 0)
    from click.testing import CliRunner
    from cli import main
    out = CliRunner().invoke(main, ["track", wb(7), "--db", hub_store, "--json"])
    assert out.exit_code == 0, out.output
    t = json.loads(out.output)
    assert t["waybill"] == wb(7) and t["status"] == "received"
    assert t["events"][0]["kind"] == "receive" and t["events"][0]["site"] == "100" and t["events"][0]["time"]


def test_broker_outage_loses_nothing_and_station_returns(hub_service, make_edge, broker, hub_store):
    edge = make_edge()
    start_receiving(edge)
    assert edge.capture.scan(wb(1)).accepted
    wait_for(lambda: edge.outbox.counts()["acked"] == 1, what="first ack")
    broker.stop()
    wait_for(lambda: not edge.uplink.connected.is_set(), what="edge to notice the outage")
    offline = [edge.capture.scan(wb(i)) for i in range(2, 502)]      # the station keeps working
    assert all(v.accepted for v in offline)
    broker.start()
    wait_for(lambda: edge.uplink.connected.is_set(), timeout=10, what="edge reconnect (back-off is capped)")
    wait_for(lambda: edge.outbox.counts()["acked"] == 501, what="backlog drained after the outage")
    assert hub_counts(hub_store) == (501, 0)


def test_fresh_scans_overtake_a_draining_backlog(hub_service, broker, make_edge):
    edge = make_edge(batch_size=50, window=1)
    start_receiving(edge)
    broker.stop()
    wait_for(lambda: not edge.uplink.connected.is_set(), what="edge offline")
    assert sum(edge.capture.scan(wb(i)).accepted for i in range(4000)) == 4000
    broker.start()
    wait_for(lambda: edge.outbox.counts()["acked"] > 0, what="drain to start")
    fresh = edge.capture.scan(wb(9999, 1))
    assert fresh.accepted
    acked_fresh = lambda: next(r for r in edge.outbox.scans() if r["seq"] == fresh.seq)["state"] == 1
    wait_for(acked_fresh, what="the fresh scan to be acknowledged")
    assert edge.outbox.counts()["pending"] > 0, "the fresh scan waited for the whole backlog"
    wait_for(lambda: edge.outbox.counts()["pending"] == 0, timeout=90, what="backlog drained")


def run_hub(db, broker_url):
    return subprocess.Popen([sys.executable, CLI, "hub", "run", "--db", db, "--broker", broker_url],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT)


def test_hub_killed_mid_batch_loses_and_doubles_nothing(hub_store, broker, make_edge):
    edge = make_edge(batch_size=200, window=1)      # one batch in flight: the kill lands mid-stream
    hub = run_hub(hub_store, broker.url)
    try:
        start_receiving(edge)
        for i in range(3000):
            assert edge.capture.scan(wb(i)).accepted
        wait_for(lambda: edge.outbox.counts()["acked"] > 0, what="the hub to commit something")
        hub.send_signal(signal.SIGKILL)
        hub.wait()
        at_kill = edge.outbox.counts()
        assert 0 < at_kill["acked"] < 3000 and at_kill["pending"] == 3000 - at_kill["acked"], at_kill
        hub = run_hub(hub_store, broker.url)
        wait_for(lambda: edge.outbox.counts()["acked"] == 3000, timeout=60, what="everything acked after restart")
    finally:
        hub.kill()
        hub.wait()
    assert hub_counts(hub_store) == (3000, 0)


def test_edge_killed_while_scanning_every_accepted_scan_arrives_once(hub_service, broker, tmp_path, hub_store):
    station = tmp_path / "station.yaml"
    station.write_text(yaml.safe_dump({"station": "st-100-1", "site": "100", "broker": broker.url,
                                       "outbox": str(tmp_path / "edge.db")}))
    edge = subprocess.Popen([sys.executable, CLI, "edge", "run", "--config", str(station), "--stdin"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, bufsize=1, cwd=ROOT)
    accepted = []
    try:
        assert "running" in read_line(edge.stdout, what="the station to start")
        # the configuration must be there before the scans validate against it
        wait_for(lambda: os.path.exists(tmp_path / "edge.db"), what="outbox file")
        wait_for(lambda: json.loads(subprocess.run([sys.executable, CLI, "edge", "status", "--config", str(station),
                                                    "--json"], capture_output=True, text=True, cwd=ROOT).stdout
                                    or "{}").get("config_version"), what="the hub's configuration")
        edge.stdin.write("%KRECEIVE\n%P1002\n")
        edge.stdin.flush()

        def verdict():       # link and pickup-list changes are printed between the verdicts
            while (line := read_line(edge.stdout, what="a verdict")).startswith(("link: ", "pickups: ")):
                pass
            return line
        for _ in range(2):
            line = verdict()
            assert "control" in line, line
        for i in range(400):
            edge.stdin.write(wb(i) + "\n")
            edge.stdin.flush()
            line = verdict()
            if "accepted" in line:
                accepted.append(line.split()[-1])
            if len(accepted) == 250:
                os.kill(edge.pid, signal.SIGKILL)     # mid-stream, uplink busy
                break
    finally:
        edge.kill()
        edge.wait()
    assert len(accepted) == 250
    edge2 = subprocess.Popen([sys.executable, CLI, "edge", "run", "--config", str(station)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        def arrived():
            return set(accepted) <= {r[0] for r in hub_query(hub_store, "SELECT waybill FROM scanevent")}
        wait_for(arrived, timeout=60, what="every accepted scan at the hub")
    finally:
        edge2.terminate()
        edge2.wait()
    total, dup = hub_counts(hub_store)
    assert dup == 0 and total >= len(accepted)


def test_redelivered_and_duplicated_batches_are_idempotent(hub_service, broker, hub_store):
    with raw_station(broker, "st-x") as (c, acks):
        scans = [{"id": f"x-{i}", "station": "st-x", "epoch": "e", "seq": i, "kind": "receive", "waybill": wb(i),
                  "site": "100", "edge_ms": 1_800_000_000_000, "event_ms": 1_800_000_000_000 + i, "clock": "trusted"}
                 for i in range(1, 101)]
        batch = P.encode({"batch": "b1", "station": "st-x", "scans": scans, "deletions": []})
        for _ in range(3):
            c.publish(P.topic("st-x", P.SCANS), batch, qos=1)
        c.publish(P.topic("st-x", P.SCANS), P.encode({"batch": "b2", "scans": scans[10:20]}), qos=1)
        c.publish(P.topic("st-x", P.SCANS), b"{not json", qos=1)
        wait_for(lambda: len(acks) == 4, what="four acks")
        assert all(a["committed"] == [[1, 100]] for a in acks[:3]) and acks[3]["committed"] == [[11, 20]]
    assert hub_counts(hub_store) == (100, 0)
    wait_for(lambda: hub_query(hub_store, "SELECT COUNT(*) FROM deadletter")[0][0] == 1,
             what="the malformed batch dead-lettered")
    assert "malformed batch" in hub_query(hub_store, "SELECT reason FROM deadletter")[0][0]


def test_station_cannot_speak_for_another(hub_service, broker, hub_store):
    with raw_station(broker, "st-a") as (c, acks):
        scan = {"id": "forged", "station": "st-b", "epoch": "e", "seq": 1, "kind": "receive", "waybill": wb(1),
                "site": "100", "edge_ms": 1_800_000_000_000, "event_ms": 1_800_000_000_000}
        c.publish(P.topic("st-a", P.SCANS), P.encode({"batch": "b", "scans": [scan]}), qos=1)
        wait_for(lambda: acks, what="an ack")
        assert acks[0]["committed"] == []
    assert hub_counts(hub_store) == (0, 0)


def test_pipeline_on_postgresql(pg_url, broker, make_edge, sample_network):
    import psycopg2

    from hub.network.basic_data import import_network
    from hub.schema import connect
    from hub.store.db import database
    from hub.ingest.service import HubService
    connect(pg_url, create=True)
    import_network(sample_network)
    database.close()
    svc = HubService(pg_url, broker.url).start()
    try:
        assert svc.wait_connected(10)
        edge = make_edge()
        start_receiving(edge)
        assert all(edge.capture.scan(wb(i)).accepted for i in range(200))
        wait_for(lambda: edge.outbox.counts()["acked"] == 200, what="acks from the PostgreSQL hub")
    finally:
        svc.stop()
    with psycopg2.connect(pg_url) as c, c.cursor() as cur:
        cur.execute('SELECT COUNT(*), COUNT(DISTINCT waybill) FROM scanevent')
        assert cur.fetchone() == (200, 200)
        cur.execute("SELECT COUNT(*) FROM parcel WHERE status = 'receive'")
        assert cur.fetchone()[0] == 200


def test_two_hub_workers_share_the_ingest(hub_store, broker, make_edge):
    from hub.ingest.service import HubService
    workers = [HubService(hub_store, broker.url, shared=True).start() for _ in range(2)]
    try:
        assert all(w.wait_connected(10) for w in workers)
        edges = [make_edge(), make_edge(station="st-200-1", site="200")]
        for e in edges:
            assert e.config_event.wait(15)
            e.capture.scan("%KRECEIVE"), e.capture.scan("%P1002" if e.cfg.site == "100" else "%P2002")
        n = 0
        for i in range(600):
            e = edges[i % 2]
            n += e.capture.scan(wb(i, 0 if e.cfg.site == "100" else 2)).accepted
        assert n == 600
        wait_for(lambda: sum(e.outbox.counts()["acked"] for e in edges) == 600, what="all acked")
        assert all(w.stats["batches"] > 0 for w in workers), [w.stats for w in workers]
    finally:
        for w in workers:
            w.stop()
    assert hub_counts(hub_store) == (600, 0)


def test_a_batch_that_breaks_the_hub_is_isolated_and_dead_lettered(hub_service, broker, hub_store):
    poison = wb(13)
    # the fault is injected at the lowest layer: the store itself fails on this one waybill
    fail_on_waybill(hub_store, poison, "simulated bug in a business rule")
    try:
        with raw_station(broker, "st-x") as (c, acks):
            def batch(name, seqs):
                scans = [{"id": f"{name}-{i}", "station": "st-x", "epoch": "e", "seq": i, "kind": "receive",
                          "waybill": wb(i), "site": "100", "edge_ms": 1_800_000_000_000,
                          "event_ms": 1_800_000_000_000, "clock": "trusted"} for i in seqs]
                return P.encode({"batch": name, "station": "st-x", "scans": scans})
            c.publish(P.topic("st-x", P.SCANS), batch("good", range(1, 11)), qos=1)
            c.publish(P.topic("st-x", P.SCANS), batch("bad", range(11, 16)), qos=1)
            c.publish(P.topic("st-x", P.SCANS), batch("later", range(16, 21)), qos=1)
            wait_for(lambda: len(acks) == 3, what="three acks")
    finally:
        fail_on_waybill(hub_store, None)
    by = {a["batch"]: a for a in acks}
    assert by["good"]["committed"] == [[1, 10]] and by["later"]["committed"] == [[16, 20]]
    assert by["bad"]["committed"] == [] and len(by["bad"]["rejected"]) == 5
    assert "simulated bug" in by["bad"]["rejected"][0]["reason"]
    assert hub_counts(hub_store)[0] == 15
    assert "simulated bug" in hub_query(hub_store, "SELECT reason FROM deadletter")[0][0]
