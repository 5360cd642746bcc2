"""``scanhub hub backup`` and ``scanhub hub restore`` (``hub.store.backup``; docs/operations.md)."""
from __future__ import annotations

import sqlite3

import click

from hub.cli.common import db_option, echo_json


def _counts(path: str) -> dict:
    """Scans and stations in a SQLite hub store file."""
    from hub.network.tables import Station
    from hub.scans.tables import ScanEvent
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        scans = db.execute(f'SELECT COUNT(*) FROM "{ScanEvent._meta.table_name}"').fetchone()[0]
        stations = db.execute(f'SELECT COUNT(*) FROM "{Station._meta.table_name}"').fetchone()[0]
    finally:
        db.close()
    return {"scans": scans, "stations": stations}


@click.command()
@db_option
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="The backup file to write.")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@click.option("--json", "as_json", is_flag=True, help="The result as one JSON object.")
def backup(db, out, force, as_json):
    """Back up the hub store into OUT while the hub runs (SQLite online backup: one consistent
    snapshot; the hub keeps ingesting).  PostgreSQL: use pg_dump (this says how).

    OUT is a hub store itself: `--db OUT` works with the read commands."""
    from hub.store.backup import backup as do_backup
    result = do_backup(db, out, force=force)
    result.update(_counts(out))
    if as_json:
        echo_json(result)
        return
    click.echo(f"backed up {db} to {out}: {result['scans']} scans, {result['stations']} stations, "
               f"{result['bytes']} bytes in {result['seconds']:.1f} s; snapshot taken {result['taken']}")


@click.command()
@click.argument("backup_file", type=click.Path(dir_okay=False))
@db_option
@click.option("--json", "as_json", is_flag=True, help="The result as one JSON object.")
def restore(backup_file, db, as_json):
    """Restore BACKUP_FILE into a new hub store --db (never over an existing one), then start
    the hub on it: stations send again every scan the restored store has not acknowledged.

    Scans the hub acknowledged after the backup was taken are not in it and are not sent again:
    `scanhub hub gaps` lists their sequence numbers (docs/operations.md, "Backup and restore")."""
    from hub.store.backup import restore as do_restore
    result = do_restore(backup_file, db)
    result.update(_counts(result["db"]))
    if as_json:
        echo_json(result)
        return
    taken = result["taken"] or "at an unknown time (not made by `hub backup`)"
    click.echo(f"restored {backup_file} (snapshot taken {taken}) into {db}: "
               f"{result['scans']} scans, {result['stations']} stations")
    click.echo("next: start the hub on it (`scanhub hub run --db ...`); the stations send again what it has not "
               "acknowledged. Scans acknowledged after the snapshot are not in it and are not sent again: "
               "once the stations have reported, `scanhub hub gaps` lists them as missing")
