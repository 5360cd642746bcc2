"""Waybill records (录单): the contract's fold, the hub's checks and storage, the station's entry
through the same outbox, uplink and acknowledgement as scans."""
from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli import main
from conftest import sample_store, wait_for, wb
from contract.errors import PayloadError
from contract.waybill_record import FIELD, fold, validate_record
from edge.entry import parse_quick

T0 = 1_795_600_000_000
TARIFF = os.path.join(os.path.dirname(__file__), "..", "sim", "networks", "tariff-sample.yaml")

values = {
    "dest_site": st.sampled_from(["200", "201", "900"]),
    "weight_g": st.integers(1, 50_000),
    "cod_cents": st.integers(0, 100_000),
    "goods": st.text(min_size=1, max_size=10),
    "dims_cm": st.lists(st.integers(1, 200), min_size=3, max_size=3),
    "insured": st.booleans(),
}
field_sets = st.dictionaries(st.sampled_from(sorted(values)), st.none(), min_size=1).flatmap(
    lambda keys: st.fixed_dictionaries({k: st.one_of(st.none(), values[k]) for k in keys}))


def rec(i, fields, t=T0, site="100", waybill=None, station="st-100-1"):
    r = {"id": f"r{i}", "waybill": waybill or wb(1), "site": site, "station": station, "edge_ms": t,
         "event_ms": t, "fields": fields}
    return r


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(field_sets, st.integers(0, 5)), min_size=1, max_size=8), st.randoms())
def test_corrections_in_any_order_give_the_same_state(specs, rnd):
    records = [validate_record(rec(i, f, T0 + dt * 1000)) for i, (f, dt) in enumerate(specs)]
    shuffled = records[:]
    rnd.shuffle(shuffled)
    assert fold(shuffled) == fold(records)
    # the latest record that names a field decides it; null clears it
    state = fold(records)["fields"]
    for name in {k for f, _ in specs for k in f}:
        naming = sorted(((T0 + dt * 1000, f"r{i}"), f[name]) for i, (f, dt) in enumerate(specs) if name in f)
        last = naming[-1][1]
        if isinstance(last, list):
            last = list(last)
        assert state.get(name) == last


@settings(max_examples=100, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20) | st.floats(),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=12), c, max_size=5),
                    max_leaves=20))
def test_any_json_is_a_record_or_one_clear_refusal(junk):
    for candidate in (junk, {"id": "x", "waybill": wb(1), "site": "100", "edge_ms": T0, "event_ms": T0,
                             "fields": junk}):
        try:
            row = validate_record(candidate)
        except PayloadError as e:
            assert str(e) and "\n" not in str(e)
        else:
            assert set(json.loads(row["fields_json"])) <= set(FIELD)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_quick_entry_parses_or_refuses_clearly(text):
    try:
        number, fields = parse_quick(text)
    except PayloadError as e:
        assert str(e) and "\n" not in str(e)
    else:
        assert number and fields
        assert fields.get("weight_g", 1) > 0 and ("weight_g" in fields) == ("dest_site" in fields)


def test_quick_entry_reads_every_word():
    number, fields = parse_quick(f"{wb(1)} 200 2.3 40x30x20 cod=500 collect=12.50 declared=800 insured +upstairs pieces=2")
    assert number == wb(1)
    assert fields == {"dest_site": "200", "weight_g": 2300, "dims_cm": [40, 30, 20], "cod_cents": 50000,
                      "freight_collect_cents": 1250, "payment": "collect", "declared_cents": 80000,
                      "insured": True, "surcharges": ["upstairs"], "pieces": 2}
    with pytest.raises(PayloadError, match="at least a number"):
        parse_quick(wb(1))
    with pytest.raises(PayloadError, match="kilograms"):
        parse_quick(f"{wb(1)} 200 heavy")


# ---------------------------------------------------------------- at the hub

def commit(records, **kw):
    from hub.ingest import pipeline
    from hub.store.db import database
    with database.atomic():
        return pipeline.commit_waybills(records, **kw)


def test_hub_checks_stores_and_keeps_every_correction(store_url):
    from hub.scans import tables as m
    from hub.waybills.records import entry, history
    sample_store(store_url)
    ok, bad = commit([rec(1, {"dest_site": "200", "weight_g": 2300}),
                      rec(2, {"dest_site": "200"}, waybill=wb(1, 2)),              # issued to site 200
                      rec(3, {"dest_site": "999"}, waybill=wb(2)),
                      rec(4, {"weight_g": 1}, waybill="12345")])
    assert [r["id"] for r in ok] == ["r1"]
    reasons = {r["id"]: why for r, why in bad}
    assert reasons["r2"] == f"waybill {wb(1, 2)} was issued to site 200, not to 100"
    assert reasons["r3"] == "unknown destination site 999"
    assert reasons["r4"].startswith("not a waybill number")
    assert m.DeadLetter.select().where(m.DeadLetter.topic == "waybill").count() == 3

    # a correction later, and an earlier-made one arriving late: both kept, the latest wins
    commit([rec(5, {"weight_g": 2500, "cod_cents": 50000}, T0 + 60_000),
            rec(6, {"weight_g": 9999, "goods": "books"}, T0 - 60_000)])
    e = entry(wb(1))
    assert e["origin_site"] == "100" and e["records"] == 3
    assert e["fields"] == {"dest_site": "200", "weight_g": 2500, "cod_cents": 50000, "goods": "books"}
    assert [r["id"] for r in history(wb(1))] == ["r6", "r1", "r5"]

    # the same record again changes nothing; the same id with other content is a conflict
    ok, bad = commit([rec(5, {"weight_g": 2500, "cod_cents": 50000}, T0 + 61_000)])
    assert ok and not bad
    ok, bad = commit([rec(5, {"weight_g": 1}, T0 + 60_000)])
    assert not ok and bad[0][1].startswith("conflict: waybill record r5")
    assert entry(wb(1))["fields"]["weight_g"] == 2500


def test_fees_and_previous_stop_use_the_entered_waybill(store_url):
    from hub.business import tables as bm
    from hub.business.fees import waybill_fees
    from hub.business.tariff import install, load_tariff
    from hub.ingest import pipeline
    from hub.store.db import database
    sample_store(store_url)
    install(load_tariff(TARIFF))
    n = wb(7)
    commit([rec(1, {"dest_site": "200", "weight_g": 800, "dims_cm": [40, 30, 20], "cod_cents": 50000},
                waybill=n)])
    scans = [{"id": "s1", "station": "st-900-1", "seq": 1, "kind": "arrive", "waybill": n, "site": "900",
              "edge_ms": T0 + 3_600_000, "event_ms": T0 + 3_600_000},      # no weight: the entered one counts
             {"id": "s2", "station": "st-900-1", "seq": 2, "kind": "dispatch", "waybill": n, "site": "900",
              "dest_site": "200", "edge_ms": T0 + 7_200_000, "event_ms": T0 + 7_200_000},
             {"id": "s3", "station": "st-200-1", "seq": 1, "kind": "sign", "waybill": n, "site": "200",
              "signer": "x", "edge_ms": T0 + 9_000_000, "event_ms": T0 + 9_000_000}]
    with database.atomic():
        ok, bad = pipeline.commit(scans)
    assert not bad
    arrival = bm.ScanFact.get(bm.ScanFact.scan_id == "s1")
    assert (arrival.peer, arrival.peer_src) == ("100", "issuance")        # issuance before the entry
    fees = {f["source"].split(":")[1]: f["lines"] for f in waybill_fees(n)}
    assert "transit" in fees and fees["collect"]["cod:100"] == 50000

    # a parcel only arrived at the center: origin and destination as entered
    n2 = wb(8, 1)                                     # issued to site 101, entered there
    commit([rec(2, {"dest_site": "200", "weight_g": 800}, waybill=n2, site="101")])
    with database.atomic():
        pipeline.commit([dict(scans[0], id="s9", waybill=n2, seq=9)])
    parcel = bm.ParcelFact.get(bm.ParcelFact.waybill == n2)
    assert (parcel.dest_site, parcel.origin_site) == ("200", "101")


def test_previous_stop_falls_back_to_the_entered_origin():
    from hub.business.previous_stop import previous_stop
    arrival = {"id": "a", "kind": "arrive", "site": "900", "event_ms": T0, "waybill": "X"}
    assert previous_stop(arrival, [arrival]) == (None, None)
    assert previous_stop(arrival, [arrival], origin="100") == ("100", "origin")
    assert previous_stop(arrival, [arrival], origin="900") == (None, None)


# ---------------------------------------------------------------- station -> hub

def test_station_entry_goes_through_outbox_uplink_and_ack(hub_service, make_edge, hub_store):
    agent = make_edge()
    assert agent.config_event.wait(15)
    entry = agent.entry
    v = entry.quick(f"{wb(5)} 200 2.3 40x30x20 cod=500")
    assert v.accepted, v.reason
    v = entry.quick(f"{wb(5, 2)} 200 1")
    assert v.outcome == "refused" and v.reason == f"waybill {wb(5, 2)} was issued to site 200, not to 100"
    assert entry.quick(f"{wb(6)} 777 1").reason == "unknown destination site 777"
    assert entry.enter(wb(5), {"receiver_name": "张三", "cod_cents": 60000}).accepted     # a correction
    wait_for(lambda: agent.outbox.waybill_counts()["pending"] == 0, what="the records acknowledged")
    assert agent.outbox.waybill_counts()["entered"] == 2

    r = CliRunner().invoke(main, ["track", wb(5), "--db", hub_store, "--json"])
    assert r.exit_code == 0, r.output
    t = json.loads(r.output)
    assert t["status"] == "entered" and t["entered"]["records"] == 2
    assert t["entered"]["fields"] == {"dest_site": "200", "weight_g": 2300, "dims_cm": [40, 30, 20],
                                      "cod_cents": 60000, "receiver_name": "张三"}
    r = CliRunner().invoke(main, ["track", wb(5), "--db", hub_store])
    assert r.exit_code == 0 and "entered at 100: to 200, 2300 g, 40x30x20 cm, COD 600.00" in r.output


def test_station_enters_offline_and_sends_when_the_hub_is_back(hub_store, broker, make_edge):
    from hub.ingest.service import HubService
    from hub.waybills.records import entry
    from hub.schema import connect
    agent = make_edge()
    assert agent.entry.quick(f"{wb(8)} 200 0.5").accepted          # no hub yet: stored, pending
    assert agent.outbox.waybill_counts()["pending"] == 1
    svc = HubService(hub_store, broker.url).start()
    try:
        wait_for(lambda: agent.outbox.waybill_counts()["pending"] == 0, what="the record sent and acknowledged")
    finally:
        svc.stop()
    connect(hub_store)
    assert entry(wb(8))["fields"] == {"dest_site": "200", "weight_g": 500}


def test_a_record_for_another_site_is_refused_in_the_ack(hub_service, broker):
    from conftest import raw_station
    from contract import protocol as P
    with raw_station(broker, "st-100-1") as (client, acks):
        body = {"batch": "b1", "station": "st-100-1", "scans": [], "deletions": [],
                "waybills": [rec(1, {"weight_g": 5}, site="200", waybill=wb(9)),
                             rec(2, {"weight_g": 5}, waybill=wb(9)), {"not": "a record"}]}
        client.publish(P.topic("st-100-1", P.SCANS), P.encode(body), qos=1)
        wait_for(lambda: acks, what="the ack")
    ack = acks[0]
    assert ack["waybills"] == ["r2"]
    reasons = [r["reason"] for r in ack["waybills_rejected"]]
    assert reasons[0] == "waybill record names site '200'; station st-100-1 is at site 100"
    assert reasons[1].startswith("waybill record names another station")


# ---------------------------------------------------------------- bulk import at the hub

def run(*args):
    return CliRunner().invoke(main, list(args))


def test_import_csv_with_per_line_errors_and_again_changes_nothing(hub_store, tmp_path):
    path = tmp_path / "wb.csv"
    path.write_text("运单号,目的站,重量,尺寸,代收货款,收件人,insured\n"
                    f"{wb(11)},200,2.3,40x30x20,500,张三,yes\n"
                    f"{wb(12)},200,heavy,,,,\n"
                    f"{wb(13, 2)},200,1,,,,\n"
                    "\n"
                    f"{wb(14)},200,0.4,,12.345,,no\n", encoding="utf-8")
    r = run("waybill", "import", str(path), "--site", "100", "--db", hub_store)
    assert r.exit_code == 1, r.output
    assert "1 waybill record(s) entered, 3 line(s) refused" in r.output
    assert f"{path}:3: weight 'heavy': give kilograms, e.g. 2.3" in r.output
    assert f"{path}:4: waybill {wb(13, 2)} was issued to site 200, not to 100" in r.output
    assert f"{path}:6: cod '12.345': give yuan with at most two decimals" in r.output
    again = json.loads(run("waybill", "import", str(path), "--site", "100", "--db", hub_store, "--json").stdout)
    assert again["entered"] == 1 and again["refused"] == 3
    shown = json.loads(run("waybill", "show", wb(11), "--db", hub_store, "--json").output)
    assert shown["records"] == 1 and shown["fields"] == {
        "dest_site": "200", "weight_g": 2300, "dims_cm": [40, 30, 20], "cod_cents": 50000,
        "receiver_name": "张三", "insured": True}

    listed = json.loads(run("waybill", "list", "--site", "100", "--db", hub_store, "--json").output)
    assert [x["waybill"] for x in listed] == [wb(11)]
    hist = run("waybill", "history", wb(11), "--db", hub_store)
    assert hist.exit_code == 0 and "(hub import)" in hist.output


def test_import_places_text_addresses(hub_store, tmp_path):
    path = tmp_path / "wb.csv"
    path.write_text("waybill,dest_site,weight_kg,receiver_address,sender_address\n"
                    f"{wb(15)},200,1,上海市浦东新区世纪大道100号,西湖区文三路\n", encoding="utf-8")
    assert run("waybill", "import", str(path), "--site", "100", "--db", hub_store).exit_code == 0
    f = json.loads(run("waybill", "show", wb(15), "--db", hub_store, "--json").output)["fields"]
    assert (f["receiver_province"], f["receiver_city"], f["receiver_district"]) == ("31", "3101", "310115")
    assert "sender_province" not in f and f["sender_address"] == "西湖区文三路"      # ambiguous: text only

def test_import_xlsx_and_a_correction_file(hub_store, tmp_path):
    import openpyxl
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["waybill", "site", "dest_site", "weight_kg", "cod"])
    sheet.append([int(wb(21)), 100, 200, 1.5, 300])
    sheet.append([wb(22), "100", "200", 2, None])
    book.save(tmp_path / "wb.xlsx")
    r = run("waybill", "import", str(tmp_path / "wb.xlsx"), "--db", hub_store, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == {"entered": 2, "refused": 0, "errors": []}
    (tmp_path / "fix.csv").write_text(f"waybill,site,weight_kg\n{wb(21)},100,1.8\n", encoding="utf-8")
    assert run("waybill", "import", str(tmp_path / "fix.csv"), "--db", hub_store).exit_code == 0
    shown = json.loads(run("waybill", "show", wb(21), "--db", hub_store, "--json").output)
    assert shown["records"] == 2 and shown["fields"] == {"dest_site": "200", "weight_g": 1800, "cod_cents": 30000}


@pytest.mark.parametrize("content,message", [
    (b"", "empty file"),
    (b"waybill,colour\n1,red\n", "unknown column 'colour'"),
    (b"dest_site\n200\n", "no waybill column"),
    (b"waybill,dest_site\n7,200\n", "no site column: give the entering site with --site"),
    (b"\xff\xfe\x00bad", "not UTF-8 text"),
])
def test_import_refuses_a_bad_file_in_one_line(hub_store, tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    r = run("waybill", "import", str(path), "--db", hub_store)
    assert r.exit_code == 1 and message in r.output and "Traceback" not in r.output
    (tmp_path / "bad.xlsx").write_bytes(b"PK not really")
    r = run("waybill", "import", str(tmp_path / "bad.xlsx"), "--site", "100", "--db", hub_store)
    assert r.exit_code == 1 and "not a readable Excel workbook" in r.output


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300))
def test_import_fuzz_never_crashes(tmp_path, data):
    from hub.waybills.importer import read_rows
    from hub.waybills.records import WaybillError
    path = tmp_path / "fuzz.csv"
    path.write_bytes(b"waybill,dest_site,weight_kg,cod,insured,surcharges\n" + data)
    try:
        records, errors = read_rows(str(path), "100", T0)
    except WaybillError as e:
        assert "\n" not in str(e)
    else:
        for _, r in records:
            validate_record(r)


def test_the_console_enters_waybills_from_a_plus_line(tmp_path, broker, hub_service):
    import subprocess
    import sys

    import yaml

    from conftest import read_line
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cfg = tmp_path / "station.yaml"
    cfg.write_text(yaml.safe_dump({"station": "st-100-1", "site": "100", "broker": broker.url,
                                   "outbox": str(tmp_path / "st.db"), "staff": ["1002"]}))
    p = subprocess.Popen([sys.executable, os.path.join(root, "cli.py"), "edge", "run", "--config", str(cfg),
                          "--stdin", "--plain"], cwd=root, text=True, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=1)
    try:
        assert "running" in read_line(p.stdout, what="the station to start")
        p.stdin.write(f"+{wb(31)} 200 2.3 40x30x20\n+{wb(32)} 200\n")
        p.stdin.flush()
        lines = []
        while len(lines) < 2:
            line = read_line(p.stdout, what="the entry verdicts")
            assert line, "the station ended early"
            if line.startswith("[entry]"):
                lines.append(line.strip())
        assert lines[0] == f"[entry] accepted waybill {wb(31)} (weight 2300 g)"
        assert lines[1].startswith("[entry] refused: quick entry needs at least a number, a destination and a weight")
    finally:
        p.terminate()
        p.wait(20)


def test_the_screen_shows_the_entry_row(make_edge):
    import io as _io

    from rich.console import Console

    from edge.console import StationScreen
    agent = make_edge(broker_url="mqtt://127.0.0.1:1")
    screen = StationScreen(agent)

    def text():
        con = Console(file=_io.StringIO(), width=120, record=True, color_system=None)
        con.print(screen.render(120))
        return con.export_text()
    assert "+NUMBER DEST KG [LxWxH] [cod=YUAN] enters a waybill" in text()
    assert agent.entry.quick(f"{wb(33)} 200 1").accepted          # offline: kept for the hub
    assert "1 entered, 1 waiting for the hub" in text()


# ---------------------------------------------------------------- docs/protocol.md says what the code does

def test_the_documented_waybill_record_is_accepted_as_published(hub_service, broker, hub_store):
    import re

    from conftest import raw_station
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    doc = open(os.path.join(root, "docs", "protocol.md"), encoding="utf-8").read()
    body = json.loads(re.search(r"<!-- example-waybill -->\s*```json\n(.*?)```", doc, re.S).group(1))
    named = set(re.findall(r"`(\w+)`", doc[doc.index("`fields` (all optional"):doc.index("An unknown field")]))
    expanded = {n.replace("province|city|district", x) for n in named for x in ("province", "city", "district")}
    for side in ("sender", "receiver"):
        expanded |= {f"{side}_{x}" for x in ("province", "city", "district")}
    assert set(FIELD) <= expanded | {"insured"}, set(FIELD) - expanded
    with raw_station(broker, "st-100-1") as (client, acks):
        client.publish("scanhub/v1/station/st-100-1/scans", json.dumps(body).encode(), qos=1)
        wait_for(lambda: acks, what="the ack")
    assert acks[0]["waybills"] == ["manual-wb-0001"] and acks[0]["waybills_rejected"] == []
    r = CliRunner().invoke(main, ["waybill", "show", "70000000000016", "--db", hub_store, "--json"])
    assert json.loads(r.output)["fields"]["receiver_name"] == "张三"


def test_the_quick_entries_docs_station_md_shows_parse():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    doc = open(os.path.join(root, "docs", "station.md"), encoding="utf-8").read()
    lines = [ln[1:] for ln in doc.splitlines() if ln.startswith("+7")]
    assert len(lines) >= 2
    for line in lines:
        number, fields = parse_quick(line)
        assert number.startswith("7") and (fields.get("dest_site") == "200" or
                                           fields.keys() <= {f.name for f in FIELD.values()} - {"dest_site"})
    follow = [parse_quick(ln)[1] for ln in lines if "receiver_name=" in ln or "sender_name=" in ln]
    assert {"receiver_name", "receiver_phone", "receiver_address", "sender_name", "sender_phone",
            "goods"} <= {k for f in follow for k in f}


def test_sender_and_receiver_follow_a_quick_entry_as_name_value_words():
    number, fields = parse_quick(f"{wb(1)} 200 2.3 receiver_name=张三 receiver_phone=13800000000")
    assert fields == {"dest_site": "200", "weight_g": 2300, "receiver_name": "张三", "receiver_phone": "13800000000"}
    number, fields = parse_quick(f"{wb(1)} sender_name=李四 goods=文件 remark=易碎")
    assert number == wb(1) and fields == {"sender_name": "李四", "goods": "文件", "remark": "易碎"}
    with pytest.raises(PayloadError, match="needs a value"):
        parse_quick(f"{wb(1)} receiver_name=")
    with pytest.raises(PayloadError, match="not understood"):
        parse_quick(f"{wb(1)} nickname=x")


def test_a_salvage_keeps_the_waybill_records(tmp_path):
    from edge.outbox import Outbox
    from edge.salvage import salvage
    path = str(tmp_path / "o.db")
    ob = Outbox(path)
    rec = {"id": "e1", "waybill": wb(1), "site": "100", "station": "st", "edge_ms": T0, "fields": {"weight_g": 5}}
    ob.add_waybill(rec, T0, 1, "boot")
    ob.add_waybill(dict(rec, id="e2"), T0 + 1, 2, "boot")
    ob.mark_waybills_acked(["e2"], [], T0 + 2)
    ob.close()
    report = salvage(path)
    assert report["saved"]["waybill_records"] == 2 and report["saved"]["waybill_records_pending"] == 1
    ob = Outbox(path)
    try:
        assert [r["id"] for r in ob.waybill_records()] == ["e1", "e2"]
        assert [p[0] for p in ob.pending_waybills()] == ["e1"]
    finally:
        ob.close()


# ---------------------------------------------------------------- the hub, in any order, and junk

junk_records = st.one_of(
    st.none(), st.integers(), st.text(max_size=10),
    st.fixed_dictionaries({"id": st.one_of(st.text(max_size=70), st.integers()),
                           "waybill": st.sampled_from([wb(1), wb(1, 2), "x", ""]),
                           "site": st.sampled_from(["100", "200", "zzz", None]),
                           "edge_ms": st.one_of(st.just(T0), st.text(max_size=3)),
                           "event_ms": st.one_of(st.just(T0), st.integers(0, T0)),
                           "fields": st.one_of(st.dictionaries(st.sampled_from(sorted(FIELD) + ["colour"]),
                                                               st.one_of(st.none(), st.integers(-5, 10**12),
                                                                         st.text(max_size=5), st.booleans()),
                                                               max_size=4), st.text(max_size=3))}))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(records=st.lists(junk_records, max_size=6))
def test_any_records_commit_or_are_refused_and_nothing_else_happens(model_store, records):
    from hub.waybills import tables as wt
    from hub.waybills.records import Checks
    _reset_sample()
    before = wt.WaybillRecord.select().count()
    Checks._cache.clear()
    ok, bad = commit(records)
    assert len(ok) + len(bad) == len(records)
    assert all(isinstance(why, str) and why and "\n" not in why for _, why in bad)
    assert wt.WaybillRecord.select().count() - before <= len(ok)


def _reset_sample():
    from hub.network import basic_data
    from hub.network.file import load_network
    from hub.schema import TABLES
    from hub.store.versions import stamp
    from conftest import SAMPLE
    for t in reversed(TABLES):
        t.delete().execute()
    stamp()
    basic_data.import_network(load_network(SAMPLE))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(st.lists(st.tuples(field_sets, st.integers(0, 5)), min_size=1, max_size=6), st.data())
def test_the_hub_folds_records_arriving_in_any_batches_to_the_same_entry(model_store, specs, data):
    from hub.waybills.records import entry
    recs = [rec(i, f, T0 + dt * 1000) for i, (f, dt) in enumerate(specs)]
    _reset_sample()
    commit(recs)
    want = entry(wb(1))
    _reset_sample()
    order = data.draw(st.permutations(recs))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(order)), max_size=3)))
    for a, b in zip([0] + cuts, cuts + [len(order)]):
        commit(order[a:b] + order[a:b][:1])                # and some sent twice
    assert entry(wb(1)) == want


def test_entry_mode_on_a_gun_enters_each_number_with_the_scale_weight(tmp_path):
    from edge.capture import Capture
    from edge.clock import StationClock
    from edge.entry import Entry
    from edge.outbox import Outbox
    ob = Outbox(str(tmp_path / "o.db"))
    weights = iter([1250, None])
    cap = Capture("st-100-1", "100", ob, StationClock(ob.get_meta, ob.set_meta),
                  {"sites": [{"code": "100"}, {"code": "200"}], "waybill_rules": [
                      {"name": "std14", "pattern": "^7[0-9]{13}$", "check": "mod10-31"}]},
                  weight_source=lambda: next(weights), keep_contexts=False)
    entry = Entry(cap)
    try:
        assert cap.scan("%E999", device="gun-1").reason == "unknown site code 999"
        assert cap.scan("%E200", device="gun-1").outcome == "control"
        v = cap.scan(wb(41), device="gun-1")
        assert v.accepted and v.scan == {"kind": "waybill", "waybill": wb(41), "weight_g": 1250, "dest_site": "200"}
        assert cap.scan(wb(42), device="gun-1").reason.startswith("no stable weight")
        assert cap.scan(wb(43), device="gun-2").reason.startswith("choose a scan kind")   # another gun scans
        assert cap.scan("%E", device="gun-1").reason == "waybill entry ended"
        assert cap.scan(wb(44), device="gun-1").reason.startswith("choose a scan kind")
        assert [r["fields"] for r in ob.waybill_records()] == [{"dest_site": "200", "weight_g": 1250}]
        assert entry.modes == {}
    finally:
        ob.close()


def test_a_later_line_of_one_file_corrects_an_earlier_one(hub_store, tmp_path):
    lines = ["waybill,dest_site,weight_kg"] + [f"{wb(16)},200,{i}" for i in range(1, 12)]
    (tmp_path / "wb.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert run("waybill", "import", str(tmp_path / "wb.csv"), "--site", "100", "--db", hub_store).exit_code == 0
    shown = json.loads(run("waybill", "show", wb(16), "--db", hub_store, "--json").output)
    assert shown["records"] == 11 and shown["fields"]["weight_g"] == 11000     # line 12, not line 9


def test_edge_outbox_lists_the_waybill_records_with_the_hubs_reason(tmp_path):
    import yaml

    from edge.outbox import Outbox
    path = str(tmp_path / "st.db")
    ob = Outbox(path)
    rec = {"id": "e1", "waybill": wb(1), "site": "100", "station": "st-100-1", "edge_ms": T0,
           "fields": {"weight_g": 5}}
    ob.add_waybill(rec, T0, 1, "b")
    ob.add_waybill(dict(rec, id="e2", waybill=wb(2)), T0 + 1, 2, "b")
    ob.mark_waybills_acked([], [("e2", "unknown destination site 777")], T0 + 2)
    ob.close()
    cfg = tmp_path / "station.yaml"
    cfg.write_text(yaml.safe_dump({"station": "st-100-1", "site": "100", "broker": "mqtt://127.0.0.1:1",
                                   "outbox": path}))
    r = run("edge", "outbox", "--config", str(cfg), "--waybills", "--json")
    assert r.exit_code == 0, r.output
    assert [(x["id"], x["state"], x["reason"]) for x in json.loads(r.output)] == [
        ("e1", "pending", None), ("e2", "rejected", "unknown destination site 777")]
    r = run("edge", "outbox", "--config", str(cfg), "--waybills", "--state", "rejected")
    assert r.exit_code == 0 and "(unknown destination site 777)" in r.output and wb(1) not in r.output
    r = run("edge", "outbox", "--config", str(cfg), "--waybills", "--format", "csv")
    assert r.output.splitlines()[0] == "state,waybill,id,edge_ms,operator,fields,reason"
