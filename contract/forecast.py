"""Pre-dispatch comparison (预报, docs/hub-business.md): what a site holds against what was dispatched.

``compare`` is pure, so a station runs it offline against the waybills of the bag or run being
dispatch-scanned; the hub publishes each site's list (``hub.business.forecast``).
"""
from __future__ import annotations

from collections.abc import Iterable


def _unique(items: Iterable[str]) -> list[str]:
    seen, out = set(), []
    for w in items:
        w = str(w).strip()
        if w and w not in seen:
            seen.add(w)
            out.append(w)
    return out


def compare(forecast_waybills: Iterable[str], dispatched_waybills: Iterable[str]) -> dict[str, list[str]]:
    """``{"missing": held but not dispatch-scanned, "extra": dispatch-scanned but not held}``.

    Both lists keep the order of their input, without duplicates or blanks.
    """
    forecast = _unique(forecast_waybills)
    dispatched = _unique(dispatched_waybills)
    fset, dset = set(forecast), set(dispatched)
    return {"missing": [w for w in forecast if w not in dset], "extra": [w for w in dispatched if w not in fset]}
