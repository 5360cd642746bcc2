"""``scanhub crm …``: customers, categories and their fields, tiers, the caller lookup, CSV
import and export, duplicates and merge, business records, rates and the agents' tasks
(docs/crm.md).  Parsing and formatting only; the work is in ``hub.crm``."""
from __future__ import annotations

import getpass
import sys

import click

from hub.cli.common import db_option, echo_json, emit, format_option, human, json_option, open_store, parse_when


def _help(text: str, *examples: str) -> str:
    return text + "\n\n\b\nExample" + ("s" if len(examples) > 1 else "") + ":\n" + "\n".join(f"  {e}" for e in examples)


def _actor(actor):
    return actor or "cli:" + getpass.getuser()


by_option = click.option("--by", "actor", default=None, help="Who makes the change, for the history (default: your login).")


def _custom(pairs) -> dict:
    out = {}
    for p in pairs:
        if "=" not in p:
            raise click.UsageError(f"--field takes NAME=VALUE, not {p!r}")
        k, v = p.split("=", 1)
        out[k.strip()] = v
    return out


def _yuan(cents):
    from hub.business.accounts import format_cents
    return None if cents is None else format_cents(cents)


@click.group(help=_help(
    "The CRM: customers of the company, their phones, tiers, business records and tasks, and the "
    "caller lookup the agents' screen pop uses (docs/crm.md).",
    "scanhub crm customer add --name 'Hangzhou Tea Co.' --category shop --phone 13800000000",
    "scanhub crm lookup 13800000000 --json", "scanhub crm tasks --owner 1001"))
def crm():
    pass


# ---------------------------------------------------------------- customers

@crm.group(help=_help("Customers, one at a time; every change is kept (`scanhub crm customer history`).",
                      "scanhub crm customer add --name 'Wang Fang' --category sender --phone '138 0000 0000'",
                      "scanhub crm customer set 12 --owner 1002 --field vip_level=2",
                      "scanhub crm customer show 12 --json"))
def customer():
    pass


def _customer_options(f):
    opts = [
        click.option("--name", default=None, help="The customer's name (required for add)."),
        click.option("--category", default=None, help="Its category code (scanhub crm category list; default customer)."),
        click.option("--contact", default=None, help="The contact person(s)."),
        click.option("--phone", "phones", multiple=True,
                     help="A phone number, as written (repeat, or separate with /); on set, replaces the list. "
                          "0571-8888 1234, +86 138 0000 0000, 0086…, 转801 or ext 801 for an extension."),
        click.option("--area-code", default="", help="Area code for fixed numbers written without one (0571)."),
        click.option("--address", default=None, help="Address(es)."),
        click.option("--tax-id", default=None, help="Tax id (unified social credit code)."),
        click.option("--email", default=None, help="E-mail address."),
        click.option("--notes", default=None, help="Free notes."),
        click.option("--birthday", default=None, help="YYYY-MM-DD or MM-DD (a care reminder before it)."),
        click.option("--contract-end", default=None, help="YYYY-MM-DD the contract ends (a care reminder before it)."),
        click.option("--owner", default=None, help="Staff code of who looks after it (scanhub staff list)."),
        click.option("--field", "custom", multiple=True, metavar="NAME=VALUE",
                     help="A custom field of the category (repeat); an empty value clears it."),
        click.option("--pin", default=None, help="Telephone PIN, 4-8 digits (kept as an argon2 hash; '' removes it)."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


_GENERIC = ("name", "category", "contact", "address", "tax_id", "email", "notes", "birthday", "contract_end", "owner")


def _show(r: dict) -> None:
    for k in ("id", "name", "category", "tier", "owner", "contact", "phones", "address", "tax_id", "email",
              "birthday", "contract_end", "notes"):
        v = r[k]
        if isinstance(v, list):
            v = " / ".join(v)
        if v not in ("", None):
            click.echo(f"{k:13} {v}")
    for k, v in r["custom"].items():
        click.echo(f"{k:13} {v}")
    click.echo(f"{'pin':13} {'set' if r['has_pin'] else 'none'}")


@customer.command("add", help=_help("Add a customer; refused with the reason when a field does not fit "
                                    "its category's definition.",
                                    "scanhub crm customer add --name 'COSCO Shipping' --category ocean "
                                    "--phone '021-6596 6666' --tax-id 91310000MA1FL0001X --owner 1001"))
@_customer_options
@db_option
@by_option
@json_option
def customer_add(db, actor, fmt, phones, area_code, custom, pin, **kw):
    from hub.crm.customers import add
    open_store(db)
    r = add({k: v for k, v in kw.items() if v is not None}, actor=_actor(actor), phones=list(phones),
            custom=_custom(custom), pin=pin, area_code=area_code)
    if fmt == "json":
        echo_json(r)
    else:
        click.echo(f"added customer {r['id']} {r['name']}")


@customer.command("show", help=_help("One customer's fields, phones and custom fields.", "scanhub crm customer show 12"))
@click.argument("customer_id")
@db_option
@json_option
def customer_show(customer_id, db, fmt):
    from hub.crm.customers import get
    open_store(db)
    r = get(customer_id)
    echo_json(r) if fmt == "json" else _show(r)


@customer.command("list", help=_help("Customers, by id.", "scanhub crm customer list --category shop",
                                     "scanhub crm customer list --owner 1001 --format csv"))
@click.option("--category", default=None, help="Only this category.")
@click.option("--owner", default=None, help="Only customers this staff member looks after.")
@click.option("--tier", default=None, help="Only this tier.")
@click.option("--name", default=None, help="Only names containing this text.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many.")
@db_option
@format_option
def customer_list(category, owner, tier, name, limit, db, fmt):
    from hub.crm.customers import customers
    open_store(db)
    rows = customers(category=category, owner=owner, tier=tier, name=name, limit=limit)
    if fmt != "json":
        rows = [{"id": r["id"], "name": r["name"], "category": r["category"], "tier": r["tier"], "owner": r["owner"],
                 "phones": " / ".join(r["phones"]), "contact": r["contact"]} for r in rows]
    emit(rows, fmt, "Customers")


@customer.command("set", help=_help("Change the given fields (an empty value clears an optional one).",
                                    "scanhub crm customer set 12 --phone 13800000000 --phone '0571-8888 1234 转801'",
                                    "scanhub crm customer set 12 --category corporate --field contract_no=HT-2024-07"))
@click.argument("customer_id")
@_customer_options
@db_option
@by_option
@json_option
def customer_set(customer_id, db, actor, fmt, phones, area_code, custom, pin, **kw):
    from hub.crm.customers import change
    open_store(db)
    values = {k: v for k, v in kw.items() if v is not None}
    if not values and not phones and not custom and pin is None:
        raise click.UsageError("nothing to change: give at least one field option")
    r = change(customer_id, values, actor=_actor(actor), phones=list(phones) if phones else None,
               custom=_custom(custom) if custom else None, pin=pin, area_code=area_code)
    if fmt == "json":
        echo_json(r)
        return
    if not r["changes"]:
        click.echo(f"customer {r['id']} unchanged")
    for f, (old, new) in r["changes"].items():
        click.echo(f"  {f}: {old if old not in (None, '') else '(none)'} -> {new if new not in (None, '') else '(none)'}")


@customer.command("remove", help=_help("Remove a customer (its history stays).", "scanhub crm customer remove 12"))
@click.argument("customer_id")
@db_option
@by_option
def customer_remove(customer_id, db, actor):
    from hub.crm.customers import remove
    open_store(db)
    remove(customer_id, actor=_actor(actor))
    click.echo(f"removed customer {customer_id}")


@customer.command("history", help=_help("Changes, newest first: when, who, the field, old and new. With an id, "
                                        "that customer's only.", "scanhub crm customer history 12",
                                        "scanhub crm customer history --json"))
@click.argument("customer_id", required=False)
@click.option("--limit", type=click.IntRange(min=1), default=200, show_default=True, help="At most this many changes.")
@db_option
@format_option
def customer_history(customer_id, limit, db, fmt):
    from hub.crm.customers import history
    open_store(db)
    rows = history(customer_id, limit=limit)
    emit(rows if fmt == "json" else human(rows), fmt, "Customer changes")


@customer.command("handover", help=_help(
    "Hand customers over to another staff member: the given ids, or every customer of --from.",
    "scanhub crm customer handover 12 13 --to 1002", "scanhub crm customer handover --from 1001 --to 1002"))
@click.argument("customer_ids", nargs=-1)
@click.option("--from", "from_", default=None, help="Every customer this staff member looks after.")
@click.option("--to", required=True, help="Staff code of the new owner.")
@db_option
@by_option
def customer_handover(customer_ids, from_, to, db, actor):
    from hub.crm.customers import handover, owned_by
    open_store(db)
    if bool(customer_ids) == bool(from_):
        raise click.UsageError("give customer ids or --from STAFF (one of them)")
    ids = list(customer_ids) or owned_by(from_)
    done = handover(ids, to, actor=_actor(actor))
    click.echo(f"handed {sum(1 for d in done if d['changes'])} customer(s) over to {to}")


# ---------------------------------------------------------------- categories and fields

@crm.group(help=_help("Customer categories (ocean carriers, senders, e-commerce shops …), editable.",
                      "scanhub crm category list", "scanhub crm category add agent --name 'Customs agents'"))
def category():
    pass


@category.command("list", help="Categories with how many custom fields each has.")
@db_option
@format_option
def category_list(db, fmt):
    from hub.crm.customers import categories
    open_store(db)
    emit(categories(), fmt, "Customer categories")


@category.command("add", help=_help("Add a category.", "scanhub crm category add agent --name 'Customs agents'"))
@click.argument("code")
@click.option("--name", required=True, help="Its name.")
@click.option("--family", default="", help="forwarder, express or empty.")
@db_option
def category_add(code, name, family, db):
    from hub.crm.customers import add_category
    open_store(db)
    add_category(code, name, family)
    click.echo(f"added category {code}")


@category.command("set", help=_help("Rename a category.", "scanhub crm category set shop --name 'Online shops'"))
@click.argument("code")
@click.option("--name", required=True, help="The new name.")
@db_option
def category_set(code, name, db):
    from hub.crm.customers import set_category
    open_store(db)
    set_category(code, name)
    click.echo(f"renamed category {code}")


@category.command("remove", help=_help("Remove a category without customers (and its fields).",
                                       "scanhub crm category remove agent"))
@click.argument("code")
@db_option
def category_remove(code, db):
    from hub.crm.customers import remove_category
    open_store(db)
    remove_category(code)
    click.echo(f"removed category {code}")


@crm.group(help=_help("Custom fields of a category, defined as data: type, required, choices. Every write "
                      "of a customer is checked against them.",
                      "scanhub crm field add ocean alliance --type choice --choices 'Ocean|THE|2M'",
                      "scanhub crm field list ocean"))
def field():
    pass


@field.command("list", help="A category's custom fields.")
@click.argument("category")
@db_option
@format_option
def field_list(category, db, fmt):
    from hub.crm.customers import fields
    open_store(db)
    rows = fields(category)
    if fmt != "json":
        rows = [{**r, "choices": "|".join(r["choices"])} for r in rows]
    emit(rows, fmt, f"Fields of {category}")


@field.command("add", help=_help("Add a custom field to a category.",
                                 "scanhub crm field add shop platform --type choice --choices 'Taobao|JD|Pinduoduo' --required",
                                 "scanhub crm field add corporate credit_days --type int"))
@click.argument("category")
@click.argument("name")
@click.option("--type", "type_", default="text", show_default=True,
              type=click.Choice(["text", "int", "decimal", "date", "bool", "choice"]), help="The value's type.")
@click.option("--required", is_flag=True, help="Every customer of the category must have it.")
@click.option("--choices", default="", help="For --type choice: the choices, separated by |.")
@click.option("--label", default="", help="A label for people.")
@db_option
def field_add(category, name, type_, required, choices, label, db):
    from hub.crm.customers import add_field
    open_store(db)
    add_field(category, name, type_, required, choices.split("|") if choices else [], label)
    click.echo(f"added field {name} to {category}")


@field.command("remove", help=_help("Remove a custom field from a category.", "scanhub crm field remove shop platform"))
@click.argument("category")
@click.argument("name")
@db_option
def field_remove(category, name, db):
    from hub.crm.customers import remove_field
    open_store(db)
    remove_field(category, name)
    click.echo(f"removed field {name} from {category}")


# ---------------------------------------------------------------- tiers

@crm.group(help=_help("Tiers (diamond, gold, ordinary) by rules over the customers' business: the best tier "
                      "whose every threshold a customer meets in the window is its tier.",
                      "scanhub crm tier list", "scanhub crm tier set gold --min-records 20 --min-amount 20000",
                      "scanhub crm tier assign"))
def tier():
    pass


@tier.command("list", help="The tier rules, best first.")
@db_option
@format_option
def tier_list(db, fmt):
    from hub.crm.tiers import tiers
    open_store(db)
    rows = tiers()
    emit(rows if fmt == "json" else human(rows), fmt, "Tiers")


@tier.command("set", help=_help("Add or change a tier rule.", "scanhub crm tier set silver --rank 2 --min-records 5"))
@click.argument("name")
@click.option("--rank", type=int, default=None, help="Higher is better (required for a new tier).")
@click.option("--min-records", type=int, default=None, help="Business records needed in the window.")
@click.option("--min-amount", default=None, help="Total quoted rate needed in the window, in yuan.")
@click.option("--min-parcels", type=int, default=None, help="Parcels (as sender or receiver) needed.")
@click.option("--window-days", type=int, default=None, help="The window, in days back from today.")
@db_option
def tier_set(name, rank, min_records, min_amount, min_parcels, window_days, db):
    from hub.business.accounts import parse_amount
    from hub.crm.tiers import set_tier
    open_store(db)
    cents = None if min_amount is None else parse_amount(min_amount, allow_zero=True)
    set_tier(name, rank=rank, min_records=min_records, min_amount_cents=cents, min_parcels=min_parcels,
             window_days=window_days)
    click.echo(f"tier {name} set")


@tier.command("remove", help="Remove a tier no customer is in.")
@click.argument("name")
@db_option
def tier_remove(name, db):
    from hub.crm.tiers import remove_tier
    open_store(db)
    remove_tier(name)
    click.echo(f"removed tier {name}")


@tier.command("assign", help=_help("Give every customer the tier its business earns now (each change is in "
                                   "its history).", "scanhub crm tier assign --json"))
@db_option
@by_option
@format_option
def tier_assign(db, actor, fmt):
    from hub.crm.tiers import assign
    open_store(db)
    emit(assign(actor=_actor(actor)), fmt, "Tier changes")


# ---------------------------------------------------------------- lookup

@crm.command(help=_help(
    "The caller lookup: a number (any written form) -> its customer(s), their parcels as sender or receiver, "
    "calls, SMS, quotes, open tasks and work orders. A number several customers share shows all of them. "
    "Exit status 1 for text that is no phone number.",
    "scanhub crm lookup 13800000000", "scanhub crm lookup '+86 571 8888 1234' --json"))
@click.argument("phone")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Rows of each kind.")
@db_option
@json_option
def lookup(phone, limit, db, fmt):
    from hub.business.localtime import format_ms
    from hub.crm.lookup import lookup as do_lookup
    open_store(db)
    r = do_lookup(phone, limit=limit)
    if fmt == "json":
        echo_json(r)
        return
    click.echo(f"{r['national']} ({r['phone']}, {r['kind']})")
    if not r["customers"]:
        click.echo("  no customer has this number")
    elif r["shared"]:
        click.echo(f"  shared by {len(r['customers'])} customers:")
    for c in r["customers"]:
        click.echo(f"  customer {c['id']} {c['name']} [{c['category']}, {c['tier']}] owner {c['owner'] or '-'}")
    for title, rows, fmt_row in (
            ("parcels", r["parcels"], lambda p: f"{p['waybill'] or p['order_no']} {p['role'] or '-'} {p['status']}"
                                                f"{' at ' + p['site'] if p.get('site') else ''} ({p['source']})"),
            ("calls", r["calls"], lambda c: f"{format_ms(c['start_ms'])} {c['direction']} {c['disposition']} "
                                            f"{c['duration_s']}s"),
            ("sms", r["sms"], lambda m: f"{format_ms(m['created_ms'])} {m['state']} {m['body'][:40]}"),
            ("quotes", r["quotes"], lambda q: f"{q['origin']} -> {q['dest']} {q['container']} rate "
                                              f"{_yuan(q['rate_cents'])} {q['carrier']}"),
            ("tasks", r["tasks"], lambda t: f"{t['due']} {t['kind']} {t['note']}"),
            ("work orders", r["work_orders"], lambda w: " ".join(str(v) for v in w.values()))):
        if rows:
            click.echo(f"{title}:")
            for x in rows:
                click.echo(f"  {fmt_row(x)}")


# ---------------------------------------------------------------- import / export, duplicates

@crm.command("import", help=_help(
    "Import customers from CSV (the export's columns; custom fields as custom.NAME). A row whose id is a "
    "customer changes it, others are added. If any row is bad nothing is imported and every bad row is listed.",
    "scanhub crm import customers.csv", "scanhub crm import - < customers.csv"))
@click.argument("path", type=click.File("r", encoding="utf-8-sig"))
@click.option("--area-code", default="", help="Area code for fixed numbers written without one.")
@db_option
@by_option
@json_option
def import_(path, area_code, db, actor, fmt):
    from hub.crm.transfer import ImportFailed, import_csv
    open_store(db)
    try:
        counts = import_csv(path.read(), actor=_actor(actor), area_code=area_code)
    except ImportFailed as e:
        if fmt == "json":
            echo_json({"imported": False, "errors": e.errors})
        else:
            for err in e.errors:
                click.echo(f"row {err['row']}: {err['error']}", err=True)
        raise
    if fmt == "json":
        echo_json({"imported": True, **counts})
    else:
        click.echo(f"added {counts['added']}, changed {counts['changed']}, unchanged {counts['unchanged']}")


@crm.command("export", help=_help("Export customers as CSV (to stdout, or --out FILE).",
                                  "scanhub crm export --out customers.csv", "scanhub crm export --category shop"))
@click.option("--out", type=click.File("w", encoding="utf-8"), default="-", help="File to write (default stdout).")
@click.option("--category", default=None, help="Only this category.")
@db_option
def export(out, category, db):
    from hub.crm.transfer import export_csv
    open_store(db)
    n = export_csv(out, category=category)
    if out is not sys.stdout and getattr(out, "name", "-") != "<stdout>":
        click.echo(f"exported {n} customer(s) to {out.name}", err=True)


@crm.command(help=_help("Customers that look like one: a shared phone number, the same tax id, or the same or "
                        "a nearly the same name.", "scanhub crm duplicates", "scanhub crm duplicates --json"))
@db_option
@format_option
def duplicates(db, fmt):
    from hub.crm.transfer import duplicates as find
    open_store(db)
    groups = find()
    if fmt == "json":
        echo_json(groups)
        return
    rows = [{"reason": g["reason"], "value": g["value"],
             "customers": ", ".join(f"{c['id']} {c['name']}" for c in g["customers"])} for g in groups]
    emit(rows, fmt, "Possible duplicates")


@crm.command(help=_help("Merge customer OTHER into KEEP: phones, business records and tasks move, KEEP's empty "
                        "fields are filled from OTHER; both histories record it.", "scanhub crm merge 12 57"))
@click.argument("keep")
@click.argument("other")
@db_option
@by_option
@json_option
def merge(keep, other, db, actor, fmt):
    from hub.crm.transfer import merge as do_merge
    open_store(db)
    r = do_merge(keep, other, actor=_actor(actor))
    if fmt == "json":
        echo_json(r)
    else:
        click.echo(f"merged customer {r['merged']} into {r['kept']} ({r['records_moved']} record(s), "
                   f"{r['tasks_moved']} task(s) moved)")


# ---------------------------------------------------------------- business records and rates

@crm.group(help=_help("Business records: quotes and bookings (ports, container, base price, rate, carrier, "
                      "voyage, schedule, closed).",
                      "scanhub crm records add 12 --origin Ningbo --dest Rotterdam --container 40HQ "
                      "--base 1800 --rate 2100 --carrier COSCO", "scanhub crm records list --customer 12"))
def records():
    pass


def _record_options(f):
    for o in reversed([
            click.option("--origin", default=None, help="Origin port."),
            click.option("--dest", default=None, help="Destination port."),
            click.option("--container", default=None, help="Container type (20GP, 40GP, 40HQ …)."),
            click.option("--base", default=None, help="The upstream carrier's base price, in yuan."),
            click.option("--rate", default=None, help="The rate quoted to the customer, in yuan."),
            click.option("--carrier", default=None, help="The upstream carrier."),
            click.option("--quote", default=None, help="When it was quoted (YYYY-MM-DD[ HH:MM]; default now)."),
            click.option("--cargo", default=None, help="The cargo."),
            click.option("--voyage", default=None, help="Vessel and voyage."),
            click.option("--schedule", default=None, help="The sailing schedule (e.g. ETD 2024-07-01)."),
            click.option("--closed/--open", "closed", default=None, help="Closed (booked) or still open.")]):
        f = o(f)
    return f


def _record_rows(rows, fmt):
    return rows if fmt == "json" else human(rows)


@records.command("add", help=_help("Add a business record for a customer.",
                                   "scanhub crm records add 12 --origin Shanghai --dest 'Los Angeles' --rate 2500"))
@click.argument("customer_id")
@_record_options
@db_option
@json_option
def records_add(customer_id, db, fmt, **kw):
    from hub.crm.records import add
    open_store(db)
    r = add(customer_id, kw)
    echo_json(r) if fmt == "json" else click.echo(f"added record {r['id']} for customer {r['customer']}")


@records.command("set", help=_help("Change a business record.", "scanhub crm records set 7 --closed"))
@click.argument("record_id", type=int)
@_record_options
@db_option
def records_set(record_id, db, **kw):
    from hub.crm.records import change
    open_store(db)
    change(record_id, kw)
    click.echo(f"changed record {record_id}")


@records.command("remove", help="Remove a business record.")
@click.argument("record_id", type=int)
@db_option
def records_remove(record_id, db):
    from hub.crm.records import remove
    open_store(db)
    remove(record_id)
    click.echo(f"removed record {record_id}")


@records.command("list", help=_help("Business records, newest quote first.", "scanhub crm records list --customer 12",
                                    "scanhub crm records list --origin Ningbo --format csv"))
@click.option("--customer", default=None, help="Only this customer's.")
@click.option("--origin", default=None, help="Only from this port.")
@click.option("--dest", default=None, help="Only to this port.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many.")
@db_option
@format_option
def records_list(customer, origin, dest, limit, db, fmt):
    from hub.crm.records import records as find
    open_store(db)
    emit(_record_rows(find(customer, origin=origin, dest=dest, limit=limit), fmt), fmt, "Business records")


@crm.command(help=_help("Rate statistics from the business records: lane averages (base price, rate, margin), "
                        "the monthly trend, and the cheapest carrier per lane.",
                        "scanhub crm rates", "scanhub crm rates --origin Ningbo --view best",
                        "scanhub crm rates --view trend --since 2024-01-01 --json"))
@click.option("--origin", default=None, help="Only lanes from this port.")
@click.option("--dest", default=None, help="Only lanes to this port.")
@click.option("--since", default=None, help="Quotes from this time (YYYY-MM-DD).")
@click.option("--until", default=None, help="Quotes before this time.")
@click.option("--view", type=click.Choice(["lanes", "trend", "best"]), default="lanes", show_default=True,
              help="lanes (averages), trend (per month) or best (cheapest carrier per lane); json gives all three.")
@db_option
@format_option
def rates(origin, dest, since, until, view, db, fmt):
    from hub.crm.records import rates as stats
    open_store(db)
    r = stats(origin=origin, dest=dest, since_ms=parse_when(since), until_ms=parse_when(until))
    if fmt == "json":
        echo_json(r)
        return
    emit(human(r[view]), fmt, {"lanes": "Lane averages", "trend": "Rate trend", "best": "Best carrier per lane"}[view])


# ---------------------------------------------------------------- tasks

@crm.group(invoke_without_command=True, help=_help(
    "An agent's task list: care reminders (birthdays, contract ends, inactive customers) and follow-up plans. "
    "Without a subcommand, the open tasks.",
    "scanhub crm tasks --owner 1001", "scanhub crm tasks remind --days 7",
    "scanhub crm tasks plan 12 --days 1,7,30 --note 'new shop: check the first parcels'", "scanhub crm tasks done 5"))
@click.option("--owner", default=None, help="Only this staff member's tasks.")
@click.option("--due-by", default=None, help="Only tasks due by this day (YYYY-MM-DD).")
@click.option("--done", is_flag=True, help="Finished tasks instead of open ones.")
@db_option
@format_option
@click.pass_context
def tasks(ctx, owner, due_by, done, db, fmt):
    if ctx.invoked_subcommand is not None:
        return
    from hub.crm.tiers import tasks as find
    open_store(db)
    rows = find(owner=owner, due_by=due_by, done=done)
    emit(rows if fmt == "json" else human(rows), fmt, "Tasks")


@tasks.command("remind", help=_help("Put care reminders on the owners' lists: birthdays and contract ends in the "
                                    "next DAYS days, customers without business for INACTIVE days; each once.",
                                    "scanhub crm tasks remind --days 7 --inactive 90"))
@click.option("--days", type=click.IntRange(min=0), default=7, show_default=True, help="How far ahead.")
@click.option("--inactive", type=click.IntRange(min=1), default=90, show_default=True,
              help="Days without a business record after which a customer needs care.")
@db_option
def tasks_remind(days, inactive, db):
    from hub.crm.tiers import remind
    open_store(db)
    click.echo(f"{remind(days=days, inactive_days=inactive)} new reminder(s)")


@tasks.command("plan", help=_help("A follow-up plan for a customer: one task per offset in days, on its owner's list.",
                                  "scanhub crm tasks plan 12 --days 1,7,30 --note 'call about the contract'"))
@click.argument("customer_id")
@click.option("--days", required=True, help="Days from today, separated by commas (1,7,30).")
@click.option("--note", default="", help="What to do.")
@click.option("--owner", default=None, help="Whose list (default the customer's owner).")
@db_option
def tasks_plan(customer_id, days, note, owner, db):
    from hub.crm.tiers import plan
    open_store(db)
    try:
        offsets = [int(d) for d in days.split(",") if d.strip()]
    except ValueError:
        raise click.UsageError(f"--days takes whole numbers separated by commas, not {days!r}") from None
    plan(customer_id, offsets, note, owner=owner)
    click.echo(f"planned {len(set(offsets))} follow-up(s) for customer {customer_id}")


@tasks.command("done", help="Mark a task done.")
@click.argument("task_id", type=int)
@db_option
def tasks_done(task_id, db):
    from hub.crm.tiers import finish
    open_store(db)
    finish(task_id)
    click.echo(f"task {task_id} done")
