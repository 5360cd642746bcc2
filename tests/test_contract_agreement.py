"""The station and the hub give one answer: length limits, next stops and issuance (contract/).

Each of these once had two implementations that disagreed; now the edge, the hub's ingest, its
store, its monitoring facts and the gun image all follow ``contract``, and these tests pin them
to one answer.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract.errors import PayloadError
from contract.issuance import IssuanceIndex
from contract.routing import RoutingData
from contract.scan import FIELDS, TEXT_FIELDS, validate_scan
from edge.capture import Capture, ConfigView
from edge.clock import StationClock
from edge.outbox import Outbox
from firmware_images import container
from hub.business.context import Context
from hub.business.facts import resolved_events
from sim.gun_routing import GunRouter
from test_gun_routing import networks   # the generated networks the gun oracle is tested on
from conftest import KEY

T0 = 1_795_600_000_000


def scan(**kw) -> dict:
    s = {"id": "a" * 32, "station": "st-1", "epoch": "e1", "seq": 1, "kind": "receive", "waybill": "W1",
         "site": "100", "edge_ms": T0, "event_ms": T0}
    s.update(kw)
    return s


# ---------------------------------------------------------------- length limits

@pytest.mark.parametrize("field", [f for f in TEXT_FIELDS if f.name not in ("kind", "clock")], ids=lambda f: f.name)
def test_every_text_field_takes_its_limit_and_refuses_one_more(field):
    at_limit = scan(**{field.name: "x" * field.limit})
    validate_scan(at_limit)
    with pytest.raises(PayloadError, match=f"{field.name} longer than {field.limit}"):
        validate_scan(scan(**{field.name: "x" * (field.limit + 1)}))


def test_store_columns_are_sized_from_the_contract():
    from hub.scans.tables import ScanEvent
    cols = ScanEvent._meta.fields
    for f in FIELDS:
        if f.type == "text":
            assert cols[f.name].max_length == f.limit, f.name
            assert cols[f.name].null == (not f.required and f.name not in ("clock", "epoch")), f.name


def test_a_scan_at_every_limit_commits_on_the_store(store_url):
    """On PostgreSQL a value longer than its column fails the whole transaction: every field at
    its limit must fit."""
    from hub.ingest.pipeline import commit
    from hub.scans.tables import ScanEvent
    from hub.schema import connect
    from hub.store.db import database
    connect(store_url, create=True)
    try:
        longest = {f.name: "x" * f.limit for f in TEXT_FIELDS if f.name not in ("kind", "clock")}
        s = scan(**longest)
        committed, rejected = commit([s])
        assert rejected == [] and committed == [s]
        row = ScanEvent.get_by_id(s["id"])
        assert row.operator == longest["operator"] and row.signer == longest["signer"]
    finally:
        database.close()


def test_the_network_file_refuses_codes_no_scan_could_carry():
    from hub.network.file import NetworkError, check_network
    with pytest.raises(NetworkError) as e:
        check_network({"sites": [{"code": "S" * 33, "name": "a"}],
                       "staff": [{"code": "P" * 33, "name": "b", "site": "S" * 33}]})
    assert "sites[0]: code" in str(e.value) and "longer than 32 characters" in str(e.value)
    assert "staff[0]: code" in str(e.value)


def _capture(tmp_path, cfg=None):
    box = Outbox(str(tmp_path / "o.db"))
    clock = StationClock(box.get_meta, box.set_meta)
    return box, Capture("st-1", "100", box, clock, config=cfg)


def test_the_edge_refuses_before_the_beep_what_the_hub_would_refuse(tmp_path):
    box, cap = _capture(tmp_path)
    try:
        ok = cap.scan("7000000000001", kind="receive", operator="x" * 32)
        assert ok.accepted
        v = cap.scan("7000000000002", kind="hold", operator="x" * 33)
        assert not v.accepted and v.beep == "error"
        assert "operator longer than 32 characters" in v.reason
        v = cap.scan("7000000000003", kind="sign", operator="op", signer="s" * 101)
        assert not v.accepted and "signer longer than 100" in v.reason
        assert box.counts()["pending"] == 1
        # what the edge accepted, the hub's validator accepts too once stamped
        validate_scan(dict(ok.scan, seq=ok.seq, event_ms=T0))
    finally:
        box.close()


# ---------------------------------------------------------------- next stop

def _monitoring_next(ctx, site, dest, shift):
    ev = {"id": "d", "waybill": "W", "kind": "dispatch", "site": site, "event_ms": T0,
          "dest_site": dest, "shift": shift, "next_site": None}
    evs, _ = resolved_events([ev], ctx)
    return evs[0]["next_site"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_next_stop_is_the_same_at_edge_hub_monitoring_and_gun(cfg):
    routing = RoutingData.from_config(cfg)
    ctx = Context.from_config(cfg)
    image = container.build_image(cfg, KEY, 0)
    gun = GunRouter.from_image(image, container.parse_image(image, KEY.public_key()))
    codes = [s["code"] for s in cfg["sites"]]
    for site in codes:
        for dest in codes + [None]:
            for shift in [s["code"] for s in cfg["shifts"]] + [None]:
                if not dest and not shift:
                    continue                      # a dispatch without either is refused everywhere
                want = routing.resolve(site, dest, shift)
                assert _monitoring_next(ctx, site, dest, shift) == want, (site, dest, shift)
                assert gun.resolve(site, dest, shift) == want, (site, dest, shift)


def test_destination_here_with_a_shift_leaving_goes_on_that_shift(tmp_path):
    """The case the edge and the monitoring once answered differently."""
    cfg = {"sites": [{"code": "100", "center": "900"}, {"code": "900"}, {"code": "200", "center": "900"}],
           "shifts": [{"code": "S1", "from": "100", "to": "200", "depart": "08:00", "transit_min": 60}],
           "next_stop": [{"site": "100", "dest": "100", "next": "900"}]}
    routing = RoutingData.from_config(cfg)
    assert routing.resolve_with_source("100", "100", "S1") == ("200", "shift")
    assert routing.resolve("100", "100", None) is None      # no table, no route to where it is
    assert _monitoring_next(Context.from_config(cfg), "100", "100", "S1") == "200"
    box, cap = _capture(tmp_path, dict(cfg, sites=[dict(s, kind="site") for s in cfg["sites"]]))
    try:
        v = cap.scan("W1", kind="dispatch", operator="op", dest="100", shift="S1")
        assert v.accepted and v.scan["next_site"] == "200"
    finally:
        box.close()


# ---------------------------------------------------------------- issuance

@st.composite
def issued(draw):
    n = draw(st.integers(2, 5))
    digits = st.text("0123456789", min_size=n, max_size=n)
    ranges = []
    for i in range(draw(st.integers(0, 6))):
        a, b = sorted([draw(digits), draw(digits)])
        ranges.append({"site": f"S{i}", "first": a, "last": b})
    numbers = draw(st.lists(st.text("0123456789", min_size=n - 1, max_size=n + 1), max_size=20))
    return ranges, numbers


@settings(max_examples=150, deadline=None)
@given(issued())
def test_issuance_is_the_same_at_edge_and_hub(data):
    ranges, numbers = data
    edge = ConfigView({"issuance": ranges})
    hub = Context.from_config({"issuance": ranges}).issuance
    for wb in numbers + [r["first"] for r in ranges] + [r["last"] for r in ranges]:
        assert edge.origin_of(wb) == hub.site_of(wb), wb
        inside = [r for r in ranges if len(r["first"]) == len(wb) and r["first"] <= wb <= r["last"]]
        if not inside:
            assert hub.site_of(wb) is None
        else:    # overlapping ranges: the one that starts latest
            assert hub.site_of(wb) == max(inside, key=lambda r: (r["first"], r["last"], r["site"]))["site"]


def test_issuance_matches_whole_numbers_only():
    idx = IssuanceIndex([{"site": "100", "first": "70000000000000", "last": "70000099999999"}])
    assert idx.site_of("70000000000017") == "100"
    assert idx.site_of("7000000000001") is None          # 13 characters: another length
    assert ConfigView({"issuance": [{"site": "100", "first": "7000000000000", "last": "7000009999999"}]}
                      ).origin_of("70000000000017") is None


def test_the_gun_batch_format_carries_the_contracts_kinds():
    from contract.scan import KINDS
    from drivers.scanner.batch import KINDS as GUN_KINDS
    assert GUN_KINDS == KINDS
