"""IVR self-service over the hub's store (SQLite, and PostgreSQL where it runs): tracking the
same answer as `scanhub track`, quotes from the tariff in force, the nearest site by area code or
district, the caller directory over platform orders, and a whole call through the sample flow."""
from __future__ import annotations

import json
import os
import uuid

import pytest
from click.testing import CliRunner

import cli
from hub.ivr import say
from contract.phone import e164, numbers_in
from hub.ivr.directory import HubDirectory
from hub.ivr.engine import Engine
from hub.ivr.flow import load_flow
from hub.ivr.selfservice import HubServices, nearest_site, track_prompts
from test_ivr_engine import Clock, plays
from test_ivr_flow import SAMPLE_FLOW
from tests.conftest import sample_store, wb

FLOW = load_flow(SAMPLE_FLOW)
T0 = Clock("2026-12-01 09:00").ms
WB = wb(16)


def scan(kind, site, minutes, **kw):
    s = {"id": uuid.uuid4().hex, "station": f"st-{site}-1", "epoch": "e1", "seq": minutes + 1, "kind": kind,
         "waybill": WB, "site": site, "edge_ms": T0 + minutes * 60_000, "event_ms": T0 + minutes * 60_000}
    s.update(kw)
    return s


@pytest.fixture
def store(store_url):
    from hub.ingest import pipeline
    sample_store(store_url)
    committed, rejected = pipeline.commit([scan("receive", "100", 0, operator="1001"),
                                           scan("dispatch", "100", 60, next_site="900")])
    assert rejected == []
    return store_url


def run(*args):
    return CliRunner().invoke(cli.main, list(args), catch_exceptions=False)


def test_tracking_reads_the_answer_of_scanhub_track(store):
    t = json.loads(run("track", WB, "--db", store, "--json").output)
    from hub.schema import connect
    connect(store)
    res = HubServices().run("track", {"waybill": WB}, 480)
    assert res.outcome == "ok" and res.detail["status"] == t["status"] == "in transit"
    assert res.prompts == ["track/intro", "status/dispatch", "track/at", "site/100", "track/next", "site/900"]
    assert HubServices().run("track", {"waybill": wb(99)}, 480).prompts == ["track/not_found"]


def test_a_signed_parcel_tells_when(store):
    from hub.ingest import pipeline
    pipeline.commit([scan("arrive", "200", 300), scan("sign", "200", 400, signer="Li")])
    t = json.loads(run("track", WB, "--db", store, "--json").output)
    from hub.schema import connect
    connect(store)
    assert t["status"] == "signed"
    sign_ms = [e for e in t["events"] if e["kind"] == "sign"][0]["event_ms"]
    assert track_prompts(t, 480) == ["track/intro", "status/sign", "track/signed_at"] + say.time(sign_ms, 480)
    assert HubServices().run("track", {"waybill": WB}, 480).prompts == track_prompts(t, 480)


def test_a_whole_call_tracks_the_parcel_by_keypad(store):
    clock = Clock("2026-12-02 03:00")                  # three in the morning: the closed flow still tracks
    e = Engine(FLOW, HubServices(clock=clock), clock)
    heard = plays(e.start("13800000000", "95311"))
    heard += plays(e.prompt_done())
    for k in "1" + WB + "#":
        heard += plays(e.digit(k))
    assert heard == ["closed", "closed_menu", "enter_waybill", "track/intro", "status/dispatch", "track/at",
                     "site/100", "track/next", "site/900"]
    heard = plays(e.prompt_done())
    assert heard == ["closed_menu"] and e.path[-3:] == ["night_waybill", "night_track", "after_hours"]
    svc = [t for t in e.trail if t["event"] == "service"][0]
    assert svc["outcome"] == "ok" and svc["waybill"] == WB and svc["status"] == "in transit"


def test_a_quote_from_the_tariff_in_force(store):
    from hub.business.tariff import install, load_tariff
    from hub.schema import connect
    connect(store)
    svc = HubServices(clock=lambda: T0)
    assert svc.run("quote", {"origin": "0571", "dest": "021", "weight": "2"}, 480).prompts == ["quote/none"]
    tariff = load_tariff(os.path.join(os.path.dirname(__file__), "..", "sim", "networks", "tariff-sample.yaml"))
    install(tariff)
    res = svc.run("quote", {"origin": "571", "dest": "021", "weight": "5"}, 480)
    # the same answer as `scanhub quote` between the two sites the area codes name
    out = CliRunner().invoke(cli.main, ["quote", "--db", store, "--from", "100", "--to", "200", "--weight", "5",
                                        "--json"], catch_exceptions=False)
    cents = json.loads(out.output)["total_cents"]
    assert res.outcome == "ok" and res.variables == {"quote_cents": str(cents)} and cents > 0
    assert res.prompts == ["quote/intro"] + say.amount(cents)
    assert res.detail["origin_site"] == "100" and res.detail["dest_site"] == "200"
    assert svc.run("quote", {"origin": "100", "dest": "200", "weight": "5"}, 480).variables == res.variables
    assert svc.run("quote", {"origin": "0571", "dest": "0999", "weight": "5"}, 480).outcome == "fail"
    assert svc.run("quote", {"origin": "0571", "dest": "021", "weight": "0"}, 480).outcome == "fail"


def test_the_nearest_site_by_area_code_or_district(store):
    from hub.schema import connect
    connect(store)
    assert nearest_site("0571") == nearest_site("571") == "100"
    assert nearest_site("021") == nearest_site("21") == "200"
    assert nearest_site("330108") == "101"
    assert nearest_site("0999") is None and nearest_site("") is None
    res = HubServices().run("nearest_site", {"area": "021"}, 480)
    assert res.prompts == ["site/intro", "site/200"] and res.variables == {"site": "200"}


def test_the_network_file_checks_area_codes(tmp_path):
    import yaml

    from hub.network.file import NetworkError, load_network
    net = yaml.safe_load(open(os.path.join(os.path.dirname(__file__), "..", "sim", "networks", "sample.yaml")))
    net["sites"][2]["area_code"] = 571
    p = tmp_path / "n.yaml"
    p.write_text(yaml.safe_dump(net))
    with pytest.raises(NetworkError, match=r"sites\[2\] 100: area_code '571' is not a telephone area code"):
        load_network(str(p))


def test_phone_numbers_match_however_they_are_written():
    assert e164("+86 138-0000-0000") == e164("0086 13800000000") == e164("138 0000 0000") == "+8613800000000"
    assert numbers_in("0571-8888 1234 / 138 0000 0000") == ["+8657188881234", "+8613800000000"]
    assert numbers_in("") == [] and numbers_in("12") == []


def test_the_caller_directory_over_platform_orders(store):
    from hub.business import orders as po
    from hub.schema import connect
    connect(store)
    po.load_coverage([{"site": "100", "province": "33"}])
    po.import_orders([{"order_no": "TB20261201001", "phone": "0571-8888 1234 / 138 0000 0000", "sender": "王芳",
                       "province": "33"},
                      {"order_no": "TB20261201002", "phone": "13800000000", "province": "33"},
                      {"order_no": "TB20261201003", "phone": "13900000000", "province": "33"}])
    assert po.pickup("100", [("TB20261201001", WB)])[0]["ok"]
    d = HubDirectory()
    [c] = d.customers("+86 138 0000 0000")
    assert c.name == "王芳" and c.id == "phone:+8613800000000"
    assert d.customers("13700000000") == [] and d.customers("") == []
    assert d.check_pin(c.id, WB[-4:]) and d.check_pin(c.id, "1002")
    assert not d.check_pin(c.id, "1003") and not d.check_pin(c.id, "") and not d.check_pin("phone:1", "1001")
    orders = {o.order_no: o for o in d.orders(c.id)}
    assert set(orders) == {"TB20261201001", "TB20261201002"}
    assert (orders["TB20261201001"].status, orders["TB20261201001"].kind) == ("in transit", "dispatch")
    assert orders["TB20261201002"].status == "pending"

    # the private self-service of the sample flow: 2 query, 2 my orders, PIN, then the orders read
    clock = Clock("2026-12-02 10:00")
    e = Engine(FLOW, HubServices(clock=clock), clock)
    e.start("138-0000-0000", "95311")
    e.prompt_done()
    heard = []
    for k in "22" + "1002":
        heard += plays(e.digit(k))
    assert heard[-1] == "auth/ok" or "auth/ok" in heard
    heard = plays(e.prompt_done())
    assert heard == ["orders/order", *say.digits("1002"), "status/pending",
                     "orders/order", *say.digits(WB[-4:]), "status/dispatch"]
    e2 = Engine(FLOW, HubServices(clock=clock), clock)
    e2.start("13800000000", "95311")
    e2.prompt_done()
    for k in "22" + "9999":
        e2.digit(k)
    assert [t for t in e2.trail if t["event"] == "service"][0]["outcome"] == "fail"


def test_another_source_plugs_into_the_hub_directory(store):
    from hub.ivr.directory import default_sources
    from hub.schema import connect
    connect(store)
    entered = {"+8613700000000": [{"order_no": "", "waybill": WB, "name": "李雷"}]}
    d = HubDirectory(sources={**default_sources(), "waybills": lambda phone: entered.get(phone, [])})
    [c] = d.customers("137 0000 0000")
    assert (c.name, c.source) == ("李雷", "waybills")
    assert d.check_pin(c.id, WB[-4:]) and [o.status for o in d.orders(c.id)] == ["in transit"]


def test_the_hub_directory_finds_callers_by_their_entered_waybills(store, tmp_path):
    """An entered waybill's sender and receiver phones name callers (docs/ivr.md, the caller
    directory): the waybill is theirs, its last four digits their PIN."""
    from hub.schema import connect
    path = tmp_path / "wb.csv"
    path.write_text("waybill,dest_site,weight_kg,sender_name,sender_phone,receiver_name,receiver_phone\n"
                    f"{wb(31)},200,1.2,王五,0571-8888 1234,赵六,+86 139 0000 1111\n", encoding="utf-8")
    r = CliRunner().invoke(cli.main, ["waybill", "import", str(path), "--site", "100", "--db", store])
    assert r.exit_code == 0, r.output
    connect(store)
    d = HubDirectory()
    [sender] = d.customers("057188881234")
    [receiver] = d.customers("13900001111")
    assert (sender.name, sender.source) == ("王五", "entered_waybills") and receiver.name == "赵六"
    assert d.check_pin(receiver.id, wb(31)[-4:]) and not d.check_pin(receiver.id, "0000")
    assert [o.waybill for o in d.orders(receiver.id)] == [wb(31)]
    assert d.customers("13900001112") == []


def test_a_corrected_phone_moves_the_waybill_to_the_new_number(store, tmp_path):
    """The phone index is rewritten with the waybill's entry: after a correction the old number
    no longer finds it and the new one does."""
    from hub.schema import connect
    head = "waybill,dest_site,weight_kg,sender_name,sender_phone,receiver_name,receiver_phone\n"
    for i, phone in enumerate(("13900001111", "13900002222")):
        path = tmp_path / f"wb{i}.csv"
        path.write_text(head + f"{wb(32)},200,1.2,王五,0571-8888 1234,赵六,{phone}\n", encoding="utf-8")
        r = CliRunner().invoke(cli.main, ["waybill", "import", str(path), "--site", "100", "--db", store])
        assert r.exit_code == 0, r.output
    connect(store)
    d = HubDirectory()
    assert d.customers("13900001111") == []
    [c] = d.customers("13900002222")
    assert [o.waybill for o in d.orders(c.id)] == [wb(32)]


def test_the_parcels_of_a_number_are_found_by_an_index_never_a_scan(tmp_path):
    """The caller directory's parcel sources run indexed queries: SQLite's plan for every query
    they send names no full scan of a table."""
    import logging

    from hub.ivr.directory import default_sources
    from hub.store.db import database
    sample_store(str(tmp_path / "plan.db"))
    sent = []

    class Catch(logging.Handler):
        def emit(self, record):
            if isinstance(record.msg, tuple):
                sent.append(record.msg)
    log = logging.getLogger("peewee")
    handler, level = Catch(), log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        for fn in default_sources().values():
            fn("+8613800000000")
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
    assert len(sent) >= 2
    for sql, params in sent:
        plan = [str(r[-1]) for r in database.obj.execute_sql("EXPLAIN QUERY PLAN " + sql, params)]
        assert not any(p.startswith("SCAN") and "USING" not in p for p in plan), (sql, plan)


def test_migrating_a_version_4_store_indexes_the_numbers_it_holds(store, tmp_path):
    """A store from before the phone index (schema 4) has orders and waybills: `hub migrate` fills
    the index from them, and their callers are found afterwards."""
    from hub.business import orders as po
    from hub.schema import connect
    from hub.store.db import database
    connect(store)
    po.load_coverage([{"site": "100", "province": "33"}])
    po.import_orders([{"order_no": "TB20261201009", "phone": "138 0000 0009", "sender": "王芳", "province": "33"}])
    path = tmp_path / "wb.csv"
    path.write_text("waybill,dest_site,weight_kg,sender_name,sender_phone,receiver_name,receiver_phone\n"
                    f"{wb(33)},200,1.2,王五,0571-8888 1234,赵六,+86 139 0000 3333\n", encoding="utf-8")
    assert CliRunner().invoke(cli.main, ["waybill", "import", str(path), "--site", "100", "--db", store]).exit_code == 0
    connect(store)
    db = database.obj
    db.execute_sql('DROP TABLE "platform_order_phone"')
    db.execute_sql('DELETE FROM "waybill_phone"')
    db.execute_sql("UPDATE meta SET value = '4' WHERE key = 'schema'")
    database.close()
    r = CliRunner().invoke(cli.main, ["hub", "migrate", "--db", store, "--json"])
    assert r.exit_code == 0, r.output
    [step] = json.loads(r.output)["steps"]
    assert (step["from"], step["to"]) == (4, 5)
    assert "platform_order_phone: created" in step["changes"], step
    assert "platform_order_phone: 1 rows filled" in step["changes"] and "waybill_phone: 2 rows filled" in step["changes"]
    connect(store)
    d = HubDirectory()
    assert [o.order_no for o in d.orders(d.customers("13800000009")[0].id)] == ["TB20261201009"]
    assert [o.waybill for o in d.orders(d.customers("13900003333")[0].id)] == [wb(33)]


def test_option_3_records_a_pickup_order_from_the_callers_number(store):
    """Self-service pickup: district code and parcels by keypad, the order at the covering site,
    its code read back, then the exact address into voicemail box pickup."""
    from hub.business import orders as po
    from hub.business import pickup as pk
    po.load_coverage([{"site": "101", "province": "33", "city": "3301", "district": "330106"}])
    clock = Clock("2026-12-02 10:00")
    e = Engine(FLOW, HubServices(clock=clock), clock)
    plays(e.start("0086 138 0000 0000", "95311"))
    heard = []
    for step in ("prompt_done", "prompt_done"):
        heard += plays(getattr(e, step)())
    for k in "31330106#2#":
        heard += plays(e.digit(k))
    task = pk.tasks()[0]
    assert task["site"] == "101" and task["phone"] == "+8613800000000" and task["parcels"] == 2
    assert task["source"] == "ivr" and task["window_from_ms"] == clock.ms and "voicemail box pickup" in task["note"]
    assert heard[-len(say.digits(task["code"][2:])) - 1:] == ["pickup/ok", *say.digits(task["code"][2:])]
    assert plays(e.prompt_done()) == ["say_pickup_address"]
    assert e.variables["pickup_code"] == task["code"]
    e2 = Engine(FLOW, HubServices(clock=clock), clock)      # an area no site serves: to an agent
    plays(e2.start("13800000001", "95311"))
    plays(e2.prompt_done()), plays(e2.prompt_done())
    for k in "3199999#1#":
        plays(e2.digit(k))
    assert e2.path[-1] == "pickup_order" and plays(e2.prompt_done()) == ["transfer_pickup"]
    assert e2.path[-1] == "pickup" and len(pk.tasks()) == 1
