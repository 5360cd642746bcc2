"""The network file: basic data an admin loads with ``scanhub hub import FILE``.

A YAML document (format in ``docs/network.md``, sample in ``sim/networks/sample.yaml``)::

    network: sample
    timezone: "+08:00"        # the network's UTC offset: report windows, printed times (default +08:00)
    waybill_rules: [{name: zt14, pattern: "^7[0-9]{13}$", check: mod10-31}]
    sites:     [{code: "900", name: Hangzhou Center, kind: center}, {code: "100", name: ..., center: "900"}]
    stations:  [{id: st-100-1, site: "100"}]
    staff:     [{code: "1001", name: Li Lei, site: "100", role: courier}]
    gun_users: [{login: "1001", staff: "1001", pin: "1234", kinds: [receive, dispatch]}]
    shifts:    [{code: A1, from: "900", to: "901", depart: "08:00", transit_min: 240}]
    next_stop: [{site: "100", dest: "200", shift: A1, next: "900"}]
    issuance:  [{site: "100", first: "70000000000000", last: "70000000999999"}]
    reasons:   [{code: A1, name: address wrong, kinds: [problem]}, {code: H1, name: held for customs, kinds: [hold]}]

``load_network`` checks everything (references, duplicates, formats) and raises ``NetworkError``
listing every problem with its place, before anything is written.  ``import_network`` replaces the
basic data in one transaction: a failed import leaves the store as it was.
"""
from __future__ import annotations

import hashlib
import os
import re

import yaml

from contract.clock import ZoneError, parse_utc_offset
from contract.config import hash_pin
from contract.errors import RuleError
from contract.scan import KINDS as SCAN_KINDS
from contract.scan import CODE_LEN, SHIFT_LEN, SITE_LEN, STAFF_LEN
from contract.waybill import WaybillRule
from hub.errors import HubError
from hub.network.credentials import HUB_USER

DEFAULT_TZ_OFFSET_MIN = 480      # China standard time, when the file names no zone
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


class NetworkError(HubError, ValueError):
    """The network file is malformed; ``problems`` lists each issue."""

    def __init__(self, source: str, problems: list[str]):
        self.problems = problems
        more = f" (+{len(problems) - 20} more)" if len(problems) > 20 else ""
        super().__init__(f"{source}: {len(problems)} problem(s):\n  " + "\n  ".join(problems[:20]) + more)


def _s(v) -> str:
    return "" if v is None else str(v).strip()


def load_network(path: str) -> dict:
    """Read and check a network file; returns the normalised dict (codes as strings)."""
    if not os.path.exists(path):
        raise NetworkError(path, ["file not found"])
    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise NetworkError(path, [f"not valid YAML: {e}"]) from e
    except UnicodeDecodeError as e:
        raise NetworkError(path, [f"not UTF-8 text: {e}"]) from e
    return check_network(raw, path)


def check_network(raw, source: str = "network") -> dict:
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise NetworkError(source, ["top level must be a mapping with sites, staff, … lists"])
    known = {"network", "timezone", "waybill_rules", "sites", "stations", "staff", "gun_users", "shifts",
             "next_stop", "issuance", "reasons"}
    for key in sorted(set(raw) - known):
        problems.append(f"unknown section {key!r} (known: {', '.join(sorted(known))})")

    def items(section):
        v = raw.get(section) or []
        if not isinstance(v, list):
            problems.append(f"{section}: must be a list")
            return []
        out = []
        for i, item in enumerate(v):
            if not isinstance(item, dict):
                problems.append(f"{section}[{i}]: must be a mapping, got {item!r}")
            else:
                out.append((i, item))
        return out

    def fits(where, what, value, limit):
        """Codes go into every scan: longer than the scan contract allows, no scan could be sent."""
        if len(value) > limit:
            shown = repr(value) if len(value) <= 40 else repr(value[:40]) + "…"
            problems.append(f"{where}: {what} {shown} is longer than {limit} characters")

    def need(section, i, item, *keys):
        ok = True
        for k in keys:
            if _s(item.get(k)) == "":
                problems.append(f"{section}[{i}]: missing {k}")
                ok = False
        return ok

    name = raw.get("network")
    if name is not None and (isinstance(name, bool) or not isinstance(name, (str, int))):
        problems.append(f"network: the network's name must be text, not {type(name).__name__} {name!r}")
        name = None
    tz = raw.get("timezone")
    tz_offset_min = DEFAULT_TZ_OFFSET_MIN
    if isinstance(tz, int) and not isinstance(tz, bool) and (tz == 0 or 60 <= abs(tz) <= 14 * 60):
        tz_offset_min = tz      # YAML reads an unquoted +08:00 as the base-60 number 480: minutes
    elif tz is not None:
        try:
            tz_offset_min = parse_utc_offset(tz)
        except ZoneError:
            problems.append(f"timezone: {tz!r} is not a UTC offset like +08:00, -03:30 or UTC")
    net = {"network": _s(name) or "network", "tz_offset_min": tz_offset_min, "waybill_rules": [], "sites": [],
           "stations": [], "staff": [], "gun_users": [], "shifts": [], "next_stop": [], "issuance": []}

    for i, r in items("waybill_rules"):
        try:
            net["waybill_rules"].append(WaybillRule.from_dict(r).to_dict())
        except RuleError as e:
            problems.append(f"waybill_rules[{i}]: {e}")

    sites: dict[str, dict] = {}
    for i, s in items("sites"):
        if not need("sites", i, s, "code", "name"):
            continue
        code, kind = _s(s["code"]), _s(s.get("kind")) or "site"
        fits(f"sites[{i}]", "code", code, SITE_LEN)
        if kind not in ("site", "center"):
            problems.append(f"sites[{i}] {code}: kind must be site or center, not {kind!r}")
        if code in sites:
            problems.append(f"sites[{i}]: duplicate code {code}")
        area = _s(s.get("area_code")) or None
        if area is not None and not re.fullmatch(r"0[1-9][0-9]{1,2}", area):
            problems.append(f"sites[{i}] {code}: area_code {area!r} is not a telephone area code like 0571 "
                            "(quote it in YAML: \"0571\")")
        sites[code] = {"code": code, "name": _s(s["name"]), "kind": kind,
                       "center": _s(s.get("center")) or None, "province": _s(s.get("province")) or None,
                       "city": _s(s.get("city")) or None, "district": _s(s.get("district")) or None,
                       "area_code": area}
    for code, s in sites.items():
        if s["center"] and s["center"] not in sites:
            problems.append(f"site {code}: parent center {s['center']} is not a known site")
        elif s["center"] and sites[s["center"]]["kind"] != "center":
            problems.append(f"site {code}: parent {s['center']} is not a center")
    net["sites"] = list(sites.values())

    def site_ref(where, code):
        if code not in sites:
            problems.append(f"{where}: unknown site {code}")

    seen = set()
    for i, st in items("stations"):
        if need("stations", i, st, "id", "site"):
            sid = _s(st["id"])
            if sid.startswith(HUB_USER):
                problems.append(f"stations[{i}]: id {sid!r} is reserved for the hub itself (ids starting {HUB_USER!r})")
            if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", sid):
                problems.append(f"stations[{i}]: id {sid!r} may use only letters, digits, _ . - (it is an MQTT topic level)")
            if sid in seen:
                problems.append(f"stations[{i}]: duplicate id {sid}")
            seen.add(sid)
            site_ref(f"stations[{i}]", _s(st["site"]))
            net["stations"].append({"id": sid, "site": _s(st["site"]), "name": _s(st.get("name")) or None})

    staff = {}
    for i, p in items("staff"):
        if need("staff", i, p, "code", "name", "site"):
            code = _s(p["code"])
            fits(f"staff[{i}]", "code", code, STAFF_LEN)
            if code in staff:
                problems.append(f"staff[{i}]: duplicate code {code}")
            site_ref(f"staff[{i}] {code}", _s(p["site"]))
            staff[code] = {"code": code, "name": _s(p["name"]), "site": _s(p["site"]),
                           "role": _s(p.get("role")) or "courier", "phone": _s(p.get("phone")) or None}
    net["staff"] = list(staff.values())

    logins = set()
    for i, u in items("gun_users"):
        if need("gun_users", i, u, "login", "staff", "pin"):
            login, who = _s(u["login"]), _s(u["staff"])
            if login in logins:
                problems.append(f"gun_users[{i}]: duplicate login {login}")
            logins.add(login)
            if who not in staff:
                problems.append(f"gun_users[{i}] {login}: unknown staff {who}")
                continue
            pin = _s(u["pin"])
            if not re.fullmatch(r"[0-9]{4,8}", pin):
                problems.append(f"gun_users[{i}] {login}: PIN must be 4-8 digits")
            kinds = u.get("kinds") or list(SCAN_KINDS)
            bad = [k for k in kinds if k not in SCAN_KINDS]
            if bad:
                problems.append(f"gun_users[{i}] {login}: unknown scan kinds {bad}")
            # a salt of its own per network and login, the same at every import of the same file,
            # so re-importing it changes nothing that guns or stations see (docs/network.md)
            salt = _s(u.get("pin_salt")) or hashlib.sha256(f"{net['network']}\0{login}".encode()).hexdigest()[:16]
            salt, digest = hash_pin(pin, salt)
            net["gun_users"].append({"login": login, "staff": who, "site": staff[who]["site"],
                                     "pin_salt": salt, "pin_hash": digest, "kinds": list(kinds)})

    shifts = {}
    for i, sh in items("shifts"):
        if need("shifts", i, sh, "code", "from", "to", "depart", "transit_min"):
            code = _s(sh["code"])
            fits(f"shifts[{i}]", "code", code, SHIFT_LEN)
            if code in shifts:
                problems.append(f"shifts[{i}]: duplicate code {code}")
            site_ref(f"shifts[{i}] {code} from", _s(sh["from"]))
            site_ref(f"shifts[{i}] {code} to", _s(sh["to"]))
            if not _HHMM.match(_s(sh["depart"])):
                problems.append(f"shifts[{i}] {code}: depart must be HH:MM, not {sh['depart']!r}")
            try:
                minutes = int(sh["transit_min"])
                if minutes <= 0:
                    raise ValueError
            except (TypeError, ValueError):
                problems.append(f"shifts[{i}] {code}: transit_min must be a positive whole number")
                minutes = 0
            shifts[code] = {"code": code, "from": _s(sh["from"]), "to": _s(sh["to"]),
                            "depart": _s(sh["depart"]), "transit_min": minutes}
    net["shifts"] = list(shifts.values())

    keys = set()
    for i, r in items("next_stop"):
        if need("next_stop", i, r, "site", "dest", "next"):
            key = (_s(r["site"]), _s(r["dest"]), _s(r.get("shift")))
            if key in keys:
                problems.append(f"next_stop[{i}]: duplicate rule for {key}")
            keys.add(key)
            for part in ("site", "dest", "next"):
                site_ref(f"next_stop[{i}] {part}", _s(r[part]))
            if key[2] and key[2] not in shifts:
                problems.append(f"next_stop[{i}]: unknown shift {key[2]}")
            net["next_stop"].append({"site": key[0], "dest": key[1], "shift": key[2], "next": _s(r["next"])})

    for i, r in items("issuance"):
        if need("issuance", i, r, "site", "first", "last"):
            first, last = _s(r["first"]), _s(r["last"])
            site_ref(f"issuance[{i}]", _s(r["site"]))
            if len(first) != len(last) or first > last:
                problems.append(f"issuance[{i}]: first and last must have the same length and first <= last")
            net["issuance"].append({"site": _s(r["site"]), "first": first, "last": last})

    codes = {}
    for i, r in items("reasons"):
        if need("reasons", i, r, "code", "name"):
            code = _s(r["code"])
            fits(f"reasons[{i}]", "code", code, CODE_LEN)
            if code in codes:
                problems.append(f"reasons[{i}]: duplicate code {code}")
            kinds = r.get("kinds") or ["problem", "hold"]
            if isinstance(kinds, str):
                kinds = [kinds]
            if not isinstance(kinds, list) or not kinds or any(k not in ("problem", "hold") for k in kinds):
                problems.append(f"reasons[{i}] {code}: kinds must be a list of problem and/or hold, not {kinds!r}")
                kinds = ["problem", "hold"]
            codes[code] = {"code": code, "name": _s(r["name"]), "kinds": sorted(set(kinds))}
    if codes:
        net["reasons"] = list(codes.values())

    if problems:
        raise NetworkError(source, problems)
    return net
