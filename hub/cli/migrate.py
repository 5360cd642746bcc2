"""``scanhub hub migrate``: bring a store made by an older scanhub up to this one's schema."""
from __future__ import annotations

import click

from hub.cli.common import db_option, echo_json, json_option


@click.command()
@db_option
@click.option("--dry-run", is_flag=True, help="Say which steps would run; change nothing.")
@json_option
def migrate(db, dry_run, fmt):
    """Upgrade the hub store to the schema version of this scanhub.

    Every other command refuses a store at another schema version and names this command.
    Each step runs in its own transaction and records the version it reached, so an interrupted
    upgrade picks up where it stopped; running it on a current store changes nothing.  Stop the
    hub and back the store up first.  A store made by a newer scanhub is refused: it cannot be
    downgraded.

    \b
    Examples:
      scanhub hub migrate --db hub.db --dry-run
      scanhub hub migrate --db postgresql://scanhub@127.0.0.1/scanhub
    """
    from hub.schema import FILLS, TABLES, connect
    from hub.store import versions
    as_json = fmt == "json"
    connect(db, check=False)
    have = versions.store_version()
    if dry_run:
        steps = [{"from": v, "to": v + 1, "does": what} for v, what in versions.pending(db)]
        if as_json:
            echo_json({"db": db, "schema": have, "target": versions.SCHEMA_VERSION, "steps": steps})
        elif not steps:
            click.echo(f"{db}: schema {have}, current; nothing to do")
        else:
            for s in steps:
                click.echo(f"would migrate {db}: schema {s['from']} -> {s['to']}: {s['does']}")
        return
    steps = versions.migrate(TABLES, db, fills=FILLS)
    if as_json:
        echo_json({"db": db, "schema": versions.store_version(), "steps": steps})
        return
    if not steps:
        click.echo(f"{db}: schema {have}, current; nothing to do")
    for s in steps:
        click.echo(f"{db}: schema {s['from']} -> {s['to']}")
        for change in s["changes"]:
            click.echo(f"  {change}")
