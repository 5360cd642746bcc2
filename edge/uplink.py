"""Uplink: the outbox to the hub over MQTT, and the hub's configuration back.

Two lanes share the connection so fresh scans stay prompt while a backlog drains:

* the *fresh* lane sends anything captured since the last (re)connect as soon as it is stored;
* the *backlog* lane walks older pending scans in order with at most ``window`` batches awaiting
  the hub's acknowledgement (flow control: the hub's commit rate paces the drain).

A batch is removed from the outbox only by the hub's acknowledgement (docs/protocol.md); one
that is not acknowledged within ``ack_timeout_s`` is sent again (the hub ingests idempotently).
Reconnection uses paho's back-off, capped at two seconds.
"""
from __future__ import annotations

import json
import logging
import threading

from contract import protocol as P
from contract.broker import make_client
from contract.config import verify_config
from contract.version import SOFTWARE_VERSION
from edge.clock import StationClock, mono_ms, wall_ms
from edge.outbox import Outbox, OutboxError

log = logging.getLogger("scanhub.edge.uplink")
PRUNE_EVERY_MS = 3_600_000


class Uplink:
    """Sends the outbox to the hub and applies the hub's answers (see the module docstring).

    ``start()`` connects with the station's credentials and last will; scans are stamped with
    their corrected time (``edge.clock``) as they are sent, in batches of ``batch_size``; an
    acknowledgement marks exactly the sequence ranges it names as acknowledged in the outbox;
    a configuration slice is applied only when its hash verifies (``contract.config``) and it
    was made for this station's site.  Topics and payloads: docs/protocol.md.
    """

    def __init__(self, station: str, site: str, outbox: Outbox, clock: StationClock, broker_url: str, *,
                 username: str | None = None, password: str | None = None, tls: dict | None = None,
                 batch_size: int = 500, window: int = 8, fresh_window: int = 4, ack_timeout_s: float = 10.0,
                 status_every_s: float = P.STATUS_EVERY_S, probe_every_s: float = 60.0,
                 on_config=None, on_forecast=None, extra_status=None, proofs=None, on_pickup=None):
        self.station, self.site = station, site
        self.outbox, self.clock = outbox, clock
        self.batch_size, self.window, self.fresh_window = batch_size, window, fresh_window
        self.ack_timeout_ms = int(ack_timeout_s * 1000)
        self.status_every_ms, self.probe_every_ms = int(status_every_s * 1000), int(probe_every_s * 1000)
        self.on_config, self.on_forecast, self.extra_status = on_config, on_forecast, extra_status
        self.on_pickup = on_pickup        # the raw task-list message (edge.agent checks it)
        will = (P.topic(station, P.STATUS), P.encode({"online": False, "site": site}))
        self.client, self.broker = make_client(broker_url, f"scanhub-edge-{station}", username=username or station,
                                               password=password, tls=tls, will=will)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.connected = threading.Event()
        self.link_since_ms = wall_ms()     # UTC epoch ms of the last change online <-> offline
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.inflight: dict[str, dict] = {}
        self.inflight_seqs: set[int] = set()
        self.fresh_cursor = self.fresh_start = self.back_cursor = 0
        self.last_ack_ms: int | None = None
        self.ack_latency_ms: float | None = None     # moving average: paces resends to the hub's speed
        self.config_version: str | None = None
        self.stats = {"batches_sent": 0, "scans_sent": 0, "acked": 0, "rejected": 0, "resends": 0,
                      "connects": 0, "refused_configs": 0, "ignored_acks": 0,
                      "unrecorded_acks": 0}
        self.proofs = None
        if proofs is not None:            # edge.proofs: images after the scans, on their own topic
            from edge.proofs import ProofSender
            self.proofs = ProofSender(proofs, lambda body: self.client.publish(P.topic(station, P.PROOF), body, qos=1),
                                      lambda: self.outbox.pending > 0 or bool(self.inflight))
        self._thread = threading.Thread(target=self._run, name=f"uplink-{station}", daemon=True)
        self._next_status = self._next_probe = 0
        self._next_prune = 0
        self._records: list[tuple] = []     # pending waybill records for the next batch (sender thread)

    # ------------------------------------------------------------ lifecycle
    def start(self) -> "Uplink":
        self.client.connect_async(self.broker.host, self.broker.port, keepalive=10)
        self.client.loop_start()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)
        offline = self._status_payload(online=False, running=False)
        try:
            self.outbox.set_meta("status", offline.decode())
        except Exception:
            log.exception("could not record the stopped state")
        if self.connected.is_set():
            info = self.client.publish(P.topic(self.station, P.STATUS), offline, qos=1, retain=True)
            try:
                info.wait_for_publish(2)
            except (RuntimeError, ValueError):
                pass
        self.client.disconnect()
        self.client.loop_stop()

    def wake(self) -> None:
        """A scan was just stored: send it now rather than at the next poll."""
        self._wake.set()

    # ------------------------------------------------------------ MQTT callbacks
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.error("broker refused station %s: %s", self.station, reason_code)
            return
        client.subscribe([(P.topic(self.station, P.ACK), 1), (P.topic(self.station, P.CONFIG), 1),
                          (P.topic(self.station, P.FORECAST), 1), (P.topic(self.station, P.TIME_REPLY), 0),
                          (P.topic(self.station, P.PROOF_ACK), 1), (P.topic(self.station, P.PICKUP), 1)])
        if self.proofs is not None:
            self.proofs.reset()
        with self._lock:
            self.inflight.clear()
            self.inflight_seqs.clear()
            top = self.outbox.max_seq()
            self.fresh_start = self.fresh_cursor = top
            self.back_cursor = 0
        self.stats["connects"] += 1
        self.link_since_ms = wall_ms()
        self.connected.set()
        self._next_status = self._next_probe = 0
        self._wake.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        if self.connected.is_set():
            self.link_since_ms = wall_ms()
        self.connected.clear()

    def _on_message(self, client, userdata, msg):
        what = (P.parse_topic(msg.topic) or ("", ""))[1]
        if what == P.PICKUP:
            if self.on_pickup is not None:
                try:
                    self.on_pickup(msg.payload)
                except Exception:           # a bad downlink never stops the station
                    log.exception("handling a pickup task list failed")
            return
        if what == P.PROOF_ACK:
            if self.proofs is not None and self.proofs.on_ack(msg.payload):
                self._wake.set()
            return
        try:
            body = json.loads(msg.payload) if msg.payload else None
        except ValueError:
            log.warning("ignoring malformed %s message", what)
            return
        if not isinstance(body, dict):
            return
        if what == P.ACK:
            self._ack(body)
        elif what == P.TIME_REPLY:
            try:
                self.clock.observe(int(body["t0"]), int(body["m0"]), int(body["hub_ms"]))
            except (KeyError, TypeError, ValueError):
                return
        elif what == P.CONFIG:
            if not verify_config(body):
                self.stats["refused_configs"] += 1
                log.error("refusing a configuration whose hash does not match its content")
                return
            self.config_version = body.get("version")
            if self.on_config:
                self.on_config(body)
        elif what == P.FORECAST and self.on_forecast:
            self.on_forecast(body)
        self._wake.set()

    def _ack(self, ack: dict) -> None:
        """Apply an acknowledgement, trusting nothing this station did not send: the ack must name
        a batch still waiting for its answer, and only that batch's seqs and tombstones count
        (a stale, duplicated or forged ack settles nothing; credentials and the ACL keep others
        from reading the station's topics, docs/operations.md)."""
        try:
            ranges = [(int(lo), int(hi)) for lo, hi in ack.get("committed", [])]
            rejected = [r for r in ack.get("rejected", []) if isinstance(r, dict) and type(r.get("seq")) is int]
            del_ok = [str(i) for i in ack.get("deletions", [])]
            del_bad = [str(r.get("id")) for r in ack.get("deletions_rejected", []) if isinstance(r, dict)]
            wb_ok = [str(i) for i in ack.get("waybills", [])]
            wb_bad = [(str(r.get("id")), str(r.get("reason"))) for r in ack.get("waybills_rejected", [])
                      if isinstance(r, dict)]
        except (TypeError, ValueError):
            log.warning("ignoring malformed ack")
            return
        with self._lock:
            entry = self.inflight.pop(str(ack.get("batch")), None)
            if entry:
                self.inflight_seqs.difference_update(entry["seqs"])
                took = mono_ms() - entry["sent"]
                self.ack_latency_ms = took if self.ack_latency_ms is None else 0.8 * self.ack_latency_ms + 0.2 * took
        if entry is None:
            self.stats["ignored_acks"] += 1
            log.warning("ignoring an ack for batch %r: not one this station is waiting for", ack.get("batch"))
            return
        sent, sent_dels = entry["seqs"], set(entry["deletions"])
        committed = [s for s in sent if any(lo <= s <= hi for lo, hi in ranges)]
        rejected = [r for r in rejected if r["seq"] in sent]
        now = wall_ms()
        del_ok, del_bad = [i for i in del_ok if i in sent_dels], [i for i in del_bad if i in sent_dels]
        sent_wbs = set(entry.get("waybills", ()))
        wb_ok, wb_bad = [i for i in wb_ok if i in sent_wbs], [r for r in wb_bad if r[0] in sent_wbs]
        try:
            settled = self.outbox.mark_acked(P.seq_ranges(committed), rejected, now)
            if del_ok or del_bad:
                self.outbox.mark_deletions_acked(del_ok, del_bad)
            if wb_ok or wb_bad:
                self.outbox.mark_waybills_acked(wb_ok, wb_bad, now)
                if wb_bad:
                    log.warning("the hub refused waybill record(s): %s",
                                "; ".join(f"{i}: {r}" for i, r in wb_bad))
        except OutboxError as e:     # e.g. disk full: the batch goes out again and is acknowledged again
            self.stats["unrecorded_acks"] += 1
            log.error("could not record the hub's acknowledgement (%s); the batch will be sent again", e)
            return
        self.stats["acked"] += settled
        self.stats["rejected"] += len(rejected)
        self.last_ack_ms = now

    # ------------------------------------------------------------ sender thread
    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.2)
            self._wake.clear()
            now = mono_ms()
            if now >= self._next_prune:           # acked scans are kept keep_acked_days, then dropped
                try:
                    self.outbox.prune(wall_ms())
                except Exception:
                    log.exception("pruning acknowledged scans failed")
                self._next_prune = now + PRUNE_EVERY_MS
            if now >= self._next_status:
                self._report_status(now)
            if not self.connected.is_set():
                continue
            try:
                if now >= self._next_probe or not self.clock.synced:
                    if now >= self._next_probe:
                        self._probe()
                        self._next_probe = now + (self.probe_every_ms if self.clock.synced else 1000)
                if not self.clock.synced:
                    continue
                self._expire(now)
                self._fill()
                if self.proofs is not None:
                    self.proofs.tick()
            except Exception:
                log.exception("uplink cycle failed")

    def _report_status(self, now: int) -> None:
        """Status to the hub (retained) when connected, and always to the outbox for `edge status`."""
        payload = self._status_payload(online=self.connected.is_set())
        try:
            self.outbox.set_meta("status", payload.decode())
            if self.connected.is_set():
                self.client.publish(P.topic(self.station, P.STATUS), payload, qos=1, retain=True)
        except Exception:
            log.exception("status report failed")
        self._next_status = now + self.status_every_ms

    def _probe(self) -> None:
        self.client.publish(P.topic(self.station, P.TIME), P.encode({"t0": wall_ms(), "m0": mono_ms()}), qos=0)

    def _expire(self, now: int) -> None:
        # a busy hub answers slowly but surely: wait several of its usual ack times before resending
        limit = max(self.ack_timeout_ms, 5 * (self.ack_latency_ms or 0))
        with self._lock:
            late = [b for b, e in self.inflight.items() if now - e["sent"] > limit]
            for b in late:
                e = self.inflight.pop(b)
                self.inflight_seqs.difference_update(e["seqs"])
            if late:
                self.stats["resends"] += len(late)
                self.fresh_start = max(self.fresh_start, self.fresh_cursor)
                self.back_cursor = 0

    def _lane_count(self, lane: str) -> int:
        return sum(1 for e in self.inflight.values() if e["lane"] == lane)

    def _fill(self) -> None:
        with self._lock:
            in_flight = {i for e in self.inflight.values() for i in e["deletions"]}
        # tombstones already on their way wait for their ack (or its timeout) like scans do
        deletions = [d for d in self.outbox.pending_deletions() if d["id"] not in in_flight]
        with self._lock:
            wb_flight = {i for e in self.inflight.values() for i in e.get("waybills", ())}
        self._records = [r for r in self.outbox.pending_waybills() if r[0] not in wb_flight]
        sent_deletions = False
        while self.connected.is_set() and self._lane_count("fresh") < self.fresh_window:
            rows = self._rows(self.fresh_cursor, None)
            if not rows:
                break
            self.fresh_cursor = rows[-1][0]
            self._send(rows, "fresh", deletions if not sent_deletions else [])
            sent_deletions = True
        while self.connected.is_set() and self._lane_count("backlog") < self.window:
            rows = self._rows(self.back_cursor, self.fresh_start)
            if not rows:
                break
            self.back_cursor = rows[-1][0]
            self._send(rows, "backlog", deletions if not sent_deletions else [])
            sent_deletions = True
        if (deletions or self._records) and not sent_deletions:
            self._send([], "fresh", deletions)

    def _rows(self, after: int, upto: int | None) -> list:
        out = []
        while len(out) < self.batch_size:
            rows = self.outbox.pending_after(after, self.batch_size, upto)
            if not rows:
                break
            with self._lock:
                out += [r for r in rows if r[0] not in self.inflight_seqs]
            after = rows[-1][0]
            if len(rows) < self.batch_size:
                break
        return out[: self.batch_size]

    def _send(self, rows: list, lane: str, deletions: list[dict]) -> None:
        scans = []
        for seq, payload, mono, boot, created in rows:
            scan = json.loads(payload)
            scan["seq"] = seq
            scan["event_ms"], scan["clock"] = self.clock.event_time(created, mono, boot)
            scans.append(scan)
        records, self._records = self._records, []     # waybill records ride with the first batch
        waybills = []
        for rid, payload, mono, boot, created in records:
            rec = json.loads(payload)
            rec["event_ms"] = self.clock.event_time(created, mono, boot)[0]
            waybills.append(rec)
        first = rows[0][0] if rows else 0
        batch_id = f"{self.outbox.epoch}-{first}-{len(rows)}-{mono_ms()}"
        body = {"batch": batch_id, "station": self.station, "sent_ms": wall_ms(),
                "scans": scans, "deletions": deletions}
        if waybills:
            body["waybills"] = waybills
        payload = P.encode(body)
        with self._lock:
            seqs = {r[0] for r in rows}
            self.inflight[batch_id] = {"seqs": seqs, "lane": lane, "sent": mono_ms(),
                                       "deletions": [d["id"] for d in deletions],
                                       "waybills": [r[0] for r in records]}
            self.inflight_seqs |= seqs
        self.client.publish(P.topic(self.station, P.SCANS), payload, qos=1)
        self.stats["batches_sent"] += 1
        self.stats["scans_sent"] += len(rows)

    def _status_payload(self, online: bool = True, running: bool = True) -> bytes:
        # fields: contract.protocol.STATUS_FIELDS; epoch and max_seq let the hub see scans it lacks
        # even when the station makes no new ones (`hub gaps` after a restore, docs/operations.md)
        st = {"online": online, "running": running, "site": self.site, "outbox_depth": self.outbox.pending,
              "config_version": self.config_version, "clock_offset_ms": self.clock.wall_offset_ms,
              "rtt_ms": self.clock.rtt_ms, "last_ack_ms": self.last_ack_ms, "ts": wall_ms(),
              "software_version": SOFTWARE_VERSION, "epoch": self.outbox.epoch, "max_seq": self.outbox.max_seq()}
        if self.extra_status:
            st.update(self.extra_status())
        return P.encode(st)
