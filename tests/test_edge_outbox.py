import threading
import uuid

import pytest

from edge.outbox import ACKED, Limits, Outbox, OutboxFull


def scan(waybill="70000000000011", kind="receive"):
    return {"id": uuid.uuid4().hex, "waybill": waybill, "kind": kind}


def test_scan_survives_reopen(tmp_path):
    path = str(tmp_path / "o.db")
    ob = Outbox(path)
    s = scan()
    seq = ob.add(s, 1_800_000_000_000, 5, "boot")
    ob.close()
    ob = Outbox(path)
    rows = ob.scans()
    assert [(r["seq"], r["id"]) for r in rows] == [(seq, s["id"])]
    assert ob.pending == 1
    ob.close()


def test_epoch_is_stable_per_file_and_new_per_file(tmp_path):
    a = Outbox(str(tmp_path / "a.db"))
    epoch = a.epoch
    a.close()
    assert Outbox(str(tmp_path / "a.db")).epoch == epoch
    assert Outbox(str(tmp_path / "b.db")).epoch != epoch


def test_concurrent_guns_all_durable_with_unique_seqs(tmp_path):
    ob = Outbox(str(tmp_path / "o.db"))
    seqs, errors = [], []

    def gun(n):
        try:
            for _ in range(n):
                seqs.append(ob.add(scan(), 1_800_000_000_000, 1, "b"))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
    threads = [threading.Thread(target=gun, args=(200,)) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(seqs) == len(set(seqs)) == 1000
    assert ob.counts()["pending"] == 1000


def test_full_outbox_refuses_instead_of_dropping(tmp_path):
    ob = Outbox(str(tmp_path / "o.db"), Limits(max_pending=10))
    for _ in range(8):
        ob.add(scan(), 1_800_000_000_000, 1, "b")
    assert ob.usage()["warning"] and not ob.usage()["full"]
    for _ in range(2):
        ob.add(scan(), 1_800_000_000_000, 1, "b")
    with pytest.raises(OutboxFull, match="outbox full"):
        ob.add(scan(), 1_800_000_000_000, 1, "b")
    assert ob.counts()["pending"] == 10            # nothing dropped, nothing extra
    ob.mark_acked([[1, 5]], [], 1)
    ob.add(scan(), 1_800_000_000_000, 1, "b")         # room again after the hub acknowledged
    assert ob.counts() == {"pending": 6, "acked": 5, "rejected": 0, "deleted": 0, "deletions_pending": 0}


def test_ack_settles_only_pending_rows_and_rejections_keep_reason(tmp_path):
    ob = Outbox(str(tmp_path / "o.db"))
    for _ in range(5):
        ob.add(scan(), 1_800_000_000_000, 1, "b")
    assert ob.mark_acked([[1, 3]], [{"seq": 4, "reason": "bad"}], 7) == 4
    assert ob.mark_acked([[1, 3]], [], 8) == 0      # a repeated ack changes nothing
    rows = {r["seq"]: r for r in ob.scans()}
    assert rows[1]["state"] == ACKED and rows[4]["reason"] == "bad" and rows[5]["state"] == 0
    assert ob.pending == 1


def test_deletion_is_a_tombstone(tmp_path):
    ob = Outbox(str(tmp_path / "o.db"))
    s1, s2 = scan("70000000000011"), scan("70000000000028")
    ob.add(s1, 1_800_000_000_000, 1, "b")
    ob.add(s2, 1_800_000_000_000, 1, "b")
    ob.mark_acked([[2, 2]], [], 5)
    assert ob.delete(s1["id"], "wrong parcel", "1002", 9)["uploaded"] is False
    assert ob.delete(s2["id"], "duplicate label", None, 9)["uploaded"] is True
    with pytest.raises(KeyError):
        ob.delete("nope", "x", None, 9)
    with pytest.raises(ValueError):
        ob.delete(s1["id"], " ", None, 9)
    dels = ob.pending_deletions()
    assert {d["id"]: d["uploaded"] for d in dels} == {s1["id"]: False, s2["id"]: True}
    assert dels[0]["scan"]["waybill"] == "70000000000011"
    assert ob.pending == 0
    ob.mark_deletions_acked([s1["id"], s2["id"]])
    assert ob.pending_deletions() == []


def test_acknowledged_scans_are_pruned_after_the_keep_period(tmp_path):
    ob = Outbox(str(tmp_path / "o.db"), Limits(keep_acked_days=1))
    for _ in range(3):
        ob.add(scan(), 1_800_000_000_000, 1, "b")
    ob.mark_acked([[1, 2]], [], acked_ms=1_800_000_000_000)
    assert ob.prune(1_800_000_000_000 + 86_400_000 - 1) == 0          # not yet
    assert ob.prune(1_800_000_000_000 + 86_400_001) == 2              # acked and old: gone
    assert [r["seq"] for r in ob.scans()] == [3]                      # pending never pruned


def test_a_station_killed_while_creating_its_outbox_starts_again(tmp_path):
    """The WAL pragma writes the file's header before the tables exist: a station killed right
    there left a file with no table at all, refused for good as "no outbox tables".  Such a file
    holds nothing of anyone's, so the next start creates the outbox in it."""
    import sqlite3
    path = str(tmp_path / "o.db")
    c = sqlite3.connect(path)
    c.execute("PRAGMA journal_mode=WAL")
    c.close()
    ob = Outbox(path)
    seq = ob.add(scan(), 1_800_000_000_000, 5, "boot")
    assert seq == 1 and ob.pending == 1
    ob.close()


def test_a_file_with_someone_elses_tables_is_still_refused(tmp_path):
    import sqlite3
    from edge.outbox import OutboxDamaged
    path = str(tmp_path / "o.db")
    c = sqlite3.connect(path)
    c.execute("CREATE TABLE invoices (n INTEGER)")
    c.commit()
    c.close()
    with pytest.raises(OutboxDamaged, match="no outbox tables"):
        Outbox(path)
    c = sqlite3.connect(path)
    assert [r[0] for r in c.execute("SELECT name FROM sqlite_master")] == ["invoices"]
    c.close()
