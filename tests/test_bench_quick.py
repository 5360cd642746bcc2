"""Every bench still runs: each one, tiny and with two rounds, must print its JSON line.

Speed is not asserted (the machine is shared); only that the bench runs to the end and reports
every figure the docs and bench/ab.py read.  The harness's own bookkeeping is checked in-process.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import needs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")

# bench -> (tiny arguments, headline rows it must report)
CASES = {
    "capture": (["--scans", "200"], {"steady_p99", "burst", "cradle"}),
    "drain": (["--scans", "10000"], {"drain", "e2e", "derive"}),
    "devices": (["--frames", "300", "--live-seconds", "0.5"], {"decode_mean", "decode_ratio", "live"}),
    "e1": (["--line-seconds", "1", "--calls", "2"], {"framer", "mf", "r2_setup"}),
    "gun_image": ([], {"size", "build", "flash"}),
    "monitor": (["--scans", "20000"], {"worst_single_site", "tracking"}),
    # the 8-s plays of its concurrent-calls part run under -m slow (test_telephony_media_part_runs)
    "telephony": (["--calls", "20", "--rate", "50", "--concurrent", "0"], {"setups"}),
    "acd": (["--decisions", "200", "--agents", "50", "--waiting", "20"], {"decision_p99"}),
    "ivr": (["--keys", "50", "--parcels", "10"], {"track_key_p99"}),
    "kb": (["--articles", "300"], {"search_p50"}),
    "crm": (["--customers", "2000"], {"lookup_p99"}),
    "waybill_phones": (["--records", "100"], {"cost"}),
    "dialer": (["--agents", "5", "--minutes", "20"], {"occupancy", "abandon"}),
    "web": (["--calls", "3"], {"pop_p99"}),
    "stations": (["--count", "12", "--processes", "2", "--window", "2"],
                 {"probe_p99", "fleet_p99", "cpu_per_station", "rss_per_station", "republish"}),
}


def have_mosquitto() -> bool:
    return any(p and os.access(p, os.X_OK)
               for p in (shutil.which("mosquitto"), "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"))


def run_json(cmd: list[str], timeout: float) -> dict:
    env = dict(os.environ, PYTHONPATH=ROOT)
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"{' '.join(cmd)} exited {p.returncode}:\n{p.stderr[-3000:]}"
    lines = [x for x in p.stdout.splitlines() if x.strip()]
    assert len(lines) == 1, f"--json must print exactly one line on stdout, got:\n{p.stdout[-2000:]}"
    return json.loads(lines[0])


@pytest.mark.timeout(150)
@pytest.mark.parametrize("bench", sorted(CASES))
def test_bench_runs_quick(bench):
    if bench in ("drain", "stations") and not have_mosquitto():
        needs("Mosquitto", f"{bench} runs a real broker")
    if bench in ("telephony", "web") and shutil.which("sipp") is None:
        needs("SIPp", "telephony calls through SIPp (Debian package sip-tester)")
    extra, headline = CASES[bench]
    res = run_json([sys.executable, os.path.join(BENCH, f"{bench}.py"), "--quick", "--rounds", "2", *extra, "--json"],
                   timeout=120)
    assert res["bench"] == bench and res["rounds"] == 2 and res["quick"] is True
    for key in ("schema", "params", "order", "headline", "rows", "figures", "per_round", "noise", "warnings"):
        assert key in res, key
    assert len(res["per_round"]) == 2
    assert headline <= set(res["headline"]), res["headline"]
    for key in res["headline"]:
        row = res["rows"][key]
        assert isinstance(row["figure"]["median"], (int, float)), (key, row)
        assert row["figure"]["n"] == 2, (key, row)
        if row.get("baseline_of"):
            assert isinstance(row["ratio"]["median"], (int, float)), (key, row)
        if "goal" in row:
            assert isinstance(row["met"], bool) and 0 <= row["rounds_met"] <= 2
    assert res["noise"]["value"] is None or res["noise"]["value"] >= 0


@pytest.mark.timeout(30)
def test_harness_interleaves_and_takes_ratios_per_round(capsys):
    sys.path.insert(0, BENCH)
    try:
        import harness
    finally:
        sys.path.remove(BENCH)
    args = harness.parse(harness.parser("t"), ["--rounds", "4", "--json"])
    order, base = [], iter([10.0, 20.0, 10.0, 20.0])
    b = harness.Bench("t", args)
    b.part("base", lambda r: order.append(("base", r)) or {"ms": next(base)})
    b.part("subj", lambda r: order.append(("subj", r)) or {"ms": 30.0 if r % 2 else 15.0})
    b.compare("x", "subject", "subj.ms", "base.ms", unit="ms", goal=("<=", 2), headline=True)
    b.noise_from("base.ms")
    res = b.run()
    # A B, B A, A B, B A
    assert [p for p, _ in order] == ["base", "subj", "subj", "base", "base", "subj", "subj", "base"]
    assert res["rows"]["x"]["ratios"] == [1.5, 1.5, 1.5, 1.5]      # per round, never across rounds
    assert res["rows"]["x"]["met"] and res["rows"]["x"]["rounds_met"] == 4
    assert res["noise"]["value"] == pytest.approx(10 / 15) and res["noise"]["noisy"]
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and json.loads(out[0])["rows"]["x"]["ratio"]["median"] == 1.5


@pytest.mark.timeout(30)
def test_ab_help_says_which_refs_work():
    p = subprocess.run([sys.executable, os.path.join(BENCH, "ab.py"), "--help"], capture_output=True, text=True,
                       timeout=20)
    assert p.returncode == 0 and "harness.py" in p.stdout


@pytest.mark.timeout(150)
def test_drain_bench_on_postgresql(pg_server):
    """``bench/drain.py --db postgresql://…``: the same drain into fresh PostgreSQL databases."""
    if not have_mosquitto():
        needs("Mosquitto", "drain runs a real broker")
    res = run_json([sys.executable, os.path.join(BENCH, "drain.py"), "--quick", "--rounds", "2", "--scans", "4000",
                    "--db", pg_server, "--json"], timeout=120)
    assert {"drain", "e2e", "derive"} <= set(res["headline"])
    assert res["params"]["hub_journal"] == "PostgreSQL"
    assert res["rows"]["not_committed"]["figure"]["median"] == 0


@pytest.mark.timeout(150)
def test_monitor_bench_on_postgresql(pg_server):
    """``bench/monitor.py --db postgresql://…``: a fresh database for the run, dropped afterwards."""
    import psycopg2

    def bench_databases() -> set[str]:
        with psycopg2.connect(pg_server) as c, c.cursor() as cur:
            cur.execute("SELECT datname FROM pg_database WHERE datname LIKE 'scanhub_bench_monitor_%'")
            names = {name for (name,) in cur.fetchall()}
        c.close()
        return names

    before = bench_databases()            # kept by an earlier --keep run: not this test's
    res = run_json([sys.executable, os.path.join(BENCH, "monitor.py"), "--quick", "--rounds", "2", "--scans", "5000",
                    "--db", pg_server, "--json"], timeout=120)
    assert {"worst_single_site", "tracking"} <= set(res["headline"])
    assert res["params"]["store"] == "PostgreSQL" and res["params"]["scans_in_store"] >= 5000
    assert res["rows"]["baseline"]["figure"]["n"] == 2
    assert bench_databases() <= before


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_telephony_media_part_runs():
    """The concurrent calls with RTP both ways (8-s plays of the sample, so it takes a minute)."""
    if shutil.which("sipp") is None:
        needs("SIPp", "telephony calls through SIPp (Debian package sip-tester)")
    res = run_json([sys.executable, os.path.join(BENCH, "telephony.py"), "--quick", "--rounds", "2", "--calls", "20",
                    "--rate", "50", "--concurrent", "6", "--json"], timeout=180)
    assert {"media_cores", "media_vs_sipp"} <= set(res["rows"])
    assert res["rows"]["media_cores"]["figure"]["n"] == 2
