"""Whatever stations put in their status messages, the hub records it and its metrics endpoint
still renders a valid Prometheus text page; and the simulator survives any acknowledgement."""
from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from conftest import sample_store
from contract import protocol as P

junk = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True)
                    | st.text(max_size=30), lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c,
                                                                                             max_size=3), max_leaves=6)
status = st.fixed_dictionaries({}, optional={k: junk for k in list(P.STATUS_FIELDS) + ["outbox_fraction"]}).map(
    lambda d: d if "site" not in d else dict(d, site=d["site"]))


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    from hub.ingest.service import HubService
    from hub.store.db import database
    path = sample_store(str(tmp_path_factory.mktemp("fuzz") / "hub.db"))
    s = HubService(path, "mqtt://127.0.0.1:1")       # never started: only its records and collector
    yield s
    database.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=status, station=st.sampled_from(["st-100-1", "st-200-1", "new-1"]), retained=st.booleans(),
       raw=st.one_of(st.none(), st.binary(max_size=40)))
def test_any_status_leaves_valid_metrics(svc, body, station, retained, raw):
    from hub.ingest.metrics import HubCollector
    payload = raw if raw is not None else json.dumps(body, default=str).encode()
    svc._status(station, payload, retained)
    reg = CollectorRegistry(auto_describe=False)
    c = HubCollector(svc)
    c._read_at = -1e9                               # read the store on every example
    reg.register(c)
    text = generate_latest(reg).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["scanhub_store_up"].samples[0].value == 1
    for s in families["scanhub_station_outbox_fraction"].samples:
        assert s.value >= 0


acks = st.dictionaries(st.sampled_from(["batch", "committed", "rejected", "deletions", "hub_ms"]), junk, max_size=5)


@settings(max_examples=200, deadline=None)
@given(ack=acks, own=st.booleans())
def test_the_simulated_station_survives_any_ack(ack, own):
    from sim.stations import DEFAULTS, LightStation
    s = LightStation("sim-100-0001", "100", "mqtt://127.0.0.1:1", dict(DEFAULTS), random.Random(1))
    s.capture(3)
    s.inflight["b1"] = ([1, 2, 3], 0.0)
    s.sending.update([1, 2, 3])
    if own:
        ack = dict(ack, batch="b1")
    s._ack(ack)
    assert s.acked + s.rejected + len(s.pending) == 3
