"""The output options of the device commands (``scanhub scale|scanner|e1 …``), the same rule
as the hub's: ``--format table|csv|json`` on listings, ``--json`` as the alias of
``--format json``.  Drivers import nothing above them, so this small copy of the rule lives here.
"""
from __future__ import annotations

import csv
import functools
import io
import json

import click

LIST_FORMATS = ("table", "csv", "json")


def list_option(fn):
    """``--format table|csv|json`` and ``--json``; the command gets ``fmt``."""
    @functools.wraps(fn)
    def wrapper(*args, fmt, as_json, **kwargs):
        if as_json and fmt not in ("table", "json"):
            raise click.UsageError("choose one output format: --format or --json")
        return fn(*args, fmt="json" if as_json else fmt, **kwargs)
    wrapper = click.option("--json", "as_json", is_flag=True, help="Same as --format json.")(wrapper)
    return click.option("--format", "fmt", type=click.Choice(LIST_FORMATS), default="table", show_default=True,
                        help="table (aligned text), csv, or json (a list of objects).")(wrapper)


def print_rows(rows: list[dict], fmt: str, columns: list[str]) -> None:
    """``rows`` as aligned text, CSV with a header, or one JSON list."""
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, columns, lineterminator="\r\n", extrasaction="ignore")   # RFC 4180
        w.writeheader()
        w.writerows(rows)
        click.echo(buf.getvalue(), nl=False)
        return
    if not rows:
        click.echo("no rows")
        return
    width = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns[:-1]}
    for r in rows:
        click.echo("  ".join(f"{str(r.get(c, '')):<{width[c]}}" for c in columns[:-1])
                   + ("  " if len(columns) > 1 else "") + str(r.get(columns[-1], "")))
