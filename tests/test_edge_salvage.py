"""A damaged outbox: one clear line from every command, `scanhub edge salvage`, and a new epoch
when a station finds that its file lost scans (a deleted -wal)."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import uuid

import pytest
from click.testing import CliRunner

import cli
from conftest import wb
from contract.scan import validate_scan
from edge.outbox import ACKED, PENDING, REJECTED, Outbox, OutboxDamaged, read_high_water

T0 = 1_795_600_000_000
STATION = "st-100-1"


def capture(ob: Outbox, i: int, kind: str = "receive") -> dict:
    """What Capture stores for one scan (edge/capture.py): the schema's capture-time fields."""
    scan = {"kind": kind, "waybill": wb(i), "site": "100", "operator": "1002", "device": "gun-1",
            "courier": "1001", "id": uuid.uuid4().hex, "station": STATION, "epoch": ob.epoch, "edge_ms": T0 + i}
    validate_scan(scan, stamped=False)
    return scan


def build(path: str, n: int = 3000, acked: int = 1000, rejected: int = 2, deleted: int = 2) -> dict:
    """An outbox with ``n`` scans: the first ``acked`` acknowledged, ``rejected`` rejected, the
    rest pending, ``deleted`` deleted (tombstones), and a cached configuration and clock offsets.
    Returns ``{id: (seq, state, payload)}`` as the file held them, and its epoch and tombstones."""
    ob = Outbox(path)
    for lo in range(0, n, 500):
        ob.add_many([(capture(ob, i), T0 + i, 1000 + i, "boot-1") for i in range(lo, min(n, lo + 500))])
    ob.mark_acked([[1, acked]], [{"seq": acked + 1 + k, "reason": "schema"} for k in range(rejected)], T0 + 10**6)
    ob.set_meta("config", json.dumps({"version": "cfg-1"}))
    ob.set_meta("mono_offsets", json.dumps({"boot-1": 123}))
    rows = {r["id"]: r for r in ob.scans()}
    gone = [r["id"] for r in ob.scans(PENDING)[:deleted]]
    for sid in gone:
        ob.delete(sid, "label printed twice", "1002", T0 + 2 * 10**6)
    epoch = ob.epoch
    ob.close()
    return {"epoch": epoch, "tombstones": set(gone),
            "scans": {sid: (r["seq"], r["state"], {k: v for k, v in r.items() if k not in ("seq", "state", "reason")})
                      for sid, r in rows.items() if sid not in gone}}


def station_file(tmp_path, outbox: str, devices: str = "") -> str:
    cfg = tmp_path / "station.yaml"
    cfg.write_text(f"station: {STATION}\nsite: \"100\"\nbroker: mqtt://127.0.0.1:1\noutbox: {outbox}\n{devices}")
    return str(cfg)


def invoke(*args):
    return CliRunner().invoke(cli.main, list(args))


def truncate(path: str) -> None:
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2 + 1234)       # mid-way, and mid-page


def scan_leaf_pages(path: str) -> list[int]:
    db = sqlite3.connect(path)
    try:
        return [r[0] for r in db.execute("SELECT pageno FROM dbstat WHERE name='scans' AND pagetype='leaf' "
                                         "ORDER BY pageno")]
    finally:
        db.close()


def corrupt_page(path: str, page: int) -> None:
    with open(path, "r+b") as f:
        f.seek((page - 1) * 4096 + 8)
        f.write(bytes((i * 151 + 7) % 256 for i in range(900)))   # cell pointers and cells: garbage


def sha(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def stored(path: str) -> list[dict]:
    ob = Outbox(path)
    try:
        return ob.scans()
    finally:
        ob.close()


def assert_one_line(res, outbox: str, cfg: str, sqlite_says: str = "database disk image is malformed"):
    assert res.exit_code == 1, res.output
    assert isinstance(res.exception, SystemExit), res.exception      # a click error, not a crash
    lines = res.output.strip().splitlines()
    assert len(lines) == 1, res.output
    assert "Traceback" not in res.output
    line = lines[0]
    assert outbox in line and sqlite_says in line, line
    assert f"run `scanhub edge salvage --config {cfg}`" in line, line


# ---------------------------------------------------------------- one line, never a traceback
def test_truncated_outbox_is_one_line_for_status_outbox_and_run(tmp_path):
    path = str(tmp_path / "st.db")
    build(path)
    truncate(path)
    cfg = station_file(tmp_path, path)
    for args in (["status"], ["status", "--json"], ["outbox"], ["outbox", "--state", "pending"], ["run"],
                 ["forecast"], ["delete", "x", "--reason", "r"]):
        assert_one_line(invoke("edge", *args, "--config", cfg), path, cfg)


def test_damaged_page_is_one_line_and_the_station_refuses_to_run_on_it(tmp_path):
    path = str(tmp_path / "st.db")
    build(path)
    corrupt_page(path, scan_leaf_pages(path)[5])
    # a device that cannot open: a station that did not refuse the file stops with that error instead
    cfg = station_file(tmp_path, path, "devices:\n  - {type: scanner, protocol: no-such-protocol, port: /dev/null}\n")
    assert_one_line(invoke("edge", "status", "--config", cfg), path, cfg)
    assert_one_line(invoke("edge", "outbox", "--config", cfg, "--limit", "100000"), path, cfg)
    res = invoke("edge", "run", "--config", cfg)
    assert "cannot open scanner" not in res.output, "the station started on a damaged outbox"
    assert_one_line(res, path, cfg, sqlite_says="SQLite says")
    ob = Outbox(path)                 # a write that meets the damage says so too
    try:
        with pytest.raises(OutboxDamaged, match="is damaged: SQLite says"):
            ob.prune(T0 + 10**12)
    finally:
        ob.close()
    # the refused station did not keep the outbox: salvage can take it
    assert invoke("edge", "salvage", "--config", cfg).exit_code == 0


def test_a_file_that_is_not_a_database_is_one_line_and_left_alone(tmp_path):
    path = str(tmp_path / "st.db")
    with open(path, "wb") as f:
        f.write(b"these are not the pages you are looking for\n" * 200)
    before = sha(path)
    cfg = station_file(tmp_path, path)
    assert_one_line(invoke("edge", "status", "--config", cfg), path, cfg, sqlite_says="file is not a database")
    assert sha(path) == before


# ---------------------------------------------------------------- salvage
def test_salvage_of_a_truncated_outbox(tmp_path):
    path = str(tmp_path / "st.db")
    old = build(path)
    truncate(path)
    damaged = sha(path)
    cfg = station_file(tmp_path, path)
    res = invoke("edge", "salvage", "--config", cfg, "--json")
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)

    # the old file is kept, untouched, where the report says
    assert rep["kept_as"].startswith(path + ".salvaged-") and sha(rep["kept_as"]) == damaged
    assert rep["old_epoch"] == old["epoch"] and rep["epoch"] != old["epoch"]
    rows = stored(path)
    assert rows, "nothing saved from the readable half"
    by_id = {r["id"]: r for r in rows}
    assert len(by_id) == len(rows) and set(by_id) <= set(old["scans"]), "ids kept, none invented"
    # states kept: pending stays pending (sent again), acked and rejected stay settled
    for sid, r in by_id.items():
        seq, state, payload = old["scans"][sid]
        assert r["state"] == state
        # the chain, like epoch and seq, says where a scan sits in its outbox (contract.chain)
        assert {k: v for k, v in r.items() if k not in ("seq", "state", "reason", "epoch", "chain")} == \
               {k: v for k, v in payload.items() if k not in ("epoch", "chain")}, "capture-time fields changed"
        if state == PENDING:       # to be sent again: the new epoch, unchained
            assert r["epoch"] == rep["epoch"] and "chain" not in r
        else:                      # never sent again: as the hub knows it
            assert (r["epoch"], r["seq"]) == (old["epoch"], seq)
    # the pending scans are seq 1..P of the new epoch, in their old order
    pending = [r for r in rows if r["state"] == PENDING]
    assert pending and [r["seq"] for r in pending] == list(range(1, len(pending) + 1))
    assert [old["scans"][r["id"]][0] for r in pending] == sorted(old["scans"][r["id"]][0] for r in pending)
    assert [r["id"] for r in rows if r["state"] != PENDING] == \
           sorted((r["id"] for r in rows if r["state"] != PENDING), key=lambda i: old["scans"][i][0])
    # the report adds up: what was saved plus what was lost is what the file held
    sv, ns = rep["saved"], rep["not_saved"]
    assert (sv["pending"], sv["acked"], sv["rejected"]) == tuple(
        sum(1 for r in rows if r["state"] == s) for s in (PENDING, ACKED, REJECTED))
    assert sv["scans"] + sv["tombstones"] + ns["missing_seqs"] == len(old["scans"]) + len(old["tombstones"])
    assert ns["pruned"] == 0 and ns["lost"] == len(old["scans"]) - len(rows)
    # the new outbox works as an outbox: status reads it, a station can claim it, the next seq follows
    st = invoke("edge", "status", "--config", cfg, "--json")
    assert st.exit_code == 0, st.output
    assert json.loads(st.output)["epoch"] == rep["epoch"]
    ob = Outbox(path)
    ob.claim()
    assert ob.renewed is None and ob.epoch == rep["epoch"]
    assert ob.add(capture(ob, 99_999), T0, 1, "boot-2") == len(pending) + 1
    ob.close()


def test_salvage_of_a_damaged_page_loses_that_page_only_and_names_its_waybills(tmp_path):
    path = str(tmp_path / "st.db")
    old = build(path, acked=100)
    before = {r["id"]: r for r in stored(path)}
    leaves = scan_leaf_pages(path)
    page = leaves[len(leaves) // 2]
    db = sqlite3.connect(path)
    on_page = db.execute("SELECT ncell FROM dbstat WHERE pageno=?", (page,)).fetchone()[0]
    db.close()
    corrupt_page(path, page)
    cfg = station_file(tmp_path, path)
    res = invoke("edge", "salvage", "--config", cfg)
    assert res.exit_code == 0, res.output
    rows = stored(path)
    lost = set(before) - {r["id"] for r in rows}
    assert 0 < len(lost) <= on_page, f"{len(lost)} scans lost to one page of {on_page}"
    assert all(before[i]["state"] == PENDING for i in lost)      # the middle page holds pending scans
    assert f"{len(lost)} lost" in res.output
    assert all(before[i]["waybill"] in res.output for i in lost), res.output   # rescan these
    assert "old file kept as" in res.output and "Traceback" not in res.output
    # tombstones, the configuration and the clock offsets survive; each tombstone keeps its old epoch
    ob = Outbox(path)
    try:
        dels = ob.pending_deletions()
        assert {d["id"] for d in dels} == old["tombstones"]
        assert {d["scan"]["epoch"] for d in dels} == {old["epoch"]}
        assert json.loads(ob.get_meta("config"))["version"] == "cfg-1"
        assert json.loads(ob.get_meta("mono_offsets")) == {"boot-1": 123}
        assert ob.epoch != old["epoch"]
    finally:
        ob.close()


def test_the_hub_takes_the_salvaged_scans(tmp_path, hub_store):
    from hub.schema import connect
    from hub.scans.commit import commit_scans
    from hub.scans.gaps import gaps
    from hub.store.db import database

    def sent(ob: Outbox, rows) -> list[dict]:      # as the uplink stamps them (edge/uplink.py)
        out = []
        for seq, payload, mono, boot, created in rows:
            scan = json.loads(payload)
            scan.update(seq=seq, event_ms=created, clock="trusted")
            validate_scan(scan)
            out.append(scan)
        return out

    path = str(tmp_path / "st.db")
    build(path, n=600, acked=200, rejected=0, deleted=0)
    ob = Outbox(path)
    at_hub = sent(ob, [r for r in ob._db.execute("SELECT seq, payload, mono_ms, boot, created_ms FROM scans "
                                                   f"WHERE state={ACKED} ORDER BY seq")])
    ob.close()
    connect(hub_store)
    try:
        committed, rejected = commit_scans(at_hub)               # what the hub had acknowledged
        assert len(committed) == 200 and not rejected
        truncate(path)
        rep = invoke("edge", "salvage", "--config", station_file(tmp_path, path), "--json")
        assert rep.exit_code == 0, rep.output
        rep = json.loads(rep.output)
        ob = Outbox(path)
        again = sent(ob, ob.pending_after(0, 10_000))
        ob.close()
        assert again, "no pending scan survived to be sent again"
        committed, rejected = commit_scans(again)
        assert not rejected and len(committed) == len(again)
        committed, rejected = commit_scans(again)                # sent twice: nothing changes
        assert not rejected and len(committed) == len(again)
        new_epoch = [g for g in gaps(STATION) if g["epoch"] == rep["epoch"]]
        assert new_epoch and new_epoch[0]["missing"] == [], new_epoch    # numbered 1..N: no false gap
        assert new_epoch[0]["scans"] == len(again)
        old_epoch = [g for g in gaps(STATION) if g["epoch"] == rep["old_epoch"]]
        assert old_epoch[0]["scans"] == 200 and old_epoch[0]["conflicts"] == 0
    finally:
        database.close()


def test_a_resent_scan_the_hub_already_had_is_the_same_scan(tmp_path, hub_store):
    """A pending scan whose acknowledgement the damage took comes back in the new epoch: the hub
    acknowledges it as the scan it has, and keeps its own copy."""
    from hub.schema import connect
    from hub.scans import tables as m
    from hub.scans.commit import commit_scans
    from hub.store.db import database

    path = str(tmp_path / "st.db")
    build(path, n=20, acked=0, rejected=0, deleted=0)
    ob = Outbox(path)
    first = [dict(json.loads(p), seq=seq, event_ms=created, clock="trusted")
             for seq, p, _, _, created in ob.pending_after(0, 100)]
    ob.close()
    connect(hub_store)
    try:
        assert len(commit_scans(first[:5])[0]) == 5             # committed; the ack never recorded
        rep = json.loads(invoke("edge", "salvage", "--config", station_file(tmp_path, path), "--json").output)
        ob = Outbox(path)
        again = [dict(json.loads(p), seq=seq, event_ms=created, clock="trusted")
                 for seq, p, _, _, created in ob.pending_after(0, 100)]
        ob.close()
        assert [s["id"] for s in again] == [s["id"] for s in first] and {s["epoch"] for s in again} == {rep["epoch"]}
        committed, rejected = commit_scans(again)
        assert not rejected and sorted(s["id"] for s in committed) == sorted(s["id"] for s in first)
        had = [s["id"] for s in first[:5]]
        kept = {r.id: (r.epoch, r.seq) for r in m.ScanEvent.select().where(m.ScanEvent.id.in_(had))}
        assert kept == {s["id"]: (s["epoch"], s["seq"]) for s in first[:5]}, "the hub's copy changed"
        assert m.ScanEvent.select().count() == 20
    finally:
        database.close()


def test_a_salvaged_outbox_salvaged_again_and_a_kept_scan_deleted(tmp_path):
    """Settled scans keep the (epoch, seq) the hub knows them by through any number of salvages,
    and a tombstone for one names it so."""
    path = str(tmp_path / "st.db")
    old = build(path, n=40, acked=10, rejected=1, deleted=0)
    cfg = station_file(tmp_path, path)
    first = json.loads(invoke("edge", "salvage", "--config", cfg, "--json").output)
    ob = Outbox(path)
    ob.mark_acked([[1, 5]], [], T0 + 3 * 10**6)               # five of the re-sent scans acknowledged
    ob.close()
    res = invoke("edge", "salvage", "--config", cfg, "--json")
    assert res.exit_code == 0, res.output
    second = json.loads(res.output)
    assert second["not_saved"]["missing_seqs"] == 0, second["not_saved"]
    rows = stored(path)
    ident = {r["id"]: (r["epoch"], r["seq"], r["state"]) for r in rows}
    for sid, (seq, state, _) in old["scans"].items():
        if state != PENDING:
            assert ident[sid] == (old["epoch"], seq, state)
    assert sorted(r["seq"] for r in rows if r["epoch"] == first["epoch"]) == [1, 2, 3, 4, 5]
    assert [r["seq"] for r in rows if r["state"] == PENDING] == list(range(1, 40 - 11 - 5 + 1))
    assert {r["epoch"] for r in rows if r["state"] == PENDING} == {second["epoch"]}
    kept = next(sid for sid, (seq, state, _) in old["scans"].items() if state == ACKED)
    ob = Outbox(path)
    try:
        assert ob.delete(kept, "wrong parcel", "1002", T0)["seq"] == old["scans"][kept][0]
        (tomb,) = ob.pending_deletions()
        assert (tomb["scan"]["epoch"], tomb["scan"]["seq"], tomb["uploaded"]) == \
               (old["epoch"], old["scans"][kept][0], True)
    finally:
        ob.close()


def test_salvage_is_refused_while_a_station_runs_on_the_outbox(tmp_path):
    path = str(tmp_path / "st.db")
    build(path, n=10, acked=0, rejected=0, deleted=0)
    cfg = station_file(tmp_path, path)
    running = Outbox(path)
    running.claim()
    try:
        before = sha(path)
        res = invoke("edge", "salvage", "--config", cfg)
        assert res.exit_code == 1 and "in use" in res.output and f"pid {os.getpid()}" in res.output, res.output
        assert "Traceback" not in res.output
        assert sha(path) == before and not [f for f in os.listdir(tmp_path) if ".salvaged-" in f]
    finally:
        running.close()
    res = invoke("edge", "salvage", "--config", cfg)
    assert res.exit_code == 0, res.output
    assert "nothing - every seq number has its scan or tombstone" in res.output


def test_salvage_tells_pruned_scans_from_lost_ones(tmp_path):
    path = str(tmp_path / "st.db")
    build(path, n=50, acked=20, rejected=0, deleted=0)
    ob = Outbox(path)
    assert ob.prune(T0 + 10**6 + 8 * 86_400_000) == 20
    ob.close()
    res = invoke("edge", "salvage", "--config", station_file(tmp_path, path), "--json")
    ns = json.loads(res.output)["not_saved"]
    assert (ns["missing_seqs"], ns["pruned"], ns["lost"]) == (20, 20, 0)


def test_salvage_without_an_outbox_says_so(tmp_path):
    res = invoke("edge", "salvage", "--config", station_file(tmp_path, str(tmp_path / "none.db")))
    assert res.exit_code == 1 and "no outbox at" in res.output and "Traceback" not in res.output


# ---------------------------------------------------------------- a lost -wal: a new epoch
KILLED_STATION = """
import os, signal, sys, uuid
from edge.outbox import Outbox
ob = Outbox(sys.argv[1])
ob.claim()
def scan(i):
    return {"kind": "receive", "waybill": "7000000000%04d" % i, "id": uuid.uuid4().hex, "station": "st-100-1",
            "epoch": ob.epoch, "site": "100", "operator": "1002", "edge_ms": 1795600000000}
for i in range(5):
    ob.add(scan(i), 1795600000000 + i, i, "boot-1")
with ob._lock:
    assert ob._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
for i in range(5, 10):
    ob.add(scan(i), 1795600000000 + i, i, "boot-1")
print(ob.epoch, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def killed_station(path: str) -> str:
    """Run a station that stores 10 scans (5 checkpointed into the file, 5 only in its -wal) and
    is killed with SIGKILL; returns its epoch."""
    p = subprocess.run([sys.executable, "-c", KILLED_STATION, path], capture_output=True, text=True, timeout=60)
    assert p.returncode == -signal.SIGKILL, p.stderr
    assert os.path.getsize(path + "-wal") > 0
    return p.stdout.strip()


def test_a_deleted_wal_starts_a_new_epoch_so_no_seq_is_used_twice(tmp_path, caplog):
    path = str(tmp_path / "st.db")
    epoch = killed_station(path)
    os.remove(path + "-wal")                      # by hand, while the station was stopped
    if os.path.exists(path + "-shm"):
        os.remove(path + "-shm")
    cfg = station_file(tmp_path, path)
    st = invoke("edge", "status", "--config", cfg)
    assert st.exit_code == 0 and "seqs 6..10 of epoch" in st.output and "WARNING" in st.output, st.output

    ob = Outbox(path)
    assert ob.epoch == epoch and ob.max_seq() == 5
    with caplog.at_level("WARNING", logger="scanhub.edge"):
        ob.claim()
    try:
        assert ob.renewed is not None and ob.epoch != epoch
        assert "seqs 6..10" in caplog.text and ob.epoch in caplog.text
        issued = {(epoch, n) for n in range(1, 11)}
        rows = ob.scans()
        assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5] and {r["epoch"] for r in rows} == {ob.epoch}
        seq = ob.add(capture(ob, 77), T0, 1, "boot-2")
        now = {(r["epoch"], r["seq"]) for r in ob.scans()}
        assert (ob.epoch, seq) in now and not now & issued, "an (epoch, seq) the hub may hold was used again"
        assert os.path.exists(ob.renewed["kept_as"])
        new_epoch = ob.epoch
    finally:
        ob.close()
    assert read_high_water(path) == (new_epoch, 6)      # noted for the next start


def test_no_new_epoch_without_a_loss(tmp_path):
    """kill -9 with its -wal in place, a reader that checkpoints the -wal away, pruned and deleted
    scans: nothing is missing, so the station goes on in its epoch."""
    path = str(tmp_path / "st.db")
    epoch = killed_station(path)
    cfg = station_file(tmp_path, path)
    st = invoke("edge", "status", "--config", cfg)          # recovers the -wal, removes it on close
    assert st.exit_code == 0 and "WARNING" not in st.output, st.output
    assert not os.path.exists(path + "-wal")
    ob = Outbox(path)
    ob.claim()
    assert ob.renewed is None and ob.epoch == epoch and ob.max_seq() == 10
    ob.mark_acked([[1, 10]], [], T0)
    top = next(r["id"] for r in ob.scans() if r["seq"] == 10)
    ob.delete(top, "label printed twice", "1002", T0)       # the highest seq leaves the table
    assert ob.prune(T0 + 8 * 86_400_000) == 9
    ob.close()
    ob = Outbox(path)
    ob.claim()
    try:
        assert ob.renewed is None and ob.epoch == epoch
        assert ob.add(capture(ob, 5), T0, 1, "boot-2") == 11
    finally:
        ob.close()
