"""Regional brokers: a station on a regional Mosquitto bridged to the central one, where the hub
is.  Two real Mosquitto processes; the bridge link runs through a relay the test can cut.
Acknowledgements, configurations and forecasts cross the bridge, the station's last will comes
back across it, and a link outage loses and doubles nothing."""
from __future__ import annotations

import pytest

from conftest import needs, wait_for, wb
from hub.network.broker import BRIDGE_TOPICS, Bridge, BrokerError, ManagedBroker, find_mosquitto
from sim.netcut import NetCut


@pytest.fixture
def region(broker):
    """(central broker, link relay, regional broker bridged through the relay)."""
    try:
        find_mosquitto()
    except BrokerError as e:
        needs("Mosquitto", str(e))
    link = NetCut(broker.port).start()
    regional = ManagedBroker(bridges=[Bridge("east", link.url)]).start()
    yield broker, link, regional
    regional.stop()
    link.close()


def count_scans(db: str) -> int:
    import sqlite3
    c = sqlite3.connect(db)
    try:
        return c.execute("SELECT COUNT(*), COUNT(DISTINCT id) FROM scanevent").fetchone()
    finally:
        c.close()


def test_acks_configs_and_forecasts_cross_the_bridge_and_an_outage_loses_nothing(region, hub_store, make_edge):
    from hub.ingest.service import HubService
    central, link, regional = region
    svc = HubService(hub_store, central.url, forecast_every_s=0.5, derive="background").start()
    try:
        assert svc.wait_connected(10)
        edge = make_edge(broker_url=regional.url)
        assert edge.config_event.wait(20), "the configuration did not cross the bridge"
        c = edge.capture
        c.scan("%KRECEIVE"), c.scan("%P1002")
        assert all(c.scan(wb(i)).accepted for i in range(20))
        wait_for(lambda: edge.outbox.counts()["acked"] == 20, what="acks across the bridge")
        wait_for(lambda: edge.forecast and len(edge.forecast.get("waybills", [])) == 20, timeout=30,
                 what="a forecast across the bridge")
        wait_for(lambda: svc.stats["scans"] == 20, what="the hub to count them")

        link.cut()                                   # the regional <-> central link goes down
        assert all(c.scan(wb(i)).accepted for i in range(20, 60))     # the station scans on
        wait_for(lambda: edge.outbox.counts()["pending"] == 40, what="scans waiting while the link is down")
        assert svc.stats["scans"] == 20
        link.restore()
        wait_for(lambda: edge.outbox.counts()["acked"] == 60 and edge.outbox.counts()["pending"] == 0,
                 timeout=60, what="everything acknowledged after the link is back")
        wait_for(lambda: count_scans(hub_store)[0] == 60, what="the store to hold every scan")
        assert count_scans(hub_store) == (60, 60)     # nothing lost, nothing doubled
        assert edge.uplink.stats["rejected"] == 0

        # a station that vanishes: its last will at the regional broker reaches the hub
        edge.uplink.client.loop_stop()               # no more network loop: it cannot reconnect
        edge.uplink.client.socket().close()          # a cut cable, not a clean stop
        from hub.network import tables as net
        wait_for(lambda: not net.Station.get(net.Station.id == "st-100-1").online, timeout=60,
                 what="the last will across the bridge")
    finally:
        svc.stop()


def test_bridge_config_names_exactly_the_station_topics():
    lines = Bridge("east", "mqtts://bridge-east:secret@central.example:8883", ca="/etc/scanhub/ca.pem").config_lines()
    assert lines[0] == "connection scanhub-east" and "address central.example:8883" in lines
    assert "remote_username bridge-east" in lines and "remote_password secret" in lines
    assert "bridge_cafile /etc/scanhub/ca.pem" in lines and "cleansession false" in lines
    topics = [x.split()[1:] for x in lines if x.startswith("topic ")]
    assert topics == [[f"scanhub/v1/station/+/{w}", d, str(q)] for w, d, q in BRIDGE_TOPICS]
    with pytest.raises(BrokerError, match="bridge name 'a b'"):
        Bridge("a b", "mqtt://x").config_lines()
    with pytest.raises(BrokerError, match="bridge east: broker URL"):
        Bridge("east", "http://x").config_lines()


def test_bridge_config_command_prints_the_stanza(tmp_path):
    from click.testing import CliRunner

    import cli
    pw = tmp_path / "pw"
    pw.write_text("s3cret:/@\n")
    res = CliRunner().invoke(cli.main, ["hub", "bridge-config", "--name", "east", "--central",
                                        "mqtt://bridge-east@central:1883", "--password-file", str(pw)])
    assert res.exit_code == 0, res.output
    assert "remote_password s3cret:/@" in res.output.splitlines()
    assert res.output.splitlines() == Bridge("east", "mqtt://bridge-east:s3cret%3A%2F%40@central:1883").config_lines()
    bad = CliRunner().invoke(cli.main, ["hub", "bridge-config", "--name", "east", "--central", "mqtt://central",
                                        "--password-file", str(pw)])
    assert bad.exit_code == 2 and "needs a user in --central" in bad.output
