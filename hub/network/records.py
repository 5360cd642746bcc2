"""Basic data one record at a time: add, change or remove one site, staff member, shift or
next-stop rule without re-importing the network file.

Every change is checked exactly as an import is: the store's basic data is read back in the
network file's form (``export_network``), the change is applied to it, and the whole of it goes
through ``hub.network.file.check_network``; a change that would make the network invalid (a
staff member at an unknown site, a site removed while stations, staff, shifts or rules still
name it) is refused with the import's own messages and nothing is written.  A change that is
made writes the one record, recomputes the data version once (stations get the new
configuration from a running hub), and logs who changed what (``BasicDataChange``), all in one
transaction.
"""
from __future__ import annotations

import getpass
import json
from dataclasses import dataclass

import peewee

from contract.clock import now_ms
from hub.errors import HubError
from hub.network import tables as m
from hub.network.basic_data import bump_data_version, shifts, sites, waybill_rules
from hub.network.file import check_network
from hub.store.db import database, write_transaction
from hub.store.meta import get_meta

# Gun users are checked as part of the whole network (their staff must exist), but their PINs are
# kept only as hashes: a valid stand-in lets the check run; gun users are never written from it.
_PIN_STAND_IN = "0000"


class RecordError(HubError):
    """A one-record change cannot be made (no such record, already there, a key changed)."""


@dataclass(frozen=True)
class Kind:
    """One kind of record: its section in the network file, its key fields, its table and how
    the file's field names map to the table's columns."""
    name: str
    section: str
    key: tuple[str, ...]
    model: type
    columns: dict[str, str]      # file field -> column

    def key_of(self, record: dict) -> tuple:
        return tuple(record[k] for k in self.key)

    def key_text(self, key: tuple) -> str:
        return " ".join(f"{k}={v}" if v != "" else f"{k}=(any)" for k, v in zip(self.key, key)) \
            if len(self.key) > 1 else str(key[0])

    def row(self, record: dict) -> dict:
        return {self.columns.get(k, k): v for k, v in record.items()}


KINDS = {
    "site": Kind("site", "sites", ("code",), m.Site, {}),
    "staff": Kind("staff", "staff", ("code",), m.Staff, {}),
    "shift": Kind("shift", "shifts", ("code",), m.Shift, {"from": "from_site", "to": "to_site"}),
    "rule": Kind("rule", "next_stop", ("site", "dest", "shift"), m.NextStopRule, {"next": "next_site"}),
}


def export_network() -> dict:
    """The store's basic data in the network file's form (``check_network`` input)."""
    site_rows = [{k: v for k, v in s.items() if k != "blocked"} for s in sites()]
    known = {s["code"] for s in site_rows}
    return {
        "network": get_meta("network", "network"),
        "waybill_rules": waybill_rules(),
        "sites": site_rows,
        # stations that announced themselves without being in the file keep their rows; they
        # are not basic data to check
        "stations": [{"id": s.id, "site": s.site, "name": s.name}
                     for s in m.Station.select().order_by(m.Station.id) if s.site in known],
        "staff": [{"code": s.code, "name": s.name, "site": s.site, "role": s.role, "phone": s.phone}
                  for s in m.Staff.select().order_by(m.Staff.code)],
        "gun_users": [{"login": u.login, "staff": u.staff, "pin": _PIN_STAND_IN, "pin_salt": u.pin_salt,
                       "kinds": u.kinds.split(",") if u.kinds else []}
                      for u in m.GunUser.select().order_by(m.GunUser.login)],
        "shifts": shifts(),
        "next_stop": [{"site": r.site, "dest": r.dest, "shift": r.shift, "next": r.next_site}
                      for r in m.NextStopRule.select().order_by(m.NextStopRule.site, m.NextStopRule.dest,
                                                                m.NextStopRule.shift)],
        "issuance": [{"site": i.site, "first": i.first, "last": i.last}
                     for i in m.Issuance.select().order_by(m.Issuance.first)],
    }


def _kind(name: str) -> Kind:
    if name not in KINDS:
        raise RecordError(f"unknown kind of record {name!r} (known: {', '.join(KINDS)})")
    return KINDS[name]


def _norm_key(kind: Kind, key) -> tuple:
    key = tuple("" if v is None else str(v).strip() for v in (key if isinstance(key, (tuple, list)) else (key,)))
    if len(key) != len(kind.key):
        raise RecordError(f"a {kind.name} is named by {', '.join(kind.key)}")
    return key


def list_records(kind: str, **where) -> list[dict]:
    """Every record of ``kind`` in the network file's form; ``where`` filters on fields."""
    k = _kind(kind)
    rows = export_network()[k.section]
    return [r for r in rows if all(v is None or str(r.get(f)) == str(v) for f, v in where.items())]


def get_record(kind: str, key) -> dict | None:
    k = _kind(kind)
    key = _norm_key(k, key)
    return next((r for r in export_network()[k.section] if k.key_of(r) == key), None)


def add(kind: str, record: dict, actor: str | None = None) -> dict:
    """Add one record (the network file's fields).  Returns the change logged."""
    k = _kind(kind)
    key = _norm_key(k, tuple(record.get(f) for f in k.key))
    return _apply(k, "add", key, record, actor)


def change(kind: str, key, fields: dict, actor: str | None = None) -> dict | None:
    """Change the given fields of one record; None when they already had those values."""
    k = _kind(kind)
    key = _norm_key(k, key)
    for f in k.key:
        if f in fields and str(fields[f]).strip() != key[k.key.index(f)]:
            raise RecordError(f"{kind} {k.key_text(key)}: {f} names the record and cannot be changed; "
                              f"add the new one and remove the old one")
    return _apply(k, "set", key, fields, actor)


def remove(kind: str, key, actor: str | None = None) -> dict:
    """Remove one record; refused while other basic data still names it."""
    k = _kind(kind)
    return _apply(k, "remove", _norm_key(k, key), None, actor)


def history(kind: str | None = None, key=None, limit: int = 100) -> list[dict]:
    """Logged changes, newest first, optionally of one kind or one record."""
    q = m.BasicDataChange.select().order_by(m.BasicDataChange.id.desc()).limit(limit)
    if kind is not None:
        k = _kind(kind)
        q = q.where(m.BasicDataChange.kind == kind)
        if key is not None:
            q = q.where(m.BasicDataChange.key == k.key_text(_norm_key(k, key)))
    return [{"id": c.id, "at_ms": c.at_ms, "actor": c.actor, "kind": c.kind, "key": c.key, "action": c.action,
             "before": json.loads(c.before_json) if c.before_json else None,
             "after": json.loads(c.after_json) if c.after_json else None,
             "data_version": c.data_version} for c in q]


def _apply(k: Kind, action: str, key: tuple, fields: dict | None, actor: str | None) -> dict | None:
    where = f"{action} {k.name} {k.key_text(key)}"
    with write_transaction():
        _serialise()
        raw = export_network()
        items = raw[k.section]
        at = next((i for i, r in enumerate(items) if k.key_of(r) == key), None)
        before = items[at] if at is not None else None
        if action == "add":
            if before is not None:
                raise RecordError(f"{where}: it exists already (change it with `scanhub {k.name} set`)")
            items.append(dict(fields))
        elif before is None:
            raise RecordError(f"{where}: no such {k.name}")
        elif action == "set":
            items[at] = {**before, **fields}
        else:
            del items[at]
        net = check_network(raw, source=where)
        after = next((r for r in net[k.section] if k.key_of(r) == key), None)
        if action == "set" and after == before:
            return None
        _write(k, key, after, net)
        version = bump_data_version()
        entry = {"at_ms": now_ms(), "actor": (actor or _who())[:64], "kind": k.name, "key": k.key_text(key),
                 "action": action, "before_json": json.dumps(before, ensure_ascii=False) if before else None,
                 "after_json": json.dumps(after, ensure_ascii=False) if after else None, "data_version": version}
        m.BasicDataChange.insert(**entry).execute()
    return {"kind": k.name, "key": k.key_text(key), "action": action, "before": before, "after": after,
            "data_version": version}


def _serialise() -> None:
    """One basic-data change at a time: the check reads all basic data, so two changes checked
    side by side could each pass and together break the network.  SQLite's write transaction
    already takes the lock; on PostgreSQL a lock on ``meta`` (which every change and import
    writes) waits for the other writer and lets plain reads through."""
    db = database.obj
    if isinstance(db, peewee.PostgresqlDatabase):
        db.execute_sql('LOCK TABLE "meta" IN SHARE ROW EXCLUSIVE MODE')


def _write(k: Kind, key: tuple, after: dict | None, net: dict) -> None:
    cond = [getattr(k.model, k.columns.get(f, f)) == v for f, v in zip(k.key, key)]
    match = cond[0]
    for c in cond[1:]:
        match &= c
    old = k.model.get_or_none(match)
    k.model.delete().where(match).execute()
    if after is None:
        return
    row = k.row(after)
    if k.model is m.Site:
        row["blocked"] = bool(old.blocked) if old is not None else False
    k.model.insert(**row).execute()
    if k.model is m.Staff:
        # a gun user works at its staff member's site, as an import derives it
        m.GunUser.update(site=after["site"]).where(m.GunUser.staff == after["code"]).execute()


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
