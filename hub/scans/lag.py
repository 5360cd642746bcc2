"""Derivation lag: how far derived state (parcels, monitoring facts, fees) is behind the scans.

The ingest commits a batch and marks its waybills dirty in the same transaction
(``hub.scans.commit``); the background derivation clears a mark once it has derived the waybill
as of that mark (``hub.ingest.pipeline.derive_dirty``).  So the dirty marks *are* the lag, read
from the store: correct whichever process asks (``hub status`` on a stopped hub, the metrics
endpoint in the hub's process, the derivation in its own), and zero with ``--derive inline``.

* ``waybills`` — waybills whose derived state waits for the derivation;
* ``scans`` — scans committed since their waybill was marked, i.e. not yet in derived state
  (``None`` when not counted: it reads every such scan, which costs on a very large backlog);
* ``oldest_ms`` / ``age_s`` — when the oldest mark was made (hub time) and how long ago: how
  stale the most stale tracking answer or report row can be.
"""
from __future__ import annotations

from contract.clock import now_ms
from hub.store.db import database

_SUMMARY = 'SELECT COUNT(*), MIN("since_ms") FROM "dirtywaybill"'
_SCANS = ('SELECT COUNT(*) FROM "dirtywaybill" AS "d" JOIN "scanevent" AS "s" ON "s"."waybill" = "d"."waybill" '
          'WHERE "s"."received_ms" >= "d"."since_ms"')


def derivation_lag(now: int | None = None, count_scans: bool = True) -> dict:
    """``{"waybills", "scans", "oldest_ms", "age_s"}`` (see the module docstring); ``oldest_ms`` and
    ``age_s`` are ``None`` and the counts 0 when derived state is complete."""
    now = now_ms() if now is None else now
    db = database.obj
    waybills, oldest = db.execute_sql(_SUMMARY).fetchone()
    scans = 0
    if waybills and count_scans:
        scans = db.execute_sql(_SCANS).fetchone()[0]
    elif waybills:
        scans = None
    return {"waybills": int(waybills or 0), "scans": scans, "oldest_ms": oldest,
            "age_s": None if oldest is None else round(max(0, now - oldest) / 1000, 3)}


_BY_STATION = ('SELECT "s"."station", COUNT(*) FROM "dirtywaybill" AS "d" JOIN "scanevent" AS "s" '
               'ON "s"."waybill" = "d"."waybill" WHERE "s"."received_ms" >= "d"."since_ms" GROUP BY "s"."station"')


def underived_by_station() -> dict[str, int]:
    """``{station: scans}``: each station's committed scans not yet in derived state (stations
    with none are left out)."""
    return {st: int(n) for st, n in database.obj.execute_sql(_BY_STATION).fetchall()}


def lag_text(lag: dict) -> str:
    """The lag in words, for people: ``up to date`` or ``12 waybills (40 scans), oldest 3.2 s``."""
    if not lag["waybills"]:
        return "up to date"
    scans = "" if lag["scans"] is None else f" ({lag['scans']} scans)"
    return f"{lag['waybills']} waybills{scans} behind, oldest {lag['age_s']:.1f} s"
