"""Prices before the scans: a quote for a customer, and the fees a parcel in flight will still cost.

``quote`` prices a parcel from origin to destination under one tariff: the route through the
centers (``contract.routing``, the same next stops a dispatch would get), then every fee the
parcel incurs on it, each as a line of the breakdown with the ledger source it will be booked
under (docs/hub-business.md, "Quotes").  ``fees.compute`` uses the same lines as the *expected*
fees of a parcel in flight (the forward-looking prepaid balance).
"""
from __future__ import annotations

from collections.abc import Iterable

from hub.business.context import Context
from hub.business.tariff import Tariff, TariffError
from hub.errors import HubError

MAX_HOPS = 16


class QuoteError(HubError):
    """A quote that cannot be made (unknown site, no route, no tariff in force)."""


def route(ctx: Context, origin: str, dest: str) -> list[str]:
    """The sites a parcel passes from ``origin`` to ``dest`` (both included), by the next stops
    a dispatch without a shift would get; ``QuoteError`` when there is no way."""
    path = [origin]
    while path[-1] != dest:
        nxt = ctx.routing.resolve(path[-1], dest)
        if nxt is None or nxt in path or len(path) > MAX_HOPS:
            raise QuoteError(f"no route from {origin} to {dest} in the next-stop table or the line-haul graph")
        path.append(nxt)
    return path


def _line(fee: str, source: str, where: str, cents: int, note: str, payer: str, payee: str) -> dict:
    return {"fee": fee, "source": source, "where": where, "cents": cents, "note": note,
            "payer": payer, "payee": payee}


def quote(ctx: Context, tariff: Tariff, origin: str, dest: str, weight_g: int, *,
          dims_cm: list[int] | None = None, cod_cents: int | None = None,
          freight_collect_cents: int | None = None, declared_cents: int | None = None,
          insured: bool = False, surcharges: Iterable[str] = (), waybill: str = "W",
          path: list[str] | None = None) -> dict:
    """The price of one parcel and its breakdown: ``{"origin", "dest", "zone", "route",
    "weight_g", "volumetric_g", "chargeable_g", "lines": [{"fee", "source", "where", "cents",
    "note", "payer", "payee"}], "total_cents", "tariff"}``.  ``path``: the route when the caller
    knows it.  Raises ``QuoteError`` (or ``TariffError``) with the reason."""
    for code in (origin, dest):
        if code not in ctx.regions:
            raise QuoteError(f"unknown site {code}")
    unknown = tariff.unknown_surcharges(surcharges)
    if unknown:
        raise QuoteError(f"tariff {tariff.name} has no surcharge {unknown[0]!r} "
                         f"(it has: {', '.join(sorted(tariff.doc.get('surcharges') or {})) or 'none'})")
    path = path or route(ctx, origin, dest)
    zone = tariff.zone(ctx.regions.get(origin), ctx.regions.get(dest))
    chargeable = tariff.chargeable_g(weight_g, dims_cm)
    volumetric = tariff.chargeable_g(0, dims_cm) if dims_cm else None
    o = f"site:{origin}"
    lines = []
    fee = tariff.fee("courier", zone, chargeable)
    if fee:
        lines.append(_line("courier", f"fee:courier:{waybill}", origin, fee, f"pickup at {origin}",
                           "courier", o))
    for c in path[1:-1]:
        if c in ctx.centers:
            fee = tariff.transit_fee(c, zone, chargeable)
            if fee:
                lines.append(_line("transit", f"fee:transit:{waybill}:{c}", c, fee, f"transit at center {c}",
                                   o, f"site:{c}"))
    if dest != origin:
        fee = tariff.fee("delivery", zone, chargeable)
        if fee:
            lines.append(_line("delivery", f"fee:delivery:{waybill}", dest, fee, f"delivery at {dest}",
                               o, f"site:{dest}"))
    for name, cents, at, label in tariff.surcharges(surcharges, zone):
        if at == "origin":
            lines.append(_line("surcharge", "", origin, cents, label, "sender", o))
        else:
            lines.append(_line("surcharge", f"fee:surcharge:{waybill}:{name}", dest, cents, label,
                               o, f"site:{dest}"))
    if insured and declared_cents and tariff.doc.get("insurance"):
        fee = tariff.handling("insurance", declared_cents)
        lines.append(_line("insurance", f"fee:insurance:{waybill}", origin, fee,
                           f"insurance of a declared {declared_cents / 100:.2f}", o, "insurance:network"))
    if freight_collect_cents:
        fee = tariff.handling("freight_collect", freight_collect_cents)
        if fee:
            lines.append(_line("freight-handling", f"fee:freight-handling:{waybill}", dest, fee,
                               "handling of freight collect", o, f"site:{dest}"))
    if cod_cents:
        fee = tariff.handling("cod", cod_cents)
        if fee:
            lines.append(_line("cod-handling", "", dest, fee, f"handling of COD {cod_cents / 100:.2f}",
                               "sender", o))
    return {"origin": origin, "dest": dest, "zone": zone, "route": path, "weight_g": weight_g,
            "volumetric_g": volumetric, "chargeable_g": chargeable, "lines": lines,
            "total_cents": sum(x["cents"] for x in lines), "tariff": tariff.name}


def expected_lines(ctx: Context, tariff: Tariff, origin: str, dest: str, weight_g: int, booked: set[str],
                   waybill: str, **kw) -> list[dict]:
    """The lines of ``quote`` the origin site will still pay: not booked yet (``booked``: the
    ledger sources the scans have booked).  Empty when no price can be made."""
    try:
        q = quote(ctx, tariff, origin, dest, weight_g, waybill=waybill, **kw)
    except (QuoteError, TariffError):
        return []
    return [x for x in q["lines"] if x["payer"] == f"site:{origin}" and x["source"] not in booked]
