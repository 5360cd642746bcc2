"""The hub's Prometheus metrics endpoint (``scanhub hub run --metrics HOST:PORT``).

Each scrape reads its figures where they are true, so they are right across the hub's processes:

* from the ingest service in this process: scans committed, batches, acknowledgements, rejects,
  derivation restarts, the broker connection, and the histogram of batch latency (from the network
  thread taking a batch to its acknowledgement being published, observed as it happens);
* from the store, read on the scrape: the derivation lag (``hub.scans.lag``: the dirty marks the
  ingest writes and the derivation process clears; the derivation process itself needs no
  exporter of its own), dead letters, the scan chain's breaks and pending scans
  (``hub.scans.chain_check``), and every station's state, outbox depth and last-heard age
  as the stations last reported them (``hub.network.stations``).

Store figures are read at most once every ``STORE_EVERY_S`` (several scrapers cost one read), in
the HTTP server's thread with its own store connection.  A store that cannot be read sets
``scanhub_store_up`` to 0 and leaves its figures out; the scrape itself never fails.  The names
and an alert rule set are in docs/operations.md ("Metrics").
"""
from __future__ import annotations

import logging
import threading
import time

from prometheus_client import CollectorRegistry, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.exposition import start_http_server

from contract.protocol import STALE_AFTER_S
from contract.version import SOFTWARE_VERSION
from hub.errors import HubError
from hub.network.stations import STATES, station_states
from hub.scans import tables as scans
from hub.scans.chain_check import BREAKS as CHAIN_BREAKS, totals as chain_totals
from hub.scans.lag import derivation_lag

log = logging.getLogger("scanhub.hub.metrics")

STORE_EVERY_S = 2.0
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

#: name -> help: every metric the endpoint exports (docs/operations.md has the same list)
METRICS = {
    "scanhub_info": "the hub's software version",
    "scanhub_scans_committed_total": "scans committed by this hub process since it started",
    "scanhub_batches_total": "batches committed by this hub process since it started",
    "scanhub_acks_total": "acknowledgements published since the hub started",
    "scanhub_scans_rejected_total": "scans and deletions rejected (each with a dead letter) since the hub started",
    "scanhub_batch_latency_seconds": "from the hub receiving a batch to publishing its acknowledgement",
    "scanhub_dead_letters": "dead letters in the store (payloads the hub refused, with their reason)",
    "scanhub_derivation_lag_waybills": "waybills whose derived state waits for the derivation",
    "scanhub_derivation_lag_scans": "committed scans not yet in derived state (parcels, facts, fees)",
    "scanhub_derivation_lag_seconds": "age of the oldest waiting waybill's mark (0 when up to date)",
    "scanhub_derivation_process_up": "1 while the background derivation process runs (1 with --derive inline)",
    "scanhub_derivation_restarts_total": "derivation processes restarted after dying",
    "scanhub_broker_connected": "1 while the hub is connected to the broker with its subscriptions granted",
    "scanhub_store_up": "1 when the last store read worked and no commit is failing",
    "scanhub_stations": "stations by state (online, stale, offline, never)",
    "scanhub_station_online": "1 for a station in state online, else 0",
    "scanhub_station_outbox_depth": "scans waiting in a station's outbox for the hub, as the station last reported",
    "scanhub_station_outbox_fraction": "how full a station's outbox is, 0-1 of its max_pending, as it last reported",
    "scanhub_station_last_heard_seconds": "seconds since the hub last heard from a station (absent: never)",
    "scanhub_chain_breaks": "breaks of the stations' scan chains found on ingest, by kind (altered, missing, …)",
    "scanhub_chain_pending": "chained scans whose predecessor has not arrived yet (verified when it does)",
}


class MetricsError(HubError):
    """The metrics endpoint cannot listen where it was asked to."""


class HubCollector:
    """A prometheus-client collector over a running ``HubService`` (see the module docstring)."""

    def __init__(self, svc, stale_after_s: float = STALE_AFTER_S):
        self.svc, self.stale_after_s = svc, stale_after_s
        self._lock = threading.Lock()
        self._store: dict | None = None
        self._read_at = 0.0

    def _store_figures(self) -> dict | None:
        with self._lock:
            if self._store is not None and time.monotonic() - self._read_at < STORE_EVERY_S:
                return self._store
            try:
                self._store = {"lag": derivation_lag(), "dead_letters": scans.DeadLetter.select().count(),
                               "stations": station_states(stale_after_s=self.stale_after_s),
                               "chain": chain_totals()}
            except Exception as e:            # a broken store is a figure, never a failed scrape
                log.warning("metrics: cannot read the store: %s", e)
                self._store = None
            self._read_at = time.monotonic()
            return self._store

    def collect(self):
        svc, stats = self.svc, dict(self.svc.stats)
        info = InfoMetricFamily("scanhub", METRICS["scanhub_info"])
        info.add_metric([], {"version": SOFTWARE_VERSION, "derive": svc.derive})
        yield info
        for name, key in (("scanhub_scans_committed", "scans"), ("scanhub_batches", "batches"),
                          ("scanhub_acks", "acks"), ("scanhub_scans_rejected", "rejected"),
                          ("scanhub_derivation_restarts", "derivation_restarts")):
            yield CounterMetricFamily(name, METRICS[name + "_total"], value=stats.get(key, 0))
        yield GaugeMetricFamily("scanhub_broker_connected", METRICS["scanhub_broker_connected"],
                                value=1 if svc.connected.is_set() else 0)
        d = svc.derivation
        yield GaugeMetricFamily("scanhub_derivation_process_up", METRICS["scanhub_derivation_process_up"],
                                value=1 if d is None or d.alive else 0)
        store = self._store_figures()
        yield GaugeMetricFamily("scanhub_store_up", METRICS["scanhub_store_up"],
                                value=1 if store is not None and svc.store_error is None else 0)
        if store is None:
            return
        lag = store["lag"]
        for name, value in (("waybills", lag["waybills"]), ("scans", lag["scans"] or 0),
                            ("seconds", lag["age_s"] or 0)):
            key = f"scanhub_derivation_lag_{name}"
            yield GaugeMetricFamily(key, METRICS[key], value=value)
        yield GaugeMetricFamily("scanhub_dead_letters", METRICS["scanhub_dead_letters"], value=store["dead_letters"])
        breaks = GaugeMetricFamily("scanhub_chain_breaks", METRICS["scanhub_chain_breaks"], labels=["kind"])
        for kind in CHAIN_BREAKS:
            breaks.add_metric([kind], store["chain"][kind])
        yield breaks
        yield GaugeMetricFamily("scanhub_chain_pending", METRICS["scanhub_chain_pending"], value=store["chain"]["pending"])
        by_state = GaugeMetricFamily("scanhub_stations", METRICS["scanhub_stations"], labels=["state"])
        for state in STATES:
            by_state.add_metric([state], sum(1 for s in store["stations"] if s["state"] == state))
        yield by_state
        online = GaugeMetricFamily("scanhub_station_online", METRICS["scanhub_station_online"],
                                   labels=["station", "site"])
        depth = GaugeMetricFamily("scanhub_station_outbox_depth", METRICS["scanhub_station_outbox_depth"],
                                  labels=["station", "site"])
        full = GaugeMetricFamily("scanhub_station_outbox_fraction", METRICS["scanhub_station_outbox_fraction"],
                                 labels=["station", "site"])
        heard = GaugeMetricFamily("scanhub_station_last_heard_seconds",
                                  METRICS["scanhub_station_last_heard_seconds"], labels=["station", "site"])
        now = time.time() * 1000
        for s in store["stations"]:
            labels = [s["station"], s["site"]]
            online.add_metric(labels, 1 if s["online"] else 0)
            if s["outbox_depth"] is not None:
                depth.add_metric(labels, s["outbox_depth"])
            if s["outbox_fraction"] is not None:
                full.add_metric(labels, s["outbox_fraction"])
            if s["last_heard_ms"] is not None:
                heard.add_metric(labels, max(0.0, (now - s["last_heard_ms"]) / 1000))
        yield online
        yield depth
        yield full
        yield heard


class MetricsServer:
    """The endpoint: ``MetricsServer(svc, host, port).start()`` serves ``/metrics`` over HTTP
    until ``stop()``; it hooks the batch-latency histogram into ``svc``."""

    def __init__(self, svc, host: str, port: int, stale_after_s: float = STALE_AFTER_S):
        self.host, self.port = host, port
        disable_created_metrics()          # no *_created series: counters restart with the hub anyway
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(HubCollector(svc, stale_after_s))
        self.latency = Histogram("scanhub_batch_latency_seconds", METRICS["scanhub_batch_latency_seconds"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        svc.on_batch_latency = self.latency.observe
        self._server = self._thread = None

    def start(self) -> "MetricsServer":
        try:
            self._server, self._thread = start_http_server(self.port, addr=self.host or "0.0.0.0",
                                                           registry=self.registry)
        except OSError as e:
            raise MetricsError(f"metrics endpoint cannot listen on {self.host or '0.0.0.0'}:{self.port}: "
                               f"{e.strerror or e}") from None
        self.port = self._server.server_address[1]
        return self

    @property
    def url(self) -> str:
        host = self.host if self.host not in ("", "0.0.0.0") else "127.0.0.1"
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}/metrics"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
