"""``scanhub print``: every printed code decodes back to its text with a real decoder (zxing-cpp)
from the rendered image, and every control code on a sheet is one the station's capture accepts."""
from __future__ import annotations

import io
import json
import shutil
import subprocess
from collections import Counter

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import needs, sample_store, wb

zxingcpp = pytest.importorskip("zxingcpp", reason="needs zxing-cpp: pip install zxing-cpp")
pdfium = pytest.importorskip("pypdfium2", reason="needs pypdfium2: pip install pypdfium2")
from PIL import Image  # noqa: E402  (comes with reportlab)

from labels import codes as sheet_codes  # noqa: E402
from labels import render  # noqa: E402
from printing.commands import print_group  # noqa: E402

KINDS = ["%KRECEIVE", "%KDISPATCH", "%KARRIVE", "%KDELIVER", "%KSIGN", "%KPROBLEM", "%KHOLD",
         "%KBAG_BUILD", "%KBAG_OPEN", "%KLOAD", "%KUNLOAD", "%X"]
# from sim/networks/sample.yaml, written out by hand: the sheet must hold exactly these
SITE_100 = KINDS + ["%P1001", "%P1002", "%C1001", "%S900", "%D200", "%D201"]
SITE_900 = KINDS + ["%P9001", "%HHZ-SH-08", "%HHZ-SH-20", "%S100", "%S101", "%S901", "%D200"]


def decode_image(img) -> list[str]:
    return [b.text for b in zxingcpp.read_barcodes(img.convert("L"))]


def decode_pdf(path, dpi: int = 300) -> tuple[list[str], list[str]]:
    """(every barcode text on every page rendered at ``dpi``, the pages' text)."""
    found, text = [], []
    pdf = pdfium.PdfDocument(str(path))
    for page in pdf:
        found += decode_image(page.render(scale=dpi / 72).to_pil())
        text.append(page.get_textpage().get_text_range())
    pdf.close()
    return found, text


def decode_formats(path, dpi: int = 300) -> list[tuple[str, str]]:
    """(format, text) of every barcode on the first page."""
    pdf = pdfium.PdfDocument(str(path))
    img = pdf[0].render(scale=dpi / 72).to_pil().convert("L")
    pdf.close()
    return [(b.format.name, b.text) for b in zxingcpp.read_barcodes(img)]


def decode_svg(path) -> list[str]:
    if not shutil.which("rsvg-convert"):
        needs("librsvg2-bin", "rsvg-convert rasterises the SVG for the decoder")
    png = subprocess.run(["rsvg-convert", "--dpi-x", "300", "--dpi-y", "300", "-b", "white", str(path)],
                         check=True, capture_output=True).stdout
    return decode_image(Image.open(io.BytesIO(png)))


@pytest.fixture
def db(tmp_path):
    return sample_store(str(tmp_path / "hub.db"))


def run(*args):
    res = CliRunner().invoke(print_group, list(args))
    return res


@pytest.mark.parametrize("site,expected", [("100", SITE_100), ("900", SITE_900)])
def test_sheet_pdf_decodes_and_the_station_accepts_every_code(db, tmp_path, site, expected):
    out = tmp_path / f"codes-{site}.pdf"
    res = run("codes", "--site", site, "--db", db, "--out", str(out))
    assert res.exit_code == 0, res.output
    found, text = decode_pdf(out)
    assert Counter(found) == Counter(expected)
    assert "Zhao Min" in "".join(text) or site != "900"
    assert "Wang Fang" in "".join(text) or site != "100"

    # the printed text is exactly what the station's capture takes as a control code
    from edge.capture import Capture
    from edge.clock import StationClock
    from edge.outbox import Outbox
    from hub.network.station_config import site_slice
    box = Outbox(str(tmp_path / "outbox.db"))
    cap = Capture("st-x", site, box, StationClock(box.get_meta, box.set_meta), site_slice(site))
    for text in found:
        verdict = cap.scan(text, device="gun-1")
        assert verdict.outcome == "control", (text, verdict)
    box.close()


def test_sheet_svg_decodes(db, tmp_path):
    out = tmp_path / "codes.svg"
    res = run("codes", "--site", "100", "--db", db, "--out", str(out))
    assert res.exit_code == 0, res.output
    pages = sorted(tmp_path.glob("codes-*.svg"))
    assert len(pages) == 2, res.output          # 18 codes do not fit one A4 page
    found = [t for p in pages for t in decode_svg(p)]
    assert Counter(found) == Counter(SITE_100)


def test_sheet_from_a_stations_cached_configuration(db, tmp_path):
    from edge.outbox import Outbox
    from hub.network.station_config import site_slice
    box = tmp_path / "st.db"
    ob = Outbox(str(box))
    ob.set_meta("config", json.dumps(site_slice("900", "st-900-1")))
    ob.close()
    station = tmp_path / "station.yaml"
    station.write_text(yaml.safe_dump({"station": "st-900-1", "site": "900", "outbox": str(box)}))
    out = tmp_path / "s.pdf"
    res = run("codes", "--station", str(station), "--out", str(out), "--only", "shifts,next-sites")
    assert res.exit_code == 0, res.output
    assert Counter(decode_pdf(out)[0]) == Counter(["%HHZ-SH-08", "%HHZ-SH-20", "%S100", "%S101", "%S901"])
    res = run("codes", "--station", str(station), "--site", "100")
    assert res.exit_code == 1 and "site 900, not 100" in res.output


def test_station_without_configuration_says_so(tmp_path):
    station = tmp_path / "station.yaml"
    station.write_text(yaml.safe_dump({"station": "st-1", "site": "100", "outbox": str(tmp_path / "no.db")}))
    res = run("codes", "--station", str(station))
    assert res.exit_code == 1 and "no outbox" in res.output


def test_waybill_label_decodes_with_destination_origin_and_date(db, tmp_path):
    number = wb(12)
    out = tmp_path / "label.pdf"
    res = run("label", number, "--db", db, "--dest", "200", "--date", "2026-12-02", "--out", str(out))
    assert res.exit_code == 0, res.output
    found, text = decode_pdf(out)
    assert Counter(found) == Counter([number, number])   # Code 128, and a QR code for phones
    assert sorted(f for f, _ in decode_formats(out)) == ["Code128", "QRCode"]
    page = text[0]
    for want in ("200", "Pudong Site", "100 Xihu Site", "2026-12-02", "sample"):
        assert want in page, (want, page)
    svg = tmp_path / "label.svg"
    assert run("label", number, "--db", db, "--dest", "200", "--out", str(svg)).exit_code == 0
    assert Counter(decode_svg(svg)) == Counter([number, number])


def test_label_takes_the_destination_from_the_hubs_scans(db, tmp_path):
    number = wb(13)
    res = run("label", number, "--db", db, "--out", str(tmp_path / "x.pdf"))
    assert res.exit_code == 1 and "give --dest" in res.output
    _commit_dispatch(db, number, dest="201")
    out = tmp_path / "l.pdf"
    res = run("label", number, "--db", db, "--out", str(out))
    assert res.exit_code == 0, res.output
    assert "Minhang Site" in decode_pdf(out)[1][0]


def _commit_dispatch(db, number, dest):
    """A dispatch scan naming ``dest``, committed the hub's own way."""
    import uuid

    from hub.scans.commit import commit_scans
    from hub.schema import connect
    connect(db)
    t = 1_780_000_000_000
    committed, rejected = commit_scans([{
        "id": uuid.uuid4().hex, "station": "st-100-1", "epoch": "e1", "seq": 1, "kind": "dispatch",
        "waybill": number, "site": "100", "operator": "1002", "device": "gun-1", "next_site": "900",
        "dest_site": dest, "edge_ms": t, "event_ms": t, "clock": "trusted"}])
    assert committed and not rejected, rejected


@pytest.mark.parametrize("args,message", [
    (["label", "70000000000012", "--dest", "200"], "check character"),
    (["label", "WB", "--dest", "200"], "matches no rule"),
    (["label", wb(5), "--dest", "999"], "unknown destination site 999"),
    (["label", wb(5), "--dest", "200", "--date", "2-12-2026"], "YYYY-MM-DD"),
    (["codes", "--site", "999"], "unknown site 999"),
    (["codes", "--site", "100", "--only", "kinds,friends"], "unknown section 'friends'"),
    (["codes", "--site", "100", "--out", "x.png"], "must end in .pdf or .svg"),
    (["codes"], "name the site"),
])
def test_bad_input_gets_one_line(db, tmp_path, args, message):
    res = run(*args, "--db", db)
    assert res.exit_code == 1, res.output
    assert message in res.output and len(res.output.strip().splitlines()) == 1, res.output


def test_a_code_that_code128_cannot_carry_is_refused_with_its_reason():
    cfg = {"site": "100", "staff": [{"code": "王1", "name": "x", "site": "100", "role": "clerk"}]}
    with pytest.raises(sheet_codes.LabelError, match="not printable ASCII"):
        sheet_codes.control_sections(cfg, ("operators",))


printable = st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=18)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(printable, min_size=1, max_size=4, unique=True))
def test_any_printable_text_roundtrips_through_pdf(texts, tmp_path):
    """Whatever a code holds (spaces, digits only, odd or even digit runs, punctuation), the
    printed symbol reads back as exactly that text."""
    sections = [sheet_codes.Section("x", "Codes", [sheet_codes.Code(t, "name") for t in texts])]
    out = tmp_path / "f.pdf"
    render.write(render.code_sheet(sections, "fuzz"), str(out), "pdf")
    for dpi in (203, 300):                  # a thermal label printer's dots, an office printer's
        assert Counter(decode_pdf(out, dpi)[0]) == Counter(texts), dpi


code_text = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=8)


@st.composite
def site_configs(draw):
    """A consistent configuration slice of site "S0" with arbitrary printable codes."""
    sites = draw(st.lists(code_text, min_size=2, max_size=6, unique=True))
    here = sites[0]
    staff = draw(st.lists(code_text, min_size=1, max_size=5, unique=True))
    shifts = draw(st.lists(code_text, max_size=3, unique=True))
    return {
        "site": here,
        "sites": [{"code": c, "name": f"site {i}", "kind": "center" if i == 1 else "site",
                   "center": sites[1] if i != 1 else None} for i, c in enumerate(sites)],
        "staff": [{"code": c, "name": "n", "site": here, "role": draw(st.sampled_from(["courier", "clerk"]))}
                  for c in staff],
        "shifts": [{"code": c, "from": here, "to": draw(st.sampled_from(sites[1:])), "depart": "08:00",
                    "transit_min": 60} for c in shifts],
        "next_stop": [{"site": here, "dest": d, "shift": "", "next": sites[1]} for d in sites[2:]],
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cfg=site_configs())
def test_every_code_of_any_sheet_is_a_control_code_the_station_takes(cfg, tmp_path):
    from edge.capture import Capture
    from edge.clock import StationClock
    from edge.outbox import Outbox
    box = Outbox(str(tmp_path / "fuzz-outbox.db"))
    try:
        cap = Capture("st-x", cfg["site"], box, StationClock(box.get_meta, box.set_meta), cfg)
        for sec in sheet_codes.control_sections(cfg):
            for code in sec.codes:
                verdict = cap.scan(code.text, device="gun-1")
                assert verdict.outcome == "control", (code.text, verdict)
    finally:
        box.close()


def test_the_pictures_in_the_docs_are_real_prints():
    """docs/printing.md shows page 1 of site 100's sheet and a label: their codes decode."""
    import pathlib
    pictures = pathlib.Path(__file__).resolve().parent.parent / "docs" / "pictures"
    assert Counter(decode_image(Image.open(pictures / "code-sheet-site-100.png"))) == Counter(SITE_100[:10])
    assert decode_image(Image.open(pictures / "waybill-label.png")) == ["70000000000016"] * 2


def test_long_names_and_codes_stay_on_the_label_and_the_sheet(tmp_path):
    long_name = "Hangzhou Xihu District Wenyi West Road Parcel Collection Point No. 7"
    label = render.WaybillLabel(wb(40), dest="DEST-CODE-123456", dest_name=long_name, origin="100",
                                origin_name=long_name, date="2026-12-02", network="sample")
    sheet = render.code_sheet([sheet_codes.Section("operators", "Operators", [
        sheet_codes.Code("%P1001", long_name + " " + long_name, long_name)])], "Site " + long_name)
    for name, doc in (("label", render.waybill_label(label)), ("sheet", sheet)):
        out = tmp_path / f"{name}.pdf"
        render.write(doc, str(out), "pdf")
        pdf = pdfium.PdfDocument(str(out))
        page = pdf[0]
        width = page.get_width()
        tp = page.get_textpage()
        rights = [tp.get_charbox(i)[2] for i in range(tp.count_chars())]
        assert rights and max(rights) <= width, (name, max(rights), width)
        assert decode_pdf(out)[0], name
        pdf.close()
