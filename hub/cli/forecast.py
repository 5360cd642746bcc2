"""``scanhub forecast``: the pre-dispatch comparison (预报) of a site."""
from __future__ import annotations

import sys

import click

from hub.cli.common import db_option, echo_json, emit, format_option, utc_option, with_store


@click.command("forecast")
@click.option("--site", required=True, help="Site code.")
@click.option("--compare", "compare_file", type=click.Path(dir_okay=False, allow_dash=True),
              help="File of dispatch-scanned waybills (one a line, '-' = stdin): show missing and extra.")
@format_option
@utc_option
@db_option
@with_store
def forecast(site, compare_file, fmt):
    """Pre-dispatch comparison (预报): what SITE holds now (received or arrived, not yet
    dispatched or delivered); with --compare, the parcels missing from and extra to a dispatch run.

    \b
    Examples:
      scanhub forecast --site 100
      scanhub forecast --site 100 --compare run.txt --json"""
    from contract.forecast import compare
    from hub.business import forecast as fc
    from hub.network import tables as net
    if net.Site.get_or_none(net.Site.code == site) is None:
        raise click.ClickException(f"unknown site {site}")
    held = fc.site_forecast(site)
    if compare_file:
        try:
            text = sys.stdin.read() if compare_file == "-" else open(compare_file, encoding="utf-8").read()
        except OSError as e:
            raise click.ClickException(f"{compare_file}: {e.strerror}") from e
        result = compare([h["waybill"] for h in held], text.split())
        if fmt == "json":
            echo_json(result)
        elif fmt == "table":
            click.echo(f"missing ({len(result['missing'])}): " + " ".join(result["missing"]))
            click.echo(f"extra ({len(result['extra'])}): " + " ".join(result["extra"]))
        else:
            rows = ([{"waybill": w, "difference": "missing"} for w in result["missing"]]
                    + [{"waybill": w, "difference": "extra"} for w in result["extra"]])
            emit(rows, fmt, f"dispatch run compared with what {site} holds")
        return
    emit(held, fmt, f"held at {site}")
