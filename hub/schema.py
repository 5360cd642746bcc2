"""Every table of the hub store, listed once, and ``connect`` that binds the store to a URL.

Each subpackage owns its tables (its ``tables.py``); this module only lists them, bottom layer
first.  ``connect(url, create=True)`` makes missing tables (idempotent: tables added by a newer
version appear in an existing store).
"""
from __future__ import annotations

import peewee

from hub.business import tables as business
from hub.fleet import tables as fleet
from hub.network import tables as network
from hub.scans import tables as scans
from hub.store import tables as store
from hub.store.db import StoreError, database, open_database

TABLES: tuple[type[peewee.Model], ...] = (*store.TABLES, *network.TABLES, *scans.TABLES, *business.TABLES,
                                          *fleet.TABLES)


def connect(url: str, create: bool = False) -> peewee.Database:
    """Bind ``hub.store.db.database`` to ``url``; with ``create`` make missing tables.

    Raises ``StoreError`` when the store cannot be opened, or is not an initialised hub store
    and ``create`` is false."""
    db = open_database(url)
    database.initialize(db)
    try:
        db.connect(reuse_if_open=True)
    except peewee.OperationalError as e:
        raise StoreError(f"cannot open the hub store {url}: {e}") from e
    if not create and not db.table_exists("meta"):
        raise StoreError(f"{url} is not an initialised hub store: run `scanhub hub init --db {url}`")
    db.create_tables(TABLES, safe=True)
    return db
