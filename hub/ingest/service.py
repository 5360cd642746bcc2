"""The hub service: MQTT in, store, acknowledgements and configuration out.

One paho network thread receives; one worker thread owns the store and processes messages in
arrival order, coalescing whatever batches are waiting into one transaction.  An acknowledgement
is published only after the transaction that holds the scans has committed, so "acked" means
"durable at the hub".  Several hub workers may share the load with ``shared=True`` (MQTT v5
shared subscriptions): ingest is idempotent and order-independent, so any worker may take any
batch.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import queue
import re
import threading
import time
import traceback
import uuid

from contract import protocol as P
from contract.broker import make_client
from contract.clock import MAX_MS, is_ms, now_ms
from contract.pickup import task_list
from hub.business import pickup
from hub.business.forecast import held_waybills
from hub.ingest import pipeline
from hub.network import station_config
from hub.network import tables as net
from hub.scans.commit import dead_letter, dead_letter_item, validate_scans
from hub.schema import connect
from hub.store.db import database, is_store_failure, write_transaction
from hub.store.meta import get_meta

log = logging.getLogger("scanhub.hub")

# a JSON \uD800-\uDFFF escape: a surrogate, legal in a pair, not text on its own
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")
MAX_COALESCE = 32          # batches committed in one transaction when they queue up
CONFIG_POLL_S = 1.0
FORECAST_EVERY_S = 30.0    # how often each site's pre-dispatch forecast is republished
FORECAST_REFRESH_S = 300.0  # an unchanged forecast is republished (a new generated_ms) this often
FORECAST_DEFER = 4          # while batches wait, forecasts wait too, for at most this many periods
RESTART_EVERY_S = 10.0     # the least time between two restarts of a dying derivation process
# with a derivation process the ingest checkpoints only a log grown this large (pages of 4 KiB): the
# derivation's checkpoints keep it smaller, this keeps it bounded when the derivation falls behind
INGEST_CHECKPOINT_PAGES = 20_000
STATUS_FLUSH_S = 0.5       # station statuses are recorded together, at most this late


class Incoming:
    """A message as the worker takes it: topic, payload and, for a batch of scans, the batch
    decoded and each scan checked against the schema (``decode``: pure, no store, so the network
    thread does it while the worker commits the batches before it)."""
    __slots__ = ("topic", "payload", "retain", "station", "what", "decoded", "batch", "rows", "error", "t_in")

    def __init__(self, topic: str, payload: bytes, retain: bool = False):
        self.topic, self.payload, self.retain = topic, payload, retain
        self.t_in = time.monotonic()          # when the network thread took it (batch latency)
        self.station, self.what = P.parse_topic(topic) or (None, None)
        self.decoded, self.batch, self.rows, self.error = False, None, None, None

    def decode(self) -> None:
        """Sets ``batch`` and ``rows`` (``hub.scans.commit.validate_scans``), or ``error``: why the
        payload is not a batch at all."""
        try:
            batch = json.loads(self.payload)
            if not isinstance(batch, dict):
                raise ValueError("payload is not a JSON object")
            if batch.get("v") != P.VERSION:
                raise ValueError(f"unsupported payload version {batch.get('v')!r} (hub speaks {P.VERSION})")
            scans, deletions = batch.get("scans", []), batch.get("deletions", [])
            waybills = batch.get("waybills", [])
            if not isinstance(scans, list) or not isinstance(deletions, list) or not isinstance(waybills, list):
                raise ValueError("scans, deletions and waybills must be lists")
            if _SURROGATE_ESCAPE.search(self.payload):       # rare: check the whole text is UTF-8
                json.dumps(batch, ensure_ascii=False).encode("utf-8")
        except ValueError as e:                             # the Unicode errors are ValueErrors too
            self.error = "a string holds a lone UTF-16 surrogate (not text)" if isinstance(e, UnicodeEncodeError) \
                else str(e)
        else:
            batch["scans"], batch["deletions"], batch["waybills"] = scans, deletions, waybills
            self.batch, self.rows = batch, validate_scans(scans)
        self.decoded = True


def _get(item, key):
    return item.get(key) if isinstance(item, dict) else None


def _count(v) -> bool:
    return type(v) is int and 0 <= v < 2**53


def _offset(v) -> bool:
    return type(v) is int and abs(v) <= MAX_MS


def _heard_ms(status: dict, retained: bool, now: int) -> int | None:
    """When the hub heard a station's status: now for one it sent now; for one the broker kept
    (retained), the time the station made it, on hub time (``ts`` + the station's clock offset),
    at most now."""
    if not retained:
        return now
    ts, offset = status.get("ts"), status.get("clock_offset_ms")
    if not is_ms(ts):
        return None
    heard = min(now, ts + (offset if type(offset) is int and abs(offset) <= MAX_MS else 0))
    return heard if is_ms(heard) else None


class HubService:
    """The hub's MQTT side: takes batches, commits them, acknowledges, publishes configuration.

    ``HubService(db_url, broker_url).start()`` connects to the store and the broker; one worker
    thread owns the store.  Each batch is validated against ``contract.scan`` and committed
    through ``hub.ingest.pipeline.commit``; the ``ack`` naming its sequence ranges is published
    only after that transaction commits (docs/protocol.md, "The acknowledgement rule").  With
    ``derive="background"`` the derivation pipeline runs in a second process
    (``hub.ingest.background``) instead of inside each ingest transaction.  Each station's
    configuration slice (``hub.network.station_config``) and its site's forecast are published
    retained and republished when the basic data changes.  ``stop()`` ends both.
    """

    def __init__(self, db_url: str, broker_url: str, *, client_id: str | None = None,
                 username: str | None = None, password: str | None = None, tls: dict | None = None,
                 shared: bool = False, forecast_every_s: float = FORECAST_EVERY_S, derive: str = "inline"):
        if derive not in ("inline", "background"):
            raise ValueError("derive must be inline or background")
        self.derive = derive
        self.derivation = None
        self.db_url = db_url
        self.broker_url = broker_url
        self.shared = shared
        client_id = client_id or f"scanhub-hub-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.client, self.broker = make_client(broker_url, client_id, username=username, password=password, tls=tls)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self._subscribe_mid = None
        self.inbox: queue.Queue = queue.Queue()
        self.stopping = threading.Event()
        self.connected = threading.Event()
        self.published_config: dict[str, str] = {}
        self._seen_version: tuple | None = None
        self.stats = {"batches": 0, "scans": 0, "rejected": 0, "dead_letters": 0, "derivation_restarts": 0,
                      "acks": 0, "forecast_passes": 0}
        # called with the seconds from receipt to acknowledgement of each batch (hub.ingest.metrics)
        self.on_batch_latency = None
        self._derivation_retry = 0.0
        self._derivation_checkpoints = False
        self.worker_error: str | None = None     # set if the ingest worker ever dies
        self.store_error: str | None = None      # the last store failure, until a batch commits again
        self._worker = threading.Thread(target=self._work, name="hub-worker", daemon=True)
        self._statuses: dict[str, tuple[bytes, bool]] = {}    # station -> its latest status, to record
        self._statuses_due = 0.0
        self._config_due = threading.Event()
        self._config_due.set()
        self.forecast_every_s = forecast_every_s
        self._next_forecast = 0.0
        self._forecast_due_since: float | None = None
        self._forecast_sent: dict[str, tuple[str, str, float]] = {}   # station -> (site, digest, when)
        self.published_pickup: dict[str, str] = {}     # station -> version of the task list it has
        self._seen_pickup: str | None = None
        self._pickup_due = True

    # ------------------------------------------------------------ lifecycle
    def start(self) -> "HubService":
        connect(self.db_url)          # fail early with a clear error if the store is missing
        database.close()
        if self.derive == "background":
            from hub.ingest.background import BackgroundDerivation
            self.derivation = BackgroundDerivation(self.db_url).start()
        self._worker.start()
        self.client.connect_async(self.broker.host, self.broker.port, keepalive=15)
        self.client.loop_start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.inbox.put(None)
        self._worker.join(timeout=10)
        self.client.disconnect()
        self.client.loop_stop()
        if self.derivation is not None:
            self.derivation.stop()

    def wait_connected(self, timeout_s: float = 10) -> bool:
        """True once the hub is connected and its subscriptions granted (ready for batches)."""
        return self.connected.wait(timeout_s)

    # ------------------------------------------------------------ MQTT callbacks (network thread)
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.error("broker refused the hub: %s", reason_code)
            return
        prefix = "$share/scanhub-hub/" if self.shared else ""
        _, self._subscribe_mid = client.subscribe([(f"{prefix}{P.ROOT}/+/{P.SCANS}", 1),
                                                   (f"{P.ROOT}/+/{P.STATUS}", 1),
                                                   (f"{prefix}{P.ROOT}/+/{P.TIME}", 0),
                                                   (f"{prefix}{P.ROOT}/+/{P.PROOF}", 1)])
        log.info("connected to the broker at %s", self.broker)
        self.published_config.clear()     # the broker may have lost retained configs
        self._config_due.set()
        self._next_forecast = 0.0
        self._forecast_sent.clear()       # … and retained forecasts
        self.published_pickup.clear()
        self._pickup_due = True

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        """Only once the broker has granted the subscriptions is the hub ready: a batch published
        before that would reach no one (``wait_connected`` waits for this)."""
        if mid != self._subscribe_mid:
            return
        refused = [str(rc) for rc in reason_codes if rc.is_failure]
        if refused:
            log.error("the broker refused the hub's subscriptions: %s", ", ".join(refused))
            return
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        if self.connected.is_set() and not self.stopping.is_set():
            log.warning("lost the broker at %s (%s); reconnecting", self.broker, reason_code)
        self.connected.clear()

    def _on_message(self, client, userdata, msg):
        item = Incoming(msg.topic, msg.payload, bool(msg.retain))
        if item.what == P.TIME:
            self._answer_time(item.station, msg.payload)
            return
        if item.what == P.SCANS:
            try:             # decoded here, while the worker commits the batches before it
                item.decode()
            except Exception:               # never in the network thread: the worker tries again
                log.exception("decoding a batch on %s failed; the worker decodes it", msg.topic)
        self.inbox.put(item)

    def _answer_time(self, station: str, payload: bytes) -> None:
        try:
            probe = json.loads(payload)
            reply = {"t0": int(probe["t0"]), "m0": int(probe["m0"]), "hub_ms": now_ms()}
        except (ValueError, KeyError, TypeError):
            return
        self.client.publish(P.topic(station, P.TIME_REPLY), P.encode(reply), qos=0)

    # ------------------------------------------------------------ worker (owns the store)
    def _work(self) -> None:
        try:
            self._work_loop()
        except BaseException as e:          # never silently: hub run sees it and exits non-zero
            self.worker_error = f"{type(e).__name__}: {e}"
            log.critical("the hub's ingest worker died: %s", self.worker_error, exc_info=True)
            raise

    @property
    def healthy(self) -> bool:
        """False once the ingest worker has died (``worker_error`` says why)."""
        return self.worker_error is None and (self._worker.is_alive() or not self._worker.ident
                                              or self.stopping.is_set())

    def _work_loop(self) -> None:
        connect(self.db_url)
        self._leave_checkpoints(self.derivation is not None)
        while not self.stopping.is_set():
            wait = CONFIG_POLL_S
            if self._statuses:                  # statuses waiting: wake in time to record them
                wait = max(0.0, min(wait, self._statuses_due - time.monotonic()))
            try:
                first = self.inbox.get(timeout=wait)
            except queue.Empty:
                first = None
            if first is not None:
                msgs = [first]
                while len(msgs) < MAX_COALESCE:
                    try:
                        nxt = self.inbox.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is None:
                        break
                    msgs.append(nxt)
                self._handle_safely(msgs)
            if self._statuses and time.monotonic() >= self._statuses_due:
                self._flush_statuses()
            self._watch_derivation()
            try:
                self._publish_configs()
                self._publish_pickups()
                if self._forecast_due():
                    self._publish_forecasts()
                    self._next_forecast = time.monotonic() + self.forecast_every_s
            except Exception:
                log.exception("config or forecast publishing failed")
        if self._statuses:
            self._flush_statuses()
        database.close()

    def _handle_safely(self, msgs) -> None:
        """Handle messages; isolate a batch that breaks the hub so it cannot stall the others.

        A store that is unreachable is transient: nothing is acknowledged and the stations send
        again.  Any other failure of a single batch is a poison batch: it is dead-lettered with
        the error and its scans are acknowledged as rejected, so the station keeps them (marked)
        instead of resending them forever."""
        try:
            self._handle(msgs)
            self.store_error = None
            return
        except Exception as e:
            if is_store_failure(e):
                self.store_error = f"{type(e).__name__}: {e}"
                log.error("HUB STORE FAILED, nothing acknowledged (%d message(s) will be sent again): %s; "
                          "check it with `scanhub hub check --db %s` (docs/operations.md)",
                          len(msgs), self.store_error, self.db_url)
                return
            if len(msgs) == 1:
                self._poison(msgs[0])
                return
            log.exception("a group of %d messages failed; retrying them one by one", len(msgs))
        for msg in msgs:
            self._handle_safely([msg])

    def _poison(self, msg) -> None:
        log.exception("batch on %s broke the hub; dead-lettered", msg.topic)
        reason = "hub failed on this batch: " + traceback.format_exc(limit=1).strip().splitlines()[-1]
        station = (P.parse_topic(msg.topic) or (None, None))[0]
        try:                        # everything here is guarded: a poison batch must not stop the worker
            with database.atomic():
                dead_letter(msg.topic, reason, msg.payload, station=station)
            body = json.loads(msg.payload)
            scans = [x for x in body.get("scans", []) if isinstance(x, dict) and type(x.get("seq")) is int]
            ack = P.encode({
                "batch": body.get("batch"), "committed": [],
                "rejected": [{"seq": x["seq"], "id": x.get("id"), "reason": reason} for x in scans],
                "deletions": [], "deletions_rejected": [], "waybills": [],
                "waybills_rejected": [{"id": w.get("id"), "reason": reason}
                                      for w in body.get("waybills", []) if isinstance(w, dict)],
                "hub_ms": now_ms()})
        except Exception as e:
            if is_store_failure(e):
                log.error("HUB STORE FAILED while dead-lettering a poison batch: %s", e)
            else:
                log.exception("could not dead-letter or answer the poison batch on %s", msg.topic)
            return
        self.client.publish(P.topic(station, P.ACK), ack, qos=1)
        self.stats["acks"] += 1

    def _handle(self, msgs) -> None:
        batches, statuses = [], []
        for msg in msgs:
            station, what = msg.station, msg.what
            if what == P.PROOF:            # after the scans it came with in this group, never in their way
                continue
            if what == P.SCANS:
                batch = self._parse_batch(station, msg)
                if batch is not None:
                    batches.append(batch)
            elif what == P.STATUS:
                statuses.append((station, msg.payload, bool(msg.retain)))
        if batches:
            self._commit(batches)
        for station, payload, retained in statuses:
            # the latest status of each station is written with the others at most every
            # STATUS_FLUSH_S: a thousand stations report 200 times a second, and a durable commit
            # each would queue the batches behind them
            self._statuses.pop(station, None)
            self._statuses[station] = (payload, retained)
            if len(self._statuses) == 1:
                self._statuses_due = time.monotonic() + STATUS_FLUSH_S
        for msg in msgs:
            if msg.what == P.PROOF:
                self._proof(msg)

    def _flush_statuses(self) -> None:
        """Record the statuses waiting (``_status``), in one transaction."""
        waiting, self._statuses = self._statuses, {}
        try:
            with self._write_turn(), write_transaction():
                for station, (payload, retained) in waiting.items():
                    self._status(station, payload, retained)
            return
        except Exception as e:
            if is_store_failure(e):            # they come again in a few seconds
                self.store_error = f"{type(e).__name__}: {e}"
                log.error("HUB STORE FAILED while recording %d station statuses: %s", len(waiting), self.store_error)
                return
            log.exception("recording %d station statuses failed; recording them one by one", len(waiting))
        for station, (payload, retained) in waiting.items():
            try:
                with write_transaction():
                    self._status(station, payload, retained)
            except Exception:
                log.exception("the status of station %s could not be recorded", station)

    def _proof(self, msg) -> None:
        """One chunk of a proof-of-delivery image (``hub.scans.proofs``): stored, then answered."""
        from hub.scans import proofs
        answer, refused = proofs.receive(msg.station, msg.payload)
        if refused:
            with database.atomic():
                dead_letter(msg.topic, refused, msg.payload, station=msg.station)
            self.stats["dead_letters"] += 1
            return
        self.client.publish(P.topic(msg.station, P.PROOF_ACK), answer, qos=1)

    def _parse_batch(self, station: str, msg: "Incoming") -> dict | None:
        if not msg.decoded:
            msg.decode()
        if msg.error is not None:
            with database.atomic():
                dead_letter(msg.topic, f"malformed batch: {msg.error}", msg.payload, station=station)
            self.stats["dead_letters"] += 1
            return None
        batch = msg.batch
        return {"station": station, "batch": batch.get("batch"), "scans": batch["scans"],
                "deletions": batch["deletions"], "waybills": batch.get("waybills", []), "rows": msg.rows,
                "topic": msg.topic, "t_in": msg.t_in}

    def _refuse_foreign(self, batches: list[dict]) -> dict[int, str]:
        """A station speaks only for itself: its scans name it and its site, its tombstones name
        its own scans.  Returns ``{id(item): reason}`` for the items that do not (the schema
        itself is checked by the commit)."""
        stations = {b["station"] for b in batches}
        sites = {st.id: st.site for st in net.Station.select(net.Station.id, net.Station.site)
                 .where(net.Station.id.in_(list(stations)))}
        refused = {}
        for b in batches:
            station, site = b["station"], sites.get(b["station"])
            for s in b["scans"]:
                if not isinstance(s, dict):
                    continue
                if s.get("station") != station:
                    refused[id(s)] = f"scan names another station ({str(s.get('station'))[:64]!r}, sent by {station})"
                elif site is not None and s.get("site") != site:
                    refused[id(s)] = f"scan names site {str(s.get('site'))[:32]!r}; station {station} is at site {site}"
            for d in b["deletions"]:
                if isinstance(d, dict) and isinstance(d.get("scan"), dict) and d["scan"].get("station") != station:
                    refused[id(d)] = f"deletion: the deleted scan names another station, sent by {station}"
            for w in b["waybills"]:
                if not isinstance(w, dict):
                    continue
                if w.get("station") != station:
                    refused[id(w)] = f"waybill record names another station ({str(w.get('station'))[:64]!r}, sent by {station})"
                elif site is not None and w.get("site") != site:
                    refused[id(w)] = (f"waybill record names site {str(w.get('site'))[:32]!r}; "
                                      f"station {station} is at site {site}")
        return refused

    def _commit(self, batches: list[dict]) -> None:
        now = now_ms()
        refused = self._refuse_foreign(batches)
        scans, rows = [], []
        for b in batches:
            for s, row in zip(b["scans"], b["rows"]):
                if id(s) not in refused:
                    scans.append(s)
                    rows.append(row)
        dels = [d for b in batches for d in b["deletions"] if id(d) not in refused]
        records = [w for b in batches for w in b["waybills"] if id(w) not in refused]
        with self._write_turn(), database.atomic():
            committed, rejected = pipeline.commit(scans, dels, received_ms=now,
                                                  derive=self.derive == "inline", rows=rows)
            if records:
                _, w_rejected = pipeline.commit_waybills(records, received_ms=now, derive=self.derive == "inline")
                rejected = rejected + w_rejected
            for b in batches:
                for item in b["scans"] + b["deletions"] + b["waybills"]:
                    if id(item) in refused:
                        dead_letter_item(b["topic"], refused[id(item)], item, station=b["station"], received_ms=now)
            for st in {b["station"] for b in batches}:
                net.Station.update(last_ack_ms=now, last_seen_ms=now).where(net.Station.id == st).execute()
        ok_ids = {id(s) for s in committed}
        bad = {id(item): reason for item, reason in rejected}
        bad.update(refused)
        self.stats["batches"] += len(batches)
        self.stats["scans"] += len(committed)
        self.stats["rejected"] += len(rejected)
        for b in batches:
            ack = {
                "batch": b["batch"],
                "committed": P.seq_ranges(s["seq"] for s in b["scans"] if id(s) in ok_ids),
                "rejected": [{"seq": _get(s, "seq"), "id": _get(s, "id"), "reason": bad[id(s)]}
                             for s in b["scans"] if id(s) in bad],
                "deletions": [d["id"] for d in b["deletions"] if id(d) not in bad],
                "deletions_rejected": [{"id": _get(d, "id"), "reason": bad[id(d)]}
                                       for d in b["deletions"] if id(d) in bad],
                "waybills": [_get(w, "id") for w in b["waybills"] if id(w) not in bad],
                "waybills_rejected": [{"id": _get(w, "id"), "reason": bad[id(w)]}
                                      for w in b["waybills"] if id(w) in bad],
                "hub_ms": now,
            }
            self.client.publish(P.topic(b["station"], P.ACK), P.encode(ack), qos=1)
        self.stats["acks"] += len(batches)
        if self.on_batch_latency is not None:
            done = time.monotonic()
            for b in batches:
                self.on_batch_latency(done - b["t_in"])

    def _leave_checkpoints(self, to_derivation: bool) -> None:
        """On SQLite, leave the write-ahead log's checkpoints to the derivation process (off the
        acknowledgement path, ``hub.ingest.background``) or take them back."""
        if self.derivation is not None and self.derivation.turns is not None:
            database.execute_sql(f"PRAGMA wal_autocheckpoint={INGEST_CHECKPOINT_PAGES if to_derivation else 1000}")
        self._derivation_checkpoints = to_derivation

    def _watch_derivation(self) -> None:
        """A derivation process that died is restarted (at most every ``RESTART_EVERY_S``): derived
        state must not silently stop following the scans.  Until a new one has lived that long,
        the ingest checkpoints the log itself."""
        d = self.derivation
        if d is None or self.stopping.is_set():
            return
        if d.alive:
            if not self._derivation_checkpoints and time.monotonic() >= self._derivation_retry:
                self._leave_checkpoints(True)
            return
        if self._derivation_checkpoints:
            self._leave_checkpoints(False)
        if time.monotonic() < self._derivation_retry:
            return
        self.stats["derivation_restarts"] += 1
        log.error("the derivation process %s died (exit code %s); starting a new one (restart %d)",
                  d.proc.pid, d.proc.exitcode, self.stats["derivation_restarts"])
        from hub.ingest.background import BackgroundDerivation
        self.derivation = BackgroundDerivation(d.db_url, d.batch).start()
        self._derivation_retry = time.monotonic() + RESTART_EVERY_S

    def _write_turn(self):
        """The ingest's turn at the store's write lock, ahead of the background derivation."""
        turns = self.derivation.turns if self.derivation is not None else None
        if turns is None:
            return contextlib.nullcontext()
        turns.busy.value = 1 if self.inbox.qsize() else 0
        return turns.ingest()

    def _status(self, station: str, payload: bytes, retained: bool = False) -> None:
        """Record a station's status (``contract.protocol.STATUS_FIELDS``) and when the hub heard it.

        ``last_seen_ms`` is when the station last spoke (``hub.network.stations``): a status it
        sent now, or, for one the broker kept (retained, delivered when the hub subscribes), the
        time it was made (its ``ts`` on hub time), never the hub's start.  A last will is the
        broker speaking: it makes the station offline and leaves ``last_seen_ms`` alone."""
        try:
            st = json.loads(payload) if payload else {}
            if not isinstance(st, dict):
                raise ValueError("status is not an object")
        except ValueError as e:
            with database.atomic():
                dead_letter(P.topic(station, P.STATUS), f"malformed status: {e}", payload, station=station)
            return
        row = net.Station.get_or_none(net.Station.id == station)
        if row is None:
            site = st.get("site")
            if not isinstance(site, str) or net.Site.get_or_none(net.Site.code == site) is None:
                return          # unknown station for an unknown site: nothing to configure
            row = net.Station.create(id=station, site=site)
            self._config_due.set()
            self._pickup_due = True
        online = bool(st.get("online"))
        spoke = is_ms(st.get("ts"))                 # the station's own status, not its last will
        fields = {"online": online}
        heard = _heard_ms(st, retained, now_ms()) if spoke else None
        if heard is not None and (row.last_seen_ms is None or heard > row.last_seen_ms):
            fields["last_seen_ms"] = heard
        if spoke:
            fields["status_json"] = json.dumps(st, ensure_ascii=False)[:4000]
        else:                   # keep what the station last said of itself (version, epoch …)
            try:
                before = json.loads(row.status_json) if row.status_json else {}
            except ValueError:
                before = {}
            merged = dict(before, **st) if isinstance(before, dict) else st
            fields["status_json"] = json.dumps(merged, ensure_ascii=False)[:4000]
        # numbers a store column and ``iso`` can hold; anything else is left as the station last had it
        for key, col, ok in (("outbox_depth", "outbox_depth", _count), ("clock_offset_ms", "clock_offset_ms", _offset),
                             ("rtt_ms", "clock_rtt_ms", _count), ("last_ack_ms", "last_ack_ms", is_ms)):
            if ok(st.get(key)):
                fields[col] = st[key]
        if isinstance(st.get("config_version"), str):
            fields["config_version"] = st["config_version"][:80]
        net.Station.update(**fields).where(net.Station.id == station).execute()
        if online != bool(row.online) and not retained:
            log.info("station %s %s", station, "online" if online else
                     ("offline (stopped)" if spoke else "offline (last will: its connection dropped)"))

    def _forecast_due(self) -> bool:
        """Forecasts are due every ``forecast_every_s``; while batches wait they wait too (the
        acknowledgements come first: a forecast reads every parcel a site holds), at most
        ``FORECAST_DEFER`` periods."""
        now = time.monotonic()
        if now < self._next_forecast or not self.connected.is_set():
            return False
        if self._forecast_due_since is None:
            self._forecast_due_since = now
        if self.inbox.qsize() and now - self._forecast_due_since < FORECAST_DEFER * self.forecast_every_s:
            return False
        self._forecast_due_since = None
        return True

    def _publish_forecasts(self) -> None:
        """Each station gets the parcels its site holds (retained), for the pre-dispatch comparison:
        when the list changed since the station got it, and every ``FORECAST_REFRESH_S``."""
        by_site: dict[str, list] = {}       # site -> [waybills, digest, payload once encoded]
        now, mono = now_ms(), time.monotonic()
        self.stats["forecast_passes"] += 1
        for st in net.Station.select(net.Station.id, net.Station.site):
            if st.site not in by_site:
                held = held_waybills(st.site)
                by_site[st.site] = [held, hashlib.blake2b("\n".join(held).encode(), digest_size=16).hexdigest(),
                                    None]
            fc = by_site[st.site]
            sent = self._forecast_sent.get(st.id)
            if sent is not None and sent[:2] == (st.site, fc[1]) and mono - sent[2] < FORECAST_REFRESH_S:
                continue
            if fc[2] is None:
                fc[2] = P.encode({"site": st.site, "generated_ms": now, "waybills": fc[0]})
            self.client.publish(P.topic(st.id, P.FORECAST), fc[2], qos=1, retain=True)
            self._forecast_sent[st.id] = (st.site, fc[1], mono)

    def _publish_pickups(self) -> None:
        """Each station gets its site's open pickup tasks (retained, ``contract.pickup``), again
        whenever a task is added, closed or cancelled (``hub.business.pickup.changed``) and
        after a reconnect; a station whose list did not change gets nothing new."""
        version = pickup.changed()
        if not self.connected.is_set() or (version == self._seen_pickup and not self._pickup_due):
            return
        self._seen_pickup, self._pickup_due = version, False
        lists: dict[str, dict] = {}
        now = now_ms()
        for st in net.Station.select(net.Station.id, net.Station.site):
            if st.site not in lists:
                lists[st.site] = task_list(st.site, pickup.site_tasks(st.site), now)
            msg = lists[st.site]
            if self.published_pickup.get(st.id) != msg["version"]:
                self.client.publish(P.topic(st.id, P.PICKUP), P.encode(msg), qos=1, retain=True)
                self.published_pickup[st.id] = msg["version"]

    def _publish_configs(self) -> None:
        # basic data, or the prepaid warning of a site's slice (hub.business.accounts.update_blocks)
        version = (get_meta("data_version"), get_meta("prepaid_version"))
        if version != self._seen_version:
            self._seen_version = version
            self._config_due.set()
        if not self._config_due.is_set() or not self.connected.is_set():
            return
        self._config_due.clear()
        slices: dict[str, dict] = {}
        for st in net.Station.select(net.Station.id, net.Station.site):
            if st.site not in slices:
                try:
                    slices[st.site] = station_config.site_slice(st.site)
                except KeyError:
                    continue
            cfg = dict(slices[st.site], station=st.id)
            if self.published_config.get(st.id) != cfg["version"]:
                self.client.publish(P.topic(st.id, P.CONFIG), P.encode(cfg), qos=1, retain=True)
                self.published_config[st.id] = cfg["version"]

