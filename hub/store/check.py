"""Checking the hub store: is it readable and whole?  (``scanhub hub check``, docs/operations.md)."""
from __future__ import annotations

import peewee

from hub.store.db import database, is_store_failure

RECOVER_SQLITE = (
    "stop the hub (stations keep every scan it has not acknowledged and send it again); keep a copy "
    "of the damaged file; recover what it holds with `sqlite3 DAMAGED.db .recover | sqlite3 NEW.db`; "
    "check NEW.db with `scanhub hub check --db NEW.db` and start the hub on it")
RECOVER_PG = ("the database refused a query: check the server's log and its disks, "
              "then run `scanhub hub check` again before starting the hub")


def check_store(tables) -> dict:
    """``{"ok": bool, "problems": [...], "advice": str}`` for the bound store: SQLite's
    ``PRAGMA integrity_check`` (every page and index), then one read of every table."""
    db = database.obj
    problems: list[str] = []
    sqlite = isinstance(db, peewee.SqliteDatabase)
    try:
        if sqlite:
            rows = [r[0] for r in db.execute_sql("PRAGMA integrity_check").fetchall()]
            if rows != ["ok"]:
                problems += rows[:20]
        for t in tables:
            try:
                t.select().count()
            except Exception as e:          # noqa: BLE001 - each table's failure is a finding
                if not is_store_failure(e):
                    raise
                problems.append(f"table {t._meta.table_name}: {e}")
    except Exception as e:                  # noqa: BLE001
        if not is_store_failure(e):
            raise
        problems.append(str(e))
    return {"ok": not problems, "problems": problems, "advice": "" if not problems else
            (RECOVER_SQLITE if sqlite else RECOVER_PG)}
