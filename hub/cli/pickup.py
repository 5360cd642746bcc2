"""``scanhub pickup``: telephone pickup orders and the stations' pickup tasks (docs/hub-business.md)."""
from __future__ import annotations

import click

from hub.cli.common import db_option, done, echo_json, emit, format_option, json_option, parse_when, utc_option, with_store

LIST_COLUMNS = ["code", "state", "site", "window_from_ms", "window_to_ms", "sender", "phone", "address", "parcels",
                "waybills"]
OVERDUE_COLUMNS = ["code", "site", "window_to_ms", "overdue_min", "sender", "phone", "address", "parcels"]
DEFAULT_WINDOW_H = 4


@click.group("pickup")
def pickup():
    """Telephone pickup orders: each becomes a task at the stations of the site covering the
    address, and is done when a courier's receive scan names it (%U<code>, then the label).

    \b
    Examples:
      scanhub pickup add --phone 13800000000 --address "浙江省杭州市西湖区文三路 1 号" \\
          --sender "Wang Fang" --parcels 2 --from 2026-12-02T14:00 --to 2026-12-02T18:00
      scanhub pickup list --state open --site 100
      scanhub pickup show PK000001
      scanhub pickup cancel PK000001 --reason "customer cancelled by phone"
      scanhub pickup overdue --format csv > overdue.csv
    """


@pickup.command("add")
@click.option("--phone", required=True, help="The sender's phone (any usual form: 138 0000 0000, +86…, 0571-…).")
@click.option("--address", required=True, help="Where to pick up, as free text; it decides the site.")
@click.option("--sender", default="", help="The sender's name.")
@click.option("--parcels", type=click.IntRange(1, 999), default=1, show_default=True, help="Parcels expected.")
@click.option("--from", "window_from", help="Window start: YYYY-MM-DDTHH:MM (network time) or epoch ms "
                                            "[default: now].")
@click.option("--to", "window_to", help=f"Window end [default: {DEFAULT_WINDOW_H} hours after its start].")
@click.option("--site", help="The site that picks it up (default: the one whose coverage holds the address).")
@click.option("--note", default="", help="For the courier (floor, gate, what the goods are).")
@click.option("--by", "created_by", default="", help="The agent who took the call (staff code or login).")
@json_option
@utc_option
@db_option
@with_store
def pickup_add(phone, address, sender, parcels, window_from, window_to, site, note, created_by, fmt):
    """Record a pickup order taken on the telephone; prints its task code.

    The address is placed with the coverage rules of platform orders (scanhub orders coverage);
    an address no rule covers is refused unless --site names the site."""
    from hub.business import pickup as pk
    from hub.business.localtime import format_ms
    start = parse_when(window_from) if window_from else pk.now_ms()
    end = parse_when(window_to) if window_to else start + DEFAULT_WINDOW_H * 3_600_000
    t = pk.add(phone=phone, address=address, sender=sender, parcels=parcels, window_from_ms=start,
               window_to_ms=end, site=site, note=note, created_by=created_by, source="agent")
    done(t, f"{t['code']}: site {t['site']}, {t['parcels']} parcel(s), "
            f"{format_ms(t['window_from_ms'])} to {format_ms(t['window_to_ms'])}", fmt)


@pickup.command("list")
@click.option("--state", type=click.Choice(["open", "done", "cancelled"]), help="Only tasks in this state.")
@click.option("--site", help="Only this site's tasks.")
@click.option("--limit", type=click.IntRange(1), default=200, show_default=True, help="At most this many, newest first.")
@format_option
@utc_option
@db_option
@with_store
def pickup_list(state, site, limit, fmt):
    """Pickup tasks, newest first, with the waybills that closed them."""
    from hub.business import pickup as pk
    rows = pk.tasks(state, site, limit)
    if fmt != "json":
        rows = [dict(r, waybills=" ".join(r["waybills"])) for r in rows]
    emit(rows, fmt, "pickup tasks" + (f" of {site}" if site else ""), columns=None if fmt == "json" else LIST_COLUMNS,
         totals=False)


@pickup.command("show")
@click.argument("code")
@json_option
@utc_option
@db_option
@with_store
def pickup_show(code, fmt):
    """One task: the order, its state and each receive scan that named it."""
    from hub.business import pickup as pk
    from hub.business.localtime import format_ms
    t = pk.show(code)
    if fmt == "json":
        echo_json(t)
        return
    click.echo(f"{t['code']}  {t['state']}{' (overdue)' if t['overdue'] else ''}  site {t['site']}")
    click.echo(f"  sender   {t['sender']} {t['phone']}")
    click.echo(f"  address  {t['address']}")
    click.echo(f"  window   {format_ms(t['window_from_ms'])} to {format_ms(t['window_to_ms'])}, "
               f"{t['parcels']} parcel(s) expected")
    if t["note"]:
        click.echo(f"  note     {t['note']}")
    click.echo(f"  taken    {format_ms(t['created_ms'])} by {t['source']}"
               + (f" ({t['created_by']})" if t["created_by"] else ""))
    if t["state"] == "cancelled":
        click.echo(f"  cancelled {format_ms(t['cancelled_ms'])}: {t['cancel_reason']}")
    for lk in t["links"]:
        click.echo(f"  received {lk['waybill']} at {lk['site']} {format_ms(lk['event_ms'])}"
                   + (f" by courier {lk['courier']}" if lk["courier"] else ""))


@pickup.command("cancel")
@click.argument("code")
@click.option("--reason", required=True, help="Why (kept with the task).")
@json_option
@db_option
@with_store
def pickup_cancel(code, reason, fmt):
    """Cancel an open task: it leaves its stations' task list."""
    from hub.business import pickup as pk
    t = pk.cancel(code, reason)
    done(t, f"{t['code']}: cancelled", fmt)


@pickup.command("overdue")
@click.option("--site", help="Only this site's tasks.")
@click.option("--at", "at", help="Overdue as of this time (default: now).")
@click.option("--work-orders", is_flag=True,
              help="Also open a work order for each overdue task that has none (hub.crm.pickup_watch; "
                   "needs the work orders package).")
@format_option
@utc_option
@db_option
@with_store
def pickup_overdue(site, at, work_orders, fmt):
    """Open pickup tasks whose time window has passed, the longest overdue first."""
    from hub.business import pickup as pk
    rows = pk.overdue(parse_when(at) if at else None, site)
    if work_orders:
        from hub.crm.pickup_watch import raise_overdue
        raised = raise_overdue(rows)
        click.echo(f"{raised} work order(s) opened", err=True)
    emit(rows, fmt, "overdue pickups" + (f" of {site}" if site else ""),
         columns=None if fmt == "json" else OVERDUE_COLUMNS, totals=False)
