"""Benchmark: monitoring reports and tracking over a large generated network, SQLite or PostgreSQL.

    python bench/monitor.py                 # 300 sites (20 centers), 10,000,000 scans
    python bench/monitor.py --quick         # 300 sites, 300,000 scans, 3 rounds
    python bench/monitor.py --scans 2000000 --db /tmp/big.db --keep
    python bench/monitor.py --quick --db postgresql://postgres@127.0.0.1/test
    options: [--rounds 5] [--json]

Scans are written with the store's bulk inserts (``hub.store.db.bulk_insert``); the scan facts
the reports read are derived by the product's own ``hub.business.facts.derive`` per parcel and
bulk-inserted too (once, not timed; the load prints how long generating, deriving and inserting
took).  Then, in interleaved rounds (bench/harness.py: order reversed every other round, ratios
per round): the baseline, one full scan of the scan table (a count over a column no index
covers); every report for one site, one center and all sites; tracking 200 parcels.  Each figure
is printed in milliseconds and as a ratio to the baseline of its round.  Goals: every single-site
report under 200 ms, tracking under 5 ms.

With ``--db postgresql://user@host/db`` (a server whose user may create databases) the store is
PostgreSQL: the bench creates a fresh database on that server for the run and drops it
afterwards; with ``--keep`` it keeps it and prints its URL (``…/scanhub_bench_monitor_<random>``),
and that URL given again as ``--db`` is reused as it is, as ``--keep`` reuses a SQLite file.  The
load runs with ``synchronous_commit=off`` (SQLite: ``synchronous=OFF``) and ends with ``VACUUM
ANALYZE`` (SQLite: ``ANALYZE``), so no autovacuum of the fresh rows runs during the rounds; the
server's own settings (shared_buffers, parallel workers) are left as they are.
"""
from __future__ import annotations

import os
import random
import shutil
import statistics
import sys
import tempfile
import time

import harness

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# the product's modules this bench drives
from hub.network import basic_data  # noqa: E402
from hub import schema  # noqa: E402
from hub.store import db  # noqa: E402
from hub.business import context  # noqa: E402
from hub.business import facts  # noqa: E402
from hub.business import monitoring  # noqa: E402
from hub.business import tables as bm  # noqa: E402
from hub.scans import tables as m  # noqa: E402
from hub.network.file import check_network  # noqa: E402

T0 = 1_717_200_000_000
HOUR = 3_600_000
DAYS = 30


def make_network(n_sites: int, n_centers: int) -> dict:
    centers = [f"9{i:03d}" for i in range(n_centers)]
    sites = [{"code": c, "name": f"Center {c}", "kind": "center", "province": f"{10 + i}", "city": f"{10 + i}01"}
             for i, c in enumerate(centers)]
    for j in range(n_sites - n_centers):
        c = j % n_centers
        sites.append({"code": f"{j:04d}", "name": f"Site {j}", "kind": "site", "center": centers[c],
                      "province": f"{10 + c}", "city": f"{10 + c}01", "district": f"{10 + c}01{j % 9:02d}"})
    shifts = [{"code": f"{a}-{b}", "from": a, "to": b, "depart": f"{(i * 7) % 24:02d}:00", "transit_min": 240 + 30 * (i % 8)}
              for i, (a, b) in enumerate((a, b) for a in centers for b in centers if a != b)]
    return check_network({"network": "bench", "sites": sites, "shifts": shifts})


def parcels(net: dict, n_scans: int, rng: random.Random):
    """Yield (waybill, [scan dicts]) until about ``n_scans`` scans were produced."""
    parent = {s["code"]: s["center"] for s in net["sites"]}
    sites = [s["code"] for s in net["sites"] if s["kind"] == "site"]
    made, p = 0, 0
    while made < n_scans:
        p += 1
        wb = f"7{p:013d}"
        a, b = rng.choice(sites), rng.choice(sites)
        ca, cb = parent[a], parent[b]
        t = T0 + rng.randrange(DAYS * 24) * HOUR + rng.randrange(HOUR)
        steps = [("receive", a, {}), ("dispatch", a, {"next_site": ca, "dest_site": b}),
                 ("arrive", ca, {"weight_g": rng.randint(100, 30_000)})]
        if ca != cb:
            steps += [("dispatch", ca, {"next_site": cb, "dest_site": b, "shift": f"{ca}-{cb}"}), ("arrive", cb, {})]
        steps += [("dispatch", cb, {"next_site": b, "dest_site": b}), ("arrive", b, {}),
                  ("deliver", b, {"courier": f"c{b}"}), ("sign", b, {"signer": "R"})]
        if rng.random() < 0.1:                       # still on the road, or lost a scan
            steps = steps[:rng.randrange(1, len(steps))]
        scans = []
        for i, (kind, site, kw) in enumerate(steps):
            t += rng.randrange(10 * 60_000, 6 * HOUR)
            d = {"id": f"{wb}-{i}", "station": f"st-{site}", "epoch": "", "seq": p * 16 + i, "kind": kind,
                 "waybill": wb, "site": site, "edge_ms": t, "event_ms": t, "clock": "trusted", "received_ms": t}
            d.update(kw)
            scans.append(d)
        made += len(scans)
        yield wb, scans


def bulk(model, rows: list[dict]) -> None:
    db.bulk_insert(model, rows)


def load(n_scans: int, net: dict, seed: int, pg: bool) -> dict:
    """Generate, derive and insert about ``n_scans`` scans; the counts and seconds of each step."""
    rng = random.Random(seed)
    ctx = context.load_context()
    db.database.execute_sql("SET synchronous_commit = off" if pg else "PRAGMA synchronous=OFF")
    scans_buf, facts_buf, parcels_buf, total, n_parcels = [], [], [], 0, 0
    took = {"generate_s": 0.0, "derive_s": 0.0, "insert_s": 0.0}

    def flush():
        nonlocal scans_buf, facts_buf, parcels_buf, total
        t = time.perf_counter()
        with db.database.atomic():
            bulk(m.ScanEvent, scans_buf)
            bulk(bm.ScanFact, facts_buf)
            bulk(bm.ParcelFact, parcels_buf)
        took["insert_s"] += time.perf_counter() - t
        total += len(scans_buf)
        scans_buf, facts_buf, parcels_buf = [], [], []

    t0 = t = time.perf_counter()
    for wb, scans in parcels(net, n_scans, rng):
        t1 = time.perf_counter()
        took["generate_s"] += t1 - t
        evs = [dict(s, extra={}) for s in scans]
        fs, parcel = facts.derive(evs, ctx)
        scans_buf.extend(scans)
        facts_buf.extend(fs)
        parcels_buf.append(parcel)
        n_parcels += 1
        took["derive_s"] += time.perf_counter() - t1
        if len(scans_buf) >= 50_000:
            flush()
            rate = total / (time.perf_counter() - t0)
            print(f"\r  loaded {total:,} scans ({rate:,.0f}/s)", end="", file=sys.stderr, flush=True)
        t = time.perf_counter()
    flush()
    print(file=sys.stderr)
    t = time.perf_counter()
    db.database.execute_sql("VACUUM ANALYZE" if pg else "ANALYZE")     # PostgreSQL: outside a transaction
    took["analyze_s"] = time.perf_counter() - t
    return {"scans": total, "parcels": n_parcels, **took}


def timed(fn, repeat: int = 5) -> float:
    """Median wall time of ``fn()`` in ms."""
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return statistics.median(out)


def main(argv=None) -> int:
    ap = harness.parser(__doc__.split("\n\n")[0], quick_help="300,000 scans")
    ap.add_argument("--scans", type=int, default=None,
                    help="scans to generate (default 10,000,000; 300,000 with --quick)")
    ap.add_argument("--sites", type=int, default=300)
    ap.add_argument("--centers", type=int, default=20)
    ap.add_argument("--db", help="store: a SQLite path (default: a temp file, removed afterwards), or a "
                                 "postgresql:// server URL whose user may create databases (a fresh database is "
                                 "made for the run), or the URL of a database an earlier --keep run kept")
    ap.add_argument("--keep", action="store_true", help="keep the store and print where it is; reuse it if it is "
                                                        "already loaded")
    ap.add_argument("--seed", type=int, default=7)
    args = harness.parse(ap, argv)
    n = args.scans or (300_000 if args.quick else 10_000_000)
    pg = harness.is_pg(args.db)
    b = harness.Bench("monitor", args, params={"scans": n, "sites": args.sites, "centers": args.centers,
                                               "store": "PostgreSQL" if pg else "SQLite"})
    pgdbs, tmp = None, None
    if pg and harness.pg_name(args.db).startswith(harness.PG_PREFIX + "monitor_"):
        path, reuse = args.db, True                    # a database an earlier --keep run kept
    elif pg:
        pgdbs = harness.PgDatabases(args.db)
        path, reuse = pgdbs.create("monitor", keep=args.keep), False
    else:
        if not args.db:
            tmp = tempfile.mkdtemp(prefix="scanhub-bench-")
        path = args.db or os.path.join(tmp, "hub.db")
        reuse = args.keep and os.path.exists(path)
    try:
        run(b, args, n, path, reuse, pg)
    finally:
        db.database.close()
        if pgdbs is not None:
            pgdbs.drop()                               # the fresh database, unless --keep
        if tmp and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)     # the temp folder made above
        if args.keep or (pg and pgdbs is None):
            b.log(f"kept the store: {path}  (reuse it with --db {path} --keep)")
    return 0


def run(b: harness.Bench, args, n: int, path: str, reuse: bool, pg: bool) -> None:
    schema.connect(path, create=True)
    net = make_network(args.sites, args.centers)
    if not reuse or m.ScanEvent.select().count() == 0:
        basic_data.import_network(net)
        t = time.perf_counter()
        got = load(n, net, args.seed, pg)
        total = got["scans"]
        b.log(f"loaded {total:,} scans of {got['parcels']:,} parcels in {time.perf_counter() - t:.1f} s into {path} "
              f"(generating {got['generate_s']:.1f} s, deriving {got['derive_s']:.1f} s, inserting "
              f"{got['insert_s']:.1f} s, {'VACUUM ANALYZE' if pg else 'ANALYZE'} {got['analyze_s']:.1f} s)")
        b.params["load"] = got
    else:
        total = m.ScanEvent.select().count()
        b.log(f"reusing {path} with {total:,} scans")
    b.params["scans_in_store"] = total
    table = m.ScanEvent._meta.table_name
    count_sql = f'SELECT COUNT(*) FROM "{table}" WHERE "signer" = {db.database.obj.param}'   # no index: a full scan
    site, center = "0005", "9003"
    as_of = T0 + (DAYS + 3) * 24 * HOUR
    since, until = T0 + (DAYS - 7) * 24 * HOUR, T0 + DAYS * 24 * HOUR      # the last week
    cases = [(name, where) for name in monitoring.REPORTS for where in (site, center, None)]
    rows = {c: len(monitoring.report(c[0], c[1], since, until, as_of_ms=as_of)) for c in cases}  # and warms up
    rng = random.Random(1)
    n_parcels = bm.ParcelFact.select().count()
    wbs = [f"7{rng.randint(1, max(1, n_parcels)):013d}" for _ in range(200)]
    E = m.ScanEvent

    def baseline(r):
        return {"ms": timed(lambda: db.database.execute_sql(count_sql, ("nobody",)).fetchone(), repeat=3)}

    def reports(r):
        out = {}
        for name, where in cases:
            out[f"{name}@{where or 'all'}"] = timed(lambda: monitoring.report(name, where, since, until, as_of_ms=as_of),
                                                    repeat=5 if where else 1)
        out["worst_single_site"] = max(v for (name, where), v in zip(cases, out.values()) if where)
        return out

    def tracking(r):
        def track():
            for w in wbs:
                list(E.select().where(E.waybill == w).order_by(E.event_ms, E.id).tuples())
        return {"ms": timed(track, repeat=3) / len(wbs)}

    b.part("baseline", baseline)
    b.part("reports", reports)
    b.part("tracking", tracking)
    b.compare("worst_single_site", "worst single-site report", "reports.worst_single_site", "baseline.ms", unit="ms",
              figure_goal=("<", 200), headline=True)
    b.compare("tracking", "tracking one parcel", "tracking.ms", "baseline.ms", unit="ms", figure_goal=("<", 5),
              headline=True)
    for name, where in cases:
        key = f"{name}@{where or 'all'}"
        b.compare(key, f"  {name} @{where or 'all sites'} ({rows[(name, where)]} rows)", f"reports.{key}",
                  "baseline.ms", unit="ms", figure_goal=("<", 200) if where else None, better="lower")
    b.figure("baseline", f"baseline: full scan of {total:,} scans", "baseline.ms", unit="ms", better="lower")
    b.noise_from("baseline.ms")
    b.note(f"single-site reports: site {site}, center {center}; each the median of 5 runs (all sites: 1 run) per round")
    if pg:
        settings = {k: db.database.execute_sql(f"SHOW {k}").fetchone()[0]
                    for k in ("server_version", "shared_buffers", "max_parallel_workers_per_gather")}
        b.params["postgresql"] = settings
        b.note("PostgreSQL " + ", ".join(f"{k}={v}" for k, v in settings.items()))
    b.run()


if __name__ == "__main__":
    sys.exit(main())
