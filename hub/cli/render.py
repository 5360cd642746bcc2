"""One renderer for every command's rows: a terminal table, CSV, JSON, printable HTML or PDF.

Rows are lists of dicts (the library's query results, made readable by ``common.human``);
``render(rows, fmt, title)`` turns them into text (bytes for PDF) for
``--format table|csv|json|html|pdf``.  An empty report says "no rows".  The terminal table is as
wide as the terminal; piped or redirected, it is as wide as its content (nothing is cut).
HTML and PDF are laid out by ``hub.cli.printable``.
"""
from __future__ import annotations

import csv
import io
import json
import sys

from hub.cli.cells import cell_text
from hub.errors import HubError

FORMATS = ("table", "csv", "json", "html", "pdf")
NO_ROWS = "no rows"


class RenderError(HubError, ValueError):
    """An output format that does not exist."""


def columns_of(rows: list[dict], columns: list[str] | None = None) -> list[str]:
    if columns:
        return columns
    return list(rows[0].keys()) if rows else []


def to_csv(rows: list[dict], columns: list[str] | None = None) -> str:
    """CSV with a header row; an empty report with unknown columns is empty text."""
    cols = columns_of(rows, columns)
    if not cols:
        return ""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")      # RFC 4180: a field holding \r is quoted too
    w.writerow(cols)
    for r in rows:
        w.writerow([cell_text(r.get(c)) for c in cols])
    return buf.getvalue()


def _terminal_width() -> int | None:
    """The terminal's width when stdout is one; None (unbounded) when piped or redirected."""
    import shutil
    try:
        if sys.stdout.isatty():
            return shutil.get_terminal_size().columns
    except (AttributeError, ValueError, OSError):
        pass
    return None


def to_table(rows: list[dict], title: str, columns: list[str] | None = None, width: int | None = None) -> str:
    """A terminal table (rich), rendered to text; ``title: no rows`` when empty."""
    from rich.console import Console
    from rich.table import Table

    if not rows:
        return f"{title}: {NO_ROWS}\n"
    cols = columns_of(rows, columns)
    t = Table(title=title, show_lines=False)
    for c in cols:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*[cell_text(r.get(c)) for c in cols])
    width = width or _terminal_width()
    buf = io.StringIO()
    console = Console(file=buf, width=width or 100_000, force_terminal=False, color_system=None,
                      soft_wrap=False)
    console.print(t)
    return "\n".join(line.rstrip() for line in buf.getvalue().splitlines()) + "\n"


def to_html(rows: list[dict], title: str, columns: list[str] | None = None, doc=None) -> str:
    from hub.cli.printable import Printable, to_html as draw
    return draw(doc or Printable(title, rows, columns_of(rows, columns)))


def to_pdf(rows: list[dict], title: str, columns: list[str] | None = None, doc=None) -> bytes:
    from hub.cli.printable import Printable, to_pdf as draw
    return draw(doc or Printable(title, rows, columns_of(rows, columns)))


def render(rows: list[dict], fmt: str, title: str, columns: list[str] | None = None, doc=None):
    """Text for ``fmt`` (bytes for pdf).  ``doc``: a ``printable.Printable`` with the header,
    totals and chart for html and pdf."""
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False, indent=1, default=str) + "\n"
    if fmt == "csv":
        return to_csv(rows, columns)
    if fmt == "html":
        return to_html(rows, title, columns, doc)
    if fmt == "pdf":
        return to_pdf(rows, title, columns, doc)
    if fmt == "table":
        return to_table(rows, title, columns)
    raise RenderError(f"unknown format {fmt!r} (one of: {', '.join(FORMATS)})")
