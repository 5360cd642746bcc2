"""``scanhub waybill``: entered waybills (录单) — bulk import at the hub, show, list, history."""
from __future__ import annotations

import click

from hub.cli.common import (db_option, done, echo_json, emit, fail_partly, format_option, json_option, parse_when,
                            utc_option, window_text, with_store)


def entry_line(e: dict) -> str:
    """One line for people: what was entered for a waybill."""
    from hub.business.accounts import format_cents
    f = e["fields"]
    parts = []
    if f.get("dest_site"):
        parts.append(f"to {f['dest_site']}")
    if f.get("weight_g") is not None:
        parts.append(f"{f['weight_g']} g")
    if f.get("dims_cm"):
        parts.append("x".join(str(d) for d in f["dims_cm"]) + " cm")
    for key, word in (("cod_cents", "COD"), ("freight_collect_cents", "freight collect"),
                      ("declared_cents", "declared")):
        if f.get(key):
            parts.append(f"{word} {format_cents(f[key])}")
    if f.get("insured"):
        parts.append("insured")
    if f.get("surcharges"):
        parts.append("surcharges " + ", ".join(f["surcharges"]))
    n = e["records"]
    records = f"({n} record{'s' if n != 1 else ''}: the entry and {n - 1} correction{'s' if n != 2 else ''})" \
        if n > 1 else "(1 record)"
    return f"entered at {e['origin_site']}: " + ", ".join(parts) + f" {records}"


def _flat(e: dict) -> dict:
    f = e["fields"]
    return {"waybill": e["waybill"], "origin_site": e["origin_site"], "dest_site": f.get("dest_site"),
            "weight_g": f.get("weight_g"), "dims_cm": "x".join(map(str, f["dims_cm"])) if f.get("dims_cm") else None,
            "cod_cents": f.get("cod_cents"), "freight_collect_cents": f.get("freight_collect_cents"),
            "declared_cents": f.get("declared_cents"), "receiver": f.get("receiver_name"),
            "records": e["records"], "entered_ms": e["entered_ms"]}


@click.group("waybill")
def waybill():
    """Entered waybills: bulk import at the hub, one waybill, a list, every correction.

    Stations enter waybills with their console (docs/station.md, "Waybill entry"); the hub
    checks each against the network's waybill rules and issuance records.

    \b
    Examples:
      scanhub waybill import waybills.csv --site 100
      scanhub waybill import waybills.xlsx --json
      scanhub waybill show 70000000000016
      scanhub waybill list --site 100 --since 2026-12-01 --format csv
      scanhub waybill history 70000000000016
    """


@waybill.command("import")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--site", help="The entering site of lines without a site column.")
@json_option
@db_option
@with_store
def waybill_import(path, site, fmt):
    """Enter the waybills of a CSV (UTF-8) or Excel .xlsx file, one per line.

    The first row names the columns: waybill, site, dest_site, weight_kg, dims_cm (LxWxH),
    pieces, declared, cod, freight_collect (yuan), insured (yes/no), surcharges (a;b), goods,
    payment, sender_* and receiver_* (name, phone, address, province, city, district), remark,
    operator; Chinese headers (运单号, 目的站, 重量 …) work too.  An address given as text only gets
    its province, city and district codes when they can be told.  Good lines are entered; each bad
    one is listed with its line number and reason, and the exit status is then 1.  Importing
    the same file again changes nothing.

    \b
    Example:
      printf 'waybill,dest_site,weight_kg,dims_cm,cod\\n70000000000016,200,2.3,40x30x20,500\\n' > wb.csv
      scanhub waybill import wb.csv --site 100
    """
    from contract.clock import now_ms
    from hub.business.address import place_records
    from hub.ingest import pipeline
    from hub.waybills.importer import read_rows
    records, errors = read_rows(path, site, now_ms())
    place_records([r for _, r in records])     # division codes of addresses given as text only
    lines = {id(r): line for line, r in records}
    committed = 0
    for i in range(0, len(records), 500):
        chunk = [r for _, r in records[i:i + 500]]
        ok, bad = pipeline.commit_waybills(chunk, derive=True, dead_letters=False)
        committed += len(ok)
        errors += [(lines[id(r)], reason) for r, reason in bad]
        if len(records) > 2000 and fmt != "json":
            click.echo(f"  {min(i + 500, len(records))} of {len(records)} lines", err=True)
    errors.sort()
    result = {"entered": committed, "refused": len(errors),
              "errors": [{"line": line, "reason": reason} for line, reason in errors]}
    text = f"{committed} waybill record(s) entered, {len(errors)} line(s) refused"
    text += "".join(f"\n  {path}:{line}: {reason}" for line, reason in errors)
    done(result, text, fmt)
    fail_partly(len(errors), committed + len(errors), "line(s)")


@waybill.command("show")
@click.argument("number")
@json_option
@utc_option
@db_option
@with_store
def waybill_show(number, fmt):
    """One entered waybill: every field as its records now say.

    \b
    Example:
      scanhub waybill show 70000000000016 --json
    """
    from hub.business.localtime import format_ms
    from hub.waybills.records import WaybillError, entry
    e = entry(number)
    if e is None:
        raise WaybillError(f"waybill {number} was never entered")
    if fmt == "json":
        echo_json(e)
        return
    click.echo(f"{number}: {entry_line(e)}")
    click.echo(f"  first entered {format_ms(e['entered_ms'])}, last changed {format_ms(e['updated_ms'])}")
    for k, v in sorted(e["fields"].items()):
        click.echo(f"  {k}: {v}")


@waybill.command("list")
@click.option("--site", help="Only waybills entered at this site.")
@click.option("--since", help="Entered at or after (YYYY-MM-DD[THH:MM], network time).")
@click.option("--until", help="Entered before.")
@click.option("--limit", type=click.IntRange(1), default=1000, show_default=True, help="At most this many waybills.")
@format_option
@utc_option
@db_option
@with_store
def waybill_list(site, since, until, limit, fmt):
    """Entered waybills, newest first.

    \b
    Example:
      scanhub waybill list --site 100 --since 2026-12-01 --json
    """
    from hub.waybills.records import entries
    s, u = parse_when(since), parse_when(until)
    rows = [_flat(e) for e in entries(site, s, u, limit)]
    emit(rows, fmt, "entered waybills" + (f" of site {site}" if site else ""), window=window_text(s, u),
         columns=None if fmt == "json" else list(_flat({"waybill": "", "origin_site": "", "fields": {},
                                                         "records": 0, "entered_ms": 0})))


@waybill.command("history")
@click.argument("number")
@format_option
@utc_option
@db_option
@with_store
def waybill_history(number, fmt):
    """Every record of a waybill in the order they apply: the entry and each correction.

    \b
    Example:
      scanhub waybill history 70000000000016
    """
    import json as _json
    from hub.waybills.records import WaybillError, history
    recs = history(number)
    if not recs:
        raise WaybillError(f"waybill {number} was never entered")
    rows = [{"event_ms": r["event_ms"], "site": r["site"], "station": r["station"] or "(hub import)",
             "operator": r["operator"], "id": r["id"],
             "fields": r["fields"] if fmt == "json" else _json.dumps(r["fields"], ensure_ascii=False)}
            for r in recs]
    emit(rows, fmt, f"waybill records of {number}", totals=False)
