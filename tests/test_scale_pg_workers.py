"""Several derivation workers on one PostgreSQL store (docs/deployment.md): each claims dirty
waybills ``FOR UPDATE SKIP LOCKED``; one killed with -9 mid-load loses nothing, books nothing
twice, and the derived state equals a one-process run of the same scans (SQLite, derived inline).
"""
import os
import signal
import uuid

from click.testing import CliRunner

from cli import main
from conftest import sample_store, wait_for, wb

TARIFF = os.path.join(os.path.dirname(__file__), "..", "sim", "networks", "tariff-sample.yaml")
T0 = 1_795_600_000_000
WAYBILLS = 240
BATCH = 60          # scans a commit


def route(n: int) -> list[dict]:
    """One parcel from site 100 to site 200 through both centers, weighed twice: courier,
    transit and delivery fees, facts at every site."""
    w, t = wb(n), T0 + n * 1000
    steps = [("receive", "100", "st-100-1", {"courier": "1001", "weight_g": 1200 + n % 7 * 100}),
             ("dispatch", "100", "st-100-1", {"dest_site": "200"}),
             ("arrive", "900", "st-900-1", {"weight_g": 1300}),
             ("dispatch", "900", "st-900-1", {"next_site": "901", "shift": "HZ-SH-08", "dest_site": "200"}),
             ("arrive", "901", "st-900-1", {}),
             ("deliver", "200", "st-200-1", {"courier": "2001"}),
             ("sign", "200", "st-200-1", {"signer": "recipient"})]
    out = []
    for i, (kind, site, station, extra) in enumerate(steps):
        out.append({"id": uuid.uuid5(uuid.NAMESPACE_URL, f"{w}/{i}").hex, "kind": kind, "waybill": w, "site": site,
                    "station": station, "epoch": "e1", "seq": n * 10 + i + 1, "operator": "1002", "device": "g1",
                    "edge_ms": t + i * 3_600_000, "event_ms": t + i * 3_600_000, "clock": "trusted", **extra})
    return out


def batches() -> list[list[dict]]:
    # every parcel's scans spread over the load, so waybills are derived again and again
    scans = [s for i in range(7) for n in range(WAYBILLS) for s in route(n)[i:i + 1]]
    return [scans[i:i + BATCH] for i in range(0, len(scans), BATCH)]


def snapshot() -> dict:
    from hub.business import ledger
    from hub.business import tables as bm
    from hub.scans import tables as st
    E = bm.JournalEntry
    sources = sorted({r.source for r in E.select(E.source)})
    active = {s: ledger.active_lines(s) for s in sources}
    posts = {}
    for r in E.select(E.source, E.action):
        posts.setdefault(r.source, []).append(r.action)
    return {
        "parcels": sorted(tuple(r) for r in st.Parcel.select().tuples()),
        "scan_facts": sorted(tuple(r) for r in bm.ScanFact.select().tuples()),
        "parcel_facts": sorted(tuple(r) for r in bm.ParcelFact.select().tuples()),
        "expected": sorted(tuple(r) for r in bm.ExpectedFee.select().tuples()),
        "active": {s: lines for s, lines in active.items() if lines},
        "balances": ledger.balances(),
        "total": ledger.total(),
        "scans": st.ScanEvent.select().count(),
        "posts": posts,
    }


def prepare(url: str) -> None:
    sample_store(url)
    r = CliRunner().invoke(main, ["account", "set-tariff", TARIFF, "--db", url])
    assert r.exit_code == 0, r.output


def test_two_pg_workers_one_killed_mid_load_equal_one_worker(pg_url, tmp_path):
    from hub.ingest import pipeline
    from hub.ingest.background import BackgroundDerivation
    from hub.store.db import database

    # the reference: one process, SQLite, every batch derived in its own transaction
    ref_url = str(tmp_path / "ref.db")
    prepare(ref_url)
    for b in batches():
        committed, rejected = pipeline.commit(b)
        assert not rejected, rejected[:1]
    want = snapshot()
    database.close()
    assert want["scans"] == WAYBILLS * 7 and want["active"], "the reference booked no fees"

    prepare(pg_url)
    workers = [BackgroundDerivation(pg_url, batch=25).start() for _ in range(2)]
    try:
        load = batches()
        half = len(load) // 2
        for b in load[:half]:
            committed, rejected = pipeline.commit(b, derive=False)
            assert not rejected, rejected[:1]
        # the victim is mid-load: it has derived something and the marks are not all cleared
        wait_for(lambda: pipeline.dirty_count() < WAYBILLS, 120, "the workers to start deriving")
        os.kill(workers[0].proc.pid, signal.SIGKILL)
        workers[0].proc.join(10)
        for b in load[half:]:
            committed, rejected = pipeline.commit(b, derive=False)
            assert not rejected, rejected[:1]
        wait_for(lambda: pipeline.dirty_count() == 0, 240, "the surviving worker to derive everything")
        assert workers[1].alive
        got = snapshot()
    finally:
        for w in workers:
            w.stop()
    assert got["total"] == 0
    for src, actions in got["posts"].items():      # never two active entries of one source
        assert actions.count("post") - actions.count("reverse") in (0, 1), (src, actions)
    posts = got.pop("posts")
    want.pop("posts")
    assert got == want
    assert posts, "no fees booked on PostgreSQL"
