"""Tiers by rules over a customer's business, care reminders and follow-up plans on an agent's
task list.

A tier rule (``crm_tier``) is data: the business records, their total rate and the parcels a
customer needs within ``window_days``; ``assign`` gives every customer the best tier whose rule
it meets (``ordinary`` has none).  ``remind`` puts care reminders on the owners' task lists:
birthdays and contract ends within ``days`` ahead, and customers with no business record or call
for ``inactive_days``; each reminder once (a dedupe key per customer, kind and date).
"""
from __future__ import annotations

import datetime as dt

from contract.clock import now_ms
from hub.crm.customers import CrmError, _code, _get, ensure_default_tiers
from hub.crm.tables import CrmCustomer, CrmRecord, CrmTask, CrmTier
from hub.store.db import database

DAY_MS = 86_400_000


def tiers() -> list[dict]:
    ensure_default_tiers()
    return [{"name": t.name, "rank": t.rank, "min_records": t.min_records, "min_amount_cents": t.min_amount_cents,
             "min_parcels": t.min_parcels, "window_days": t.window_days}
            for t in CrmTier.select().order_by(CrmTier.rank.desc())]


def set_tier(name: str, *, rank: int | None = None, min_records: int | None = None,
             min_amount_cents: int | None = None, min_parcels: int | None = None, window_days: int | None = None) -> dict:
    """Add or change a tier rule."""
    ensure_default_tiers()
    name = _code(name, "tier name")
    for what, v in (("rank", rank), ("min-records", min_records), ("min-amount", min_amount_cents),
                    ("min-parcels", min_parcels), ("window-days", window_days)):
        if v is not None and v < 0:
            raise CrmError(f"--{what} may not be negative")
    if window_days == 0:
        raise CrmError("--window-days must be at least 1")
    t = CrmTier.get_or_none(CrmTier.name == name)
    if t is None:
        if rank is None:
            raise CrmError(f"a new tier needs --rank (higher is better; existing: "
                           f"{', '.join(str(x['name']) + '=' + str(x['rank']) for x in tiers())})")
        t = CrmTier(name=name, rank=rank)
        created = True
    else:
        created = False
    for k, v in (("rank", rank), ("min_records", min_records), ("min_amount_cents", min_amount_cents),
                 ("min_parcels", min_parcels), ("window_days", window_days)):
        if v is not None:
            setattr(t, k, v)
    t.save(force_insert=created)
    return next(x for x in tiers() if x["name"] == name)


def remove_tier(name: str) -> None:
    if CrmCustomer.select().where(CrmCustomer.tier == name).exists():
        raise CrmError(f"customers are in tier {name}: change the rule and run `scanhub crm tier assign` first")
    if not CrmTier.delete().where(CrmTier.name == name).execute():
        raise CrmError(f"no tier {name}")


def _business(window_days: int, at_ms: int) -> dict[int, tuple[int, int]]:
    """customer -> (records, sum of rates) in the window."""
    from peewee import fn
    since = at_ms - window_days * DAY_MS
    q = (CrmRecord.select(CrmRecord.customer, fn.COUNT(CrmRecord.id), fn.COALESCE(fn.SUM(CrmRecord.rate_cents), 0))
         .where(CrmRecord.quote_ms >= since, CrmRecord.quote_ms <= at_ms).group_by(CrmRecord.customer).tuples())
    return {c: (n, int(s)) for c, n, s in q}


def assign(*, actor: str, at_ms: int | None = None) -> list[dict]:
    """Give every customer the tier its business earns; returns the customers whose tier changed."""
    from hub.crm.customers import change
    from hub.crm.lookup import parcel_count
    rules = tiers()
    at = at_ms or now_ms()
    windows = {t["window_days"] for t in rules}
    business = {w: _business(w, at) for w in windows}
    need_parcels = any(t["min_parcels"] for t in rules)
    out = []
    with database.atomic():
        for c in CrmCustomer.select().where(~CrmCustomer.removed, CrmCustomer.merged_into.is_null()):
            best = None
            for t in sorted(rules, key=lambda t: -t["rank"]):
                n, amount = business[t["window_days"]].get(c.id, (0, 0))
                parcels = parcel_count(c.id) if need_parcels and t["min_parcels"] else 0
                if n >= t["min_records"] and amount >= t["min_amount_cents"] and parcels >= t["min_parcels"]:
                    best = t["name"]
                    break
            best = best or min(rules, key=lambda t: t["rank"])["name"]
            if best != c.tier:
                change(c.id, {}, actor=actor, action="tier", tier=best)
                out.append({"id": c.id, "name": c.name, "from": c.tier, "to": best})
    return out


# ---------------------------------------------------------------- tasks

def _day(ms: int) -> dt.date:
    from hub.business.localtime import network_offset
    return dt.datetime.fromtimestamp(ms / 1000 + network_offset() * 60, dt.timezone.utc).date()


def _task(customer: CrmCustomer, kind: str, due: dt.date, note: str, dedupe: str | None) -> bool:
    if dedupe and CrmTask.select().where(CrmTask.dedupe == dedupe).exists():
        return False
    CrmTask.create(customer=customer.id, owner=customer.owner, kind=kind, due=due.isoformat(), note=note,
                   dedupe=dedupe, created_ms=now_ms())
    return True


def remind(*, days: int = 7, inactive_days: int = 90, at_ms: int | None = None) -> int:
    """Care reminders for the next ``days`` days; returns how many new tasks were made."""
    at = at_ms or now_ms()
    today = _day(at)
    made = 0
    last = _last_contact()
    with database.atomic():
        for c in CrmCustomer.select().where(~CrmCustomer.removed, CrmCustomer.merged_into.is_null()):
            if c.birthday:
                md = c.birthday[-5:]
                for year in (today.year, today.year + 1):
                    try:
                        d = dt.date(year, int(md[:2]), int(md[3:]))
                    except ValueError:          # 02-29 in a common year: the day before
                        d = dt.date(year, 2, 28)
                    if 0 <= (d - today).days <= days:
                        made += _task(c, "birthday", d, f"birthday of {c.name}", f"birthday:{c.id}:{d}")
            if c.contract_end:
                d = dt.date.fromisoformat(c.contract_end)
                if 0 <= (d - today).days <= days:
                    made += _task(c, "contract", d, f"contract of {c.name} ends {d}", f"contract:{c.id}:{d}")
            seen = max(last.get(c.id, 0), c.created_ms)
            if at - seen >= inactive_days * DAY_MS:
                # once per inactive spell: the key names the last contact
                made += _task(c, "inactive", today, f"no business with {c.name} for {(at - seen) // DAY_MS} days",
                              f"inactive:{c.id}:{seen}")
    return made


def _last_contact() -> dict[int, int]:
    from peewee import fn
    return {c: int(t) for c, t in CrmRecord.select(CrmRecord.customer, fn.MAX(CrmRecord.quote_ms))
            .group_by(CrmRecord.customer).tuples()}


def plan(customer_id, offsets_days: list[int], note: str, *, owner: str | None = None,
         at_ms: int | None = None) -> list[dict]:
    """A follow-up plan: one task per offset (days from today) on the owner's (or ``owner``'s) list."""
    c = _get(customer_id)
    if not offsets_days or any(d < 0 for d in offsets_days):
        raise CrmError("a plan needs days from today, e.g. --days 1,7,30")
    if owner is not None:
        from hub.crm.customers import _owner
        c.owner = _owner(owner)
    if not c.owner:
        raise CrmError(f"customer {c.id} has no owner: give --owner or hand it over first")
    today = _day(at_ms or now_ms())
    with database.atomic():
        for d in sorted(set(offsets_days)):
            _task(c, "follow-up", today + dt.timedelta(days=d), note or f"follow up {c.name}", None)
    return tasks(customer_id=c.id)


def tasks(*, owner: str | None = None, customer_id: int | None = None, due_by: str | None = None,
          done: bool = False) -> list[dict]:
    q = CrmTask.select().order_by(CrmTask.due, CrmTask.id)
    q = q.where(CrmTask.done_ms.is_null(False) if done else CrmTask.done_ms.is_null())
    if owner:
        q = q.where(CrmTask.owner == owner)
    if customer_id is not None:
        q = q.where(CrmTask.customer == customer_id)
    if due_by:
        q = q.where(CrmTask.due <= due_by)
    names = {c.id: c.name for c in CrmCustomer.select(CrmCustomer.id, CrmCustomer.name)
             .where(CrmCustomer.id.in_({t.customer for t in q}))} if q.exists() else {}
    return [{"id": t.id, "due": t.due, "kind": t.kind, "customer": t.customer, "name": names.get(t.customer, ""),
             "owner": t.owner, "note": t.note, "done_ms": t.done_ms} for t in q]


def finish(task_id: int) -> None:
    t = CrmTask.get_or_none(CrmTask.id == task_id)
    if t is None:
        raise CrmError(f"no task {task_id}")
    if t.done_ms is None:
        t.done_ms = now_ms()
        t.save()
