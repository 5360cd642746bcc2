"""Backing up the hub store while the hub runs, and restoring a backup into a fresh store.

SQLite: ``backup(db, out)`` copies the store with SQLite's online backup API in one step, so the
copy is one consistent snapshot (every transaction committed before it, none after) taken while
the hub goes on committing and acknowledging (WAL: readers never block the writer).  The copy is
written beside ``out``, checked (``PRAGMA quick_check``), synced and renamed into place, so
``out`` is either a whole backup or absent.  A backup is itself a hub store: ``--db BACKUP``
works with every read command (``hub gaps``, ``track`` …).  The store's ``Meta`` gets
``backup_taken_ms`` (hub time just before the snapshot: every scan acknowledged before it is
in the backup) and ``backup_source``.

``restore(backup, db)`` copies a backup into a store that does not exist yet (a restore never
overwrites: the old store may hold scans the backup lacks) and records ``restored_from``.

PostgreSQL: the documented route is ``pg_dump`` / ``pg_restore`` (docs/operations.md, "Backup
and restore"); both functions say so, with the commands, instead of half-doing it.
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from urllib.parse import unquote, urlparse

from contract.clock import iso, now_ms
from hub.errors import HubError
from hub.store.tables import Meta

BACKUP_TAKEN = "backup_taken_ms"
BACKUP_SOURCE = "backup_source"
RESTORED_FROM = "restored_from"


class BackupError(HubError):
    """A backup or restore that cannot be done (the message says what to do instead)."""


def sqlite_path(url: str) -> str | None:
    """The file of a SQLite store URL (a path or ``sqlite:///…``); None for PostgreSQL."""
    if url.startswith(("postgresql://", "postgres://")):
        return None
    return url[len("sqlite:///"):] if url.startswith("sqlite:///") else url


def pg_commands(url: str, file: str) -> dict:
    """The ``pg_dump`` and ``pg_restore`` command lines for a PostgreSQL store (password left out:
    give it with ``PGPASSWORD`` or ``~/.pgpass``)."""
    p = urlparse(url)
    clean = f"postgresql://{unquote(p.username) + '@' if p.username else ''}{p.hostname or '127.0.0.1'}" \
            f"{':' + str(p.port) if p.port else ''}{p.path}"
    fresh = clean.rsplit("/", 1)[0] + "/NEW_DB"
    return {"backup": f"pg_dump --format=custom --file {file} '{clean}'",
            "restore": f"createdb NEW_DB && pg_restore --no-owner --dbname '{fresh}' {file}"}


def _sync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy(src: sqlite3.Connection, dest_path: str) -> sqlite3.Connection:
    """The whole of ``src`` into a new file ``dest_path``, in one step (one snapshot); the copy
    leaves WAL mode so it is one self-contained file."""
    dest = sqlite3.connect(dest_path)
    src.backup(dest, pages=-1)
    dest.execute("PRAGMA journal_mode=DELETE")
    return dest


def _check(db: sqlite3.Connection, what: str) -> None:
    rows = [r[0] for r in db.execute("PRAGMA quick_check").fetchall()]
    if rows != ["ok"]:
        raise BackupError(f"{what} is damaged: {'; '.join(rows[:5])}")


def _set_meta(db: sqlite3.Connection, key: str, value: str) -> None:
    db.execute(f'INSERT OR REPLACE INTO "{Meta._meta.table_name}" ("key", "value") VALUES (?, ?)', (key, value))


def _get_meta(db: sqlite3.Connection, key: str) -> str | None:
    row = db.execute(f'SELECT "value" FROM "{Meta._meta.table_name}" WHERE "key" = ?', (key,)).fetchone()
    return row[0] if row else None


def _finish(tmp: str, out: str) -> None:
    _sync(tmp)
    os.replace(tmp, out)
    _sync(os.path.dirname(os.path.abspath(out)))


def backup(db_url: str, out: str, force: bool = False) -> dict:
    """Back up the SQLite store ``db_url`` into the file ``out`` while the hub may be running.

    Returns ``{"file", "taken_ms", "taken", "bytes", "seconds"}``.  Raises ``BackupError`` for
    PostgreSQL (with the ``pg_dump`` command), a missing store, ``out`` being the store itself,
    or ``out`` existing without ``force``."""
    src_path = sqlite_path(db_url)
    if src_path is None:
        raise BackupError("a PostgreSQL store is backed up with pg_dump, which takes one consistent snapshot "
                          f"while the hub runs: {pg_commands(db_url, out)['backup']} (docs/operations.md, "
                          "\"Backup and restore\")")
    if not os.path.exists(src_path):
        raise BackupError(f"no hub store at {src_path}")
    if os.path.exists(out):
        if os.path.samefile(src_path, out):
            raise BackupError(f"--out {out} is the store itself: name another file")
        if not force:
            raise BackupError(f"{out} exists: name a new file (or --force to replace it)")
    tmp = f"{out}.partial-{os.getpid()}"
    started = time.monotonic()
    src = sqlite3.connect(src_path, timeout=30)
    try:
        if not src.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                           (Meta._meta.table_name,)).fetchone():
            raise BackupError(f"{src_path} is not an initialised hub store")
        taken = now_ms()                       # every scan acknowledged before this is in the copy
        dest = _copy(src, tmp)
    except sqlite3.Error as e:
        _remove(tmp)
        raise BackupError(f"cannot back up {src_path}: {e}") from e
    finally:
        src.close()
    try:
        _check(dest, f"the backup of {src_path}")
        _set_meta(dest, BACKUP_TAKEN, str(taken))
        _set_meta(dest, BACKUP_SOURCE, os.path.abspath(src_path))
        dest.commit()
    except BaseException:
        dest.close()
        _remove(tmp)
        raise
    dest.close()
    _finish(tmp, out)
    return {"file": out, "taken_ms": taken, "taken": iso(taken), "bytes": os.path.getsize(out),
            "seconds": round(time.monotonic() - started, 3)}


def backup_info(path: str) -> dict:
    """``{"file", "taken_ms", "taken", "source"}`` of a backup file (``BackupError`` when it is not
    a readable hub store)."""
    if not os.path.isfile(path):
        raise BackupError(f"no backup at {path}")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            _check(db, path)
            taken = _get_meta(db, BACKUP_TAKEN)
            source = _get_meta(db, BACKUP_SOURCE)
        finally:
            db.close()
    except sqlite3.Error as e:
        raise BackupError(f"{path} is not a hub store backup: {e}") from e
    taken_ms = int(taken) if taken and taken.isdigit() else None
    return {"file": path, "taken_ms": taken_ms, "taken": iso(taken_ms) if taken_ms else None, "source": source}


def restore(path: str, db_url: str) -> dict:
    """Restore the backup ``path`` into the new SQLite store ``db_url`` (which must not exist).

    Returns ``backup_info`` plus ``"db"``.  Raises ``BackupError`` for PostgreSQL (with the
    ``pg_restore`` command), a target that exists, or a backup that is not a whole hub store."""
    target = sqlite_path(db_url)
    if target is None:
        raise BackupError("a PostgreSQL store is restored with pg_restore into a new database: "
                          f"{pg_commands(db_url, path)['restore']}, then run the hub on it "
                          "(docs/operations.md, \"Backup and restore\")")
    info = backup_info(path)
    for p in (target, target + "-wal"):
        if os.path.exists(p):
            raise BackupError(f"{p} exists: a restore goes into a new store. Stop its hub and move the old store "
                              "aside (keep it: it may hold scans the backup does not), or name another --db")
    folder = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(folder):
        raise BackupError(f"folder {folder} does not exist")
    tmp = f"{target}.partial-{os.getpid()}"
    src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        dest = _copy(src, tmp)
    except sqlite3.Error as e:
        _remove(tmp)
        raise BackupError(f"cannot restore {path}: {e}") from e
    finally:
        src.close()
    try:
        _set_meta(dest, RESTORED_FROM, json.dumps({"file": os.path.abspath(path), "taken_ms": info["taken_ms"],
                                                   "restored_ms": now_ms()}))
        dest.commit()
    finally:
        dest.close()
    _finish(tmp, target)
    return dict(info, db=target)


def _remove(path: str) -> None:
    for p in (path, path + "-journal"):
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass
