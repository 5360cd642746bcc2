"""Many stations benchmark: light simulated stations (sim/stations.py) against one hub process.

    python bench/stations.py                  # 1,000 stations in 4 processes, 5 rounds of 20 s
    python bench/stations.py --quick          # 50 stations, 3 rounds of 3 s
    python bench/stations.py --count 300 --window 10 --rounds 3 [--json]

One Mosquitto and one hub (``cli.py hub run`` of this tree, background derivation, SQLite) serve
the run; the stations announce themselves at the sample network's four sites and stay connected
throughout, each a real MQTT client with its own connection, status reports, configuration and
acknowledgements (docs/protocol.md).  Each round has three parts, reversed every other round
(bench/harness.py):

* ``alone``: the fleet connected but silent (status reports only) while one probe station sends
  ``--probe-rate`` scans/s; its acknowledgement latency p50/p99 is the baseline;
* ``loaded``: the same probe while every station sends its steady ``--rate`` scans/s, with a burst
  (``--burst-fraction`` of the stations uploading ``--burst-size`` scans, as from a cradle) at the
  start of the window: the probe's p50/p99 against the baseline, the fleet's own p50/p99, and the
  hub's CPU (hub and derivation process) per connected station;
* ``republish``: a network import that changes every site's configuration slice; the time from
  the import until every station has received and verified the new version.

Memory per station is the hub's resident memory with the fleet connected less before it, over the
station count (hub process and derivation process).  No goal is set: figures for sizing.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time

import harness

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from drain import check_tree, children, proc_cpu, tree_env, wait_for_hub  # noqa: E402

SITES = ["100", "101", "200", "201"]


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def hub_tree(pid: int) -> list[int]:
    return [pid] + children(pid)


def tree_cpu_s(pid: int) -> float:
    total = 0.0
    for p in hub_tree(pid):
        try:
            total += proc_cpu(p)
        except OSError:
            pass
    return total


def tree_rss_kib(pid: int) -> int:
    total = 0
    for p in hub_tree(pid):
        try:
            total += rss_kib(p)
        except OSError:
            pass
    return total


def main() -> None:
    ap = harness.parser(__doc__)
    ap.add_argument("--count", type=int, default=None, help="stations (default 1000; 50 with --quick)")
    ap.add_argument("--processes", type=int, default=4, help="simulator processes (default 4)")
    ap.add_argument("--window", type=float, default=None, help="seconds measured per part (default 20; 3 with --quick)")
    ap.add_argument("--rate", type=float, default=0.2, help="scans/s per station while loaded (default 0.2)")
    ap.add_argument("--burst-fraction", type=float, default=0.05, help="share of stations in the burst (0.05)")
    ap.add_argument("--burst-size", type=int, default=250, help="scans per station in the burst (250)")
    ap.add_argument("--probe-rate", type=float, default=2.0, help="scans/s of the probe station (2)")
    args = harness.parse(ap)
    count = args.count or (50 if args.quick else 1000)
    window = args.window or (3.0 if args.quick else 20.0)
    from contract import protocol
    from hub.network.basic_data import import_network
    from hub.network.broker import ManagedBroker
    from hub.network.file import load_network
    from hub.schema import connect
    from hub.store.db import database
    from sim.stations import SNAPSHOT_EVERY_S, Fleet, percentile, station_ids
    import yaml

    b = harness.Bench("stations", args, params={"stations": count, "processes": args.processes, "window_s": window,
                                                 "rate": args.rate, "burst_fraction": args.burst_fraction,
                                                 "burst_size": args.burst_size, "probe_rate": args.probe_rate})
    work = tempfile.mkdtemp(prefix="scanhub-bench-stations-")
    sample = os.path.join(ROOT, "sim", "networks", "sample.yaml")
    hub_db = os.path.join(work, "hub.db")
    connect(hub_db, create=True)
    import_network(load_network(sample))
    database.close()
    env = tree_env()
    check_tree(env)
    broker = ManagedBroker().start()
    hub = subprocess.Popen([sys.executable, os.path.join(ROOT, "cli.py"), "hub", "run", "--db", hub_db,
                            "--broker", broker.url, "--heartbeat", "0"], stdout=subprocess.DEVNULL, cwd=ROOT, env=env)
    fleet = probe = None
    state = {}

    def window_latencies(f, start: int) -> list[float]:
        f.snapshot()
        return sorted(f.latency_log[start:])

    def measure(loaded: bool) -> dict:
        fleet.traffic(loaded)
        probe.traffic(True)
        fleet.snapshot(), probe.snapshot()
        f0, p0 = len(fleet.latency_log), len(probe.latency_log)
        cpu0, bcpu0, t0 = tree_cpu_s(hub.pid), proc_cpu(broker.proc.pid), time.monotonic()
        if loaded:
            fleet.burst()
        time.sleep(window)
        cpu, bcpu, took = tree_cpu_s(hub.pid) - cpu0, proc_cpu(broker.proc.pid) - bcpu0, time.monotonic() - t0
        probe.traffic(False)
        fleet.traffic(False)
        # every batch sent in the window counts, however late its acknowledgement: wait for them all
        fleet.wait(lambda s: s["pending"] == 0, 300, "the fleet's acknowledgements")
        probe.wait(lambda s: s["pending"] == 0, 300, "the probe's acknowledgements")
        time.sleep(2 * SNAPSHOT_EVERY_S)        # the last snapshots (every 0.5 s) bring the last latencies
        p_lat, f_lat = window_latencies(probe, p0), window_latencies(fleet, f0)
        out = {"probe_p50_ms": percentile(p_lat, 0.5), "probe_p99_ms": percentile(p_lat, 0.99),
               "hub_core_percent": 100 * cpu / took, "broker_core_percent": 100 * bcpu / took}
        if loaded:
            out.update(fleet_p50_ms=percentile(f_lat, 0.5), fleet_p99_ms=percentile(f_lat, 0.99),
                       fleet_acks=len(f_lat), hub_cpu_ms_per_station_s=1000 * cpu / took / count,
                       hub_rss_kib_per_station=(tree_rss_kib(hub.pid) - state["rss0"]) / count)
        return {k: v for k, v in out.items() if v is not None}

    def republish(r: int) -> dict:
        net = yaml.safe_load(open(sample, encoding="utf-8"))
        net["network"] = f"bench round {r}"               # in every site's slice: every station gets news
        path = os.path.join(work, f"net-{r}.yaml")
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump(net, f, allow_unicode=True)
        before = set(fleet.snapshot()["versions"])
        t0 = time.time()
        subprocess.run([sys.executable, os.path.join(ROOT, "cli.py"), "hub", "import", path, "--db", hub_db],
                       check=True, stdout=subprocess.DEVNULL, cwd=ROOT, env=env)
        s = fleet.wait(lambda s: len(s["versions"]) == len(SITES) and not set(s["versions"]) & before
                       and sum(s["versions"].values()) == count, 600, "every station on the new configuration")
        last = max(s["config_seen"][v][1] for v in s["versions"])
        return {"all_stations_s": last - t0}

    b.part("alone", lambda r: measure(False))
    b.part("loaded", lambda r: measure(True))
    b.part("republish", republish)
    b.compare("probe_p50", "ack p50, probe station, fleet loaded vs silent", "loaded.probe_p50_ms",
              "alone.probe_p50_ms", unit="ms")
    b.compare("probe_p99", "ack p99, probe station, fleet loaded vs silent", "loaded.probe_p99_ms",
              "alone.probe_p99_ms", unit="ms", headline=True)
    b.figure("fleet_p50", f"ack p50, all {count} stations, loaded", "loaded.fleet_p50_ms", unit="ms", better="lower")
    b.figure("fleet_p99", f"ack p99, all {count} stations, loaded", "loaded.fleet_p99_ms", unit="ms",
             headline=True, better="lower")
    b.figure("cpu_per_station", "hub CPU per station, loaded (ms per s)", "loaded.hub_cpu_ms_per_station_s",
             unit="ms", headline=True, better="lower")
    b.compare("hub_cpu", "hub CPU of a core, loaded vs silent fleet", "loaded.hub_core_percent",
              "alone.hub_core_percent", unit="%")
    b.figure("broker_cpu", "broker CPU of a core, loaded", "loaded.broker_core_percent", unit="%", better="lower")
    b.figure("rss_per_station", "hub memory per connected station", "loaded.hub_rss_kib_per_station", unit="KiB",
             headline=True, better="lower")
    b.figure("republish", f"config republish to all {count} stations", "republish.all_stations_s", unit="s",
             headline=True, better="lower")
    b.noise_from("alone.probe_p50_ms")
    try:
        wait_for_hub(protocol, broker.port, "st-100-1")
        state["rss0"] = tree_rss_kib(hub.pid)
        t0 = time.monotonic()
        probe = Fleet(broker.url, [("probe-100-1", "100")], processes=1, rate=args.probe_rate,
                      burst_every_s=0).start()
        fleet = Fleet(broker.url, station_ids(count, SITES), processes=args.processes, rate=args.rate,
                      burst_every_s=0, burst_fraction=args.burst_fraction, burst_size=args.burst_size).start()
        fleet.traffic(False), probe.traffic(False)
        fleet.wait(lambda s: s["connected"] == count and sum(s["versions"].values()) == count, 600,
                   "every station connected and configured")
        probe.wait(lambda s: sum(s["versions"].values()) == 1, 60, "the probe configured")
        b.note(f"{count} stations connected and configured in {time.monotonic() - t0:.1f} s "
               f"({args.processes} simulator processes)")
        b.run()
    finally:
        for f in (fleet, probe):
            if f is not None:
                f.stop()
        hub.terminate()
        hub.wait()
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
