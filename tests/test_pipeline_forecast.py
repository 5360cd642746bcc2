"""Pre-dispatch comparison: the hub's forecast reaches the station, which compares offline."""
import json

from click.testing import CliRunner

from cli import main
from conftest import raw_station, wait_for, wb


def test_forecast_missing_and_extra_offline(hub_store, broker, make_edge, tmp_path):
    from hub.ingest.service import HubService
    svc = HubService(hub_store, broker.url, forecast_every_s=0.5).start()
    try:
        edge = make_edge()
        assert edge.config_event.wait(15)
        c = edge.capture
        c.scan("%KRECEIVE"), c.scan("%P1002")
        for i in range(1, 6):
            assert c.scan(wb(i)).accepted
        wait_for(lambda: edge.forecast and len(edge.forecast.get("waybills", [])) == 5, timeout=30,
                 what="a forecast with the five received parcels")
    finally:
        svc.stop()
    broker.stop()                                   # from here on the station is offline
    c.scan("%KRECEIVE")
    assert c.scan(wb(6)).accepted                   # received after the forecast: expected too
    c.scan("%KDISPATCH"), c.scan("%D200")
    for i in (1, 2, 6, 99):                         # 99 was never received here
        assert c.scan(wb(i)).accepted
    res = edge.predispatch()
    assert res["missing"] == [wb(3), wb(4), wb(5)]
    assert res["extra"] == [wb(99)]
    import yaml
    path = tmp_path / "station.yaml"
    path.write_text(yaml.safe_dump({"station": "st-100-1", "site": "100", "outbox": edge.cfg.outbox}))
    out = CliRunner().invoke(main, ["edge", "forecast", "--config", str(path), "--json"])
    assert json.loads(out.output)["missing"] == [wb(3), wb(4), wb(5)]


def test_a_forecast_is_republished_when_it_changed_and_not_every_period(hub_store, broker):
    """Every period the hub reads each site's holdings; a station gets them again only when they
    changed (they are retained: a station that reconnects has the last one)."""
    import paho.mqtt.client as mqtt

    from contract import protocol as P
    from hub.ingest.service import HubService
    got = []
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="forecast-watch")
    sub.on_message = lambda cl, u, msg: got.append(json.loads(msg.payload))
    sub.connect("127.0.0.1", broker.port)
    sub.loop_start()
    sub.subscribe(P.topic("st-100-1", P.FORECAST), qos=1)
    svc = HubService(hub_store, broker.url, forecast_every_s=0.05).start()
    try:
        wait_for(lambda: got, 15, "the first forecast")
        first = len(got)
        passes = svc.stats.get("forecast_passes", 0)
        wait_for(lambda: svc.stats.get("forecast_passes", 0) >= passes + 3, 15, "three more forecast periods")
        assert len(got) == first, "an unchanged forecast was published again"
        with raw_station(broker, "st-100-1") as (client, acks):
            scan = {"id": "f-1", "station": "st-100-1", "epoch": "e", "seq": 1, "kind": "receive", "waybill": wb(1),
                    "site": "100", "operator": "1002", "device": "g1", "edge_ms": 1_795_600_000_000,
                    "event_ms": 1_795_600_000_000, "clock": "trusted"}
            client.publish(P.topic("st-100-1", P.SCANS), P.encode({"batch": "b1", "station": "st-100-1",
                                                                  "scans": [scan], "deletions": []}),
                           qos=1)
            wait_for(lambda: acks, 15, "the ack")
            assert acks[0]["committed"], acks
        wait_for(lambda: got[-1]["waybills"] == [wb(1)], 30, "a forecast with the received parcel")
    finally:
        svc.stop()
        sub.loop_stop()
        sub.disconnect()


def test_forecasts_wait_while_batches_queue_but_not_for_ever(hub_store, broker):
    from hub.ingest import service as S
    svc = S.HubService(hub_store, broker.url, forecast_every_s=0.05)
    svc.connected.set()
    assert svc._forecast_due()                      # nothing waiting: at once
    svc._next_forecast = 0.0
    svc.inbox.put(object())                         # a batch waiting: the acknowledgements first
    assert not svc._forecast_due()
    wait_for(svc._forecast_due, 10, f"the forecast after {S.FORECAST_DEFER} periods of waiting")
