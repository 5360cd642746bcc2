"""Committing waybill records and reading entered waybills (docs/hub-business.md, "Waybill entry").

A record is refused, with its reason, when it breaks the schema (``contract.waybill_record``),
when its number breaks the network's waybill rules, when the number was issued to another site
than the entering one ("issued to site 200"), or when it names a destination site the network
does not have.  Like scans: idempotent by id (a redelivered record changes nothing), a record
whose id is stored with other content is a conflict, and every refusal is dead-lettered.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable

from contract.clock import now_ms
from contract.errors import PayloadError
from contract.phone import numbers_in
from contract.issuance import IssuanceIndex
from contract.waybill import WaybillRules
from contract.waybill_record import CONTENT, fold, validate_record
from hub.errors import HubError
from hub.network import basic_data
from hub.network import tables as net
from hub.scans.commit import DIRTY_UPSERT, dead_letter_item
from hub.store.db import bulk_insert, bulk_insert_all, database, delete_where_in, executemany, rows_where_in
from hub.store.meta import get_meta
from hub.waybills import tables as wt


class WaybillError(HubError):
    """A waybill that is not there, or a record the hub refuses."""


class Checks:
    """The network's waybill rules, issuance and sites, read once per data version."""
    _cache: dict = {}

    def __init__(self):
        self.rules = WaybillRules(basic_data.waybill_rules())
        self.issuance = IssuanceIndex([{"site": r.site, "first": r.first, "last": r.last}
                                       for r in net.Issuance.select()])
        self.sites = {s.code for s in net.Site.select(net.Site.code)}

    @classmethod
    def load(cls) -> "Checks":
        key = (id(database.obj), get_meta("data_version", "0"))
        got = cls._cache.get(key)
        if got is None:
            cls._cache.clear()
            got = cls._cache[key] = cls()
        return got

    def refusal(self, row: dict) -> str | None:
        """Why the network refuses this record (a row of ``validate_record``), or None."""
        wb, site = row["waybill"], row["site"]
        why = self.rules.refusal(wb)
        if why:
            return why
        if site not in self.sites:
            return f"unknown site {site}"
        owner = self.issuance.site_of(wb)
        if owner is not None and owner != site:
            return f"waybill {wb} was issued to site {owner}, not to {site}"
        dest = json.loads(row["fields_json"]).get("dest_site")
        if dest and dest not in self.sites:
            return f"unknown destination site {dest}"
        return None


def check_records(records: list) -> list:
    """Each record as its row or the ``PayloadError`` refusing it (schema and network rules)."""
    checks = Checks.load()
    out = []
    for rec in records:
        try:
            row = validate_record(rec)
            why = checks.refusal(row)
            out.append(PayloadError(why) if why else row)
        except PayloadError as e:
            out.append(e)
    return out


def commit_records(records: list[dict], received_ms: int | None = None,
                   derive: Callable[[set[str]], None] | None = None,
                   topic: str = "waybill", dead_letters: bool = True) -> tuple[list[dict], list[tuple[dict, str]]]:
    """Commit waybill records in one transaction (the caller's, when it has one open); returns
    ``(committed, rejected)`` as ``hub.scans.commit.commit_scans`` does.  The entered state of
    their waybills is refolded, then ``derive`` (the derivation pipeline) runs for them, or they
    are marked dirty for the background derivation.  ``dead_letters=False``: refusals are only
    returned (a file import reports them to its user line by line)."""
    received_ms = received_ms or now_ms()
    committed, rows, rejected = [], [], []
    for rec, row in zip(records, check_records(records), strict=True):
        if isinstance(row, PayloadError):
            rejected.append((rec, str(row)))
        else:
            row["received_ms"] = received_ms
            rows.append(row)
            committed.append(rec)
    with database.atomic():
        inserted = bulk_insert(wt.WaybillRecord, rows, ignore_conflicts=True)
        if inserted != len(rows):
            stored = {r.id: r for r in wt.WaybillRecord.select().where(
                wt.WaybillRecord.id.in_([r["id"] for r in rows]))}
            for i in reversed(range(len(rows))):
                have = stored.get(rows[i]["id"])
                if have is not None and tuple(getattr(have, c) for c in CONTENT) != tuple(rows[i][c] for c in CONTENT):
                    rejected.append((committed.pop(i), f"conflict: waybill record {rows.pop(i)['id']} "
                                                       "was committed with other content"))
        for item, reason in rejected if dead_letters else ():
            dead_letter_item(topic, reason, item, received_ms=received_ms)
        waybills = {r["waybill"] for r in rows}
        refold(waybills)
        if derive is None:
            executemany(DIRTY_UPSERT, [(wb, received_ms) for wb in sorted(waybills)])
        else:
            derive(waybills)
    return committed, rejected


def _records_of(waybills: list[str]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    R = wt.WaybillRecord
    for i in range(0, len(waybills), 300):
        for r in R.select().where(R.waybill.in_(waybills[i:i + 300])).dicts():
            out.setdefault(r["waybill"], []).append(r)
    return out


def refold(waybills: Iterable[str]) -> None:
    """Rewrite the ``WaybillEntry`` rows of ``waybills`` from all their records."""
    wbs = sorted(set(waybills))
    if not wbs:
        return
    rows, phones = [], []
    for wb, recs in _records_of(wbs).items():
        st = fold(recs)
        f = st["fields"]
        phones.extend(phone_rows(wb, f))
        rows.append({"waybill": wb, "origin_site": st["origin_site"], "dest_site": f.get("dest_site"),
                     "weight_g": f.get("weight_g"), "cod_cents": f.get("cod_cents"),
                     "freight_collect_cents": f.get("freight_collect_cents"), "entered_ms": st["entered_ms"],
                     "updated_ms": st["updated_ms"], "records": st["records"],
                     "fields_json": json.dumps(f, sort_keys=True, ensure_ascii=False)})
    with database.atomic():
        delete_where_in(wt.WaybillEntry, "waybill", wbs)
        bulk_insert(wt.WaybillEntry, rows)
        delete_where_in(wt.WaybillPhone, "waybill", wbs)
        bulk_insert(wt.WaybillPhone, phones, ignore_conflicts=True)


@functools.lru_cache(maxsize=65536)
def _numbers(text: str) -> tuple[str, ...]:
    return tuple(numbers_in(text))          # a shop's number repeats on each of its waybills


def phone_rows(waybill: str, fields: dict) -> list[dict]:
    """The ``WaybillPhone`` rows of an entered waybill's fields: each number its sender's and its
    receiver's phone hold, in E.164."""
    return [{"phone": n, "waybill": waybill, "role": role}
            for role in ("sender", "receiver") for n in _numbers(str(fields.get(f"{role}_phone") or ""))]


def index_phones() -> int:
    """Rewrite every entered waybill's ``WaybillPhone`` rows (the migration to the indexed caller
    lookup); returns the rows written."""
    E = wt.WaybillEntry
    wt.WaybillPhone.delete().execute()
    entries = E.select(E.waybill, E.fields_json).tuples().iterator()
    return bulk_insert_all(wt.WaybillPhone, (p for wb, fields in entries for p in phone_rows(wb, json.loads(fields))),
                           ignore_conflicts=True)


def entry_dict(row) -> dict:
    """A ``WaybillEntry`` row as plain data: ``{"waybill", "origin_site", "entered_ms",
    "updated_ms", "records", "fields"}``."""
    return {"waybill": row.waybill, "origin_site": row.origin_site, "entered_ms": row.entered_ms,
            "updated_ms": row.updated_ms, "records": row.records, "fields": json.loads(row.fields_json)}


def load_entries(waybills: Iterable[str]) -> dict[str, dict]:
    """The entered state of those of ``waybills`` that were entered (for the derivation)."""
    out = {}
    sql = ('SELECT "waybill", "origin_site", "entered_ms", "updated_ms", "records", "fields_json" '
           f'FROM "{wt.WaybillEntry._meta.table_name}" WHERE "waybill" IN ({{in}})')
    for wb, origin, entered, updated, records, fields in rows_where_in(sql, sorted(set(waybills))):
        out[wb] = {"waybill": wb, "origin_site": origin, "entered_ms": entered, "updated_ms": updated,
                   "records": records, "fields": json.loads(fields)}
    return out


def entry(waybill: str) -> dict | None:
    """One waybill's entered state, or None when it was never entered."""
    row = wt.WaybillEntry.get_or_none(wt.WaybillEntry.waybill == waybill)
    return None if row is None else entry_dict(row)


def history(waybill: str) -> list[dict]:
    """Every record of ``waybill`` in the order they apply: ``{"id", "site", "station",
    "operator", "event_ms", "received_ms", "fields"}``."""
    recs = _records_of([waybill]).get(waybill, [])
    recs.sort(key=lambda r: (r["event_ms"], r["id"]))
    return [{"id": r["id"], "site": r["site"], "station": r["station"], "operator": r["operator"],
             "event_ms": r["event_ms"], "received_ms": r["received_ms"], "fields": json.loads(r["fields_json"])}
            for r in recs]


def entries(site: str | None = None, since_ms: int | None = None, until_ms: int | None = None,
            limit: int | None = None) -> list[dict]:
    """Entered waybills, newest entry first, optionally of one origin site and period."""
    E = wt.WaybillEntry
    q = E.select().order_by(E.entered_ms.desc(), E.waybill)
    if site:
        q = q.where(E.origin_site == site)
    if since_ms is not None:
        q = q.where(E.entered_ms >= since_ms)
    if until_ms is not None:
        q = q.where(E.entered_ms < until_ms)
    if limit:
        q = q.limit(limit)
    return [entry_dict(r) for r in q]
