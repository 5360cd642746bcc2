"""`hub run --listen HOST:PORT`: the managed broker on a fixed address that survives restarts, a
clear error when the port is taken, and station files from `hub credentials` that point there."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest
import yaml
from click.testing import CliRunner

from conftest import read_line, sample_store, wait_for, wb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = os.path.join(ROOT, "cli.py")


def cli(*args):
    import cli as root
    return CliRunner().invoke(root.main, list(args), catch_exceptions=False)


def hub_run(db, *args):
    return subprocess.Popen([sys.executable, CLI, "hub", "run", "--db", db, "--heartbeat", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)


def started(hub) -> str:
    first = read_line(hub.stdout, what="the hub's broker line")
    assert first.startswith("broker: "), first
    assert "hub running" in read_line(hub.stdout, what="the hub to run")
    return first


def stop(hub):
    hub.send_signal(signal.SIGTERM)
    try:
        hub.wait(20)
    except subprocess.TimeoutExpired:
        hub.kill()
        hub.wait()


@pytest.fixture
def store(tmp_path, broker):         # broker: Mosquitto is installed (else the fixture skips)
    from hub.store.db import database
    path = sample_store(str(tmp_path / "hub.db"))
    database.close()
    return path


def test_a_fixed_port_survives_hub_restarts_and_credentials_point_at_it(store, tmp_path, make_edge):
    from hub.network.broker import free_port
    port = free_port()
    hub = hub_run(store, "--listen", f"127.0.0.1:{port}")
    try:
        assert f"mqtt://127.0.0.1:{port} " in started(hub)
        r = cli("hub", "credentials", "--db", store, "--out", str(tmp_path / "cred"))
        assert r.exit_code == 0, r.output
        assert f"station files point at mqtt://127.0.0.1:{port}" in r.output
        station_file = yaml.safe_load((tmp_path / "cred" / "stations" / "st-100-1.yaml").read_text())
        assert station_file["broker"] == f"mqtt://127.0.0.1:{port}"
        # a station run from that file reaches the hub ...
        edge = make_edge(broker_url=station_file["broker"])
        assert edge.config_event.wait(15)
        edge.capture.scan("%KRECEIVE"), edge.capture.scan("%P1002")
        assert edge.capture.scan(wb(1)).accepted
        wait_for(lambda: edge.outbox.counts()["acked"] == 1, what="the first scan acknowledged")
        stop(hub)
        wait_for(lambda: not edge.uplink.connected.is_set(), what="the station to see the hub go")
        assert edge.capture.scan(wb(2)).accepted
        # ... and again after a restart without --listen: the store kept the address
        hub = hub_run(store)
        assert f"mqtt://127.0.0.1:{port} " in started(hub)
        wait_for(lambda: edge.outbox.counts()["acked"] == 2, what="the scan made while the hub was down")
    finally:
        hub.kill()
        hub.wait()


def test_a_taken_port_is_one_clear_line_naming_the_option(store, tmp_path):
    """A system Mosquitto on the port (here: another Mosquitto): `hub run` says so and stops; it
    does not quietly use the stranger's broker."""
    from hub.network.broker import ManagedBroker
    other = ManagedBroker().start()
    try:
        hub = hub_run(store, "--listen", f"127.0.0.1:{other.port}")
        out, _ = hub.communicate(timeout=30)
        assert hub.returncode == 1, out
        assert f"cannot listen on 127.0.0.1:{other.port}" in out and "in use" in out
        assert "--listen HOST:PORT" in out and f"--broker mqtt://HOST:{other.port}" in out
        assert "Traceback" not in out and "hub running" not in out
        # a recorded address that has been taken since: the same, and it says where it came from
        from hub.network.listen import record_listen
        from hub.schema import connect
        from hub.store.db import database
        connect(store)
        record_listen("127.0.0.1", other.port)
        database.close()
        hub = hub_run(store)
        out, _ = hub.communicate(timeout=30)
        assert hub.returncode == 1 and "--listen" in out and "the store records the last --listen" in out, out
    finally:
        other.stop()


def test_all_interfaces_and_nothing_recorded(store, tmp_path):
    from hub.network.listen import ListenError, parse_listen, record_listen
    from hub.schema import connect
    from hub.store.db import database
    assert parse_listen("0.0.0.0:1883") == ("0.0.0.0", 1883)
    assert parse_listen(":1884") == ("", 1884)
    assert parse_listen("[::1]:1885") == ("::1", 1885)
    for bad in ("1883", "host", "host:", "host:99999", "::1:1883", "h:x"):
        with pytest.raises(ListenError, match="HOST:PORT"):
            parse_listen(bad)
    r = cli("hub", "credentials", "--db", store, "--out", str(tmp_path / "c"))
    assert r.exit_code == 1 and "--broker" in r.output and "--listen" in r.output
    connect(store)
    record_listen("0.0.0.0", 1883)
    database.close()
    r = cli("hub", "credentials", "--db", store, "--out", str(tmp_path / "c"))
    assert r.exit_code == 0, r.output
    name = socket.getfqdn()
    assert yaml.safe_load((tmp_path / "c" / "stations" / "st-900-1.yaml").read_text())["broker"] == \
        f"mqtt://{name}:1883"
    # an address given once is kept for the next station added
    r = cli("hub", "credentials", "--db", store, "--out", str(tmp_path / "c"), "--broker", "mqtt://hub.example:1883")
    assert r.exit_code == 0 and "mqtt://hub.example:1883" in r.output
    r = cli("hub", "credentials", "--db", store, "--out", str(tmp_path / "c"))
    assert "station files point at mqtt://hub.example:1883" in r.output
    # ... unless the hub has moved to another port since: then it asks rather than write dead files
    connect(store)
    record_listen("0.0.0.0", 1999)
    database.close()
    r = cli("hub", "credentials", "--db", store, "--out", str(tmp_path / "c"))
    assert r.exit_code == 1 and "1999" in r.output and "--broker" in r.output


def test_listen_is_for_the_managed_broker_only(store, broker):
    r = cli("hub", "run", "--db", store, "--broker", broker.url, "--listen", "0.0.0.0:1883")
    assert r.exit_code == 1 and "--listen is for the hub's own broker" in r.output
