"""Drain benchmark: stations with a large backlog drain through a real Mosquitto into the hub.

    python bench/drain.py                    # 10 stations, 1,000,000 scans in 5 rounds of 200,000
    python bench/drain.py --quick            # 60,000 scans in 3 rounds of 20,000
    python bench/drain.py --scans 200000 --rounds 4 [--json]

Scans/s through the whole pipeline (outbox -> MQTT -> hub commit -> ack -> outbox) against the
baseline: a plain batched ``executemany`` of the same rows into a bare SQLite table with the hub
store's journal and ``synchronous`` settings.  One Mosquitto and one hub process (as in
production; ``cli.py hub run`` of this script's own tree) serve the whole run; the scans are drained
in rounds (bench/harness.py): before each round every station's outbox gets its slice of the
backlog, then the baseline inserts the same rows and the stations drain them, in the opposite order
every other round, and the ratio is taken per round.  The hub store and the baseline table both
keep their rows from round to round, so they grow alike (to ``--scans`` rows at the end); a drain
part ends only once the hub's background derivation has caught up, so nothing of it runs during
the next baseline.  Because both grow, their figures trend from round to round; the noise figure
comes from a probe that does not grow: the same executemany of a fixed number of rows into a fresh
table each round.  The stations' uplinks share this process.  Goal: drain >= 0.6x the baseline.

With ``--db postgresql://user@host/db`` the hub store is PostgreSQL instead: the bench creates
fresh databases on that server for the run (dropped afterwards), and the baseline is a bare
multi-row INSERT (``psycopg2.extras.execute_values``, one statement and one commit a batch) of
the same rows into a bare table of the hub's database.

A third part derives alone: the same slice, committed beforehand (not timed) into a store of its
own with the marks the ingest writes, is derived by ``hub.ingest.pipeline.derive_dirty`` in this
process, on a connection set up as the hub's background derivation sets up its own (scans/s
derived vs rows/s inserted; goal >= 0.5x).  End to end, from the first scan sent to the derived
state complete, the goal is >= 0.3x.

The ceiling (SQLite): the same rows, as the 26 columns of the hub's own scan table, into that table
of a fresh hub store (its indexes: id, waybill, bag, station/epoch/seq, site/kind/time) with the
baseline's transactions.  No ingest can beat it, so its ratio to the baseline bounds the drain's.
"""
from __future__ import annotations

import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import harness

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

T0 = 1_795_600_000_000
SYNC_NAMES = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}     # PRAGMA synchronous values
PROBE_ROWS = 20_000
BASELINE_COLUMNS = ("id TEXT PRIMARY KEY, station TEXT, seq INTEGER, kind TEXT, waybill TEXT, site TEXT, "
                    "edge_ms INTEGER, event_ms INTEGER, payload TEXT")


def make_rows(rules, station: str, n: int, offset: int):
    for i in range(n):
        wb = rules.make("std14", "7%012d" % (offset + i))
        yield {"kind": "receive", "waybill": wb, "site": "100", "operator": "1002", "device": "g1",
               "courier": "1001", "id": uuid.uuid4().hex, "station": station, "epoch": "bench",
               "edge_ms": T0 + offset + i}


def fill_outbox(schema: str, rules, path: str, station: str, n: int, offset: int, boot: str) -> list[tuple]:
    """Append ``n`` pending scans to a station's outbox (created on first use) while no agent runs."""
    db = sqlite3.connect(path)
    db.executescript(schema)
    db.execute("INSERT OR REPLACE INTO meta VALUES('epoch','bench')")
    db.execute("INSERT OR REPLACE INTO meta VALUES('mono_offsets', ?)", (json.dumps({boot: T0}),))
    rows = [(s["id"], s["waybill"], s["kind"], s["edge_ms"], s["edge_ms"] - T0, boot,
             json.dumps(s, separators=(",", ":"))) for s in make_rows(rules, station, n, offset)]
    with db:
        db.executemany("INSERT INTO scans(id, waybill, kind, created_ms, mono_ms, boot, payload) VALUES(?,?,?,?,?,?,?)",
                       rows)
    db.close()
    return rows


def open_baseline(path: str, journal: str, synchronous: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute(f"PRAGMA journal_mode={journal}")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute(f"CREATE TABLE IF NOT EXISTS scans ({BASELINE_COLUMNS})")
    return db


def insert_batched(db: sqlite3.Connection, rows: list[tuple], seq0: int, batch: int) -> float:
    """Bare SQLite: the rows in transactions of ``batch`` (as the hub commits a batch); rows/s."""
    t = time.perf_counter()
    for i in range(0, len(rows), batch):
        db.execute("BEGIN")
        db.executemany("INSERT INTO scans VALUES(?,?,?,?,?,?,?,?,?)",
                       [(r[0], "st", seq0 + i + k, r[2], r[1], "100", r[3], r[3], r[6])
                        for k, r in enumerate(rows[i:i + batch])])
        db.execute("COMMIT")
    return len(rows) / (time.perf_counter() - t)


PG_BASELINE_COLUMNS = BASELINE_COLUMNS.replace("INTEGER", "BIGINT")


def open_baseline_pg(url: str, table: str):
    import psycopg2
    db = psycopg2.connect(url)
    with db.cursor() as cur:
        cur.execute(f"CREATE TABLE IF NOT EXISTS {table} ({PG_BASELINE_COLUMNS})")
    db.commit()
    return db


def insert_batched_pg(db, table: str, rows: list[tuple], seq0: int, batch: int) -> float:
    """Bare PostgreSQL: the rows in transactions of ``batch``, one multi-row INSERT each; rows/s."""
    from psycopg2.extras import execute_values
    t = time.perf_counter()
    with db.cursor() as cur:
        for i in range(0, len(rows), batch):
            execute_values(cur, f"INSERT INTO {table} VALUES %s",
                           [(r[0], "st", seq0 + i + k, r[2], r[1], "100", r[3], r[3], r[6])
                            for k, r in enumerate(rows[i:i + batch])], page_size=batch)
            db.commit()
    return len(rows) / (time.perf_counter() - t)


def count_rows(url: str, sql: str) -> int:
    """One ``SELECT COUNT(*)`` on the hub store, SQLite or PostgreSQL, from a connection of its own."""
    if harness.is_pg(url):
        import psycopg2
        with psycopg2.connect(url) as c, c.cursor() as cur:
            cur.execute(sql)
            n = cur.fetchone()[0]
        c.close()
        return n
    with sqlite3.connect(url, timeout=60) as c:
        return c.execute(sql).fetchone()[0]


def wait_for_hub(protocol, port: int, station: str, timeout_s: float = 30.0) -> None:
    """The hub has subscribed once it has published the stations' retained configurations."""
    import paho.mqtt.client as mqtt
    got = threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-probe")
    c.on_message = lambda *a: got.set()
    c.connect("127.0.0.1", port)
    c.subscribe(protocol.topic(station, protocol.CONFIG), qos=1)
    c.loop_start()
    try:
        if not got.wait(timeout_s):
            raise SystemExit("the hub did not come up")
    finally:
        c.loop_stop()
        c.disconnect()


def tree_env() -> dict:
    """Environment for child processes: this tree's code first, whatever is installed."""
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def check_tree(env: dict) -> None:
    """Refuse to measure another checkout: the hub's interpreter must import hub/ from ROOT."""
    where = subprocess.run([sys.executable, "-c", "import hub, os; print(os.path.dirname(os.path.dirname("
                            "os.path.abspath(hub.__file__))))"], env=env, cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.strip()
    if os.path.realpath(where) != os.path.realpath(ROOT):
        raise SystemExit(f"the hub process would run the code in {where}, not this tree ({ROOT})")


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (the hub's derivation process, its resource tracker)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid``'s live children (a child that exited no longer counts)."""
    total = 0.0
    for kid in children(pid):
        try:
            total += proc_cpu(kid)
        except OSError:
            pass
    return total


def self_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def main() -> None:
    ap = harness.parser(__doc__, quick_help="60,000 scans (20,000 a round)")
    ap.add_argument("--scans", type=int, default=None,
                    help="scans drained in all, split evenly over the rounds (default 1,000,000; 60,000 with --quick)")
    ap.add_argument("--stations", type=int, default=10)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--window", type=int, default=8)
    ap.add_argument("--workers", type=int, default=1, help="hub worker processes (shared subscription)")
    ap.add_argument("--derive", choices=["background", "inline"], default="background",
                    help="the hub's --derive (default background)")
    ap.add_argument("--keep-files", action="store_true", help="keep the hub store, outboxes and baseline (temp folder)")
    ap.add_argument("--baseline-synchronous", choices=["auto", *SYNC_NAMES.values()], default="auto",
                    help="PRAGMA synchronous of the baseline table; auto (default): whatever the hub store gets "
                         "from hub.db's own opening code, so a change there moves the baseline with it")
    ap.add_argument("--db", default=None, metavar="postgresql://…",
                    help="drain into PostgreSQL: a server URL whose user may create databases (fresh ones "
                         "are made for the run and dropped after); default: SQLite files in a temp folder")
    args = harness.parse(ap)
    pg = bool(args.db)
    if pg and not harness.is_pg(args.db):
        ap.error("--db takes a postgresql:// URL (the default store is SQLite)")
    scans = args.scans or (60_000 if args.quick else 1_000_000)
    per = scans // args.rounds // args.stations           # scans per station per round
    if per < 1:
        ap.error("--scans must give every station at least one scan a round")
    slice_n = per * args.stations

    # the product's modules this bench drives (kept together: update here when they move)
    from contract.waybill import WaybillRules
    from edge.agent import EdgeAgent
    from edge.clock import boot_id
    from edge.outbox import SCHEMA
    from edge.station import StationConfig
    from contract import protocol
    from hub.network.basic_data import import_network
    from hub.network.broker import ManagedBroker
    from hub.schema import connect
    from hub.store.db import database
    from hub.network.file import check_network
    from hub.ingest.background import BATCH as BACKGROUND_BATCH

    rules = WaybillRules([{"name": "std14", "pattern": "^7[0-9]{13}$", "check": "mod10-31"}])
    work = tempfile.mkdtemp(prefix="scanhub-bench-drain-")
    stations = [f"st-{i:02d}" for i in range(args.stations)]
    net = {"network": "bench", "sites": [{"code": "900", "name": "C", "kind": "center"},
                                         {"code": "100", "name": "S", "center": "900"}],
           "stations": [{"id": s, "site": "100"} for s in stations],
           "staff": [{"code": "1002", "name": "op", "site": "100"}, {"code": "1001", "name": "c", "site": "100"}],
           "waybill_rules": [{"name": "std14", "pattern": "^7[0-9]{13}$", "check": "mod10-31"}]}
    pgdbs = harness.PgDatabases(args.db) if pg else None
    hub_db = pgdbs.create("hub") if pg else os.path.join(work, "hub.db")
    connect(hub_db, create=True)
    import_network(check_network(net))
    if pg:
        journal = "PostgreSQL"
        hub_sync = "synchronous_commit=" + database.execute_sql("SHOW synchronous_commit").fetchone()[0]
    else:
        # the baseline writes like the hub store: ask SQLite what the hub's own opening code set
        journal = database.execute_sql("PRAGMA journal_mode").fetchone()[0].upper()
        hub_sync = SYNC_NAMES.get(database.execute_sql("PRAGMA synchronous").fetchone()[0], "?")
    database.close()
    if pg and args.baseline_synchronous != "auto":
        ap.error("--baseline-synchronous is for SQLite")
    sync = hub_sync if args.baseline_synchronous == "auto" else args.baseline_synchronous

    b = harness.Bench("drain", args, params={
        "scans": slice_n * args.rounds, "per_round": slice_n, "stations": args.stations, "batch": args.batch,
        "window": args.window, "workers": args.workers, "derive": args.derive, "hub_journal": journal,
        "hub_synchronous": hub_sync, "baseline_synchronous": sync, "probe_rows": min(PROBE_ROWS, slice_n)})
    b.log(f"{args.stations} stations, {args.rounds} round(s) of {slice_n:,} scans ({slice_n * args.rounds:,} in all); "
          + (f"hub store {journal}, {hub_sync}" if pg else
             f"hub store {journal}, synchronous={hub_sync}; baseline synchronous={sync}"))
    if pg:
        base_db, normal_db = open_baseline_pg(hub_db, "bench_baseline"), None
    else:
        base_db = open_baseline(os.path.join(work, "baseline.db"), journal, sync)
        # what the hub's durable acknowledgement costs: the same baseline with synchronous=NORMAL beside it
        normal_db = (open_baseline(os.path.join(work, "baseline-normal.db"), journal, "NORMAL")
                     if sync != "NORMAL" else None)
    boot = boot_id()
    state = {"rows": [], "filled": 0, "seq": 0, "dseq": 0}

    def fill(r, n: int = per):
        rows = []
        for k, st in enumerate(stations):       # station k's waybills: a range of its own
            offset = k * 10 * scans + state["filled"]
            rows += fill_outbox(SCHEMA, rules, os.path.join(work, f"{st}.db"), st, n, offset, boot)
        state["rows"], state["filled"] = rows, state["filled"] + n

    def baseline(r):
        rate = (insert_batched_pg(base_db, "bench_baseline", state["rows"], state["seq"], args.batch) if pg else
                insert_batched(base_db, state["rows"], state["seq"], args.batch))
        state["seq"] += len(state["rows"])
        return {"rows_per_s": rate, "rows": len(state["rows"])}

    def baseline_normal(r):
        rate = insert_batched(normal_db, state["rows"], state["seq"], args.batch)
        return {"rows_per_s": rate}

    def probe(r):
        if pg:
            db = open_baseline_pg(hub_db, f"bench_probe_{r + 1}")
            rate = insert_batched_pg(db, f"bench_probe_{r + 1}", state["rows"][:PROBE_ROWS], 0, args.batch)
            with db.cursor() as cur:
                cur.execute(f"DROP TABLE bench_probe_{r + 1}")
            db.commit()
            db.close()
            return {"rows_per_s": rate}
        path = os.path.join(work, f"probe-{r}.db")
        db = open_baseline(path, journal, sync)
        rate = insert_batched(db, state["rows"][:PROBE_ROWS], 0, args.batch)
        db.close()
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        return {"rows_per_s": rate}

    # the ceiling: the same rows into the hub's own scan table (its 26 columns and its indexes), the
    # least any ingest must write; its ratio to the baseline bounds the drain's
    ceiling_db = None
    if not pg:
        ceiling_path = os.path.join(work, "ceiling.db")
        connect(ceiling_path, create=True)
        database.close()
        ceiling_db = open_baseline(ceiling_path, journal, sync)
        ceiling_cols = [c[1] for c in ceiling_db.execute("PRAGMA table_info(scanevent)")]
        ceiling_sql = (f"INSERT INTO scanevent ({', '.join(ceiling_cols)}) VALUES "
                       f"({', '.join('?' for _ in ceiling_cols)}) ON CONFLICT DO NOTHING")

    def ceiling(r):
        scans = [json.loads(row[6]) for row in state["rows"]]
        t = time.perf_counter()
        for i in range(0, len(scans), args.batch):
            ceiling_db.execute("BEGIN")
            ceiling_db.executemany(ceiling_sql, [
                tuple({**sc, "seq": state["seq"] + i + k, "event_ms": sc["edge_ms"], "clock": "trusted",
                       "received_ms": T0}.get(c) for c in ceiling_cols)
                for k, sc in enumerate(scans[i:i + args.batch])])
            ceiling_db.execute("COMMIT")
        return {"rows_per_s": len(scans) / (time.perf_counter() - t)}

    derive_url = pgdbs.create("derive") if pg else os.path.join(work, "derive.db")
    connect(derive_url, create=True)
    import_network(check_network(net))
    if not pg:
        database.execute_sql("PRAGMA synchronous=NORMAL")   # as hub.ingest.background's connection

    def derive_alone(r):
        from hub.ingest.pipeline import commit, derive_dirty
        scans = []
        for row in state["rows"]:
            scan = json.loads(row[6])
            state["dseq"] += 1
            scans.append({**scan, "seq": state["dseq"], "event_ms": scan["edge_ms"], "clock": "trusted"})
        for i in range(0, len(scans), args.batch):      # as the ingest commits them: marks only
            commit(scans[i:i + args.batch], derive=False)
        t = time.perf_counter()
        while derive_dirty(BACKGROUND_BATCH):
            pass
        return {"scans_per_s": len(scans) / (time.perf_counter() - t)}

    def committed() -> int:
        return count_rows(hub_db, "SELECT COUNT(*) FROM scanevent")

    def drain(r):
        slice_n = len(state["rows"])
        before = committed()
        agents = [EdgeAgent(StationConfig(station=st, site="100", broker=broker.url,
                                          outbox=os.path.join(work, f"{st}.db"), batch_size=args.batch,
                                          window=args.window)) for st in stations]
        hub_cpu0, cpu0 = sum(proc_cpu(h.pid) for h in hubs), self_cpu()
        der_cpu0 = sum(tree_cpu(h.pid) for h in hubs)
        t_start = last_print = time.perf_counter()
        try:
            for a in agents:
                a.start()
            while True:
                left = sum(a.outbox.pending for a in agents)
                now = time.perf_counter()
                if left == 0:
                    break
                if now - last_print > 5:
                    done = slice_n - left
                    b.log(f"    {done:>9,} / {slice_n:,} acked  ({done / (now - t_start):,.0f} scans/s)")
                    last_print = now
                if now - t_start > 3600:
                    raise SystemExit("drain did not finish within an hour")
                time.sleep(0.01)
            elapsed = time.perf_counter() - t_start
            edge_cpu, hub_cpu = self_cpu() - cpu0, sum(proc_cpu(h.pid) for h in hubs) - hub_cpu0
            der_cpu = sum(tree_cpu(h.pid) for h in hubs) - der_cpu0
            # derived state (parcels, monitoring facts, fees) catches up behind the acknowledgements
            while count_rows(hub_db, "SELECT COUNT(*) FROM dirtywaybill"):
                if time.perf_counter() - t_start > 7200:
                    raise SystemExit("derivation did not catch up within two hours")
                time.sleep(0.05)
            derived = time.perf_counter() - t_start
            stats = {k: sum(a.uplink.stats[k] for a in agents) for k in ("batches_sent", "resends", "connects")}
        finally:
            for a in agents:
                a.stop()
        got = committed() - before
        return {"scans_per_s": slice_n / elapsed, "seconds": elapsed, "derived_after_s": derived - elapsed,
                "e2e_scans_per_s": slice_n / derived, "committed": got, "not_committed": slice_n - got,
                "hub_cpu_s": hub_cpu, "hub_core_percent": 100 * hub_cpu / elapsed,
                "derivation_core_percent": 100 * der_cpu / elapsed,
                "uplink_cpu_s": edge_cpu, "uplink_core_percent": 100 * edge_cpu / elapsed, **stats}

    b.before_round(fill)
    b.part("probe", probe)
    if normal_db is not None:
        b.part("baseline_normal", baseline_normal)
    b.part("baseline", baseline)
    if ceiling_db is not None:
        b.part("ceiling", ceiling)
    b.part("drain", drain)
    b.part("derive", derive_alone)
    b.compare("drain", "drain until acknowledged vs bare executemany", "drain.scans_per_s", "baseline.rows_per_s",
              unit="scans/s", goal=(">=", 0.6), headline=True)
    if normal_db is not None:
        b.compare("drain_vs_normal", "  same, against a synchronous=NORMAL baseline", "drain.scans_per_s",
                  "baseline_normal.rows_per_s", unit="scans/s")
    if ceiling_db is not None:
        b.compare("ceiling", "  ceiling: the same rows into the hub's scan table alone", "ceiling.rows_per_s",
                  "baseline.rows_per_s", unit="rows/s")
    b.compare("e2e", "  with derived state complete (end to end)", "drain.e2e_scans_per_s", "baseline.rows_per_s",
              unit="scans/s", goal=(">=", 0.3), headline=True)
    b.compare("derive", "deriving a committed backlog alone vs bare executemany", "derive.scans_per_s",
              "baseline.rows_per_s", unit="scans/s", goal=(">=", 0.5), headline=True)
    b.figure("derived_after", "  derivation done after the last ack", "drain.derived_after_s", unit="s",
             better="lower")
    b.figure("not_committed", "  scans the hub did not commit", "drain.not_committed", goal=("<=", 0))
    b.figure("resends", "  resends after an ack timeout", "drain.resends", better="lower")
    b.figure("hub_cpu", "  CPU: hub process, of a core", "drain.hub_core_percent", unit="%", better="lower")
    b.figure("derivation_cpu", "  CPU: hub's derivation process, of a core", "drain.derivation_core_percent",
             unit="%", better="lower")
    b.figure("uplink_cpu", "  CPU: station uplinks, of a core", "drain.uplink_core_percent", unit="%", better="lower")
    b.figure("probe", f"noise probe: {min(PROBE_ROWS, slice_n):,} rows into a fresh table", "probe.rows_per_s",
             unit="rows/s", better="higher")
    b.noise_from("probe.rows_per_s")
    b.note(f"a warm-up of {min(per, args.batch) * args.stations:,} scans went through both before the rounds")
    if pg:
        b.note(f"PostgreSQL ({hub_sync}); baseline: one multi-row INSERT and commit per {args.batch} rows into a "
               f"bare table of the hub's database; it grows with the store")
    else:
        b.note(f"baseline: batched executemany ({args.batch} a transaction) into a bare table with the hub store's "
               f"journal_mode={journal}, synchronous={sync} (hub store: synchronous={hub_sync}); it grows with the store")
    if sync != hub_sync:
        b.note(f"the baseline's synchronous={sync} differs from the hub store's ({hub_sync}): the ratio is not like "
               f"for like")
    if args.quick:
        b.note("quick run: small slices, where connection set-up weighs; the goal is set for the full size")

    env = tree_env()
    check_tree(env)
    broker = ManagedBroker().start()
    extra = (["--shared"] if args.workers > 1 else []) + ["--derive", args.derive]
    hubs = []
    try:
        hubs = [subprocess.Popen([sys.executable, os.path.join(ROOT, "cli.py"), "hub", "run", "--db", hub_db,
                                  "--broker", broker.url, *extra], stdout=subprocess.DEVNULL, cwd=ROOT, env=env)
                for _ in range(args.workers)]
        wait_for_hub(protocol, broker.port, stations[0])
        # warm-up, not measured: one batch per station through the pipeline and into the baseline
        fill(-1, min(per, args.batch))
        baseline(-1), drain(-1), derive_alone(-1)
        if ceiling_db is not None:
            ceiling(-1)
        b.log(f"warm-up: {len(state['rows']):,} scans drained and inserted (not measured)")
        b.run()
    finally:
        for hub in hubs:
            hub.terminate()
            hub.wait()
        broker.stop()
        base_db.close()
        if ceiling_db is not None:
            ceiling_db.close()
        database.close()
        if pgdbs is not None:
            pgdbs.drop()
        if not args.keep_files:
            shutil.rmtree(work, ignore_errors=True)      # a full run leaves about 2 GB


if __name__ == "__main__":
    main()
