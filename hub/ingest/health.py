"""The running hub's heartbeat: what ``scanhub hub run`` logs at a steady interval.

``heartbeat(svc)`` reads the service's counters and the store: batches and scans committed
since the hub started (and since the last heartbeat), stations online (``hub.network.stations``:
heard within the stale limit), the derivation backlog (waybills waiting for the background
derivation), whether the broker connection is up and the last store failure.  A store that
cannot be read makes those fields null; it never stops the hub.
"""
from __future__ import annotations

import logging

from contract.protocol import STALE_AFTER_S
from hub.ingest.pipeline import dirty_count
from hub.network.stations import station_states

log = logging.getLogger("scanhub.hub")


def heartbeat(svc, previous: dict | None = None, stale_after_s: float = STALE_AFTER_S) -> dict:
    """``{"batches", "scans", "scans_since_last", "rejected", "dead_letters", "stations",
    "stations_online", "stations_stale", "derivation_backlog", "broker_connected", "store_error"}``."""
    stats = dict(svc.stats)
    out = {"batches": stats["batches"], "scans": stats["scans"],
           "scans_since_last": stats["scans"] - (previous or {}).get("scans", 0),
           "rejected": stats["rejected"], "dead_letters": stats["dead_letters"],
           "stations": None, "stations_online": None, "stations_stale": None, "derivation_backlog": None,
           "broker_connected": svc.connected.is_set(), "store_error": svc.store_error}
    try:
        states = [s["state"] for s in station_states(stale_after_s=stale_after_s)]
        out.update(stations=len(states), stations_online=states.count("online"),
                   stations_stale=states.count("stale"))
        out["derivation_backlog"] = dirty_count() if svc.derive == "background" else 0
    except Exception as e:                   # a broken store is reported, never fatal here
        log.warning("heartbeat: cannot read the store: %s", e)
    return out


def heartbeat_line(h: dict, interval_s: float) -> str:
    """The heartbeat in words (one line)."""
    def n(v):
        return "?" if v is None else v
    line = (f"heartbeat: {h['batches']} batches, {h['scans']} scans (+{h['scans_since_last']} in "
            f"{interval_s:g} s), {h['rejected']} rejected; stations {n(h['stations_online'])}/{n(h['stations'])} "
            f"online, {n(h['stations_stale'])} stale; derivation backlog {n(h['derivation_backlog'])} waybills")
    if not h["broker_connected"]:
        line += "; BROKER NOT CONNECTED"
    if h["store_error"]:
        line += f"; STORE FAILING: {h['store_error']}"
    return line
