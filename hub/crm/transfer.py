"""CSV import and export of customers, duplicate detection and merge.

Export writes one row per customer: the generic fields, ``phones`` (E.164, ``/`` between
numbers, `` ext N`` for an extension) and each custom field as a ``custom.NAME`` column.  Import
reads the same shape (any subset of columns; ``name`` is required): a row whose ``id`` is an
existing customer changes it, any other row adds one.  Every row is checked as a command would
check it; if any row fails, nothing is imported and the report names each failing row.

Duplicates are customers sharing a normalised phone number, a tax id, or a name that is the same
or nearly the same once legal-form words, spaces and punctuation are dropped (rapidfuzz).
``merge`` folds one customer into another: phones, business records and tasks move, empty fields
are filled, and both customers' histories record it.
"""
from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections import defaultdict

from peewee import fn
from rapidfuzz import fuzz, process

from hub.crm import customers as cu
from hub.crm.tables import CrmChange, CrmCustomer, CrmPhone, CrmRecord, CrmTask
from hub.store.db import database

COLUMNS = ("id", "name", "category", "contact", "phones", "address", "tax_id", "email", "notes", "birthday",
           "contract_end", "owner", "tier")
CUSTOM = "custom."
MAX_ROWS = 1_000_000
NAME_SIMILARITY = 90          # rapidfuzz ratio (0-100) at which two names count as the same


class ImportFailed(cu.CrmError):
    """Some rows of an import are bad; nothing was imported.  ``errors``: [{"row", "error"}]."""

    def __init__(self, errors: list[dict]):
        self.errors = errors
        first = errors[0]
        super().__init__(f"nothing imported: {len(errors)} bad row(s); first, row {first['row']}: {first['error']}")


def export_csv(out, *, category: str | None = None) -> int:
    """Write the customers (of ``category``) as CSV to the text stream ``out``; returns the rows."""
    rows = cu.customers(category=category)
    custom = sorted({k for r in rows for k in r["custom"]})
    w = csv.writer(out)                 # \r\n rows: a cell with \r or \n in it is quoted
    w.writerow([*COLUMNS, *(CUSTOM + k for k in custom)])
    for r in rows:
        w.writerow([*("/".join(r["phones"]) if c == "phones" else r[c] for c in COLUMNS),
                    *(_cell(r["custom"].get(k)) for k in custom)])
    return len(rows)


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)


def import_csv(text: str, *, actor: str, area_code: str = "") -> dict:
    """Import customers from CSV ``text``; ``{"added", "changed", "unchanged"}``, or
    ``ImportFailed`` with every bad row (and nothing written)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        head = reader.fieldnames or []
    except csv.Error as e:
        raise cu.CrmError(f"not a CSV file: {e}") from None
    if "name" not in head:
        raise cu.CrmError("the CSV needs a header row with at least a name column "
                          f"(columns: {', '.join(COLUMNS)}, custom.FIELD …)")
    unknown = [h for h in head if h not in COLUMNS and not h.startswith(CUSTOM)]
    if unknown:
        raise cu.CrmError(f"unknown column {unknown[0]!r} (columns: {', '.join(COLUMNS)}, custom.FIELD …)")
    errors, counts = [], {"added": 0, "changed": 0, "unchanged": 0}
    cu.ensure_defaults()
    try:
        rows = list(reader)
    except csv.Error as e:
        raise cu.CrmError(f"not a CSV file, at line {reader.line_num}: {e}") from None
    with database.atomic() as txn:
        for n, r in enumerate(rows, start=2):          # row 1 is the header
            if n > MAX_ROWS + 1:
                errors.append({"row": n, "error": f"more than {MAX_ROWS} rows"})
                break
            if None in r:
                errors.append({"row": n, "error": "more cells than the header has columns"})
                continue
            try:
                with database.atomic():
                    counts[_import_row(r, actor, area_code)] += 1
            except cu.CrmError as e:
                errors.append({"row": n, "error": str(e)})
        if errors:
            txn.rollback()
    if errors:
        raise ImportFailed(errors)
    return counts


def _import_row(r: dict, actor: str, area_code: str) -> str:
    r = {k: (v or "").strip() for k, v in r.items()}
    custom = {k[len(CUSTOM):]: v for k, v in r.items() if k.startswith(CUSTOM) and v != ""}
    values = {k: r[k] for k in cu.GENERIC if k in r}
    phones = r.get("phones")
    cid = r.get("id", "")
    if cid and cid.isdigit() and CrmCustomer.get_or_none(CrmCustomer.id == int(cid), ~CrmCustomer.removed):
        res = cu.change(int(cid), values, actor=actor, custom=custom, phones=phones, area_code=area_code,
                        action="import")
        return "changed" if res["changes"] else "unchanged"
    if not values.get("name"):
        raise cu.CrmError("a customer needs a name")
    cu.add({k: v for k, v in values.items() if v != "" or k == "name"}, actor=actor, phones=phones or (),
           custom=custom, area_code=area_code)
    return "added"


# ---------------------------------------------------------------- duplicates and merge

_LEGAL = re.compile(r"(有限责任公司|股份有限公司|有限公司|集团|公司|co\.?|ltd\.?|limited|inc\.?|corp\.?|llc|gmbh)", re.I)


def name_key(name: str) -> str:
    """A name without legal-form words, spaces and punctuation, case-folded (NFKC)."""
    t = unicodedata.normalize("NFKC", name or "").casefold()
    t = _LEGAL.sub("", t)
    return "".join(ch for ch in t if ch.isalnum())


def duplicates() -> list[dict]:
    """Groups of customers that look like one: ``{"reason", "value", "customers": [{"id", "name"}]}``."""
    live = CrmCustomer.select(CrmCustomer.id, CrmCustomer.name, CrmCustomer.tax_id).where(
        ~CrmCustomer.removed, CrmCustomer.merged_into.is_null())
    names = {c.id: c.name for c in live}
    groups, seen = [], set()

    def add(reason, value, ids):
        ids = sorted(set(ids) & set(names))
        if len(ids) > 1 and (reason, tuple(ids)) not in seen:
            seen.add((reason, tuple(ids)))
            groups.append({"reason": reason, "value": value, "customers": [{"id": i, "name": names[i]} for i in ids]})

    shared = (CrmPhone.select(CrmPhone.phone).group_by(CrmPhone.phone)
              .having(fn.COUNT(CrmPhone.customer.distinct()) > 1))
    by_phone = defaultdict(list)
    for p in CrmPhone.select(CrmPhone.phone, CrmPhone.customer).where(CrmPhone.phone.in_(shared)):
        by_phone[p.phone].append(p.customer)
    for phone, ids in sorted(by_phone.items()):
        add("phone", phone, ids)
    by_tax = defaultdict(list)
    for c in live:
        if c.tax_id:
            by_tax[c.tax_id.upper()].append(c.id)
    for tax, ids in sorted(by_tax.items()):
        add("tax_id", tax, ids)
    # similar names: exact keys, then rapidfuzz within blocks of the same first character
    keys = defaultdict(list)
    for i, name in names.items():
        k = name_key(name)
        if k:
            keys[k].append(i)
    blocks = defaultdict(list)
    for k in keys:
        blocks[k[0]].append(k)
    done = set()
    for block in blocks.values():
        for k in sorted(block):
            if k in done:
                continue
            near = [m for m, score, _ in process.extract(k, block, scorer=fuzz.ratio, score_cutoff=NAME_SIMILARITY,
                                                         limit=None)]
            ids = [i for m in near for i in keys[m]]
            done.update(near)
            add("name", names[min(ids)], ids)
    return groups


def merge(keep, other, *, actor: str) -> dict:
    """Fold customer ``other`` into ``keep`` (see the module's docstring)."""
    with database.atomic():
        a, b = cu._get(keep), cu._get(other)
        if a.id == b.id:
            raise cu.CrmError("a customer cannot be merged into itself")
        before = cu.row(a)
        have = {(p.phone, p.extension) for p in CrmPhone.select().where(CrmPhone.customer == a.id)}
        for p in CrmPhone.select().where(CrmPhone.customer == b.id):
            if (p.phone, p.extension) not in have:
                CrmPhone.create(phone=p.phone, customer=a.id, kind=p.kind, extension=p.extension, written=p.written)
        CrmPhone.delete().where(CrmPhone.customer == b.id).execute()
        moved_records = CrmRecord.update(customer=a.id).where(CrmRecord.customer == b.id).execute()
        moved_tasks = CrmTask.update(customer=a.id).where(CrmTask.customer == b.id).execute()
        for k in ("contact", "address", "tax_id", "email", "notes", "birthday", "contract_end", "owner"):
            if not getattr(a, k) and getattr(b, k):
                setattr(a, k, getattr(b, k))
        if not a.pin_hash and b.pin_hash:
            a.pin_hash = b.pin_hash
        custom = {**json.loads(b.custom_json or "{}"), **json.loads(a.custom_json or "{}")}
        a.custom_json = json.dumps(cu.check_custom(a.category, {k: v for k, v in custom.items()
                                                                if k in {f["name"] for f in cu.fields(a.category)}}),
                                   ensure_ascii=False, sort_keys=True)
        from contract.clock import now_ms
        a.updated_ms = b.updated_ms = now_ms()
        b.merged_into = a.id
        a.save()
        b.save()
        after = cu.row(a)
        changes = {k: [before[k], after[k]] for k in after if before[k] != after[k] and k != "updated_ms"}
        changes["merged"] = [None, b.id]
        cu._log(a.id, actor, "merge", changes)
        cu._log(b.id, actor, "merge", {"merged_into": [None, a.id]})
        return {"kept": a.id, "merged": b.id, "records_moved": moved_records, "tasks_moved": moved_tasks,
                "changes": changes}


