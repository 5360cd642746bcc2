"""Printable reports (HTML and PDF): header, totals, page numbers, column widths, whole memos,
charts drawn the same every time, Chinese text, and pictures made by real renderers (chromium
for HTML, poppler's pdftoppm for PDF pages)."""
from __future__ import annotations

import io
import json
import re
import shutil
import subprocess

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import needs
from hub.cli.charts import Chart, cjk_font_path, to_png, to_svg
from hub.cli.printable import Printable, to_html, to_pdf, widths
from sim import report_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return report_demo.build(str(tmp_path_factory.mktemp("demo") / "hub.db"))


def run(*args):
    import cli
    from hub.schema import connect
    r = CliRunner().invoke(cli.main, list(args), catch_exceptions=False)
    connect(args[args.index("--db") + 1])         # leave the demo store bound for the next call
    return r


def pdf_pages(data: bytes) -> list[str]:
    from pypdf import PdfReader
    return [p.extract_text() for p in PdfReader(io.BytesIO(data)).pages]


SIGN_RATE = ["report", "sign-rate", "--since", "2024-06-01", "--until", "2024-06-08", "--as-of", "2024-06-12"]


def test_html_has_header_chart_totals_and_page_numbers(demo):
    r = run(*SIGN_RATE, "--format", "html", "--db", demo)
    assert r.exit_code == 0, r.output
    page = r.output
    header = re.search(r"<header>(.*?)</header>", page, re.S).group(1)
    for label, value in [("network", "sample"), ("report", "sign rate (receiver side, per day)"),
                         ("window", "2024-06-01 00:00:00 UTC+08:00 to 2024-06-08 00:00:00 UTC+08:00"),
                         ("zone", "UTC+08:00")]:
        assert f"<dt>{label}</dt><dd>{value}</dd>" in header
    assert re.search(r"<dt>printed at</dt><dd>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\+08:00</dd>", header)
    assert "<svg" in page and 'counter(page) " of " counter(pages)' in page
    assert "text-overflow" not in page and "nowrap" not in page
    rows = json.loads(run(*SIGN_RATE, "--json", "--db", demo).output)
    foot = re.search(r"<tfoot><tr>(.*?)</tr></tfoot>", page).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", foot)
    assert cells[0] == "total"
    assert cells[2] == str(sum(x["parcels"] for x in rows)) and cells[7] == str(sum(x["signed"] for x in rows))
    assert "%" in page and ">0.8333<" not in page                # rates as percentages
    signed, parcels = sum(x["signed"] for x in rows), sum(x["parcels"] for x in rows)
    assert cells[-1] == f"{signed / parcels * 100:.2f}%"         # the window's overall sign rate


def test_html_totals_weights_and_money_and_keeps_memos_whole(demo):
    page = run("account", "statement", "100", "--format", "html", "--db", demo).output
    st = json.loads(run("account", "statement", "100", "--json", "--db", demo).output)
    foot = re.findall(r"<td[^>]*>(.*?)</td>", re.search(r"<tfoot><tr>(.*?)</tr></tfoot>", page).group(1))
    total = sum(x["amount_cents"] for x in st["rows"])
    assert f"{total // 100}.{total % 100:02d}" in foot
    assert report_demo.MEMOS[0] in page                          # the Chinese memo, whole
    scans = run("report", "monthly", "--site", "100", "--kind", "receive", "--month", "2024-06", "--format", "html",
                "--db", demo).output
    rows = json.loads(run("report", "monthly", "--site", "100", "--kind", "receive", "--month", "2024-06", "--json",
                          "--db", demo).output)
    foot = re.findall(r"<td[^>]*>(.*?)</td>", re.search(r"<tfoot><tr>(.*?)</tr></tfoot>", scans).group(1))
    assert str(sum(x["weight_g"] for x in rows)) in foot and str(sum(x["scans"] for x in rows)) in foot


def test_column_widths_follow_the_content():
    rows = [{"site": "100", "memo": "x" * 300, "amount": "1.00"}] * 3
    w = widths(rows, ["site", "memo", "amount"])
    assert abs(sum(w) - 1) < 1e-9 and w[1] > 4 * w[0] and w[0] >= w[2] * 0.6


def test_pdf_has_header_page_numbers_totals_and_chinese(demo):
    r = run("account", "statement", "100", "--format", "pdf", "--db", demo)
    assert r.exit_code == 0 and r.stdout_bytes.startswith(b"%PDF")
    pages = pdf_pages(r.stdout_bytes)
    n = len(pages)
    assert n >= 2
    for i, text in enumerate(pages, 1):
        assert f"page {i} of {n}" in text
        assert "network: sample" in text and "zone: UTC+08:00" in text and "printed at:" in text
    if cjk_font_path() is None:
        needs("fonts-wqy-microhei", "Chinese text in PDF reports")
    assert "六月第一周充值" in pages[0]
    assert "total" in pages[-1]


def test_empty_reports_say_no_rows_in_print(demo):
    args = ["monitor", "not-arrived", "--site", "101", "--since", "2030-01-01"]
    assert "no rows" in run(*args, "--format", "html", "--db", demo).output
    pdf = run(*args, "--format", "pdf", "--db", demo).stdout_bytes
    assert "no rows" in pdf_pages(pdf)[0]


def test_same_report_same_bytes():
    chart = Chart("line", "sign rate 签收率", {"200": [("06-01", 0.5), ("06-02", 1.0)], "201": [("06-01", 0.75)]},
                  percent=True)
    a, b = to_svg(chart), to_svg(chart)
    assert a == b and a.startswith("<svg") and "<dc:date>" not in a
    assert to_png(chart) == to_png(chart)
    doc = Printable("t", [{"a": "1", "b": "备注"}], ["a", "b"], network="n", window="all time",
                    printed_at="2024-06-01 00:00:00 UTC", zone="UTC", totals={"a": "1"}, chart=chart)
    assert to_pdf(doc) == to_pdf(doc)
    assert to_html(doc) == to_html(doc)


@pytest.mark.parametrize("args", [SIGN_RATE, ["monitor", "not-arrived", "--all-sites"],
                                  ["report", "fee-totals", "--month", "2024-06"],
                                  ["orders", "counts", "--by", "status"]], ids=lambda a: a[1])
def test_charts_where_people_look(demo, args):
    page = run(*args, "--format", "html", "--db", demo).output
    assert page.count("<svg") == 1
    assert "<svg" not in run(*args, "--format", "csv", "--db", demo).output


def test_pdf_pages_render_to_png(demo, tmp_path):
    if shutil.which("pdftoppm") is None:
        needs("poppler-utils", "pdftoppm renders PDF pages")
    pdf = tmp_path / "fees.pdf"
    pdf.write_bytes(run("report", "fee-totals", "--month", "2024-06", "--format", "pdf", "--db", demo).stdout_bytes)
    subprocess.run(["pdftoppm", "-png", "-r", "40", str(pdf), str(tmp_path / "p")], check=True, timeout=120)
    pngs = sorted(tmp_path.glob("p*.png"))
    assert pngs and all(p.read_bytes().startswith(b"\x89PNG") for p in pngs)


def test_html_renders_to_png_in_chromium(demo, tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        needs("chromium", "renders the printable HTML")
    html = tmp_path / "rate.html"
    html.write_text(run(*SIGN_RATE, "--format", "html", "--db", demo).output, encoding="utf-8")
    png, pdf = tmp_path / "rate.png", tmp_path / "rate.pdf"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={png}",
                    "--window-size=1200,900", html.as_uri()], check=True, capture_output=True, timeout=180)
    assert png.read_bytes().startswith(b"\x89PNG")
    # printed by chromium, the page numbers come from the stylesheet's @page rule
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                    f"--print-to-pdf={pdf}", html.as_uri()], check=True, capture_output=True, timeout=180)
    pages = pdf_pages(pdf.read_bytes())
    assert "page 1 of" in pages[0]


_cells = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.text(max_size=60))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.fixed_dictionaries({"a": _cells, "b": _cells, "memo": _cells}), max_size=8))
def test_any_rows_print_in_every_format(rows):
    import csv
    from hub.cli.render import render
    text = render(rows, "csv", "t", ["a", "b", "memo"])
    back = list(csv.reader(io.StringIO(text, newline="")))
    assert back[0] == ["a", "b", "memo"] and len(back) == len(rows) + 1
    page = render(rows, "html", "<t>", ["a", "b", "memo"])
    assert "<t>" not in page and page.count("<tr>") == (len(rows) + 1 if rows else 0)
    assert render(rows, "table", "t", ["a", "b", "memo"])


EVERY_LISTING = [
    ["hub", "stations"], ["hub", "gaps"], ["hub", "dead-letters"], ["track", report_demo.waybill(3)],
    ["monitor", "delivered-unsigned", "--site", "200"], ["forecast", "--site", "100"],
    ["account", "statement", "200"], ["account", "list"], ["account", "cod-payable", "100"],
    ["orders", "list"], ["orders", "counts", "--by", "region"],
    ["report", "scans", "--site", "100", "--kind", "receive"],
    ["report", "monthly", "--site", "900", "--kind", "dispatch", "--month", "2024-06"],
    ["report", "signed", "--site", "200"], ["report", "fees", report_demo.waybill(3)], ["gun", "fleet"],
]


@pytest.mark.parametrize("args", EVERY_LISTING, ids=lambda a: " ".join(a[:2]))
def test_every_listing_prints_with_its_header(demo, args):
    page = run(*args, "--format", "html", "--db", demo).output
    assert "<dt>network</dt><dd>sample</dd>" in page and "<dt>zone</dt><dd>UTC+08:00</dd>" in page
    r = run(*args, "--format", "pdf", "--db", demo)
    assert r.exit_code == 0
    pages = pdf_pages(r.stdout_bytes)
    assert "network: sample" in pages[0] and f"page 1 of {len(pages)}" in pages[0]


def test_no_totals_where_rows_overlap(demo):
    by_status = run("orders", "counts", "--by", "status", "--format", "html", "--db", demo).output
    by_region = run("orders", "counts", "--by", "region", "--format", "html", "--db", demo).output
    assert "<tfoot>" not in by_status and "<tfoot>" in by_region


def test_the_chart_table_of_the_docs(demo):
    """docs/reports.md lists the reports that have a chart: each one draws it."""
    from pathlib import Path
    doc = (Path(__file__).resolve().parent.parent / "docs" / "reports.md").read_text(encoding="utf-8")
    table = doc.split("| report | chart |")[1].split("\n\n")[0]
    commands = re.findall(r"^\| `([^`]+)` \|", table, re.M)
    assert len(commands) == 5
    extra = {"report sign-rate": SIGN_RATE[2:], "monitor REPORT": ["--all-sites"], "report fee-totals": [],
             "account statement": [], "orders counts --by status": []}
    for c in commands:
        args = c.replace("REPORT", "delivered-unsigned").split() + extra[c]
        if c == "account statement":
            args.append("100")
        assert "<svg" in run(*args, "--format", "html", "--db", demo).output, c
