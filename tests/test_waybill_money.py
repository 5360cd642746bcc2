"""Money from entered waybills: quotes, surcharges and insurance, the return-payment flow, the
forward-looking prepaid balance; money conserved through returns and corrections in any order."""
from __future__ import annotations

import json
import os

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli import main
from conftest import SAMPLE, wait_for, wb

T0 = 1_795_600_000_000
H = 3_600_000
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARIFF = os.path.join(ROOT, "sim", "networks", "tariff-sample.yaml")


def run(*args):
    return CliRunner().invoke(main, list(args))


def prepared(hub_store):
    assert run("account", "set-tariff", TARIFF, "--db", hub_store).exit_code == 0
    return hub_store


# ---------------------------------------------------------------- quote

def test_quote_prices_the_route_with_volumetric_weight_surcharges_and_insurance(hub_store):
    db = ["--db", prepared(hub_store)]
    q = json.loads(run("quote", "--from", "100", "--to", "200", "--weight", "2.3", "--dims", "40x30x20",
                       "--cod", "500", "--json", *db).output)
    assert q["route"] == ["100", "900", "901", "200"] and q["zone"] == "national"
    assert (q["weight_g"], q["volumetric_g"], q["chargeable_g"]) == (2300, 4000, 4000)
    fees = {(x["fee"], x["where"]): x["cents"] for x in q["lines"]}
    # national transit at 900: 4000 g is 1000 g over the 3000 g band (400) -> 550; 901's own bands: 360 + 140
    assert fees == {("courier", "100"): 60, ("transit", "900"): 550, ("transit", "901"): 500,
                    ("delivery", "200"): 180, ("cod-handling", "200"): 500}
    assert q["total_cents"] == sum(fees.values())
    q = json.loads(run("quote", "--from", "100", "--to", "200", "--weight", "1", "--declared", "800", "--insured",
                       "--surcharge", "upstairs", "--surcharge", "crate", "--json", *db).output)
    extra = {x["note"]: (x["cents"], x["payer"]) for x in q["lines"] if x["fee"] in ("surcharge", "insurance")}
    assert extra == {"delivery upstairs": (500, "site:100"), "wooden crate": (1500, "sender"),
                     "insurance of a declared 800.00": (400, "site:100")}
    text = run("quote", "--from", "100", "--to", "101", "--weight", "1", *db)
    assert text.exit_code == 0 and "zone city" in text.output and "total " in text.output


def test_quote_refuses_in_one_line(hub_store, tmp_path):
    db = ["--db", hub_store]
    r = run("quote", "--from", "100", "--to", "200", "--weight", "1", *db)
    assert r.exit_code == 1 and "no tariff in force" in r.output
    prepared(hub_store)
    for args, message in ((["--to", "999"], "unknown site 999"), (["--weight", "-1"], "must be above 0"),
                          (["--dims", "40x30"], "length x width x height"),
                          (["--surcharge", "gold"], "has no surcharge 'gold'"),
                          (["--cod", "1e9"], "give yuan")):
        base = {"--from": "100", "--to": "200", "--weight": "1"}
        extra = []
        for i in range(0, len(args), 2):
            if args[i] in base:
                base[args[i]] = args[i + 1]
            else:
                extra += args[i:i + 2]
        r = run("quote", *[x for kv in base.items() for x in kv], *extra, *db)
        assert r.exit_code == 1 and message in r.output and "Traceback" not in r.output, (args, r.output)


# ---------------------------------------------------------------- booked fees of an entered waybill

def scan(i, kind, site, t, n, **kw):
    station = {"100": "st-100-1", "900": "st-900-1", "901": "st-901-1", "200": "st-200-1"}[site]
    return {"id": f"s{i}", "station": station, "seq": i, "kind": kind, "waybill": n, "site": site,
            "edge_ms": t, "event_ms": t, **kw}


def record(i, n, fields, t=T0, site="100"):
    return {"id": f"r{i}", "waybill": n, "site": site, "station": None, "edge_ms": t, "event_ms": t,
            "fields": fields}


def forward(n):
    """A parcel's trip 100 -> 900 -> 901 -> 200, delivered and signed at 200."""
    return [scan(1, "receive", "100", T0 + H, n, courier="1001"),
            scan(2, "dispatch", "100", T0 + 2 * H, n, dest_site="200"),
            scan(3, "arrive", "900", T0 + 3 * H, n, weight_g=2300),
            scan(4, "dispatch", "900", T0 + 4 * H, n, dest_site="200"),
            scan(5, "arrive", "901", T0 + 5 * H, n),
            scan(6, "dispatch", "901", T0 + 6 * H, n, dest_site="200"),
            scan(7, "arrive", "200", T0 + 7 * H, n),
            scan(8, "deliver", "200", T0 + 8 * H, n, courier="2001"),
            scan(9, "sign", "200", T0 + 9 * H, n, signer="x")]


def returned_at_200(n):
    """Refused at 200 and sent back: a problem scan marked as a return, then back to 100."""
    return [scan(20, "problem", "200", T0 + 10 * H, n, extra={"return": True, "reason": "refused by receiver"}),
            scan(21, "dispatch", "200", T0 + 11 * H, n, dest_site="100"),
            scan(22, "arrive", "100", T0 + 14 * H, n)]


def commit_all(scans=(), records=()):
    from hub.ingest import pipeline
    from hub.store.db import database
    with database.atomic():
        if records:
            pipeline.commit_waybills(list(records))
        if scans:
            ok, bad = pipeline.commit(list(scans))
            assert not bad, bad


def booked(n):
    from hub.business.fees import waybill_fees
    return {f["source"].removeprefix("fee:").replace(f":{n}", ""): f["lines"] for f in waybill_fees(n)}


def test_surcharges_insurance_and_the_return_flow(hub_store):
    from hub.schema import connect
    from hub.store.db import database
    prepared(hub_store)
    connect(hub_store)
    n = wb(40)
    commit_all(records=[record(1, n, {"dest_site": "200", "weight_g": 2300, "cod_cents": 50000, "declared_cents": 80000,
                                      "insured": True, "surcharges": ["upstairs", "crate"]})])
    commit_all(scans=forward(n)[:8])                           # delivered, not signed yet
    fees = booked(n)
    assert fees["surcharge:upstairs"] == {"site:100": -500, "site:200": 500}
    assert "surcharge:crate" not in fees                       # charged to the sender, not between sites
    assert fees["insurance"] == {"site:100": -400, "insurance:network": 400}
    commit_all(scans=forward(n)[8:])                           # signed: the COD is collected
    assert booked(n)["cod:collect"] == {"site:200": -50000, "cod:100": 50000}
    commit_all(scans=returned_at_200(n))                       # then returned unpaid after all
    fees = booked(n)
    assert "cod:collect" not in fees                           # its receivable reversed
    assert fees["return"] == {"site:100": -150, "site:200": 150}       # the return rate 200 -> 100, 2500 g
    r = run("track", n, "--db", hub_store, "--json")
    assert json.loads(r.output)["entered"]["fields"]["surcharges"] == ["crate", "upstairs"]
    database.close()


# ---------------------------------------------------------------- conservation, in any order

def wipe():
    """Empty every table between examples sharing one store (as tests/test_hub_reference.py does)."""
    from hub.schema import TABLES
    from hub.store.versions import stamp
    for t in reversed(TABLES):
        t.delete().execute()
    stamp()


def balances():
    from hub.business import tables as bm
    out: dict[str, int] = {}
    for p in bm.Posting.select():
        out[p.account] = out.get(p.account, 0) + p.amount_cents
    return {a: c for a, c in out.items() if c}


def entries_balanced():
    from hub.business import tables as bm
    sums: dict[int, int] = {}
    for p in bm.Posting.select():
        sums[p.entry_id] = sums.get(p.entry_id, 0) + p.amount_cents
    return all(v == 0 for v in sums.values())


CORRECTIONS = [{"cod_cents": 30000}, {"cod_cents": None}, {"weight_g": 5000}, {"freight_collect_cents": 2000},
               {"surcharges": ["upstairs"]}, {"insured": False}, {"declared_cents": 10000}]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(st.data())
def test_money_is_conserved_through_returns_and_corrections_in_any_order(model_store, data):
    from hub.business.tariff import install, load_tariff
    from hub.network import basic_data
    from hub.network.file import load_network
    wipe()
    basic_data.import_network(load_network(SAMPLE))
    install(load_tariff(TARIFF))
    n = wb(41)
    ret = data.draw(st.booleans())
    items = [("w", record(0, n, {"dest_site": "200", "weight_g": 1200, "cod_cents": 50000, "insured": True,
                                 "declared_cents": 50000}))]
    for i, c in enumerate(data.draw(st.lists(st.sampled_from(CORRECTIONS), max_size=3))):
        items.append(("w", record(i + 1, n, c, T0 + (i + 1) * 60_000)))
    items += [("s", s) for s in forward(n) + (returned_at_200(n) if ret else [])]
    order = data.draw(st.permutations(items))
    cut = sorted(data.draw(st.lists(st.integers(0, len(order)), max_size=4)))
    batches = [order[a:b] for a, b in zip([0] + cut, cut + [len(order)])]
    for b in batches:
        commit_all(scans=[x for k, x in b if k == "s"], records=[x for k, x in b if k == "w"])
        assert entries_balanced()
        assert sum(balances().values()) == 0                  # money is never created or lost
    got = balances()
    # the same result as everything at once, in the natural order
    wipe()
    basic_data.import_network(load_network(SAMPLE))
    install(load_tariff(TARIFF))
    commit_all(scans=[x for k, x in items if k == "s"], records=[x for k, x in items if k == "w"])
    assert got == balances()
    if ret:
        assert not any(a.startswith("cod:") for a in got)     # a returned parcel collects nothing


# ---------------------------------------------------------------- forward-looking prepaid balance

def test_a_site_is_blocked_before_its_balance_is_gone(hub_store):
    db = ["--db", prepared(hub_store)]
    assert run("account", "set-mode", "100", "prepaid", *db).exit_code == 0
    assert run("account", "deposit", "100", "50.00", "--ref", "SLIP-1", *db).exit_code == 0
    assert run("account", "set-warning", "100", "10.00", *db).exit_code == 0
    lines = ["waybill,dest_site,weight_kg"] + [f"{wb(50 + i)},200,2.3" for i in range(3)]
    path = os.path.join(os.path.dirname(hub_store), "wb.csv")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    assert run("waybill", "import", path, "--site", "100", *db).exit_code == 0
    acct = {a["site"]: a for a in json.loads(run("account", "list", "--json", *db).output)}["100"]
    per = 400 + 360 + 150                                       # transit 900, transit 901, delivery at 2500 g
    assert (acct["balance_cents"], acct["expected_fees_cents"], acct["in_flight"]) == (5000, 3 * per, 3)
    assert acct["expected_balance_cents"] == 5000 - 3 * per and not acct["blocked"]
    assert acct["parcels_left"] == (5000 - 3 * per - 1000) * 3 // (3 * per) == 1   # one more such parcel
    from hub.network.station_config import site_slice
    from hub.schema import connect
    connect(hub_store)
    assert site_slice("100")["prepaid"] == {"parcels_left": acct["parcels_left"]}
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"waybill,dest_site,weight_kg\n{wb(60)},200,2.3\n{wb(61)},200,2.3\n")
    assert run("waybill", "import", path, "--site", "100", *db).exit_code == 0
    acct = {a["site"]: a for a in json.loads(run("account", "list", "--json", *db).output)}["100"]
    assert acct["balance_cents"] == 5000 and acct["blocked"]   # nothing booked yet, and blocked already
    text = run("account", "list", *db).output
    assert "expected_fees" in text and "expected_balance" in text


def test_the_station_shows_blocked_in_about_n_parcels(make_edge):
    from edge.console import StationScreen, prepaid_line
    assert prepaid_line({"prepaid": {"parcels_left": 3}}) == "blocked in about 3 parcels: top up the prepaid account"
    assert prepaid_line({"prepaid": {"parcels_left": 0}}).startswith("blocked with the next parcel")
    assert prepaid_line({}) is None
    agent = make_edge(broker_url="mqtt://127.0.0.1:1")
    agent.config = {"version": "x", "prepaid": {"parcels_left": 2}}
    import io

    from rich.console import Console
    con = Console(file=io.StringIO(), width=120, record=True, color_system=None)
    con.print(StationScreen(agent).render(120))
    assert "blocked in about 2 parcels" in con.export_text()


# ---------------------------------------------------------------- settlement statistics

def test_settlement_statistics_per_site_center_and_network(hub_store):
    from hub.schema import connect
    from hub.store.db import database
    prepared(hub_store)
    connect(hub_store)
    n, m = wb(70), wb(71)
    commit_all(records=[record(1, n, {"dest_site": "200", "weight_g": 2300, "cod_cents": 50000}),
                        record(2, m, {"dest_site": "200", "weight_g": 2300, "freight_collect_cents": 2000,
                                      "payment": "collect"})])
    commit_all(scans=forward(n) + [dict(s, id=s["id"] + "m", waybill=m, seq=s["seq"] + 100) for s in forward(m)])
    database.close()
    db = ["--db", hub_store]
    rows = {r["group"]: r for r in json.loads(run("report", "settlement", "--json", *db).output)}
    s100, s200 = rows["100"], rows["200"]
    assert s100["cod_cents"] == 50000 and s200["cod_cents"] == -50000          # owed to 100's sender
    assert s100["freight_collect_cents"] == 2000 and s200["freight_collect_cents"] == -2000
    assert s100["transit_cents"] == -(rows["900"]["transit_cents"] + rows["901"]["transit_cents"]) < 0
    assert s200["delivery_cents"] == -s100["delivery_cents"] > 0
    assert s100["handling_cents"] == -100 and s200["handling_cents"] == 100      # 2 % of 20 yuan, at least 1
    assert all(r["net_cents"] == sum(v for k, v in r.items() if k.endswith("_cents") and k != "net_cents")
               for r in rows.values())
    net = json.loads(run("report", "settlement", "--by", "network", "--json", *db).output)
    couriers = s100["courier_cents"]                       # paid in by couriers, from outside the sites
    assert [r["group"] for r in net] == ["network"] and net[0]["net_cents"] == couriers
    centers = {r["group"]: r for r in json.loads(run("report", "settlement", "--by", "center", "--json", *db).output)}
    assert centers["900"]["net_cents"] == s100["net_cents"] + rows["900"]["net_cents"]
    day = json.loads(run("report", "settlement", "--period", "day", "--site", "100", "--json", *db).output)
    assert [r["period"] for r in day] == ["2026-11-25", "2026-11-26"] and all(r["group"] == "100" for r in day)
    assert sum(r["net_cents"] for r in day) == s100["net_cents"]
    assert json.loads(run("report", "settlement", "--month", "2024-01", "--json", *db).output) == []
    printable = run("report", "settlement", "--format", "html", *db)
    assert printable.exit_code == 0 and "settlement by site" in printable.output
    r = run("report", "settlement", "--site", "999", *db)
    assert r.exit_code == 1 and "unknown site 999" in r.output


def test_the_near_block_reaches_the_station_over_mqtt(hub_service, make_edge, hub_store):
    from edge.console import prepaid_line
    db = ["--db", prepared(hub_store)]
    for args in (("set-mode", "100", "prepaid"), ("deposit", "100", "50.00", "--ref", "SLIP-9"),
                 ("set-warning", "100", "10.00")):
        assert run("account", *args, *db).exit_code == 0
    agent = make_edge()
    assert agent.config_event.wait(15)
    assert prepaid_line(agent.config) is None
    for i in range(3):
        assert agent.entry.quick(f"{wb(80 + i)} 200 2.3").accepted
    # each record may reach the hub in its own batch: the warning counts down to its last value
    want = "blocked in about 1 parcel: top up the prepaid account"
    wait_for(lambda: prepaid_line(agent.config or {}) == want, what="the prepaid warning in the station's configuration")


def test_the_commands_docs_hub_business_md_names_exist_with_their_options():
    import re
    doc = open(os.path.join(ROOT, "docs", "hub-business.md"), encoding="utf-8").read()
    lines = []
    for ln in doc.splitlines():
        if re.match(r"\s*scanhub (waybill|quote|report settlement|orders reassign)", ln):
            lines.append(ln.split("#")[0])
        elif lines and re.match(r"\s+\[--", ln):          # a command's options go on
            lines[-1] += " " + ln
    assert len(lines) >= 7
    for line in lines:
        words = line.split()
        path = [w for w in words[1:3] if re.fullmatch(r"[a-z-]+", w)]
        if path[0] in ("quote",):
            path = path[:1]
        r = run(*path, "--help")
        assert r.exit_code == 0, (line, r.output)
        for opt in re.findall(r"(--[a-z-]+)", line):
            assert opt in r.output, f"{line!r}: {opt} is not an option of scanhub {' '.join(path)}"
