"""``scanhub account``: prepaid settlement, transfers, statements, modes, COD, tariffs."""
from __future__ import annotations

import json

import click

from hub.cli.common import db_option, emit, fmt_flags, parse_when, with_store


@click.group("account")
def account():
    """Prepaid settlement: deposits, transfers, statements, warning amounts, modes, COD, tariffs.

    Amounts are yuan with up to two decimals (1200, 99.50); they are stored as cents.
    """


def _amount(text):
    from hub.business.accounts import parse_amount
    return parse_amount(text)


@account.command("deposit")
@click.argument("site")
@click.argument("amount")
@click.option("--ref", required=True, help="Slip / voucher number: the same ref is booked once.")
@click.option("--memo", default="", help="Text for the statement.")
@db_option
@with_store
def account_deposit(site, amount, ref, memo):
    """Top up SITE's prepaid account by AMOUNT."""
    from hub.business import accounts
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
@with_store
def account_transfer(from_site, to_site, amount, ref, memo):
    """Move AMOUNT from FROM_SITE to TO_SITE (also across opening centers)."""
    from hub.business import accounts
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
@with_store
def account_statement(site, since, until, as_json, as_csv, as_html):
    """Bank-like statement of SITE with running balance (booking order)."""
    from hub.business import accounts
    fmt = fmt_flags(as_json, as_csv, as_html)
    st = accounts.statement(site, parse_when(since), parse_when(until))
    if fmt == "json":
        click.echo(json.dumps(st, indent=1, ensure_ascii=False))
        return
    cols = ["entry", "booked_ms", "purpose", "memo", "waybill", "amount_cents", "balance_cents"]
    rows = [{k: r[k] for k in cols} for r in st["rows"]]
    title = (f"statement {site}: opening {accounts.format_cents(st['opening_cents'])}, "
             f"closing {accounts.format_cents(st['closing_cents'])}")
    emit(rows, fmt, title)
    if fmt == "table":
        click.echo(title)


@account.command("set-warning")
@click.argument("site")
@click.argument("amount")
@db_option
@with_store
def account_set_warning(site, amount):
    """Set SITE's warning amount: under it a prepaid site is blocked."""
    from hub.business import accounts
    accounts.set_warning(site, _amount(amount))
    blocked = [s for s in accounts.summary() if s["site"] == site][0]["blocked"]
    click.echo(f"{site}: warning {amount}, {'BLOCKED' if blocked else 'not blocked'}")


@account.command("set-mode")
@click.argument("site")
@click.argument("mode", type=click.Choice(["prepaid", "next-day"]))
@click.option("--cod-via-prepaid/--cod-separate", default=None,
              help="Settle COD collected by SITE through its prepaid account, or remit the cash separately.")
@db_option
@with_store
def account_set_mode(site, mode, cod_via_prepaid):
    """Set SITE's settlement mode: prepaid (blocked under the warning amount) or next-day."""
    from hub.business import accounts
    accounts.set_mode(site, mode, cod_via_prepaid)
    click.echo(f"{site}: mode {mode}")


@account.command("list")
@click.option("--json", "as_json", is_flag=True)
@db_option
@with_store
def account_list(as_json):
    """Every site's balance, mode, warning amount and block."""
    from hub.business import accounts
    emit(accounts.summary(), "json" if as_json else "table", "accounts")


@account.command("correct")
@click.argument("source")
@click.option("--memo", required=True, help="Why (shown on the statement).")
@db_option
@with_store
def account_correct(source, memo):
    """Reverse a deposit or transfer (SOURCE like deposit:SLIP-1); nothing is ever deleted."""
    from hub.business import accounts
    done = accounts.correct(source, memo)
    click.echo("reversed" if done else "nothing to reverse")


@account.command("set-tariff")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--reprice/--no-reprice", default=True, show_default=True,
              help="Recompute the fees of parcels scanned since the tariff takes effect.")
@db_option
@with_store
def account_set_tariff(path, reprice):
    """Load a tariff file (YAML/JSON, schema in docs/hub-business.md)."""
    from hub.business import fees
    from hub.business import tariff
    t = tariff.load_tariff(path)
    tariff.install(t)
    n = fees.reprice(t.effective_ms) if reprice else 0
    click.echo(f"tariff {t.name} in force from {t.effective_ms}; repriced {n} parcel(s)")


@account.command("set-deadline")
@click.argument("center")
@click.argument("site")
@click.argument("minutes", type=int)
@db_option
@with_store
def account_set_deadline(center, site, minutes):
    """CENTER requires parcels it sends to SITE to be signed within MINUTES (sign rate)."""
    from hub.business import sign_rate
    sign_rate.set_deadline(center, site, minutes)
    click.echo(f"{center} -> {site}: sign within {minutes} min")


@account.command("cod-pay")
@click.argument("waybills", nargs=-1, required=True)
@click.option("--sender", default="sender", help="The sender's account code (external:<code>).")
@db_option
@with_store
def account_cod_pay(waybills, sender):
    """Pay collected COD amounts to their senders (keeping the handling fee)."""
    from hub.business import cod
    for w in waybills:
        click.echo(f"{w}: {'paid' if cod.pay_sender(w, sender) else 'already paid'}")


@account.command("cod-remit")
@click.argument("site")
@click.argument("amount")
@click.option("--ref", required=True)
@db_option
@with_store
def account_cod_remit(site, amount, ref):
    """Record SITE's remittance of collected COD cash (sites not settling COD through prepaid)."""
    from hub.business import cod
    cod.remit_cash(site, _amount(amount), ref)
    click.echo(f"{site}: COD cash still due {cod.cash_due(site) / 100:.2f}")


@account.command("cod-payable")
@click.argument("site")
@click.option("--json", "as_json", is_flag=True)
@db_option
@with_store
def account_cod_payable(site, as_json):
    """COD parcels of origin SITE collected but not yet paid to their senders."""
    from hub.business import cod
    emit(cod.payable(site), "json" if as_json else "table", f"COD payable by {site}")
