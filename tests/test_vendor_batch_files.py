"""Vendor batch files, against the records printed in the vendors' manuals (docs/scanners.md,
"Vendor batch files"), and a station importing one."""
from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.scanner.vendor_files import FORMATS, VendorFileError, parse


def utc(y, mo, d, h, mi, s, tz_min=480):
    return int(dt.datetime(y, mo, d, h, mi, s, tzinfo=dt.timezone(dt.timedelta(minutes=tz_min))).timestamp() * 1000)


# Opticon OPN-2006 Batch demo Quick Guide, chapter 4 "Barcode database file" (page 7): the example.
OPN2006 = (b"8710841030181,003278,14:41:03,23/11/2009\r\n"
           b"8710841090246,003278,14:41:04,23/11/2009\r\n"
           b"9780131103627,003278,14:41:00,23/11/2009\r\n")
# Opticon OPN-2004/OPN-2005/PX-20 Batch demo (v37938) Quick Guide, chapter 4 (page 7): with quantity.
OPN2005 = (b"8710841030181,12,003278,14:41:03,23/11/2009\r\n"
           b"8710841090246,2,003278,14:41:04,23/11/2009\r\n"
           b"9780131103627,1,003278,14:41:00,23/11/2009\r\n")


def test_opticon_scanned_txt_as_the_manual_prints_it():
    recs, problems = parse(OPN2006, "opticon-scanned", tz_offset_min=60)
    assert problems == []
    assert [(r.line, r.barcode, r.serial, r.quantity) for r in recs] == [
        (1, "8710841030181", "003278", 1), (2, "8710841090246", "003278", 1), (3, "9780131103627", "003278", 1)]
    assert recs[0].time_ms == utc(2009, 11, 23, 14, 41, 3, 60)


def test_opticon_scanned_txt_with_quantities():
    recs, problems = parse(OPN2005, "opticon-scanned-qty", tz_offset_min=60)
    assert problems == [] and [r.quantity for r in recs] == [12, 2, 1]
    assert recs[2].time_ms == utc(2009, 11, 23, 14, 41, 0, 60)


def test_opticon_data_txt_fixed_width():
    # OPL 9724 User guide, 3. Data format (page 17): barcode padded to 50, code ID to 18, time, date, CR LF
    line = "70000000000016".ljust(50) + "," + "Code 128".ljust(18) + ",08:15:00,01/06/2024\r\n"
    recs, problems = parse(line.encode(), "opticon-data")
    assert problems == [] and recs[0].barcode == "70000000000016" and recs[0].code_id == "Code 128"
    assert recs[0].time_ms == utc(2024, 6, 1, 8, 15, 0)


def test_bad_lines_are_reported_one_by_one_and_the_rest_kept():
    text = (OPN2006.decode() + "8710841030181,003278,25:00:00,23/11/2009\r\n"
            + "8710841030181,003278,10:00:00,31/02/2009\r\n" + "just a barcode\r\n")
    recs, problems = parse(text, "opticon-scanned")
    assert len(recs) == 3
    assert problems == ["line 4: time '25:00:00' is not hh:mm:ss", "line 5: date '31/02/2009' does not exist",
                        "line 6: 1 fields, the opticon-scanned record has 4"]
    try:
        parse(b"\xff\xfe\x00", "opticon-scanned")
    except VendorFileError as e:
        assert "not a text file" in str(e)
    else:
        raise AssertionError("binary accepted")


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=400), fmt=st.sampled_from(FORMATS))
def test_any_bytes_give_records_problems_or_one_clear_error(data, fmt):
    try:
        recs, problems = parse(data, fmt)
    except VendorFileError as e:
        assert "\n" not in str(e)
        return
    assert all(p.startswith("line ") and "\n" not in p for p in problems)
    assert all(r.barcode and r.quantity >= 1 for r in recs)


def test_a_station_imports_a_batch_file(tmp_path, hub_store):
    import json

    from click.testing import CliRunner

    import cli
    from conftest import wb
    from edge.outbox import Outbox
    from hub.network.station_config import site_slice
    from hub.schema import connect
    connect(hub_store)
    slice_ = site_slice("900", "st-900-1")
    outbox = tmp_path / "st-900-1.db"
    ob = Outbox(str(outbox))
    ob.set_meta("config", json.dumps(slice_))       # as a station that reached the hub once keeps it
    ob.close()
    cfg = tmp_path / "station.yaml"
    cfg.write_text(f"station: st-900-1\nsite: '900'\noutbox: {outbox}\n")
    bad = wb(3)[:-1] + str((int(wb(3)[-1]) + 1) % 10)
    now = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))) - dt.timedelta(hours=1)
    stamp = now.strftime("%H:%M:%S,%d/%m/%Y")
    f = tmp_path / "SCANNED.TXT"
    f.write_text(f"{wb(1)},003278,{stamp}\r\n{wb(2)},003278,{stamp}\r\n{bad},003278,{stamp}\r\ngarbage\r\n")
    args = ["edge", "import-batch", "--config", str(cfg), str(f), "--format", "opticon-scanned", "--kind", "arrive",
            "--operator", "9001", "--json"]
    r = CliRunner().invoke(cli.main, args)
    assert r.exit_code == 1, r.output
    out = json.loads(r.output)
    assert out["accepted"] == 2 and [x["line"] for x in out["refused"]] == [3] and "check digit" in out["refused"][0]["reason"]
    assert out["problems"] == ["line 4: 1 fields, the opticon-scanned record has 4"]
    again = json.loads(CliRunner().invoke(cli.main, args).output)
    assert again["accepted"] == 0 and all("repeat scan" in x["reason"] for x in again["refused"][:2])
    ob = Outbox(str(outbox))
    scans = ob.scans()
    ob.close()
    assert [(s["waybill"], s["kind"], s["device"], s["edge_ms"]) for s in scans] == [
        (wb(n), "arrive", "opticon-scanned-003278", int(now.replace(microsecond=0).timestamp() * 1000)) for n in (1, 2)]
    assert all(len(s["chain"]) == 64 for s in scans)
