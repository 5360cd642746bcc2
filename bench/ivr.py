"""Benchmark: the IVR engine's share of the time from a key to the next prompt.

    python bench/ivr.py                 # 2,000 menu keys and 300 tracked parcels per round
    python bench/ivr.py --quick         # 300 keys, 50 parcels, 3 rounds
    options: [--rounds 5] [--json]

The telephony service's budget is a DTMF digit to the start of the next prompt, p99 <= 100 ms;
the engine's step is part of it.  In interleaved rounds (bench/harness.py): the baseline,
``hub.business.tracking.track`` of a parcel called directly; ``track_key``, the ``#`` that ends
a waybill entry in the sample flow, which runs the same lookup through the engine and its
self-service and returns the prompts to play; ``menu_key``, a menu key that only moves the call
(no lookup).  Figures are per key, p50 and p99 in milliseconds; the SQLite store is a temp file
holding the sample network and one receive and one dispatch scan per parcel.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid

import harness

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from contract.waybill import WaybillRules  # noqa: E402
from hub.business.tracking import track  # noqa: E402
from hub.ingest import pipeline  # noqa: E402
from hub.ivr.engine import Engine  # noqa: E402
from hub.ivr.flow import load_flow  # noqa: E402
from hub.ivr.selfservice import HubServices  # noqa: E402
from hub.network.basic_data import import_network  # noqa: E402
from hub.network.file import load_network  # noqa: E402
from hub.schema import connect  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
T0 = 1_796_176_800_000          # 2026-12-02 10:00 +08:00: the office is open


def pct(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def figures(ms):
    return {"p50_ms": pct(ms, 0.5), "p99_ms": pct(ms, 0.99)}


def main(argv=None) -> int:
    ap = harness.parser(__doc__.split("\n\n")[0], quick_help="300 keys, 50 parcels")
    ap.add_argument("--keys", type=int, default=None, help="menu keys per round (default 2,000; 300 with --quick)")
    ap.add_argument("--parcels", type=int, default=None, help="parcels tracked per round (default 300; 50 with --quick)")
    args = harness.parse(ap, argv)
    n_keys = args.keys or (300 if args.quick else 2000)
    n_parcels = args.parcels or (50 if args.quick else 300)
    b = harness.Bench("ivr", args, params={"keys": n_keys, "parcels": n_parcels})
    path = os.path.join(tempfile.mkdtemp(prefix="scanhub-bench-"), "hub.db")
    connect(path, create=True)
    import_network(load_network(os.path.join(ROOT, "sim", "networks", "sample.yaml")))
    rules = WaybillRules([{"name": "std14", "pattern": "^7[0-9]{13}$", "check": "mod10-31"}])
    wbs = [rules.make("std14", "7000%02d%07d" % (0, i + 1)) for i in range(n_parcels)]
    scans = []
    for i, w in enumerate(wbs):
        for k, (kind, extra) in enumerate((("receive", {}), ("dispatch", {"next_site": "900"}))):
            scans.append({"id": uuid.uuid4().hex, "station": "st-100-1", "epoch": "e1", "seq": 2 * i + k + 1,
                          "kind": kind, "waybill": w, "site": "100", "edge_ms": T0 + k, "event_ms": T0 + k, **extra})
    pipeline.commit(scans)
    flow = load_flow(os.path.join(ROOT, "hub", "ivr", "flows", "hotline.yaml"))
    services = HubServices(clock=lambda: T0)

    def at_waybill_entry(w):
        e = Engine(flow, services, clock=lambda: T0)
        e.start("13800000000", "95311")
        e.prompt_done()
        e.digit("2")
        e.digit("1")
        for k in w:
            e.digit(k)
        return e

    def baseline(r):
        ms = []
        for w in wbs:
            t = time.perf_counter()
            track(w)
            ms.append((time.perf_counter() - t) * 1000)
        return figures(ms)

    def track_key(r):
        ms = []
        for w in wbs:
            e = at_waybill_entry(w)
            t = time.perf_counter()
            actions = e.digit("#")
            ms.append((time.perf_counter() - t) * 1000)
            assert actions and "status/dispatch" in actions[0]["prompts"], actions
        return figures(ms)

    def menu_key(r):
        ms = []
        e = Engine(flow, services, clock=lambda: T0)
        e.start("13800000000", "95311")
        e.prompt_done()
        for i in range(n_keys):
            key = "1" if e.node == "main" else "9"      # main -> consult -> main …
            t = time.perf_counter()
            e.digit(key)
            ms.append((time.perf_counter() - t) * 1000)
        return figures(ms)

    b.part("baseline", baseline)
    b.part("track_key", track_key)
    b.part("menu_key", menu_key)
    b.compare("track_key_p99", "# ending a waybill: engine + tracking, p99", "track_key.p99_ms", "baseline.p99_ms",
              unit="ms", figure_goal=("<", 100), headline=True)
    b.compare("track_key_p50", "  the same, p50", "track_key.p50_ms", "baseline.p50_ms", unit="ms", better="lower")
    b.figure("menu_key_p99", "a menu key (no lookup), p99", "menu_key.p99_ms", unit="ms", better="lower")
    b.figure("baseline_p99", "baseline: tracking called directly, p99", "baseline.p99_ms", unit="ms", better="lower")
    b.noise_from("baseline.p50_ms")
    b.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
