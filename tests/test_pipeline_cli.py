"""Admin and station commands, through click, against real stores and a real broker."""
import json

from click.testing import CliRunner

from cli import main
from conftest import RULES, SAMPLE, wait_for


def run(*args):
    r = CliRunner().invoke(main, list(args))
    return r


def test_init_import_and_bad_file(tmp_path):
    db = str(tmp_path / "hub.db")
    assert run("hub", "init", "--db", db).exit_code == 0
    r = run("hub", "import", SAMPLE, "--db", db)
    assert r.exit_code == 0 and "6 sites" in r.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("sites:\n  - {code: '1', name: a, center: '404'}\n")
    r = run("hub", "import", str(bad), "--db", db)
    assert r.exit_code == 1 and "parent center 404" in r.output
    r = run("hub", "stations", "--db", db, "--json")          # the failed import changed nothing
    assert {s["station"] for s in json.loads(r.output)} == {"st-100-1", "st-900-1", "st-200-1"}
    assert "not an initialised hub store" in run("hub", "stations", "--db", str(tmp_path / "none.db")).output
    assert run("track", "70000000000016", "--db", db).exit_code == 1


def test_deletions_and_gaps_reach_the_hub_report(hub_service, make_edge, hub_store, broker):
    edge = make_edge()
    assert edge.config_event.wait(15)
    edge.capture.scan("%KRECEIVE"), edge.capture.scan("%P1002")
    v = [edge.capture.scan(RULES.make("std14", "7000000%06d" % i)) for i in range(4)]
    wait_for(lambda: edge.outbox.counts()["acked"] == 4, what="acks")
    broker.stop()
    wait_for(lambda: not edge.uplink.connected.is_set(), what="offline")
    late = edge.capture.scan(RULES.make("std14", "7000000%06d" % 9))
    edge.outbox.delete(late.scan["id"], "label printed twice", "1002", 1_795_600_000_000)
    edge.outbox.delete(v[1].scan["id"], "wrong kind", "1002", 1_795_600_000_000)
    broker.start()
    wait_for(lambda: edge.outbox.counts()["deletions_pending"] == 0, what="tombstones acknowledged")
    r = run("hub", "gaps", "--db", hub_store, "--json")
    [g] = json.loads(r.output)
    assert g["station"] == "st-100-1" and g["max_seq"] == 5
    assert (g["deleted"], g["deleted_unuploaded"], g["missing"]) == (2, 1, [])
    # a scan the hub never got shows up as a missing range
    from hub.ingest import pipeline as ingest
    from hub.schema import connect
    from hub.store.db import database
    connect(hub_store)
    try:
        s = dict(v[0].scan, id="x", seq=8, event_ms=1_795_600_000_000, clock="trusted")
        ingest.commit([s])
    finally:
        database.close()
    [g] = json.loads(run("hub", "gaps", "--db", hub_store, "--json").output)
    assert g["missing"] == [[6, 7]] and g["missing_count"] == 2
    wait_for(lambda: json.loads(run("hub", "stations", "--db", hub_store, "--json").output)[0]["online"],
             what="station reported online")
    r = run("hub", "stations", "--db", hub_store, "--json")
    st = {s["station"]: s for s in json.loads(r.output)}["st-100-1"]
    assert st["config_version"]


def test_edge_status_and_outbox_commands(tmp_path, make_edge):
    import yaml
    edge = make_edge()
    path = tmp_path / "station.yaml"
    path.write_text(yaml.safe_dump({"station": "st-100-1", "site": "100", "outbox": edge.cfg.outbox}))
    wait_for(lambda: json.loads(run("edge", "status", "--config", str(path), "--json").output)["running"],
             what="the running station's status")
    r = run("edge", "status", "--config", str(path), "--json")
    st = json.loads(r.output)
    assert r.exit_code == 0 and st["outbox"]["pending"] == 0 and st["online"] is True    # the broker is up
    r = run("edge", "status", "--config", str(path))
    assert "st-100-1" in r.output and "pending" in r.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("station: 'a b'\nsite: '1'\n")
    assert "may use only" in run("edge", "status", "--config", str(bad)).output
    assert "no scan nope" in run("edge", "delete", "--config", str(path), "nope", "--reason", "x").output


def test_edge_status_tells_running_offline_and_stopped(tmp_path, make_edge, broker):
    import yaml
    edge = make_edge()
    path = tmp_path / "station.yaml"
    path.write_text(yaml.safe_dump({"station": "st-100-1", "site": "100", "outbox": edge.cfg.outbox}))
    status = lambda: json.loads(run("edge", "status", "--config", str(path), "--json").output)   # noqa: E731
    wait_for(lambda: status()["online"], what="online")
    edge.uplink.status_every_ms = 100
    broker.stop()
    wait_for(lambda: status()["running"] and not status()["online"], what="running but offline")
    edge.stop()
    assert status()["running"] is False and status()["online"] is False
