"""Every table of the hub store, listed once, and ``connect`` that binds the store to a URL.

Each subpackage owns its tables (its ``tables.py``); this module only lists them, bottom layer
first.  ``connect(url, create=True)`` makes missing tables (idempotent: tables added by a newer
version appear in an existing store).  A store at another schema version than this scanhub's is
refused (``hub.store.versions``); ``scanhub hub migrate`` upgrades it.
"""
from __future__ import annotations

import os

import peewee

from hub.acd import tables as acd
from hub.access import tables as access
from hub.business import tables as business
from hub.chat import tables as chat
from hub.crm import tables as crm
from hub.crm.workorders import tables as workorders
from hub.fleet import tables as fleet
from hub.ivr import tables as ivr
from hub.kb import tables as kb
from hub.mail import tables as mail
from hub.network import tables as network
from hub.outbound import tables as outbound
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
                                          *mail.TABLES, *workorders.TABLES,
                                          *outbound.TABLES, *chat.TABLES)


def _order_phones() -> int:
    from hub.business.orders import index_phones
    return index_phones()


def _waybill_phones() -> int:
    from hub.waybills.records import index_phones
    return index_phones()


#: Tables a migration adds and fills from what the store holds (``hub.store.versions.migrate``).
FILLS = {"platform_order_phone": _order_phones, "waybill_phone": _waybill_phones}


def _identity(url: str):
    """What makes two URLs the same store: the URL and, for a SQLite file, the file itself (a file
    removed and made again under the same name is another store)."""
    path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else url
    if "://" in path or path == ":memory:":
        return (url, None)
    try:
        st = os.stat(path)
    except OSError:
        return (url, None)
    return (url, (st.st_dev, st.st_ino))


def _bound(url: str) -> peewee.Database | None:
    """The database already bound to ``url`` and open, else None."""
    db = database.obj
    key = getattr(db, "_scanhub_key", None)
    if db is None or key is None or key[1] is None or key != _identity(url):
        return None
    return db


def connect(url: str, create: bool = False, check: bool = True) -> peewee.Database:
    """Bind ``hub.store.db.database`` to ``url``; with ``create`` make a new store (or missing
    tables in an existing one).

    Raises ``StoreError`` when the store cannot be opened, is not an initialised hub store and
    ``create`` is false (a SQLite file is then never created), or, unless ``check`` is false
    (``scanhub hub migrate``), is at another schema version than this scanhub's."""
    db = _bound(url)
    if db is None:              # a second connect to the same store (a command run inside a running hub,
        db = open_database(url, must_exist=not create)      # as the tests do) keeps the bound one:
        database.initialize(db)                 # rebinding would pull it from under an open transaction
    try:
        db.connect(reuse_if_open=True)
    except peewee.OperationalError as e:
        raise StoreError(f"cannot open the hub store {url}: {e}") from e
    db._scanhub_key = _identity(url)
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
