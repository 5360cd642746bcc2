"""The derivation pipeline: the steps that follow a commit, called in order from one place.

For the waybills of a committed batch, ``derive`` runs, inside the caller's transaction:

1. **parcels** — parcel state from all of a waybill's scans (``hub.scans.parcels``);
2. **facts** — scan facts and the parcel's business summary, behind the monitoring reports
   (``hub.business.facts``);
3. **fees** — fees booked to the ledger as the scans now say (``hub.business.fees``);
4. **blocks** — prepaid sites whose balance changed are blocked or unblocked
   (``hub.business.accounts.update_blocks``), which reaches the stations with their configuration;
5. **notices** — SMS notices the scans call for, queued once per waybill (``hub.sms.notices``);
6. **pickups** — receive scans that name a pickup task link it to their waybill and close it
   (``hub.business.pickup.refresh``).

The batch's live events are read once (``hub.scans.events``) and shared by steps 1-3, basic
data (``Context``) by steps 2-3.  Every step is a pure function of all of a waybill's scans, so the result is the same whatever the
order of arrival and however late; a step that fails rolls the whole transaction back.

The hub runs the pipeline either inside each ingest transaction (``--derive inline``) or, by
default, in a background process (``hub.ingest.background``) that takes the waybills the ingest
marked dirty in the same transaction as their scans (``derive_dirty``).  docs/architecture.md
says how to add a step.
"""
from __future__ import annotations

from hub.business import accounts, facts, fees, pickup
from hub.business.context import load_context
from hub.scans import parcels
from hub.sms import notices
from hub.scans.events import load_events
from hub.scans import tables as scan_tables
from hub.scans.commit import commit_scans
from hub.store.db import database, executemany, write_transaction
from hub.waybills.records import commit_records, load_entries

#: The steps, in the order ``derive`` calls them (for docs and tests; ``derive`` is the code).
STEPS = ("parcels", "facts", "fees", "blocks", "notices", "pickups")


def derive(waybills: set[str]) -> None:
    """Run every step for ``waybills`` (inside the caller's transaction)."""
    if not waybills:
        return
    events = load_events(waybills)            # read once, for every step
    entries = load_entries(waybills)          # the entered waybills among them (hub.waybills)
    parcels.refresh(waybills, events)
    ctx = load_context()
    facts.refresh(waybills, ctx, events, entries)
    touched = fees.refresh(waybills, ctx, events, entries)
    accounts.update_blocks(fees.sites_of(touched))
    notices.refresh(waybills, events)
    pickup.refresh(waybills, events)


_derive = derive


def commit(scans: list[dict], deletions: list[dict] = (), received_ms: int | None = None,
           derive: bool = True, rows: list | None = None) -> tuple[list[dict], list[tuple[dict, str]]]:
    """Commit a batch (``hub.scans.commit.commit_scans``; ``rows``: its ``validate_scans`` when
    done already) and derive its waybills in the same transaction, or with ``derive=False`` mark
    them dirty for the background derivation.  Returns ``(committed, rejected)``."""
    return commit_scans(scans, deletions, received_ms, derive=_derive if derive else None, rows=rows)


def commit_waybills(records: list[dict], received_ms: int | None = None, derive: bool = True,
                    topic: str = "waybill", dead_letters: bool = True) -> tuple[list[dict], list[tuple[dict, str]]]:
    """Commit waybill records (``hub.waybills.records.commit_records``) and derive their waybills
    in the same transaction, or mark them dirty.  Returns ``(committed, rejected)``."""
    return commit_records(records, received_ms, derive=_derive if derive else None, topic=topic,
                          dead_letters=dead_letters)


def derive_dirty(limit: int = 500) -> int:
    """Derive up to ``limit`` dirty waybills, oldest first, in one transaction; returns how many.

    A waybill scanned again meanwhile keeps its mark (its ``mark`` moved on) and comes back."""
    db = database.obj
    with write_transaction():
        rows = db.execute_sql(f'SELECT "waybill", "mark" FROM "dirtywaybill" ORDER BY "since_ms" '
                              f'LIMIT {int(limit)}').fetchall()
        if not rows:
            return 0
        derive({wb for wb, _ in rows})
        executemany('DELETE FROM "dirtywaybill" WHERE "waybill" = ? AND "mark" = ?', rows)
    return len(rows)


def dirty_count() -> int:
    """Waybills waiting for the background derivation."""
    return scan_tables.DirtyWaybill.select().count()
