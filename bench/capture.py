"""Capture benchmark: accept -> durable in the outbox -> verdict, as an operator's gun feels it.

    python bench/capture.py [--scans 3000] [--guns 8] [--rounds 5] [--quick] [--json]

Steady stream: one gun scanning back to back; latency p50/p99 per scan.  Burst: several guns at
once; scans/s with every accepted scan durable (WAL, synchronous=FULL, group commit), from live
guns and from wireless guns uploading stored scans from their cradles.  Baseline: one durable
single-row SQLite commit with the same settings, measured in the same rounds as the steady stream
(bench/harness.py: rounds interleaved, order reversed every other round, ratios per round).

Goals (docs/performance.md): steady p99 <= 3x the baseline p99; bursts >= 5,000 scans/s.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time

import harness

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def latency_figures(lat: list[float]) -> dict:
    return {"p50_ms": pct(lat, 0.5) * 1000, "p99_ms": pct(lat, 0.99) * 1000, "mean_ms": statistics.mean(lat) * 1000,
            "scans": len(lat)}


def baseline(path: str, n: int) -> list[float]:
    """One durable single-row commit per scan: WAL, synchronous=FULL, BEGIN IMMEDIATE as the outbox."""
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
    ap = harness.parser(__doc__)
    ap.add_argument("--scans", type=int, default=None, help="steady-stream scans, and scans per gun in the bursts "
                                                            "(default 3000; 500 with --quick)")
    ap.add_argument("--guns", type=int, default=8)
    args = harness.parse(ap)
    scans = args.scans or (500 if args.quick else 3000)

    # the product's modules this bench drives (kept together: update here when they move)
    from contract.waybill import WaybillRules
    from edge.capture import Capture
    from edge.clock import StationClock
    from edge.outbox import Outbox
    from hub.network.basic_data import import_network
    from hub.schema import connect
    from hub.store.db import database
    from hub.network.file import load_network
    from hub.network.station_config import site_slice

    work = tempfile.mkdtemp(prefix="scanhub-bench-capture-")
    connect(os.path.join(work, "hub.db"), create=True)
    import_network(load_network(os.path.join(ROOT, "sim", "networks", "sample.yaml")))
    cfg = site_slice("100", "st-100-1")
    database.close()
    rules = WaybillRules(cfg["waybill_rules"])
    steady_waybills = [rules.make("std14", "7000000%06d" % i) for i in range(scans)]
    waybills = [[rules.make("std14", "7%02d%010d" % (g, i)) for i in range(scans)] for g in range(args.guns)]

    def db_path(name: str, r: int) -> str:
        return os.path.join(work, f"{name}-r{r}.db")

    def capture(name: str, r: int):
        ob = Outbox(db_path(name, r))
        clock = StationClock(ob.get_meta, ob.set_meta)
        return Capture("st-100-1", "100", ob, clock, cfg)

    def part_baseline(r):
        return latency_figures(baseline(db_path("baseline", r), scans))

    def part_steady(r):
        cap = capture("steady", r)
        cap.scan("%KRECEIVE"), cap.scan("%P1002")
        lat = []
        for wb in steady_waybills:
            t = time.perf_counter()
            v = cap.scan(wb)
            lat.append(time.perf_counter() - t)
            assert v.accepted, v
        cap.outbox.close()
        return latency_figures(lat)

    def part_burst(r):
        cap = capture("burst", r)
        for g in range(args.guns):
            cap.scan("%KRECEIVE", device=f"g{g}"), cap.scan("%P1002", device=f"g{g}")

        def gun(g):
            return sum(cap.scan(wb, device=f"g{g}").accepted for wb in waybills[g])
        return run_guns(cap, gun, args.guns)

    def part_cradle(r):
        cap = capture("cradle", r)

        def cradle(g):
            items = [{"text": wb, "device": f"g{g}", "kind": "receive", "operator": "1002",
                      "captured_ms": 1_795_600_000_000 + i} for i, wb in enumerate(waybills[g])]
            return sum(sum(v.accepted for v in cap.scan_batch(items[k:k + 250])) for k in range(0, len(items), 250))
        return run_guns(cap, cradle, args.guns)

    def cleanup(r):
        for name in ("baseline", "steady", "burst", "cradle"):
            for suffix in ("", "-wal", "-shm"):
                with_suffix = db_path(name, r) + suffix
                if os.path.exists(with_suffix):
                    os.remove(with_suffix)

    b = harness.Bench("capture", args, params={"scans": scans, "guns": args.guns})
    b.part("baseline", part_baseline)
    b.part("steady", part_steady)
    b.part("burst", part_burst)
    b.part("cradle", part_cradle)
    b.after_round(cleanup)
    b.compare("steady_p50", "steady stream, one gun, p50", "steady.p50_ms", "baseline.p50_ms", unit="ms")
    b.compare("steady_p99", "steady stream, one gun, p99", "steady.p99_ms", "baseline.p99_ms", unit="ms",
              goal=("<=", 3), headline=True)
    b.figure("burst", f"burst, {args.guns} live guns", "burst.scans_per_s", unit="scans/s", goal=(">=", 5000),
             headline=True)
    b.figure("burst_not_durable", "  accepted but not on disk", "burst.not_durable", goal=("<=", 0))
    b.figure("cradle", f"burst, {args.guns} cradle uploads (250/upload)", "cradle.scans_per_s", unit="scans/s",
             goal=(">=", 5000), headline=True)
    b.figure("cradle_not_durable", "  accepted but not on disk", "cradle.not_durable", goal=("<=", 0))
    b.noise_from("baseline.p50_ms", "baseline.p99_ms")
    b.note("baseline: one durable single-row SQLite commit (WAL, synchronous=FULL), same rounds as the steady stream")
    if args.quick:
        b.note("quick run: small sizes; the goals are set for the full size")
    try:
        b.run()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_guns(cap, work, guns: int) -> dict:
    """Run ``work(g)`` for every gun at once; figures: accepted, scans/s, rows on disk read afterwards."""
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
    total = sum(accepted)
    return {"accepted": total, "seconds": elapsed, "scans_per_s": total / elapsed, "durable": durable,
            "not_durable": total - durable}


if __name__ == "__main__":
    main()
