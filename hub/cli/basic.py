"""``scanhub site|staff|shift|rule list/show/add/set/remove/history``: basic data one record at a time.

Each group is built from a table of the record's fields (``FIELDS``); the work is done by
``hub.network.records`` with the network file's own checks.
"""
from __future__ import annotations

import click

from hub.cli.common import db_option, echo_json, emit, format_option, json_option, open_store, output_option

# kind -> [(field, option, help)]; the key fields are arguments, in this order
KEYS = {"site": ("code",), "staff": ("code",), "shift": ("code",), "rule": ("site", "dest")}
FIELDS = {
    "site": [("name", "--name", "The site's name."),
             ("kind", "--kind", "site or center (default site)."),
             ("center", "--center", "Code of its parent center (a site of kind center)."),
             ("province", "--province", "Province, for coverage and tariffs."),
             ("city", "--city", "City."),
             ("district", "--district", "District."),
             ("area_code", "--area-code", "Telephone area code, e.g. 0571 (the IVR finds the nearest site by it).")],
    "staff": [("name", "--name", "The person's name."),
              ("site", "--site", "Code of the site they work at."),
              ("role", "--role", "Role, e.g. courier or operator (default courier)."),
              ("phone", "--phone", "Phone number.")],
    "shift": [("from", "--from", "Code of the site it leaves."),
              ("to", "--to", "Code of the site it goes to."),
              ("depart", "--depart", "Departure time, HH:MM local."),
              ("transit_min", "--transit-min", "Minutes on the road (a positive whole number).")],
    "rule": [("next", "--next", "Code of the next stop for parcels at SITE bound for DEST.")],
}
REQUIRED = {"site": ("name",), "staff": ("name", "site"), "shift": ("from", "to", "depart", "transit_min"),
            "rule": ("next",)}
EXAMPLES = {
    "site": ("scanhub site add 300 --name 'Xihu Site' --center 900",
             "scanhub site set 300 --city Hangzhou", "scanhub site remove 300"),
    "staff": ("scanhub staff add 1009 --name 'Wang Fang' --site 100 --phone 13800000000",
              "scanhub staff set 1009 --site 200", "scanhub staff remove 1009"),
    "shift": ("scanhub shift add B2 --from 900 --to 901 --depart 20:30 --transit-min 300",
              "scanhub shift set B2 --depart 21:00", "scanhub shift remove B2"),
    "rule": ("scanhub rule add 100 200 --next 900", "scanhub rule set 100 200 --shift A1 --next 901",
             "scanhub rule remove 100 200 --shift A1"),
}
WHAT = {"site": "Sites and centers", "staff": "Staff (couriers, operators)", "shift": "Line-haul shifts",
        "rule": "Next-stop rules (where a parcel at SITE bound for DEST goes next)"}

FILTER_HELP = {"staff": "Only staff at this site.", "shift": "Only shifts leaving this site.",
               "rule": "Only rules for parcels at this site."}

by_option = click.option("--by", "actor", default=None, help="Who makes the change, for the log (default: your login).")
json_change = output_option(("text", "json"), "text",
                            help_text="text (for people) or json: the change as one object with kind, key, "
                                      "action, before, after, data_version (null when nothing changed).")


def _key(kind, args, shift=None):
    return tuple(args) + ((shift or "",) if kind == "rule" else ())


def _shift_option(kind, help_text):
    if kind != "rule":
        return lambda f: f
    return click.option("--shift", default="", help=help_text)


def _key_arguments(kind):
    def deco(f):
        for name in reversed(KEYS[kind]):
            f = click.argument(name.upper() if kind == "rule" else "code")(f)
        return f
    return deco


def _args(kind, kwargs):
    return [kwargs.pop(k if kind == "rule" else "code") for k in KEYS[kind]]


def _report(change, verb, as_json=False):
    if as_json:
        echo_json(change)
        return
    if change is None:
        return
    click.echo(f"{verb} {change['kind']} {change['key']} (data version {change['data_version']})")
    if change["action"] == "set":
        for f, v in change["after"].items():
            if change["before"].get(f) != v:
                old = change["before"].get(f)
                click.echo(f"  {f}: {'(none)' if old is None else old} -> {'(none)' if v is None else v}")


def _help(text: str, *examples: str) -> str:
    return text + "\n\n\b\nExample" + ("s" if len(examples) > 1 else "") + ":\n" + "\n".join(f"  {e}" for e in examples)


def make_group(kind: str) -> click.Group:
    shift_help = "The shift the rule is for; without it, the rule for any shift."
    example_text = "\n".join(f"  {e}" for e in EXAMPLES[kind])

    @click.group(name=kind, help=(
        f"{WHAT[kind]}, one record at a time.\n\n"
        "Every change is checked as `scanhub hub import` checks the network file, is written in "
        "one transaction with a new data version (a running hub sends stations their new "
        f"configuration), and is logged (`scanhub {kind} history`).\n\n"
        f"\b\nExamples:\n{example_text}"))
    def group():
        pass

    key_ex = {"site": "100", "staff": "1001", "shift": "HZ-SH-08", "rule": "100 200"}[kind]

    @group.command("list", help=_help("List the records, sorted by their key.", f"scanhub {kind} list",
                                      f"scanhub {kind} list --format csv > {kind}.csv"))
    @db_option
    @format_option
    @(click.option("--site", "site_filter", default=None, help=FILTER_HELP[kind]) if kind in FILTER_HELP
      else (lambda f: f))
    def list_(db, fmt, site_filter=None):
        from hub.network.records import list_records
        open_store(db)
        field = "from" if kind == "shift" else "site"
        rows = list_records(kind, **{field: site_filter}) if site_filter is not None else list_records(kind)
        emit(rows, fmt, WHAT[kind])

    @group.command(help=_help("Show one record; exit status 1 when there is none.", f"scanhub {kind} show {key_ex} --json"))
    @_key_arguments(kind)
    @_shift_option(kind, shift_help)
    @db_option
    @json_option
    def show(db, fmt, shift=None, **kwargs):
        from hub.network.records import KINDS, get_record
        open_store(db)
        key = _key(kind, _args(kind, kwargs), shift)
        record = get_record(kind, key)
        if record is None:
            raise click.ClickException(f"no {kind} {KINDS[kind].key_text(key)}")
        if fmt == "json":
            echo_json(record)
            return
        for f, v in record.items():
            click.echo(f"{f:12} {'' if v is None else v}")

    def field_options(f, required_note):
        for field, opt, text in reversed(FIELDS[kind]):
            note = " Required." if required_note and field in REQUIRED[kind] else ""
            f = click.option(opt, field, default=None, help=text + note)(f)
        return f

    @group.command(help=_help("Add a record; refused if it exists or would break the network's checks.",
                              EXAMPLES[kind][0]))
    @_key_arguments(kind)
    @_shift_option(kind, shift_help)
    @lambda f: field_options(f, True)
    @db_option
    @by_option
    @json_change
    def add(db, actor, fmt, shift=None, **kwargs):
        from hub.network.records import add as do_add
        open_store(db)
        key = _key(kind, _args(kind, kwargs), shift)
        record = dict(zip(KEYS[kind] + (("shift",) if kind == "rule" else ()), key))
        record.update({k: v for k, v in kwargs.items() if v is not None})
        _report(do_add(kind, record, actor), "added", fmt == "json")

    @group.command("set", help=_help("Change the given fields of a record (an empty value clears an optional "
                                     "field); refused if the change would break the network's checks.",
                                     EXAMPLES[kind][1]))
    @_key_arguments(kind)
    @_shift_option(kind, shift_help)
    @lambda f: field_options(f, False)
    @db_option
    @by_option
    @json_change
    def set_(db, actor, fmt, shift=None, **kwargs):
        from hub.network.records import KINDS, change
        open_store(db)
        key = _key(kind, _args(kind, kwargs), shift)
        fields = {k: v for k, v in kwargs.items() if v is not None}
        if not fields:
            raise click.UsageError("nothing to change: give at least one of "
                                   + ", ".join(opt for _, opt, _ in FIELDS[kind]))
        result = change(kind, key, fields, actor)
        if result is None and fmt != "json":
            click.echo(f"{kind} {KINDS[kind].key_text(key)} unchanged")
        _report(result, "changed", fmt == "json")

    @group.command(help=_help("Remove a record; refused while other basic data still names it.", EXAMPLES[kind][2]))
    @_key_arguments(kind)
    @_shift_option(kind, shift_help)
    @db_option
    @by_option
    @json_change
    def remove(db, actor, fmt, shift=None, **kwargs):
        from hub.network.records import remove as do_remove
        open_store(db)
        _report(do_remove(kind, _key(kind, _args(kind, kwargs), shift), actor), "removed", fmt == "json")

    @group.command(help=_help(
        "Changes made one record at a time, newest first: when, by whom, before and after. With a "
        "record's key (a code, or SITE DEST for a rule), only that record's changes.",
        f"scanhub {kind} history", f"scanhub {kind} history {key_ex} --json"))
    @click.argument("key", nargs=-1)
    @_shift_option(kind, "With SITE DEST: only the rule for this shift.")
    @db_option
    @format_option
    @click.option("--limit", type=click.IntRange(1, 100000), default=100, show_default=True,
                  help="At most this many changes.")
    def history(key, db, fmt, limit, shift=None):
        import json
        from hub.network.records import history as changes
        open_store(db)
        if key and len(key) != len(KEYS[kind]):
            raise click.UsageError(f"give the {kind}'s " + " and ".join(k.upper() for k in KEYS[kind]))
        rows = changes(kind, _key(kind, key, shift) if key else None, limit)
        if fmt != "json":
            rows = [dict(r, before=json.dumps(r["before"], ensure_ascii=False) if r["before"] else "",
                         after=json.dumps(r["after"], ensure_ascii=False) if r["after"] else "") for r in rows]
        emit(rows, fmt, f"{kind} changes")

    return group


site = make_group("site")
staff = make_group("staff")
shift = make_group("shift")
rule = make_group("rule")
