"""A light station simulator: many stations, each a real MQTT client speaking the real protocol.

    python -m sim.stations --broker mqtt://127.0.0.1:1883 --count 1000
    python -m sim.stations --broker mqtt://127.0.0.1:1883 --count 200 --rate 0.5 --duration 60 --json

Not a thousand edge processes: each station is one paho client (``contract.broker.make_client``)
with its own connection, last will, subscriptions and client id, but no outbox file, devices or
console.  A few worker processes (``--processes``) each drive their share of the stations from one
selector loop (paho's external-loop callbacks), so a station costs one socket, not a thread;
each worker raises its soft open-files limit to the hard one and refuses to start when its share
would not fit under it (a default soft limit of 1,024 allows about a thousand stations per
process).

Every station does what the edge does on the wire (docs/protocol.md): announces itself with a
retained status and then reports it every ``STATUS_EVERY_S``; waits for its configuration,
checks its hash and site (``contract.config.verify_config``) and reports the version it runs;
sends batches of scans (``contract.protocol`` topics and encoding, scans valid under
``contract.scan``) with at most ``window`` batches unacknowledged; removes scans only when an
acknowledgement for a batch it is waiting for names them, and sends a batch again when no
acknowledgement comes within ``ack_timeout_s`` or five times its moving average ack time,
whichever is longer (as ``edge.uplink`` does).  Traffic is steady (``rate`` scans per second
per station, Poisson) with bursts: every ``burst_every_s`` a random ``burst_fraction`` of the
stations captures ``burst_size`` scans at once, as when couriers put their wireless guns back
in the cradles.

``Fleet`` runs them for a caller (``bench/stations.py``, tests): ``start()``, ``wait(pred)`` on
the workers' merged snapshots, ``traffic(on)``, ``stop()`` for the totals and every
acknowledgement latency.
"""
from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import queue
import random
import resource
import selectors
import statistics
import sys
import time
import uuid
import zlib

import paho.mqtt.client as mqtt

from contract import protocol as P
from contract.broker import make_client
from contract.config import verify_config
from contract.version import SOFTWARE_VERSION
from contract.waybill import WaybillRules

RULES = WaybillRules([{"name": "std14", "pattern": "^7[0-9]{13}$", "check": "mod10-31"}])
SNAPSHOT_EVERY_S = 0.5
FDS_PER_PROCESS = 64          # beyond the stations' sockets: Python, pipes, the selector


class SimError(Exception):
    """The simulator cannot run as asked (one line)."""


class LightStation:
    """One simulated station on one MQTT connection (see the module docstring)."""

    def __init__(self, station: str, site: str, broker_url: str, opts: dict, rng: random.Random):
        self.station, self.site, self.opts, self.rng = station, site, opts, rng
        self.epoch = uuid.uuid4().hex[:12]
        will = (P.topic(station, P.STATUS), P.encode({"online": False, "site": site}))
        self.client, self.broker = make_client(broker_url, f"scanhub-edge-{station}", will=will,
                                               username=opts.get("username"), password=opts.get("password"))
        self.client.user_data_set(self)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.connected = False
        self.seq = 0
        self.pending: dict[int, dict] = {}          # seq -> scan, until acknowledged
        self.inflight: dict[str, tuple[list[int], float]] = {}
        self.sending: set[int] = set()
        self.acked = self.rejected = self.resends = self.ignored_acks = self.sent = 0
        self.latencies_ms: list[float] = []
        self.reported = 0                            # latencies already sent in a snapshot
        self.ack_avg_ms: float | None = None         # moving average, paces resends (as edge.uplink)
        self.config_version: str | None = None
        self.config_seen: dict[str, float] = {}      # version -> wall time it first arrived
        self.last_ack_ms: int | None = None
        self.next_status = 0.0
        self.next_scan = time.monotonic() + rng.expovariate(opts["rate"]) if opts["rate"] > 0 else float("inf")
        self.retry_at = 0.0

    # -- MQTT callbacks (called from the worker's loop)
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            return
        client.subscribe([(P.topic(self.station, P.ACK), 1), (P.topic(self.station, P.CONFIG), 1),
                          (P.topic(self.station, P.FORECAST), 1)])
        self.connected = True
        self.inflight.clear()
        self.sending.clear()
        self.next_status = 0.0

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.connected = False
        self.retry_at = time.monotonic() + self.rng.uniform(0.1, 2.0)

    def _on_message(self, client, userdata, msg):
        what = (P.parse_topic(msg.topic) or ("", ""))[1]
        try:
            body = json.loads(msg.payload)
        except ValueError:
            return
        if not isinstance(body, dict):
            return
        if what == P.ACK:
            self._ack(body)
        elif what == P.CONFIG and verify_config(body) and body.get("site") == self.site:
            version = body.get("version")
            if version != self.config_version:
                self.config_version = version
                self.config_seen.setdefault(version, time.time())
                self.next_status = 0.0          # the edge reports at its next tick; so do we

    def _ack(self, ack: dict) -> None:
        entry = self.inflight.pop(str(ack.get("batch")), None)
        if entry is None:
            self.ignored_acks += 1
            return
        seqs, sent = entry
        took = (time.monotonic() - sent) * 1000
        self.latencies_ms.append(took)
        self.ack_avg_ms = took if self.ack_avg_ms is None else 0.8 * self.ack_avg_ms + 0.2 * took
        self.sending.difference_update(seqs)
        try:
            ranges = [(int(lo), int(hi)) for lo, hi in ack.get("committed", [])]
            rejected = {r.get("seq") for r in ack.get("rejected", []) if isinstance(r, dict)}
        except (TypeError, ValueError):
            self.ignored_acks += 1              # malformed: settles nothing, the batch goes out again
            return
        for s in seqs:
            if any(lo <= s <= hi for lo, hi in ranges):
                self.acked += 1
            elif s in rejected:
                self.rejected += 1
            else:
                continue                        # not settled: it goes out again
            self.pending.pop(s, None)
        self.last_ack_ms = int(time.time() * 1000)

    # -- what the worker's loop asks of a station
    def capture(self, n: int) -> None:
        now = int(time.time() * 1000)
        for _ in range(n):
            self.seq += 1
            waybill = RULES.make("std14", "7%06d%06d" % (zlib.crc32(self.station.encode()) % 1_000_000, self.seq % 1_000_000))
            self.pending[self.seq] = {"id": uuid.uuid4().hex, "station": self.station, "epoch": self.epoch,
                                      "seq": self.seq, "kind": "receive", "waybill": waybill, "site": self.site,
                                      "operator": "sim", "device": "sim", "edge_ms": now, "event_ms": now,
                                      "clock": "trusted"}

    def tick(self, now: float) -> None:
        if not self.connected:
            return
        if now >= self.next_status:
            self.report_status()
            self.next_status = now + self.opts["status_every_s"] * self.rng.uniform(0.9, 1.1)
        if self.config_version is None:
            return                              # like the edge: nothing is sent before a configuration
        # as the edge: a busy hub answers slowly but surely, so wait several of its usual ack times
        limit = max(self.opts["ack_timeout_s"], 5 * (self.ack_avg_ms or 0) / 1000)
        for batch, (seqs, sent) in list(self.inflight.items()):
            if now - sent > limit:
                del self.inflight[batch]
                self.sending.difference_update(seqs)
                self.resends += 1
        while len(self.inflight) < self.opts["window"]:
            seqs = [s for s in self.pending if s not in self.sending][: self.opts["batch_size"]]
            if not seqs:
                break
            batch = f"{self.epoch}-{seqs[0]}-{len(seqs)}-{int(now * 1000)}"
            payload = P.encode({"batch": batch, "station": self.station, "sent_ms": int(time.time() * 1000),
                                "scans": [self.pending[s] for s in seqs], "deletions": []})
            self.inflight[batch] = (seqs, now)
            self.sending.update(seqs)
            self.client.publish(P.topic(self.station, P.SCANS), payload, qos=1)
            self.sent += len(seqs)

    def report_status(self, online: bool = True) -> None:
        self.client.publish(P.topic(self.station, P.STATUS), P.encode({
            "online": online, "running": online, "site": self.site, "outbox_depth": len(self.pending),
            "config_version": self.config_version, "clock_offset_ms": 0, "rtt_ms": 0,
            "last_ack_ms": self.last_ack_ms, "ts": int(time.time() * 1000), "software_version": SOFTWARE_VERSION,
            "epoch": self.epoch, "max_seq": self.seq}), qos=1, retain=True)


def raise_open_files(need: int) -> int:
    """Raise the soft open-files limit to the hard one; ``SimError`` when ``need`` does not fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    if soft != resource.RLIM_INFINITY and need > soft:
        raise SimError(f"{need} open files needed in one process, the limit is {soft}: use more --processes "
                       f"or raise the limit (ulimit -n)")
    return soft


def _worker(index: int, broker_url: str, stations: list[tuple[str, str]], opts: dict,
            out: mp.Queue, stop: mp.Event, traffic: mp.Event, burst_now: mp.Event) -> None:
    try:
        raise_open_files(len(stations) + FDS_PER_PROCESS)
    except SimError as e:
        out.put({"worker": index, "error": str(e)})
        return
    rng = random.Random(opts["seed"] * 1000 + index)
    sel = selectors.DefaultSelector()

    def opened(client, userdata, sock):
        sel.register(sock, selectors.EVENT_READ, client)

    def closed(client, userdata, sock):
        try:
            sel.unregister(sock)
        except (KeyError, ValueError):
            pass

    def want_write(client, userdata, sock):
        sel.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, client)

    def done_write(client, userdata, sock):
        try:
            sel.modify(sock, selectors.EVENT_READ, client)
        except (KeyError, ValueError):
            pass

    fleet = []
    for sid, site in stations:
        st = LightStation(sid, site, broker_url, opts, rng)
        c = st.client
        c.on_socket_open, c.on_socket_close = opened, closed
        c.on_socket_register_write, c.on_socket_unregister_write = want_write, done_write
        fleet.append(st)
    for st in fleet:                             # connect in a stream, not all at once
        try:
            st.client.connect(st.broker.host, st.broker.port, keepalive=60)
        except OSError:
            st.retry_at = time.monotonic() + rng.uniform(0.5, 2.0)
        for key, mask in sel.select(timeout=0):
            _service(key, mask)
    next_misc = next_snapshot = 0.0
    next_burst = time.monotonic() + opts["burst_every_s"] if opts["burst_every_s"] > 0 else float("inf")
    while not stop.is_set():
        for key, mask in sel.select(timeout=0.02):
            _service(key, mask)
        now = time.monotonic()
        on = traffic.is_set()
        if on and (now >= next_burst or burst_now.is_set()):
            for st in fleet:
                if rng.random() < opts["burst_fraction"]:
                    st.capture(opts["burst_size"])
            next_burst = now + opts["burst_every_s"] if opts["burst_every_s"] > 0 else float("inf")
            burst_now.clear()
        for st in fleet:
            if on and now >= st.next_scan:
                st.capture(1)
                st.next_scan = now + rng.expovariate(opts["rate"])
            elif not on and opts["rate"] > 0:
                st.next_scan = max(st.next_scan, now)
            if not st.connected and now >= st.retry_at and st.client.socket() is None:
                try:
                    st.client.reconnect()
                except OSError:
                    st.retry_at = now + rng.uniform(0.5, 2.0)
            st.tick(now)
        if now >= next_misc:
            for st in fleet:
                st.client.loop_misc()
            next_misc = now + 1.0
        if now >= next_snapshot:
            out.put(_snapshot(index, fleet, final=False))
            next_snapshot = now + SNAPSHOT_EVERY_S
    for st in fleet:                             # a clean stop, as the edge's: offline, retained
        if st.connected:
            st.report_status(online=False)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and any(st.client.want_write() for st in fleet if st.connected):
        for key, mask in sel.select(timeout=0.05):
            _service(key, mask)
    for st in fleet:
        st.client.disconnect()
        for key, mask in sel.select(timeout=0):
            _service(key, mask)
    out.put(_snapshot(index, fleet, final=True))


def _service(key, mask) -> None:
    client = key.data
    if mask & selectors.EVENT_READ:
        client.loop_read()
    if mask & selectors.EVENT_WRITE:
        client.loop_write()


def _snapshot(index: int, fleet: list[LightStation], final: bool) -> dict:
    versions: dict[str, int] = {}
    for st in fleet:
        if st.config_version:
            versions[st.config_version] = versions.get(st.config_version, 0) + 1
    seen: dict[str, list[float]] = {}
    for st in fleet:
        for v, t in st.config_seen.items():
            seen.setdefault(v, []).append(t)
    snap = {"worker": index, "final": final, "stations": len(fleet),
            "connected": sum(st.connected for st in fleet), "versions": versions,
            "config_seen": {v: [min(ts), max(ts), len(ts)] for v, ts in seen.items()},
            "captured": sum(st.seq for st in fleet), "sent": sum(st.sent for st in fleet),
            "acked": sum(st.acked for st in fleet), "rejected": sum(st.rejected for st in fleet),
            "pending": sum(len(st.pending) for st in fleet), "resends": sum(st.resends for st in fleet),
            "ignored_acks": sum(st.ignored_acks for st in fleet), "acks": sum(len(st.latencies_ms) for st in fleet)}
    fresh = []
    for st in fleet:                             # latencies since the last snapshot, streamed
        fresh += st.latencies_ms[st.reported:]
        st.reported = len(st.latencies_ms)
    snap["new_latencies_ms"] = fresh
    if final:
        snap["latencies_ms"] = [x for st in fleet for x in st.latencies_ms]
        snap["per_station"] = {st.station: {"captured": st.seq, "acked": st.acked, "pending": len(st.pending),
                                            "config_version": st.config_version} for st in fleet}
    return snap


DEFAULTS = {"rate": 0.2, "burst_every_s": 30.0, "burst_fraction": 0.05, "burst_size": 250, "batch_size": 500,
            "window": 4, "ack_timeout_s": 10.0, "status_every_s": P.STATUS_EVERY_S, "seed": 1,
            "username": None, "password": None}


def station_ids(count: int, sites: list[str], prefix: str = "sim") -> list[tuple[str, str]]:
    """``count`` station ids spread over ``sites`` round robin: ``sim-<site>-0001`` …"""
    return [(f"{prefix}-{sites[i % len(sites)]}-{i + 1:04d}", sites[i % len(sites)]) for i in range(count)]


class Fleet:
    """Stations in worker processes: ``Fleet(broker_url, station_ids(...), processes=4).start()``."""

    def __init__(self, broker_url: str, stations: list[tuple[str, str]], processes: int = 4, **opts):
        unknown = set(opts) - set(DEFAULTS)
        if unknown:
            raise SimError(f"unknown options: {', '.join(sorted(unknown))}")
        if not stations:
            raise SimError("no stations to simulate")
        self.opts = dict(DEFAULTS, **opts)
        if self.opts["rate"] < 0 or self.opts["window"] < 1 or self.opts["batch_size"] < 1:
            raise SimError("rate must be >= 0, window and batch size >= 1")
        self.broker_url, self.stations = broker_url, stations
        processes = max(1, min(processes, len(stations)))
        ctx = mp.get_context("spawn")
        self.out = ctx.Queue()
        self.stop_evt, self.traffic_evt, self.burst_evt = ctx.Event(), ctx.Event(), ctx.Event()
        self.traffic_evt.set()
        shares = [stations[i::processes] for i in range(processes)]
        self.procs = [ctx.Process(target=_worker, args=(i, broker_url, share, self.opts, self.out, self.stop_evt,
                                                        self.traffic_evt, self.burst_evt),
                                  name=f"sim-stations-{i}", daemon=True) for i, share in enumerate(shares)]
        self.latest: dict[int, dict] = {}
        self.final: dict[int, dict] = {}
        self.latency_log: list[float] = []           # every ack latency (ms) as the snapshots bring them

    def start(self) -> "Fleet":
        for p in self.procs:
            p.start()
        return self

    def traffic(self, on: bool) -> None:
        """Pause (``False``) or resume the stations' scans; connections and status reports go on."""
        (self.traffic_evt.set if on else self.traffic_evt.clear)()

    def burst(self) -> None:
        """A burst now (``burst_fraction`` of the stations capture ``burst_size`` scans each)."""
        self.burst_evt.set()

    def _drain(self, timeout: float = 0.0) -> None:
        try:
            snap = self.out.get(timeout=timeout) if timeout else self.out.get_nowait()
            while True:
                if "error" in snap:
                    raise SimError(f"worker {snap['worker']}: {snap['error']}")
                (self.final if snap.get("final") else self.latest)[snap["worker"]] = snap
                self.latency_log += snap["new_latencies_ms"]
                snap = self.out.get_nowait()
        except queue.Empty:
            pass

    def snapshot(self) -> dict:
        """The workers' latest figures merged: ``stations``, ``connected``, ``versions`` (version ->
        stations running it), ``config_seen`` (version -> [first, last] wall time and how many),
        ``captured``, ``sent``, ``acked``, ``rejected``, ``pending``, ``resends``, ``acks``."""
        self._drain()
        snaps = list(self.latest.values())
        out = {k: sum(s[k] for s in snaps) for k in ("stations", "connected", "captured", "sent", "acked",
                                                      "rejected", "pending", "resends", "ignored_acks", "acks")}
        out["workers"] = len(snaps)
        out["versions"], out["config_seen"] = {}, {}
        for s in snaps:
            for v, n in s["versions"].items():
                out["versions"][v] = out["versions"].get(v, 0) + n
            for v, (lo, hi, n) in s["config_seen"].items():
                if v in out["config_seen"]:
                    a, b, m = out["config_seen"][v]
                    out["config_seen"][v] = [min(a, lo), max(b, hi), m + n]
                else:
                    out["config_seen"][v] = [lo, hi, n]
        return out

    def wait(self, pred, timeout: float, what: str = "the stations") -> dict:
        """Wait until ``pred(snapshot)`` holds (``SimError`` after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            for p in self.procs:
                if p.exitcode not in (None, 0):
                    raise SimError(f"{p.name} died (exit code {p.exitcode})")
            self._drain(0.1)
            snap = self.snapshot()
            if snap["workers"] == len(self.procs) and pred(snap):
                return snap
            if time.monotonic() > deadline:
                raise SimError(f"timed out after {timeout:.0f} s waiting for {what}; last: "
                               + json.dumps({k: v for k, v in snap.items() if k != 'config_seen'}))

    def stop(self, timeout: float = 30.0) -> dict:
        """Stop every station cleanly; the totals with every acknowledgement latency (``latencies_ms``)
        and each station's figures (``per_station``)."""
        self.stop_evt.set()
        deadline = time.monotonic() + timeout
        while len(self.final) < len(self.procs) and time.monotonic() < deadline:
            if all(p.exitcode is not None for p in self.procs) and self.out.empty():
                break
            self._drain(0.2)
        for p in self.procs:
            p.join(max(0.1, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
        finals = list(self.final.values())
        total = {k: sum(s[k] for s in finals) for k in ("stations", "captured", "sent", "acked", "rejected",
                                                         "pending", "resends", "ignored_acks")}
        total["latencies_ms"] = sorted(x for s in finals for x in s["latencies_ms"])
        total["per_station"] = {k: v for s in finals for k, v in s["per_station"].items()}
        total["complete"] = len(finals) == len(self.procs)
        return total


def percentile(sorted_values: list[float], q: float) -> float | None:
    """The ``q`` quantile (0-1) of already sorted values, nearest rank."""
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m sim.stations", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Many light simulated stations against a hub's broker (docs/performance.md).",
        epilog="Example:\n  python -m sim.stations --broker mqtt://127.0.0.1:18830 --count 1000 --duration 60\n"
               "The stations announce themselves at sites the hub knows (--sites); the hub keeps them.")
    ap.add_argument("--broker", required=True, help="mqtt[s]://[user:pass@]host:port of the hub's broker")
    ap.add_argument("--count", type=int, default=100, help="stations (default 100)")
    ap.add_argument("--processes", type=int, default=4, help="worker processes (default 4)")
    ap.add_argument("--sites", default="100,101,200,201", help="sites the stations belong to, comma-separated")
    ap.add_argument("--rate", type=float, default=DEFAULTS["rate"], help="scans per second per station (default 0.2)")
    ap.add_argument("--burst-every", type=float, default=DEFAULTS["burst_every_s"],
                    help="seconds between bursts, 0 for none (default 30)")
    ap.add_argument("--burst-fraction", type=float, default=DEFAULTS["burst_fraction"],
                    help="share of the stations in a burst (default 0.05)")
    ap.add_argument("--burst-size", type=int, default=DEFAULTS["burst_size"], help="scans per station in a burst")
    ap.add_argument("--duration", type=float, default=30.0, help="seconds of traffic (default 30)")
    ap.add_argument("--json", action="store_true", help="one JSON object with the totals on stdout")
    args = ap.parse_args(argv)
    try:
        if args.count < 1 or args.processes < 1:
            raise SimError("--count and --processes must be at least 1")
        sites = [s.strip() for s in args.sites.split(",") if s.strip()]
        fleet = Fleet(args.broker, station_ids(args.count, sites), args.processes, rate=args.rate,
                      burst_every_s=args.burst_every, burst_fraction=args.burst_fraction,
                      burst_size=args.burst_size).start()
        t0 = time.monotonic()
        fleet.wait(lambda s: s["connected"] == args.count, 120, "every station to connect")
        print(f"{args.count} stations connected in {time.monotonic() - t0:.1f} s", file=sys.stderr)
        end = time.monotonic() + args.duration
        while time.monotonic() < end:
            time.sleep(min(5.0, max(0.0, end - time.monotonic())))
            s = fleet.snapshot()
            print(f"  {s['connected']}/{s['stations']} connected, {sum(s['versions'].values())} configured, "
                  f"{s['acked']}/{s['captured']} scans acknowledged, {s['resends']} resends", file=sys.stderr)
        fleet.traffic(False)
        try:
            fleet.wait(lambda s: s["pending"] == 0, 60, "the last acknowledgements")
        except SimError as e:
            print(f"warning: {e}", file=sys.stderr)
        total = fleet.stop()
    except SimError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    lat = total.pop("latencies_ms")
    total.pop("per_station")
    total.update(ack_p50_ms=percentile(lat, 0.5), ack_p99_ms=percentile(lat, 0.99), acks=len(lat))
    if args.json:
        print(json.dumps(total))
    else:
        print(f"{total['stations']} stations: {total['acked']}/{total['captured']} scans acknowledged, "
              f"{total['rejected']} rejected, {total['resends']} resends; ack p50 "
              f"{total['ack_p50_ms'] or 0:.1f} ms, p99 {total['ack_p99_ms'] or 0:.1f} ms")
    return 0 if total["pending"] == 0 and total["rejected"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
