"""Scan queries and reports (seed 001 5.6.2), and their output formats.

* ``scan_details``: receive/dispatch/arrive/deliver (and sign, problem, hold) scans of a site in
  a window, each with its group: the receiving courier, the dispatch's next stop, the arrival's
  previous stop, the delivery courier.
* ``monthly``: a month's scans of one kind at a site, counted and weighed per group.
* ``signed_details``: per site, the parcels it received (sender side) or delivered (receiver
  side), signed or not, with each parcel's current status.

``render`` turns rows into a terminal table (rich), CSV, JSON or a printable HTML document with
fixed columns (A4 landscape, repeated header row on every page).
"""
from __future__ import annotations

import csv
import html
import io
import json

from hub import business_models as bm
from hub.monitoring import DEFAULT_TZ_OFFSET_MIN, MonitorError, format_ms, parse_time

KINDS = ("receive", "dispatch", "arrive", "deliver", "sign", "problem", "hold")
GROUP_BY = {"receive": ("courier", "receiving courier"), "dispatch": ("peer", "next stop"),
            "arrive": ("peer", "previous stop"), "deliver": ("courier", "delivery courier"),
            "sign": ("courier", "courier"), "problem": ("courier", "courier"), "hold": ("courier", "courier")}
FORMATS = ("table", "csv", "json", "html")


class ReportError(ValueError):
    """A report request that cannot be answered."""


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise ReportError(f"unknown scan kind {kind!r} (one of: {', '.join(KINDS)})")
    return kind


def scan_details(site: str, kind: str, since_ms: int | None = None, until_ms: int | None = None) -> list[dict]:
    """Scans of ``kind`` at ``site`` in ``[since_ms, until_ms)``, oldest first."""
    field, _ = GROUP_BY[_kind(kind)]
    F = bm.ScanFact
    q = F.select().where((F.site == site) & (F.kind == kind))
    if since_ms is not None:
        q = q.where(F.event_ms >= since_ms)
    if until_ms is not None:
        q = q.where(F.event_ms < until_ms)
    return [{"waybill": f.waybill, "kind": f.kind, "at": format_ms(f.event_ms), "event_ms": f.event_ms,
             "group": getattr(f, field) or "", "courier": f.courier or "", "peer": f.peer or "",
             "shift": f.shift or "", "weight_g": f.weight_g}
            for f in q.order_by(F.event_ms, F.scan_id)]


def month_window(month: str, tz_offset_min: int = DEFAULT_TZ_OFFSET_MIN) -> tuple[int, int]:
    """``YYYY-MM`` -> [first ms, first ms of the next month) in local network time."""
    try:
        y, mo = (int(x) for x in month.split("-"))
        if not 1 <= mo <= 12:
            raise ValueError
    except ValueError as e:
        raise ReportError(f"bad month {month!r}: use YYYY-MM") from e
    nxt = f"{y + (mo == 12)}-{(mo % 12) + 1:02d}-01"
    try:
        return parse_time(f"{y}-{mo:02d}-01", tz_offset_min), parse_time(nxt, tz_offset_min)
    except MonitorError as e:
        raise ReportError(str(e)) from e


def monthly(site: str, kind: str, month: str) -> list[dict]:
    """A month list: per group (courier / next stop / previous stop) the scans and total weight."""
    a, b = month_window(month)
    groups: dict[str, dict] = {}
    for r in scan_details(site, kind, a, b):
        g = groups.setdefault(r["group"], {"group": r["group"], "scans": 0, "parcels": set(), "weight_g": 0})
        g["scans"] += 1
        g["parcels"].add(r["waybill"])
        g["weight_g"] += r["weight_g"] or 0
    return [{"month": month, "site": site, "kind": kind, "group": g["group"] or "(none)", "scans": g["scans"],
             "parcels": len(g["parcels"]), "weight_g": g["weight_g"]} for _, g in sorted(groups.items())]


def signed_details(site: str, side: str = "delivered", since_ms: int | None = None,
                   until_ms: int | None = None, signed: bool | None = None) -> list[dict]:
    """Parcels ``site`` received (``side="received"``) or delivered, with sign state and status."""
    P = bm.ParcelFact
    if side == "received":
        col, tcol = P.origin_site, P.origin_ms
    elif side == "delivered":
        col, tcol = P.deliver_site, P.deliver_ms
    else:
        raise ReportError("side must be received or delivered")
    q = P.select().where(col == site)
    if since_ms is not None:
        q = q.where(tcol >= since_ms)
    if until_ms is not None:
        q = q.where(tcol < until_ms)
    if signed is not None:
        q = q.where(P.sign_ms.is_null(not signed))
    return [{"waybill": p.waybill, "origin_site": p.origin_site or "", "dest_site": p.dest_site or "",
             "at": format_ms(getattr(p, tcol.name)), "signed": p.sign_ms is not None,
             "signed_at": format_ms(p.sign_ms), "signer": p.signer or "",
             "status": p.status, "status_site": p.status_site, "status_at": format_ms(p.last_ms)}
            for p in q.order_by(tcol, P.waybill)]


# ---------------------------------------------------------------- output

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
    """A printable document: fixed column widths, the header row repeated on each page."""
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
    raise ReportError(f"unknown format {fmt!r} (one of: {', '.join(FORMATS)})")
