"""Capture benchmark: accept -> durable in the outbox -> verdict, as an operator's gun feels it.

    python bench/capture.py [--scans 3000] [--guns 8]

Steady stream: one gun scanning back to back; latency p50/p99 per scan.  Burst: several guns at
once; scans/s with every accepted scan durable (WAL, synchronous=FULL, group commit).  Baseline,
in the same run: one durable single-row SQLite commit with the same settings.
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def baseline(path: str, n: int) -> list[float]:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t (seq INTEGER PRIMARY KEY, id TEXT UNIQUE, payload TEXT)")
    out = []
    for i in range(n):
        t = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t(id, payload) VALUES(?, ?)", (f"id{i}", '{"kind":"receive","waybill":"x"}'))
        db.execute("COMMIT")
        out.append(time.perf_counter() - t)
    db.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scans", type=int, default=3000)
    ap.add_argument("--guns", type=int, default=8)
    args = ap.parse_args()

    from drivers.scanner.waybill import WaybillRules
    from edge.capture import Capture
    from edge.clock import StationClock
    from edge.outbox import Outbox
    from hub.basic_data import import_network
    from hub.db import connect, database
    from hub.network import load_network
    from hub.station_config import site_slice

    work = tempfile.mkdtemp(prefix="scanhub-bench-capture-")
    connect(os.path.join(work, "hub.db"), create=True)
    import_network(load_network(os.path.join(ROOT, "sim", "networks", "sample.yaml")))
    cfg = site_slice("100", "st-100-1")
    database.close()
    rules = WaybillRules(cfg["waybill_rules"])

    base = baseline(os.path.join(work, "baseline.db"), args.scans)
    b50, b99 = pct(base, 0.5) * 1000, pct(base, 0.99) * 1000
    print(f"baseline: one durable SQLite commit (WAL, synchronous=FULL): p50 {b50:.3f} ms, p99 {b99:.3f} ms")

    def capture(name):
        ob = Outbox(os.path.join(work, f"{name}.db"))
        clock = StationClock(ob.get_meta, ob.set_meta)
        return Capture("st-100-1", "100", ob, clock, cfg)

    # steady stream: one gun
    cap = capture("steady")
    cap.scan("%KRECEIVE"), cap.scan("%P1002")
    lat = []
    for i in range(args.scans):
        wb = rules.make("std14", "7000000%06d" % i)
        t = time.perf_counter()
        v = cap.scan(wb)
        lat.append(time.perf_counter() - t)
        assert v.accepted, v
    p50, p99 = pct(lat, 0.5) * 1000, pct(lat, 0.99) * 1000
    print(f"steady stream: {args.scans} scans, p50 {p50:.3f} ms, p99 {p99:.3f} ms, mean {statistics.mean(lat) * 1000:.3f} ms")
    print(f"  p99 ratio to the baseline p99: {p99 / b99:.2f}x  (goal <= 3x)")
    cap.outbox.close()

    # burst: several guns at once
    cap = capture("burst")
    per = args.scans
    waybills = [[rules.make("std14", "7%02d%010d" % (g, i)) for i in range(per)] for g in range(args.guns)]
    for g in range(args.guns):
        cap.scan("%KRECEIVE", device=f"g{g}"), cap.scan("%P1002", device=f"g{g}")

    def gun(g):
        return sum(cap.scan(wb, device=f"g{g}").accepted for wb in waybills[g])
    total, elapsed, durable = run_guns(cap, gun, args.guns)
    print(f"burst, live guns: {args.guns} guns scanning at once, {total} accepted in {elapsed:.2f} s = "
          f"{total / elapsed:,.0f} scans/s (goal >= 5,000), durable on disk: {durable}/{total}")

    # burst: several wireless guns in their cradles uploading stored scans at once
    cap = capture("cradle")

    def cradle(g):
        items = [{"text": wb, "device": f"g{g}", "kind": "receive", "operator": "1002",
                  "captured_ms": 1_795_600_000_000 + i} for i, wb in enumerate(waybills[g])]
        return sum(sum(v.accepted for v in cap.scan_batch(items[k:k + 250])) for k in range(0, len(items), 250))
    total, elapsed, durable = run_guns(cap, cradle, args.guns)
    print(f"burst, cradle uploads: {args.guns} guns x {per} stored scans in batches of 250, {total} accepted in "
          f"{elapsed:.2f} s = {total / elapsed:,.0f} scans/s (goal >= 5,000), durable on disk: {durable}/{total}")


def run_guns(cap, work, guns: int) -> tuple[int, float, int]:
    """Run ``work(g)`` for every gun at once; (accepted, seconds, rows on disk read afterwards)."""
    accepted = [0] * guns

    def one(g):
        accepted[g] = work(g)
    threads = [threading.Thread(target=one, args=(g,)) for g in range(guns)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - t
    path = cap.outbox.path
    cap.outbox.close()
    with sqlite3.connect(path) as db:        # what is on disk, read by another connection
        durable = db.execute("SELECT COUNT(*) FROM scans").fetchone()[0]
    return sum(accepted), elapsed, durable

if __name__ == "__main__":
    main()
