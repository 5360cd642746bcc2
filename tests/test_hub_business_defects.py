"""Business results that were wrong: fees for parcels never weighed, blocks that waited for an
account command, deleted scans that still set the state, track's unresolved next stop."""
from __future__ import annotations

import pytest

from conftest import sample_store

T0 = 1_795_600_000_000
HOUR = 3_600_000
W = "70000000000017"


def sc(n, kind, site, t, wb=W, **kw):
    s = {"id": f"{wb}-{n}", "station": f"st-{site}", "epoch": "e", "seq": n, "kind": kind, "waybill": wb,
         "site": site, "operator": "1002", "edge_ms": t, "event_ms": t}
    s.update(kw)
    return s


@pytest.fixture
def store(store_url):
    from hub.business import tariff
    from hub.store.db import database
    sample_store(store_url)
    tariff.install(tariff.load_tariff("sim/networks/tariff-sample.yaml"))
    yield store_url
    database.close()


def fees_of(wb=W):
    from hub.business.fees import waybill_fees
    return {f["source"].split(":")[1] for f in waybill_fees(wb)}


def test_a_parcel_never_weighed_books_no_fee_until_it_is(store):
    from hub.ingest.pipeline import commit
    commit([sc(1, "receive", "100", T0, courier="1001", dest_site="200"),
            sc(2, "deliver", "200", T0 + 30 * HOUR, courier="2001")])
    assert fees_of() == set()
    commit([sc(3, "arrive", "900", T0 + HOUR, weight_g=1200)])
    assert {"courier", "delivery"} <= fees_of()


def test_blocks_follow_every_booking_without_any_account_command(store):
    """On a fresh store a prepaid site (the default) that goes under its warning amount (0) by
    fees is blocked at once, as set-mode would have judged it."""
    from hub.business import accounts
    from hub.ingest.pipeline import commit
    from hub.network.tables import Site
    commit([sc(1, "receive", "100", T0, dest_site="200", weight_g=1200),
            sc(2, "arrive", "900", T0 + HOUR, weight_g=1200),
            sc(3, "dispatch", "900", T0 + 2 * HOUR, dest_site="200", shift="HZ-SH-08")])
    assert accounts.balance("100") < 0          # site 100 pays the transit fee at center 900
    assert Site.get_by_id("100").blocked
    before = {s.code: s.blocked for s in Site.select()}
    accounts.set_mode("100", "prepaid")           # nothing else changed: nothing flips
    assert {s.code: s.blocked for s in Site.select()} == before


def test_a_deleted_scan_is_history_not_state(store):
    from hub.business import monitoring, reports
    from hub.business.tracking import track
    from hub.ingest.pipeline import commit
    commit([sc(1, "receive", "100", T0, courier="1001"),
            sc(2, "dispatch", "100", T0 + HOUR, next_site="900")])
    assert track(W)["status"] == "in transit"
    assert [r["waybill"] for r in monitoring.report("not-arrived", "900")] == [W]
    tomb = {"id": f"{W}-2", "deleted_ms": T0 + 2 * HOUR, "operator": "1002", "reason": "wrong bag",
            "uploaded": True, "scan": sc(2, "dispatch", "100", T0 + HOUR, next_site="900")}
    commit([], [tomb])
    t = track(W)
    assert t["status"] == "received" and t["kind"] == "receive"
    assert [e.get("deleted", False) for e in t["events"]] == [False, True]
    assert monitoring.report("not-arrived", "900") == []
    assert [r["waybill"] for r in monitoring.report("received-not-dispatched", "100")] == [W]
    # every scan deleted: the parcel has no state left
    commit([], [dict(tomb, id=f"{W}-1", scan=sc(1, "receive", "100", T0, courier="1001"))])
    assert track(W)["status"] == "deleted"
    assert monitoring.report("received-not-dispatched", "100") == []
    assert [r for r in reports.signed_details("100", "received") if r["waybill"] == W] == []


def test_track_shows_the_next_stop_the_hub_resolved_and_where_from(store):
    from hub.business.tracking import track
    from hub.ingest.pipeline import commit
    commit([sc(1, "receive", "100", T0, courier="1001"),
            sc(2, "dispatch", "100", T0 + HOUR, dest_site="200")])
    t = track(W)
    d = t["events"][1]
    assert d["next_site"] and d["next_site_source"] in ("table", "shift", "route")
    assert (t["next_site"], t["next_site_source"]) == (d["next_site"], d["next_site_source"])
    commit([sc(3, "dispatch", "100", T0 + 2 * HOUR, next_site="900")])
    assert track(W)["events"][2]["next_site_source"] == "scan"
