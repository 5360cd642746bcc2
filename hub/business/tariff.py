"""Tariffs as data: a YAML/JSON document, checked against the schema below, priced by pure code.

Schema (every amount in integer cents, every weight in integer grams)::

    name: standard-2024                 # required
    effective: "2024-01-01"             # local date (or epoch ms): in force from then on
    tz_offset_min: 480                  # optional, for ``effective`` as a date (default 480)
    weight:
      rounding_g: 500                   # chargeable weight rounds UP to a multiple (default 1)
      volumetric_divisor: 6000          # cm^3 per kg; volumetric g = l*w*h*1000/divisor, rounded up
    zones:                              # first match wins; origin and destination site regions
      - {zone: city, same: city}        # same: province | city | district
      - {zone: remote, dest_province: ["54", "65"]}
      - {zone: national}                # a rule with no condition matches everything
    transit:                            # at each center, paid by the origin site to the center
      default: RATE | {zone: RATE, ...}
      centers: {"901": RATE | {zone: RATE}}    # optional overrides per center
      shift_surcharge_cents: {HZ-SH-08: 20}      # optional, added per shift
    courier: RATE | {zone: RATE}        # at receive, paid by the courier to the origin site
    delivery: RATE | {zone: RATE}       # at delivery, paid by the origin site to the delivering site
    freight_collect: PERCENT            # handling fee on freight collected at destination
    cod: PERCENT                        # handling fee on collect-on-delivery amounts
    insurance: PERCENT                  # of the declared value of an insured parcel (paid to "insurance")
    returns: RATE | {zone: RATE}        # a parcel returned unpaid: the origin pays the returning site
    surcharges:                         # by name, entered with the waybill (or automatic by zone)
      crate:     {cents: 1500, at: origin, label: "wooden crate"}   # at origin: charged to the sender
      upstairs:  {cents: 500}                                       # at delivery (default): the origin
      remote:    {cents: 1000, zones: [remote]}                     #   pays the delivering site

    RATE    = {first_g, first_cents, step_g, step_cents, min_cents?}       # first + continued weight
            | {bands: [{max_g, cents}, ...], step_g?, step_cents?, min_cents?}  # weight bands, then
                                                                           # continued weight
    PERCENT = {rate_bp, min_cents?, max_cents?}   # basis points of the amount, rounded half up

``load_tariff`` raises ``TariffError`` listing every problem with its place; a loaded ``Tariff``
prices with ``rate(...)``, ``percent(...)`` and ``zone(...)`` and never guesses: a weight beyond
the last band without continued weight is a ``TariffError``.
"""
from __future__ import annotations

from hub.errors import HubError

import datetime as dt
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

import yaml

SAME_LEVELS = ("province", "city", "district")
FEE_SECTIONS = ("courier", "delivery", "returns")
SURCHARGE_AT = ("origin", "delivery")


class TariffError(HubError, ValueError):
    """A malformed tariff (``problems`` lists each issue) or a weight it cannot price."""

    def __init__(self, message: str, problems: list[str] | None = None):
        self.problems = problems or [message]
        super().__init__(message)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_rate(where: str, r, problems: list[str]) -> None:
    if not isinstance(r, Mapping):
        problems.append(f"{where}: a rate must be a mapping")
        return
    for k in ("min_cents", "first_g", "first_cents", "step_g", "step_cents"):
        if k in r and (not _int(r[k]) or r[k] < 0):
            problems.append(f"{where}.{k}: must be a whole number >= 0")
    for k in ("first_g", "step_g"):
        if _int(r.get(k)) and r[k] == 0:
            problems.append(f"{where}.{k}: must be > 0")
    if "bands" in r:
        bands = r["bands"]
        if not isinstance(bands, list) or not bands:
            problems.append(f"{where}.bands: must be a non-empty list")
            return
        prev = 0
        for i, b in enumerate(bands):
            if not isinstance(b, Mapping) or not _int(b.get("max_g")) or not _int(b.get("cents")) \
                    or b["max_g"] <= 0 or b["cents"] < 0:
                problems.append(f"{where}.bands[{i}]: needs max_g > 0 and cents >= 0 (whole numbers)")
                continue
            if b["max_g"] <= prev:
                problems.append(f"{where}.bands[{i}]: max_g must increase")
            prev = b["max_g"]
        if ("step_g" in r) != ("step_cents" in r):
            problems.append(f"{where}: step_g and step_cents go together")
    else:
        for k in ("first_g", "first_cents", "step_g", "step_cents"):
            if k not in r:
                problems.append(f"{where}: missing {k} (or give bands)")
    unknown = set(r) - {"bands", "min_cents", "first_g", "first_cents", "step_g", "step_cents"}
    if unknown:
        problems.append(f"{where}: unknown keys {sorted(unknown)}")


def _is_rate(v) -> bool:
    return isinstance(v, Mapping) and bool({"bands", "first_g", "first_cents"} & set(v))


def _check_rate_or_zones(where: str, v, zones: set[str], problems: list[str]) -> None:
    if _is_rate(v):
        _check_rate(where, v, problems)
    elif isinstance(v, Mapping) and v:
        for z, r in v.items():
            if str(z) not in zones:
                problems.append(f"{where}: unknown zone {z!r} (zones: {', '.join(sorted(zones))})")
            _check_rate(f"{where}.{z}", r, problems)
    else:
        problems.append(f"{where}: must be a rate or a mapping zone -> rate")


def _check_percent(where: str, v, problems: list[str]) -> None:
    if not isinstance(v, Mapping) or not _int(v.get("rate_bp")) or v["rate_bp"] < 0:
        problems.append(f"{where}: needs rate_bp (basis points, whole number >= 0)")
        return
    for k in ("min_cents", "max_cents"):
        if k in v and (not _int(v[k]) or v[k] < 0):
            problems.append(f"{where}.{k}: must be a whole number >= 0")
    if _int(v.get("min_cents")) and _int(v.get("max_cents")) and v["min_cents"] > v["max_cents"]:
        problems.append(f"{where}: min_cents is above max_cents")


def _effective_ms(v, tz_offset_min: int, problems: list[str]) -> int:
    if _int(v):
        return v
    if isinstance(v, dt.date):
        v = v.isoformat()
    try:
        d = dt.datetime.strptime(str(v), "%Y-%m-%d")
    except ValueError:
        problems.append(f"effective: {v!r} is not YYYY-MM-DD or epoch ms")
        return 0
    return int(d.replace(tzinfo=dt.timezone(dt.timedelta(minutes=tz_offset_min))).timestamp() * 1000)


@dataclass
class Tariff:
    """A checked tariff document (``doc``) with its start time."""
    name: str
    effective_ms: int
    doc: dict

    # -- weights
    def chargeable_g(self, weight_g: int | None, dims_cm: list | None = None) -> int:
        """max(actual, volumetric) rounded up to ``weight.rounding_g``."""
        w = self.doc.get("weight", {})
        g = weight_g or 0
        div = w.get("volumetric_divisor")
        if dims_cm and div:
            l, wd, h = dims_cm
            g = max(g, _ceil_div(l * wd * h * 1000, div))
        step = w.get("rounding_g", 1)
        return _ceil_div(g, step) * step

    # -- zones
    def zone(self, origin: tuple | None, dest: tuple | None) -> str:
        """The first zone rule matching the (province, city, district) of origin and destination."""
        origin = origin or (None, None, None)
        dest = dest or (None, None, None)
        for rule in self.doc["zones"]:
            same = rule.get("same")
            if same:
                i = SAME_LEVELS.index(same)
                if origin[i] is None or origin[i] != dest[i]:
                    continue
            if "dest_province" in rule and dest[0] not in rule["dest_province"]:
                continue
            if "origin_province" in rule and origin[0] not in rule["origin_province"]:
                continue
            return rule["zone"]
        raise TariffError(f"tariff {self.name}: no zone matches {origin} -> {dest}")

    # -- prices
    @staticmethod
    def rate(r: Mapping, weight_g: int) -> int:
        """Price (cents) of chargeable ``weight_g`` under one RATE."""
        if "bands" in r:
            bands = r["bands"]
            price = None
            for b in bands:
                if weight_g <= b["max_g"]:
                    price = b["cents"]
                    break
            if price is None:
                if "step_g" not in r:
                    raise TariffError(f"weight {weight_g} g is above the last band ({bands[-1]['max_g']} g)")
                last = bands[-1]
                price = last["cents"] + _ceil_div(weight_g - last["max_g"], r["step_g"]) * r["step_cents"]
        elif weight_g <= r["first_g"]:
            price = r["first_cents"]
        else:
            price = r["first_cents"] + _ceil_div(weight_g - r["first_g"], r["step_g"]) * r["step_cents"]
        return max(price, r.get("min_cents", 0))

    @staticmethod
    def percent(p: Mapping, amount_cents: int) -> int:
        """Handling fee (cents) of ``amount_cents`` under one PERCENT, rounded half up."""
        fee = (amount_cents * p["rate_bp"] * 2 + 10_000) // 20_000
        fee = max(fee, p.get("min_cents", 0))
        if "max_cents" in p:
            fee = min(fee, p["max_cents"])
        return fee

    def _pick(self, v, zone: str) -> Mapping | None:
        if v is None:
            return None
        if _is_rate(v):
            return v
        return v.get(zone)

    def transit_fee(self, center: str, zone: str, weight_g: int, shift: str | None = None) -> int | None:
        """Transit fee (cents) at ``center``; None when the tariff has no rate for it."""
        t = self.doc.get("transit")
        if not t:
            return None
        r = self._pick((t.get("centers") or {}).get(center), zone) or self._pick(t.get("default"), zone)
        if r is None:
            return None
        return self.rate(r, weight_g) + (t.get("shift_surcharge_cents") or {}).get(shift or "", 0)

    def fee(self, section: str, zone: str, weight_g: int) -> int | None:
        """Courier or delivery fee (cents); None when the tariff has none."""
        r = self._pick(self.doc.get(section), zone)
        return None if r is None else self.rate(r, weight_g)

    def surcharges(self, names, zone: str) -> list[tuple[str, int, str, str]]:
        """``(name, cents, at, label)`` of the surcharges that apply: the ``names`` entered with
        the waybill that the tariff knows, and those the tariff adds for ``zone``."""
        table = self.doc.get("surcharges") or {}
        out = []
        for name in sorted(table):
            s = table[name]
            if name in set(names or ()) or zone in (s.get("zones") or ()):
                out.append((name, s["cents"], s.get("at", "delivery"), s.get("label", name)))
        return out

    def unknown_surcharges(self, names) -> list[str]:
        """The entered surcharge names this tariff does not have."""
        return sorted(set(names or ()) - set(self.doc.get("surcharges") or {}))

    def handling(self, section: str, amount_cents: int) -> int | None:
        """Freight-collect or COD handling fee (cents); None when the tariff has none."""
        p = self.doc.get(section)
        return None if p is None else self.percent(p, amount_cents)

    def to_json(self) -> str:
        return json.dumps(self.doc, sort_keys=True, ensure_ascii=False)


def check_tariff(raw, source: str = "tariff") -> Tariff:
    """Check a parsed tariff document; raises ``TariffError`` listing every problem."""
    problems: list[str] = []
    if not isinstance(raw, Mapping):
        raise TariffError(f"{source}: top level must be a mapping", [f"{source}: top level must be a mapping"])
    known = {"name", "effective", "tz_offset_min", "weight", "zones", "transit", "courier", "delivery",
             "freight_collect", "cod", "currency", "description", "insurance", "returns", "surcharges"}
    for k in sorted(set(raw) - known):
        problems.append(f"unknown section {k!r}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append("name: required")
    tz = raw.get("tz_offset_min", 480)
    if not _int(tz):
        problems.append("tz_offset_min: must be a whole number")
        tz = 480
    eff = _effective_ms(raw.get("effective", 0), tz, problems)
    w = raw.get("weight", {})
    if not isinstance(w, Mapping):
        problems.append("weight: must be a mapping")
    else:
        for k in ("rounding_g", "volumetric_divisor"):
            if k in w and (not _int(w[k]) or w[k] <= 0):
                problems.append(f"weight.{k}: must be a whole number > 0")
    zones = raw.get("zones")
    names: set[str] = set()
    if not isinstance(zones, list) or not zones:
        problems.append("zones: a non-empty list of rules")
        zones = []
    for i, z in enumerate(zones):
        if not isinstance(z, Mapping) or not isinstance(z.get("zone"), str):
            problems.append(f"zones[{i}]: needs zone (a name)")
            continue
        names.add(z["zone"])
        if "same" in z and z["same"] not in SAME_LEVELS:
            problems.append(f"zones[{i}].same: one of {', '.join(SAME_LEVELS)}")
        for k in ("dest_province", "origin_province"):
            if k in z and not (isinstance(z[k], list) and all(isinstance(x, str) for x in z[k])):
                problems.append(f"zones[{i}].{k}: a list of province codes (strings)")
        if set(z) - {"zone", "same", "dest_province", "origin_province"}:
            problems.append(f"zones[{i}]: unknown keys {sorted(set(z) - {'zone', 'same', 'dest_province', 'origin_province'})}")
    if zones and isinstance(zones[-1], Mapping) and set(zones[-1]) != {"zone"}:
        problems.append("zones: the last rule must have no condition (a catch-all)")
    t = raw.get("transit")
    if t is not None:
        if not isinstance(t, Mapping) or "default" not in t:
            problems.append("transit: needs default")
        else:
            _check_rate_or_zones("transit.default", t["default"], names, problems)
            for c, v in (t.get("centers") or {}).items():
                _check_rate_or_zones(f"transit.centers.{c}", v, names, problems)
            s = t.get("shift_surcharge_cents") or {}
            if not isinstance(s, Mapping) or not all(_int(x) and x >= 0 for x in s.values()):
                problems.append("transit.shift_surcharge_cents: shift -> whole cents >= 0")
    for sec in FEE_SECTIONS:
        if raw.get(sec) is not None:
            _check_rate_or_zones(sec, raw[sec], names, problems)
    for sec in ("freight_collect", "cod", "insurance"):
        if raw.get(sec) is not None:
            _check_percent(sec, raw[sec], problems)
    sur = raw.get("surcharges")
    if sur is not None:
        if not isinstance(sur, Mapping):
            problems.append("surcharges: a mapping name -> {cents, at?, zones?, label?}")
        else:
            for n, v in sur.items():
                where = f"surcharges.{n}"
                if not isinstance(v, Mapping) or not _int(v.get("cents")) or v["cents"] < 0:
                    problems.append(f"{where}: needs cents (whole number >= 0)")
                    continue
                if v.get("at", "delivery") not in SURCHARGE_AT:
                    problems.append(f"{where}.at: one of {', '.join(SURCHARGE_AT)}")
                zs = v.get("zones", [])
                if not isinstance(zs, list) or any(z not in names for z in zs):
                    problems.append(f"{where}.zones: a list of zone names ({', '.join(sorted(names))})")
                if set(v) - {"cents", "at", "zones", "label"}:
                    problems.append(f"{where}: unknown keys {sorted(set(v) - {'cents', 'at', 'zones', 'label'})}")
    if problems:
        raise TariffError(f"{source}: {len(problems)} problem(s):\n  " + "\n  ".join(problems), problems)
    doc = json.loads(json.dumps(raw, default=str))
    doc["transit"] = doc.get("transit")
    return Tariff(name=name.strip(), effective_ms=eff, doc=doc)


def load_tariff(path: str) -> Tariff:
    """Read a tariff file (YAML or JSON) and check it."""
    if not os.path.exists(path):
        raise TariffError(f"{path}: file not found")
    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.safe_load(f)
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise TariffError(f"{path}: not valid YAML/JSON: {e}") from e
    return check_tariff(raw, path)


# ---------------------------------------------------------------- store

def install(t: Tariff) -> int:
    """Store ``t``; it prices events from its ``effective_ms`` on.  Returns its version id."""
    import time

    from hub.business import tables as bm
    row = bm.TariffVersion.create(name=t.name, effective_ms=t.effective_ms, loaded_ms=int(time.time() * 1000),
                                  body_json=t.to_json())
    return row.id


class TariffBook:
    """The stored tariffs in force over time: ``at(ms)`` is the one effective then (or None)."""

    def __init__(self, tariffs: list[Tariff]):
        self.tariffs = sorted(tariffs, key=lambda t: t.effective_ms)

    @classmethod
    def load(cls) -> "TariffBook":
        from hub.business import tables as bm
        rows = bm.TariffVersion.select().order_by(bm.TariffVersion.effective_ms, bm.TariffVersion.id)
        # a later load with the same effective time replaces the earlier one
        by_eff: dict[int, Tariff] = {}
        for r in rows:
            by_eff[r.effective_ms] = Tariff(r.name, r.effective_ms, json.loads(r.body_json))
        return cls(list(by_eff.values()))

    def at(self, ms: int) -> Tariff | None:
        found = None
        for t in self.tariffs:
            if t.effective_ms <= ms:
                found = t
        return found
