"""Ledger invariants, fees against a plain-Python model, prepaid accounts and blocking, COD, tariffs."""
from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.business import accounts
from hub.network import basic_data
from hub.store import meta
from hub.business import cod
from hub.business import fees
from hub.ingest import pipeline as ingest
from hub.business import ledger
from hub.business import tariff
from hub.business import tables as bm
from hub.network import tables as m
from test_hub_reference import HOUR, T0, Model, histories, load_net, networks, wipe

TARIFF = tariff.load_tariff("sim/networks/tariff-sample.yaml")
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture
def store(model_store):
    """The module's store, on SQLite and on PostgreSQL (conftest ``model_store``)."""
    from hub.schema import connect
    connect(model_store)          # tests in between may have bound another store
    return model_store


# ---------------------------------------------------------------- tariff (pure)

def test_sample_tariff_prices_by_hand():
    t = TARIFF
    assert t.chargeable_g(1200) == 1500                       # rounds up to 0.5 kg
    assert t.chargeable_g(100, [30, 40, 50]) == 10_000        # 60000 cm3 / 6000 = 10 kg volumetric
    nat = t.doc["transit"]["default"]["national"]
    assert t.rate(nat, 500) == 150 and t.rate(nat, 3000) == 400
    assert t.rate(nat, 3001) == 400 + 150 and t.rate(nat, 5000) == 400 + 2 * 150
    city = t.doc["transit"]["default"]["city"]
    assert t.rate(city, 1) == 80 and t.rate(city, 2500) == 80 + 2 * 40
    assert t.transit_fee("900", "national", 1500, "HZ-SH-08") == 400 + 20
    assert t.transit_fee("901", "national", 1500) == 360
    assert t.percent({"rate_bp": 100, "min_cents": 200, "max_cents": 5000}, 10_000) == 200
    assert t.percent({"rate_bp": 100, "min_cents": 200, "max_cents": 5000}, 1_000_000) == 5000
    assert t.percent({"rate_bp": 150}, 1001) == 15            # 15.015 -> 15 (half up)
    assert t.zone(("33", "3301", "a"), ("33", "3301", "b")) == "city"
    assert t.zone(("33", "3301", "a"), ("33", "3302", "b")) == "province"
    assert t.zone(("33", "3301", "a"), ("54", "5401", "b")) == "remote"
    assert t.zone(("33", "3301", "a"), None) == "national"


def test_bad_tariff_lists_every_problem():
    raw = {"name": "", "effective": "soon", "zones": [{"zone": "a", "same": "street"}],
           "transit": {"default": {"a": {"bands": [{"max_g": 10, "cents": 1}, {"max_g": 5, "cents": 2}]}}},
           "courier": {"b": {"first_g": 0, "first_cents": 1, "step_g": 1, "step_cents": 1}},
           "cod": {"rate_bp": -1}, "colour": "red"}
    with pytest.raises(tariff.TariffError) as e:
        tariff.check_tariff(raw)
    text = "\n".join(e.value.problems)
    for needle in ("name: required", "effective", "same", "max_g must increase", "unknown zone 'b'",
                   "first_g: must be > 0", "rate_bp", "unknown section 'colour'", "catch-all"):
        assert needle in text, needle
    band_only = {"bands": [{"max_g": 1000, "cents": 100}]}
    with pytest.raises(tariff.TariffError, match="above the last band"):
        tariff.Tariff.rate(band_only, 1001)


# ---------------------------------------------------------------- ledger invariants

accounts_st = st.sampled_from(["site:1", "site:2", "site:3", "courier:9", "external:x"])


@st.composite
def entries(draw):
    n = draw(st.integers(2, 4))
    accs = draw(st.lists(accounts_st, min_size=n, max_size=n, unique=True))
    amounts = [draw(st.integers(-10_000, 10_000)) for _ in range(n - 1)]
    amounts.append(-sum(amounts))
    return dict(zip(accs, amounts))


@settings(max_examples=60, **SETTINGS)
@given(ops=st.lists(st.tuples(st.sampled_from(["post", "reverse", "reconcile"]), st.integers(0, 5), entries()),
                    max_size=25), replays=st.integers(1, 3))
def test_ledger_invariants(store, ops, replays):
    wipe([bm.JournalEntry, bm.Posting])
    # replaying means the same events again: a reversal refers to a posting that exists, and a
    # source is reconciled to one set of lines (a fee computed from all of its parcel's scans)
    posted, reconciled, kept = set(), set(), []
    for op, src, lines in ops:
        if op == "post" and ledger.normalise(lines):
            posted.add(src)
        if op == "reverse" and src not in posted or op == "reconcile" and src in reconciled:
            continue
        if op == "reconcile":
            reconciled.add(src)
        kept.append((op, src, lines))
    ops = kept
    snapshot = None
    for _ in range(replays):                                   # replaying the same operations changes nothing
        for op, src, lines in ops:
            lines = ledger.normalise(lines)
            if not lines:
                continue
            if op == "post":
                try:
                    ledger.post(f"s{src}", lines, purpose="t")
                except ledger.LedgerConflict:
                    pass
            elif op == "reverse":
                ledger.reverse(f"s{src}")
            else:
                ledger.reconcile(f"r{src}", lines, purpose="t")
        state = (ledger.balances(), bm.JournalEntry.select().count())
        if snapshot is None:
            snapshot = state
        assert state == snapshot, "a replay changed the ledger"
    assert ledger.total() == 0                                   # money is never created or lost
    for acc, bal in ledger.balances().items():                   # balance = sum of its postings
        assert bal == sum(p.amount_cents for p in bm.Posting.select().where(bm.Posting.account == acc))
    for e in bm.JournalEntry.select():                           # every entry balances
        assert sum(p.amount_cents for p in e.postings) == 0
    # reconciled sources hold exactly their last wanted lines
    last = {}
    for op, src, lines in ops:
        if op == "reconcile" and ledger.normalise(lines):
            last[f"r{src}"] = ledger.normalise(lines)
    for src, lines in last.items():
        assert ledger.active_lines(src) == lines


def test_ledger_refuses_bad_entries(store):
    with pytest.raises(ledger.LedgerError, match="balance"):
        ledger.post("x", {"site:1": 5, "site:2": -4}, purpose="t")
    with pytest.raises(ledger.LedgerError, match="integer cents"):
        ledger.post("x", {"site:1": 1.5, "site:2": -1.5}, purpose="t")
    with pytest.raises(ledger.LedgerError, match="account name"):
        ledger.post("x", {"nocolon": 1, "site:2": -1}, purpose="t")
    ledger.post("once", {"site:1": 1, "site:2": -1}, purpose="t")
    with pytest.raises(ledger.LedgerConflict):
        ledger.post("once", {"site:1": 2, "site:2": -2}, purpose="t")


# ---------------------------------------------------------------- fees vs model

def model_fees(model: Model, t: tariff.Tariff, cod_prepaid=lambda s: True) -> dict:
    """Expected balances per account from the fee rules in docs/hub-business.md."""
    bal: dict[str, int] = {}

    def book(lines):
        for a, c in lines.items():
            bal[a] = bal.get(a, 0) + c

    def chargeable(w, dims):
        g = w or 0
        if dims:
            g = max(g, math.ceil(dims[0] * dims[1] * dims[2] * 1000 / 6000))
        return math.ceil(g / 500) * 500

    for wb, evs in model.by_wb.items():
        rec = [e for e in evs if e["kind"] == "receive"]
        origin = rec[0]["site"] if rec else model.issued_to(wb)
        if not origin:
            continue
        dest = model.dest(evs)
        weighed = [e["weight_g"] for e in evs if e.get("weight_g") is not None]
        pw = weighed[0] if weighed else None
        dims = None
        for e in evs:
            if (e.get("extra") or {}).get("dims_cm"):
                dims = e["extra"]["dims_cm"]
        reg = lambda s: model.region.get(s)  # noqa: E731
        for c in sorted({e["site"] for e in evs if e["site"] in model.centers}):
            arr = [e for e in evs if e["kind"] == "arrive" and e["site"] == c]
            dis = [e for e in evs if e["kind"] == "dispatch" and e["site"] == c]
            if not arr or not dis or c == origin:
                continue
            ws = [e["weight_g"] for e in arr if e.get("weight_g") is not None]
            w = ws[-1] if ws else pw
            to = dis[-1].get("dest_site") or dest
            if w is None or not to:
                continue
            fee = t.transit_fee(c, t.zone(reg(origin), reg(to)), chargeable(w, dims), dis[-1].get("shift"))
            book({f"site:{origin}": -fee, f"site:{c}": fee})
        if rec and rec[0].get("courier") and pw is not None:     # never weighed: not booked
            fee = t.fee("courier", t.zone(reg(origin), reg(dest) if dest else None), chargeable(pw, dims))
            book({f"courier:{rec[0]['courier']}": -fee, f"site:{origin}": fee})
        dl = [e for e in evs if e["kind"] == "deliver"]
        if dl and dl[-1]["site"] != origin and pw is not None:
            fee = t.fee("delivery", t.zone(reg(origin), reg(dl[-1]["site"])), chargeable(pw, dims))
            book({f"site:{origin}": -fee, f"site:{dl[-1]['site']}": fee})
        sg = [e for e in evs if e["kind"] == "sign"]
        if sg:
            x = sg[0]["site"]
            extra = {}
            for e in evs:
                extra.update(e.get("extra") or {})
            n = extra.get("freight_collect_cents")
            if n and x != origin:
                h = t.handling("freight_collect", n)
                book({f"site:{x}": -n + h, f"site:{origin}": n - h})
            n = extra.get("cod_cents")
            if n:
                book({(f"site:{x}" if cod_prepaid(x) else f"cash:{x}"): -n, f"cod:{origin}": n})
    return {a: c for a, c in bal.items() if c}


@settings(max_examples=25, **SETTINGS)
@given(data=st.data())
def test_fees_match_the_model_and_are_recomputed_not_doubled(store, data):
    net = data.draw(networks())
    scans = data.draw(histories(net))
    load_net(net)
    tariff.install(TARIFF)
    # commit in a drawn order, in batches, with duplicates: late scans change fees already booked
    dups = data.draw(st.lists(st.sampled_from(scans), max_size=3)) if scans else []
    todo = data.draw(st.permutations(scans + dups))
    while todo:
        k = data.draw(st.integers(1, len(todo)))
        ingest.commit(todo[:k])
        todo = todo[k:]
    want = model_fees(Model(net, scans), TARIFF)
    assert {a: c for a, c in ledger.balances().items() if c} == want
    assert ledger.total() == 0
    entries_before = bm.JournalEntry.select().count()
    ingest.commit(scans)                          # a full replay books nothing
    fees.refresh({s["waybill"] for s in scans})
    assert bm.JournalEntry.select().count() == entries_before


def sample_store():
    from hub.network.file import load_network
    wipe()
    basic_data.import_network(load_network("sim/networks/sample.yaml"))
    accounts.ensure_accounts()
    tariff.install(TARIFF)


def sc(i, kind, site, t, wb="70000000000017", **kw):
    d = {"id": f"s{wb}-{i}", "station": "st", "seq": i, "kind": kind, "waybill": wb, "site": site,
         "edge_ms": t, "event_ms": t, "clock": "trusted"}
    d.update(kw)
    return d


def test_weight_only_arrival_is_priced_when_the_dispatch_arrives(store):
    sample_store()
    ingest.commit([sc(1, "receive", "100", T0), sc(2, "arrive", "900", T0 + HOUR, weight_g=1200)])
    assert ledger.active_lines("fee:transit:70000000000017:900") == {}
    ingest.commit([sc(3, "dispatch", "900", T0 + 2 * HOUR, dest_site="200", shift="HZ-SH-08")])
    assert ledger.active_lines("fee:transit:70000000000017:900") == {"site:100": -420, "site:900": 420}
    # a re-weigh at the scale later: recomputed, not doubled
    ingest.commit([sc(4, "arrive", "900", T0 + 90 * 60_000, weight_g=2600)])
    assert ledger.active_lines("fee:transit:70000000000017:900") == {"site:100": -420, "site:900": 420}
    ingest.commit([sc(5, "arrive", "900", T0 + 100 * 60_000, weight_g=3400)])
    assert ledger.active_lines("fee:transit:70000000000017:900") == {"site:100": -570, "site:900": 570}
    assert ledger.balance("site:100") == -570 and ledger.total() == 0
    kinds = [e.action for e in bm.JournalEntry.select().where(
        bm.JournalEntry.source == "fee:transit:70000000000017:900").order_by(bm.JournalEntry.rev)]
    assert kinds == ["post", "reverse", "post"]        # the correction is a reversing entry


def test_prepaid_block_follows_the_balance_and_reaches_the_config(store):
    from hub.network import station_config
    sample_store()
    accounts.set_warning("100", 1000)
    assert m.Site.get(m.Site.code == "100").blocked
    assert "100" in station_config.site_slice("900")["blocked_sites"]
    with pytest.raises(accounts.SiteBlocked):
        accounts.check_can_create("100", "COD")
    v1 = meta.get_meta("data_version")
    assert accounts.deposit("100", 5000, "SLIP-1")
    assert not accounts.deposit("100", 5000, "SLIP-1")          # same slip: booked once
    assert accounts.balance("100") == 5000
    assert not m.Site.get(m.Site.code == "100").blocked
    assert meta.get_meta("data_version") != v1
    assert "100" not in station_config.site_slice("900")["blocked_sites"]
    # fees push it under the warning amount again
    ingest.commit([sc(1, "receive", "100", T0, courier="1001"), sc(2, "arrive", "900", T0 + HOUR, weight_g=30_000),
                         sc(3, "dispatch", "900", T0 + 2 * HOUR, dest_site="200")])
    assert accounts.balance("100") < 1000 and m.Site.get(m.Site.code == "100").blocked
    accounts.set_mode("100", "next-day")
    assert not m.Site.get(m.Site.code == "100").blocked


def test_transfers_across_opening_centers_and_statements(store):
    sample_store()
    accounts.deposit("100", 10_000, "D1")
    with pytest.raises(accounts.InsufficientFunds):
        accounts.transfer("100", "200", 20_000, "T0")
    assert accounts.transfer("100", "101", 1_000, "T1")             # same center
    assert accounts.transfer("100", "200", 2_500, "T2")             # 900 -> 901
    assert not accounts.transfer("100", "200", 2_500, "T2")
    assert ledger.balances("clearing:") == {"clearing:900": 2_500, "clearing:901": -2_500}
    st_ = accounts.statement("100")
    assert [r["amount_cents"] for r in st_["rows"]] == [10_000, -1_000, -2_500]
    assert [r["balance_cents"] for r in st_["rows"]] == [10_000, 9_000, 6_500]
    assert st_["closing_cents"] == accounts.balance("100") == 6_500
    assert accounts.correct("transfer:T2", "wrong site")
    assert accounts.balance("100") == 9_000 and accounts.balance("200") == 0
    assert ledger.total() == 0
    with pytest.raises(accounts.AccountError, match="unknown site"):
        accounts.deposit("777", 1, "D9")


@pytest.mark.parametrize("text,cents", [("12", 1200), ("12.5", 1250), ("0.01", 1), ("1,200.00", 120000)])
def test_parse_amount(text, cents):
    assert accounts.parse_amount(text) == cents


@pytest.mark.parametrize("text", ["-5", "1.234", "abc", "", "1e3"])
def test_parse_amount_refuses(text):
    with pytest.raises(accounts.AccountError):
        accounts.parse_amount(text)


@pytest.mark.parametrize("via_prepaid", [True, False])
def test_cod_flow_with_and_without_prepaid(store, via_prepaid):
    sample_store()
    accounts.set_mode("200", "prepaid", cod_via_prepaid=via_prepaid)
    w = "70000000000025"
    ingest.commit([sc(1, "receive", "100", T0, wb=w, extra={"cod_cents": 30_000}),
                         sc(2, "deliver", "200", T0 + 30 * HOUR, wb=w, courier="2001")])
    assert cod.status(w)["state"] == "none"
    with pytest.raises(cod.CodError):
        cod.pay_sender(w)
    ingest.commit([sc(3, "sign", "200", T0 + 31 * HOUR, wb=w, signer="Li")])
    assert cod.status(w) == {"waybill": w, "state": "collected", "origin_site": "100", "amount_cents": 30_000,
                             "fee_cents": 0}
    assert ledger.balance("cod:100") == 30_000
    if via_prepaid:
        assert ledger.balance("site:200") < -30_000 + 1000 and cod.cash_due("200") == 0
    else:
        assert cod.cash_due("200") == 30_000
        with pytest.raises(cod.CodError):
            cod.remit_cash("200", 40_000, "R1")
        assert cod.remit_cash("200", 30_000, "R1") and not cod.remit_cash("200", 30_000, "R1")
        assert cod.cash_due("200") == 0
    assert [p["waybill"] for p in cod.payable("100")] == [w]
    assert cod.pay_sender(w, "shop1") and not cod.pay_sender(w, "shop1")
    assert cod.status(w)["state"] == "paid" and cod.status(w)["fee_cents"] == 300
    assert ledger.balance("external:shop1") == 29_700 and ledger.balance("cod:100") == 0
    assert ledger.total() == 0
