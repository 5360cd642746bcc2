"""A station's own metrics endpoint (`scanhub edge run --metrics`), scraped over HTTP from a real
station process: its outbox fills while the hub is away and empties when the hub acknowledges."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from conftest import read_line, wait_for, wb
from edge.metrics import METRICS, StationMetricsError, parse_address

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = open(os.path.join(ROOT, "docs", "operations.md"), encoding="utf-8").read()


def scrape(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def test_station_metrics_follow_its_outbox(tmp_path, broker, hub_store):
    from hub.ingest.service import HubService
    path = tmp_path / "station.yaml"
    path.write_text(yaml.safe_dump({"station": "st-100-1", "site": "100", "broker": broker.url,
                                    "outbox": str(tmp_path / "st.db")}))
    svc = HubService(hub_store, broker.url).start()
    st = subprocess.Popen([sys.executable, os.path.join(ROOT, "cli.py"), "edge", "run", "--config", str(path),
                           "--stdin", "--plain", "--metrics", "127.0.0.1:0"], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = read_line(st.stderr, what="the metrics line")
        assert line.startswith("metrics: "), line
        url = line.split(": ", 1)[1].strip()
        wait_for(lambda: scrape(url)[("scanhub_station_broker_connected", ())] == 1, what="connected",
                 interval=0.2)
        wait_for(lambda: any(k[0] == "scanhub_station_info" and dict(k[1])["config_version"]
                             for k in scrape(url)), what="a configuration", interval=0.2)
        svc.stop()                                  # the hub goes away: scans wait in the outbox
        st.stdin.write("".join(f"{x}\n" for x in ["%KRECEIVE", "%P1002"] + [wb(i) for i in range(5)]))
        st.stdin.flush()
        m = wait_for(lambda: (lambda m: m if m[("scanhub_station_outbox_scans", (("state", "pending"),))] == 5
                              else None)(scrape(url)), what="five pending", interval=0.2)
        assert m[("scanhub_station_outbox_fill_ratio", ())] > 0
        assert m[("scanhub_station_acked_total", ())] == 0
        svc = HubService(hub_store, broker.url).start()
        m = wait_for(lambda: (lambda m: m if m[("scanhub_station_acked_total", ())] == 5 else None)(scrape(url)),
                     timeout=60, what="five acknowledged", interval=0.3)
        assert m[("scanhub_station_outbox_scans", (("state", "pending"),))] == 0
        assert m[("scanhub_station_oldest_pending_seconds", ())] == 0
        assert m[("scanhub_station_ack_latency_seconds", ())] > 0
        names = {k[0] for k in m}
        for name in METRICS:
            assert f"`{name}`" in DOC, name
            assert name in names, name
    finally:
        st.send_signal(signal.SIGTERM)
        st.wait(20)
        svc.stop()


def test_a_bad_metrics_address_is_one_clear_line():
    assert parse_address("127.0.0.1:9465") == ("127.0.0.1", 9465) and parse_address("[::1]:0") == ("::1", 0)
    for bad in ("nowhere", "1.2.3.4:99999", "::1:80"):
        with pytest.raises(StationMetricsError, match="give HOST:PORT"):
            parse_address(bad)
