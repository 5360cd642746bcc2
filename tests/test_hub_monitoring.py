"""Monitoring diffs and the forecast agree with the reference model, whatever the scan order."""
from __future__ import annotations


import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract import forecast as contract_forecast
from hub.business import forecast
from hub.ingest import pipeline as ingest
from hub.business import context
from hub.business import facts
from hub.business import localtime
from hub.business import monitoring
from contract.issuance import IssuanceIndex
from hub.business.previous_stop import previous_stop
from test_hub_reference import HOUR, T0, Model, deletions_for, histories, hub_rows, load_net, networks



@pytest.fixture
def store(model_store):
    """The module's store, on SQLite and on PostgreSQL (conftest ``model_store``)."""
    from hub.schema import connect
    connect(model_store)          # tests in between may have bound another store
    return model_store


def commit_shuffled(data, scans, deletions=()):
    """Commit ``scans`` in a drawn order, in drawn batches, with some duplicated."""
    dupes = data.draw(st.lists(st.sampled_from(scans), max_size=4)) if scans else []
    todo = data.draw(st.permutations(scans + dupes))
    dels = list(deletions)
    while todo:
        k = data.draw(st.integers(1, max(1, len(todo))))
        batch, todo = todo[:k], todo[k:]
        committed, rejected = ingest.commit(batch, dels)
        dels = []
        assert rejected == []
    if dels:
        ingest.commit([], dels)


def windows(data):
    a = data.draw(st.one_of(st.none(), st.integers(0, 150).map(lambda h: T0 + h * HOUR)))
    b = data.draw(st.one_of(st.none(), st.integers(0, 200).map(lambda h: T0 + h * HOUR)))
    if a is not None and b is not None and a > b:
        a, b = b, a
    return a, b


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=st.data())
def test_reports_match_the_model_in_any_order(store, data):
    net = data.draw(networks())
    scans = data.draw(histories(net))
    dels = deletions_for(scans, data.draw(st.lists(st.booleans(), min_size=len(scans), max_size=len(scans))))
    load_net(net)
    commit_shuffled(data, scans, dels)
    model = Model(net, scans, dels)
    since, until = windows(data)
    as_of = T0 + data.draw(st.integers(0, 300)) * HOUR
    for site in [s["code"] for s in net["sites"]]:
        for name in monitoring.REPORTS:
            got = hub_rows(name, monitoring.report(name, site, since, until, as_of_ms=as_of))
            assert got == model.report(name, site, since, until, as_of=as_of), (name, site)
        assert sorted(r["waybill"] for r in forecast.site_forecast(site)) == model.held(site)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=st.data())
def test_rebuild_gives_the_same_facts_as_incremental_refresh(store, data):
    from hub.business import tables as bm
    net = data.draw(networks())
    scans = data.draw(histories(net))
    load_net(net)
    commit_shuffled(data, scans)

    def snapshot():
        return (sorted(bm.ScanFact.select().dicts(), key=lambda r: r["scan_id"]),
                sorted(bm.ParcelFact.select().dicts(), key=lambda r: r["waybill"]))
    before = snapshot()
    facts.rebuild_all(batch=3)
    assert snapshot() == before


def test_previous_stop_order_of_precedence():
    iss = IssuanceIndex([{"site": "10", "first": "800000", "last": "800999"},
                         {"site": "11", "first": "700000", "last": "799999"}])
    arr = {"id": "a", "kind": "arrive", "waybill": "800123", "site": "90", "event_ms": 100}
    d_other = {"id": "d0", "kind": "dispatch", "waybill": "800123", "site": "12", "event_ms": 10, "next_site": "91"}
    d_here = {"id": "d1", "kind": "dispatch", "waybill": "800123", "site": "13", "event_ms": 50, "next_site": "90"}
    late = {"id": "d2", "kind": "dispatch", "waybill": "800123", "site": "14", "event_ms": 150, "next_site": "90"}
    assert previous_stop(arr, [d_other, d_here, late, arr], iss) == ("13", "dispatch")
    assert previous_stop(arr, [d_other, late, arr], iss) == ("10", "issuance")
    arr2 = dict(arr, waybill="X1")
    assert previous_stop(arr2, [d_other, arr2], iss) == ("12", "earliest")
    alone = dict(arr, waybill="X1", extra={"origin_site": "15"})
    assert previous_stop(alone, [alone], iss) == ("15", "origin")
    assert previous_stop(dict(arr, waybill="X1"), [], None) == (None, None)


def test_issuance_index_handles_nested_ranges_and_lengths():
    iss = IssuanceIndex([{"site": "A", "first": "100", "last": "900"}, {"site": "B", "first": "200", "last": "210"},
                         {"site": "C", "first": "0100", "last": "0199"}])
    assert iss.site_of("205") == "B"
    assert iss.site_of("500") == "A"
    assert iss.site_of("950") is None
    assert iss.site_of("0150") == "C"
    assert iss.site_of("15") is None
    with pytest.raises(ValueError):
        IssuanceIndex([{"site": "A", "first": "9", "last": "1"}])


def test_expected_arrival_uses_the_next_departure_of_the_shift():
    ctx = context.Context.from_config({"sites": [], "shifts": [
        {"code": "S", "from": "90", "to": "91", "depart": "08:00", "transit_min": 240}]})
    # 2024-06-01 09:00 +08:00 is after today's 08:00 departure: the next one is tomorrow 08:00
    t = localtime.parse_time("2024-06-01T09:00")
    exp = facts.expected_arrival("90", "91", "S", t, ctx)
    assert localtime.format_ms(exp) == "2024-06-02 12:00:00 UTC+08:00"
    t2 = localtime.parse_time("2024-06-01T07:59")
    assert localtime.format_ms(facts.expected_arrival("90", "91", None, t2, ctx)) == "2024-06-01 12:00:00 UTC+08:00"
    assert facts.expected_arrival("10", "90", None, t, ctx) == t + context.DEFAULT_TRANSIT_MIN * 60_000


def test_report_errors_are_clear(store):
    load_net({"network": "n", "waybill_rules": [], "sites": [
        {"code": "90", "name": "c", "kind": "center", "center": None, "province": None, "city": None, "district": None}],
        "stations": [], "staff": [], "gun_users": [], "shifts": [], "next_stop": [], "issuance": []})
    with pytest.raises(monitoring.MonitorError, match="unknown report"):
        monitoring.report("nope", "90")
    with pytest.raises(monitoring.MonitorError, match="unknown site"):
        monitoring.report("not-arrived", "77")
    with pytest.raises(monitoring.MonitorError, match="after"):
        monitoring.report("not-arrived", "90", 10, 5)
    with pytest.raises(localtime.TimeFormatError, match="bad time"):
        localtime.parse_time("yesterday")


def test_compare_is_pure_and_keeps_order():
    assert contract_forecast.compare(["a", "b", "c", "b"], ["c", "x", "", "a", "x"]) == {"missing": ["b"], "extra": ["x"]}
    assert contract_forecast.compare([], []) == {"missing": [], "extra": []}
