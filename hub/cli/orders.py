"""``scanhub orders``: platform orders, coverage, pick-up, transfers."""
from __future__ import annotations

import sys

import click

from hub.cli.common import (db_option, done, echo_json, emit, fail_partly, format_option, json_option, utc_option,
                            with_store)


@click.group("orders")
def orders():
    """E-commerce platform orders: intake, assignment by address, pickup, transfers, counts.

    \b
    Examples:
      scanhub orders coverage coverage.yaml
      scanhub orders import orders.csv --platform taobao --json
      scanhub orders pickup --site 100 pairs.txt        (exit status 1 if any line is refused)
      scanhub orders reassign                           (after loading coverage)
      scanhub orders counts --by status --format pdf > orders.pdf
    """


@orders.command("coverage")
@click.argument("path", type=click.Path(dir_okay=False))
@json_option
@db_option
@with_store
def orders_coverage(path, fmt):
    """Load coverage rules (YAML list of {site, province, city?, district?, priority?})."""
    from hub.business import orders as po
    n = po.load_coverage_file(path)
    done({"rules": n}, f"{n} coverage rule(s) loaded", fmt)


@orders.command("import")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--platform", default="taobao", show_default=True, help="The platform the orders come from.")
@json_option
@db_option
@with_store
def orders_import(path, platform, fmt):
    """Import orders from a CSV or JSON file and assign each to its site.

    Orders no site covers are kept with accept state "failed" (and counted as failed): an
    outcome, not an error.  Rows without an order number cannot be kept: they are counted as
    skipped, and the exit status is then 1."""
    from hub.business import orders as po
    counts = po.import_orders(po.read_orders(path), platform)
    done(counts, f"accepted {counts['accepted']}, failed {counts['failed']}, duplicate {counts['duplicate']}"
         + (f", skipped {counts['skipped']} (no order number)" if counts["skipped"] else ""), fmt)
    total = sum(counts.values())
    fail_partly(counts["skipped"], total, "row(s) without an order number")


@orders.command("pickup")
@click.option("--site", required=True, help="The site picking the parcels up.")
@click.argument("pairs_file", type=click.Path(dir_okay=False, allow_dash=True))
@json_option
@db_option
@with_store
def orders_pickup(site, pairs_file, fmt):
    """Batch pickup at SITE: PAIRS_FILE has 'order_no waybill' per line ('-' = stdin).

    Every line is tried; refused lines change nothing.  Exit status 1 when any line was refused."""
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
    for r in res:
        r["state"] = "picked up" if r["ok"] else "refused"
    if fmt == "json":
        echo_json(res)
    else:
        for r in res:
            click.echo(f"{r['order_no']} {r['waybill']}: {'ok' if r['ok'] else 'refused: ' + r['reason']}")
    fail_partly(sum(not r["ok"] for r in res), len(res), "line(s)")


@orders.command("pickup-failed")
@click.argument("order_no")
@click.option("--reason", required=True, help="Why the pickup failed (shown in the order list).")
@json_option
@db_option
@with_store
def orders_pickup_failed(order_no, reason, fmt):
    """Record a failed pickup."""
    from hub.business import orders as po
    po.pickup_failed(order_no, reason)
    done({"order_no": order_no, "pickup": "failed", "reason": reason}, f"{order_no}: pickup failed", fmt)


@orders.command("transfer")
@click.argument("order_no")
@click.option("--to", "to_site", required=True, help="The site the order belongs to.")
@click.option("--reason", required=True, help="Why it moves.")
@json_option
@db_option
@with_store
def orders_transfer(order_no, to_site, reason, fmt):
    """Move a mis-sorted order to another site."""
    from hub.business import orders as po
    po.transfer(order_no, to_site, reason)
    done({"order_no": order_no, "site": to_site, "reason": reason}, f"{order_no}: now at {to_site}", fmt)


@orders.command("list")
@click.option("--site", help="Only this site's orders.")
@format_option
@utc_option
@db_option
@with_store
def orders_list(site, fmt):
    """Orders with their acceptance, pickup and delivery state."""
    from hub.business import orders as po
    emit(po.orders(site), fmt, "orders" + (f" of {site}" if site else ""))


@orders.command("counts")
@click.option("--by", type=click.Choice(["status", "region"]), default="status", show_default=True,
              help="Count by state (accept, pickup, delivery) or by province-city-district.")
@format_option
@db_option
@with_store
def orders_counts(by, fmt):
    """Order counts by status or by province-city-district (the printable forms chart them)."""
    from hub.business import orders as po
    from hub.cli.charts import Chart
    rows = po.counts(by)
    chart = None
    if by == "status":
        series: dict[str, list] = {}
        for r in rows:
            series.setdefault(r["what"], []).append((f"{r['what']}: {r['state']}", r["orders"]))
        chart = Chart("bar", "orders by status", series, ylabel="orders", legend="stage")
    # by status an order counts once per stage (accept, pickup, delivery): a sum would count it thrice
    emit(rows, fmt, f"orders by {by}", chart=chart, totals=by != "status")


@orders.command("reassign")
@click.option("--all", "every", is_flag=True,
              help="Also orders already accepted and not picked up (they move when coverage says so).")
@json_option
@db_option
@with_store
def orders_reassign(every, fmt):
    """Assign again the orders waiting as failed (no site covered them, or their address could
    not be placed), with the coverage and address data now in force: after loading coverage.

    \b
    Example:
      scanhub orders coverage coverage.yaml && scanhub orders reassign
    """
    from hub.business import orders as po
    res = po.reassign(every)
    done(res, f"assigned {res['assigned']}, moved {res['moved']}, still failed {res['failed']}", fmt)
