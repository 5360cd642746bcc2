"""``scanhub orders``: platform orders, coverage, pick-up, transfers."""
from __future__ import annotations

import json
import sys

import click

from hub.cli.render import render
from hub.cli.common import format_option, db_option, with_store


@click.group("orders")
def orders():
    """E-commerce platform orders: intake, assignment by address, pickup, transfers, counts."""


@orders.command("coverage")
@click.argument("path", type=click.Path(dir_okay=False))
@db_option
@with_store
def orders_coverage(path):
    """Load coverage rules (YAML list of {site, province, city?, district?, priority?})."""
    from hub.business import orders as po
    click.echo(f"{po.load_coverage_file(path)} coverage rule(s) loaded")


@orders.command("import")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--platform", default="taobao", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@db_option
@with_store
def orders_import(path, platform, as_json):
    """Import orders from a CSV or JSON file and assign each to its site."""
    from hub.business import orders as po
    counts = po.import_orders(po.read_orders(path), platform)
    click.echo(json.dumps(counts) if as_json else
               f"accepted {counts['accepted']}, failed {counts['failed']}, duplicate {counts['duplicate']}")


@orders.command("pickup")
@click.option("--site", required=True)
@click.argument("pairs_file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
@db_option
@with_store
def orders_pickup(site, pairs_file, as_json):
    """Batch pickup at SITE: PAIRS_FILE has 'order_no waybill' per line ('-' = stdin)."""
    from hub.business import orders as po
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
@with_store
def orders_pickup_failed(order_no, reason):
    """Record a failed pickup."""
    from hub.business import orders as po
    po.pickup_failed(order_no, reason)
    click.echo(f"{order_no}: pickup failed")


@orders.command("transfer")
@click.argument("order_no")
@click.option("--to", "to_site", required=True)
@click.option("--reason", required=True)
@db_option
@with_store
def orders_transfer(order_no, to_site, reason):
    """Move a mis-sorted order to another site."""
    from hub.business import orders as po
    po.transfer(order_no, to_site, reason)
    click.echo(f"{order_no}: now at {to_site}")


@orders.command("list")
@click.option("--site")
@format_option
@db_option
@with_store
def orders_list(site, fmt):
    """Orders with their acceptance, pickup and delivery state."""
    from hub.business import orders as po
    click.echo(render(po.orders(site), fmt, "orders"), nl=False)


@orders.command("counts")
@click.option("--by", type=click.Choice(["status", "region"]), default="status", show_default=True)
@format_option
@db_option
@with_store
def orders_counts(by, fmt):
    """Order counts by status or by province-city-district."""
    from hub.business import orders as po
    click.echo(render(po.counts(by), fmt, f"orders by {by}"), nl=False)
