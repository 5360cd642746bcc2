import pytest

from contract.waybill import WaybillRules
from edge.capture import Capture
from edge.clock import StationClock
from edge.outbox import Limits, Outbox


@pytest.fixture
def cfg(hub_store):
    from hub.schema import connect
    from hub.store.db import database
    from hub.network.station_config import site_slice
    connect(hub_store)
    try:
        return site_slice("100")
    finally:
        database.close()


def test_cradle_upload_commits_together_with_a_verdict_each(tmp_path, cfg):
    ob = Outbox(str(tmp_path / "o.db"))
    c = Capture("st-100-1", "100", ob, StationClock(ob.get_meta, ob.set_meta), cfg)
    rules = WaybillRules(cfg["waybill_rules"])
    good = [rules.make("std14", "7000000%06d" % i) for i in range(5)]
    items = [{"text": wb, "device": "w1", "kind": "receive", "operator": "1002", "captured_ms": 1_795_600_000_000 + i}
             for i, wb in enumerate(good)]
    items.insert(2, {"text": "12345", "device": "w1", "kind": "receive", "operator": "1002"})
    items.append(dict(items[0]))                                   # the gun re-sent a record
    verdicts = c.scan_batch(items)
    assert [v.outcome for v in verdicts] == ["accepted", "accepted", "refused"] + ["accepted"] * 3 + ["refused"]
    assert "repeat scan" in verdicts[-1].reason and "not a waybill number" in verdicts[2].reason
    stored = ob.scans()
    assert [s["waybill"] for s in stored] == good
    assert stored[0]["edge_ms"] == 1_795_600_000_000               # the record keeps its own scan time


def test_upload_that_does_not_fit_is_refused_whole(tmp_path, cfg):
    ob = Outbox(str(tmp_path / "o.db"), Limits(max_pending=3))
    c = Capture("st-100-1", "100", ob, StationClock(ob.get_meta, ob.set_meta), cfg)
    rules = WaybillRules(cfg["waybill_rules"])
    items = [{"text": rules.make("std14", "7000000%06d" % i), "kind": "receive", "operator": "1002"} for i in range(5)]
    verdicts = c.scan_batch(items)
    assert all(v.outcome == "refused" and "outbox full" in v.reason for v in verdicts)
    assert ob.counts()["pending"] == 0
