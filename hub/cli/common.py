"""What every hub command shares: the ``--db`` option, opening the store, the output helpers.

Errors are not caught here: a ``HubError`` (or any package's root error) reaching ``cli.main``
becomes one clear line there; anything else is a bug and shows its traceback.

The output rule, the same for every command (docs/reports.md):

- ``--format table|csv|json|html|pdf`` on commands that list rows (``format_option``);
  ``--format text|json`` on commands that change something (``json_option``); ``--json`` is the
  alias of ``--format json`` everywhere.
- Times print in the network's zone (the network file's ``timezone:``), labelled
  (``2024-06-01 08:00:00 UTC+08:00``); ``--utc`` prints (and reads) them in UTC.
- A command that did part of its work and failed the rest exits with status 1.
"""
from __future__ import annotations

import functools
import json
import sys

import click

from hub.cli.output import _UTC_KEY, format_option, json_option, output_option, utc_option  # noqa: F401
from hub.schema import connect


def setting(name: str):
    """A click default: the value of setting ``name`` (env, then scanhub.toml; hub.settings)."""
    def default():
        from hub.settings import value
        return value(name)
    return default


db_option = click.option("--db", default=setting("db"), show_default="SCANHUB_DB, else db in scanhub.toml, else hub.db",
                         help="Hub store: a SQLite path or postgresql://user@host/db.")


def apply_zone(utc: bool | None = None) -> None:
    """Print times in UTC (``--utc``) or in the bound store's network zone from now on."""
    from hub.business.localtime import network_offset, set_display_offset
    ctx = click.get_current_context(silent=True)
    if utc is None:
        utc = bool(ctx and ctx.meta.get(_UTC_KEY))
    set_display_offset(0 if utc else network_offset())
    if ctx is not None:                 # for this command only
        ctx.call_on_close(lambda: set_display_offset(None))


def open_store(db: str, create: bool = False):
    """Bind the hub store at ``db`` (``StoreError`` when it cannot be opened)."""
    store = connect(db, create=create)
    apply_zone()
    return store


def echo_json(obj) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, indent=None, default=str))


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


def window_text(since_ms: int | None, until_ms: int | None) -> str:
    """A report window for people, in the display zone."""
    from hub.business.localtime import format_ms
    if since_ms is None and until_ms is None:
        return "all time"
    if until_ms is None:
        return f"from {format_ms(since_ms)}"
    if since_ms is None:
        return f"until {format_ms(until_ms)}"
    return f"{format_ms(since_ms)} to {format_ms(until_ms)}"


def human(rows: list[dict]) -> list[dict]:
    """Rows for people: ``*_ms`` times as labelled local time, cents as yuan, rates (ratios
    ``*_rate``) as percentages."""
    from hub.business.accounts import format_cents
    from hub.business.localtime import format_ms
    out = []
    for r in rows:
        h = {}
        for k, v in r.items():
            if k.endswith("_ms") and isinstance(v, int) and not k.endswith(("offset_ms", "rtt_ms")):
                h[k[:-3]] = format_ms(v)
            elif k.endswith("_cents") and isinstance(v, int):
                h[k[:-6]] = format_cents(v)
            elif k.endswith("_rate") and isinstance(v, (int, float)) and not isinstance(v, bool):
                h[k] = f"{v * 100:.2f}%"
            else:
                h[k] = v
        out.append(h)
    return out


def _human_name(col: str) -> str:
    if col.endswith("_ms") and not col.endswith(("offset_ms", "rtt_ms")):
        return col[:-3]
    if col.endswith("_cents"):
        return col[:-6]
    return col


def emit(rows: list[dict], fmt: str, title: str, *, columns: list[str] | None = None,
         window: str = "all time", chart=None, totals: bool = True, more_totals: dict | None = None) -> None:
    """Print library ``rows`` in ``fmt``: JSON as they are, everything else for people.
    ``columns`` (library names) picks and orders the columns; html and pdf get the header
    (network, report, window, printed at, zone), totals (unless the rows overlap, so that a
    sum would count things twice: ``totals=False``; ``more_totals``: totals that are no sums, as
    an overall rate) and ``chart``."""
    from hub.cli.render import render
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1, default=str))
        return
    if columns:
        rows_for = [{c: r.get(c) for c in columns} for r in rows]
    else:
        rows_for = rows
    hrows = human(rows_for)
    cols = [_human_name(c) for c in columns] if columns else None
    doc = None
    if fmt in ("html", "pdf"):
        doc = printable(hrows, title, cols, raw=rows_for if totals else [], window=window, chart=chart)
        if rows and more_totals:
            doc.totals.update(more_totals)
    write(render(hrows, fmt, title, cols, doc))


def printable(hrows, title, columns=None, *, raw=None, window="all time", chart=None):
    from contract.clock import now_ms, zone_label
    from hub.business.localtime import display_offset, format_ms
    from hub.cli.printable import Printable, totals_of
    from hub.cli.render import columns_of
    from hub.store.meta import get_meta
    return Printable(title, hrows, columns_of(hrows, columns), network=get_meta("network", "") or "",
                     window=window, printed_at=format_ms(now_ms()), zone=zone_label(display_offset()),
                     totals=totals_of(raw if raw is not None else []), chart=chart)


def write(out) -> None:
    """Print text, or PDF bytes (never to a terminal)."""
    if isinstance(out, bytes):
        if sys.stdout.isatty():
            raise click.UsageError("a PDF is binary: redirect it to a file (--format pdf > report.pdf)")
        click.echo(out, nl=False)
    else:
        click.echo(out, nl=False)


def done(result: dict, text: str, fmt: str) -> None:
    """The outcome of a command that changed something: one JSON object, or ``text``."""
    if fmt == "json":
        echo_json(result)
    else:
        click.echo(text)


def fail_partly(failed: int, total: int, what: str) -> None:
    """Exit with status 1 when ``failed`` of ``total`` items failed (the rest was done)."""
    if failed:
        click.echo(f"{failed} of {total} {what} failed", err=True)
        raise click.exceptions.Exit(1)
