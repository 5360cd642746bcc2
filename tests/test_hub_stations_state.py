"""`hub stations`: a station that stops reporting goes stale, "last heard" is when it last spoke
(never the hub's start), and stations report their software version."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import paho.mqtt.client as mqtt

from conftest import wait_for
from contract import protocol as P

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = os.path.join(ROOT, "cli.py")
DOC = open(os.path.join(ROOT, "docs", "protocol.md"), encoding="utf-8").read()


def cli(*args) -> str:
    """The command in a process of its own: the hub under test runs in this one, and a command
    here would rebind the store it is using."""
    r = subprocess.run([sys.executable, CLI, *args], capture_output=True, text=True, cwd=ROOT, timeout=60,
                       env=dict(os.environ, COLUMNS="200"))
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def stations(db, *args) -> dict:
    return {s["station"]: s for s in json.loads(cli("hub", "stations", "--db", db, "--json", *args))}


def station_client(broker, station, will=True):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-{station}", protocol=mqtt.MQTTv5)
    if will:
        c.will_set(P.topic(station, P.STATUS), P.encode({"online": False, "site": "100"}), qos=1, retain=True)
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    return c


def status(**kw) -> bytes:
    st = {"online": True, "running": True, "site": "100", "outbox_depth": 0, "ts": int(time.time() * 1000),
          "software_version": "9.9.9", "epoch": "ep1", "max_seq": 3}
    st.update(kw)
    return P.encode(st)


def test_a_station_that_stops_reporting_goes_stale(hub_service, broker, hub_store):
    c = station_client(broker, "st-100-1")
    try:
        c.publish(P.topic("st-100-1", P.STATUS), status(), qos=1, retain=True).wait_for_publish(5)
        wait_for(lambda: stations(hub_store)["st-100-1"]["state"] == "online", what="the station online", interval=0.2)
        s = stations(hub_store, "--stale-after", "20")["st-100-1"]
        assert s["online"] and s["software_version"] == "9.9.9" and s["last_heard"] and s["heard_s_ago"] <= 20
        heard = s["last_heard_ms"]
        # it says nothing more and no last will comes (a cut link the broker has not noticed yet)
        wait_for(lambda: time.time() * 1000 - heard > 1500, what="time to pass")
        s = stations(hub_store, "--stale-after", "1")["st-100-1"]
        assert (s["state"], s["online"], s["last_heard_ms"]) == ("stale", False, heard)
        both = stations(hub_store)                                    # the default: 30 s
        assert both["st-100-1"]["state"] == "online" and both["st-900-1"]["state"] == "never"
        table = cli("hub", "stations", "--db", hub_store, "--stale-after", "1")
        assert "stale" in table and "never" in table and "9.9.9" in table and "s ago" in table
    finally:
        c.loop_stop()
        c.disconnect()


def test_last_will_is_offline_and_keeps_what_the_station_said(hub_service, broker, hub_store):
    c = station_client(broker, "st-100-1")
    c.publish(P.topic("st-100-1", P.STATUS), status(), qos=1, retain=True).wait_for_publish(5)
    wait_for(lambda: stations(hub_store)["st-100-1"]["state"] == "online", what="the station online", interval=0.2)
    heard = stations(hub_store)["st-100-1"]["last_heard_ms"]
    c.loop_stop()
    c.socket().close()                        # gone without DISCONNECT: the broker sends the will
    wait_for(lambda: stations(hub_store)["st-100-1"]["state"] == "offline", what="the last will")
    s = stations(hub_store)["st-100-1"]
    assert s["last_heard_ms"] == heard, "the broker's last will is not the station speaking"
    assert (s["software_version"], s["epoch"], s["max_seq"]) == ("9.9.9", "ep1", 3)


def test_a_retained_status_is_heard_when_it_was_made_not_when_the_hub_starts(broker, hub_store):
    """The bug: after a hub restart every station stayed online.  The broker hands the new hub
    each station's last status (retained); a station that vanished since must not look heard now."""
    from hub.ingest.service import HubService
    ten_min_ago = int(time.time() * 1000) - 600_000
    c = station_client(broker, "st-100-1", will=False)
    c.publish(P.topic("st-100-1", P.STATUS), status(ts=ten_min_ago, clock_offset_ms=250), qos=1,
              retain=True).wait_for_publish(5)
    c.loop_stop()
    c.disconnect()
    svc = HubService(hub_store, broker.url).start()
    try:
        assert svc.wait_connected(10)
        wait_for(lambda: stations(hub_store)["st-100-1"]["last_heard_ms"] is not None, what="the retained status")
        s = stations(hub_store)["st-100-1"]
        assert s["last_heard_ms"] == ten_min_ago + 250          # on hub time
        assert s["state"] == "stale" and s["heard_s_ago"] >= 599
    finally:
        svc.stop()


def test_a_real_station_reports_its_software_version_and_seqs(hub_service, make_edge, hub_store):
    from contract.version import SOFTWARE_VERSION
    edge = make_edge()
    assert edge.config_event.wait(15)
    edge.capture.scan("%KRECEIVE"), edge.capture.scan("%P1002")
    from conftest import wb
    assert all(edge.capture.scan(wb(i)).accepted for i in range(3))
    wait_for(lambda: stations(hub_store)["st-100-1"]["max_seq"] == 3, what="the status after three scans")
    s = stations(hub_store)["st-100-1"]
    assert (s["state"], s["software_version"], s["epoch"]) == ("online", SOFTWARE_VERSION, edge.outbox.epoch)
    assert SOFTWARE_VERSION != "unknown"
    edge.stop()
    wait_for(lambda: stations(hub_store)["st-100-1"]["state"] == "offline", what="the stopped station offline")


def test_the_status_fields_are_the_contracts_and_the_docs():
    """The uplink sends exactly contract.protocol.STATUS_FIELDS (besides what the agent adds), and
    docs/protocol.md's status table lists each of them."""
    from edge.uplink import Uplink

    class Box:
        epoch, pending = "ep", 0

        def max_seq(self):
            return 0

    class Clock:
        wall_offset_ms = rtt_ms = None

    up = Uplink.__new__(Uplink)
    up.site, up.outbox, up.clock, up.config_version, up.last_ack_ms, up.extra_status = "100", Box(), Clock(), None, None, None
    sent = set(json.loads(up._status_payload())) - {"v"}
    assert sent == set(P.STATUS_FIELDS)
    section = DOC.split("## Station status (`…/status`, retained)", 1)[1].split("\n## ", 1)[0]
    assert set(re.findall(r"^\| `(\w+)` \|", section, re.M)) == set(P.STATUS_FIELDS)
    assert f"every {P.STATUS_EVERY_S:g} s" in section and f"{P.STALE_AFTER_S:g} s" in section
