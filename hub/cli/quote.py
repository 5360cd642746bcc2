"""``scanhub quote``: the price of a parcel and its breakdown, from the tariff in force."""
from __future__ import annotations

import click

from hub.cli.common import db_option, echo_json, emit, format_option, with_store


@click.command("quote")
@click.option("--from", "origin", required=True, help="Origin site code.")
@click.option("--to", "dest", required=True, help="Destination site code.")
@click.option("--weight", required=True, help="Weight in kg, e.g. 2.3.")
@click.option("--dims", help="Dimensions LxWxH in cm, e.g. 40x30x20 (volumetric weight).")
@click.option("--cod", help="Collect-on-delivery amount in yuan.")
@click.option("--collect", help="Freight to collect at the destination (到付), in yuan.")
@click.option("--declared", help="Declared value in yuan (insured with --insured).")
@click.option("--insured", is_flag=True, help="Insure the parcel at its declared value.")
@click.option("--surcharge", "surcharges", multiple=True,
              help="A surcharge of the tariff by name (crate, upstairs ...); repeat for more.")
@click.option("--at", "at", help="Price under the tariff in force at this time (default: now).")
@format_option
@db_option
@with_store
def quote(origin, dest, weight, dims, cod, collect, declared, insured, surcharges, at, fmt):
    """The price of one parcel from the tariff in force: every fee on its route through the
    centers, each surcharge, insurance and handling, and the total.

    \b
    Examples:
      scanhub quote --from 100 --to 200 --weight 2.3
      scanhub quote --from 100 --to 200 --weight 2.3 --dims 40x30x20 --cod 500
      scanhub quote --from 100 --to 200 --weight 12 --declared 800 --insured --surcharge upstairs --json
    """
    from contract.clock import now_ms
    from contract.waybill_record import parse_dims, parse_money, parse_weight
    from hub.business.accounts import format_cents
    from hub.business.context import load_context
    from hub.business.localtime import parse_time
    from hub.business.quote import QuoteError, quote as make_quote
    from hub.business.tariff import TariffBook
    when = parse_time(at) if at else now_ms()
    tariff = TariffBook.load().at(when)
    if tariff is None:
        raise QuoteError("no tariff in force: load one with `scanhub account set-tariff FILE`")
    q = make_quote(load_context(), tariff, origin, dest, parse_weight(weight),
                   dims_cm=parse_dims(dims) if dims else None,
                   cod_cents=parse_money(cod, "cod") if cod else None,
                   freight_collect_cents=parse_money(collect, "collect") if collect else None,
                   declared_cents=parse_money(declared, "declared") if declared else None,
                   insured=insured, surcharges=surcharges)
    for x in q["lines"]:            # a quote is for no waybill yet: no ledger source
        x.pop("source")
    if fmt == "json":
        echo_json(q)
        return
    rows = [{"fee": x["fee"], "where": x["where"], "note": x["note"], "payer": x["payer"],
             "amount_cents": x["cents"]} for x in q["lines"]]
    if fmt == "table":
        weight_text = f"{q['weight_g']} g"
        if q["volumetric_g"]:
            weight_text += f", volumetric {q['volumetric_g']} g"
        click.echo(f"{origin} -> {dest} via {' -> '.join(q['route'])}, zone {q['zone']}, {weight_text}, "
                   f"chargeable {q['chargeable_g']} g (tariff {q['tariff']})")
    emit(rows, fmt, f"quote {origin} -> {dest}")
    if fmt == "table":
        click.echo(f"total {format_cents(q['total_cents'])} yuan")
