"""Drawing code sheets and waybill labels as PDF or SVG (reportlab: its Code 128 widget, its PDF
and SVG renderers), from one page description so both formats print the same thing.

Sizes are in millimetres.  A sheet is A4 portrait, one code per row: the Code 128 symbol with
its human-readable line under it (quiet zones of at least 10 modules and 6.35 mm each side),
the name and a note beside it.  A waybill label is 100 × 150 mm (the common thermal label).
"""
from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass

from reportlab.graphics import renderPDF, renderSVG
from reportlab.graphics.barcode.widgets import BarcodeCode128
from reportlab.graphics.shapes import Drawing, Line, Rect, String
from reportlab.lib.colors import black, grey
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from labels.codes import Code, LabelError, Section, check_code128

FORMATS = ("pdf", "svg")
MARGIN = 15 * mm
MODULE_MM = 0.375                # preferred bar (module) width: 3 dots of a 203 dpi label printer
MIN_MODULE_MM = 0.25             # never narrower
CODE_AREA = 95 * mm              # the barcode column of a sheet, quiet zones included
ROW = 22 * mm
CJK_FONT = "STSong-Light"        # a CID font: PDF viewers supply it, nothing to embed


def _font(text: str, bold: bool = False) -> str:
    if all(ord(c) < 256 for c in text):
        return "Helvetica-Bold" if bold else "Helvetica"
    if CJK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
    return CJK_FONT


def _text(d: Drawing, x: float, y: float, text: str, size: float, bold: bool = False,
          muted: bool = False, anchor: str = "start", max_width: float | None = None) -> None:
    """A line of text; with ``max_width`` its size shrinks (down to 7 pt) until it fits, and a
    text still too long is cut with an ellipsis."""
    font = _font(text, bold)
    if max_width is not None:
        while size > 7 and pdfmetrics.stringWidth(text, font, size) > max_width:
            size -= 0.5
        if pdfmetrics.stringWidth(text, font, size) > max_width:
            while text and pdfmetrics.stringWidth(text + "…", font, size) > max_width:
                text = text[:-1]
            text = text.rstrip() + "…"
    d.add(String(x, y, text, fontName=font, fontSize=size, textAnchor=anchor,
                 fillColor=grey if muted else black))


def _barcode(text: str, width: float, height: float, module_mm: float = MODULE_MM) -> BarcodeCode128:
    """A Code 128 widget for ``text`` at most ``width`` points wide (quiet zones included),
    with bars as wide as possible up to ``module_mm``."""
    check_code128(text)
    bc = BarcodeCode128(value=text, barWidth=module_mm * mm, barHeight=height, humanReadable=1,
                        fontSize=9, quiet=1)
    x0, _, x1, _ = bc.getBounds()
    if x1 - x0 > width:
        module = module_mm * width / (x1 - x0)
        if module < MIN_MODULE_MM:
            raise LabelError(f"{text!r} is too long to print legibly here "
                             f"({(x1 - x0) / mm:.0f} mm at {module_mm} mm bars)")
        bc = BarcodeCode128(value=text, barWidth=module * mm, barHeight=height, humanReadable=1,
                            fontSize=9, quiet=1, lquiet=10 * module * mm, rquiet=10 * module * mm)
    return bc


@dataclass
class Document:
    """Pages ready to render, each a reportlab Drawing."""
    pages: list[Drawing]
    title: str

    def pdf(self) -> bytes:
        buf = io.BytesIO()
        c = canvas.Canvas(buf, pagesize=(self.pages[0].width, self.pages[0].height), invariant=1)
        c.setTitle(self.title)
        for page in self.pages:
            renderPDF.draw(page, c, 0, 0)
            c.showPage()
        c.save()
        return buf.getvalue()

    def svg(self) -> list[str]:
        """One SVG document per page, sized in millimetres so it prints at its real size."""
        return [_mm_size(renderSVG.drawToString(page), page.width, page.height) for page in self.pages]


def _mm_size(svg: str, width: float, height: float) -> str:
    """reportlab gives the root element unitless (pixel) sizes, which print at 96 per inch; state
    the page in millimetres, over a view box in points."""
    root = svg.index("<svg ")
    end = svg.index(">", root)
    head = re.sub(r'\b(width|height|viewBox)="[^"]*"', "", svg[root:end])
    head = head.replace("<svg ", f'<svg width="{width / mm:.2f}mm" height="{height / mm:.2f}mm" '
                                 f'viewBox="0 0 {width:.3f} {height:.3f}" ', 1)
    body = svg[:root] + head + svg[end:]
    for pdf_name, css in _SVG_FONTS.items():     # PDF font names as CSS families with fallbacks
        body = body.replace(f"font-family: {pdf_name};", css)
    return body


_SVG_FONTS = {
    "Helvetica-Bold": "font-family: Helvetica, Arial, sans-serif; font-weight: bold;",
    "Helvetica": "font-family: Helvetica, Arial, sans-serif;",
    "Courier": "font-family: Courier, 'Courier New', monospace;",
    CJK_FONT: f"font-family: {CJK_FONT}, 'Noto Sans CJK SC', 'WenQuanYi Micro Hei', sans-serif;",
}


def code_sheet(sections: list[Section], title: str, subtitle: str = "") -> Document:
    """A4 pages of control codes: a heading per section, one code per row."""
    if not any(s.codes for s in sections):
        raise LabelError("nothing to print: no codes in the chosen sections")
    width, height = A4
    pages: list[Drawing] = []
    page = y = None

    def new_page():
        nonlocal page, y
        page = Drawing(width, height)
        pages.append(page)
        _text(page, MARGIN, height - MARGIN - 6 * mm, title, 15, bold=True, max_width=width - 2 * MARGIN)
        if subtitle:
            _text(page, MARGIN, height - MARGIN - 11 * mm, subtitle, 8.5, muted=True,
                  max_width=width - 2 * MARGIN)
        _text(page, width - MARGIN, MARGIN / 2, f"page {len(pages)}", 8, muted=True, anchor="end")
        y = height - MARGIN - 16 * mm

    def heading(text):
        nonlocal y
        _text(page, MARGIN, y - 5 * mm, text, 12, bold=True)
        page.add(Line(MARGIN, y - 6.5 * mm, width - MARGIN, y - 6.5 * mm, strokeWidth=0.5))
        y -= 9 * mm

    new_page()
    for sec in sections:
        if not sec.codes:
            continue
        if y - 9 * mm - ROW < MARGIN:
            new_page()
        heading(sec.title)
        for code in sec.codes:
            if y - ROW < MARGIN:
                new_page()
                heading(f"{sec.title} (continued)")
            _row(page, code, y)
            y -= ROW
    return Document(pages, title)


def _row(page: Drawing, code: Code, top: float) -> None:
    bar_h = 12 * mm
    bc = _barcode(code.text, CODE_AREA, bar_h)
    bc.x, bc.y = MARGIN, top - 3 * mm - bar_h
    page.add(bc)
    x = MARGIN + CODE_AREA + 4 * mm
    room = A4[0] - MARGIN - x
    _text(page, x, top - 3 * mm - bar_h / 2, code.name or code.text, 12, max_width=room)
    if code.note:
        _text(page, x, top - 3 * mm - bar_h / 2 - 5 * mm, code.note, 8.5, muted=True, max_width=room)


@dataclass
class WaybillLabel:
    waybill: str
    dest: str
    dest_name: str = ""
    origin: str = ""
    origin_name: str = ""
    date: str = ""              # YYYY-MM-DD
    network: str = ""


LABEL_SIZE = (100 * mm, 150 * mm)
QR_SIZE = 24 * mm                 # the QR code's side, quiet zone of 4 modules included


def _qr(d: Drawing, text: str, x: float, y: float) -> None:
    """The QR code of ``text`` (segno, error correction M) as black squares, QR_SIZE wide."""
    import segno

    matrix = segno.make_qr(text, error="m").matrix
    n = len(matrix) + 8
    cell = QR_SIZE / n
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if dark:
                d.add(Rect(x + (c + 4) * cell, y + QR_SIZE - (r + 5) * cell, cell, cell,
                           fillColor=black, strokeColor=None, strokeWidth=0))


def waybill_label(label: WaybillLabel) -> Document:
    """One 100 × 150 mm label: destination (code large, and name), origin, date, and the
    waybill number as Code 128 with its human-readable line, and as a QR code (for phones)."""
    w, h = LABEL_SIZE
    m = 6 * mm
    d = Drawing(w, h)
    if label.network:
        _text(d, m, h - m - 4 * mm, label.network, 10, muted=True)
    if label.date:
        _text(d, w - m, h - m - 4 * mm, label.date, 10, anchor="end")
    d.add(Line(m, h - m - 7 * mm, w - m, h - m - 7 * mm, strokeWidth=0.8))
    _text(d, m, h - m - 13 * mm, "TO", 9, muted=True)
    _text(d, m, h - m - 32 * mm, label.dest, 44, bold=True, max_width=w - 2 * m - QR_SIZE - 3 * mm)
    if label.dest_name:
        _text(d, m, h - m - 41 * mm, label.dest_name, 14, max_width=w - 2 * m)
    d.add(Line(m, h - m - 46 * mm, w - m, h - m - 46 * mm, strokeWidth=0.8))
    _text(d, m, h - m - 52 * mm, "FROM", 9, muted=True)
    origin = " ".join(p for p in (label.origin, label.origin_name) if p) or "-"
    _text(d, m, h - m - 59 * mm, origin, 12, max_width=w - 2 * m)
    _qr(d, label.waybill, x=w - m - QR_SIZE, y=h - m - 10 * mm - QR_SIZE)
    bar_h = 28 * mm
    bc = _barcode(label.waybill, w - 2 * m, bar_h, module_mm=0.4)
    x0, _, x1, _ = bc.getBounds()
    bc.x, bc.y = (w - (x1 - x0)) / 2, m + 12 * mm
    d.add(bc)
    return Document([d], f"waybill {label.waybill}")


def write(doc: Document, path: str, fmt: str) -> list[str]:
    """Write ``doc`` as ``fmt`` to ``path``; an SVG of several pages becomes PATH-1.svg,
    PATH-2.svg … (PATH without its suffix).  Returns the files written."""
    import os

    if fmt not in FORMATS:
        raise LabelError(f"unknown format {fmt!r} (pdf or svg)")
    if fmt == "pdf":
        outs = [(path, doc.pdf())]
    else:
        pages = doc.svg()
        if len(pages) == 1:
            outs = [(path, pages[0].encode("utf-8"))]
        else:
            stem = path[:-4] if path.lower().endswith(".svg") else path
            outs = [(f"{stem}-{i}.svg", p.encode("utf-8")) for i, p in enumerate(pages, 1)]
    written = []
    for name, data in outs:
        tmp = name + ".tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, name)
        except OSError as e:
            raise LabelError(f"cannot write {name}: {e.strerror}") from None
        written.append(name)
    return written
