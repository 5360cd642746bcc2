"""Fees derived from scans and posted to the ledger (docs/hub-business.md, "Fees").

``compute`` is pure: one waybill's scans in, the entries it should have booked out, keyed by
source.  ``refresh`` (a step of the derivation pipeline, ``hub.ingest.pipeline``) books the difference with
``ledger.reconcile``, so a late or re-weighed scan recomputes a fee instead of doubling it, and a
replay books nothing.  Rules (O = origin site: the earliest receive, else the issuance record):

=========================== ==================================================================
source                      booked when / amount / lines
=========================== ==================================================================
fee:transit:<W>:<C>         center C has an arrival and a dispatch of W (the "weight only"
                            arrival gets its fee once the dispatch gives destination and shift).
                            Weight: the latest weighed arrival at C, else the parcel weight.
                            Destination: the dispatch's, else the parcel's.  Tariff in force at
                            the dispatch.  site:O pays site:C.
fee:courier:<W>             a receive with a courier: the courier pays site:O.
fee:delivery:<W>            a delivery scan at site X != O (the latest): site:O pays site:X.
fee:freight:<W>             freight collect (``extra.freight_collect_cents`` N) and a sign at X:
                            X collected N for O: site:X -N, site:O +N.
fee:freight-handling:<W>    its handling fee: site:O pays site:X.
fee:surcharge:<W>:<name>    a delivery-side surcharge of the tariff (entered with the waybill, or
                            by zone) with the delivery fee: site:O pays site:X.
fee:insurance:<W>           an insured parcel's declared value priced by the tariff's insurance,
                            from its first scan: site:O pays insurance:network.
fee:return:<W>              returned unpaid (a problem scan with ``extra.return`` at R != O): the
                            tariff's ``returns`` rate from R back to O: site:O pays site:R; and no
                            freight collect nor COD is booked (reversed if it was).
cod:collect:<W>             COD (``extra.cod_cents`` N) and a sign at X: X collected N owed to
                            O's sender: cod:O +N against site:X (COD through prepaid) or cash:X
                            (X remits the cash separately, see ``hub.cod``).
=========================== ==================================================================

The parcel weight is the earliest weighed scan's ``weight_g``, else the entered weight;
``extra.dims_cm`` ([l, w, h] in cm, the latest scan that has it), else the entered dimensions, gives
the volumetric weight.  An entered waybill (``hub.waybills``) also gives the origin (when no
receive was scanned), the destination, and the freight-collect and COD amounts the scans do not.  A fee whose inputs are missing
(no weight, no destination, no tariff in force, no origin) is not booked until they arrive.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from contract.clock import now_ms
from hub.business import accounts, ledger
from hub.business import tables as bm
from hub.business.context import Context, load_context
from hub.business.facts import resolve_all, resolved_events
from hub.business.quote import QuoteError, expected_lines, route
from hub.business.tariff import TariffBook, TariffError
from hub.scans.events import load_events
from hub.store.db import bulk_insert, delete_where_in, rows_where_in
from hub.waybills.records import load_entries

Entry = dict  # {"lines": {account: cents}, "purpose": str, "memo": str, "value_ms": int}
SOURCE_PREFIXES = ("fee:", "cod:collect:")


def _latest_extra(evs: list[dict], key: str):
    for e in reversed(evs):
        v = (e.get("extra") or {}).get(key)
        if v is not None:
            return v
    return None


def _cents(v) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else None


def _dims(v) -> list[int] | None:
    if isinstance(v, list) and len(v) == 3 and all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in v):
        return v
    return None


def compute(events: Iterable[Mapping], ctx: Context, book: TariffBook,
            cod_via_prepaid: Callable[[str], bool] = lambda site: True,
            entry: Mapping | None = None, resolved: tuple | None = None) -> dict[str, Entry]:
    """The entries one waybill's scans call for, keyed by ledger source; ``entry``: its entered
    state (``hub.waybills.records.entry_dict``), when it was entered; ``resolved``: its
    ``facts.resolved_events`` when the caller has them."""
    evs, dest = resolved_events(events, ctx, entry) if resolved is None else resolved
    if not evs:
        return {}
    wb = evs[0]["waybill"]
    entered = (entry or {}).get("fields") or {}
    receives = [e for e in evs if e["kind"] == "receive"]
    origin = receives[0]["site"] if receives else (entry or {}).get("origin_site") or ctx.issuance.site_of(wb)
    if not origin:
        return {}
    out: dict[str, Entry] = {}
    weighed = [e for e in evs if e.get("weight_g") is not None]
    parcel_g = weighed[0]["weight_g"] if weighed else entered.get("weight_g")
    dims = _dims(_latest_extra(evs, "dims_cm")) or _dims(entered.get("dims_cm"))
    region = ctx.regions.get

    def add(source, lines, purpose, memo, value_ms):
        lines = {a: c for a, c in lines.items() if c}
        if lines:
            out[source] = {"lines": lines, "purpose": purpose, "memo": memo, "value_ms": value_ms}

    def priced(fn, *args):
        try:
            return fn(*args)
        except TariffError:
            return None     # a weight the tariff cannot price: left unbooked (see ``unpriced``)

    # transit fees at centers
    for c in sorted({e["site"] for e in evs if e["site"] in ctx.centers}):
        arrivals = [e for e in evs if e["kind"] == "arrive" and e["site"] == c]
        dispatches = [e for e in evs if e["kind"] == "dispatch" and e["site"] == c]
        if not arrivals or not dispatches or c == origin:
            continue
        weights = [e["weight_g"] for e in arrivals if e.get("weight_g") is not None]
        weight = weights[-1] if weights else parcel_g
        d = dispatches[-1]
        to = d.get("dest_site") or dest
        tariff = book.at(d["event_ms"])
        if weight is None or not to or tariff is None:
            continue
        zone = priced(tariff.zone, region(origin), region(to))
        if zone is None:
            continue
        fee = priced(tariff.transit_fee, c, zone, tariff.chargeable_g(weight, dims), d.get("shift"))
        if fee:
            add(f"fee:transit:{wb}:{c}", {f"site:{origin}": -fee, f"site:{c}": fee}, "transit",
                f"transit {c} {zone} {weight} g shift {d.get('shift') or '-'} ({tariff.name})", d["event_ms"])

    # courier fee at receive
    if receives and receives[0].get("courier"):
        r = receives[0]
        tariff = book.at(r["event_ms"])
        if tariff is not None and parcel_g is not None:      # never weighed: unbooked until it is
            zone = priced(tariff.zone, region(origin), region(dest) if dest else None)
            fee = priced(tariff.fee, "courier", zone, tariff.chargeable_g(parcel_g, dims)) if zone else None
            if fee:
                add(f"fee:courier:{wb}", {f"courier:{r['courier']}": -fee, f"site:{origin}": fee}, "courier",
                    f"courier {r['courier']} ({tariff.name})", r["event_ms"])

    # delivery fee
    delivers = [e for e in evs if e["kind"] == "deliver"]
    if delivers and delivers[-1]["site"] != origin:
        d = delivers[-1]
        tariff = book.at(d["event_ms"])
        if tariff is not None and parcel_g is not None:
            zone = priced(tariff.zone, region(origin), region(d["site"]))
            fee = priced(tariff.fee, "delivery", zone, tariff.chargeable_g(parcel_g, dims)) if zone else None
            if fee:
                add(f"fee:delivery:{wb}", {f"site:{origin}": -fee, f"site:{d['site']}": fee}, "delivery",
                    f"delivery at {d['site']} ({tariff.name})", d["event_ms"])

    # delivery-side surcharges (entered, or by zone) with the delivery fee
    surcharge_names = entered.get("surcharges") or ()
    if delivers and delivers[-1]["site"] != origin:
        d = delivers[-1]
        tariff = book.at(d["event_ms"])
        zone = priced(tariff.zone, region(origin), region(d["site"])) if tariff else None
        for name, cents, at, label in (tariff.surcharges(surcharge_names, zone) if zone else ()):
            if at == "delivery" and cents:
                add(f"fee:surcharge:{wb}:{name}", {f"site:{origin}": -cents, f"site:{d['site']}": cents},
                    "surcharge", f"{label} at {d['site']} ({tariff.name})", d["event_ms"])

    # insurance of the declared value, from the first scan on
    declared = _cents(entered.get("declared_cents"))
    if entered.get("insured") and declared:
        tariff = book.at(evs[0]["event_ms"])
        fee = tariff.handling("insurance", declared) if tariff else None
        if fee:
            add(f"fee:insurance:{wb}", {f"site:{origin}": -fee, "insurance:network": fee}, "insurance",
                f"insurance of a declared {declared / 100:.2f} ({tariff.name})", evs[0]["event_ms"])

    # returned unpaid (退货款): nothing is collected, and the origin pays the return
    returned = next((e for e in evs if e["kind"] == "problem" and (e.get("extra") or {}).get("return")), None)
    if returned is not None and returned["site"] != origin:
        r = returned
        tariff = book.at(r["event_ms"])
        if tariff is not None and parcel_g is not None:
            zone = priced(tariff.zone, region(r["site"]), region(origin))
            fee = priced(tariff.fee, "returns", zone, tariff.chargeable_g(parcel_g, dims)) if zone else None
            if fee:
                add(f"fee:return:{wb}", {f"site:{origin}": -fee, f"site:{r['site']}": fee}, "return",
                    f"returned unpaid from {r['site']} ({tariff.name})", r["event_ms"])

    signs = [e for e in evs if e["kind"] == "sign"]
    if signs and returned is None:
        s = signs[0]
        x = s["site"]
        freight = _cents(_latest_extra(evs, "freight_collect_cents")) or _cents(entered.get("freight_collect_cents"))
        if freight and x != origin:
            add(f"fee:freight:{wb}", {f"site:{x}": -freight, f"site:{origin}": freight}, "freight-collect",
                f"freight collected at {x}", s["event_ms"])
            tariff = book.at(s["event_ms"])
            h = tariff.handling("freight_collect", freight) if tariff else None
            if h:
                add(f"fee:freight-handling:{wb}", {f"site:{origin}": -h, f"site:{x}": h}, "freight-handling",
                    f"handling of freight collect ({tariff.name})", s["event_ms"])
        cod = _cents(_latest_extra(evs, "cod_cents")) or _cents(entered.get("cod_cents"))
        if cod:
            payer = f"site:{x}" if cod_via_prepaid(x) else f"cash:{x}"
            add(f"cod:collect:{wb}", {payer: -cod, f"cod:{origin}": cod}, "cod-collect",
                f"COD collected at {x}", s["event_ms"])
    return out


def expected(events: Iterable[Mapping], ctx: Context, book: TariffBook, entry: Mapping | None,
             booked: set[str], now_ms: int, resolved: tuple | None = None) -> tuple[str, int] | None:
    """``(origin site, cents)``: what a parcel in flight will still cost its origin site — the
    fees of the rest of its route not booked yet (``booked``: its booked ledger sources), priced
    by the tariff in force now with the entered or first weight (``quote.expected_lines``).  None
    for a parcel signed, returned, or that cannot be priced (no weight, destination or tariff).
    ``resolved``: its ``facts.resolved_events`` when the caller has them."""
    evs, dest = resolved_events(events, ctx, entry) if resolved is None else resolved
    entered = (entry or {}).get("fields") or {}
    wb = evs[0]["waybill"] if evs else (entry or {}).get("waybill")
    receives = [e for e in evs if e["kind"] == "receive"]
    origin = receives[0]["site"] if receives else (entry or {}).get("origin_site") or (
        ctx.issuance.site_of(wb) if wb else None)
    if not origin or not dest or any(e["kind"] == "sign" for e in evs) or any(
            e["kind"] == "problem" and (e.get("extra") or {}).get("return") for e in evs):
        return None
    weighed = [e for e in evs if e.get("weight_g") is not None]
    weight = weighed[0]["weight_g"] if weighed else entered.get("weight_g")
    tariff = book.at(now_ms)
    if not weight or tariff is None:
        return None
    moves = [e for e in evs if e["kind"] in ("receive", "dispatch", "arrive", "deliver")]
    here = moves[-1]["site"] if moves else origin
    try:
        rest = route(ctx, here, dest) if here != dest else [dest]
    except QuoteError:
        return None
    path = rest if here == origin else [origin] + rest
    lines = expected_lines(ctx, tariff, origin, dest, weight, booked, wb, path=path,
                           dims_cm=_dims(_latest_extra(evs, "dims_cm")) or _dims(entered.get("dims_cm")),
                           surcharges=[n for n in entered.get("surcharges") or () if n in
                                       (tariff.doc.get("surcharges") or {})],
                           freight_collect_cents=_cents(entered.get("freight_collect_cents")),
                           declared_cents=_cents(entered.get("declared_cents")), insured=bool(entered.get("insured")))
    return origin, sum(x["cents"] for x in lines)


def refresh(waybills: Iterable[str], ctx: Context | None = None,
            events: dict[str, list[dict]] | None = None, entries: Mapping[str, dict] | None = None,
            resolved: Mapping[str, tuple] | None = None) -> set[str]:
    """Book the fees of ``waybills`` as their scans now say (``resolved``: their
    ``facts.resolve_all`` when the caller has it).  Returns the ledger accounts whose balance
    changed (the pipeline's next step updates the blocks of those sites).  Set-based: the booked
    sources of 500 waybills are read in one query and the differences booked with one
    ``ledger.reconcile_many``."""
    wbs = sorted(set(waybills))
    if not wbs:
        return set()
    ctx = ctx or load_context()
    book = TariffBook.load()
    modes = {a.site: a.cod_via_prepaid for a in bm.Account.select(bm.Account.site, bm.Account.cod_via_prepaid)}
    events = load_events(wbs) if events is None else events
    entries = load_entries(wbs) if entries is None else entries
    resolved = resolve_all(wbs, ctx, events, entries) if resolved is None else resolved
    via_prepaid = lambda site: modes.get(site, True)  # noqa: E731
    touched: set[str] = set()
    for i in range(0, len(wbs), 500):
        chunk = wbs[i:i + 500]
        want: dict[str, tuple[str, Entry]] = {}
        for wb in chunk:
            for src, entry in compute(events.get(wb, []), ctx, book, via_prepaid, entries.get(wb),
                                      resolved=resolved.get(wb)).items():
                want[src] = (wb, entry)
        have = {(src, wb) for src, wb in rows_where_in(
            f'SELECT DISTINCT "source", "waybill" FROM "{bm.JournalEntry._meta.table_name}" WHERE "waybill" IN ({{in}})',
            chunk) if src.startswith(SOURCE_PREFIXES)}
        items = []
        for src, wb in sorted(have | {(s, w) for s, (w, _) in want.items()}):
            entry = want.get(src, (wb, None))[1]
            if entry is None:
                items.append({"source": src, "lines": None, "purpose": "fee", "memo": "inputs gone", "waybill": wb})
            else:
                items.append({"source": src, "lines": entry["lines"], "purpose": entry["purpose"],
                              "memo": entry["memo"], "waybill": wb, "value_ms": entry["value_ms"]})
        touched |= ledger.reconcile_many(items)
        touched |= _refresh_expected(chunk, events, entries, ctx, book, want, resolved)
    return touched


def _refresh_expected(chunk: list[str], events, entries, ctx: Context, book: TariffBook,
                      want: dict[str, tuple[str, Entry]], resolved: Mapping[str, tuple] | None = None) -> set[str]:
    """Rewrite the ``ExpectedFee`` rows of ``chunk``; returns ``site:<code>`` of the sites whose
    expected fees changed (their blocks follow)."""
    X = bm.ExpectedFee
    before = {wb: (site, cents) for wb, site, cents in rows_where_in(
        f'SELECT "waybill", "site", "cents" FROM "{X._meta.table_name}" WHERE "waybill" IN ({{in}})', chunk)}
    booked: dict[str, set[str]] = {}
    for src, (wb, _) in want.items():
        booked.setdefault(wb, set()).add(src)
    now = now_ms()
    rows = {}
    for wb in chunk:
        if wb not in events and wb not in entries:
            continue
        got = expected(events.get(wb, []), ctx, book, entries.get(wb), booked.get(wb, set()), now,
                       resolved=(resolved or {}).get(wb))
        if got and got[1] > 0:
            rows[wb] = got
    if rows == before:
        return set()
    changed = sorted(wb for wb in set(rows) | set(before) if rows.get(wb) != before.get(wb))
    delete_where_in(X, "waybill", changed)
    bulk_insert(X, [{"waybill": wb, "site": rows[wb][0], "cents": rows[wb][1]} for wb in changed if wb in rows])
    return {f"site:{v[0]}" for wb in set(rows) | set(before) if rows.get(wb) != before.get(wb)
            for v in (rows.get(wb), before.get(wb)) if v}


def sites_of(accounts_touched: Iterable[str]) -> set[str]:
    """The site codes among ledger account names (``site:<code>``)."""
    return {a.split(":", 1)[1] for a in accounts_touched if a.startswith("site:")}


def reprice(since_ms: int | None = None) -> int:
    """Refresh fees of every parcel with a scan at or after ``since_ms`` (after loading a tariff)."""
    P = bm.ParcelFact
    q = P.select(P.waybill)
    if since_ms is not None:
        q = q.where(P.last_ms >= since_ms)
    wbs = [p.waybill for p in q]
    touched: set[str] = set()
    for i in range(0, len(wbs), 2000):
        touched |= refresh(wbs[i:i + 2000])
    accounts.update_blocks(sites_of(touched))
    return len(wbs)


def waybill_fees(waybill: str) -> list[dict]:
    """The fees currently booked for ``waybill``: ``[{"source", "purpose", "lines"}]``."""
    E = bm.JournalEntry
    out = []
    for (src,) in E.select(E.source).where(E.waybill == waybill).distinct().order_by(E.source).tuples():
        lines = ledger.active_lines(src)
        if lines:
            out.append({"source": src, "lines": lines})
    return out
