"""The hub's store: one peewee ``DatabaseProxy`` bound at run time to SQLite or PostgreSQL.

``open_database("hub.db")`` or ``open_database("sqlite:///path/hub.db")`` opens SQLite in WAL
mode; ``open_database("postgresql://user@host:5432/name")`` opens PostgreSQL.  Every table
(``Base`` subclasses in each subpackage's ``tables.py``) is bound to ``database``; the list of
them, and ``connect`` that binds the proxy and creates missing tables, are in ``hub.schema``.
Here too: the prepared bulk helpers the hot paths use.
"""
from __future__ import annotations

import itertools
import operator
import re
import os
import sqlite3
from collections.abc import Iterable
from urllib.parse import unquote, urlparse

import peewee
import psycopg2
import psycopg2.extras

from hub.errors import HubError

database = peewee.DatabaseProxy()

# An acknowledgement means the scans survive a power cut of the hub host (docs/protocol.md): in
# WAL mode, FULL syncs the WAL at every commit; NORMAL would only sync at checkpoints.
SQLITE_SYNCHRONOUS = "full"

# The store a command uses when neither --db, SCANHUB_DB nor the settings file names one
# (``hub.settings``).
DEFAULT_DB = "hub.db"


class StoreError(HubError):
    """The hub store cannot be opened or is not initialised."""


class Base(peewee.Model):
    """Base of every table in the hub store (bound to ``database``)."""

    class Meta:
        database = database


def open_database(url: str, must_exist: bool = False) -> peewee.Database:
    """A peewee database for ``url`` (a path, ``sqlite:///…`` or ``postgresql://…``).

    With ``must_exist`` a SQLite file that is not there raises ``StoreError`` instead of being
    created empty (commands that only read a store never leave one behind)."""
    if url.startswith(("postgresql://", "postgres://")):
        p = urlparse(url)
        return peewee.PostgresqlDatabase(
            (p.path or "/").lstrip("/") or "postgres",
            user=unquote(p.username) if p.username else None,
            password=unquote(p.password) if p.password else None,
            host=p.hostname or "127.0.0.1",
            port=p.port or 5432,
        )
    path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else url
    if "://" in path:
        raise StoreError(f"unsupported database URL {url!r} (use a path, sqlite:/// or postgresql://)")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise StoreError(f"folder {folder} does not exist")
    if must_exist and path != ":memory:" and not os.path.exists(path):
        raise StoreError(f"{url} is not an initialised hub store (no such file): "
                         f"run `scanhub hub init --db {url}`")
    return peewee.SqliteDatabase(
        path,
        pragmas={"journal_mode": "wal", "synchronous": SQLITE_SYNCHRONOUS, "foreign_keys": 1,
                 "busy_timeout": 10000, "cache_size": -262144, "mmap_size": 268435456},
        check_same_thread=False,
    )


PG_PAGE = 1000
_VALUES_GROUP = re.compile(r"VALUES \((?:%s, )*%s\)")


def executemany(sql: str, rows: list[tuple]) -> int:
    """Run one statement over many rows without the ORM building SQL per row (the hot paths).

    Write ``?`` placeholders; they are rewritten for drivers that use ``%s`` (PostgreSQL).
    Returns the number of rows changed as the driver reports it (-1 when it cannot tell).
    """
    if not rows:
        return 0
    db = database.obj
    if db.param != "?":
        sql = sql.replace("?", db.param)
    cur = db.cursor()
    if isinstance(db, peewee.PostgresqlDatabase):
        # psycopg2's executemany is one round trip a row.  An INSERT becomes one multi-row
        # statement a page (execute_values; the rows of one statement must not repeat a key an
        # ON CONFLICT DO UPDATE names), anything else pages of statements (execute_batch, whose
        # rowcount is the last page's only, so: cannot tell)
        group = _VALUES_GROUP.search(sql)
        if group and sql.lstrip()[:6].upper() == "INSERT":
            sql = sql[:group.start()] + "VALUES %s" + sql[group.end():]
            changed = 0
            for i in range(0, len(rows), PG_PAGE):
                psycopg2.extras.execute_values(cur, sql, rows[i:i + PG_PAGE], page_size=PG_PAGE)
                changed += max(cur.rowcount, 0)
            return changed
        psycopg2.extras.execute_batch(cur, sql, rows, page_size=PG_PAGE)
        return -1
    cur.executemany(sql, rows)
    return cur.rowcount if cur.rowcount is not None else -1


def is_store_failure(exc: BaseException) -> bool:
    """True when ``exc`` means the store itself failed (unreachable, locked, damaged, out of
    space) rather than the data being refused (a constraint or a value that does not fit).
    A store failure must never turn into a rejection of the scans: nothing is acknowledged and
    the stations send them again."""
    data_errors = (peewee.IntegrityError, peewee.DataError, sqlite3.IntegrityError, sqlite3.DataError,
                   psycopg2.IntegrityError, psycopg2.DataError)
    store_errors = (peewee.DatabaseError, sqlite3.DatabaseError, psycopg2.Error)
    return isinstance(exc, store_errors) and not isinstance(exc, data_errors)


def bulk_insert(model, rows: list[dict], ignore_conflicts: bool = False) -> int:
    """Insert ``rows`` (dicts keyed by the model's field names; a missing key is NULL) in one prepared
    statement; with ``ignore_conflicts`` rows whose key exists are skipped (``ON CONFLICT DO NOTHING``).
    Portable SQLite / PostgreSQL, and an order of magnitude faster than ``insert_many`` for
    thousands of rows.  Returns the number of rows inserted (-1 when the driver cannot tell)."""
    if not rows:
        return 0
    first = rows[0].keys()
    columns = list(first)
    if all(r.keys() == first for r in rows):
        get = operator.itemgetter(*columns)
        values = [get(r) if len(columns) > 1 else (get(r),) for r in rows]
    else:
        columns = list(dict.fromkeys(k for r in rows for k in r))  # every key, in first-seen order
        values = [tuple(r.get(c) for c in columns) for r in rows]
    cols = ", ".join(f'"{model._meta.fields[c].column_name if c in model._meta.fields else c}"' for c in columns)
    sql = (f'INSERT INTO "{model._meta.table_name}" ({cols}) VALUES ({", ".join("?" for _ in columns)})'
           + (" ON CONFLICT DO NOTHING" if ignore_conflicts else ""))
    return executemany(sql, values)


def bulk_upsert(model, rows: list[dict], key: str, update: Iterable[str] | None = None) -> int:
    """``bulk_insert`` where a row whose ``key`` exists updates the columns ``update`` (every
    column but the key when None) instead: ``INSERT … ON CONFLICT (key) DO UPDATE``, one prepared
    statement on SQLite and PostgreSQL.  ``rows`` must not repeat a key (PostgreSQL refuses that
    in one statement); all rows have the same keys."""
    if not rows:
        return 0
    columns = list(rows[0])
    update = [c for c in columns if c != key] if update is None else list(update)
    name = lambda c: f'"{model._meta.fields[c].column_name if c in model._meta.fields else c}"'  # noqa: E731
    sql = (f'INSERT INTO "{model._meta.table_name}" ({", ".join(map(name, columns))}) '
           f'VALUES ({", ".join("?" for _ in columns)}) ON CONFLICT ({name(key)}) DO UPDATE SET '
           + ", ".join(f"{name(c)} = excluded.{name(c)}" for c in update))
    get = operator.itemgetter(*columns)
    return executemany(sql, [get(r) if len(columns) > 1 else (get(r),) for r in rows])


def bulk_insert_all(model, rows: Iterable[dict], ignore_conflicts: bool = False, chunk: int = 5000) -> int:
    """``bulk_insert`` of any number of ``rows`` (an iterator is read ``chunk`` at a time, never
    held whole: a migration's millions); the rows inserted (-1 counts as none)."""
    it, written = iter(rows), 0
    while part := list(itertools.islice(it, chunk)):
        written += max(0, bulk_insert(model, part, ignore_conflicts))
    return written


def delete_where_in(model, column: str, values: list) -> None:
    """``DELETE FROM model WHERE column IN (values)``, prepared, in chunks (hot paths)."""
    db = database.obj
    for i in range(0, len(values), 500):
        chunk = values[i:i + 500]
        db.execute_sql(f'DELETE FROM "{model._meta.table_name}" WHERE "{column}" IN '
                       f'({", ".join(db.param for _ in chunk)})', chunk)


def rows_where_in(sql: str, values, chunk: int = 500, params: tuple = ()) -> list[tuple]:
    """Run ``sql`` (a prepared statement whose ``{in}`` is replaced by a list of placeholders) once
    per ``chunk`` of ``values`` and return every row a SELECT gives: the set-based reads and
    updates of the hot paths, without the ORM building SQL per value.  ``params`` follow the values (placeholders after ``{in}``)."""
    values = list(values)
    db = database.obj
    if db.param != "?":
        sql = sql.replace("?", db.param)
    out: list[tuple] = []
    for i in range(0, len(values), chunk):
        part = values[i:i + chunk]
        cur = db.execute_sql(sql.replace("{in}", ", ".join(db.param for _ in part)), tuple(part) + tuple(params))
        if cur.description is not None:           # a SELECT (an UPDATE or DELETE returns no rows)
            out += cur.fetchall()
    return out


def write_transaction():
    """A transaction that takes the write lock at once (SQLite ``BEGIN IMMEDIATE``): one that reads
    first and writes later would otherwise fail with "database is locked" when another process
    wrote in between.  PostgreSQL needs nothing special."""
    if isinstance(database.obj, peewee.SqliteDatabase):
        return database.atomic(lock_type="IMMEDIATE")
    return database.atomic()
