"""The output rule of every hub and device command: --format/--json, named states, exit status
on partial failure, full width when piped, times with their zone, "no rows", rates as
percentages, and amounts typed in yuan."""
from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from conftest import sample_store, wb
from contract.clock import ZoneError, parse_utc_offset, zone_label
from hub.business import accounts
from hub.ingest import pipeline
from test_hub_reference import HOUR, T0

W1, W2, W3 = "70000000000017", "70000000000025", "70000000000033"


def sc(i, kind, site, t, wb, **kw):
    d = {"id": f"o{wb}-{i}", "station": "st", "seq": i, "kind": kind, "waybill": wb, "site": site,
         "edge_ms": t, "event_ms": t, "clock": "trusted"}
    d.update(kw)
    return d


def run(*args, input=None):
    import cli
    return CliRunner().invoke(cli.main, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def hubdb(tmp_path):
    path = sample_store(str(tmp_path / "hub.db"))
    accounts.ensure_accounts()
    pipeline.commit([
        sc(1, "receive", "100", T0, W1, courier="1001", dest_site="200", weight_g=1200),
        sc(2, "dispatch", "100", T0 + HOUR, W1, dest_site="200"),
        sc(1, "receive", "100", T0 + HOUR, W2, courier="1001", weight_g=800),
        sc(1, "arrive", "200", T0 + 2 * HOUR, W3),
        sc(2, "deliver", "200", T0 + 3 * HOUR, W3, courier="2001"),
    ])
    return path


# ---------------------------------------------------------------- --format and --json everywhere

# every hub-side command that changes or reports something, and the device protocol lists
COMMANDS = [
    ("hub", "check"), ("hub", "import"), ("hub", "stations"), ("hub", "gaps"),
    ("hub", "dead-letters"), ("hub", "credentials"), ("track",), ("monitor",), ("forecast",),
    *[("account", c) for c in ("deposit", "transfer", "statement", "set-warning", "set-mode", "list", "correct",
                               "set-tariff", "set-deadline", "cod-pay", "cod-remit", "cod-payable")],
    *[("report", c) for c in ("scans", "monthly", "signed", "sign-rate", "fee-totals", "fees")],
    *[("orders", c) for c in ("coverage", "import", "pickup", "pickup-failed", "transfer", "list", "counts")],
    ("scale", "protocols"), ("scanner", "protocols"), ("gun", "keys", "init"), ("gun", "keys", "show"),
    ("e1", "config"), ("gun", "fleet"),
]
LISTINGS = [c for c in COMMANDS if c in {("hub", "stations"), ("hub", "gaps"), ("hub", "dead-letters"), ("track",),
                                         ("monitor",), ("forecast",), ("account", "statement"), ("account", "list"),
                                         ("account", "cod-payable"), ("orders", "list"), ("orders", "counts"),
                                         ("gun", "fleet")}
            or c[0] == "report"]


def _command(path):
    import cli
    ctx = click.Context(cli.main)
    cmd = cli.main
    for name in path:
        cmd = cmd.get_command(ctx, name)
    return cmd


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_has_json(path):
    opts = {o for p in _command(path).params for o in p.opts}
    assert "--json" in opts


@pytest.mark.parametrize("path", LISTINGS, ids=" ".join)
def test_every_report_has_every_format(path):
    [fmt] = [p for p in _command(path).params if "--format" in p.opts]
    assert set(fmt.type.choices) == {"table", "csv", "json", "html", "pdf"}


def test_json_is_the_alias_of_format_json(hubdb):
    a = run("report", "scans", "--site", "100", "--kind", "receive", "--json", "--db", hubdb)
    b = run("report", "scans", "--site", "100", "--kind", "receive", "--format", "json", "--db", hubdb)
    assert a.exit_code == 0 and a.output == b.output and len(json.loads(a.output)) == 2
    r = run("report", "scans", "--site", "100", "--kind", "receive", "--json", "--format", "csv", "--db", hubdb)
    assert r.exit_code == 2 and "one output format" in r.output
    r = run("account", "deposit", "101", "12", "--ref", "J1", "--json", "--db", hubdb)
    assert json.loads(r.output) == {"site": "101", "amount_cents": 1200, "ref": "J1", "booked": True,
                                    "balance_cents": 1200}
    r = run("account", "set-warning", "101", "0", "--format", "json", "--db", hubdb)
    assert json.loads(r.output)["warning_cents"] == 0


def test_protocol_lists_as_json_and_csv():
    rows = json.loads(run("scanner", "protocols", "--json").output)
    assert {"protocol": "ssi"} .items() <= next(r for r in rows if r["protocol"] == "ssi").items()
    assert all(set(r) == {"protocol", "summary"} for r in rows)
    out = run("scale", "protocols", "--format", "csv").output.splitlines()
    assert out[0] == "protocol,map,summary" and any(line.startswith("modbus,") for line in out[1:])


# ---------------------------------------------------------------- named states, exit status

def test_pickup_exits_non_zero_when_a_line_is_refused(hubdb, tmp_path):
    cov = tmp_path / "cov.yaml"
    cov.write_text('coverage:\n  - {site: "100", province: "33", city: "3301"}\n')
    run("orders", "coverage", str(cov), "--db", hubdb)
    run("orders", "import", "sim/orders-sample.csv", "--db", hubdb)
    pairs = tmp_path / "pairs.txt"
    good = wb(1)                   # pickup checks the number: a valid one, issued to site 100
    pairs.write_text(f"TB1001 {good}\nNOPE1 {W2}\nNOPE2 {W3}\nNOPE3 70000000000041\n")
    r = run("orders", "pickup", "--site", "100", str(pairs), "--json", "--db", hubdb)
    assert r.exit_code == 1
    res = json.loads(r.stdout)
    assert [x["state"] for x in res] == ["picked up", "refused", "refused", "refused"]
    assert "3 of 4 line(s) failed" in r.stderr
    pairs.write_text(f"TB1001 {good}\n")
    assert run("orders", "pickup", "--site", "100", str(pairs), "--db", hubdb).exit_code == 0


def test_cod_pay_names_each_state_and_fails_partly(hubdb):
    r = run("account", "cod-pay", W1, W2, "--json", "--db", hubdb)
    assert r.exit_code == 1
    assert [x["state"] for x in json.loads(r.stdout)] == ["refused", "refused"]


# ---------------------------------------------------------------- table: full width, no rows, percentages

def test_piped_table_is_full_width(hubdb):
    memo = "月初充值 " + "long memo text " * 12 + "END"
    run("account", "deposit", "101", "10", "--ref", "W1", "--memo", memo, "--db", hubdb)
    out = run("account", "statement", "101", "--db", hubdb).output
    assert memo in out                      # one line, not folded or cut at 80 or 200 columns
    assert max(len(line) for line in out.splitlines()) > 200


def test_empty_reports_say_no_rows(hubdb):
    r = run("monitor", "not-arrived", "--site", "101", "--db", hubdb)
    assert r.exit_code == 0 and r.output.strip() == "not-arrived — site 101: no rows"
    assert "no rows" in run("monitor", "not-arrived", "--site", "101", "--format", "html", "--db", hubdb).output
    assert "<table" not in run("orders", "list", "--format", "html", "--db", hubdb).output
    assert json.loads(run("orders", "list", "--json", "--db", hubdb).output) == []


def test_rates_print_as_percentages(hubdb):
    pipeline.commit([sc(3, "arrive", "901", T0 + 2 * HOUR, W1),
                     sc(4, "dispatch", "901", T0 + 3 * HOUR, W1, dest_site="200"),
                     sc(5, "sign", "200", T0 + 5 * HOUR, W1, signer="x")])
    r = run("report", "sign-rate", "--format", "csv", "--as-of", str(T0 + 100 * HOUR), "--db", hubdb)
    head, row = r.output.splitlines()[:2]
    assert head.endswith("on_time_rate,sign_rate") and row.endswith("100.00%,100.00%")
    rows = json.loads(run("report", "sign-rate", "--json", "--as-of", str(T0 + 100 * HOUR), "--db", hubdb).output)
    assert rows[0]["sign_rate"] == 1.0


# ---------------------------------------------------------------- time zones

def test_network_zone_labels_every_time_and_utc_on_request(tmp_path):
    import yaml
    raw = yaml.safe_load(open("sim/networks/sample.yaml", encoding="utf-8"))
    raw["timezone"] = "+05:30"
    f = tmp_path / "net.yaml"
    f.write_text(yaml.safe_dump(raw, allow_unicode=True))
    db = str(tmp_path / "hub.db")
    r = run("hub", "import", str(f), "--db", db, "--json")
    assert r.exit_code == 0 and json.loads(r.output)["zone"] == "UTC+05:30"
    from hub.schema import connect
    connect(db)
    pipeline.commit([sc(1, "receive", "100", T0, W1, courier="1001")])       # 2024-06-01 00:00 UTC
    out = run("track", W1, "--db", db).output
    assert "2024-06-01 05:30:00 UTC+05:30" in out
    out = run("track", W1, "--db", db, "--utc").output
    assert "2024-06-01 00:00:00 UTC" in out and "+05:30" not in out
    # typed times are read in the network's zone: 05:30 local is T0, so the window holds the scan
    r = run("report", "scans", "--site", "100", "--kind", "receive", "--since", "2024-06-01T05:30",
            "--json", "--db", db)
    assert [x["event_ms"] for x in json.loads(r.output)] == [T0]
    r = run("report", "scans", "--site", "100", "--kind", "receive", "--since", "2024-06-01T05:31",
            "--json", "--db", db)
    assert json.loads(r.output) == []


def test_monitor_times_carry_the_default_zone(hubdb):
    out = run("monitor", "received-not-dispatched", "--site", "100", "--format", "csv", "--db", hubdb).output
    assert "2024-06-01 09:00:00 UTC+08:00" in out       # T0 + 1 h in China standard time


def test_bad_timezone_is_a_problem_of_the_network_file(tmp_path):
    f = tmp_path / "net.yaml"
    f.write_text(open("sim/networks/sample.yaml", encoding="utf-8").read() + "\ntimezone: Mars/Olympus\n")
    r = run("hub", "import", str(f), "--dry-run", "--db", str(tmp_path / "x.db"))
    assert r.exit_code == 1 and "timezone: 'Mars/Olympus' is not a UTC offset" in r.output


@given(st.integers(-14 * 60, 14 * 60))
def test_zone_label_round_trips(minutes):
    assert parse_utc_offset(zone_label(minutes)) == minutes


@given(st.text(max_size=12))
def test_zone_parser_never_crashes(text):
    try:
        minutes = parse_utc_offset(text)
    except ZoneError:
        return
    assert -14 * 60 <= minutes <= 14 * 60


# ---------------------------------------------------------------- amounts

def test_negative_amount_says_positive_not_no_such_option(hubdb):
    r = run("account", "deposit", "100", "-5", "--ref", "N1", "--db", hubdb)
    assert r.exit_code == 1 and "amount must be positive: -5 yuan" in r.output and "No such option" not in r.output
    r = run("account", "transfer", "100", "101", "-0.50", "--ref", "N2", "--db", hubdb)
    assert "amount must be positive: -0.50 yuan" in r.output
    r = run("account", "deposit", "100", "0", "--ref", "N3", "--db", hubdb)
    assert "amount must be positive" in r.output


def test_errors_speak_of_yuan(hubdb):
    run("account", "set-mode", "101", "prepaid", "--db", hubdb)
    r = run("account", "transfer", "101", "100", "20", "--ref", "Y1", "--db", hubdb)
    assert r.exit_code == 1 and "cannot transfer 20.00 yuan" in r.output and "cents" not in r.output
    r = run("account", "cod-remit", "101", "5", "--ref", "Y2", "--db", hubdb)
    assert r.exit_code == 1 and "yuan" in r.output and "cents" not in r.output


def test_thousands_commas_and_decimal_commas(hubdb):
    r = run("account", "deposit", "100", "1,000", "--ref", "C1", "--json", "--db", hubdb)
    assert json.loads(r.output)["amount_cents"] == 100_000
    r = run("account", "deposit", "100", "1,5", "--ref", "C2", "--db", hubdb)
    assert r.exit_code == 1 and "a comma may only group thousands" in r.output
    assert accounts.balance("100") == 100_000


def test_absurd_amounts_need_confirmation_or_are_refused(hubdb):
    r = run("account", "deposit", "100", "250000", "--ref", "L1", "--db", hubdb)
    assert r.exit_code == 2 and "add --yes" in r.output and accounts.balance("100") == 0
    assert run("account", "deposit", "100", "250000", "--ref", "L1", "--yes", "--db", hubdb).exit_code == 0
    assert accounts.balance("100") == 25_000_000
    r = run("account", "deposit", "100", "100000001", "--ref", "L2", "--yes", "--db", hubdb)
    assert r.exit_code == 1 and "over the limit" in r.output


@given(st.text(alphabet="0123456789,.-+ e", max_size=14))
def test_parse_amount_accepts_only_clear_amounts(text):
    try:
        cents = accounts.parse_amount(text)
    except accounts.AccountError:
        return
    assert 0 < cents <= accounts.MAX_AMOUNT_CENTS
    assert "-" not in text and "e" not in text
    assert accounts.parse_amount(accounts.format_cents(cents)) == cents


@pytest.mark.parametrize("text,minutes", [('"+08:00"', 480), ("+08:00", 480), ("-03:30", -210), ("UTC", 0),
                                          ("+00:00", 0), ('"UTC+5:45"', 345)])
def test_timezone_quoted_or_not(tmp_path, text, minutes):
    from hub.network.file import load_network
    f = tmp_path / "net.yaml"
    f.write_text(f"network: n\ntimezone: {text}\n")
    assert load_network(str(f))["tz_offset_min"] == minutes


@pytest.mark.parametrize("text", ["8", "+15:00", "Asia/Shanghai", "true"])
def test_timezone_refused(tmp_path, text):
    from hub.network.file import NetworkError, load_network
    f = tmp_path / "net.yaml"
    f.write_text(f"network: n\ntimezone: {text}\n")
    with pytest.raises(NetworkError, match="timezone"):
        load_network(str(f))


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_option_is_explained(path):
    cmd = _command(path)
    assert cmd.help
    missing = [p.name for p in cmd.params if isinstance(p, click.Option) and not p.help]
    assert missing == []


def test_order_import_exits_non_zero_when_rows_are_skipped(hubdb, tmp_path):
    f = tmp_path / "orders.csv"
    f.write_text("order_no,province,city,district\nX1,33,3301,330106\n,33,3301,330106\n")
    r = run("orders", "import", str(f), "--json", "--db", hubdb)
    assert r.exit_code == 1 and json.loads(r.stdout)["skipped"] == 1 and "1 of 2" in r.stderr
    f.write_text("order_no,province,city,district\nX2,33,3301,330106\n")
    assert run("orders", "import", str(f), "--db", hubdb).exit_code == 0


def test_import_json_lists_the_problems(tmp_path):
    f = tmp_path / "net.yaml"
    f.write_text("network: n\ntimezone: soon\nsites: [{code: '1'}]\n")
    r = run("hub", "import", str(f), "--json", "--db", str(tmp_path / "hub.db"))
    out = json.loads(r.output)
    assert r.exit_code == 1 and out["valid"] is False and len(out["problems"]) == 2
