"""MQTT topics and payload encoding between stations and the hub (docs/protocol.md).

All payloads are UTF-8 JSON objects with ``"v": 1``.  Topics::

    scanhub/v1/station/{station}/scans        edge -> hub   QoS 1   a batch of scans and deletions
    scanhub/v1/station/{station}/ack          hub  -> edge  QoS 1   what the hub has committed
    scanhub/v1/station/{station}/config       hub  -> edge  QoS 1   retained: the station's configuration
    scanhub/v1/station/{station}/forecast     hub  -> edge  QoS 1   retained: parcels the site holds
    scanhub/v1/station/{station}/status       edge -> hub   QoS 1   retained; last will {"online": false}
    scanhub/v1/station/{station}/time         edge -> hub   QoS 0   clock probe {"t0", "m0"}
    scanhub/v1/station/{station}/time/reply   hub  -> edge  QoS 0   {"t0", "m0", "hub_ms"}
"""
from __future__ import annotations

import json

VERSION = 1
ROOT = "scanhub/v1/station"

SCANS, ACK, CONFIG, FORECAST, STATUS, TIME, TIME_REPLY = (
    "scans", "ack", "config", "forecast", "status", "time", "time/reply")


def topic(station: str, what: str) -> str:
    return f"{ROOT}/{station}/{what}"


def parse_topic(t: str) -> tuple[str, str] | None:
    """``(station, what)`` for a station topic, else None."""
    prefix = ROOT + "/"
    if not t.startswith(prefix):
        return None
    station, _, what = t[len(prefix):].partition("/")
    return (station, what) if station and what else None


def encode(obj: dict) -> bytes:
    return json.dumps(dict(obj, v=VERSION), separators=(",", ":"), ensure_ascii=False).encode()


def seq_ranges(seqs) -> list[list[int]]:
    """[[lo, hi], …] covering the sorted unique ``seqs`` (compact acknowledgements)."""
    out: list[list[int]] = []
    for s in sorted(set(seqs)):
        if out and s == out[-1][1] + 1:
            out[-1][1] = s
        else:
            out.append([s, s])
    return out
