"""Clock safety (a station that boots in 1970) and offline configuration."""
import sqlite3

from hypothesis import given
from hypothesis import strategies as st

from conftest import wait_for, wb
from contract.clock import CLOCK_SANE_MS as MIN_SANE_MS
from edge.clock import StationClock


@given(offset=st.integers(-10**12, 10**12), rtt=st.integers(0, 5000), m0=st.integers(0, 10**9),
       wall=st.integers(0, 2 * 10**12))
def test_corrected_time_follows_the_hub_and_is_fixed_once_measured(offset, rtt, m0, wall):
    meta = {}
    clock = StationClock(lambda k, d=None: meta.get(k, d), meta.__setitem__, boot="b")
    hub_ms = m0 + offset + rtt // 2
    clock.observe(wall, m0, hub_ms, m1=m0 + rtt)
    assert clock.synced
    t, state = clock.event_time(wall, m0 + 1000, "b")
    if state == "corrected":
        assert t == m0 + 1000 + (hub_ms - m0 - rtt // 2)
    else:
        assert state == "trusted" and abs(t - (m0 + 1000 + offset)) <= 2000
    clock.observe(wall, m0, hub_ms + 99_999, m1=m0 + rtt)     # later probes do not move past scans
    assert clock.event_time(wall, m0 + 1000, "b") == (t, state)


def test_unsynced_old_boot_is_flagged_never_1970():
    meta = {}
    clock = StationClock(lambda k, d=None: meta.get(k, d), meta.__setitem__, wall=lambda: 1_800_000_000_000,
                         boot="now")
    t, state = clock.event_time(12_000, 5_000, "earlier-boot")
    assert state == "unknown" and t >= MIN_SANE_MS
    assert clock.can_stamp("earlier-boot") and not clock.can_stamp("now")


def test_station_booted_in_1970_sends_corrected_times(hub_service, broker, tmp_path, hub_store):
    from edge.agent import EdgeAgent
    from edge.clock import mono_ms, wall_ms
    from edge.station import StationConfig
    cfg = StationConfig(station="st-100-1", site="100", broker=broker.url, outbox=str(tmp_path / "pi.db"))
    # the Pi: wall clock near 1970 + uptime; monotonic is real
    boot_wall = lambda: 86_400_000 + mono_ms()
    # first run with the broker down, so scans are made before any sync
    broker.stop()
    agent = EdgeAgent(cfg)
    agent.clock.wall = boot_wall
    agent.clock.boot = "pi-boot-1"
    agent.capture.set_config(_config(hub_store))
    agent.start()
    try:
        agent.capture.scan("%KRECEIVE"), agent.capture.scan("%P1002")
        v = agent.capture.scan(wb(1))
        assert v.accepted and v.scan["edge_ms"] < MIN_SANE_MS
        before = wall_ms()
        broker.start()
        wait_for(lambda: agent.outbox.counts()["acked"] == 1, what="the scan to reach the hub")
    finally:
        agent.stop()
    with sqlite3.connect(hub_store) as c:
        event_ms, clock, edge_ms = c.execute("SELECT event_ms, clock, edge_ms FROM scanevent").fetchone()
    assert clock == "corrected" and edge_ms < MIN_SANE_MS
    assert before - 60_000 < event_ms <= wall_ms()


def _config(hub_store):
    from hub.schema import connect
    from hub.store.db import database
    from hub.network.station_config import site_slice
    connect(hub_store)
    try:
        return site_slice("100", "st-100-1")
    finally:
        database.close()


def test_configuration_is_cached_for_offline_work(hub_service, broker, tmp_path):
    from edge.agent import EdgeAgent
    from edge.station import StationConfig
    cfg = StationConfig(station="st-100-1", site="100", broker=broker.url, outbox=str(tmp_path / "o.db"))
    agent = EdgeAgent(cfg).start()
    assert agent.config_event.wait(15)
    version = agent.config["version"]
    wait_for(lambda: agent.uplink.stats["connects"] >= 1 and agent.status()["config_version"] == version,
             what="config in use")
    agent.stop()
    broker.stop()
    offline = EdgeAgent(cfg).start()        # no broker now
    try:
        assert offline.config["version"] == version
        c = offline.capture
        c.scan("%KRECEIVE"), c.scan("%P1002")
        assert "check digit wrong" in c.scan(wb(1)[:-1] + ("0" if wb(1)[-1] != "0" else "1")).reason
        assert c.scan(wb(2)).accepted
    finally:
        offline.stop()


def test_tampered_configuration_is_refused(hub_service, broker, make_edge):
    import paho.mqtt.client as mqtt

    from contract import protocol as P
    edge = make_edge()
    assert edge.config_event.wait(15)
    bad = dict(edge.config, blocked_sites=["100", "101", "200"])      # hash no longer matches
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="intruder")
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    try:
        c.publish(P.topic("st-100-1", P.CONFIG), P.encode(bad), qos=1).wait_for_publish(5)
        wait_for(lambda: edge.uplink.stats["refused_configs"] >= 1, what="the edge to refuse it")
    finally:
        c.loop_stop()
        c.disconnect()
    assert edge.config["blocked_sites"] == []


def test_configuration_for_another_site_is_refused(hub_service, make_edge):
    edge = make_edge(station="st-100-1", site="200")          # the station file disagrees with the hub
    wait_for(lambda: edge.config_error, what="the mismatch to be noticed")
    assert "site 100" in edge.config_error and edge.config is None
    assert edge.status()["config_error"] == edge.config_error
