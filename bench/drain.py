"""Drain benchmark: stations with a large backlog drain through a real Mosquitto into the hub.

    python bench/drain.py                    # 10 stations, 1,000,000 scans (the issue's figure)
    python bench/drain.py --scans 100000     # quicker

Prints scans/s through the whole pipeline (outbox -> MQTT -> hub commit -> ack -> outbox), and in
the same run the baseline: a plain batched ``executemany`` of the same rows into a bare SQLite
table, and the ratio.  The hub runs as its own process (as in production); the stations' uplinks
share this one.
"""
from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from drivers.scanner.waybill import WaybillRules  # noqa: E402
from edge.outbox import SCHEMA  # noqa: E402

T0 = 1_795_600_000_000


def make_rows(station: str, n: int, offset: int):
    rules = WaybillRules([{"name": "std14", "pattern": "^7[0-9]{13}$", "check": "mod10-31"}])
    for i in range(n):
        wb = rules.make("std14", "7%012d" % (offset + i))
        scan = {"kind": "receive", "waybill": wb, "site": "100", "operator": "1002", "device": "g1",
                "courier": "1001", "id": uuid.uuid4().hex, "station": station, "epoch": "bench", "edge_ms": T0 + i}
        yield scan


def fill_outbox(path: str, station: str, n: int, offset: int, boot: str) -> list[tuple]:
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)
    db.execute("INSERT OR REPLACE INTO meta VALUES('epoch','bench')")
    db.execute("INSERT OR REPLACE INTO meta VALUES('mono_offsets', ?)", (json.dumps({boot: T0}),))
    rows = [(s["id"], s["waybill"], s["kind"], s["edge_ms"], i, boot, json.dumps(s, separators=(",", ":")))
            for i, s in enumerate(make_rows(station, n, offset))]
    with db:
        db.executemany("INSERT INTO scans(id, waybill, kind, created_ms, mono_ms, boot, payload) VALUES(?,?,?,?,?,?,?)", rows)
    db.close()
    return rows


def baseline(rows: list[tuple], workdir: str, batch: int = 500) -> float:
    """Bare SQLite: the same rows, batched executemany, same journal settings as the hub store."""
    db = sqlite3.connect(os.path.join(workdir, "baseline.db"), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE scans (id TEXT PRIMARY KEY, station TEXT, seq INTEGER, kind TEXT, waybill TEXT, "
               "site TEXT, edge_ms INTEGER, event_ms INTEGER, payload TEXT)")
    t = time.perf_counter()
    for i in range(0, len(rows), batch):
        db.execute("BEGIN")
        db.executemany("INSERT INTO scans VALUES(?,?,?,?,?,?,?,?,?)",
                       [(r[0], "st", i + k, r[2], r[1], "100", r[3], r[3], r[6]) for k, r in enumerate(rows[i:i + batch])])
        db.execute("COMMIT")
    elapsed = time.perf_counter() - t
    db.close()
    return len(rows) / elapsed


def wait_for_hub(port: int, station: str, timeout_s: float = 30.0) -> None:
    """The hub has subscribed once it has published the stations' retained configurations."""
    import threading

    import paho.mqtt.client as mqtt

    from hub import protocol as P
    got = threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-probe")
    c.on_message = lambda *a: got.set()
    c.connect("127.0.0.1", port)
    c.subscribe(P.topic(station, P.CONFIG), qos=1)
    c.loop_start()
    try:
        if not got.wait(timeout_s):
            raise SystemExit("the hub did not come up")
    finally:
        c.loop_stop()
        c.disconnect()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scans", type=int, default=1_000_000)
    ap.add_argument("--stations", type=int, default=10)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--window", type=int, default=8)
    ap.add_argument("--workers", type=int, default=1, help="hub worker processes (shared subscription)")
    args = ap.parse_args()

    from edge.agent import EdgeAgent
    from edge.clock import boot_id
    from edge.station import StationConfig
    from hub.basic_data import import_network
    from hub.broker import ManagedBroker
    from hub.db import connect, database
    from hub.network import check_network

    work = tempfile.mkdtemp(prefix="scanhub-bench-drain-")
    per = args.scans // args.stations
    stations = [f"st-{i:02d}" for i in range(args.stations)]
    net = {"network": "bench", "sites": [{"code": "900", "name": "C", "kind": "center"},
                                         {"code": "100", "name": "S", "center": "900"}],
           "stations": [{"id": s, "site": "100"} for s in stations],
           "staff": [{"code": "1002", "name": "op", "site": "100"}, {"code": "1001", "name": "c", "site": "100"}],
           "waybill_rules": [{"name": "std14", "pattern": "^7[0-9]{13}$", "check": "mod10-31"}]}
    hub_db = os.path.join(work, "hub.db")
    connect(hub_db, create=True)
    import_network(check_network(net))
    database.close()

    print(f"filling {args.stations} outboxes with {per * args.stations:,} scans …", flush=True)
    boot = boot_id()
    all_rows = []
    for k, st in enumerate(stations):
        all_rows += fill_outbox(os.path.join(work, f"{st}.db"), st, per, k * per, boot)

    base = baseline(all_rows, work)
    print(f"baseline: bare SQLite executemany: {base:,.0f} rows/s", flush=True)
    del all_rows

    broker = ManagedBroker().start()
    extra = ["--shared"] if args.workers > 1 else []
    hubs = [subprocess.Popen([sys.executable, os.path.join(ROOT, "cli.py"), "hub", "run", "--db", hub_db,
                              "--broker", broker.url, *extra], stdout=subprocess.DEVNULL, cwd=ROOT)
            for _ in range(args.workers)]
    agents = []
    try:
        wait_for_hub(broker.port, stations[0])
        for st in stations:
            cfg = StationConfig(station=st, site="100", broker=broker.url, outbox=os.path.join(work, f"{st}.db"),
                                batch_size=args.batch, window=args.window)
            agents.append(EdgeAgent(cfg))
        import resource
        ru = resource.getrusage(resource.RUSAGE_SELF)
        cpu_before = ru.ru_utime + ru.ru_stime
        t_start = time.perf_counter()
        for a in agents:
            a.start()
        total = per * args.stations
        last_print = 0.0
        while True:
            left = sum(a.outbox.pending for a in agents)
            now = time.perf_counter()
            if now - last_print > 5:
                done = total - left
                print(f"  {done:>9,} / {total:,} acked  ({done / (now - t_start):,.0f} scans/s)", flush=True)
                last_print = now
            if left == 0:
                break
            if now - t_start > 3600:
                raise SystemExit("drain did not finish within an hour")
            time.sleep(0.2)
        elapsed = time.perf_counter() - t_start
        # derived state (parcels, monitoring facts, fees) catches up behind the acknowledgements
        with sqlite3.connect(hub_db, timeout=60) as c:
            while c.execute("SELECT COUNT(*) FROM dirtywaybill").fetchone()[0]:
                time.sleep(0.2)
        derived = time.perf_counter() - t_start
        stats = {k: sum(a.uplink.stats[k] for a in agents) for k in ("batches_sent", "resends", "connects")}
        hub_cpu = 0.0
        for hub in hubs:
            with open(f"/proc/{hub.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            hub_cpu += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        import resource
        ru = resource.getrusage(resource.RUSAGE_SELF)
        edge_cpu = ru.ru_utime + ru.ru_stime - cpu_before
    finally:
        for a in agents:
            a.stop()
        for hub in hubs:
            hub.terminate()
            hub.wait()
        broker.stop()
    with sqlite3.connect(hub_db) as c:
        committed = c.execute("SELECT COUNT(*) FROM scanevent").fetchone()[0]
    rate = total / elapsed
    print(f"drain: {total:,} scans from {args.stations} stations, {args.workers} hub worker(s), in {elapsed:.1f} s = {rate:,.0f} scans/s "
          f"(hub committed {committed:,})")
    print(f"ratio to baseline: {rate / base:.3f}x  (goal >= 0.6x)")
    print(f"derived state (parcels, monitoring facts, fees) complete {derived - elapsed:.1f} s after the last ack "
          f"({total / derived:,.0f} scans/s including derivation)")
    print(f"uplinks: {stats['batches_sent']:,} batches sent, {stats['resends']} resent after an ack timeout, "
          f"{stats['connects']} connections")
    print(f"CPU: hub {hub_cpu:.1f} s ({hub_cpu / elapsed:.0%} of a core), "
          f"station uplinks {edge_cpu:.1f} s ({edge_cpu / elapsed:.0%} of a core), over {elapsed:.1f} s")


if __name__ == "__main__":
    main()
