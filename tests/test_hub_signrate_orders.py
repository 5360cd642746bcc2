"""Sign rate against a plain model, platform orders, and the store on PostgreSQL."""
from __future__ import annotations

import uuid

import pytest

from conftest import PG_ADMIN, needs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.ingest import pipeline as ingest
from hub.business import localtime
from hub.business import monitoring
from hub.business import sign_rate
from hub.business import orders as po
from test_hub_reference import HOUR, T0, Model, histories, load_net, networks



@pytest.fixture
def store(model_store):
    """The module's store, on SQLite and on PostgreSQL (conftest ``model_store``)."""
    from hub.schema import connect
    connect(model_store)          # tests in between may have bound another store
    return model_store


def model_sign_records(model: Model, deadlines: dict, as_of: int) -> list[tuple]:
    out = []
    for wb, evs in model.by_wb.items():
        signs = [e for e in evs if e["kind"] == "sign"]
        delivers = [e for e in evs if e["kind"] == "deliver"]
        terminal = signs[0]["site"] if signs else delivers[-1]["site"] if delivers else model.dest(evs)
        runs = [e for e in evs if e["kind"] == "dispatch" and e["site"] in model.centers and e.get("next_site") == terminal]
        if not terminal or not runs:
            continue
        c, t = runs[-1]["site"], runs[-1]["event_ms"]
        due = t + deadlines.get((c, terminal), sign_rate.DEFAULT_DEADLINE_MIN) * 60_000
        if signs:
            status = "on_time" if signs[0]["event_ms"] <= due else "overtime"
        else:
            status = "overdue" if as_of > due else "pending"
        out.append((wb, c, terminal, status))
    return sorted(out)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=st.data())
def test_sign_records_match_the_model(store, data):
    net = data.draw(networks())
    scans = data.draw(histories(net))
    load_net(net)
    ingest.commit(data.draw(st.permutations(scans)))
    centers = [s["code"] for s in net["sites"] if s["kind"] == "center"]
    sites = [s["code"] for s in net["sites"] if s["kind"] == "site"]
    deadlines = {}
    for c in centers:
        for s in sites:
            if data.draw(st.booleans()):
                deadlines[(c, s)] = data.draw(st.integers(1, 72)) * 60
                sign_rate.set_deadline(c, s, deadlines[(c, s)])
    as_of = T0 + data.draw(st.integers(0, 300)) * HOUR
    got = sorted((r["waybill"], r["center"], r["dest_site"], r["status"])
                 for r in sign_rate.records(None, "receiver", as_of_ms=as_of))
    assert got == model_sign_records(Model(net, scans), deadlines, as_of)


def test_rates_aggregate_per_site_and_period():
    day = localtime.parse_time("2024-06-01T10:00")
    rows = [{"dest_site": "1", "origin_site": "2", "center_ms": day, "status": s}
            for s in ("on_time", "on_time", "overtime", "overdue", "pending")]
    [g] = sign_rate.rates(rows, "receiver", "day")
    assert (g["site"], g["period"], g["parcels"], g["signed"]) == ("1", "2024-06-01", 5, 3)
    assert g["on_time_rate"] == 0.5 and g["sign_rate"] == 0.6
    [g] = sign_rate.rates(rows, "sender", "month")
    assert (g["site"], g["period"]) == ("2", "2024-06")
    with pytest.raises(sign_rate.SignRateError):
        sign_rate.rates(rows, "receiver", "week")


def test_platform_orders_assignment_pickup_transfer_counts(store):
    load_net({"network": "n", "waybill_rules": [], "stations": [], "staff": [], "gun_users": [], "shifts": [],
              "next_stop": [], "issuance": [], "sites": [
                  {"code": "90", "name": "c", "kind": "center", "center": None, "province": None, "city": None, "district": None},
                  {"code": "10", "name": "a", "kind": "site", "center": "90", "province": "33", "city": "3301", "district": None},
                  {"code": "11", "name": "b", "kind": "site", "center": "90", "province": "33", "city": "3301", "district": None}]})
    po.load_coverage([{"site": "10", "province": "33"}, {"site": "11", "province": "33", "city": "3301", "district": "330108"}])
    with pytest.raises(po.OrderError, match="unknown site"):
        po.load_coverage([{"site": "77", "province": "33"}])
    counts = po.import_orders(po.parse_orders(open("sim/orders-sample.csv").read(), "csv"))
    assert counts == {"accepted": 4, "failed": 1, "duplicate": 1, "skipped": 0}   # TB1005 by its address text
    by_no = {o["order_no"]: o for o in po.orders()}
    assert by_no["TB1001"]["site"] == "10" and by_no["TB1002"]["site"] == "11"      # district rule wins
    assert by_no["TB1004"]["accept"] == "failed" and "no site covers 31-3101-310101" in by_no["TB1004"]["reason"]
    assert po.import_orders(po.parse_orders(open("sim/orders-sample.csv").read(), "csv"))["duplicate"] == 6
    res = po.pickup("10", [("TB1001", "W1"), ("TB1002", "W2"), ("TB1004", "W4"), ("NOPE", "W5")])
    assert [r["ok"] for r in res] == [True, False, False, False]
    assert "mis-sorted" in res[1]["reason"]
    po.transfer("TB1002", "10", "wrong district")
    assert po.pickup("10", [("TB1002", "W2")])[0]["ok"]
    po.pickup_failed("TB1003", "nobody home")
    ingest.commit([{"id": "o1", "station": "s", "seq": 1, "kind": "receive", "waybill": "W1", "site": "10",
                          "edge_ms": T0, "event_ms": T0, "clock": "trusted"},
                         {"id": "o2", "station": "s", "seq": 2, "kind": "sign", "waybill": "W1", "site": "10",
                          "edge_ms": T0 + HOUR, "event_ms": T0 + HOUR, "clock": "trusted"}])
    c = {(r["what"], r["state"]): r["orders"] for r in po.counts("status")}
    assert c[("accept", "accepted")] == 4 and c[("accept", "failed")] == 1
    assert c[("pickup", "ok")] == 2 and c[("pickup", "failed")] == 1
    assert c[("delivery", "ok")] == 1 and c[("delivery", "pending")] == 3
    regions = {(r["province"], r["city"], r["district"]): r["orders"] for r in po.counts("region")}
    assert regions[("33", "3301", "330106")] == 2          # TB1001, and TB1005 placed by its address
    with pytest.raises(po.OrderError, match="JSON"):
        po.parse_orders("{bad", "json")


PG_URL = PG_ADMIN   # the one PostgreSQL of the suite (conftest: SCANHUB_TEST_PG)


@pytest.fixture
def pg():
    """The store on PostgreSQL in a private schema, dropped afterwards."""
    import peewee
    from hub.store import db
    try:
        conn = db.open_database(PG_URL)
        conn.connect()
    except peewee.OperationalError as e:
        needs("PostgreSQL", f"not reachable at {PG_URL} ({str(e).splitlines()[0]})")
    schema = f"hubtest_{uuid.uuid4().hex[:10]}"
    conn.execute_sql(f'CREATE SCHEMA "{schema}"')
    conn.close()
    real = db.open_database(PG_URL)
    real.connect()
    real.execute_sql(f'SET search_path TO "{schema}"')
    db.database.initialize(real)
    real.create_tables(list(__import__('hub.schema', fromlist=['TABLES']).TABLES), safe=True)
    yield
    real.execute_sql(f'DROP SCHEMA "{schema}" CASCADE')
    real.close()


@pytest.mark.postgres
def test_store_on_postgresql(pg):
    from hub.business import accounts
    from hub.network import basic_data
    from hub.business import ledger
    from hub.business import tariff
    from hub.network.file import load_network
    basic_data.import_network(load_network("sim/networks/sample.yaml"))
    accounts.ensure_accounts()
    tariff.install(tariff.load_tariff("sim/networks/tariff-sample.yaml"))
    w = "70000000000017"
    scans = [{"id": f"p{i}", "station": "st", "seq": i, "kind": k, "waybill": w, "site": s, "edge_ms": T0 + i * HOUR,
              "event_ms": T0 + i * HOUR, "clock": "trusted", **kw}
             for i, (k, s, kw) in enumerate([("receive", "100", {"courier": "1001"}),
                                             ("dispatch", "100", {"dest_site": "200"}),
                                             ("arrive", "900", {"weight_g": 1200}),
                                             ("dispatch", "900", {"dest_site": "200", "shift": "HZ-SH-08"})], 1)]
    ingest.commit(list(reversed(scans)))
    ingest.commit(scans)
    assert [r["waybill"] for r in monitoring.report("not-arrived", "901")] == [w]
    assert ledger.active_lines(f"fee:transit:{w}:900") == {"site:100": -420, "site:900": 420}
    assert accounts.deposit("100", 10_000, "PG1") and not accounts.deposit("100", 10_000, "PG1")
    assert ledger.total() == 0
    assert accounts.statement("100")["closing_cents"] == accounts.balance("100")
