"""Shared fixtures: a real Mosquitto per test, hub stores (SQLite, PostgreSQL when reachable)."""
from __future__ import annotations

import contextlib
import json
import os
import time
import uuid

import pytest

SAMPLE = os.path.join(os.path.dirname(__file__), "..", "sim", "networks", "sample.yaml")
PG_ADMIN = os.environ.get("SCANHUB_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


# shared test data: the sample network's 14-digit waybill rule, numbers issued to site 100, and
# the fixed Ed25519 keys gun images are signed with in tests
from contract.waybill import WaybillRules  # noqa: E402
from firmware_images import keys  # noqa: E402

RULES = WaybillRules([{"name": "std14", "pattern": "^7[0-9]{13}$", "check": "mod10-31"}])
KEY = keys.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER = keys.Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


def wb(n: int, site_block: int = 0) -> str:
    """A valid waybill number: ``7000`` + a two-digit block (0 = issued to site 100) + ``n``."""
    return RULES.make("std14", "7000%02d%07d" % (site_block, n))


IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
NEEDS = "needs "      # the reason of every skip for a real component the Makefile installs


def needs(component: str, why: str) -> None:
    """Skip a test whose real peer is not installed here (``needs <component>: <why>``).

    Under ``CI=true`` the same skip is a failure (``pytest_runtest_makereport`` below): CI
    installs Mosquitto, PostgreSQL, libpri, libopenr2 and a C compiler, so a missing one there is
    a broken set-up, never a green run."""
    pytest.skip(f"{NEEDS}{component}: {why}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if IN_CI and rep.skipped:
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        if reason.removeprefix("Skipped: ").startswith(NEEDS):
            rep.outcome = "failed"
            rep.longrepr = f"CI=true and a real component is missing: {reason}"


def wait_for(cond, timeout: float = 20.0, what: str = "condition", interval: float = 0.02):
    """Poll ``cond()`` until it is truthy; fail the test with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def read_line(stream, timeout: float = 20.0, what: str = "a line") -> str:
    """One line from a subprocess pipe, or fail the test after ``timeout`` seconds (a reader
    thread does the blocking read, so a silent process cannot hang the suite)."""
    import threading
    box: list = []
    t = threading.Thread(target=lambda: box.append(stream.readline()), daemon=True)
    t.start()
    t.join(timeout)
    if not box:
        pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
    line = box[0]
    return line.decode() if isinstance(line, bytes) else line


@pytest.fixture
def broker():
    from hub.network.broker import BrokerError, ManagedBroker, find_mosquitto
    try:
        find_mosquitto()
    except BrokerError as e:
        needs("Mosquitto", str(e))
    b = ManagedBroker().start()          # installed but failing to start: an error, not a skip
    yield b
    b.stop()


@pytest.fixture
def sample_network():
    from hub.network.file import load_network
    return load_network(SAMPLE)


def _pg_available() -> str | None:
    try:
        import psycopg2
        conn = psycopg2.connect(PG_ADMIN.replace("postgresql://", "postgresql://", 1), connect_timeout=3)
        conn.close()
        return None
    except Exception as e:  # noqa: BLE001 - any failure means "skip"
        return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


@pytest.fixture(scope="session")
def pg_server():
    why = _pg_available()
    if why:
        needs("PostgreSQL", f"not reachable at {PG_ADMIN}: {why}")
    return PG_ADMIN


@pytest.fixture
def pg_url(pg_server):
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    import psycopg2
    name = f"scanhub_t_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(pg_server)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    base = pg_server.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    from hub.store.db import database
    try:
        database.close()
    except Exception:
        pass
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A hub store URL: SQLite always, PostgreSQL when the machine runs one."""
    if request.param == "sqlite":
        return str(tmp_path / "hub.db")
    return request.getfixturevalue("pg_url")


def sample_store(url: str) -> str:
    """Create a hub store at ``url`` holding the sample network, and leave it bound (the one
    way tests build a sample store).  Returns ``url``."""
    from hub.network.basic_data import import_network
    from hub.network.file import load_network
    from hub.schema import connect
    connect(url, create=True)
    import_network(load_network(SAMPLE))
    return url


@pytest.fixture
def hub_store(tmp_path):
    """An initialised SQLite hub store holding the sample network (closed); returns its path."""
    from hub.store.db import database
    path = sample_store(str(tmp_path / "hub.db"))
    database.close()
    return path


@pytest.fixture
def hub_service(hub_store, broker):
    from hub.ingest.service import HubService
    svc = HubService(hub_store, broker.url).start()
    assert svc.wait_connected(10), "hub did not connect to the broker"
    yield svc
    svc.stop()


@pytest.fixture
def make_edge(tmp_path, broker):
    """Factory: an edge agent for a sample station, outbox in tmp; stopped at teardown."""
    from edge.agent import EdgeAgent
    from edge.station import StationConfig
    agents = []

    def make(station="st-100-1", site="100", broker_url=None, **kw):
        cfg = StationConfig(station=station, site=site, broker=broker_url or broker.url,
                            outbox=str(tmp_path / f"{station}.outbox.db"), **kw)
        agent = EdgeAgent(cfg).start()
        agents.append(agent)
        return agent

    yield make
    for a in agents:
        try:
            a.stop()
        except Exception:
            pass


SCAN_TABLE = "scanevent"     # the one place tests name a hub table


def fail_on_waybill(sqlite_path: str, waybill: str | None, message: str = "injected fault") -> None:
    """Make the hub's SQLite store refuse every scan of ``waybill`` with ``message`` (a trigger,
    the lowest layer there is); ``waybill=None`` removes the fault."""
    import sqlite3
    db = sqlite3.connect(sqlite_path)
    try:
        db.execute("DROP TRIGGER IF EXISTS scanhub_test_fault")
        if waybill is not None:
            db.execute(f"CREATE TRIGGER scanhub_test_fault BEFORE INSERT ON {SCAN_TABLE} "
                       f"WHEN NEW.waybill = ? BEGIN SELECT RAISE(ABORT, '{message}'); END".replace("?", repr(waybill)))
        db.commit()
    finally:
        db.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def model_store(request, tmp_path_factory):
    """One hub store per test module, on SQLite and on PostgreSQL, for the reference-model
    property tests (each example empties the tables it uses).  Yields the store URL, bound."""
    from hub.schema import connect
    from hub.store.db import database
    if request.param == "sqlite":
        url = str(tmp_path_factory.mktemp("model") / "hub.db")
        connect(url, create=True)
        yield url
        database.close()
        return
    import psycopg2
    admin_url = request.getfixturevalue("pg_server")
    name = f"scanhub_m_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(admin_url)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    url = f"{admin_url.rsplit('/', 1)[0]}/{name}"
    connect(url, create=True)
    yield url
    database.close()
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@contextlib.contextmanager
def raw_station(broker, station: str):
    """A hand-driven station: a plain MQTT client and the acknowledgements the hub sends it."""
    acks = []
    import paho.mqtt.client as mqtt

    from contract import protocol as P
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"raw-{station}")
    c.on_message = lambda cl, u, msg: acks.append(json.loads(msg.payload))
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    try:
        c.subscribe(P.topic(station, P.ACK), qos=1)
        yield c, acks
    finally:
        c.loop_stop()
        c.disconnect()
