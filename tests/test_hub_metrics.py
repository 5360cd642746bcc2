"""The Prometheus endpoint of a real running hub (`scanhub hub run --metrics`), scraped over HTTP
while a real station sends real scans: counters, the latency histogram, stations and their
outbox depth, and the derivation lag, held up by a fault in the derivation's own table and
then released (figures come from the store, so the derivation process needs no exporter)."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import read_line, wait_for, wb
from hub.ingest.metrics import METRICS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = os.path.join(ROOT, "cli.py")
DOC = open(os.path.join(ROOT, "docs", "operations.md"), encoding="utf-8").read()


def scrape(url: str) -> dict:
    """``{(name, labels as a sorted tuple): value}`` of every sample, parsed as Prometheus does."""
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200
        text = r.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def value(samples: dict, name: str, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


def hold_derivation(db: str, on: bool) -> None:
    """A fault at the lowest layer: the derivation cannot write parcel state while it is on."""
    c = sqlite3.connect(db)
    try:
        c.execute("DROP TRIGGER IF EXISTS scanhub_test_hold")
        if on:
            c.execute("CREATE TRIGGER scanhub_test_hold BEFORE INSERT ON parcel "
                      "BEGIN SELECT RAISE(ABORT, 'held by the test'); END")
        c.commit()
    finally:
        c.close()


@pytest.fixture
def hub_with_metrics(hub_store, broker):
    hub = subprocess.Popen([sys.executable, CLI, "hub", "run", "--db", hub_store, "--broker", broker.url,
                            "--metrics", "127.0.0.1:0", "--heartbeat", "0"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = ""
        while not line.startswith("metrics: "):
            line = read_line(hub.stdout, what="the metrics line of hub run")
            assert line, f"hub run ended: {hub.stderr.read()}"
        yield hub, line.split(": ", 1)[1].strip()
    finally:
        hub.send_signal(signal.SIGTERM)
        hub.wait(20)


def test_metrics_move_with_real_scans(hub_store, hub_with_metrics, make_edge):
    hub, url = hub_with_metrics
    first = scrape(url)
    assert value(first, "scanhub_scans_committed_total") == 0
    assert value(first, "scanhub_broker_connected") == 1 and value(first, "scanhub_store_up") == 1
    assert value(first, "scanhub_stations", state="never") == 3
    assert value(first, "scanhub_derivation_lag_scans") == 0
    assert value(first, "scanhub_derivation_process_up") == 1

    hold_derivation(hub_store, True)
    edge = make_edge()
    assert edge.config_event.wait(15)
    edge.capture.scan("%KRECEIVE"), edge.capture.scan("%P1002")
    assert all(edge.capture.scan(wb(i)).accepted for i in range(30))
    wait_for(lambda: edge.outbox.counts()["acked"] == 30, what="the scans acknowledged")
    s = wait_for(lambda: (lambda m: m if value(m, "scanhub_derivation_lag_scans") == 30
                          and value(m, "scanhub_station_online", station="st-100-1", site="100") == 1
                          else None)(scrape(url)), what="the lag and the station in the metrics", interval=0.3)
    assert value(s, "scanhub_scans_committed_total") == 30
    assert value(s, "scanhub_derivation_lag_waybills") == 30
    assert value(s, "scanhub_derivation_lag_seconds") > 0
    batches = value(s, "scanhub_batches_total")
    assert batches >= 1 and value(s, "scanhub_acks_total") == batches
    assert value(s, "scanhub_batch_latency_seconds_count") == batches
    assert value(s, "scanhub_batch_latency_seconds_bucket", le="+Inf") == batches
    assert value(s, "scanhub_batch_latency_seconds_sum") > 0
    assert value(s, "scanhub_stations", state="online") == 1
    assert value(s, "scanhub_station_outbox_depth", station="st-100-1", site="100") is not None
    assert 0 <= value(s, "scanhub_station_last_heard_seconds", station="st-100-1", site="100") < 30
    assert value(s, "scanhub_station_online", station="st-200-1", site="200") == 0
    # the station's outbox chained the scans, the hub verified them on ingest: nothing broken or waiting
    assert all(value(s, "scanhub_chain_breaks", kind=k) == 0 for k in ("altered", "missing", "reordered", "replayed"))
    assert value(s, "scanhub_chain_pending") == 0

    hold_derivation(hub_store, False)          # the derivation catches up; the lag goes back to 0
    wait_for(lambda: value(scrape(url), "scanhub_derivation_lag_waybills") == 0, what="the lag to clear",
             interval=0.3)
    assert value(scrape(url), "scanhub_derivation_lag_seconds") == 0


def test_every_metric_is_documented_and_exported(hub_with_metrics):
    _, url = hub_with_metrics
    with urllib.request.urlopen(url, timeout=10) as r:
        families = {f.name for f in text_string_to_metric_families(r.read().decode())}
    for name in METRICS:
        assert f"`{name}`" in DOC, f"docs/operations.md does not name {name}"
        assert name.removesuffix("_total") in families, (name, sorted(families))
    assert {f.removesuffix("_total") for f in METRICS} >= families, "an undocumented metric"


def test_a_taken_metrics_port_is_one_clear_line(hub_store, broker):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        r = subprocess.run([sys.executable, CLI, "hub", "run", "--db", hub_store, "--broker", broker.url,
                            "--metrics", f"127.0.0.1:{port}"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 1 and f"metrics endpoint cannot listen on 127.0.0.1:{port}" in r.stderr, r.stderr
    bad = subprocess.run([sys.executable, CLI, "hub", "run", "--db", hub_store, "--metrics", "nowhere"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert bad.returncode == 1 and "--metrics 'nowhere': give HOST:PORT" in bad.stderr, bad.stderr


def test_the_sample_alert_rules_name_only_exported_metrics():
    import re

    import yaml
    block = DOC.split("<!-- alert rules -->", 1)[1].split("<!-- /alert rules -->", 1)[0]
    rules = yaml.safe_load(block.split("```yaml", 1)[1].split("```", 1)[0])
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
    assert {"ScanhubStationStale", "ScanhubDerivationLag", "ScanhubOutboxFilling"} <= set(alerts)
    for name, rule in alerts.items():
        for metric in re.findall(r"\bscanhub_[a-z_]+", rule["expr"]):
            base = re.sub(r"_(bucket|count|sum)$", "", metric)
            assert base in METRICS, f"{name} names {metric}, which the hub does not export"


def test_a_chain_break_found_on_ingest_shows_in_the_metrics(hub_store, hub_with_metrics):
    from test_chain import make, mutate
    from test_chain_ingest import stamped
    from hub.scans.commit import commit_scans
    from hub.schema import connect
    from hub.store.db import database
    _, url = hub_with_metrics
    connect(hub_store)
    try:
        commit_scans(stamped(mutate(make(5), "alter", 1)))          # an outbox edited before it was sent
        commit_scans(stamped(make(5)[3:4]))                          # sent again: no new verdict
    finally:
        database.close()
    s = wait_for(lambda: (lambda m: m if value(m, "scanhub_chain_breaks", kind="altered") == 1 else None)(scrape(url)),
                 what="the break in the metrics", interval=0.3)
    assert value(s, "scanhub_chain_breaks", kind="replayed") == 0
