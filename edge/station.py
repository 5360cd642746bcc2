"""The station file (``scanhub edge run --config station.yaml``)::

    station: st-100-1                 # id, also the MQTT user name and topic level
    site: "100"
    broker: mqtt://127.0.0.1:1883     # mqtts://host:8883 for TLS
    password: "…"                     # from `scanhub hub credentials`
    tls: {ca: /etc/scanhub/ca.pem}    # optional: cert, key, insecure
    outbox: /var/lib/scanhub/st-100-1.db
    limits: {max_pending: 2000000, max_age_days: 30, keep_acked_days: 7}
    staff: ["1001", "1002"]           # optional: staff codes accepted before the hub is first reached
    idle_logout_min: 30               # optional: log an operator out after 30 minutes without a scan
    login: pin                        # optional: operators log in as gun users, %P<login> then %N<PIN>
    devices:
      - {type: scanner, protocol: serial, port: /dev/serial/by-id/usb-…, id: gun-1}
      - {type: scale, protocol: toledo-continuous, port: /dev/ttyUSB0}
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import yaml

from contract.broker import BrokerURL
from contract.errors import ContractError
from edge.errors import EdgeError
from edge.outbox import Limits


class StationFileError(EdgeError, ValueError):
    pass


def _whole(v, what: str) -> int:
    """A whole number from the station file (YAML gives int; "8" is accepted, "big" and 2.5 are not)."""
    if isinstance(v, bool) or not isinstance(v, (int, str)) or not str(v).strip().lstrip("-").isdigit():
        raise ValueError(f"{what} must be a whole number, not {v!r}")
    return int(v)


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
    # staff codes accepted before the station first reached the hub (None: any; a station file
    # without ``staff`` gives [] - such a station accepts no staff until the hub configures it)
    staff: list[str] | None = None
    idle_logout_min: float | None = None
    login: str = "staff"              # "staff": a %P staff code; "pin": gun-user login + PIN, kinds enforced

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
        cfg.check_outbox_path(path)
        return cfg

    @classmethod
    def from_dict(cls, raw, source: str = "station file") -> "StationConfig":
        if not isinstance(raw, dict):
            raise StationFileError(f"{source}: must be a mapping with station, site, broker, …")
        known = {"station", "site", "broker", "username", "password", "tls", "outbox", "limits", "devices",
                 "batch_size", "window", "staff", "idle_logout_min", "login"}
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
        if not isinstance(limits, dict):
            raise StationFileError(f"{source}: limits must be a mapping (max_pending, max_age_days, keep_acked_days)")
        try:
            lim = Limits(**{k: (_whole(v, f"limits.{k}") if k == "max_pending" else float(v))
                            for k, v in limits.items()})
        except (TypeError, ValueError) as e:
            raise StationFileError(f"{source}: bad limits: {e}") from e
        if lim.max_pending < 1:
            raise StationFileError(f"{source}: limits.max_pending must be at least 1, not {lim.max_pending}")
        for k in ("max_age_days", "keep_acked_days"):
            if not getattr(lim, k) > 0:
                raise StationFileError(f"{source}: limits.{k} must be more than 0, not {getattr(lim, k)}")
        try:
            batch_size = _whole(raw.get("batch_size", 500), "batch_size")
            window = _whole(raw.get("window", 8), "window")
        except ValueError as e:
            raise StationFileError(f"{source}: {e}") from None
        if not 1 <= batch_size <= 5000:
            raise StationFileError(f"{source}: batch_size must be 1..5000 scans, not {batch_size}")
        if not 1 <= window <= 1000:
            raise StationFileError(f"{source}: window must be 1..1000 batches in flight, not {window}")
        staff = raw.get("staff") or []
        if not isinstance(staff, list) or not all(isinstance(c, (str, int)) and not isinstance(c, bool)
                                                   and str(c).strip() for c in staff):
            raise StationFileError(f"{source}: staff must be a list of staff codes, like [\"1001\", \"1002\"]")
        idle = raw.get("idle_logout_min")
        if idle is not None:
            if isinstance(idle, bool) or not isinstance(idle, (int, float)) or not idle > 0:
                raise StationFileError(f"{source}: idle_logout_min must be a number of minutes above 0, not {idle!r}")
        login = str(raw.get("login") or "staff")
        if login not in ("staff", "pin"):
            raise StationFileError(f"{source}: login must be staff (a staff code) or pin (gun user and PIN), not {login!r}")
        broker = str(raw.get("broker") or cls.broker)
        try:
            BrokerURL.parse(broker)
        except ContractError as e:
            raise StationFileError(f"{source}: broker: {e}") from None
        tls = raw.get("tls")
        if tls is not None:
            if not isinstance(tls, dict) or set(tls) - {"ca", "cert", "key", "insecure"}:
                raise StationFileError(f"{source}: tls must be a mapping of ca, cert, key, insecure")
            for k in ("ca", "cert", "key"):
                if tls.get(k) is not None and not os.path.isfile(str(tls[k])):
                    raise StationFileError(f"{source}: tls.{k}: no such file {tls[k]}")
        devices = raw.get("devices") or []
        if not isinstance(devices, list) or not all(isinstance(d, dict) and d.get("type") in ("scanner", "scale")
                                                    and d.get("protocol") and d.get("port") for d in devices):
            raise StationFileError(f"{source}: each device needs type (scanner|scale), protocol and port")
        return cls(station=station, site=str(raw["site"]), broker=broker,
                   username=raw.get("username"), password=raw.get("password"), tls=tls,
                   outbox=str(raw.get("outbox") or f"{station}.outbox.db"), limits=lim, devices=devices,
                   batch_size=batch_size, window=window, staff=[str(c).strip() for c in staff],
                   idle_logout_min=float(idle) if idle is not None else None, login=login)

    def check_outbox_path(self, source: str = "station file") -> None:
        """The outbox must be a file we can create and write in a real folder (not /proc, /sys)."""
        path = os.path.abspath(self.outbox)
        if path.startswith(("/proc/", "/sys/", "/dev/")):
            raise StationFileError(f"{source}: outbox {path} is on a kernel file system, not a disk")
        if os.path.isdir(path):
            raise StationFileError(f"{source}: outbox {path} is a folder; give a file name")
        folder = os.path.dirname(path)
        while not os.path.exists(folder):
            folder = os.path.dirname(folder)
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            raise StationFileError(f"{source}: outbox {path}: cannot write in {folder}")
