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
from hub.network.stations import STATES, station_states
from hub.scans import tables as scans
from hub.scans import chain_check
from hub.scans.lag import derivation_lag

log = logging.getLogger("scanhub.hub")


def heartbeat(svc, previous: dict | None = None, stale_after_s: float = STALE_AFTER_S) -> dict:
    """``{"batches", "scans", "scans_since_last", "rejected", "dead_letters", "stations",
    "stations_online", "stations_stale", "derivation_backlog", "derivation_lag_s", "broker_connected",
    "store_error"}`` (``derivation_backlog``: waybills waiting; ``derivation_lag_s``: the age of the
    oldest, ``hub.scans.lag``)."""
    stats = dict(svc.stats)
    out = {"batches": stats["batches"], "scans": stats["scans"],
           "scans_since_last": stats["scans"] - (previous or {}).get("scans", 0),
           "rejected": stats["rejected"], "dead_letters": stats["dead_letters"],
           "stations": None, "stations_online": None, "stations_stale": None, "derivation_backlog": None,
           "derivation_lag_s": None, "broker_connected": svc.connected.is_set(), "store_error": svc.store_error}
    try:
        states = [s["state"] for s in station_states(stale_after_s=stale_after_s)]
        out.update(stations=len(states), stations_online=states.count("online"),
                   stations_stale=states.count("stale"))
        lag = derivation_lag(count_scans=False)
        out.update(derivation_backlog=lag["waybills"], derivation_lag_s=lag["age_s"] or 0)
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
    if h.get("derivation_lag_s"):
        line += f", oldest {h['derivation_lag_s']:.1f} s"
    if not h["broker_connected"]:
        line += "; BROKER NOT CONNECTED"
    if h["store_error"]:
        line += f"; STORE FAILING: {h['store_error']}"
    return line


def store_status(stale_after_s: float = STALE_AFTER_S) -> dict:
    """What ``scanhub hub status`` shows, read from the bound store (no running hub needed):
    ``{"scans", "dead_letters", "stations": {"total", "online", "stale", "offline", "never"},
    "outbox_scans", "derivation_lag": hub.scans.lag.derivation_lag(), "chain": {kind: n}}``;
    ``outbox_scans`` sums the outbox depths the stations last reported, ``chain`` counts the scan
    chain's breaks by kind and its pending scans (``hub.scans.chain_check.totals``)."""
    states = station_states(stale_after_s=stale_after_s)
    counts = {k: sum(1 for s in states if s["state"] == k) for k in STATES}
    return {"scans": scans.ScanEvent.select().count(), "dead_letters": scans.DeadLetter.select().count(),
            "stations": dict(total=len(states), **counts),
            "outbox_scans": sum(s["outbox_depth"] or 0 for s in states if s["state"] != "never"),
            "derivation_lag": derivation_lag(), "chain": chain_check.totals()}
