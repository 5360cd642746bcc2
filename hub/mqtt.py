"""A paho-mqtt client set up from a broker URL (credentials, TLS, reconnect back-off)."""
from __future__ import annotations

import ssl

import paho.mqtt.client as mqtt

from hub.broker import BrokerURL

RECONNECT_MIN_S = 0.1
RECONNECT_MAX_S = 2.0   # capped so a station is back within seconds of the broker returning


def make_client(url: str, client_id: str, *, username: str | None = None, password: str | None = None,
                tls: dict | None = None, will: tuple[str, bytes] | None = None,
                protocol=mqtt.MQTTv5) -> tuple[mqtt.Client, BrokerURL]:
    """A configured (not yet connected) client for ``url``; explicit credentials win over the URL's."""
    b = BrokerURL.parse(url)
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
    user, pw = username or b.username, password or b.password
    if user:
        c.username_pw_set(user, pw)
    if b.tls or tls:
        tls = tls or {}
        c.tls_set(ca_certs=tls.get("ca"), certfile=tls.get("cert"), keyfile=tls.get("key"),
                  cert_reqs=ssl.CERT_REQUIRED)
        if tls.get("insecure"):
            c.tls_insecure_set(True)
    if will:
        c.will_set(will[0], will[1], qos=1, retain=True)
    c.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
    c.max_inflight_messages_set(100)
    c.max_queued_messages_set(0)
    return c, b
