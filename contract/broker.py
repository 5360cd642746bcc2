"""Broker URLs, and an MQTT client set up from one (credentials, TLS, reconnect back-off).

``mqtt://[user[:pass]@]host[:port]`` (default port 1883) or ``mqtts://…`` (TLS, default 8883).
Stations and the hub connect the same way; docs/protocol.md and docs/deployment.md show how.
"""
from __future__ import annotations

import ssl
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

import paho.mqtt.client as mqtt

from contract.errors import BrokerURLError

RECONNECT_MIN_S = 0.1
RECONNECT_MAX_S = 2.0   # capped so a station is back within seconds of the broker returning


@dataclass
class BrokerURL:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False

    @classmethod
    def parse(cls, url: str) -> "BrokerURL":
        """``mqtt://[user[:pass]@]host[:port]`` or ``mqtts://…``; raises ``BrokerURLError``."""
        p = urlparse(url if "://" in url else f"mqtt://{url}")
        if p.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise BrokerURLError(f"broker URL {url!r}: scheme must be mqtt:// or mqtts://")
        tls = p.scheme in ("mqtts", "ssl")
        try:
            port = p.port or (8883 if tls else 1883)
        except ValueError as e:
            raise BrokerURLError(f"broker URL {url!r}: {e}") from e
        if not p.hostname:
            raise BrokerURLError(f"broker URL {url!r} has no host")
        return cls(p.hostname, port, unquote(p.username) if p.username else None,
                   unquote(p.password) if p.password else None, tls)

    def __str__(self) -> str:
        """The URL without credentials (safe to print)."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


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
