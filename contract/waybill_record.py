"""The waybill record: a waybill as a clerk entered it (录单), as data (docs/protocol.md, "WAYBILL").

A record is an event of its own, beside the scans: it has a stable ``id`` (the idempotency key),
the ``waybill`` number, the entering ``site`` and the ``fields`` it sets.  A waybill's entered
state is the fold of all its records in the order of ``(event_ms, id)``: each record sets the
fields it names and clears those it gives as ``null``; nothing is ever overwritten in place, so
every correction is kept and the same records in any order give the same state (``fold``).

A quick entry (快速录单) sets only ``dest_site`` and ``weight_g``; the rest can follow in later
records.  ``FIELDS`` lists every field with its type and limit; ``validate_record`` checks a
record (the station before it stores one, the hub as it receives it: the same code).
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from contract.clock import CLOCK_SANE_MS
from contract.errors import PayloadError
from contract.scan import ID_LEN, SITE_LEN, STAFF_LEN, STATION_LEN, WAYBILL_LEN, check_text

NAME_LEN, PHONE_LEN, ADDRESS_LEN, REGION_LEN, GOODS_LEN, REMARK_LEN = 100, 32, 300, 16, 200, 500
PAYMENTS = ("sender", "collect")          # sender pays (寄付) / freight collect (到付)
MAX_CENTS = 10**11                        # a billion yuan: anything above is a typing slip
MAX_WEIGHT_G = 10**8                      # 100 t
MAX_DIM_CM = 10_000


@dataclass(frozen=True)
class Field:
    """One entered field: ``type`` is ``text``, ``int``, ``bool``, ``dims`` ([l, w, h] whole cm)
    or ``names`` (a list of short names: surcharges); ``limit`` is the longest text or the
    largest integer."""
    name: str
    type: str
    limit: int | None = None
    doc: str = ""


FIELDS: tuple[Field, ...] = (
    Field("sender_name", "text", NAME_LEN, "寄件人"),
    Field("sender_phone", "text", PHONE_LEN),
    Field("sender_address", "text", ADDRESS_LEN, "free text"),
    Field("sender_province", "text", REGION_LEN, "administrative division code"),
    Field("sender_city", "text", REGION_LEN),
    Field("sender_district", "text", REGION_LEN),
    Field("receiver_name", "text", NAME_LEN, "收件人"),
    Field("receiver_phone", "text", PHONE_LEN),
    Field("receiver_address", "text", ADDRESS_LEN),
    Field("receiver_province", "text", REGION_LEN),
    Field("receiver_city", "text", REGION_LEN),
    Field("receiver_district", "text", REGION_LEN),
    Field("dest_site", "text", SITE_LEN, "destination site code"),
    Field("pieces", "int", 9999),
    Field("weight_g", "int", MAX_WEIGHT_G, "entered weight, grams"),
    Field("dims_cm", "dims", MAX_DIM_CM, "[length, width, height] in whole cm"),
    Field("declared_cents", "int", MAX_CENTS, "declared value"),
    Field("goods", "text", GOODS_LEN),
    Field("payment", "text", 16, "sender | collect"),
    Field("freight_collect_cents", "int", MAX_CENTS, "freight to collect at the destination"),
    Field("cod_cents", "int", MAX_CENTS, "collect-on-delivery amount"),
    Field("insured", "bool", doc="insured at its declared value"),
    Field("surcharges", "names", 32, "surcharge names of the tariff (crate, upstairs ...)"),
    Field("remark", "text", REMARK_LEN),
)
FIELD = {f.name: f for f in FIELDS}
#: The fields of a quick entry (number, destination, weight).
QUICK = ("dest_site", "weight_g")
#: What a record *is*: who entered what for which waybill (``event_ms`` is stamped by the uplink
#: at each send; ``edge_ms`` is kept, not compared).
CONTENT = ("id", "waybill", "site", "station", "operator", "fields_json")


def _value(f: Field, v):
    if f.type == "text":
        return check_text(v, f.name, f.limit, True) if v is not None else None
    if f.type == "int":
        if type(v) is not int or v < 0 or v > f.limit:
            raise PayloadError(f"{f.name} must be a whole number from 0 to {f.limit}")
        return v
    if f.type == "bool":
        if type(v) is not bool:
            raise PayloadError(f"{f.name} must be true or false")
        return v
    if f.type == "dims":
        if not (isinstance(v, list) and len(v) == 3
                and all(type(x) is int and 0 < x <= f.limit for x in v)):
            raise PayloadError(f"{f.name} must be [length, width, height] in whole cm (1 to {f.limit})")
        return list(v)
    if f.type == "names":
        if not (isinstance(v, list) and len(v) <= 16
                and all(isinstance(x, str) and 0 < len(x) <= f.limit for x in v)):
            raise PayloadError(f"{f.name} must be a list of names (at most 16, each up to {f.limit} characters)")
        return sorted(set(v))
    raise PayloadError(f"{f.name}: unknown field type {f.type}")   # pragma: no cover


def check_fields(fields) -> dict:
    """The ``fields`` of a record, checked (``None`` values kept: they clear the field)."""
    if type(fields) is not dict:
        raise PayloadError("fields must be a JSON object")
    unknown = sorted(set(fields) - set(FIELD))
    if unknown:
        raise PayloadError(f"unknown waybill field {unknown[0]!r}")
    out = {}
    for name, v in fields.items():
        out[name] = None if v is None or v == "" else _value(FIELD[name], v)
    if out.get("payment") not in (None, *PAYMENTS):
        raise PayloadError(f"payment must be one of {', '.join(PAYMENTS)}")
    return out


def validate_record(rec, *, stamped: bool = True) -> dict:
    """Check one waybill record ``{"id", "waybill", "site", "station"?, "operator"?, "edge_ms",
    "event_ms", "fields"}`` and return it as a row (``fields`` as canonical JSON in
    ``fields_json``).  ``stamped=False``: before the uplink stamps ``event_ms``.  Raises
    ``PayloadError`` with the reason."""
    if type(rec) is not dict:
        raise PayloadError("waybill record must be a JSON object")
    row = {
        "id": check_text(rec.get("id"), "id", ID_LEN, True),
        "waybill": check_text(rec.get("waybill"), "waybill", WAYBILL_LEN, True),
        "site": check_text(rec.get("site"), "site", SITE_LEN, True),
        "station": check_text(rec.get("station"), "station", STATION_LEN),
        "operator": check_text(rec.get("operator"), "operator", STAFF_LEN),
    }
    for key in ("edge_ms",) + (("event_ms",) if stamped else ()):
        v = rec.get(key)
        if type(v) is not int:
            raise PayloadError(f"missing {key}" if v is None else f"{key} must be an integer")
        row[key] = v
    if stamped and row["event_ms"] < CLOCK_SANE_MS:
        raise PayloadError(f"event_ms {row['event_ms']} is before 2024: the station clock was not corrected")
    fields = check_fields(rec.get("fields"))
    if not fields:
        raise PayloadError("a waybill record sets at least one field")
    row["fields_json"] = json.dumps(fields, sort_keys=True, ensure_ascii=False)
    return row


def record_key(r: Mapping) -> tuple:
    """The order records apply in: entry time, then id (so ties have one order everywhere)."""
    return (r["event_ms"], r["id"])


def fold(records: Iterable[Mapping]) -> dict | None:
    """A waybill's entered state from its records (rows of ``validate_record``, or dicts with
    ``fields`` decoded), in any order: ``{"waybill", "origin_site", "entered_ms", "updated_ms",
    "records", "fields": {...}}``; None for no records.  The origin is the site of the first
    record."""
    recs = sorted(records, key=record_key)
    if not recs:
        return None
    fields: dict = {}
    for r in recs:
        got = r["fields"] if "fields" in r else json.loads(r["fields_json"])
        for k, v in got.items():
            if v is None:
                fields.pop(k, None)
            else:
                fields[k] = v
    return {"waybill": recs[0]["waybill"], "origin_site": recs[0]["site"], "entered_ms": recs[0]["event_ms"],
            "updated_ms": recs[-1]["event_ms"], "records": len(recs), "fields": fields}


def parse_dims(text: str) -> list[int]:
    """``"40x30x20"`` (also ``*`` or ``×``) as ``[40, 30, 20]``; ``PayloadError`` otherwise."""
    parts = str(text).lower().replace("*", "x").replace("×", "x").split("x")
    try:
        dims = [int(p) for p in parts]
    except ValueError:
        dims = []
    if len(dims) != 3 or not all(0 < d <= MAX_DIM_CM for d in dims):
        raise PayloadError(f"dimensions {text!r}: give length x width x height in whole cm, e.g. 40x30x20")
    return dims


def parse_weight(text: str) -> int:
    """A weight in kg as typed (``"2.3"``) as whole grams; ``PayloadError`` otherwise."""
    try:
        kg = float(str(text).strip().lower().removesuffix("kg"))
    except ValueError:
        raise PayloadError(f"weight {text!r}: give kilograms, e.g. 2.3") from None
    if not (0 < kg * 1000 <= MAX_WEIGHT_G) or kg != kg:
        raise PayloadError(f"weight {text!r}: must be above 0 and at most {MAX_WEIGHT_G // 1000} kg")
    return round(kg * 1000)


def parse_money(text: str, what: str = "amount") -> int:
    """Yuan as typed (``"500"``, ``"12.50"``) as whole cents; ``PayloadError`` otherwise."""
    m = re.fullmatch(r"(\d{1,12})(?:\.(\d{1,2}))?", str(text).strip())
    cents = int(m.group(1)) * 100 + int((m.group(2) or "0").ljust(2, "0")) if m else None
    if cents is None or cents > MAX_CENTS:
        raise PayloadError(f"{what} {text!r}: give yuan with at most two decimals, e.g. 12.50")
    return cents
