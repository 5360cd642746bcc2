"""The admin commands through click's CliRunner, over a real store fed by the real ingest."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from hub.business import accounts
from hub.ingest import pipeline as ingest
from hub.business import tariff
from test_hub_reference import HOUR, T0
from conftest import sample_store

W1, W2, W3 = "70000000000017", "70000000000025", "70000000000033"


def sc(i, kind, site, t, wb, **kw):
    d = {"id": f"c{wb}-{i}", "station": "st", "seq": i, "kind": kind, "waybill": wb, "site": site,
         "edge_ms": t, "event_ms": t, "clock": "trusted"}
    d.update(kw)
    return d


@pytest.fixture
def hubdb(tmp_path):
    path = sample_store(str(tmp_path / "hub.db"))
    accounts.ensure_accounts()
    tariff.install(tariff.load_tariff("sim/networks/tariff-sample.yaml"))
    ingest.commit([
        sc(1, "receive", "100", T0, W1, courier="1001", dest_site="200", weight_g=1200),
        sc(2, "dispatch", "100", T0 + HOUR, W1, dest_site="200"),
        sc(3, "arrive", "900", T0 + 3 * HOUR, W1, weight_g=1200),
        sc(4, "dispatch", "900", T0 + 4 * HOUR, W1, dest_site="200", shift="HZ-SH-08"),
        sc(1, "receive", "100", T0 + HOUR, W2, courier="1001"),
        sc(1, "arrive", "200", T0 + 2 * HOUR, W3),
        sc(2, "deliver", "200", T0 + 3 * HOUR, W3, courier="2001"),
    ])
    return path


def run(*args, input=None):
    import cli
    return CliRunner().invoke(cli.main, list(args), input=input, catch_exceptions=False)


def test_monitor_json_lists_objects_with_waybill(hubdb):
    r = run("monitor", "not-arrived", "--site", "901", "--json", "--db", hubdb)
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert [x["waybill"] for x in rows] == [W1]
    r = run("monitor", "received-not-dispatched", "--site", "100", "--json", "--db", hubdb)
    assert [x["waybill"] for x in json.loads(r.output)] == [W2]
    r = run("monitor", "dispatched-not-arrived", "--site", "900", "--as-of", str(T0 + 100 * HOUR), "--json",
            "--db", hubdb)
    assert [x["waybill"] for x in json.loads(r.output)] == [W1]
    r = run("monitor", "delivered-unsigned", "--site", "200", "--csv", "--db", hubdb)
    assert r.output.splitlines()[0].startswith("waybill,") and W3 in r.output
    r = run("monitor", "prev-not-dispatched", "--site", "200", "--db", hubdb)
    assert W3 in r.output


def test_monitor_errors_are_one_line(hubdb):
    r = run("monitor", "nope", "--site", "100", "--db", hubdb)
    assert r.exit_code != 0 and "unknown report" in r.output
    r = run("monitor", "not-arrived", "--site", "777", "--db", hubdb)
    assert r.exit_code == 1 and "unknown site 777" in r.output and "Traceback" not in r.output
    r = run("monitor", "not-arrived", "--site", "100", "--since", "tomorrow", "--db", hubdb)
    assert r.exit_code == 1 and "bad time" in r.output
    r = run("monitor", "not-arrived", "--site", "100", "--db", hubdb + ".missing")
    assert r.exit_code == 1 and "not an initialised hub store" in r.output


def test_forecast_and_compare(hubdb, tmp_path):
    r = run("forecast", "--site", "100", "--json", "--db", hubdb)
    assert [x["waybill"] for x in json.loads(r.output)] == [W2]
    f = tmp_path / "run.txt"
    f.write_text(f"{W1}\n")
    r = run("forecast", "--site", "100", "--compare", str(f), "--json", "--db", hubdb)
    assert json.loads(r.output) == {"missing": [W2], "extra": [W1]}


def test_account_commands(hubdb):
    r = run("account", "set-warning", "101", "50", "--db", hubdb)
    assert "BLOCKED" in r.output
    r = run("account", "deposit", "101", "120.50", "--ref", "S1", "--db", hubdb)
    assert r.exit_code == 0 and "balance 120.50" in r.output
    r = run("account", "deposit", "101", "120.50", "--ref", "S1", "--db", hubdb)
    assert "already booked" in r.output
    r = run("account", "transfer", "101", "200", "20", "--ref", "T1", "--db", hubdb)
    assert r.exit_code == 0, r.output
    r = run("account", "statement", "101", "--json", "--db", hubdb)
    st = json.loads(r.output)
    assert [x["balance_cents"] for x in st["rows"]] == [12050, 10050]
    r = run("account", "statement", "101", "--html", "--db", hubdb)
    assert "<table" in r.output and "table-layout: fixed" in r.output
    r = run("account", "deposit", "101", "1.234", "--ref", "S2", "--db", hubdb)
    assert r.exit_code == 1 and "bad amount" in r.output
    r = run("account", "set-mode", "101", "weekly", "--db", hubdb)
    assert r.exit_code == 2
    r = run("account", "list", "--json", "--db", hubdb)
    assert {x["site"] for x in json.loads(r.output)} >= {"100", "101", "200"}


def test_report_commands(hubdb):
    r = run("report", "scans", "--site", "100", "--kind", "receive", "--format", "csv", "--db", hubdb)
    lines = r.output.splitlines()
    assert lines[0] == "waybill,at,group,shift,weight_g" and len(lines) == 3
    r = run("report", "monthly", "--site", "900", "--kind", "dispatch", "--month", "2024-06", "--format", "json",
            "--db", hubdb)
    assert json.loads(r.output) == [{"month": "2024-06", "site": "900", "kind": "dispatch", "group": "901",
                                     "scans": 1, "parcels": 1, "weight_g": 0}]
    r = run("report", "signed", "--site", "200", "--format", "html", "--db", hubdb)
    assert W3 in r.output and "<col " in r.output
    r = run("report", "fees", W1, "--json", "--db", hubdb)
    assert any(x["source"] == f"fee:transit:{W1}:900" for x in json.loads(r.output))
    r = run("report", "monthly", "--site", "900", "--kind", "dispatch", "--month", "2024-13", "--db", hubdb)
    assert r.exit_code == 1 and "bad month" in r.output


def test_orders_commands(hubdb, tmp_path):
    cov = tmp_path / "cov.yaml"
    cov.write_text('coverage:\n  - {site: "100", province: "33", city: "3301"}\n'
                   '  - {site: "101", province: "33", city: "3301", district: "330108"}\n')
    assert "2 coverage" in run("orders", "coverage", str(cov), "--db", hubdb).output
    r = run("orders", "import", "sim/orders-sample.csv", "--json", "--db", hubdb)
    counts = json.loads(r.output)
    assert counts["accepted"] >= 3 and counts["failed"] >= 1
    r = run("orders", "counts", "--by", "status", "--format", "json", "--db", hubdb)
    assert {"what": "accept", "state": "failed", "orders": counts["failed"]} in json.loads(r.output)
