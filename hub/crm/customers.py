"""Customers of the company: categories with custom fields as data, generic fields, phones in
E.164, ownership and hand-over, telephone PINs, and an audit of every change (docs/crm.md).

Every write goes through this module: it checks the fields (a custom field's type, whether it is
required, its choices), normalises the phones with ``contract.phone.parse`` into ``crm_phone``,
and appends one ``crm_change`` row (who, when, each field old -> new) in the same transaction.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal, InvalidOperation

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from contract.clock import now_ms
from contract.phone import SEPARATORS, PhoneError, parse
from hub.crm.tables import CrmCategory, CrmChange, CrmCustomer, CrmField, CrmPhone, CrmTier
from hub.errors import HubError
from hub.network.tables import Staff
from hub.store.db import database

#: The generic fields every customer has, besides its phones.
GENERIC = ("name", "category", "contact", "address", "tax_id", "email", "notes", "birthday", "contract_end", "owner")
FIELD_TYPES = ("text", "int", "decimal", "date", "bool", "choice")
PIN_LEN = (4, 8)
_hasher = PasswordHasher()

#: The categories a new store starts with: the forwarder's and the express network's.
DEFAULT_CATEGORIES = (
    ("ocean", "Ocean carriers", "forwarder"), ("inland", "Inland water", "forwarder"), ("rail", "Rail", "forwarder"),
    ("fleet", "Fleets", "forwarder"), ("peer", "Peer forwarders", "forwarder"),
    ("customer", "Customers", "forwarder"), ("staff", "Staff", "forwarder"),
    ("sender", "Senders", "express"), ("receiver", "Receivers", "express"),
    ("shop", "E-commerce shops", "express"), ("corporate", "Corporate accounts", "express"),
)


class CrmError(HubError, ValueError):
    """A CRM request that cannot be done as asked; the message says why."""


# ---------------------------------------------------------------- categories and fields

def ensure_defaults() -> None:
    """Create the default categories and tiers in a store that has none (idempotent)."""
    if not CrmCategory.select().exists():
        CrmCategory.insert_many([{"code": c, "name": n, "family": f} for c, n, f in DEFAULT_CATEGORIES]).execute()
    ensure_default_tiers()


#: The tiers a new store starts with: (name, rank, min records, min amount in cents, min parcels, window days).
DEFAULT_TIERS = (("diamond", 3, 50, 5_000_000, 0, 365), ("gold", 2, 10, 1_000_000, 0, 365), ("ordinary", 1, 0, 0, 0, 365))


def ensure_default_tiers() -> None:
    if not CrmTier.select().exists():
        CrmTier.insert_many([{"name": n, "rank": r, "min_records": mr, "min_amount_cents": ma, "min_parcels": mp,
                              "window_days": w} for n, r, mr, ma, mp, w in DEFAULT_TIERS]).execute()


def _code(code: str, what: str) -> str:
    code = str(code or "").strip()
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,31}", code):
        raise CrmError(f"bad {what} {code!r}: use 1-32 lower-case letters, digits, - or _")
    return code


def categories() -> list[dict]:
    ensure_defaults()
    counts = {f.category: 0 for f in CrmField.select()}
    for f in CrmField.select():
        counts[f.category] += 1
    return [{"code": c.code, "name": c.name, "family": c.family, "fields": counts.get(c.code, 0)}
            for c in CrmCategory.select().order_by(CrmCategory.code)]


def add_category(code: str, name: str, family: str = "") -> dict:
    ensure_defaults()
    code = _code(code, "category code")
    if CrmCategory.get_or_none(CrmCategory.code == code):
        raise CrmError(f"category {code} exists")
    if not str(name or "").strip():
        raise CrmError("a category needs a name (--name)")
    CrmCategory.create(code=code, name=name.strip(), family=family or "")
    return {"code": code, "name": name.strip(), "family": family or ""}


def set_category(code: str, name: str) -> None:
    c = _category(code)
    c.name = name.strip() or c.name
    c.save()


def remove_category(code: str) -> None:
    _category(code)
    n = CrmCustomer.select().where(CrmCustomer.category == code, ~CrmCustomer.removed).count()
    if n:
        raise CrmError(f"category {code} still has {n} customer(s): move them first (scanhub crm customer set ID --category …)")
    with database.atomic():
        CrmField.delete().where(CrmField.category == code).execute()
        CrmCategory.delete().where(CrmCategory.code == code).execute()


def _category(code: str) -> CrmCategory:
    ensure_defaults()
    c = CrmCategory.get_or_none(CrmCategory.code == str(code or ""))
    if c is None:
        known = ", ".join(x.code for x in CrmCategory.select().order_by(CrmCategory.code))
        raise CrmError(f"no category {code!r} (categories: {known})")
    return c


def fields(category: str) -> list[dict]:
    _category(category)
    return [{"category": f.category, "name": f.name, "type": f.type, "required": f.required,
             "choices": f.choices.split("|") if f.choices else [], "label": f.label}
            for f in CrmField.select().where(CrmField.category == category).order_by(CrmField.name)]


def add_field(category: str, name: str, type_: str = "text", required: bool = False,
              choices: list[str] | None = None, label: str = "") -> dict:
    _category(category)
    name = _code(name, "field name").replace("-", "_")
    if name in GENERIC or name in ("id", "phones", "pin", "tier"):
        raise CrmError(f"{name} is a generic field of every customer; choose another name")
    if type_ not in FIELD_TYPES:
        raise CrmError(f"bad field type {type_!r}: one of {', '.join(FIELD_TYPES)}")
    choices = [c.strip() for c in (choices or []) if c.strip()]
    if type_ == "choice" and not choices:
        raise CrmError("a choice field needs its choices (--choices 'a|b|c')")
    if type_ != "choice" and choices:
        raise CrmError("only a choice field has choices")
    if any("|" in c for c in choices):
        raise CrmError("a choice may not contain |")
    if CrmField.get_or_none(CrmField.category == category, CrmField.name == name):
        raise CrmError(f"category {category} already has a field {name}")
    CrmField.create(category=category, name=name, type=type_, required=required, choices="|".join(choices),
                    label=label or "")
    return fields(category)[[f["name"] for f in fields(category)].index(name)]


def remove_field(category: str, name: str) -> None:
    if not CrmField.delete().where(CrmField.category == category, CrmField.name == name).execute():
        raise CrmError(f"category {category} has no field {name}")


def _coerce(f: CrmField, value):
    """A custom field's value as written (text from a command or CSV, or JSON) in its type."""
    what = f"field {f.name} ({f.type})"
    if value is None or value == "":
        return None
    text = str(value).strip()
    if f.type == "text":
        return text
    if f.type == "int":
        if isinstance(value, bool) or not re.fullmatch(r"-?\d{1,18}", text):
            raise CrmError(f"{what}: {value!r} is not a whole number")
        return int(text)
    if f.type == "decimal":
        try:
            d = Decimal(text)
        except InvalidOperation:
            raise CrmError(f"{what}: {value!r} is not a number") from None
        if not d.is_finite():
            raise CrmError(f"{what}: {value!r} is not a number")
        return str(d)
    if f.type == "date":
        return _date(text, what)
    if f.type == "bool":
        low = text.lower()
        if low in ("1", "true", "yes", "y", "是"):
            return True
        if low in ("0", "false", "no", "n", "否"):
            return False
        raise CrmError(f"{what}: {value!r} is not yes or no")
    choices = f.choices.split("|")
    if text not in choices:
        raise CrmError(f"{what}: {value!r} is not one of {', '.join(choices)}")
    return text


def _date(text: str, what: str, month_day: bool = False) -> str:
    text = str(text).strip()
    if month_day and re.fullmatch(r"\d{2}-\d{2}", text):
        try:
            dt.date(2000, int(text[:2]), int(text[3:]))
            return text
        except ValueError:
            pass
    try:
        return dt.date.fromisoformat(text).isoformat() if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else _bad_date(text, what)
    except ValueError:
        return _bad_date(text, what)


def _bad_date(text, what):
    raise CrmError(f"{what}: {text!r} is not a date (YYYY-MM-DD)")


def check_custom(category: str, custom: dict) -> dict:
    """The custom fields of a customer of ``category`` checked and typed; ``CrmError`` naming
    the first unknown, missing or ill-typed field."""
    defs = {f.name: f for f in CrmField.select().where(CrmField.category == category)}
    unknown = sorted(set(custom) - set(defs))
    if unknown:
        raise CrmError(f"category {category} has no field {unknown[0]}"
                       + (f" (its fields: {', '.join(sorted(defs))})" if defs else " (it has no custom fields)"))
    out = {}
    for name, f in sorted(defs.items()):
        v = _coerce(f, custom.get(name))
        if v is None:
            if f.required:
                raise CrmError(f"field {name} is required for category {category}")
            continue
        out[name] = v
    return out


# ---------------------------------------------------------------- phones

def phones_of(text_or_list, area_code: str = "") -> list:
    """The ``contract.phone.Phone`` of each number written (a list, or text with / , ; between
    numbers); ``CrmError`` for any that is not a number."""
    parts = text_or_list if isinstance(text_or_list, (list, tuple)) else SEPARATORS.split(str(text_or_list or ""))
    out = []
    for part in parts:
        if not str(part).strip():
            continue
        try:
            p = parse(part, area_code=area_code)
        except PhoneError as e:
            raise CrmError(str(e)) from None
        if (p.e164, p.extension) not in [(q.e164, q.extension) for q in out]:
            out.append(p)
    return out


def _write_phones(customer_id: int, phones: list) -> None:
    CrmPhone.delete().where(CrmPhone.customer == customer_id).execute()
    for p in phones:
        CrmPhone.create(phone=p.e164, customer=customer_id, kind=p.kind, extension=p.extension, written=p.national)


def _phone_text(customer_id: int) -> list[str]:
    return [p.phone + (f" ext {p.extension}" if p.extension else "")
            for p in CrmPhone.select().where(CrmPhone.customer == customer_id).order_by(CrmPhone.id)]


# ---------------------------------------------------------------- customers

def _owner(code: str) -> str:
    code = str(code or "").strip()
    if code and not Staff.get_or_none(Staff.code == code):
        raise CrmError(f"no staff member {code!r}: an owner is a staff code (scanhub staff list)")
    return code


def _generic(values: dict) -> dict:
    out = {}
    for k in GENERIC:
        if k not in values or values[k] is None:
            continue
        v = str(values[k]).strip()
        if k == "name" and not v:
            raise CrmError("a customer needs a name")
        if k == "birthday" and v:
            v = _date(v, "birthday", month_day=True)
        if k == "contract_end" and v:
            v = _date(v, "contract_end")
        if k == "owner":
            v = _owner(v)
        if k == "category":
            _category(v)
        if k == "email" and v and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", v):
            raise CrmError(f"bad e-mail address {v!r}")
        limit = CrmCustomer._meta.fields[k].max_length if hasattr(CrmCustomer._meta.fields[k], "max_length") else None
        if limit and len(v) > limit:
            raise CrmError(f"{k} is longer than {limit} characters")
        out[k] = v
    return out


def _pin_hash(pin: str) -> str:
    pin = str(pin or "")
    if not re.fullmatch(r"\d{%d,%d}" % PIN_LEN, pin):
        raise CrmError(f"a PIN is {PIN_LEN[0]} to {PIN_LEN[1]} digits")
    return _hasher.hash(pin)


def _get(customer_id) -> CrmCustomer:
    try:
        cid = int(str(customer_id).removeprefix("crm:"))
    except ValueError:
        raise CrmError(f"bad customer id {customer_id!r}: a number (scanhub crm customer list)") from None
    c = CrmCustomer.get_or_none(CrmCustomer.id == cid)
    if c is None or c.removed:
        raise CrmError(f"no customer {cid}")
    if c.merged_into:
        raise CrmError(f"customer {cid} was merged into customer {c.merged_into}")
    return c


def _log(customer_id: int, actor: str, action: str, changes: dict, at: int | None = None) -> None:
    CrmChange.create(customer=customer_id, at_ms=at or now_ms(), actor=(actor or "cli")[:80], action=action,
                     changes_json=json.dumps(changes, ensure_ascii=False, default=str))


def row(c: CrmCustomer) -> dict:
    return {"id": c.id, "name": c.name, "category": c.category, "contact": c.contact,
            "phones": _phone_text(c.id), "address": c.address, "tax_id": c.tax_id, "email": c.email,
            "notes": c.notes, "birthday": c.birthday, "contract_end": c.contract_end, "owner": c.owner,
            "tier": c.tier, "custom": json.loads(c.custom_json or "{}"), "has_pin": bool(c.pin_hash),
            "created_ms": c.created_ms, "updated_ms": c.updated_ms}


def add(values: dict, *, actor: str, phones=(), custom: dict | None = None, pin: str | None = None,
        area_code: str = "") -> dict:
    """A new customer: ``values`` holds generic fields (``name`` and ``category`` required)."""
    ensure_defaults()
    if not values.get("name"):
        raise CrmError("a customer needs a name (--name)")
    values = {"category": "customer", **values}
    with database.atomic():
        gen = _generic(values)
        cust = check_custom(gen["category"], custom or {})
        ph = phones_of(phones, area_code)
        t = now_ms()
        c = CrmCustomer.create(**gen, custom_json=json.dumps(cust, ensure_ascii=False, sort_keys=True),
                               pin_hash=_pin_hash(pin) if pin else "", created_ms=t, updated_ms=t)
        _write_phones(c.id, ph)
        after = {**gen, "custom": cust, "phones": _phone_text(c.id)}
        if pin:
            after["pin"] = "(set)"
        _log(c.id, actor, "add", {k: [None, v] for k, v in after.items() if v not in ("", {}, [])}, t)
        return row(c)


def get(customer_id) -> dict:
    return row(_get(customer_id))


def change(customer_id, values: dict, *, actor: str, phones=None, custom: dict | None = None,
           pin: str | None = None, area_code: str = "", action: str = "set", tier: str | None = None) -> dict:
    """Change the given fields (``phones`` replaces the list; ``custom`` sets those custom
    fields, an empty value clears one).  Returns ``{"id", "changes"}`` (empty when nothing changed)."""
    with database.atomic():
        c = _get(customer_id)
        before = row(c)
        gen = _generic(values)
        if "name" in values and not gen.get("name"):
            raise CrmError("a customer needs a name")
        category = gen.get("category", c.category)
        merged = {**before["custom"], **(custom or {})}
        if category != c.category:   # fields of the old category do not carry over
            keep = {f.name for f in CrmField.select().where(CrmField.category == category)}
            merged = {k: v for k, v in merged.items() if k in keep}
        cust = check_custom(category, {k: v for k, v in merged.items() if v not in (None, "")})
        changes = {k: [before[k], v] for k, v in gen.items() if before[k] != v}
        if cust != before["custom"]:
            changes["custom"] = [before["custom"], cust]
        for k, v in gen.items():
            setattr(c, k, v)
        c.custom_json = json.dumps(cust, ensure_ascii=False, sort_keys=True)
        if tier is not None and tier != c.tier:
            changes["tier"] = [c.tier, tier]
            c.tier = tier
        if pin is not None:
            c.pin_hash = _pin_hash(pin) if pin else ""
            changes["pin"] = ["(set)" if before["has_pin"] else None, "(set)" if pin else None]
        if phones is not None:
            _write_phones(c.id, phones_of(phones, area_code))
            now_phones = _phone_text(c.id)
            if now_phones != before["phones"]:
                changes["phones"] = [before["phones"], now_phones]
        if changes:
            c.updated_ms = now_ms()
            c.save()
            _log(c.id, actor, "handover" if set(changes) == {"owner"} and action == "set" else action, changes)
        return {"id": c.id, "changes": changes}


def handover(customer_ids: list, to: str, *, actor: str) -> list[dict]:
    """Give customers to another staff member (``to``, a staff code); each hand-over audited."""
    _owner(to)
    if not to:
        raise CrmError("hand over to whom? give a staff code")
    with database.atomic():
        return [change(i, {"owner": to}, actor=actor, action="handover") for i in customer_ids]


def owned_by(owner: str) -> list[int]:
    return [c.id for c in CrmCustomer.select(CrmCustomer.id).where(
        CrmCustomer.owner == owner, ~CrmCustomer.removed, CrmCustomer.merged_into.is_null())]


def remove(customer_id, *, actor: str) -> None:
    """Remove a customer (kept, marked removed, so its history stays readable)."""
    with database.atomic():
        c = _get(customer_id)
        c.removed = True
        c.updated_ms = now_ms()
        c.save()
        CrmPhone.delete().where(CrmPhone.customer == c.id).execute()
        _log(c.id, actor, "remove", {"removed": [False, True]})


def customers(*, category: str | None = None, owner: str | None = None, tier: str | None = None,
              name: str | None = None, limit: int | None = None) -> list[dict]:
    q = CrmCustomer.select().where(~CrmCustomer.removed, CrmCustomer.merged_into.is_null())
    if category:
        q = q.where(CrmCustomer.category == category)
    if owner:
        q = q.where(CrmCustomer.owner == owner)
    if tier:
        q = q.where(CrmCustomer.tier == tier)
    if name:
        q = q.where(CrmCustomer.name.contains(name))
    q = q.order_by(CrmCustomer.id)
    if limit:
        q = q.limit(limit)
    return [row(c) for c in q]


def history(customer_id=None, limit: int = 200) -> list[dict]:
    """Changes, newest first: ``{"customer", "at_ms", "actor", "action", "field", "old", "new"}``,
    one row per field changed."""
    q = CrmChange.select().order_by(CrmChange.id.desc()).limit(limit)
    if customer_id is not None:
        try:
            q = q.where(CrmChange.customer == int(str(customer_id).removeprefix("crm:")))
        except ValueError:
            raise CrmError(f"bad customer id {customer_id!r}") from None
    out = []
    for ch in q:
        for f, (old, new) in json.loads(ch.changes_json).items():
            out.append({"customer": ch.customer, "at_ms": ch.at_ms, "actor": ch.actor, "action": ch.action,
                        "field": f, "old": old, "new": new})
    return out


def check_pin(customer_id, pin: str) -> bool:
    """True when ``pin`` is the customer's telephone PIN (argon2id; a customer without one has none)."""
    try:
        c = _get(customer_id)
    except CrmError:
        return False
    if not c.pin_hash or not re.fullmatch(r"\d{%d,%d}" % PIN_LEN, str(pin or "")):
        return False
    try:
        return _hasher.verify(c.pin_hash, str(pin))
    except (VerificationError, InvalidHashError):
        return False


def by_phone(e164: str) -> list[CrmCustomer]:
    """The customers a number (E.164) belongs to: one indexed query on ``crm_phone``."""
    ids = [r.customer for r in CrmPhone.select(CrmPhone.customer).where(CrmPhone.phone == e164).distinct()]
    if not ids:
        return []
    return list(CrmCustomer.select().where(CrmCustomer.id.in_(ids), ~CrmCustomer.removed,
                                           CrmCustomer.merged_into.is_null()).order_by(CrmCustomer.id))
