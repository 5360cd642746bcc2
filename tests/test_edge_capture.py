import pytest

from contract.waybill import WaybillRules
from edge.capture import Capture
from edge.clock import StationClock
from edge.outbox import Outbox


@pytest.fixture
def slices(hub_store):
    from hub.schema import connect
    from hub.store.db import database
    from hub.network.station_config import site_slice
    connect(hub_store)
    out = {s: site_slice(s) for s in ("100", "900", "200")}
    database.close()
    return out


def make_capture(tmp_path, cfg, site, weight=None, name="o.db"):
    ob = Outbox(str(tmp_path / name))
    meta = {}
    clock = StationClock(lambda k, d=None: meta.get(k, d), meta.__setitem__, boot="b1")
    return Capture(f"st-{site}", site, ob, clock, cfg, weight_source=weight)


def wb(cfg, n):
    return WaybillRules(cfg["waybill_rules"]).make("std14", "7000000%06d" % n)


def test_refusals_have_reasons_and_nothing_is_stored(tmp_path, slices):
    c = make_capture(tmp_path, slices["100"], "100")
    assert "scan kind" in c.scan(wb(slices["100"], 1)).reason
    assert c.scan("%KRECEIVE").outcome == "control"
    assert "staff code" in c.scan(wb(slices["100"], 1)).reason
    assert "unknown staff" in c.scan("%P9999").reason
    c.scan("%P1002")
    bad = wb(slices["100"], 1)[:-1] + str((int(wb(slices["100"], 1)[-1]) + 1) % 10)
    v = c.scan(bad)
    assert v.outcome == "refused" and "check digit wrong" in v.reason and v.beep == "error"
    assert c.scan("12345").reason.startswith("not a waybill number: 14 digits starting with 7 or ")
    assert c.outbox.counts()["pending"] == 0


def test_receive_accepted_then_repeat_refused(tmp_path, slices):
    c = make_capture(tmp_path, slices["100"], "100")
    c.scan("%KRECEIVE"), c.scan("%P1002"), c.scan("%C1001")
    v = c.scan(wb(slices["100"], 1))
    assert v.accepted and v.beep == "good" and v.scan["courier"] == "1001"
    assert c.outbox.scans()[0]["id"] == v.scan["id"]          # durable before the verdict
    again = c.scan(wb(slices["100"], 1))
    assert again.outcome == "refused" and "repeat scan" in again.reason


def test_dispatch_next_stop_from_table_shift_or_explicit(tmp_path, slices):
    c = make_capture(tmp_path, slices["900"], "900")
    c.scan("%KDISPATCH"), c.scan("%P9001")
    assert "no next stop" in c.scan(wb(slices["900"], 1)).reason
    c.scan("%D200"), c.scan("%HHZ-SH-08")
    v = c.scan(wb(slices["900"], 1))
    assert v.accepted and v.scan["next_site"] == "901" and v.scan["shift"] == "HZ-SH-08"
    c.scan("%X")
    c.scan("%S901")
    assert c.scan(wb(slices["900"], 2)).scan["next_site"] == "901"
    assert "unknown site" in c.scan("%S555").reason


def test_center_refuses_arrivals_of_blocked_sites_parcels(tmp_path, slices):
    cfg = dict(slices["900"], blocked_sites=["100"])
    c = make_capture(tmp_path, cfg, "900", weight=lambda: 1250)
    c.scan("%KARRIVE"), c.scan("%P9001")
    v = c.scan(wb(cfg, 1))                       # issued to site 100
    assert v.outcome == "refused" and "origin site 100 is blocked" in v.reason
    ok = c.scan(WaybillRules(cfg["waybill_rules"]).make("std14", "7000020%06d" % 1))   # issued to 200
    assert ok.accepted and ok.scan["weight_g"] == 1250


def test_arrival_needs_a_stable_weight_when_the_station_has_a_scale(tmp_path, slices):
    c = make_capture(tmp_path, slices["900"], "900", weight=lambda: None)
    c.scan("%KARRIVE"), c.scan("%P9001")
    v = c.scan(wb(slices["900"], 3))
    assert v.outcome == "refused" and "stable weight" in v.reason


def test_deliver_and_sign_need_courier_and_signer(tmp_path, slices):
    c = make_capture(tmp_path, slices["200"], "200")
    c.scan("%KDELIVER"), c.scan("%P2002")
    assert "courier" in c.scan(wb(slices["200"], 1)).reason
    c.scan("%C2001")
    assert c.scan(wb(slices["200"], 1)).accepted
    c.scan("%KSIGN")
    assert "signer" in c.scan(wb(slices["200"], 1)).reason
    c.scan("%GZhang San")
    v = c.scan(wb(slices["200"], 1))
    assert v.accepted and v.scan["signer"] == "Zhang San"


def test_each_gun_has_its_own_context(tmp_path, slices):
    c = make_capture(tmp_path, slices["100"], "100")
    c.scan("%KRECEIVE", device="g1"), c.scan("%P1002", device="g1")
    assert c.scan(wb(slices["100"], 5), device="g1").accepted
    assert "scan kind" in c.scan(wb(slices["100"], 6), device="g2").reason


def test_a_device_that_cannot_be_opened_is_one_clear_error(tmp_path, slices):
    from edge.devices import DeviceError, open_devices

    class Agent:
        capture = make_capture(tmp_path, slices["100"], "100")
        devices = []
    with pytest.raises(DeviceError, match="cannot open scanner /nonexistent"):
        open_devices(Agent, [{"type": "scanner", "protocol": "no-such-protocol", "port": "/nonexistent"}])


def test_repeat_scans_are_caught_across_a_restart(tmp_path, slices):
    from edge.capture import Capture
    c = make_capture(tmp_path, slices["100"], "100")
    c.scan("%KRECEIVE"), c.scan("%P1002")
    assert c.scan(wb(slices["100"], 7)).accepted
    rec = {"text": wb(slices["100"], 8), "kind": "receive", "operator": "1002", "captured_ms": c.clock.wall() - 3_600_000}
    assert c.scan_batch([rec])[0].accepted
    again = Capture("st-100", "100", c.outbox, c.clock, slices["100"])        # the station restarted
    again.scan("%KRECEIVE"), again.scan("%P1002")
    assert "repeat scan" in again.scan(wb(slices["100"], 7)).reason          # live: within the window
    assert "repeat scan" in again.scan_batch([rec])[0].reason               # a re-sent upload record
    assert again.scan(wb(slices["100"], 9)).accepted
