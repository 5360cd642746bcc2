"""Per-station credentials and ACL, enforced by a real Mosquitto."""
import threading

import paho.mqtt.client as mqtt
import pytest
import yaml

from conftest import needs, wait_for
from contract import protocol as P


@pytest.fixture
def secured(tmp_path):
    from hub.network.broker import BrokerError, ManagedBroker, find_mosquitto
    from hub.network.credentials import HUB_USER, generate
    try:
        find_mosquitto()
    except BrokerError as e:
        needs("Mosquitto", str(e))
    stations = [{"id": "st-a", "site": "100"}, {"id": "st-b", "site": "200"}]
    creds = generate(stations, str(tmp_path / "cred"))
    b = ManagedBroker(password_file=str(tmp_path / "cred" / "passwd"),
                      acl_file=str(tmp_path / "cred" / "acl")).start()
    yield b, creds, HUB_USER, tmp_path / "cred"
    b.stop()


def client(broker, user, password, received=None, puback=None):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-{user}", protocol=mqtt.MQTTv5)
    c.username_pw_set(user, password)
    connected = threading.Event()
    result = {}

    def on_connect(cl, u, flags, rc, props):
        result["rc"] = rc
        connected.set()
    c.on_connect = on_connect
    if received is not None:
        c.on_message = lambda cl, u, msg: received.append(msg.topic)
    if puback is not None:
        c.on_publish = lambda cl, u, mid, rc, props: puback.update({mid: rc})
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    assert connected.wait(10)
    return c, result["rc"]


def test_station_cannot_publish_into_another_stations_topics(secured):
    broker, creds, hub_user, _ = secured
    seen = []
    hub, rc = client(broker, hub_user, creds[hub_user], received=seen)
    assert not rc.is_failure
    subscribed = threading.Event()
    hub.on_subscribe = lambda *args: subscribed.set()
    hub.subscribe("scanhub/v1/#", qos=1)
    assert subscribed.wait(10), "the broker never confirmed the hub's subscription"   # before anyone publishes
    acks = {}
    a, rc = client(broker, "st-a", creds["st-a"], puback=acks)
    try:
        forged = a.publish(P.topic("st-b", P.SCANS), b'{"v":1,"scans":[]}', qos=1)
        own = a.publish(P.topic("st-a", P.SCANS), b'{"v":1,"scans":[]}', qos=1)
        wait_for(lambda: forged.mid in acks and own.mid in acks, what="both PUBACKs")
        assert acks[forged.mid].value == 135          # MQTT v5 "Not authorized"
        assert not acks[own.mid].is_failure
        wait_for(lambda: P.topic("st-a", P.SCANS) in seen, what="the hub to see station A's own batch")
        assert P.topic("st-b", P.SCANS) not in seen
    finally:
        for c in (a, hub):
            c.loop_stop()
            c.disconnect()


def test_station_reads_only_its_own_config_and_wrong_password_is_refused(secured):
    broker, creds, hub_user, cred_dir = secured
    hub, _ = client(broker, hub_user, creds[hub_user])
    hub.publish(P.topic("st-a", P.CONFIG), b'{"v":1,"for":"a"}', qos=1, retain=True).wait_for_publish(5)
    hub.publish(P.topic("st-b", P.CONFIG), b'{"v":1,"for":"b"}', qos=1, retain=True).wait_for_publish(5)
    got = []
    b, _ = client(broker, "st-b", creds["st-b"], received=got)
    try:
        b.subscribe([(P.topic("st-a", P.CONFIG), 1), (P.topic("st-b", P.CONFIG), 1)])
        wait_for(lambda: P.topic("st-b", P.CONFIG) in got, what="station B's own config")
        assert P.topic("st-a", P.CONFIG) not in got
    finally:
        b.loop_stop()
        b.disconnect()
        hub.loop_stop()
        hub.disconnect()
    c, rc = client(broker, "st-a", "wrong-password")
    c.loop_stop()
    assert rc.is_failure
    station_file = yaml.safe_load((cred_dir / "stations" / "st-a.yaml").read_text())
    assert station_file["password"] == creds["st-a"] and station_file["station"] == "st-a"


def test_a_station_cannot_take_another_stations_client_id(secured):
    """The broker binds client ids to user names: logging in with st-a's client id as st-b does
    not kick st-a off."""
    broker, creds, _, _ = secured
    drops = []
    a = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="scanhub-edge-st-a", protocol=mqtt.MQTTv5)
    a.username_pw_set("st-a", creds["st-a"])
    up = threading.Event()
    a.on_connect = lambda *args: up.set()
    a.on_disconnect = lambda cl, u, flags, rc, props: drops.append(rc)
    got = []
    a.on_message = lambda cl, u, msg: got.append(msg.payload)
    a.connect("127.0.0.1", broker.port)
    a.loop_start()
    try:
        assert up.wait(10)
        subscribed = threading.Event()
        a.on_subscribe = lambda *args: subscribed.set()
        a.subscribe(P.topic("st-a", P.ACK), qos=1)
        assert subscribed.wait(10)
        b = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="scanhub-edge-st-a", protocol=mqtt.MQTTv5)
        b.username_pw_set("st-b", creds["st-b"])
        b_up = threading.Event()
        b.on_connect = lambda *args: b_up.set()
        b.connect("127.0.0.1", broker.port)
        b.loop_start()
        assert b_up.wait(10)
        hub, _ = client(broker, "scanhub-hub", creds["scanhub-hub"])
        hub.publish(P.topic("st-a", P.ACK), b"still here", qos=1)   # reaches st-a only if it is still on
        wait_for(lambda: got, what="st-a to receive after st-b logged in with its client id")
        assert drops == []
        b.loop_stop(), b.disconnect(), hub.loop_stop(), hub.disconnect()
    finally:
        a.loop_stop()
        a.disconnect()
