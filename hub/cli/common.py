"""What every hub command shares: the ``--db`` option, opening the store, the output helpers.

Errors are not caught here: a ``HubError`` (or any package's root error) reaching ``cli.main``
becomes one clear line there; anything else is a bug and shows its traceback.
"""
from __future__ import annotations

import functools
import json

import click

from hub.cli.render import FORMATS
from hub.schema import connect


def setting(name: str):
    """A click default: the value of setting ``name`` (env, then scanhub.toml; hub.settings)."""
    def default():
        from hub.settings import value
        return value(name)
    return default


db_option = click.option("--db", default=setting("db"), show_default="SCANHUB_DB, else db in scanhub.toml, else hub.db",
                         help="Hub store: a SQLite path or postgresql://user@host/db.")


def open_store(db: str, create: bool = False):
    """Bind the hub store at ``db`` (``StoreError`` when it cannot be opened)."""
    return connect(db, create=create)


def echo_json(obj) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, indent=None, default=str))


def table(title: str, columns: list[str], rows: list[list]) -> None:
    from rich.console import Console
    from rich.table import Table
    t = Table(title=title)
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*["" if v is None else str(v) for v in r])
    Console().print(t)


format_option = click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
                             help="table (terminal), csv, json, or html (printable, fixed columns).")


def with_store(fn):
    """Open the store named by the command's ``--db`` before running it."""
    @functools.wraps(fn)
    def wrapper(*args, db, **kwargs):
        open_store(db)
        return fn(*args, **kwargs)
    return wrapper


def parse_when(value):
    from hub.business.localtime import parse_time
    return None if value is None else parse_time(value)


def human(rows: list[dict]) -> list[dict]:
    """Rows for people: ``*_ms`` times as local time, cents as yuan."""
    from hub.business.accounts import format_cents
    from hub.business.localtime import format_ms
    out = []
    for r in rows:
        h = {}
        for k, v in r.items():
            if k.endswith("_ms") and isinstance(v, int):
                h[k[:-3]] = format_ms(v)
            elif k.endswith("_cents") and isinstance(v, int):
                h[k[:-6]] = format_cents(v)
            else:
                h[k] = v
        out.append(h)
    return out


def emit(rows: list[dict], fmt: str, title: str) -> None:
    from hub.cli.render import render
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1, default=str))
    else:
        click.echo(render(human(rows), fmt, title), nl=False)


def fmt_flags(as_json, as_csv, as_html, fmt="table"):
    if sum(bool(x) for x in (as_json, as_csv, as_html)) > 1:
        raise click.UsageError("choose one of --json, --csv, --html")
    return "json" if as_json else "csv" if as_csv else "html" if as_html else fmt
