"""Telephone pickup orders and the pickup tasks they are at the stations (docs/hub-business.md,
"Telephone pickup orders").

* ``add``: an agent (``scanhub pickup add``) or the IVR (``hub.ivr.selfservice``'s
  ``pickup_order``) records an order: sender, phone (E.164, ``contract.phone``), address,
  parcels expected, time window.  The address goes to the site that covers it with the resolver
  of platform orders (``hub.business.orders.place``); the task gets its code (``PK000012``,
  ``contract.pickup``).
* ``site_tasks``: a site's open tasks, the list the hub publishes retained to each of its
  stations (``…/{station}/pickup``, ``hub.ingest.service``); ``changed`` tells the hub when to
  look again (meta ``pickup_version``, moved by every add, close and cancel).
* ``refresh``: a derivation step (``hub.ingest.pipeline``): the live receive scans that name a
  task (``extra.pickup``) link it to their waybills and make it done; a deleted scan takes its
  link away and a task without links is open again.  Any order of the scans gives the same links.
* ``cancel``, ``tasks``, ``show`` and ``overdue`` (open tasks whose window has passed: the report
  of ``scanhub pickup overdue``; ``hub.crm.pickup_watch`` raises work orders from it).
"""
from __future__ import annotations

import time
import uuid

from contract.errors import PayloadError
from contract.phone import PhoneError, e164
from contract.pickup import MAX_TASKS, check_task, code_for, is_code
from hub.business import tables as bm
from hub.errors import HubError
from hub.network import tables as net
from hub.store.db import bulk_insert, database, delete_where_in, rows_where_in
from hub.store.meta import get_meta, set_meta

SOURCES = ("agent", "ivr")
STATES = ("open", "done", "cancelled")
MAX_WINDOW_MS = 14 * 86_400_000          # a window longer than two weeks is a typing mistake
LIMITS = {"sender": 100, "address": 300, "note": 300, "created_by": 64}


class PickupError(HubError, ValueError):
    """A pickup order that cannot be recorded, or an operation the task's state refuses."""


def now_ms() -> int:
    return int(time.time() * 1000)


def _text(name: str, value, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise PickupError(f"{name} must be text")
    value = " ".join(value.split())
    if required and not value:
        raise PickupError(f"a pickup order needs {'an' if name[0] in 'aeiou' else 'a'} {name}")
    if len(value) > LIMITS[name]:
        raise PickupError(f"{name} longer than {LIMITS[name]} characters")
    return value


def changed() -> str:
    """Moves whenever a task is added, closed, reopened or cancelled (the hub republishes then)."""
    return get_meta("pickup_version", "") or ""


def _bump() -> None:
    set_meta("pickup_version", uuid.uuid4().hex[:16])


def add(*, address: str, phone: str, parcels: int, window_from_ms: int, window_to_ms: int, sender: str = "",
        note: str = "", site: str | None = None, source: str = "agent", created_by: str = "",
        province: str = "", city: str = "", district: str = "", at_ms: int | None = None) -> dict:
    """Record a pickup order and return its task (``show``'s dict).  ``site`` given: that site
    takes it (it must exist); else the site covering the address.  ``PickupError`` says what is
    wrong: no address, a phone that is no number, a site no coverage rule gives, a bad window."""
    address = _text("address", address, required=True)
    sender, note, created_by = _text("sender", sender), _text("note", note), _text("created_by", created_by)
    if source not in SOURCES:
        raise PickupError(f"unknown source {source!r} (one of {', '.join(SOURCES)})")
    try:
        phone = e164(phone)
    except PhoneError as e:
        raise PickupError(str(e)) from None
    if type(parcels) is not int or not 1 <= parcels <= 999:
        raise PickupError(f"parcels expected must be 1 to 999, not {parcels!r}")
    if type(window_from_ms) is not int or type(window_to_ms) is not int:
        raise PickupError("the time window must be two times")
    if window_to_ms <= window_from_ms:
        raise PickupError("the time window ends before it starts")
    if window_to_ms - window_from_ms > MAX_WINDOW_MS:
        raise PickupError("the time window is longer than two weeks")
    from hub.business.orders import place
    codes = {"province": province or "", "city": city or "", "district": district or ""}
    if site:
        if net.Site.get_or_none(net.Site.code == site) is None:
            raise PickupError(f"unknown site {site}")
    else:
        site, codes, reason = place(address, **codes)
        if not site:
            raise PickupError(f"no site for this address: {reason} (name the site with --site, "
                              "or load coverage: scanhub orders coverage)")
    T = bm.PickupTask
    with database.atomic():
        row = T.create(code="tmp" + uuid.uuid4().hex[:11], sender=sender, phone=phone, address=address,
                       site=site, parcels=parcels, window_from_ms=window_from_ms, window_to_ms=window_to_ms,
                       note=note, source=source, created_by=created_by, created_ms=at_ms or now_ms(),
                       state="open", **codes)
        row.code = code_for(row.id)
        T.update(code=row.code).where(T.id == row.id).execute()
        _bump()
    return show(row.code)


def _task(code: str) -> bm.PickupTask:
    code = (code or "").strip().upper()
    row = bm.PickupTask.get_or_none(bm.PickupTask.code == code) if is_code(code) else None
    if row is None:
        raise PickupError(f"no pickup task {code!r}" + ("" if is_code(code) else " (codes are PK and digits)"))
    return row


def _row(t: bm.PickupTask, links: list[dict], now: int) -> dict:
    return {"code": t.code, "state": t.state, "site": t.site, "sender": t.sender, "phone": t.phone,
            "address": t.address, "parcels": t.parcels, "window_from_ms": t.window_from_ms,
            "window_to_ms": t.window_to_ms, "overdue": t.state == "open" and t.window_to_ms < now,
            "waybills": [lk["waybill"] for lk in links], "done_ms": t.done_ms, "note": t.note,
            "source": t.source, "created_by": t.created_by, "created_ms": t.created_ms,
            "cancelled_ms": t.cancelled_ms, "cancel_reason": t.cancel_reason}


def _links(codes: list[str]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    L = bm.PickupLink
    for i in range(0, len(codes), 300):
        for lk in L.select().where(L.code.in_(codes[i:i + 300])).order_by(L.event_ms, L.scan_id):
            out.setdefault(lk.code, []).append({"waybill": lk.waybill, "scan": lk.scan_id, "site": lk.site,
                                                "courier": lk.courier, "event_ms": lk.event_ms})
    return out


def show(code: str) -> dict:
    """One task with the waybills linked to it (``links``: each receive scan that named it)."""
    t = _task(code)
    links = _links([t.code]).get(t.code, [])
    return dict(_row(t, links, now_ms()), links=links)


def tasks(state: str | None = None, site: str | None = None, limit: int | None = None) -> list[dict]:
    """Tasks, newest first, with their waybills (``state``: open, done or cancelled)."""
    if state is not None and state not in STATES:
        raise PickupError(f"unknown state {state!r} (one of {', '.join(STATES)})")
    T = bm.PickupTask
    q = T.select().order_by(T.id.desc())
    if state:
        q = q.where(T.state == state)
    if site:
        q = q.where(T.site == site)
    if limit:
        q = q.limit(limit)
    rows = list(q)
    links = _links([t.code for t in rows])
    now = now_ms()
    return [_row(t, links.get(t.code, []), now) for t in rows]


def cancel(code: str, reason: str, at_ms: int | None = None) -> dict:
    """Cancel an open task (it leaves its stations' list).  A done task cannot be cancelled."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise PickupError("say why the pickup is cancelled (--reason)")
    if len(reason) > 300:
        raise PickupError("reason longer than 300 characters")
    t = _task(code)
    if t.state == "done":
        raise PickupError(f"{t.code} is done already (picked up as {', '.join(show(t.code)['waybills'])})")
    if t.state == "cancelled":
        raise PickupError(f"{t.code} is cancelled already")
    T = bm.PickupTask
    with database.atomic():
        T.update(state="cancelled", cancelled_ms=at_ms or now_ms(), cancel_reason=reason).where(
            (T.id == t.id) & (T.state == "open")).execute()
        _bump()
    return show(t.code)


def overdue(at_ms: int | None = None, site: str | None = None) -> list[dict]:
    """Open tasks whose window ended before ``at_ms`` (now), the longest overdue first:
    ``[{"code", "site", "sender", "phone", "address", "parcels", "window_from_ms", "window_to_ms",
    "overdue_min"}]``."""
    at = now_ms() if at_ms is None else at_ms
    T = bm.PickupTask
    q = T.select().where((T.state == "open") & (T.window_to_ms < at)).order_by(T.window_to_ms, T.id)
    if site:
        q = q.where(T.site == site)
    return [{"code": t.code, "site": t.site, "sender": t.sender, "phone": t.phone, "address": t.address,
             "parcels": t.parcels, "window_from_ms": t.window_from_ms, "window_to_ms": t.window_to_ms,
             "overdue_min": (at - t.window_to_ms) // 60_000} for t in q]


def site_tasks(site: str) -> list[dict]:
    """The open tasks of ``site`` as the stations get them (``contract.pickup.TASK_FIELDS``),
    earliest window first; at most ``contract.pickup.MAX_TASKS``."""
    T = bm.PickupTask
    q = (T.select().where((T.site == site) & (T.state == "open"))
         .order_by(T.window_from_ms, T.id).limit(MAX_TASKS))
    out = []
    for t in q:
        task = {"code": t.code, "sender": t.sender, "phone": t.phone, "address": t.address, "parcels": t.parcels,
                "window_from_ms": t.window_from_ms, "window_to_ms": t.window_to_ms, "note": t.note}
        try:
            out.append(check_task(task))
        except PayloadError:            # cannot happen for a task add() checked; never breaks the list
            continue
    return out


def refresh(waybills: set[str], events: dict[str, list[dict]]) -> int:
    """The derivation step: link tasks to the waybills whose live receive scans name them, and
    set each affected task done (its first link's time) or open again (no link left).  Returns
    how many tasks changed state."""
    if not waybills:
        return 0
    L, T = bm.PickupLink, bm.PickupTask
    wbs = sorted(waybills)
    links = [{"scan_id": e["id"], "code": e["extra"]["pickup"], "waybill": wb, "site": e["site"],
              "courier": e.get("courier"), "event_ms": e["event_ms"]}
             for wb in wbs for e in events.get(wb, [])
             if e["kind"] == "receive" and is_code((e.get("extra") or {}).get("pickup"))]
    # prepared and chunked: this runs for every derived batch, and most waybills name no task
    before = set(rows_where_in('SELECT "scan_id", "code" FROM "pickup_link" WHERE "waybill" IN ({in})', wbs))
    now = {(lk["scan_id"], lk["code"]) for lk in links}
    if before == now:
        return 0
    delete_where_in(L, "waybill", wbs)
    bulk_insert(L, links)
    affected = sorted({c for _, c in before | now})
    firsts = {}
    for code, first in (L.select(L.code, L.event_ms).where(L.code.in_(affected)).tuples()):
        firsts[code] = min(first, firsts.get(code, first))
    changed_n = 0
    for t in T.select().where(T.code.in_(affected) & (T.state != "cancelled")):
        first = firsts.get(t.code)
        state = "done" if first is not None else "open"
        if state != t.state or first != t.done_ms:
            T.update(state=state, done_ms=first).where(T.id == t.id).execute()
            changed_n += 1
    if changed_n:
        _bump()
    return changed_n
