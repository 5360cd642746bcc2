"""The agent's screen pop: from the ring to the customer's parcels on the agent's desk.

A PBX (in this process) with one queue and one agent, whose seat is a SIPp that rings 400 ms
and answers; a ``scanhub web run`` on the same store; the agent logged in over HTTP and
following the desk's live feed (``/agent/events``, server-sent events), as the browser does.
SIPp callers from customers' numbers call the queue one after another.  For each call:

* **subject**: the time from the PBX ringing the agent's seat (the call's ``queue-ring`` event)
  to the arrival of the desk's ``pop`` event for that call (the caller's customer, parcels,
  calls, SMS and work orders, rendered), through the store, the web process and its feed;
* **baseline**: rendering the same pop in this process (``desk.pop_data`` and the template),
  the work the feed does for a pop, with no store round trip, no polling, no HTTP.

The goal (docs/web.md) is a pop within 1 s of the ring at the 99th percentile.  The ratio says
how much the path adds over the pop's own work.

    python bench/web.py                 # 50 calls per round, 3 rounds
    python bench/web.py --quick         # 10 calls, 2 rounds
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import harness

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIPP_DIR = os.path.join(ROOT, "tests", "data", "sipp")
SCANHUB = os.path.join(os.path.dirname(sys.executable), "scanhub")
sys.path.insert(0, ROOT)
CUSTOMERS = 200
POP = re.compile(r"· call ([0-9A-Za-z_.@-]+)</h2>")


def free_port(kind=socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values, q):
    xs = sorted(values)
    return xs[min(len(xs) - 1, max(0, round(q / 100 * (len(xs) - 1))))]


def store(work: str) -> str:
    """A store with the sample network, an agent user and CRM customers with parcels."""
    from contract.clock import now_ms
    from hub.access import users
    from hub.business.tables import PlatformOrder
    from hub.crm import customers as cu
    from hub.network.basic_data import import_network
    from hub.network.file import load_network
    from hub.schema import connect
    db = os.path.join(work, "hub.db")
    connect(db, create=True)
    import_network(load_network(os.path.join(ROOT, "sim", "networks", "sample.yaml")))
    users.add("agent", "agent", "bench-password-0123", display_name="bench agent", actor="bench")
    t = now_ms()
    for i in range(CUSTOMERS):
        phone = f"1390000{i:04d}"
        cu.add({"name": f"客户 {i}", "category": "sender"}, actor="bench", phones=[phone])
        for k in range(3):
            PlatformOrder.create(order_no=f"TB{i:04d}{k}", platform="taobao", sender=f"客户 {i}", phone=phone,
                                 accept="accepted", waybill=f"7{i:07d}{k:05d}", imported_ms=t)
    return db


class Feed(threading.Thread):
    """The agent's desk feed: the arrival time of each call's pop."""

    def __init__(self, client, url: str):
        super().__init__(daemon=True)
        self.client, self.url, self.pops, self.stop = client, url, {}, False

    def run(self) -> None:
        with self.client.stream("GET", self.url + "/agent/events", timeout=None) as r:
            event = None
            for line in r.iter_lines():
                if self.stop:
                    return
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event == "pop":
                    m = POP.search(line)
                    if m and m.group(1) not in self.pops:
                        self.pops[m.group(1)] = time.time()


def main() -> None:
    ap = harness.parser(__doc__, rounds=3, quick_rounds=2)
    ap.add_argument("--calls", type=int, default=None, help="calls per round (default 50; 10 quick)")
    args = harness.parse(ap)
    if shutil.which("sipp") is None:
        raise SystemExit("bench/web.py needs SIPp: apt-get install sip-tester")
    import httpx2 as httpx
    from hub.acd.config import parse_queues
    from hub.callflow.apps import install
    from hub.telephony.config import check_pbx
    from hub.telephony.service import Pbx
    from hub.web import desk
    from hub.web.views import fragment
    calls = args.calls or (10 if args.quick else 50)
    work = tempfile.mkdtemp(prefix="bench-web-")
    db = store(work)
    trunk, sip = free_port(), free_port()
    cfg = check_pbx({"sip": {"listen": f"127.0.0.1:{sip}", "media_ports": "36000-36999"},
                     "trunks": [{"name": "carrier", "kind": "sip", "host": "127.0.0.1", "port": trunk}],
                     "seats": [{"extension": "8001", "password": "bench-8001"}],
                     "dialplan": [{"number": "95311", "to": "queue service"}]}, "bench")
    cfg.recording_dir = os.path.join(work, "recordings")
    pbx = Pbx(cfg, worker="bench").start()
    rings: dict[str, float] = {}
    pbx.switch.listeners.append(lambda call, ev: ev.kind == "queue-ring" and rings.setdefault(call.id, time.time()))
    seat_port = free_port()
    if subprocess.call(["sipp", "-sf", os.path.join(SIPP_DIR, "register.xml"), "-i", "127.0.0.1", "-nostdin",
                        "-p", str(seat_port), "-s", "8001", "-au", "8001", "-ap", "bench-8001", "-m", "1",
                        f"127.0.0.1:{sip}"], cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=60) != 0:
        raise SystemExit("the bench seat could not register")
    install(pbx, {}, parse_queues({"agents": [{"id": "agent"}],
                                   "queues": [{"name": "service", "ring_timeout_s": 15, "retry_s": 0,
                                               "members": [{"agent": "agent"}]}]}))
    port = free_port(socket.SOCK_STREAM)
    web = subprocess.Popen([SCANHUB, "web", "run", "--db", db, "--listen", f"127.0.0.1:{port}",
                            "--insecure-cookies"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    seat_xml = os.path.join(work, "seat.xml")
    with open(seat_xml, "w") as f:
        f.write(open(os.path.join(SIPP_DIR, "seat.xml")).read().replace('<pause milliseconds="200"/>',
                                                                     '<pause milliseconds="400"/>'))
    caller_xml = os.path.join(work, "caller.xml")
    with open(caller_xml, "w") as f:
        f.write(open(os.path.join(SIPP_DIR, "caller.xml")).read().replace("13912345678", "1390000[call_number]"))
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/login", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or web.poll() is not None:
                raise SystemExit("scanhub web run did not answer")
            time.sleep(0.1)
        client = httpx.Client(base_url=url, follow_redirects=False)
        token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
        client.post("/login", data={"username": "agent", "password": "bench-password-0123", "csrf": token, "next": ""})
        token = re.search(r'name="csrf" value="([^"]+)"', client.get("/agent").text).group(1)
        client.post("/agent/state", data={"command": "login", "seat": "8001", "csrf": token})
        feed = Feed(client, url)
        feed.start()
        b = harness.Bench("web", args, params={"calls": calls, "customers": CUSTOMERS})

        def subject(r):
            rings.clear()
            feed.pops.clear()
            seat = subprocess.Popen(["sipp", "-sf", seat_xml, "-i", "127.0.0.1", "-nostdin", "-p", str(seat_port),
                                     "-m", str(calls), "-mp", "37000", f"127.0.0.1:{sip}"], cwd=work,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.3)          # SIPp binds its port (a UAS scenario waits for the first INVITE)
            rc = subprocess.call(["sipp", "-sf", caller_xml, "-i", "127.0.0.1", "-nostdin", "-p", str(trunk),
                                  "-s", "95311", "-d", "800", "-m", str(calls), "-l", "1", "-r", "2",
                                  "-mp", "38000", f"127.0.0.1:{sip}"], cwd=work, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, timeout=60 + 5 * calls)
            seat.wait(60)
            if rc != 0:
                raise SystemExit(f"SIPp callers failed (exit {rc}); see {work}")
            end = time.monotonic() + 5
            while set(rings) - set(feed.pops) and time.monotonic() < end:
                time.sleep(0.05)
            lat = [(feed.pops[c] - t) * 1000 for c, t in rings.items() if c in feed.pops]
            missing = len(rings) - len(lat)
            return {"p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "max_ms": max(lat), "calls": len(lat),
                    "missing": missing}

        def baseline(r):
            from hub.schema import connect
            connect(db)
            ms = []
            for i in range(calls):
                t0 = time.perf_counter()
                fragment("_pop.html", pop=desk.pop_data(f"1390000{i % CUSTOMERS:04d}",
                                                        {"call": "x", "queue": "service"}), root="", csrf="x")
                ms.append((time.perf_counter() - t0) * 1000)
            return {"p50_ms": pct(ms, 50), "p99_ms": pct(ms, 99)}

        b.part("render", baseline)
        b.part("pop", subject)
        b.compare("pop_p50", "ring -> pop on the desk, p50, over rendering the pop", "pop.p50_ms", "render.p50_ms",
                  unit="ms")
        b.figure("pop_p99", "ring -> pop on the desk, p99", "pop.p99_ms", unit="ms", goal=("<=", 1000),
                 headline=True)
        b.figure("missing", "calls rung without a pop", "pop.missing", goal=("<=", 0))
        b.noise_from("render.p50_ms")
        b.run()
        feed.stop = True
    finally:
        web.terminate()
        web.wait(10)
        pbx.stop()


if __name__ == "__main__":
    main()
