"""The station file (``scanhub edge run --config station.yaml``)::

    station: st-100-1                 # id, also the MQTT user name and topic level
    site: "100"
    broker: mqtt://127.0.0.1:1883     # mqtts://host:8883 for TLS
    password: "…"                     # from `scanhub hub credentials`
    tls: {ca: /etc/scanhub/ca.pem}    # optional: cert, key, insecure
    outbox: /var/lib/scanhub/st-100-1.db
    limits: {max_pending: 2000000, max_age_days: 30, keep_acked_days: 7}
    devices:
      - {type: scanner, protocol: serial, port: /dev/serial/by-id/usb-…, id: gun-1}
      - {type: scale, protocol: toledo-continuous, port: /dev/ttyUSB0}
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import yaml

from edge.errors import EdgeError
from edge.outbox import Limits


class StationFileError(EdgeError, ValueError):
    pass


@dataclass
class StationConfig:
    station: str
    site: str
    broker: str = "mqtt://127.0.0.1:1883"
    username: str | None = None
    password: str | None = None
    tls: dict | None = None
    outbox: str = "outbox.db"
    limits: Limits = field(default_factory=Limits)
    devices: list[dict] = field(default_factory=list)
    batch_size: int = 500
    window: int = 8

    @classmethod
    def load(cls, path: str) -> "StationConfig":
        try:
            with open(path, encoding="utf-8") as f:
                raw = yaml.safe_load(f)
        except OSError as e:
            raise StationFileError(f"{path}: {e.strerror}") from e
        except yaml.YAMLError as e:
            raise StationFileError(f"{path}: not valid YAML: {e}") from e
        cfg = cls.from_dict(raw, path)
        if not os.path.isabs(cfg.outbox):
            cfg.outbox = os.path.join(os.path.dirname(os.path.abspath(path)), cfg.outbox)
        return cfg

    @classmethod
    def from_dict(cls, raw, source: str = "station file") -> "StationConfig":
        if not isinstance(raw, dict):
            raise StationFileError(f"{source}: must be a mapping with station, site, broker, …")
        known = {"station", "site", "broker", "username", "password", "tls", "outbox", "limits", "devices",
                 "batch_size", "window"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise StationFileError(f"{source}: unknown keys {unknown} (known: {', '.join(sorted(known))})")
        for key in ("station", "site"):
            if not raw.get(key):
                raise StationFileError(f"{source}: missing {key}")
        station = str(raw["station"])
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", station):
            raise StationFileError(f"{source}: station id {station!r} may use only letters, digits, _ . -")
        limits = raw.get("limits") or {}
        try:
            lim = Limits(**{k: (int(v) if k == "max_pending" else float(v)) for k, v in limits.items()})
        except (TypeError, ValueError) as e:
            raise StationFileError(f"{source}: bad limits: {e}") from e
        devices = raw.get("devices") or []
        if not isinstance(devices, list) or not all(isinstance(d, dict) and d.get("type") in ("scanner", "scale")
                                                    and d.get("protocol") and d.get("port") for d in devices):
            raise StationFileError(f"{source}: each device needs type (scanner|scale), protocol and port")
        return cls(station=station, site=str(raw["site"]), broker=str(raw.get("broker") or cls.broker),
                   username=raw.get("username"), password=raw.get("password"), tls=raw.get("tls"),
                   outbox=str(raw.get("outbox") or f"{station}.outbox.db"), limits=lim, devices=devices,
                   batch_size=int(raw.get("batch_size", 500)), window=int(raw.get("window", 8)))
