"""The CRM's customer side on the real store (SQLite, and PostgreSQL when reachable): custom
fields, phones, audit, hand-over, tiers, tasks, records and rates, the caller lookup, the caller
directory, CSV import/export, duplicates and merge, and the CLI."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import cli
from conftest import sample_store
from hub.crm import customers as cu
from hub.crm import records, tiers, transfer
from hub.crm.directory import caller_directory
from hub.crm.lookup import lookup, register, PROVIDERS

DAY = 86_400_000


@pytest.fixture
def store(store_url):
    sample_store(store_url)
    yield store_url
    from hub.store.db import database
    database.close()


def test_custom_fields_are_checked_on_write(store):
    cu.add_field("shop", "platform", "choice", required=True, choices=["Taobao", "JD"])
    cu.add_field("shop", "credit_days", "int")
    with pytest.raises(cu.CrmError, match="field platform is required"):
        cu.add({"name": "Tea", "category": "shop"}, actor="t")
    with pytest.raises(cu.CrmError, match="not one of Taobao, JD"):
        cu.add({"name": "Tea", "category": "shop"}, actor="t", custom={"platform": "Amazon"})
    with pytest.raises(cu.CrmError, match="not a whole number"):
        cu.add({"name": "Tea", "category": "shop"}, actor="t", custom={"platform": "JD", "credit_days": "ten"})
    with pytest.raises(cu.CrmError, match="has no field colour"):
        cu.add({"name": "Tea", "category": "shop"}, actor="t", custom={"platform": "JD", "colour": "red"})
    r = cu.add({"name": "Tea", "category": "shop"}, actor="t", custom={"platform": "JD", "credit_days": "30"})
    assert r["custom"] == {"platform": "JD", "credit_days": 30}
    assert cu.customers() == [cu.get(r["id"])]


def test_every_change_is_audited_and_handover_is_explicit(store):
    r = cu.add({"name": "Li Lei", "category": "sender", "owner": "1001"}, actor="alice", phones=["13800000001"])
    cu.change(r["id"], {"contact": "Li Lei jr."}, actor="bob")
    cu.handover([r["id"]], "1002", actor="carol")
    with pytest.raises(cu.CrmError, match="no staff member"):
        cu.handover([r["id"]], "4242", actor="carol")
    h = cu.history(r["id"])
    assert [(x["actor"], x["action"], x["field"], x["old"], x["new"]) for x in h[:2]] == [
        ("carol", "handover", "owner", "1001", "1002"), ("bob", "set", "contact", "", "Li Lei jr.")]
    assert cu.owned_by("1002") == [r["id"]]


def test_lookup_finds_every_customer_of_a_shared_number_and_their_records(store):
    from contract.clock import now_ms
    from hub.business.tables import PlatformOrder
    from hub.sms.tables import SmsMessage
    from hub.telephony.tables import CallRecord
    a = cu.add({"name": "A", "category": "sender"}, actor="t", phones=["0571-8888 1234", "13800000002"])
    b = cu.add({"name": "B", "category": "receiver"}, actor="t", phones=["+86 571 8888 1234"])
    t = now_ms()
    PlatformOrder.create(order_no="TB1", platform="taobao", sender="A", phone="138 0000 0002", accept="accepted",
                         waybill="", imported_ms=t)
    CallRecord.create(call_id="c1", origin="e1", direction="inbound", caller="057188881234", callee="8000",
                      start_ms=t, end_ms=t + 1000, duration_s=1, billable_s=1, disposition="answered", legs=1,
                      worker="w")
    SmsMessage.create(phone="+8613800000002", body="hi", state="sent", created_ms=t, due_ms=t)
    records.add(a["id"], {"origin": "Ningbo", "dest": "Hamburg", "rate": "2000"})
    one = lookup("0086 571 88881234")
    assert one["shared"] and [c["id"] for c in one["customers"]] == [a["id"], b["id"]]
    assert [c["call_id"] for c in one["calls"]] == ["c1"]
    assert [p["order_no"] for p in one["parcels"]] == ["TB1"]        # via A's other number
    assert [m["body"] for m in one["sms"]] == ["hi"]
    assert [q["rate_cents"] for q in one["quotes"]] == [200000]
    assert lookup("13900000000")["customers"] == []
    with pytest.raises(cu.CrmError):
        lookup("not a number")


def test_related_records_providers_join_the_lookup(store):
    seen = []
    register("complaints", lambda ids, phone: seen.append((ids, phone)) or [{"n": 1}])
    try:
        c = cu.add({"name": "A"}, actor="t", phones=["13800000003"])
        assert lookup("13800000003")["related"] == {"complaints": [{"n": 1}]}
        assert seen == [([c["id"]], "+8613800000003")]
    finally:
        PROVIDERS.pop("complaints")


def test_directory_answers_crm_customers_with_hashed_pins_and_falls_back_to_the_hub(store):
    from contract.clock import now_ms
    from hub.acd.sticky import customer_key
    from hub.business.tables import PlatformOrder
    c = cu.add({"name": "A"}, actor="t", phones=["13800000004"], pin="2468")
    assert "2468" not in cu.CrmCustomer.get_by_id(c["id"]).pin_hash
    d = caller_directory()
    found = d.customers("138 0000 0004")
    assert [x.id for x in found] == [f"crm:{c['id']}"]
    assert d.check_pin(found[0].id, "2468") and not d.check_pin(found[0].id, "1357")
    assert customer_key(d)("+8613800000004") == f"crm:{c['id']}"
    PlatformOrder.create(order_no="PO98765", platform="jd", phone="13800000005", accept="accepted", imported_ms=now_ms())
    hub_only = d.customers("13800000005")
    assert [x.source for x in hub_only] == ["platform_orders"]
    assert d.check_pin(hub_only[0].id, "8765")
    cu.add({"name": "B"}, actor="t", phones=["13800000004"])
    assert customer_key(d)("13800000004") is None            # shared: never somebody else's agent


def test_tiers_by_rules_and_tasks(store):
    from contract.clock import now_ms
    c = cu.add({"name": "Big", "owner": "1001", "birthday": "01-02"}, actor="t")
    small = cu.add({"name": "Small", "owner": "1001"}, actor="t")
    for _ in range(3):
        records.add(c["id"], {"origin": "Ningbo", "dest": "LA", "rate": "5000"})
    tiers.set_tier("gold", min_records=3, min_amount_cents=1_000_000)
    tiers.set_tier("diamond", min_records=100)
    changed = tiers.assign(actor="t")
    assert changed == [{"id": c["id"], "name": "Big", "from": "ordinary", "to": "gold"}]
    assert cu.get(small["id"])["tier"] == "ordinary" and tiers.assign(actor="t") == []
    with pytest.raises(cu.CrmError, match="needs --rank"):
        tiers.set_tier("silver")
    import datetime as dt
    at = int(dt.datetime(2030, 1, 1, 12, tzinfo=dt.timezone.utc).timestamp() * 1000)
    n = tiers.remind(days=7, inactive_days=10_000, at_ms=at)
    assert n == 1 and tiers.remind(days=7, inactive_days=10_000, at_ms=at) == 0      # once
    assert [t["kind"] for t in tiers.tasks(owner="1001")] == ["birthday"]
    tiers.plan(small["id"], [1, 7], "call", at_ms=now_ms())
    assert len(tiers.tasks(owner="1001")) == 3
    tiers.finish(tiers.tasks(owner="1001")[0]["id"])
    assert len(tiers.tasks(owner="1001")) == 2


def test_rates_lane_averages_trend_and_best_carrier(store):
    c = cu.add({"name": "F"}, actor="t")
    for carrier, base, rate, when in (("COSCO", "1000", "1500", "2024-01-05"), ("COSCO", "1200", "1700", "2024-02-05"),
                                      ("MSC", "900", "1400", "2024-02-06")):
        records.add(c["id"], {"origin": "Ningbo", "dest": "Hamburg", "container": "40hq", "carrier": carrier,
                              "base": base, "rate": rate, "quote": when})
    r = records.rates()
    assert r["lanes"] == [{"origin": "Ningbo", "dest": "Hamburg", "container": "40HQ", "records": 3, "closed": 0,
                           "avg_base_cents": 103333, "avg_rate_cents": 153333, "avg_margin_cents": 50000}]
    assert [(t["month"], t["avg_rate_cents"]) for t in r["trend"]] == [("2024-01", 150000), ("2024-02", 155000)]
    assert [(b["carrier"], b["avg_base_cents"]) for b in r["best"]] == [("MSC", 90000)]
    with pytest.raises(cu.CrmError, match="rate"):
        records.add(c["id"], {"origin": "A", "dest": "B", "rate": "-3"})


def test_import_is_all_or_nothing_with_a_report_per_row(store):
    text = ("name,category,phones,custom.platform\n"
            "Good,sender,13800000006,\n"
            "Bad phone,sender,12,\n"
            ",sender,13800000007,\n"
            "Bad category,nosuch,13800000008,\n")
    with pytest.raises(transfer.ImportFailed) as e:
        transfer.import_csv(text, actor="t")
    assert [x["row"] for x in e.value.errors] == [3, 4, 5]
    assert cu.customers() == []
    counts = transfer.import_csv("name,phones\nGood,13800000006 / 0571 8888 1234\n", actor="t")
    assert counts == {"added": 1, "changed": 0, "unchanged": 0}


def test_duplicates_and_merge_move_phones_and_records(store):
    a = cu.add({"name": "Ningbo Ocean Co., Ltd.", "tax_id": "91330200X"}, actor="t", phones=["13800000010"])
    b = cu.add({"name": "ningbo ocean", "email": "o@example.com"}, actor="t", phones=["13800000011"])
    c = cu.add({"name": "Other", "tax_id": "91330200x"}, actor="t", phones=["13800000010"])
    records.add(b["id"], {"origin": "Ningbo", "dest": "LA"})
    groups = transfer.duplicates()
    assert {(g["reason"], tuple(x["id"] for x in g["customers"])) for g in groups} == {
        ("phone", (a["id"], c["id"])), ("tax_id", (a["id"], c["id"])), ("name", (a["id"], b["id"]))}
    r = transfer.merge(a["id"], b["id"], actor="t")
    assert r["records_moved"] == 1
    assert cu.get(a["id"])["email"] == "o@example.com"
    assert sorted(cu.get(a["id"])["phones"]) == ["+8613800000010", "+8613800000011"]
    assert [x.id for x in cu.by_phone("+8613800000011")] == [a["id"]]
    with pytest.raises(cu.CrmError, match="merged into"):
        cu.get(b["id"])
    assert cu.history(b["id"])[0]["action"] == "merge"


def test_cli_round(tmp_path):
    db = sample_store(str(tmp_path / "hub.db"))
    run = CliRunner().invoke

    def ok(*args):
        r = run(cli.main, [*args, "--db", db])
        assert r.exit_code == 0, r.output
        return r.output
    ok("crm", "field", "add", "shop", "platform", "--type", "choice", "--choices", "Taobao|JD")
    out = ok("crm", "customer", "add", "--name", "Tea", "--category", "shop", "--phone", "0571-8888 1234 转801",
             "--field", "platform=JD", "--owner", "1001", "--json")
    cid = json.loads(out)["id"]
    assert "Tea" in ok("crm", "lookup", "+8657188881234")
    assert json.loads(ok("crm", "lookup", "057188881234", "--json"))["customers"][0]["id"] == cid
    ok("crm", "customer", "handover", "--from", "1001", "--to", "1002")
    assert "1001" in ok("crm", "customer", "history", str(cid))
    ok("crm", "records", "add", str(cid), "--origin", "Ningbo", "--dest", "LA", "--rate", "100", "--base", "80", "--carrier", "MSC")
    assert "MSC" in ok("crm", "rates", "--view", "best")
    ok("crm", "tasks", "plan", str(cid), "--days", "0,3")
    assert len(json.loads(ok("crm", "tasks", "--owner", "1002", "--json"))) == 2
    exported = ok("crm", "export")
    assert "custom.platform" in exported and "JD" in exported
    bad = run(cli.main, ["crm", "customer", "add", "--name", "X", "--category", "shop", "--field", "platform=eBay",
                         "--db", db])
    assert bad.exit_code == 1 and "not one of Taobao, JD" in bad.output and "Traceback" not in bad.output
    bad = run(cli.main, ["crm", "lookup", "12", "--db", db])
    assert bad.exit_code == 1 and "Traceback" not in bad.output
