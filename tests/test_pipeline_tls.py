"""TLS is a configuration option: hub and station talk to a TLS-only broker with a private CA."""
import datetime as dt
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import needs, wait_for
from contract.waybill import WaybillRules


def write_pki(folder):
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "scanhub test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {"ca": folder / "ca.pem", "cert": folder / "server.pem", "key": folder / "server.key"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return {k: str(v) for k, v in paths.items()}


def test_scans_flow_over_tls(tmp_path, hub_store):
    from edge.agent import EdgeAgent
    from edge.station import StationConfig
    from hub.network.broker import BrokerError, ManagedBroker, find_mosquitto
    from hub.ingest.service import HubService
    try:
        find_mosquitto()
    except BrokerError as e:
        needs("Mosquitto", str(e))
    pki = write_pki(tmp_path)
    broker = ManagedBroker(tls=pki).start()
    hub = edge = None
    try:
        assert broker.url.startswith("mqtts://")
        hub = HubService(hub_store, broker.url, tls={"ca": pki["ca"]}).start()
        assert hub.wait_connected(10)
        edge = EdgeAgent(StationConfig(station="st-100-1", site="100", broker=broker.url, tls={"ca": pki["ca"]},
                                       outbox=str(tmp_path / "o.db"))).start()
        assert edge.config_event.wait(15)
        edge.capture.scan("%KRECEIVE"), edge.capture.scan("%P1002")
        rules = WaybillRules(edge.config["waybill_rules"])
        assert edge.capture.scan(rules.make("std14", "7000000000001")).accepted
        wait_for(lambda: edge.outbox.counts()["acked"] == 1, what="the ack over TLS")
    finally:
        for x in (edge, hub):
            if x:
                x.stop()
        broker.stop()


def test_plain_client_cannot_talk_to_a_tls_broker(tmp_path):
    import paho.mqtt.client as mqtt

    from hub.network.broker import BrokerError, ManagedBroker, find_mosquitto
    try:
        find_mosquitto()
    except BrokerError as e:
        needs("Mosquitto", str(e))
    broker = ManagedBroker(tls=write_pki(tmp_path)).start()
    try:
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="plain")
        refused = None
        try:
            c.connect("127.0.0.1", broker.port, keepalive=5)
            for _ in range(20):                       # a plain CONNECT gets no CONNACK from TLS
                rc = c.loop(timeout=0.2)
                if rc != mqtt.MQTT_ERR_SUCCESS:
                    refused = rc
                    break
        except (ConnectionError, OSError) as e:       # the broker closed the socket on us
            refused = e
        assert refused is not None and not c.is_connected(), "a plain client talked to the TLS broker"
    finally:
        broker.stop()
