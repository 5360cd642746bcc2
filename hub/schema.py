"""Every table of the hub store, listed once, and ``connect`` that binds the store to a URL.

Each subpackage owns its tables (its ``tables.py``); this module only lists them, bottom layer
first.  ``connect(url, create=True)`` makes missing tables (idempotent: tables added by a newer
version appear in an existing store).  A store at another schema version than this scanhub's is
refused (``hub.store.versions``); ``scanhub hub migrate`` upgrades it.
"""
from __future__ import annotations

import peewee

from hub.acd import tables as acd
from hub.access import tables as access
from hub.business import tables as business
from hub.crm import tables as crm
from hub.crm.workorders import tables as workorders
from hub.fleet import tables as fleet
from hub.ivr import tables as ivr
from hub.kb import tables as kb
from hub.mail import tables as mail
from hub.network import tables as network
from hub.scans import tables as scans
from hub.sms import tables as sms
from hub.store import tables as store
from hub.store.db import StoreError, database, open_database
from hub.store.versions import check_version, stamp
from hub.telephony import tables as telephony
from hub.waybills import tables as waybills

TABLES: tuple[type[peewee.Model], ...] = (*store.TABLES, *network.TABLES, *network.LOG_TABLES, *scans.TABLES,
                                          *business.TABLES, *fleet.TABLES, *waybills.TABLES, *acd.TABLES,
                                          *ivr.TABLES, *access.TABLES,
                                          *telephony.TABLES, *kb.TABLES, *sms.TABLES,
                                          *crm.TABLES,
                                          *mail.TABLES, *workorders.TABLES)


def connect(url: str, create: bool = False, check: bool = True) -> peewee.Database:
    """Bind ``hub.store.db.database`` to ``url``; with ``create`` make a new store (or missing
    tables in an existing one).

    Raises ``StoreError`` when the store cannot be opened, is not an initialised hub store and
    ``create`` is false (a SQLite file is then never created), or, unless ``check`` is false
    (``scanhub hub migrate``), is at another schema version than this scanhub's."""
    db = open_database(url, must_exist=not create)
    database.initialize(db)
    try:
        db.connect(reuse_if_open=True)
    except peewee.OperationalError as e:
        raise StoreError(f"cannot open the hub store {url}: {e}") from e
    if not create and not db.table_exists("meta"):
        raise StoreError(f"{url} is not an initialised hub store: run `scanhub hub init --db {url}`")
    if not db.table_exists("meta"):
        with db.atomic():
            db.create_tables(TABLES, safe=True)
            stamp()
        return db
    if check:
        check_version(url)
        db.create_tables(TABLES, safe=True)
    return db
