"""``scanhub forecast``: the pre-dispatch comparison (预报) of a site."""
from __future__ import annotations

import json
import sys

import click

from hub.cli.common import db_option, emit, with_store


@click.command("forecast")
@click.option("--site", required=True, help="Site code.")
@click.option("--compare", "compare_file", type=click.Path(dir_okay=False),
              help="File of dispatch-scanned waybills (one a line, '-' = stdin): show missing and extra.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@db_option
@with_store
def forecast(site, compare_file, as_json):
    """Pre-dispatch comparison (预报): what SITE holds now (received or arrived, not yet
    dispatched or delivered); with --compare, the parcels missing from and extra to a dispatch run."""
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
        if as_json:
            click.echo(json.dumps(result, indent=1))
        else:
            click.echo(f"missing ({len(result['missing'])}): " + " ".join(result["missing"]))
            click.echo(f"extra ({len(result['extra'])}): " + " ".join(result["extra"]))
        return
    emit(held, "json" if as_json else "table", f"held at {site}")
