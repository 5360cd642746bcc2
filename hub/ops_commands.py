"""Admin commands over the hub's business layer: ``scanhub monitor|forecast|account|report|orders``.

Thin: parse, call the library, format.  Library errors become one clear line
(``click.ClickException``); ``--json`` prints what a script reads.
"""
from __future__ import annotations

import functools
import json
import sys

import click

from hub import db as hubdb
from hub.commands import db_option, open_store


def _errors() -> tuple[type[Exception], ...]:
    from hub.accounts import AccountError
    from hub.cod import CodError
    from hub.ledger import LedgerError
    from hub.monitoring import MonitorError
    from hub.platform_orders import OrderError
    from hub.reports import ReportError
    from hub.sign_rate import SignRateError
    from hub.tariff import TariffError
    return (hubdb.StoreError, MonitorError, AccountError, LedgerError, TariffError, OrderError, ReportError,
            SignRateError, CodError)


def friendly(fn):
    """Open the store from ``--db`` and turn library errors into one line."""
    @functools.wraps(fn)
    def wrapper(*args, db, **kwargs):
        try:
            open_store(db)
            return fn(*args, **kwargs)
        except _errors() as e:
            raise click.ClickException(str(e)) from e
    return wrapper


def _time(value):
    from hub.monitoring import parse_time
    return None if value is None else parse_time(value)


def _human(rows: list[dict]) -> list[dict]:
    """Rows for people: ``*_ms`` times as local time, cents as yuan."""
    from hub.accounts import format_cents
    from hub.monitoring import format_ms
    out = []
    for r in rows:
        h = {}
        for k, v in r.items():
            if k.endswith("_ms") and isinstance(v, int):
                h[k[:-3]] = format_ms(v)
            elif k.endswith("_cents") and isinstance(v, int):
                h[k[:-6]] = format_cents(v)
            else:
                h[k] = v
        out.append(h)
    return out


def _emit(rows: list[dict], fmt: str, title: str) -> None:
    from hub.reports import render
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1, default=str))
    else:
        click.echo(render(_human(rows), fmt, title), nl=False)


def _fmt_flags(as_json, as_csv, as_html, fmt="table"):
    if sum(bool(x) for x in (as_json, as_csv, as_html)) > 1:
        raise click.UsageError("choose one of --json, --csv, --html")
    return "json" if as_json else "csv" if as_csv else "html" if as_html else fmt


# ---------------------------------------------------------------- monitor

MONITOR_HELP = """Monitoring diffs for a site and time window (seed 5.6.4).

\b
REPORT is one of:
  deleted-unuploaded       scans deleted at a station before they were uploaded
  not-arrived              dispatched to the site, no arrival yet (window: dispatch time)
  expected-arrivals        in transit toward the site (window: expected arrival by shift)
  delivered-unsigned       delivered but not signed, or signed without a delivery scan
  arrived-not-dispatched   arrived, never dispatched/delivered from the site
  dispatched-not-arrived   dispatched, not arrived after transit time + grace
  received-not-dispatched  received and not dispatched, or dispatched and never received
  prev-not-dispatched      arrived, but the previous stop has no dispatch toward the site
  rebuild                  recompute every scan fact from the scans (after a bulk load)

Times: YYYY-MM-DD, YYYY-MM-DDTHH:MM (network local time) or epoch ms.
"""


@click.command("monitor", help=MONITOR_HELP)
@click.argument("report_name", metavar="REPORT")
@click.option("--site", help="Site code (required unless --all-sites).")
@click.option("--all-sites", is_flag=True, help="Every site at once.")
@click.option("--since", help="Window start (inclusive).")
@click.option("--until", help="Window end (exclusive).")
@click.option("--as-of", help="Judge overdue parcels as of this time (default: now).")
@click.option("--grace-min", type=click.IntRange(0), default=120, show_default=True,
              help="Grace after the expected arrival (dispatched-not-arrived).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@click.option("--html", "as_html", is_flag=True, help="Print a printable HTML document.")
@db_option
@friendly
def monitor(report_name, site, all_sites, since, until, as_of, grace_min, as_json, as_csv, as_html):
    from hub import monitoring
    fmt = _fmt_flags(as_json, as_csv, as_html)
    if report_name == "rebuild":
        n = monitoring.rebuild_all()
        from hub import fees
        fees.reprice()
        click.echo(json.dumps({"waybills": n}) if as_json else f"rebuilt facts of {n} waybill(s)")
        return
    if report_name not in monitoring.REPORTS:
        raise click.UsageError(f"unknown report {report_name!r}; one of: {', '.join(monitoring.REPORTS)}, rebuild")
    if not site and not all_sites:
        raise click.UsageError("--site is required (or --all-sites)")
    rows = monitoring.report(report_name, None if all_sites else site, _time(since), _time(until),
                             as_of_ms=_time(as_of), grace_min=grace_min)
    _emit(rows, fmt, f"{report_name} — site {site or 'all'}")


# ---------------------------------------------------------------- forecast

@click.command("forecast")
@click.option("--site", required=True, help="Site code.")
@click.option("--compare", "compare_file", type=click.Path(dir_okay=False),
              help="File of dispatch-scanned waybills (one a line, '-' = stdin): show missing and extra.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@db_option
@friendly
def forecast(site, compare_file, as_json):
    """Pre-dispatch comparison (预报): what SITE holds now (received or arrived, not yet
    dispatched or delivered); with --compare, the parcels missing from and extra to a dispatch run."""
    from hub import forecast as fc
    from hub import models as m
    if m.Site.get_or_none(m.Site.code == site) is None:
        raise click.ClickException(f"unknown site {site}")
    held = fc.site_forecast(site)
    if compare_file:
        try:
            text = sys.stdin.read() if compare_file == "-" else open(compare_file, encoding="utf-8").read()
        except OSError as e:
            raise click.ClickException(f"{compare_file}: {e.strerror}") from e
        result = fc.compare([h["waybill"] for h in held], text.split())
        if as_json:
            click.echo(json.dumps(result, indent=1))
        else:
            click.echo(f"missing ({len(result['missing'])}): " + " ".join(result["missing"]))
            click.echo(f"extra ({len(result['extra'])}): " + " ".join(result["extra"]))
        return
    _emit(held, "json" if as_json else "table", f"held at {site}")


# ---------------------------------------------------------------- account

@click.group("account")
def account():
    """Prepaid settlement: deposits, transfers, statements, warning amounts, modes, COD, tariffs.

    Amounts are yuan with up to two decimals (1200, 99.50); they are stored as cents.
    """


def _amount(text):
    from hub.accounts import parse_amount
    return parse_amount(text)


@account.command("deposit")
@click.argument("site")
@click.argument("amount")
@click.option("--ref", required=True, help="Slip / voucher number: the same ref is booked once.")
@click.option("--memo", default="", help="Text for the statement.")
@db_option
@friendly
def account_deposit(site, amount, ref, memo):
    """Top up SITE's prepaid account by AMOUNT."""
    from hub import accounts
    booked = accounts.deposit(site, _amount(amount), ref, memo)
    bal = accounts.balance(site)
    click.echo(f"{'deposited' if booked else 'already booked'}: {site} balance {accounts.format_cents(bal)}")


@account.command("transfer")
@click.argument("from_site")
@click.argument("to_site")
@click.argument("amount")
@click.option("--ref", required=True, help="Transfer number: the same ref is booked once.")
@click.option("--memo", default="")
@db_option
@friendly
def account_transfer(from_site, to_site, amount, ref, memo):
    """Move AMOUNT from FROM_SITE to TO_SITE (also across opening centers)."""
    from hub import accounts
    booked = accounts.transfer(from_site, to_site, _amount(amount), ref, memo)
    click.echo(f"{'transferred' if booked else 'already booked'}: {from_site} "
               f"{accounts.format_cents(accounts.balance(from_site))}, {to_site} "
               f"{accounts.format_cents(accounts.balance(to_site))}")


@account.command("statement")
@click.argument("site")
@click.option("--since")
@click.option("--until")
@click.option("--json", "as_json", is_flag=True)
@click.option("--csv", "as_csv", is_flag=True)
@click.option("--html", "as_html", is_flag=True)
@db_option
@friendly
def account_statement(site, since, until, as_json, as_csv, as_html):
    """Bank-like statement of SITE with running balance (booking order)."""
    from hub import accounts
    fmt = _fmt_flags(as_json, as_csv, as_html)
    st = accounts.statement(site, _time(since), _time(until))
    if fmt == "json":
        click.echo(json.dumps(st, indent=1, ensure_ascii=False))
        return
    cols = ["entry", "booked_ms", "purpose", "memo", "waybill", "amount_cents", "balance_cents"]
    rows = [{k: r[k] for k in cols} for r in st["rows"]]
    title = (f"statement {site}: opening {accounts.format_cents(st['opening_cents'])}, "
             f"closing {accounts.format_cents(st['closing_cents'])}")
    _emit(rows, fmt, title)
    if fmt == "table":
        click.echo(title)


@account.command("set-warning")
@click.argument("site")
@click.argument("amount")
@db_option
@friendly
def account_set_warning(site, amount):
    """Set SITE's warning amount: under it a prepaid site is blocked."""
    from hub import accounts
    accounts.set_warning(site, _amount(amount))
    blocked = [s for s in accounts.summary() if s["site"] == site][0]["blocked"]
    click.echo(f"{site}: warning {amount}, {'BLOCKED' if blocked else 'not blocked'}")


@account.command("set-mode")
@click.argument("site")
@click.argument("mode", type=click.Choice(["prepaid", "next-day"]))
@click.option("--cod-via-prepaid/--cod-separate", default=None,
              help="Settle COD collected by SITE through its prepaid account, or remit the cash separately.")
@db_option
@friendly
def account_set_mode(site, mode, cod_via_prepaid):
    """Set SITE's settlement mode: prepaid (blocked under the warning amount) or next-day."""
    from hub import accounts
    accounts.set_mode(site, mode, cod_via_prepaid)
    click.echo(f"{site}: mode {mode}")


@account.command("list")
@click.option("--json", "as_json", is_flag=True)
@db_option
@friendly
def account_list(as_json):
    """Every site's balance, mode, warning amount and block."""
    from hub import accounts
    _emit(accounts.summary(), "json" if as_json else "table", "accounts")


@account.command("correct")
@click.argument("source")
@click.option("--memo", required=True, help="Why (shown on the statement).")
@db_option
@friendly
def account_correct(source, memo):
    """Reverse a deposit or transfer (SOURCE like deposit:SLIP-1); nothing is ever deleted."""
    from hub import accounts
    done = accounts.correct(source, memo)
    click.echo("reversed" if done else "nothing to reverse")


@account.command("set-tariff")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--reprice/--no-reprice", default=True, show_default=True,
              help="Recompute the fees of parcels scanned since the tariff takes effect.")
@db_option
@friendly
def account_set_tariff(path, reprice):
    """Load a tariff file (YAML/JSON, schema in docs/hub-business.md)."""
    from hub import fees, tariff
    t = tariff.load_tariff(path)
    tariff.install(t)
    n = fees.reprice(t.effective_ms) if reprice else 0
    click.echo(f"tariff {t.name} in force from {t.effective_ms}; repriced {n} parcel(s)")


@account.command("set-deadline")
@click.argument("center")
@click.argument("site")
@click.argument("minutes", type=int)
@db_option
@friendly
def account_set_deadline(center, site, minutes):
    """CENTER requires parcels it sends to SITE to be signed within MINUTES (sign rate)."""
    from hub import sign_rate
    sign_rate.set_deadline(center, site, minutes)
    click.echo(f"{center} -> {site}: sign within {minutes} min")


@account.command("cod-pay")
@click.argument("waybills", nargs=-1, required=True)
@click.option("--sender", default="sender", help="The sender's account code (external:<code>).")
@db_option
@friendly
def account_cod_pay(waybills, sender):
    """Pay collected COD amounts to their senders (keeping the handling fee)."""
    from hub import cod
    for w in waybills:
        click.echo(f"{w}: {'paid' if cod.pay_sender(w, sender) else 'already paid'}")


@account.command("cod-remit")
@click.argument("site")
@click.argument("amount")
@click.option("--ref", required=True)
@db_option
@friendly
def account_cod_remit(site, amount, ref):
    """Record SITE's remittance of collected COD cash (sites not settling COD through prepaid)."""
    from hub import cod
    cod.remit_cash(site, _amount(amount), ref)
    click.echo(f"{site}: COD cash still due {cod.cash_due(site) / 100:.2f}")


@account.command("cod-payable")
@click.argument("site")
@click.option("--json", "as_json", is_flag=True)
@db_option
@friendly
def account_cod_payable(site, as_json):
    """COD parcels of origin SITE collected but not yet paid to their senders."""
    from hub import cod
    _emit(cod.payable(site), "json" if as_json else "table", f"COD payable by {site}")


# ---------------------------------------------------------------- report

@click.group("report")
def report():
    """Scan details, monthly lists, signed/unsigned details, sign rate, fees of a parcel.

    --format table (terminal), csv, json, or html (printable, fixed columns).
    """


format_option = click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "html"]),
                             default="table", show_default=True)


@report.command("scans")
@click.option("--site", required=True)
@click.option("--kind", required=True, type=click.Choice(["receive", "dispatch", "arrive", "deliver", "sign",
                                                          "problem", "hold"]))
@click.option("--since")
@click.option("--until")
@format_option
@db_option
@friendly
def report_scans(site, kind, since, until, fmt):
    """Scan details of one kind at SITE, with the group (courier / next stop / previous stop)."""
    from hub import reports
    rows = reports.scan_details(site, kind, _time(since), _time(until))
    cols = ["waybill", "at", "group", "shift", "weight_g"]
    from hub.reports import render
    out = rows if fmt == "json" else [{c: r[c] for c in cols} for r in rows]
    click.echo(render(out, fmt, f"{kind} scans at {site}", None), nl=False)


@report.command("monthly")
@click.option("--site", required=True)
@click.option("--kind", required=True, type=click.Choice(["receive", "dispatch", "arrive", "deliver"]))
@click.option("--month", required=True, help="YYYY-MM")
@format_option
@db_option
@friendly
def report_monthly(site, kind, month, fmt):
    """Monthly list of one kind at SITE grouped by receiving courier, next stop, previous stop or
    delivery courier."""
    from hub import reports
    click.echo(reports.render(reports.monthly(site, kind, month), fmt, f"{kind} {month} at {site}"), nl=False)


@report.command("signed")
@click.option("--site", required=True)
@click.option("--side", type=click.Choice(["received", "delivered"]), default="delivered", show_default=True)
@click.option("--since")
@click.option("--until")
@click.option("--unsigned", "only", flag_value="unsigned", help="Only unsigned parcels.")
@click.option("--signed", "only", flag_value="signed", help="Only signed parcels.")
@format_option
@db_option
@friendly
def report_signed(site, side, since, until, only, fmt):
    """Signed/unsigned details of the parcels SITE received or delivered, with current status."""
    from hub import reports
    signed = None if only is None else only == "signed"
    rows = reports.signed_details(site, side, _time(since), _time(until), signed)
    click.echo(reports.render(rows, fmt, f"{side} parcels of {site}"), nl=False)


@report.command("sign-rate")
@click.option("--site", help="One site (default: all).")
@click.option("--side", type=click.Choice(["receiver", "sender"]), default="receiver", show_default=True)
@click.option("--period", type=click.Choice(["day", "month"]), default="day", show_default=True)
@click.option("--since")
@click.option("--until")
@click.option("--as-of", help="Judge unsigned parcels as of this time (default: now).")
@click.option("--details", is_flag=True, help="One row per parcel instead of rates.")
@format_option
@db_option
@friendly
def report_sign_rate(site, side, period, since, until, as_of, details, fmt):
    """On-time vs overtime signs against the centers' deadlines, per site and day or month."""
    from hub import reports, sign_rate
    rows = sign_rate.records(site, side, _time(since), _time(until), _time(as_of))
    out = rows if details else sign_rate.rates(rows, side, period)
    if details and fmt != "json":
        out = _human(out)
    click.echo(reports.render(out, fmt, f"sign rate ({side} side, per {period})"), nl=False)


@report.command("fees")
@click.argument("waybill")
@click.option("--json", "as_json", is_flag=True)
@db_option
@friendly
def report_fees(waybill, as_json):
    """The fees currently booked for WAYBILL."""
    from hub import fees
    rows = fees.waybill_fees(waybill)
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    if not rows:
        click.echo(f"{waybill}: no fees booked")
    for r in rows:
        click.echo(f"{r['source']}: " + ", ".join(f"{a} {c / 100:+.2f}" for a, c in r["lines"].items()))


# ---------------------------------------------------------------- orders

@click.group("orders")
def orders():
    """E-commerce platform orders: intake, assignment by address, pickup, transfers, counts."""


@orders.command("coverage")
@click.argument("path", type=click.Path(dir_okay=False))
@db_option
@friendly
def orders_coverage(path):
    """Load coverage rules (YAML list of {site, province, city?, district?, priority?})."""
    from hub import platform_orders as po
    click.echo(f"{po.load_coverage_file(path)} coverage rule(s) loaded")


@orders.command("import")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--platform", default="taobao", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@db_option
@friendly
def orders_import(path, platform, as_json):
    """Import orders from a CSV or JSON file and assign each to its site."""
    from hub import platform_orders as po
    counts = po.import_orders(po.read_orders(path), platform)
    click.echo(json.dumps(counts) if as_json else
               f"accepted {counts['accepted']}, failed {counts['failed']}, duplicate {counts['duplicate']}")


@orders.command("pickup")
@click.option("--site", required=True)
@click.argument("pairs_file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
@db_option
@friendly
def orders_pickup(site, pairs_file, as_json):
    """Batch pickup at SITE: PAIRS_FILE has 'order_no waybill' per line ('-' = stdin)."""
    from hub import platform_orders as po
    try:
        text = sys.stdin.read() if pairs_file == "-" else open(pairs_file, encoding="utf-8").read()
    except OSError as e:
        raise click.ClickException(f"{pairs_file}: {e.strerror}") from e
    pairs = []
    for n, line in enumerate(text.splitlines(), 1):
        parts = line.replace(",", " ").split()
        if not parts:
            continue
        if len(parts) != 2:
            raise click.ClickException(f"{pairs_file}:{n}: expected 'order_no waybill'")
        pairs.append((parts[0], parts[1]))
    res = po.pickup(site, pairs)
    if as_json:
        click.echo(json.dumps(res, indent=1))
    else:
        for r in res:
            click.echo(f"{r['order_no']} {r['waybill']}: {'ok' if r['ok'] else 'refused: ' + r['reason']}")


@orders.command("pickup-failed")
@click.argument("order_no")
@click.option("--reason", required=True)
@db_option
@friendly
def orders_pickup_failed(order_no, reason):
    """Record a failed pickup."""
    from hub import platform_orders as po
    po.pickup_failed(order_no, reason)
    click.echo(f"{order_no}: pickup failed")


@orders.command("transfer")
@click.argument("order_no")
@click.option("--to", "to_site", required=True)
@click.option("--reason", required=True)
@db_option
@friendly
def orders_transfer(order_no, to_site, reason):
    """Move a mis-sorted order to another site."""
    from hub import platform_orders as po
    po.transfer(order_no, to_site, reason)
    click.echo(f"{order_no}: now at {to_site}")


@orders.command("list")
@click.option("--site")
@format_option
@db_option
@friendly
def orders_list(site, fmt):
    """Orders with their acceptance, pickup and delivery state."""
    from hub import platform_orders as po
    from hub import reports
    click.echo(reports.render(po.orders(site), fmt, "orders"), nl=False)


@orders.command("counts")
@click.option("--by", type=click.Choice(["status", "region"]), default="status", show_default=True)
@format_option
@db_option
@friendly
def orders_counts(by, fmt):
    """Order counts by status or by province-city-district."""
    from hub import platform_orders as po
    from hub import reports
    click.echo(reports.render(po.counts(by), fmt, f"orders by {by}"), nl=False)
