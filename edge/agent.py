"""The edge agent: outbox + clock + capture + uplink + devices, for one station."""
from __future__ import annotations

import json
import logging
import threading

from edge.capture import Capture
from edge.clock import StationClock
from edge.entry import Entry
from edge.outbox import Outbox
from edge.predispatch import predispatch
from edge.proofs import ProofQueue, queue_path
from edge.station import StationConfig
from edge.uplink import Uplink

log = logging.getLogger("scanhub.edge")


class EdgeAgent:
    """One station: its ``Outbox``, ``StationClock``, ``Capture`` and ``Uplink``, wired together.

    ``EdgeAgent(StationConfig.load("station.yaml")).start()`` opens the outbox, starts the uplink
    and feeds every configuration slice the hub publishes to the capture; ``agent.capture.scan``
    is then the one way a scan enters (``scanhub edge run`` adds the devices).  ``status()``
    reports what ``scanhub edge status`` prints; ``stop()`` ends the uplink and closes the outbox.
    """

    def __init__(self, cfg: StationConfig, clock: StationClock | None = None, weight_source=None):
        self.cfg = cfg
        self.outbox = Outbox(cfg.outbox, cfg.limits)
        self.proofs = ProofQueue(queue_path(cfg.outbox))      # proof-of-delivery images, after the scans
        self.clock = clock or StationClock(self.outbox.get_meta, self.outbox.set_meta)
        cached = self.outbox.get_meta("config")
        self.config = json.loads(cached) if cached else None
        cached = self.outbox.get_meta("forecast")
        self.forecast = json.loads(cached) if cached else None
        self.pickup = self._cached_pickup()           # the site's open pickup tasks (contract.pickup)
        self.pickup_error: str | None = None
        self.capture = Capture(cfg.station, cfg.site, self.outbox, self.clock, self.config, weight_source,
                               offline_staff=cfg.staff,
                               idle_logout_ms=int(cfg.idle_logout_min * 60_000) if cfg.idle_logout_min else None,
                               login=cfg.login, pickup_task=self.pickup_task)
        self.uplink = Uplink(cfg.station, cfg.site, self.outbox, self.clock, cfg.broker,
                             username=cfg.username, password=cfg.password, tls=cfg.tls,
                             batch_size=cfg.batch_size, window=cfg.window,
                             on_config=self._on_config, on_forecast=self._on_forecast,
                             extra_status=self._extra_status, proofs=self.proofs, on_pickup=self._on_pickup)
        self.uplink.config_version = self.config.get("version") if self.config else None
        self.capture.listeners.append(lambda device, verdict: verdict.accepted and self.uplink.wake())
        self.entry = Entry(self.capture, wake=self.uplink.wake)     # waybill entry (edge.entry)
        self.devices: list = []
        self.config_error: str | None = None
        self.config_event = threading.Event()
        if self.config:
            self.config_event.set()

    def _on_config(self, cfg: dict) -> None:
        if cfg.get("site") != self.cfg.site:
            # the hub's network file puts this station at another site: scanning on would label
            # every scan with the wrong site, so keep the last good configuration and say why
            self.config_error = (f"the hub configures station {self.cfg.station} for site {cfg.get('site')}, "
                                 f"but its station file says site {self.cfg.site}")
            log.error("refusing configuration: %s", self.config_error)
            return
        self.config_error = None
        if self.config and cfg.get("version") == self.config.get("version"):
            self.config_event.set()
            return
        self.outbox.set_meta("config", json.dumps(cfg, ensure_ascii=False))
        self.config = cfg
        self.capture.set_config(cfg)
        self.config_event.set()
        log.info("configuration %s in use", cfg.get("version"))

    def _on_forecast(self, fc: dict) -> None:
        self.outbox.set_meta("forecast", json.dumps(fc, ensure_ascii=False))
        self.forecast = fc

    def _cached_pickup(self) -> dict | None:
        from contract.errors import PayloadError
        from contract.pickup import parse_task_list
        raw = self.outbox.get_meta("pickup")
        if not raw:
            return None
        try:
            return parse_task_list(raw, self.cfg.site)
        except PayloadError:
            log.warning("ignoring the kept pickup task list: it no longer reads")
            return None

    def _on_pickup(self, payload: bytes) -> None:
        """A task list from the hub: kept (in the outbox's meta, so it survives a restart and
        serves offline) when it checks out, else refused with the reason and the last good one kept."""
        from contract.errors import PayloadError
        from contract.pickup import parse_task_list
        try:
            tasks = parse_task_list(payload, self.cfg.site)
        except PayloadError as e:
            self.pickup_error = str(e)
            self.uplink.stats["refused_pickups"] = self.uplink.stats.get("refused_pickups", 0) + 1
            log.error("refusing a pickup task list: %s", e)
            return
        self.pickup_error = None
        if self.pickup and self.pickup["version"] == tasks["version"]:
            return
        self.outbox.set_meta("pickup", json.dumps(tasks, ensure_ascii=False))
        self.pickup = tasks
        log.info("pickup tasks %s: %d open", tasks["version"], len(tasks["tasks"]))

    def pickup_tasks(self) -> list[dict]:
        """The site's open pickup tasks as last received (empty before the first list)."""
        return list(self.pickup["tasks"]) if self.pickup else []

    def pickup_task(self, code: str) -> dict | None:
        """The task ``code`` of the kept list, or None."""
        return next((t for t in self.pickup_tasks() if t["code"] == code), None)

    def predispatch(self, since_ms: int | None = None) -> dict:
        """Pre-dispatch comparison against the last forecast (see ``edge.predispatch``)."""
        return predispatch(self.outbox, self.forecast, since_ms)

    def _extra_status(self) -> dict:
        usage = self.outbox.usage()
        out = {"outbox_fraction": usage["fraction"], "outbox_warning": usage["warning"]}
        if self.config_error:
            out["config_error"] = self.config_error
        out["link_since_ms"] = self.uplink.link_since_ms
        out["pickup_version"] = self.pickup["version"] if self.pickup else None
        if self.pickup_error:
            out["pickup_error"] = self.pickup_error
        if self.devices:
            from edge.devices import device_states
            out["devices"] = device_states(self)
        return out

    def start(self) -> "EdgeAgent":
        self.outbox.claim()               # one running station per outbox (OutboxInUse otherwise)
        self.uplink.start()
        return self

    def stop(self) -> None:
        self.capture.save_contexts()
        for d in self.devices:
            try:
                d.close()
            except Exception:
                log.exception("closing a device failed")
        self.uplink.stop()
        self.outbox.close()
        self.proofs.close()

    def status(self) -> dict:
        counts = self.outbox.counts()
        return {"station": self.cfg.station, "site": self.cfg.site, "online": self.uplink.connected.is_set(),
                "outbox": counts, "usage": self.outbox.usage(), "last_ack_ms": self.uplink.last_ack_ms,
                "config_version": self.config.get("version") if self.config else None,
                "clock_offset_ms": self.clock.wall_offset_ms, "clock_synced": self.clock.synced,
                "config_error": self.config_error,
                "pickup_version": self.pickup["version"] if self.pickup else None,
                "pickup_tasks": len(self.pickup["tasks"]) if self.pickup else None,
                "uplink": dict(self.uplink.stats)}
