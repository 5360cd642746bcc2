"""A double-entry ledger in integer cents: balanced, idempotent by source, append-only.

* Every entry's postings sum to zero, so money is never created or lost: the sum of all account
  balances is always 0 (outside money enters through ``external:*`` accounts).
* Every entry has a ``source`` (what caused it: ``deposit:<slip>``, ``fee:transit:<waybill>:<center>``)
  and a revision; the unique key ``source#rev`` makes a replay a no-op.
* Nothing is updated or deleted.  A correction is a reversing entry (``reverse``), and a changed
  derived amount (``reconcile``) is a reversal of the old entry plus a new one.

Accounts are strings: ``site:<code>`` (a site's or center's prepaid account), ``courier:<code>``,
``cod:<site>`` (COD owed to that origin site's senders), ``cash:<site>`` (COD cash a site still
has to remit), ``clearing:<center>`` (inter-center positions), ``external:<who>`` (the outside
world: banks, customers).  A posting's ``amount_cents`` is the signed change of the balance.
"""
from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping

from peewee import fn

from hub.errors import HubError
from hub.business import tables as bm
from hub.store.db import bulk_insert, database, rows_where_in

_ACCOUNT = re.compile(r"^[a-z]+:[A-Za-z0-9_.\-:]{1,70}$")
Lines = Mapping[str, int]


class LedgerError(HubError, ValueError):
    """An entry that cannot be booked (unbalanced, bad account name, non-integer cents)."""


class LedgerConflict(LedgerError):
    """The source was already booked with different postings (a replay must be identical)."""


def now_ms() -> int:
    return int(time.time() * 1000)


def normalise(lines: Lines | Iterable[tuple[str, int]]) -> dict[str, int]:
    """Merge lines per account, drop zeros, check accounts and balance; returns a sorted dict."""
    items = lines.items() if isinstance(lines, Mapping) else lines
    out: dict[str, int] = {}
    for account, cents in items:
        if not isinstance(account, str) or not _ACCOUNT.match(account):
            raise LedgerError(f"bad account name {account!r} (kind:code)")
        if isinstance(cents, bool) or not isinstance(cents, int):
            raise LedgerError(f"amount for {account} must be integer cents, got {cents!r}")
        out[account] = out.get(account, 0) + cents
    out = {a: c for a, c in sorted(out.items()) if c != 0}
    if sum(out.values()) != 0:
        raise LedgerError(f"entry does not balance: {out} sums to {sum(out.values())}")
    return out


def _state(source: str):
    """(latest entry or None, its lines) of ``source``."""
    e = (bm.JournalEntry.select().where(bm.JournalEntry.source == source)
         .order_by(bm.JournalEntry.rev.desc()).first())
    if e is None:
        return None, {}
    return e, {p.account: p.amount_cents for p in e.postings}


def _book(source: str, rev: int, action: str, purpose: str, lines: dict[str, int], memo: str,
          waybill: str | None, value_ms: int) -> bm.JournalEntry:
    e = bm.JournalEntry.create(key=f"{source}#{rev}", source=source, rev=rev, action=action, purpose=purpose,
                               waybill=waybill, memo=memo, value_ms=value_ms, booked_ms=now_ms())
    bm.Posting.insert_many([{"entry": e.id, "account": a, "amount_cents": c} for a, c in lines.items()]).execute()
    return e


def post(source: str, lines: Lines, *, purpose: str, memo: str = "", waybill: str | None = None,
         value_ms: int | None = None) -> bm.JournalEntry | None:
    """Book ``lines`` once for ``source``.  A replay with the same lines returns None (no-op);
    with other lines it raises ``LedgerConflict``; after a reversal the source is spent."""
    lines = normalise(lines)
    if not lines:
        raise LedgerError("an entry needs at least one non-zero amount")
    if len(source) > 190:
        raise LedgerError("source longer than 190 characters")
    with database.atomic():
        last, current = _state(source)
        if last is not None:
            first = bm.JournalEntry.get((bm.JournalEntry.source == source) & (bm.JournalEntry.rev == 0))
            booked = {p.account: p.amount_cents for p in first.postings}
            if booked != lines:
                raise LedgerConflict(f"{source} was already booked with other amounts")
            return None
        return _book(source, 0, "post", purpose, lines, memo, waybill, value_ms or now_ms())


def reverse(source: str, memo: str = "") -> bm.JournalEntry | None:
    """Reverse the active entry of ``source`` (None when nothing is active)."""
    with database.atomic():
        last, current = _state(source)
        if last is None or last.action == "reverse":
            return None
        return _book(source, last.rev + 1, "reverse", last.purpose, {a: -c for a, c in current.items()},
                     memo or f"reversal of {last.key}", last.waybill, now_ms())


def reconcile(source: str, lines: Lines | None, *, purpose: str, memo: str = "", waybill: str | None = None,
              value_ms: int | None = None) -> bool:
    """Make ``source``'s active amounts equal ``lines`` (None/empty = nothing), booking the
    difference as a reversal plus a new entry.  Returns True when something was booked."""
    return bool(reconcile_many([{"source": source, "lines": lines, "purpose": purpose, "memo": memo,
                                 "waybill": waybill, "value_ms": value_ms}]))


def _states(sources: list[str]) -> dict[str, tuple[dict, dict[str, int]]]:
    """``{source: (its latest entry as a dict, that entry's lines)}`` for the booked ones among
    ``sources``: two prepared queries per 500 sources, whatever their number."""
    E, P = bm.JournalEntry._meta.table_name, bm.Posting._meta.table_name
    latest: dict[str, dict] = {}
    for eid, src, rev, action, purpose in rows_where_in(
            f'SELECT "id", "source", "rev", "action", "purpose" FROM "{E}" WHERE "source" IN ({{in}})', sources):
        if src not in latest or rev > latest[src]["rev"]:
            latest[src] = {"id": eid, "rev": rev, "action": action, "purpose": purpose}
    lines: dict[int, dict[str, int]] = {}
    for eid, account, cents in rows_where_in(
            f'SELECT "entry_id", "account", "amount_cents" FROM "{P}" WHERE "entry_id" IN ({{in}}) ORDER BY "id"',
            [e["id"] for e in latest.values()]):
        lines.setdefault(eid, {})[account] = cents
    return {src: (e, lines.get(e["id"], {})) for src, e in latest.items()}


def reconcile_many(items: Iterable[Mapping]) -> set[str]:
    """``reconcile`` for many sources at once (the fee step of the derivation): each item is
    ``{"source", "lines", "purpose", "memo", "waybill", "value_ms"}``, one per source.  The state
    of every source is read in one pass, the entries and postings written with one bulk insert
    each, in the order of ``items`` (each reversal before its new entry), exactly as one
    ``reconcile`` per item would book them.  Returns the accounts whose balance changed."""
    items = list(items)
    wants = [normalise(it["lines"] or {}) for it in items]
    states = _states(sorted({it["source"] for it in items}))
    now = now_ms()
    entries, postings, touched = [], [], set()
    for it, want in zip(items, wants):
        last, current = states.get(it["source"], (None, {}))
        active = current if last is not None and last["action"] == "post" else {}
        if active == want:
            continue
        source, memo, waybill = it["source"], it.get("memo") or "", it.get("waybill")
        value_ms = it.get("value_ms") or now
        rev = -1 if last is None else last["rev"]
        if active:
            rev += 1
            entries.append({"key": f"{source}#{rev}", "source": source, "rev": rev, "action": "reverse",
                            "purpose": last["purpose"], "waybill": waybill,
                            "memo": f"recomputed: {memo}" if memo else "recomputed", "value_ms": value_ms,
                            "booked_ms": now})
            postings.append({a: -c for a, c in active.items()})
        if want:
            entries.append({"key": f"{source}#{rev + 1}", "source": source, "rev": rev + 1, "action": "post",
                            "purpose": it["purpose"], "waybill": waybill, "memo": memo, "value_ms": value_ms,
                            "booked_ms": now})
            postings.append(want)
        touched |= set(active) | set(want)
    if entries:
        with database.atomic():
            bulk_insert(bm.JournalEntry, entries)
            ids = dict(rows_where_in(f'SELECT "key", "id" FROM "{bm.JournalEntry._meta.table_name}" '
                                     f'WHERE "key" IN ({{in}})', [e["key"] for e in entries]))
            bulk_insert(bm.Posting, [{"entry": ids[e["key"]], "account": a, "amount_cents": c}
                                     for e, lines in zip(entries, postings) for a, c in lines.items()])
    return touched


def active_lines(source: str) -> dict[str, int]:
    """The amounts ``source`` currently contributes ({} when reversed or never booked)."""
    last, current = _state(source)
    return current if last is not None and last.action == "post" else {}


def balance(account: str, until_entry: int | None = None) -> int:
    """Balance (cents) of ``account``: the sum of its postings (up to entry id ``until_entry``)."""
    P = bm.Posting
    q = P.select(fn.COALESCE(fn.SUM(P.amount_cents), 0)).where(P.account == account)
    if until_entry is not None:
        q = q.where(P.entry <= until_entry)
    return int(q.scalar() or 0)


def balances(prefix: str = "") -> dict[str, int]:
    """Balances of every account starting with ``prefix``."""
    P = bm.Posting
    q = P.select(P.account, fn.SUM(P.amount_cents)).group_by(P.account).order_by(P.account)
    if prefix:
        q = q.where(P.account.startswith(prefix))
    return {a: int(s) for a, s in q.tuples()}


def total() -> int:
    """Sum of every posting in the books: always 0 in a healthy ledger."""
    return int(bm.Posting.select(fn.COALESCE(fn.SUM(bm.Posting.amount_cents), 0)).scalar() or 0)


def statement(account: str, since_ms: int | None = None, until_ms: int | None = None) -> dict:
    """A bank-like statement of ``account`` in booking order, by booking time window.

    ``{"account", "opening_cents", "closing_cents", "rows": [{"entry", "booked_ms", "value_ms",
    "purpose", "source", "memo", "waybill", "amount_cents", "balance_cents"}]}``.
    """
    P, E = bm.Posting, bm.JournalEntry
    opening = 0
    if since_ms is not None:
        opening = int(P.select(fn.COALESCE(fn.SUM(P.amount_cents), 0)).join(E)
                      .where((P.account == account) & (E.booked_ms < since_ms)).scalar() or 0)
    q = (P.select(P.amount_cents, E.id, E.booked_ms, E.value_ms, E.purpose, E.source, E.memo, E.waybill, E.action)
         .join(E).where(P.account == account).order_by(E.id, P.id))
    if since_ms is not None:
        q = q.where(E.booked_ms >= since_ms)
    if until_ms is not None:
        q = q.where(E.booked_ms < until_ms)
    rows, running = [], opening
    for r in q.dicts():
        running += r["amount_cents"]
        rows.append({"entry": r["id"], "booked_ms": r["booked_ms"], "value_ms": r["value_ms"],
                     "purpose": r["purpose"] + (" (reversal)" if r["action"] == "reverse" else ""),
                     "source": r["source"], "memo": r["memo"], "waybill": r["waybill"],
                     "amount_cents": r["amount_cents"], "balance_cents": running})
    return {"account": account, "opening_cents": opening, "closing_cents": running, "rows": rows}
