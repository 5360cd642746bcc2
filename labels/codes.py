"""The codes on a site's control-code sheet, taken from a configuration slice.

Every printed text is a control barcode exactly as the station's capture reads it (the table
in docs/operations.md)::

    kinds        %KRECEIVE … %KHOLD, %KBAG_BUILD … %KUNLOAD, and %X (clear the context but kind and operator)
    operators    %P<staff>   every staff member of the site
    couriers     %C<staff>   the site's staff with the role "courier"
    shifts       %H<shift>   line-haul shifts leaving the site
    next-sites   %S<site>    the site's next stops (next-stop rules, shifts' destinations, its
                             center, the sites it is the center of)
    destinations %D<site>    destinations of the site's next-stop rules

A second sheet lists a site's open pickup tasks (``pickup_section``): ``%U<task>`` for each, the
code a courier scans before the receive scans that close it (``contract.pickup``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from contract.errors import ContractError
from contract.scan import KINDS

SECTIONS = ("kinds", "operators", "couriers", "shifts", "next-sites", "destinations")


class LabelError(ContractError, ValueError):
    """What cannot be printed (a text Code 128 cannot carry, an unknown section)."""


@dataclass(frozen=True)
class Code:
    text: str          # what the barcode carries, exactly what the scanner reads
    name: str          # printed beside it
    note: str = ""     # a second, smaller line beside it


@dataclass
class Section:
    key: str
    title: str
    codes: list[Code] = field(default_factory=list)


def check_code128(text: str) -> str:
    """``text`` if Code 128 can carry it (printable ASCII, 1 to 40 characters); else LabelError."""
    if not text or len(text) > 40:
        raise LabelError(f"cannot print {text!r} as Code 128: 1 to 40 characters")
    bad = [c for c in text if not " " <= c <= "~"]
    if bad:
        raise LabelError(f"cannot print {text!r} as Code 128: {bad[0]!r} is not printable ASCII")
    return text


def _site_name(sites: dict, code: str) -> str:
    return sites.get(code, {}).get("name") or ""


def control_sections(cfg: dict, only: tuple[str, ...] = SECTIONS) -> list[Section]:
    """The sections of ``cfg``'s site (only those named in ``only``, in the order of SECTIONS);
    empty sections are left out."""
    unknown = [s for s in only if s not in SECTIONS]
    if unknown:
        raise LabelError(f"unknown section {unknown[0]!r} (choose from {', '.join(SECTIONS)})")
    site = str(cfg.get("site") or "")
    sites = {s["code"]: s for s in cfg.get("sites", [])}
    staff = [p for p in cfg.get("staff", []) if not site or p.get("site", site) == site]
    shifts = [s for s in cfg.get("shifts", []) if s.get("from") == site]
    rules = [r for r in cfg.get("next_stop", []) if r.get("site", site) == site]
    nxt = {r["next"] for r in rules} | {s["to"] for s in shifts}
    me = sites.get(site, {})
    if me.get("center"):
        nxt.add(me["center"])
    nxt |= {c for c, s in sites.items() if s.get("center") == site}
    nxt.discard(site)
    dests = sorted({r["dest"] for r in rules})
    out = []
    for key in SECTIONS:
        if key not in only:
            continue
        if key == "kinds":
            codes = [Code(f"%K{k.upper()}", k, f"scan kind {i}") for i, k in enumerate(KINDS, 1)]
            codes.append(Code("%X", "clear", "clears everything but kind and operator"))
            sec = Section(key, "Scan kinds", codes)
        elif key == "operators":
            sec = Section(key, "Operators", [Code(f"%P{p['code']}", p.get("name") or "", p.get("role") or "")
                                             for p in staff])
        elif key == "couriers":
            sec = Section(key, "Couriers", [Code(f"%C{p['code']}", p.get("name") or "", "courier")
                                            for p in staff if p.get("role") == "courier"])
        elif key == "shifts":
            sec = Section(key, "Line-haul shifts", [
                Code(f"%H{s['code']}", f"to {s['to']} {_site_name(sites, s['to'])}".rstrip(),
                     f"departs {s.get('depart', '')}".rstrip()) for s in shifts])
        elif key == "next-sites":
            sec = Section(key, "Next / previous sites", [
                Code(f"%S{c}", _site_name(sites, c), sites.get(c, {}).get("kind", "")) for c in sorted(nxt)])
        else:
            sec = Section(key, "Destinations", [
                Code(f"%D{c}", _site_name(sites, c), sites.get(c, {}).get("kind", "")) for c in dests])
        for c in sec.codes:
            check_code128(c.text)
        if sec.codes:
            out.append(sec)
    return out


def pickup_section(tasks: list[dict], when) -> Section:
    """The open pickup tasks (``contract.pickup`` task dicts) as ``%U<code>`` codes, each named
    by its code and sender, with ``when(task)`` (its window, as the caller prints times), its
    parcels and address beside it."""
    codes = []
    for t in tasks:
        who = " ".join(x for x in (t.get("sender"), t.get("phone")) if x)
        codes.append(Code(check_code128(f"%U{t['code']}"), f"{t['code']} {who}".strip(),
                          f"{when(t)}, {t['parcels']} pc: {t['address']}"[:120]))
    return Section("pickups", "Pickup tasks: %KRECEIVE, the task's code, then each parcel's label", codes)
