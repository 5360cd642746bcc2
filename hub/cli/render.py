"""One renderer for every command's rows: a terminal table, CSV, printable HTML or JSON.

Rows are lists of dicts (the library's query results); ``render(rows, fmt, title)`` turns them
into text for ``--format table|csv|html|json``.
"""
from __future__ import annotations

import csv
import html
import io
import json

from hub.errors import HubError

FORMATS = ("table", "csv", "json", "html")


class RenderError(HubError, ValueError):
    """An output format that does not exist."""


def columns_of(rows: list[dict], columns: list[str] | None = None) -> list[str]:
    if columns:
        return columns
    return list(rows[0].keys()) if rows else ["waybill"]


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)


def to_csv(rows: list[dict], columns: list[str] | None = None) -> str:
    cols = columns_of(rows, columns)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        w.writerow([_cell(r.get(c)) for c in cols])
    return buf.getvalue()


def to_html(rows: list[dict], title: str, columns: list[str] | None = None) -> str:
    """A printable document (A4 landscape): fixed column widths, the header row repeated on each page."""
    cols = columns_of(rows, columns)
    width = f"{100 / len(cols):.3f}%"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "\n".join("<tr>" + "".join(f"<td>{html.escape(_cell(r.get(c)))}</td>" for c in cols) + "</tr>"
                     for r in rows)
    colgroup = "".join(f'<col style="width:{width}">' for _ in cols)
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
@page {{ size: A4 landscape; margin: 12mm; }}
body {{ font: 10pt sans-serif; }}
table {{ table-layout: fixed; width: 100%; border-collapse: collapse; }}
thead {{ display: table-header-group; }}
tr {{ page-break-inside: avoid; }}
th, td {{ border: 1px solid #444; padding: 2px 4px; overflow: hidden; white-space: nowrap; text-overflow: ellipsis; }}
th {{ background: #eee; text-align: left; }}
</style></head>
<body><h1>{html.escape(title)}</h1><p>{len(rows)} row(s)</p>
<table><colgroup>{colgroup}</colgroup><thead><tr>{head}</tr></thead>
<tbody>
{body}
</tbody></table></body></html>
"""


def to_table(rows: list[dict], title: str, columns: list[str] | None = None) -> str:
    """A terminal table (rich), rendered to text."""
    from rich.console import Console
    from rich.table import Table

    cols = columns_of(rows, columns)
    t = Table(title=title, show_lines=False)
    for c in cols:
        t.add_column(c)
    for r in rows:
        t.add_row(*[_cell(r.get(c)) for c in cols])
    buf = io.StringIO()
    Console(file=buf, width=200, force_terminal=False, color_system=None).print(t)
    return buf.getvalue()


def render(rows: list[dict], fmt: str, title: str, columns: list[str] | None = None) -> str:
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False, indent=1, default=str)
    if fmt == "csv":
        return to_csv(rows, columns)
    if fmt == "html":
        return to_html(rows, title, columns)
    if fmt == "table":
        return to_table(rows, title, columns)
    raise RenderError(f"unknown format {fmt!r} (one of: {', '.join(FORMATS)})")
