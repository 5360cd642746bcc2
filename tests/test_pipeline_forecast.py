"""Pre-dispatch comparison: the hub's forecast reaches the station, which compares offline."""
import json

from click.testing import CliRunner

from cli import main
from conftest import wait_for, wb


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
