"""A station's own Prometheus endpoint (``scanhub edge run --metrics HOST:PORT``), optional.

The hub already exports every station's outbox depth and last-heard age from their status
messages (docs/operations.md, "Metrics"); a station's own endpoint adds what only the station
knows, live even while its link to the hub is down: the outbox by state and how full it is, the
age of its oldest unacknowledged scan, the uplink's counters and acknowledgement latency, whether
it is connected to the broker and its clock is synced.  Figures are read on each scrape from the
running agent (the outbox under its own lock).
"""
from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.exposition import start_http_server

from contract.version import SOFTWARE_VERSION
from edge.errors import EdgeError

#: name -> help: what the station's endpoint exports (docs/operations.md has the same list)
METRICS = {
    "scanhub_station_info": "the station's id, site, software and configuration version",
    "scanhub_station_outbox_scans": "scans in the outbox by state (pending, acked, rejected)",
    "scanhub_station_outbox_fill_ratio": "pending scans over the outbox's max_pending",
    "scanhub_station_oldest_pending_seconds": "age of the oldest scan waiting for the hub (0: none)",
    "scanhub_station_scans_sent_total": "scans sent to the hub (a resend counts again)",
    "scanhub_station_acked_total": "scans the hub acknowledged as committed",
    "scanhub_station_rejected_total": "scans the hub rejected (kept, marked)",
    "scanhub_station_resends_total": "batches sent again after no acknowledgement came in time",
    "scanhub_station_ack_latency_seconds": "moving average of the hub's acknowledgement time",
    "scanhub_station_broker_connected": "1 while connected to the broker",
    "scanhub_station_clock_synced": "1 once the clock offset to the hub is measured",
}


class StationMetricsError(EdgeError):
    """The station's metrics endpoint cannot be used as asked."""


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[IPv6]:PORT`` (port 0: a random one)."""
    host, sep, port = text.strip().rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not port.isdigit() or int(port) > 65535 or (":" in host and not text.strip().startswith("[")):
        raise StationMetricsError(f"--metrics {text!r}: give HOST:PORT, e.g. 127.0.0.1:9465")
    return host, int(port)


class StationCollector:
    def __init__(self, agent):
        self.agent = agent

    def collect(self):
        a = self.agent
        up, ob = a.uplink, a.outbox
        info = InfoMetricFamily("scanhub_station", METRICS["scanhub_station_info"])
        info.add_metric([], {"station": a.cfg.station, "site": a.cfg.site, "version": SOFTWARE_VERSION,
                             "config_version": up.config_version or ""})
        yield info
        counts, usage = ob.counts(), ob.usage()
        by_state = GaugeMetricFamily("scanhub_station_outbox_scans", METRICS["scanhub_station_outbox_scans"],
                                     labels=["state"])
        for state in ("pending", "acked", "rejected"):
            by_state.add_metric([state], counts[state])
        yield by_state
        yield GaugeMetricFamily("scanhub_station_outbox_fill_ratio", METRICS["scanhub_station_outbox_fill_ratio"],
                                value=counts["pending"] / usage["limit"] if usage["limit"] else 0.0)
        oldest = usage.get("oldest_ms")
        yield GaugeMetricFamily("scanhub_station_oldest_pending_seconds",
                                METRICS["scanhub_station_oldest_pending_seconds"],
                                value=max(0.0, time.time() - oldest / 1000) if oldest and counts["pending"] else 0)
        for name, key in (("scans_sent", "scans_sent"), ("acked", "acked"), ("rejected", "rejected"),
                          ("resends", "resends")):
            full = f"scanhub_station_{name}_total"
            yield CounterMetricFamily(f"scanhub_station_{name}", METRICS[full], value=up.stats[key])
        yield GaugeMetricFamily("scanhub_station_ack_latency_seconds", METRICS["scanhub_station_ack_latency_seconds"],
                                value=(up.ack_latency_ms or 0) / 1000)
        yield GaugeMetricFamily("scanhub_station_broker_connected", METRICS["scanhub_station_broker_connected"],
                                value=1 if up.connected.is_set() else 0)
        yield GaugeMetricFamily("scanhub_station_clock_synced", METRICS["scanhub_station_clock_synced"],
                                value=1 if a.clock.synced else 0)


def serve(agent, host: str, port: int):
    """Start the endpoint; returns ``(server, url)`` (``server.shutdown()`` stops it)."""
    disable_created_metrics()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StationCollector(agent))
    try:
        server, _ = start_http_server(port, addr=host or "0.0.0.0", registry=registry)
    except OSError as e:
        raise StationMetricsError(f"metrics endpoint cannot listen on {host or '0.0.0.0'}:{port}: "
                                  f"{e.strerror or e}") from None
    shown = host if host not in ("", "0.0.0.0") else "127.0.0.1"
    return server, f"http://{f'[{shown}]' if ':' in shown else shown}:{server.server_address[1]}/metrics"
