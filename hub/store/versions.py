"""The store's schema version, and the migrations that bring an older store up to it.

A hub store carries its schema version in ``Meta['schema']``.  ``check_version`` refuses a store
made by an older scanhub (run ``scanhub hub migrate``) or a newer one (upgrade scanhub) before
any command reads or writes it; ``migrate(tables)`` runs the pending steps, each in its own
transaction, and records the new version after each.  A store without the key was made before
the version was recorded everywhere and counts as version 1.

The steps use peewee's schema migrator (``playhouse.migrate``) and are written to be safe on a
store that already has the shape they make: they compare the store with the table models and
change only what differs.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import peewee
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, migrate as run_operations

from hub.store.db import StoreError, database, write_transaction
from hub.store.meta import get_meta, set_meta

#: The schema version this scanhub reads and writes.
SCHEMA_VERSION = 5


class StoreVersionError(StoreError):
    """The store's schema version is not the one this scanhub uses."""


def store_version() -> int:
    """The bound store's schema version (1 when it predates the recorded version)."""
    raw = get_meta("schema")
    if raw is None:
        return 1
    try:
        return int(raw)
    except ValueError:
        raise StoreVersionError(f"the store's schema version {raw!r} is not a number: "
                                "this is not a store scanhub made") from None


def check_version(url: str) -> None:
    """Raise ``StoreVersionError`` unless the bound store (named ``url`` in the message) is at
    ``SCHEMA_VERSION``."""
    have = store_version()
    if have < SCHEMA_VERSION:
        raise StoreVersionError(
            f"{url} has schema version {have}, this scanhub uses {SCHEMA_VERSION}: back it up, then "
            f"run `scanhub hub migrate --db {url}`")
    if have > SCHEMA_VERSION:
        raise StoreVersionError(
            f"{url} has schema version {have}, newer than this scanhub's {SCHEMA_VERSION}: "
            "it was upgraded by a newer scanhub; run that version (older versions cannot read it)")


def stamp() -> None:
    """Record ``SCHEMA_VERSION`` in a store just created with the current tables."""
    set_meta("schema", str(SCHEMA_VERSION))


# ---------------------------------------------------------------- the steps

def _migrator(db):
    return PostgresqlMigrator(db) if isinstance(db, peewee.PostgresqlDatabase) else SqliteMigrator(db)


def _column_lengths(db, table: str) -> dict[str, int | None]:
    """Column name -> declared character length (None when not a sized text column)."""
    if isinstance(db, peewee.PostgresqlDatabase):
        rows = db.execute_sql("SELECT column_name, character_maximum_length FROM information_schema.columns "
                              "WHERE table_schema = current_schema() AND table_name = %s", (table,)).fetchall()
        return {name: length for name, length in rows}
    out = {}
    for row in db.execute_sql(f'PRAGMA table_info("{table}")').fetchall():
        declared = (row[2] or "").upper()
        length = None
        if declared.startswith("VARCHAR(") and declared.endswith(")"):
            length = int(declared[8:-1])
        out[row[1]] = length
    return out


def columns_as_defined(db, tables) -> list[str]:
    """Make every existing table's columns what its model says: missing columns are added and
    text columns take the model's length (the scan columns are sized from ``contract.scan``).
    Returns what was changed, one line each."""
    migrator = _migrator(db)
    ops, done = [], []
    for model in tables:
        table = model._meta.table_name
        if not db.table_exists(table):
            continue
        have = _column_lengths(db, table)
        for field in model._meta.sorted_fields:
            col = field.column_name
            if col not in have:
                if not field.null and field.default is None:
                    raise StoreVersionError(f"cannot add column {table}.{col}: it has no default")
                ops.append(migrator.add_column(table, col, field))
                done.append(f"{table}.{col}: added")
            elif isinstance(field, peewee.CharField) and have[col] != field.max_length:
                # an unbound copy: the migrator writes the column name itself
                copy = peewee.CharField(max_length=field.max_length, null=field.null, default=field.default)
                ops.append(migrator.alter_column_type(table, col, copy))
                done.append(f"{table}.{col}: {have[col]} -> {field.max_length} characters")
    if ops:
        run_operations(*ops)
    return done


def _tables_and_columns(db, tables) -> list[str]:
    """Create the tables the store lacks and make every column as its model defines it; what was
    changed, one line each."""
    missing = [t for t in tables if not db.table_exists(t._meta.table_name)]
    db.create_tables(missing, safe=True)
    return [f"{t._meta.table_name}: created" for t in missing] + columns_as_defined(db, tables)


def _to_2(db, tables, fills) -> list[str]:
    """Version 2: the tables added since version 1 (the basic-data change log among them), and
    every column as its model defines it."""
    return _tables_and_columns(db, tables)


def _to_3(db, tables, fills) -> list[str]:
    """Version 3: sites carry their telephone area code (``site.area_code``, for the IVR)."""
    db.create_tables([t for t in tables if not db.table_exists(t._meta.table_name)], safe=True)
    return columns_as_defined(db, tables)


def _to_4(db, tables, fills) -> list[str]:
    """Version 4: the scan columns of sign types, reason codes, bags, seals and the stations' hash
    chain (added empty: old scans have none), and the tables added with them (reason codes,
    problem resolutions, proof-of-delivery images)."""
    return _tables_and_columns(db, tables)


def _to_5(db, tables, fills) -> list[str]:
    """Version 5: the phone numbers of platform orders and entered waybills in index tables
    (``platform_order_phone``, ``waybill_phone``), filled from the stored orders and waybills, so
    the caller lookup finds a number's parcels with one indexed query."""
    done = _tables_and_columns(db, tables)
    for table in ("platform_order_phone", "waybill_phone"):
        if table not in fills:
            raise StoreVersionError(f"cannot fill {table}: no function given for it")
        done.append(f"{table}: {fills[table]()} rows filled")
    return done


#: from version -> (what the step does, the step).  Step n takes a store from n to n + 1.
MIGRATIONS: dict[int, tuple[str, Callable]] = {
    1: ("new tables (basic-data change log); columns sized as the tables define them", _to_2),
    2: ("sites' telephone area codes (site.area_code)", _to_3),
    3: ("scan columns sign_type, reason, bag, seal and chain; reason, problem and proof tables", _to_4),
    4: ("phone numbers of platform orders and entered waybills indexed for the caller lookup", _to_5),
}


def pending(url: str = "the store") -> list[tuple[int, str]]:
    """The steps the bound store (``url``) still needs, as ``(from_version, description)``;
    ``StoreVersionError`` for a store newer than this scanhub."""
    have = store_version()
    if have > SCHEMA_VERSION:
        check_version(url)
    return [(v, MIGRATIONS[v][0]) for v in range(have, SCHEMA_VERSION)]


def migrate(tables: Sequence[type[peewee.Model]], url: str = "the store",
            fills: Mapping[str, Callable[[], int]] | None = None) -> list[dict]:
    """Bring the bound store to ``SCHEMA_VERSION``; each step and its new version in one
    transaction, so an interrupted upgrade resumes at the step that failed.  ``fills``: table name
    -> the function that fills a table a step adds from data already stored (the packages above
    the store own that knowledge: ``hub.schema.FILLS``); it returns the rows written.  Returns one
    ``{"from", "to", "changes"}`` per step run (empty when the store was current)."""
    db = database.obj
    out = []
    for version, _ in pending(url):
        with write_transaction():
            changes = MIGRATIONS[version][1](db, tables, dict(fills or {}))
            set_meta("schema", str(version + 1))
        out.append({"from": version, "to": version + 1, "changes": changes})
    return out
