"""What the hub knows of each station, and whether it is still there.

A station says whether it is online (its status, retained, every ``STATUS_EVERY_S`` seconds
while connected; the broker publishes its last will ``online: false`` when the connection
drops).  What it said is not enough: a broker restarted with the hub (the managed broker keeps
nothing), a link cut where the broker has not noticed yet, or a hub that was down when the will
came, all leave a station "online" in the store that nobody has heard from.  So its state is
worked out when it is read, from when the hub last *heard* from it (``last_seen_ms``: a status
the station sent, or a batch of its scans):

* ``online``  — it says so and was heard within ``stale_after_s``;
* ``stale``   — it says online but has not been heard for longer (gone without a last will);
* ``offline`` — it said offline (stopped, or its last will);
* ``never``   — in the network file, never heard from.

Worked out on reading, not by a timer in the hub: a stopped hub cannot mark anything, and
``scanhub hub stations`` on a store whose hub is down must still tell the truth.
"""
from __future__ import annotations

import json

from contract.clock import iso, now_ms
from contract.protocol import STALE_AFTER_S
from hub.network.tables import Station

STATES = ("online", "stale", "offline", "never")


def state_of(says_online: bool, last_heard_ms: int | None, now: int, stale_after_s: float = STALE_AFTER_S) -> str:
    """One of ``STATES`` (see the module docstring)."""
    if last_heard_ms is None:
        return "never"
    if not says_online:
        return "offline"
    return "stale" if now - last_heard_ms > stale_after_s * 1000 else "online"


def station_states(now: int | None = None, stale_after_s: float = STALE_AFTER_S) -> list[dict]:
    """Every station with its state, ordered by id: ``{"station", "site", "state", "online",
    "last_heard", "last_heard_ms", "heard_s_ago", "software_version", "outbox_depth", "last_ack",
    "config_version", "clock_offset_ms", "rtt_ms", "epoch", "max_seq", "outbox_fraction"}`` (``online`` is
    ``state == "online"``; times are UTC, ``heard_s_ago`` whole seconds)."""
    now = now_ms() if now is None else now
    rows = []
    for s in Station.select().order_by(Station.id):
        status = _status(s.status_json)
        state = state_of(bool(s.online), s.last_seen_ms, now, stale_after_s)
        rows.append({"station": s.id, "site": s.site, "state": state, "online": state == "online",
                     "last_heard": iso(s.last_seen_ms) if s.last_seen_ms else None,
                     "last_heard_ms": s.last_seen_ms,
                     "heard_s_ago": max(0, (now - s.last_seen_ms) // 1000) if s.last_seen_ms else None,
                     "software_version": _text(status.get("software_version")),
                     "outbox_depth": s.outbox_depth,
                     "last_ack": iso(s.last_ack_ms) if s.last_ack_ms else None,
                     "config_version": s.config_version, "clock_offset_ms": s.clock_offset_ms,
                     "rtt_ms": s.clock_rtt_ms, "epoch": _text(status.get("epoch")),
                     "max_seq": status.get("max_seq") if type(status.get("max_seq")) is int else None,
                     "outbox_fraction": _fraction(status.get("outbox_fraction"))})
    return rows


def reported_seqs() -> dict[tuple[str, str], int]:
    """``{(station, epoch): max_seq}`` as each station last reported it in its status: the scans
    it holds, whether or not the hub has them (``hub.scans.gaps``)."""
    out = {}
    for sid, raw in Station.select(Station.id, Station.status_json).tuples():
        st = _status(raw)
        epoch, top = st.get("epoch"), st.get("max_seq")
        if isinstance(epoch, str) and epoch and type(top) is int and top > 0:
            out[(sid, epoch)] = top
    return out


def _status(raw: str | None) -> dict:
    try:
        st = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return st if isinstance(st, dict) else {}


def _text(v) -> str | None:
    return v[:80] if isinstance(v, str) else None


def _fraction(v) -> float | None:
    """How full the station said its outbox is (0-1 of its ``max_pending``), when it said."""
    return float(v) if type(v) in (int, float) and 0 <= v <= 1e6 else None
