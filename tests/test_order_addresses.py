"""Platform orders placed by their free Chinese address text, re-assigned in one command, and
pickup checking waybill numbers."""
from __future__ import annotations

import json

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cli import main
from conftest import wb
from hub.business.address import parse, parse_many


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_addresses_become_division_codes():
    assert (parse("浙江省杭州市西湖区文三路1号").province, parse("浙江省杭州市西湖区文三路1号").city,
            parse("浙江省杭州市西湖区文三路1号").district) == ("33", "3301", "330106")
    p = parse("上海市浦东新区世纪大道100号")
    assert (p.province, p.city, p.district, p.names) == ("31", "3101", "310115", ("上海市", "上海市", "浦东新区"))
    p = parse("杭州市滨江区江南大道")                    # no province: the city names it
    assert (p.province, p.city, p.district) == ("33", "3301", "330108")
    p = parse("浙江杭州")                                # a city without a district
    assert (p.province, p.city, p.district, p.resolved) == ("33", "3301", "", True)


def test_unplaceable_addresses_say_why():
    p = parse("西湖区文三路")                            # Hangzhou or Nanchang?
    assert not p.resolved and "names district 西湖区 but not its city or province" in p.reason
    assert parse("No address code").reason.startswith("no province, city or district found")
    assert parse("").reason == "no address"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=5))
def test_any_text_is_placed_or_refused_with_a_reason(texts):
    for p in parse_many(texts):
        assert p.resolved == (p.reason == "")
        if p.resolved:
            assert len(p.province) == 2 and p.city[:2] in ("", p.province) and p.district[:4] in ("", p.city)
        else:
            assert "\n" not in p.reason


def test_sample_order_tb1005_is_assigned_and_reassign_places_the_waiting(hub_store, tmp_path):
    db = ["--db", hub_store]
    r = run("orders", "import", "sim/orders-sample.csv", "--json", *db)      # before any coverage
    assert json.loads(r.output)["accepted"] == 0
    listed = {o["order_no"]: o for o in json.loads(run("orders", "list", "--json", *db).output)}
    assert listed["TB1005"]["reason"] == "no site covers 33-3301-330106"
    cov = tmp_path / "cov.yaml"
    cov.write_text('coverage:\n  - {site: "100", province: "33", city: "3301"}\n'
                   '  - {site: "101", province: "33", city: "3301", district: "330108"}\n'
                   '  - {site: "200", province: "31"}\n')
    assert run("orders", "coverage", str(cov), *db).exit_code == 0
    r = run("orders", "reassign", "--json", *db)
    assert r.exit_code == 0 and json.loads(r.output) == {"assigned": 5, "moved": 0, "failed": 0}
    listed = {o["order_no"]: o for o in json.loads(run("orders", "list", "--json", *db).output)}
    assert listed["TB1005"]["site"] == "100" and listed["TB1005"]["accept"] == "accepted"
    assert (listed["TB1005"]["province"], listed["TB1005"]["district"]) == ("33", "330106")
    assert listed["TB1002"]["site"] == "101"
    cov.write_text('coverage:\n  - {site: "101", province: "33"}\n  - {site: "200", province: "31"}\n')
    run("orders", "coverage", str(cov), *db)
    r = run("orders", "reassign", "--all", "--json", *db)
    assert json.loads(r.output) == {"assigned": 0, "moved": 3, "failed": 0}     # TB1001, TB1003, TB1005


def test_an_ambiguous_address_waits_with_its_reason(hub_store, tmp_path):
    db = ["--db", hub_store]
    (tmp_path / "o.csv").write_text("order_no,address\nX1,西湖区文三路\nX2,浙江省杭州市西湖区\n", encoding="utf-8")
    (tmp_path / "cov.yaml").write_text('coverage:\n  - {site: "100", province: "33"}\n')
    run("orders", "coverage", str(tmp_path / "cov.yaml"), *db)
    assert json.loads(run("orders", "import", str(tmp_path / "o.csv"), "--json", *db).output)["failed"] == 1
    listed = {o["order_no"]: o for o in json.loads(run("orders", "list", "--json", *db).output)}
    assert "cannot tell which" in listed["X1"]["reason"] and listed["X2"]["site"] == "100"


def test_pickup_checks_waybill_numbers(hub_store, tmp_path):
    db = ["--db", hub_store]
    (tmp_path / "cov.yaml").write_text('coverage:\n  - {site: "100", province: "33"}\n')
    run("orders", "coverage", str(tmp_path / "cov.yaml"), *db)
    run("orders", "import", "sim/orders-sample.csv", *db)
    bad_check = wb(1)[:-1] + str((int(wb(1)[-1]) + 1) % 10)
    (tmp_path / "p.txt").write_text(f"TB1001 {bad_check}\nTB1002 {wb(2, 2)}\nTB1005 {wb(3)}\n")
    r = run("orders", "pickup", "--site", "100", str(tmp_path / "p.txt"), "--json", *db)
    assert r.exit_code == 1
    res = json.loads(r.stdout)
    assert "check digit wrong" in res[0]["reason"]
    assert res[1]["reason"] == f"waybill {wb(2, 2)} was issued to site 200, not to 100"
    assert res[2]["ok"]
