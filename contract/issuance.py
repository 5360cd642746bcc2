"""Which site a waybill number was issued to (docs/network.md, ``issuance``).

Ranges are inclusive ``[first, last]`` of equal-length strings, compared as strings; a number
matches only ranges of its own length (numbers carry their check character, as printed).  When
ranges overlap, the one that starts latest wins (a block re-issued out of a larger one; ties: the
one that ends latest, then the highest site code).
"""
from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping

from contract.errors import ContractError


class IssuanceIndex:
    """Binary search over the issued ranges."""

    def __init__(self, ranges: Iterable[Mapping]):
        by_len: dict[int, list[tuple[str, str, str]]] = {}
        for r in ranges:
            first, last = str(r["first"]), str(r["last"])
            if len(first) != len(last) or first > last:
                raise ContractError(f"bad issuance range {first}..{last}")
            by_len.setdefault(len(first), []).append((first, last, str(r["site"])))
        self._firsts: dict[int, list[str]] = {}
        self._ranges: dict[int, list[tuple[str, str, str]]] = {}
        self._reach: dict[int, list[str]] = {}   # highest ``last`` among ranges[0..i]
        for n, rs in by_len.items():
            rs.sort()
            self._ranges[n] = rs
            self._firsts[n] = [r[0] for r in rs]
            reach, top = [], ""
            for r in rs:
                top = max(top, r[1])
                reach.append(top)
            self._reach[n] = reach

    @classmethod
    def from_config(cls, cfg: Mapping) -> "IssuanceIndex":
        """From a station configuration slice or a network dict (its ``issuance`` list)."""
        return cls(cfg.get("issuance", []))

    def site_of(self, waybill: str) -> str | None:
        """The site ``waybill`` was issued to, or None."""
        n = len(waybill)
        firsts = self._firsts.get(n)
        if not firsts:
            return None
        i = bisect.bisect_right(firsts, waybill) - 1
        while i >= 0 and self._reach[n][i] >= waybill:
            first, last, site = self._ranges[n][i]
            if first <= waybill <= last:
                return site
            i -= 1
        return None
