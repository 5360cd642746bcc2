"""Who is responsible for an order, by the flow's written rules: the first rule whose kinds,
subkinds and sources match, and of its ``to`` targets the first that names somebody.

Targets: ``holder`` (the site where the parcel is now: ``scanhub track``'s site), ``route`` (the
site it is on its way to: the dispatch's next stop), ``origin`` (the entered waybill's origin
site, else the site of its first scan), ``destination`` (the entered waybill's destination),
``site:CODE``, ``department:NAME``."""
from __future__ import annotations

from hub.business.tracking import track
from hub.crm.workorders.flow import Flow


def _site_of(target: str, t: dict | None) -> str | None:
    if t is None:
        return None
    entered = t.get("entered") or {}
    if target == "holder":
        return t.get("site")
    if target == "route":
        return t.get("next_site") if t.get("kind") == "dispatch" else None
    if target == "origin":
        return entered.get("origin_site") or next((e["site"] for e in t.get("events") or []), None)
    if target == "destination":
        return entered.get("dest_site") or (entered.get("fields") or {}).get("dest_site")
    return None


def responsible(flow: Flow, kind: str, subkind: str = "", source: str = "agent", waybill: str = "") -> tuple[str, str]:
    """``(assignee, why)``: ``site:CODE`` or ``department:NAME`` and the rule that chose it."""
    t = track(waybill) if waybill else None
    for r in flow.rules:
        if not r.matches(kind, subkind, source):
            continue
        for target in r.to:
            if target.startswith(("site:", "department:")):
                return target, f"rule at line {r.line}: {target}"
            site = _site_of(target, t)
            if site:
                return f"site:{site}", f"rule at line {r.line}: the parcel's {target} site"
    raise AssertionError("the flow checker requires a last-resort rule")
