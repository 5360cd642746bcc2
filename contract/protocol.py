"""MQTT topics and payload encoding between stations and the hub (docs/protocol.md).

All payloads are UTF-8 JSON objects with ``"v": 1``.  Topics::

    scanhub/v1/station/{station}/scans        edge -> hub   QoS 1   a batch of scans and deletions
    scanhub/v1/station/{station}/ack          hub  -> edge  QoS 1   what the hub has committed
    scanhub/v1/station/{station}/config       hub  -> edge  QoS 1   retained: the station's configuration
    scanhub/v1/station/{station}/forecast     hub  -> edge  QoS 1   retained: parcels the site holds
    scanhub/v1/station/{station}/status       edge -> hub   QoS 1   retained; last will {"online": false}
    scanhub/v1/station/{station}/time         edge -> hub   QoS 0   clock probe {"t0", "m0"}
    scanhub/v1/station/{station}/time/reply   hub  -> edge  QoS 0   {"t0", "m0", "hub_ms"}
    scanhub/v1/station/{station}/proof        edge -> hub   QoS 1   a chunk of a proof-of-delivery image
    scanhub/v1/station/{station}/proof/ack    hub  -> edge  QoS 1   how much of it the hub holds
    scanhub/v1/station/{station}/pickup       hub  -> edge  QoS 1   retained: the site's open pickup tasks

A station's status (``STATUS_FIELDS``) goes out every ``STATUS_EVERY_S`` seconds while it is
connected; the hub counts a station it has not heard from for ``STALE_AFTER_S`` as stale.
"""
from __future__ import annotations

import json

VERSION = 1
ROOT = "scanhub/v1/station"

SCANS, ACK, CONFIG, FORECAST, STATUS, TIME, TIME_REPLY = (
    "scans", "ack", "config", "forecast", "status", "time", "time/reply")
PROOF, PROOF_ACK = "proof", "proof/ack"        # contract.proof
PICKUP = "pickup"                              # contract.pickup

STATUS_EVERY_S = 5.0       # a connected station reports its status this often
STALE_AFTER_S = 30.0       # the hub calls a station silent this long stale (six missed reports)

# The status message (``…/status``, retained), field by field; docs/protocol.md has the same
# table.  The last will carries only ``online`` (false) and ``site``.  A station may add more
# (``outbox_fraction``, ``devices`` …): the hub keeps the whole message as it came.
STATUS_FIELDS = {
    "online": "bool: connected to the broker (false in the last will and when the station stops)",
    "running": "bool: the station program runs (false when it stopped cleanly)",
    "site": "the station's site code",
    "outbox_depth": "int: scans waiting for the hub's acknowledgement",
    "config_version": "the configuration version in use (null before the first one)",
    "clock_offset_ms": "int: hub time minus station time, as last measured (null before)",
    "rtt_ms": "int: round trip of the last clock probe",
    "last_ack_ms": "int: station time of the last acknowledgement (null before)",
    "ts": "int: station wall clock when the status was made, UTC epoch ms",
    "software_version": "the station's scanhub version",
    "epoch": "the station's outbox epoch",
    "max_seq": "int: the highest seq the outbox holds in that epoch (the scans it has made)",
}


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
