"""Printable reports: an HTML document and a PDF (reportlab), both A4 landscape.

Each has a header (network, report, window, printed at, zone), the chart when the report has one,
the table with column widths sized to its content (memos and long texts wrap, nothing is cut),
a totals row (counts, weights, money) and page numbers ("page 2 of 5").  An empty report says
"no rows".  ``Printable`` holds what both draw; ``to_html`` and ``to_pdf`` draw it.

PDF: reportlab (BSD licence, pure Python with optional C speed-ups, no system libraries), chosen
over weasyprint, which needs Pango and cairo at run time.  ``invariant`` mode makes the same
report give the same bytes (no creation date, a fixed document id).
"""
from __future__ import annotations

import html
import io
import re
from dataclasses import dataclass, field

from hub.cli.charts import Chart, cjk_font_path, to_png, to_svg
from hub.cli.cells import cell_text

# integer columns that count things and so get a total (besides *_g weights and *_cents money)
COUNT_COLUMNS = {"scans", "parcels", "orders", "count", "on_time", "overtime", "overdue", "pending", "signed",
                 "unsigned", "missing_count", "deleted", "deleted_unuploaded", "conflicts", "outbox_depth",
                 "entries", "fees", "held", "waybills"}
NO_ROWS = "no rows"


@dataclass
class Printable:
    title: str                      # the report's name
    rows: list[dict]                # rows for people (``human``): text and numbers
    columns: list[str]
    network: str = ""
    window: str = "all time"
    printed_at: str = ""
    zone: str = ""
    totals: dict[str, str] = field(default_factory=dict)   # column -> total, shown under it
    chart: Chart | None = None

    def header(self) -> list[tuple[str, str]]:
        return [("network", self.network or "-"), ("report", self.title), ("window", self.window),
                ("printed at", self.printed_at), ("zone", self.zone)]


def totals_of(raw_rows: list[dict]) -> dict[str, str]:
    """Totals of the summable columns of library rows, keyed by the column names people see
    (``weight_g`` stays, ``amount_cents`` becomes ``amount``, in yuan)."""
    from hub.business.accounts import format_cents
    if not raw_rows:
        return {}
    out = {}
    for col in raw_rows[0]:
        values = [r.get(col) for r in raw_rows]
        if not all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in values):
            continue
        total = sum(v for v in values if v is not None)
        if col.endswith("_cents"):
            if col != "balance_cents":          # a running balance does not add up
                out[col[:-6]] = format_cents(total)
        elif col.endswith("_g") or col in COUNT_COLUMNS:
            out[col] = str(total)
    return out


def widths(rows: list[dict], columns: list[str]) -> list[float]:
    """Relative column widths (they add up to 1): each column's typical text length, between a
    floor that keeps short codes readable and a cap past which long texts (memos) wrap."""
    sizes = []
    for c in columns:
        lens = sorted(len(cell_text(r.get(c))) for r in rows) or [0]
        typical = lens[min(len(lens) - 1, int(len(lens) * 0.9))]
        sizes.append(min(max(typical, len(c), 4), 40))
    total = sum(sizes) or 1
    return [s / total for s in sizes]


# ---------------------------------------------------------------- HTML

_CSS = """
@page { size: A4 landscape; margin: 14mm 12mm 16mm 12mm;
        @bottom-right { content: "page " counter(page) " of " counter(pages); font: 8pt sans-serif; } }
body { font: 9.5pt "WenQuanYi Micro Hei", "Noto Sans CJK SC", sans-serif; margin: 0 auto; max-width: 277mm; }
header { border-bottom: 2px solid #333; margin-bottom: 6px; }
header h1 { font-size: 14pt; margin: 0 0 2px 0; }
header dl { display: grid; grid-template-columns: max-content 1fr max-content 1fr; gap: 0 10px; margin: 2px 0 4px 0; }
header dt { color: #555; } header dd { margin: 0; }
figure { margin: 4px 0 8px 0; } figure svg { width: 100%; height: auto; }
table { table-layout: fixed; width: 100%; border-collapse: collapse; }
thead { display: table-header-group; } tfoot { display: table-row-group; }
tr { break-inside: avoid; }
th, td { border: 1px solid #888; padding: 2px 4px; white-space: normal; overflow-wrap: anywhere; vertical-align: top; }
th { background: #e8e8e8; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tfoot td { font-weight: bold; background: #f4f4f4; }
p.empty { font-style: italic; margin: 12px 0; }
p.count { color: #555; margin: 4px 0; }
"""


_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+%?|%)$")      # 12.50 (yuan), 95.00% - not codes like "100"


def _numeric(rows, col) -> bool:
    """A column of numbers, amounts or percentages (drawn right-aligned)."""
    vals = [r.get(col) for r in rows if r.get(col) not in (None, "")]
    return bool(vals) and all((isinstance(v, (int, float)) and not isinstance(v, bool))
                              or (isinstance(v, str) and _NUMBER.match(v)) for v in vals)


def to_html(doc: Printable) -> str:
    esc = html.escape
    head = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in doc.header())
    parts = [f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{esc(doc.title)}</title>
<style>{_CSS}</style></head>
<body><header><h1>{esc(doc.title)}</h1><dl>{head}</dl></header>
"""]
    if doc.chart is not None and not doc.chart.empty():
        parts.append(f"<figure>{to_svg(doc.chart)}</figure>\n")
    if not doc.rows:
        parts.append(f'<p class="empty">{NO_ROWS}</p>\n</body></html>\n')
        return "".join(parts)
    cols = doc.columns
    num = {c: _numeric(doc.rows, c) for c in cols}
    colgroup = "".join(f'<col style="width:{w * 100:.2f}%">' for w in widths(doc.rows, cols))
    th = "".join(f"<th>{esc(c)}</th>" for c in cols)
    body = "\n".join("<tr>" + "".join(f'<td{" class=num" if num[c] else ""}>{esc(cell_text(r.get(c)))}</td>'
                                      for c in cols) + "</tr>" for r in doc.rows)
    foot = ""
    if doc.totals:
        cells = [doc.totals.get(c, "") for c in cols]
        if not cells[0]:
            cells[0] = "total"
        foot = "<tfoot><tr>" + "".join(f'<td{" class=num" if c in doc.totals else ""}>{esc(v)}</td>'
                                       for c, v in zip(cols, cells)) + "</tr></tfoot>"
    parts.append(f"""<p class="count">{len(doc.rows)} row(s)</p>
<table><colgroup>{colgroup}</colgroup><thead><tr>{th}</tr></thead>
<tbody>
{body}
</tbody>{foot}</table></body></html>
""")
    return "".join(parts)


# ---------------------------------------------------------------- PDF

def _font() -> tuple[str, str]:
    """(regular, bold) font names for reportlab: WenQuanYi Micro Hei when installed."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    path = cjk_font_path()
    if not path:
        return "Helvetica", "Helvetica-Bold"
    if "WQYMicroHei" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("WQYMicroHei", path, subfontIndex=0))
    return "WQYMicroHei", "WQYMicroHei"


def to_pdf(doc: Printable) -> bytes:
    """The report as PDF bytes: the same report gives the same bytes."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfgen import canvas as rl_canvas
    from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font, bold = _font()
    page_w, page_h = landscape(A4)
    margin = 12 * mm
    cell = ParagraphStyle("cell", fontName=font, fontSize=8, leading=10, wordWrap="CJK")
    head_cell = ParagraphStyle("head", parent=cell, fontName=bold, textColor=colors.black)
    note = ParagraphStyle("note", parent=cell, fontSize=10, leading=13)
    header = doc.header()

    class Numbered(rl_canvas.Canvas):
        """Draws the header and "page N of M" once the number of pages is known."""
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self._pages = []

        def showPage(self):
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            n = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self._decorate(n)
                super().showPage()
            super().save()

        def _decorate(self, n):
            self.setFont(bold, 12)
            self.drawString(margin, page_h - margin, doc.title)
            self.setFont(font, 8)
            text = "   ".join(f"{k}: {v}" for k, v in header if k != "report")
            self.drawString(margin, page_h - margin - 12, text)
            self.setLineWidth(1)
            self.line(margin, page_h - margin - 16, page_w - margin, page_h - margin - 16)
            self.drawRightString(page_w - margin, margin - 14, f"page {self._pageNumber} of {n}")

    buf = io.BytesIO()
    pdf = SimpleDocTemplate(buf, pagesize=(page_w, page_h), leftMargin=margin, rightMargin=margin,
                            topMargin=margin + 22, bottomMargin=margin + 6, title=doc.title,
                            author=doc.network or "scanhub", creator="scanhub", invariant=1)
    story = []
    width = page_w - 2 * margin
    if doc.chart is not None and not doc.chart.empty():
        img = Image(io.BytesIO(to_png(doc.chart)), width=width, height=width * 3.2 / 9)
        story += [img, Spacer(1, 4 * mm)]
    if not doc.rows:
        story.append(Paragraph(NO_ROWS, note))
    else:
        cols = doc.columns
        num = {c: _numeric(doc.rows, c) for c in cols}
        right = ParagraphStyle("num", parent=cell, alignment=2)
        esc = html.escape
        data = [[Paragraph(esc(c), head_cell) for c in cols]]
        for r in doc.rows:
            data.append([Paragraph(esc(cell_text(r.get(c))), right if num[c] else cell) for c in cols])
        if doc.totals:
            tot = ParagraphStyle("tot", parent=right, fontName=bold)
            cells = [doc.totals.get(c, "") for c in cols]
            if not cells[0]:
                cells[0] = "total"
            data.append([Paragraph(esc(v), tot if c in doc.totals else head_cell) for c, v in zip(cols, cells)])
        table = Table(data, colWidths=[w * width for w in widths(doc.rows, cols)], repeatRows=1)
        style = [("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                 ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")),
                 ("VALIGN", (0, 0), (-1, -1), "TOP")]
        if doc.totals:
            style.append(("BACKGROUND", (0, -1), (-1, -1), colors.HexColor("#f4f4f4")))
        table.setStyle(TableStyle(style))
        story += [Paragraph(f"{len(doc.rows)} row(s)", cell), Spacer(1, 2 * mm), table]
    pdf.build(story, canvasmaker=Numbered)
    return buf.getvalue()
