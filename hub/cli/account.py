"""``scanhub account``: prepaid settlement, transfers, statements, modes, COD, tariffs."""
from __future__ import annotations

import sys

import click

from hub.cli.common import (db_option, done, emit, format_option, json_option, output_option, parse_when, utc_option,
                            window_text, with_store)

# AMOUNT arguments may be typed as "-5": let them reach the amount check ("amount must be positive")
# instead of being taken for an option.
AMOUNT_ARGS = {"ignore_unknown_options": True}


@click.group("account")
def account():
    """Prepaid settlement: deposits, transfers, statements, warning amounts, modes, COD, tariffs.

    \b
    Amounts are yuan with up to two decimals (1200, 99.50, 1,200.50: commas only group
    thousands); they are stored as cents.  One booking is at most 100,000,000 yuan; above
    100,000 yuan the command asks first (or takes --yes).
    Examples:
      scanhub account deposit 101 1200 --ref SLIP-0001
      scanhub account transfer 101 200 50.00 --ref T-7 --json
      scanhub account statement 101 --since 2024-06-01 --format pdf > statement.pdf
    """


def _amount(text, allow_zero=False):
    from hub.business.accounts import parse_amount
    return parse_amount(text, allow_zero=allow_zero)


yes_option = click.option("--yes", is_flag=True,
                          help="Book an amount above 100,000 yuan without asking.")


def _confirm_large(cents: int, yes: bool) -> None:
    from hub.business.accounts import LARGE_AMOUNT_CENTS, format_cents
    if cents <= LARGE_AMOUNT_CENTS or yes:
        return
    what = f"{format_cents(cents)} yuan is more than {format_cents(LARGE_AMOUNT_CENTS)} yuan"
    if sys.stdin.isatty():
        click.confirm(f"{what}. Book it?", abort=True)
        return
    raise click.UsageError(f"{what}: check the amount, and add --yes if it is right")


@account.command("deposit", context_settings=AMOUNT_ARGS)
@click.argument("site")
@click.argument("amount")
@click.option("--ref", required=True, help="Slip / voucher number: the same ref is booked once.")
@click.option("--memo", default="", help="Text for the statement.")
@yes_option
@json_option
@db_option
@with_store
def account_deposit(site, amount, ref, memo, yes, fmt):
    """Top up SITE's prepaid account by AMOUNT yuan."""
    from hub.business import accounts
    cents = _amount(amount)
    _confirm_large(cents, yes)
    booked = accounts.deposit(site, cents, ref, memo)
    bal = accounts.balance(site)
    done({"site": site, "amount_cents": cents, "ref": ref, "booked": booked, "balance_cents": bal},
         f"{'deposited' if booked else 'already booked'}: {site} balance {accounts.format_cents(bal)} yuan", fmt)


@account.command("transfer", context_settings=AMOUNT_ARGS)
@click.argument("from_site")
@click.argument("to_site")
@click.argument("amount")
@click.option("--ref", required=True, help="Transfer number: the same ref is booked once.")
@click.option("--memo", default="", help="Text for both statements.")
@yes_option
@json_option
@db_option
@with_store
def account_transfer(from_site, to_site, amount, ref, memo, yes, fmt):
    """Move AMOUNT yuan from FROM_SITE to TO_SITE (also across opening centers)."""
    from hub.business import accounts
    cents = _amount(amount)
    _confirm_large(cents, yes)
    booked = accounts.transfer(from_site, to_site, cents, ref, memo)
    a, b = accounts.balance(from_site), accounts.balance(to_site)
    done({"from": from_site, "to": to_site, "amount_cents": cents, "ref": ref, "booked": booked,
          "balances_cents": {from_site: a, to_site: b}},
         f"{'transferred' if booked else 'already booked'}: {from_site} {accounts.format_cents(a)} yuan, "
         f"{to_site} {accounts.format_cents(b)} yuan", fmt)


@account.command("statement")
@click.argument("site")
@click.option("--since", help="Window start, booking time (YYYY-MM-DD[THH:MM], network zone).")
@click.option("--until", help="Window end (exclusive).")
@output_option(aliases=("csv", "html"))
@utc_option
@db_option
@with_store
def account_statement(site, since, until, fmt):
    """Bank-like statement of SITE with running balance (booking order).

    The printable forms (html, pdf) add the fee totals by type as a chart and the totals of the
    amounts.  JSON: {account, opening_cents, closing_cents, rows}."""
    from hub.business import accounts
    from hub.cli.charts import Chart
    from hub.cli.common import echo_json
    since_ms, until_ms = parse_when(since), parse_when(until)
    st = accounts.statement(site, since_ms, until_ms)
    if fmt == "json":
        echo_json(st)
        return
    cols = ["entry", "booked_ms", "purpose", "memo", "waybill", "amount_cents", "balance_cents"]
    title = (f"statement {site}: opening {accounts.format_cents(st['opening_cents'])} yuan, "
             f"closing {accounts.format_cents(st['closing_cents'])} yuan")
    by_type: dict[str, int] = {}
    for r in st["rows"]:
        by_type[r["purpose"]] = by_type.get(r["purpose"], 0) + r["amount_cents"]
    chart = Chart("bar", f"amounts by type, {site} (yuan)",
                  {"amount": [(k, v / 100) for k, v in sorted(by_type.items())]}, ylabel="yuan")
    emit(st["rows"], fmt, title, columns=cols, window=window_text(since_ms, until_ms), chart=chart)
    if fmt == "table" and st["rows"]:
        click.echo(title)


@account.command("set-warning", context_settings=AMOUNT_ARGS)
@click.argument("site")
@click.argument("amount")
@yes_option
@json_option
@db_option
@with_store
def account_set_warning(site, amount, yes, fmt):
    """Set SITE's warning amount (yuan, 0 allowed): under it a prepaid site is blocked."""
    from hub.business import accounts
    cents = _amount(amount, allow_zero=True)
    _confirm_large(cents, yes)
    accounts.set_warning(site, cents)
    blocked = [s for s in accounts.summary() if s["site"] == site][0]["blocked"]
    done({"site": site, "warning_cents": cents, "blocked": blocked},
         f"{site}: warning {accounts.format_cents(cents)} yuan, {'BLOCKED' if blocked else 'not blocked'}", fmt)


@account.command("set-mode")
@click.argument("site")
@click.argument("mode", type=click.Choice(["prepaid", "next-day"]))
@click.option("--cod-via-prepaid/--cod-separate", default=None,
              help="Settle COD collected by SITE through its prepaid account, or remit the cash separately.")
@json_option
@db_option
@with_store
def account_set_mode(site, mode, cod_via_prepaid, fmt):
    """Set SITE's settlement mode: prepaid (blocked under the warning amount) or next-day."""
    from hub.business import accounts
    accounts.set_mode(site, mode, cod_via_prepaid)
    done({"site": site, "mode": mode, "cod_via_prepaid": cod_via_prepaid}, f"{site}: mode {mode}", fmt)


@account.command("list")
@format_option
@db_option
@with_store
def account_list(fmt):
    """Every site's booked balance, the fees its parcels in flight will still cost (expected),
    the expected balance, mode, warning amount and block.

    A prepaid site is blocked when its expected balance is under its warning amount, so it
    stops before its money is gone; parcels_left says about how many more parcels like those in
    flight it can send before that."""
    from hub.business import accounts
    emit(accounts.summary(), fmt, "accounts",
         columns=["site", "opening_center", "mode", "balance_cents", "expected_fees_cents",
                  "expected_balance_cents", "in_flight", "parcels_left", "warning_cents", "blocked",
                  "cod_via_prepaid"])


@account.command("correct")
@click.argument("source")
@click.option("--memo", required=True, help="Why (shown on the statement).")
@json_option
@db_option
@with_store
def account_correct(source, memo, fmt):
    """Reverse a deposit or transfer (SOURCE like deposit:SLIP-1); nothing is ever deleted."""
    from hub.business import accounts
    reversed_ = accounts.correct(source, memo)
    done({"source": source, "reversed": reversed_}, "reversed" if reversed_ else "nothing to reverse", fmt)


@account.command("set-tariff")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--reprice/--no-reprice", default=True, show_default=True,
              help="Recompute the fees of parcels scanned since the tariff takes effect.")
@json_option
@utc_option
@db_option
@with_store
def account_set_tariff(path, reprice, fmt):
    """Load a tariff file (YAML/JSON, schema in docs/hub-business.md)."""
    from hub.business import fees
    from hub.business import tariff
    from hub.business.localtime import format_ms
    t = tariff.load_tariff(path)
    tariff.install(t)
    n = fees.reprice(t.effective_ms) if reprice else 0
    done({"tariff": t.name, "effective_ms": t.effective_ms, "repriced": n},
         f"tariff {t.name} in force from {format_ms(t.effective_ms)}; repriced {n} parcel(s)", fmt)


@account.command("set-deadline")
@click.argument("center")
@click.argument("site")
@click.argument("minutes", type=click.IntRange(1))
@json_option
@db_option
@with_store
def account_set_deadline(center, site, minutes, fmt):
    """CENTER requires parcels it sends to SITE to be signed within MINUTES (sign rate)."""
    from hub.business import sign_rate
    sign_rate.set_deadline(center, site, minutes)
    done({"center": center, "site": site, "minutes": minutes}, f"{center} -> {site}: sign within {minutes} min", fmt)


@account.command("cod-pay")
@click.argument("waybills", nargs=-1, required=True)
@click.option("--sender", default="sender", help="The sender's account code (external:<code>).")
@json_option
@db_option
@with_store
def account_cod_pay(waybills, sender, fmt):
    """Pay collected COD amounts to their senders (keeping the handling fee).

    Exit status 1 when any waybill could not be paid (the others are paid)."""
    from hub.business import cod
    from hub.business.ledger import LedgerError
    results = []
    for w in waybills:
        try:
            results.append({"waybill": w, "state": "paid" if cod.pay_sender(w, sender) else "already paid"})
        except (cod.CodError, LedgerError) as e:
            results.append({"waybill": w, "state": "refused", "reason": str(e)})
    if fmt == "json":
        from hub.cli.common import echo_json
        echo_json(results)
    else:
        for r in results:
            click.echo(f"{r['waybill']}: {r['state']}" + (f": {r['reason']}" if r.get("reason") else ""))
    from hub.cli.common import fail_partly
    fail_partly(sum(r["state"] == "refused" for r in results), len(results), "waybill(s)")


@account.command("cod-remit", context_settings=AMOUNT_ARGS)
@click.argument("site")
@click.argument("amount")
@click.option("--ref", required=True, help="Remittance slip number.")
@yes_option
@json_option
@db_option
@with_store
def account_cod_remit(site, amount, ref, yes, fmt):
    """Record SITE's remittance of AMOUNT yuan of collected COD cash (sites not settling COD through prepaid)."""
    from hub.business import cod
    from hub.business.accounts import format_cents
    cents = _amount(amount)
    _confirm_large(cents, yes)
    booked = cod.remit_cash(site, cents, ref)
    due = cod.cash_due(site)
    done({"site": site, "amount_cents": cents, "ref": ref, "booked": booked, "cash_due_cents": due},
         f"{site}: COD cash still due {format_cents(due)} yuan", fmt)


@account.command("cod-payable")
@click.argument("site")
@format_option
@utc_option
@db_option
@with_store
def account_cod_payable(site, fmt):
    """COD parcels of origin SITE collected but not yet paid to their senders."""
    from hub.business import cod
    emit(cod.payable(site), fmt, f"COD payable by {site}")
