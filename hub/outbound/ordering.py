"""Outbound ordering (the tobacco seed): a retailer's order taken on the call, checked against the
campaign's review rules before it is recorded.

Rules in the campaign file::

    order_rules:
      supply: {cig-a: 500, cig-b: 80}              # what there is of each item this round
      limits:                                      # per retailer tier (the record's tier field), per item
        default: {cig-a: [1, 20], cig-b: [0, 5]}   # [lower, upper]
        gold: {cig-a: [1, 40]}

``review(order, rules, tier, taken)`` returns every problem (empty: the order may be recorded);
``taken`` is what earlier orders of this round took of each item.
"""
from __future__ import annotations


def check_rules(raw) -> list[str]:
    problems: list[str] = []
    if not isinstance(raw, dict) or set(raw) - {"supply", "limits"}:
        return ["order_rules takes supply (item -> quantity) and limits (tier -> item -> [lower, upper])"]
    for item, q in (raw.get("supply") or {}).items():
        if isinstance(q, bool) or not isinstance(q, int) or q < 0:
            problems.append(f"supply: {item}: must be a whole number >= 0, not {q!r}")
    for tier, items in (raw.get("limits") or {}).items():
        if not isinstance(items, dict):
            problems.append(f"limits: {tier}: must map items to [lower, upper]")
            continue
        for item, lim in items.items():
            if (not isinstance(lim, list) or len(lim) != 2 or not all(isinstance(x, int) and not isinstance(x, bool)
                                                                       for x in lim) or not 0 <= lim[0] <= lim[1]):
                problems.append(f"limits: {tier}: {item}: must be [lower, upper], whole numbers, lower <= upper")
    return problems


def review(order: dict[str, int], rules: dict, tier: str = "default", taken: dict[str, int] | None = None) -> list[str]:
    taken = taken or {}
    supply = rules.get("supply") or {}
    limits = {**(rules.get("limits") or {}).get("default", {}), **(rules.get("limits") or {}).get(tier, {})}
    problems = []
    for item, q in sorted(order.items()):
        if isinstance(q, bool) or not isinstance(q, int) or q < 0:
            problems.append(f"{item}: quantity must be a whole number >= 0, not {q!r}")
            continue
        if supply and item not in supply:
            problems.append(f"{item}: not supplied this round")
            continue
        if item in supply and taken.get(item, 0) + q > supply[item]:
            problems.append(f"{item}: {q} asked, {max(0, supply[item] - taken.get(item, 0))} left of the supply")
        if item in limits:
            lo, hi = limits[item]
            if not lo <= q <= hi:
                problems.append(f"{item}: {q} is outside the retailer's limits {lo}-{hi}")
    for item, (lo, _) in sorted(limits.items()):
        if lo > 0 and item not in order:
            problems.append(f"{item}: at least {lo} must be ordered")
    return problems
