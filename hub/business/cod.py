"""Collect on delivery (docs/hub-business.md, "COD"), with and without prepaid settlement.

The flow of one COD parcel of N cents (``extra.cod_cents`` on its scans), origin site O,
delivering site X:

1. **collected** — X's sign scan books ``cod:collect:<W>`` (``hub.fees``): ``cod:O`` +N (O now owes
   its sender N) against ``site:X`` -N when X settles COD through its prepaid account, or against
   ``cash:X`` -N when it does not (X holds the cash and must remit it).
2. **remitted by X** (only without prepaid settlement) — ``remit_cash(X, N, ref)`` books X's cash
   transfer: ``cash:X`` +N against ``external:X`` -N.
3. **paid to the sender** — ``pay_sender(W, ref)`` books ``cod:O`` -N, ``external:sender`` +(N - fee),
   ``site:O`` +fee, the handling fee from the tariff in force at the sign (``cod`` section).

Every step is idempotent by its source (``cod:pay:<W>``, ``cod:cash:<ref>``).
"""
from __future__ import annotations

from hub.errors import HubError
from hub.business import tables as bm
from hub.business import ledger
from hub.business.tariff import TariffBook


class CodError(HubError, ValueError):
    """A COD operation that cannot be done (not collected yet, bad amount…)."""


def _collected(waybill: str) -> tuple[str, int, int] | None:
    """(origin site, amount, sign ms) of a collected COD parcel, else None."""
    lines = ledger.active_lines(f"cod:collect:{waybill}")
    cod = [(a, c) for a, c in lines.items() if a.startswith("cod:")]
    if not cod:
        return None
    e = (bm.JournalEntry.select().where(bm.JournalEntry.source == f"cod:collect:{waybill}")
         .order_by(bm.JournalEntry.rev.desc()).first())
    return cod[0][0].split(":", 1)[1], cod[0][1], e.value_ms


def status(waybill: str) -> dict:
    """``{"waybill", "state": none|collected|paid, "origin_site", "amount_cents", "fee_cents"}``."""
    c = _collected(waybill)
    paid = ledger.active_lines(f"cod:pay:{waybill}")
    if c is None:
        return {"waybill": waybill, "state": "none", "origin_site": None, "amount_cents": 0, "fee_cents": 0}
    origin, amount, _ = c
    return {"waybill": waybill, "state": "paid" if paid else "collected", "origin_site": origin,
            "amount_cents": amount, "fee_cents": paid.get(f"site:{origin}", 0)}


def payable(site: str) -> list[dict]:
    """COD parcels of origin ``site`` collected but not yet paid to their senders."""
    E = bm.JournalEntry
    wbs = [w for (w,) in E.select(E.waybill).where(E.source.startswith("cod:collect:")).distinct().tuples()]
    out = []
    for w in sorted(wbs):
        s = status(w)
        if s["state"] == "collected" and s["origin_site"] == site:
            out.append(s)
    return out


def pay_sender(waybill: str, sender: str = "sender") -> bool:
    """Pay a collected COD amount to the sender, keeping the handling fee.  False on a replay."""
    c = _collected(waybill)
    if c is None:
        raise CodError(f"{waybill}: no COD collected (not signed, or no COD amount)")
    origin, amount, sign_ms = c
    tariff = TariffBook.load().at(sign_ms)
    fee = min(tariff.handling("cod", amount) or 0, amount) if tariff else 0
    e = ledger.post(f"cod:pay:{waybill}", {f"cod:{origin}": -amount, f"external:{sender}": amount - fee,
                                           f"site:{origin}": fee},
                    purpose="cod-pay", memo=f"COD paid to {sender}, fee {fee / 100:.2f} yuan", waybill=waybill)
    return e is not None


def cash_due(site: str) -> int:
    """COD cash ``site`` holds and still has to remit (cents, >= 0)."""
    return -ledger.balance(f"cash:{site}")


def remit_cash(site: str, cents: int, ref: str) -> bool:
    """Record ``site``'s remittance of collected COD cash (no prepaid settlement)."""
    if isinstance(cents, bool) or not isinstance(cents, int) or cents <= 0:
        raise CodError("amount must be positive")
    source = f"cod:cash:{ref}"
    if not ledger.active_lines(source) and cents > cash_due(site):
        raise CodError(f"site {site} owes {cash_due(site) / 100:.2f} yuan of COD cash, not {cents / 100:.2f} yuan")
    e = ledger.post(source, {f"cash:{site}": cents, f"external:{site}": -cents},
                    purpose="cod-remit", memo=f"COD cash remitted by {site}")
    return e is not None
