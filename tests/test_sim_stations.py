"""The light station simulator (sim/stations.py) against a real hub and a real Mosquitto: every
scan of 50 stations acknowledged exactly once into the store, every station configured, and after
an import every station runs the new configuration (seen by the station and reported to the hub)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from conftest import SAMPLE
from sim.stations import Fleet, SimError, percentile, raise_open_files, station_ids

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = os.path.join(ROOT, "cli.py")


def cli(*args) -> str:
    """A command in its own process: the hub under test runs in this one on the same store."""
    r = subprocess.run([sys.executable, CLI, *args], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


@pytest.mark.timeout(240)
def test_fifty_stations_every_scan_acknowledged_and_every_config_arrives(hub_service, hub_store, broker, tmp_path):
    sites = ["100", "200"]
    fleet = Fleet(broker.url, station_ids(50, sites), processes=2, rate=2.0, burst_every_s=2.0,
                  burst_fraction=0.2, burst_size=40, status_every_s=1.0).start()
    try:
        first = {s: json.loads(cli("hub", "config", "--db", hub_store, "--site", s))["version"] for s in sites}
        fleet.wait(lambda s: s["connected"] == 50 and s["versions"] == {first["100"]: 25, first["200"]: 25}, 90,
                   "every station configured")
        fleet.burst()
        fleet.wait(lambda s: s["acked"] >= 500, 90, "traffic to flow")

        changed = yaml.safe_load(open(SAMPLE, encoding="utf-8"))
        changed["network"] = "sample, renamed"          # in every site's slice
        path = tmp_path / "changed.yaml"
        path.write_text(yaml.safe_dump(changed, allow_unicode=True), encoding="utf-8")
        cli("hub", "import", str(path), "--db", hub_store)
        new = {s: json.loads(cli("hub", "config", "--db", hub_store, "--site", s))["version"] for s in sites}
        assert set(new.values()).isdisjoint(first.values())
        fleet.wait(lambda s: s["versions"] == {new["100"]: 25, new["200"]: 25}, 90, "every station on the new config")

        fleet.traffic(False)
        fleet.wait(lambda s: s["pending"] == 0, 90, "the last acknowledgements")
    finally:
        total = fleet.stop()
    assert total["complete"] and total["stations"] == 50
    assert total["captured"] > 500 and total["acked"] == total["captured"] and total["rejected"] == 0
    assert all(st["pending"] == 0 and st["config_version"] in new.values() for st in total["per_station"].values())
    assert len(total["latencies_ms"]) >= 1 and percentile(total["latencies_ms"], 0.99) >= percentile(
        total["latencies_ms"], 0.5) > 0
    # the hub's side: every scan once, every station known with the version it reported
    status = json.loads(cli("hub", "status", "--db", hub_store, "--json"))
    assert status["scans"] == total["captured"] and status["dead_letters"] == 0
    rows = {r["station"]: r for r in json.loads(cli("hub", "stations", "--db", hub_store, "--json"))}
    for sid, site in station_ids(50, sites):
        assert rows[sid]["site"] == site and rows[sid]["config_version"] == new[site], rows[sid]


def test_open_files_and_bad_options_are_one_clear_error():
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY:
        with pytest.raises(SimError, match="use more --processes or raise the limit"):
            raise_open_files(hard + 1)
    assert raise_open_files(10) >= 10
    with pytest.raises(SimError, match="unknown options: colour"):
        Fleet("mqtt://127.0.0.1:1", station_ids(2, ["100"]), colour=1)
    with pytest.raises(SimError, match="no stations"):
        Fleet("mqtt://127.0.0.1:1", [])
    r = subprocess.run([sys.executable, "-m", "sim.stations", "--broker", "mqtt://127.0.0.1:1", "--count", "0"],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 1 and r.stderr.strip() == "error: --count and --processes must be at least 1"


def test_station_ids_spread_over_sites_and_percentiles():
    assert station_ids(3, ["100", "200"]) == [("sim-100-0001", "100"), ("sim-200-0002", "200"),
                                              ("sim-100-0003", "100")]
    values = sorted(float(x) for x in range(1, 101))
    assert percentile(values, 0.5) == 50 and percentile(values, 0.99) == 99 and percentile([], 0.5) is None
