"""A standing soak: scans stream in from several stations while a random schedule kills and
restarts stations, the hub and the broker; at the end every outbox is compared with the store.

The short version runs in `make test`; `pytest -m slow tests/test_soak.py` runs the long one
(>= 1,000 fault events, one every one to two seconds).  Every process is real: Mosquitto, `scanhub
hub run`, `scanhub edge run --stdin` per station, killed with SIGKILL.  ``SOAK_SEED`` repeats a run.
"""
from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
import yaml

from conftest import RULES, sample_store, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = os.path.join(ROOT, "cli.py")
# station, site, operator, scan kind (each station scans its own block of waybill numbers)
STATIONS = [("st-100-1", "100", "1002", "RECEIVE"), ("st-900-1", "900", "9001", "ARRIVE"),
            ("st-200-1", "200", "2002", "ARRIVE")]


class Station:
    """One `scanhub edge run --stdin` process, fed barcodes by a thread, restartable."""

    def __init__(self, work, broker_url, sid, site, operator, kind, block):
        self.sid, self.kind, self.operator = sid, kind, operator
        self.cfg = os.path.join(work, f"{sid}.yaml")
        self.outbox = os.path.join(work, f"{sid}.db")
        with open(self.cfg, "w") as f:
            # its operator is listed: the station scans from its first second, before the hub configures it
            yaml.safe_dump({"station": sid, "site": site, "broker": broker_url, "outbox": self.outbox,
                            "batch_size": 50, "staff": [operator]}, f)
        self.next = block * 10_000_000
        self.proc = None
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.feeder = threading.Thread(target=self._feed, daemon=True)

    def start(self):
        with self.lock:
            self.proc = subprocess.Popen([sys.executable, CLI, "edge", "run", "--config", self.cfg, "--stdin"],
                                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                         text=True, bufsize=1, cwd=ROOT)
            self.proc.stdin.write(f"%K{self.kind}\n%P{self.operator}\n")
            self.proc.stdin.flush()
        if not self.feeder.is_alive():
            self.feeder.start()

    def kill(self):
        with self.lock:
            if self.proc is not None:
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait()
                self.proc = None

    def _feed(self):
        while not self.stop.is_set():
            with self.lock:
                p = self.proc
                if p is not None:
                    try:
                        p.stdin.write(RULES.make("std14", "7%012d" % self.next) + "\n")
                        p.stdin.flush()
                        self.next += 1
                    except (BrokenPipeError, OSError, ValueError):
                        pass
            self.stop.wait(0.02)

    def end(self):
        self.stop.set()
        self.feeder.join(5)
        with self.lock:
            if self.proc is not None:
                self.proc.terminate()
                self.proc.wait(30)
                self.proc = None


def outbox_ids(path: str) -> tuple[set[str], int]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        ids = {r[0] for r in db.execute("SELECT id FROM scans")}
        pending = db.execute("SELECT COUNT(*) FROM scans WHERE state = 0").fetchone()[0]
    finally:
        db.close()
    return ids, pending


def run_soak(tmp_path, events: int, every_s: tuple[float, float], seed: int) -> dict:
    from hub.network.broker import ManagedBroker
    from hub.store.db import database
    rng = random.Random(seed)
    hub_db = sample_store(str(tmp_path / "hub.db"))
    database.close()
    broker = ManagedBroker().start()

    def start_hub():
        return subprocess.Popen([sys.executable, CLI, "hub", "run", "--db", hub_db, "--broker", broker.url],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)

    hub = start_hub()
    stations = [Station(str(tmp_path), broker.url, *s, block=i + 1) for i, s in enumerate(STATIONS)]
    counts = {"station": 0, "hub": 0, "broker": 0}
    try:
        for s in stations:
            s.start()
        for _ in range(events):
            time.sleep(rng.uniform(*every_s))          # the schedule itself, not a wait for a result
            what = rng.choices(["station", "hub", "broker"], weights=[6, 3, 1])[0]
            counts[what] += 1
            if what == "station":
                s = rng.choice(stations)
                s.kill()
                s.start()
            elif what == "hub":
                hub.send_signal(signal.SIGKILL)
                hub.wait()
                hub = start_hub()
            else:
                broker.restart()
        for s in stations:
            s.stop.set()                               # no more scans; let everything drain
        for s in stations:
            s.feeder.join(5)

        def drained():
            return all(outbox_ids(s.outbox)[1] == 0 for s in stations if os.path.exists(s.outbox))
        wait_for(drained, timeout=120, interval=0.5, what="every station's outbox acknowledged")
    finally:
        for s in stations:
            s.end()
        hub.terminate()
        hub.wait(30)
        broker.stop()
    db = sqlite3.connect(hub_db)
    try:
        store = [r[0] for r in db.execute("SELECT id FROM scanevent")]
    finally:
        db.close()
    sent = set()
    for s in stations:
        sent |= outbox_ids(s.outbox)[0]
    return {"events": counts, "scans": len(sent), "lost": len(sent - set(store)),
            "duplicated": len(store) - len(set(store)), "unknown": len(set(store) - sent)}


def test_soak_short(tmp_path):
    seed = int(os.environ.get("SOAK_SEED", random.randrange(1 << 30)))
    r = run_soak(tmp_path, events=8, every_s=(0.5, 1.0), seed=seed)
    assert r["scans"] > 100, r
    assert (r["lost"], r["duplicated"], r["unknown"]) == (0, 0, 0), (seed, r)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_soak_long(tmp_path):
    seed = int(os.environ.get("SOAK_SEED", random.randrange(1 << 30)))
    r = run_soak(tmp_path, events=int(os.environ.get("SOAK_EVENTS", 1000)), every_s=(1.0, 2.0), seed=seed)
    print(f"soak seed {seed}: {r}")
    assert (r["lost"], r["duplicated"], r["unknown"]) == (0, 0, 0), (seed, r)
