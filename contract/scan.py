"""The scan event: one schema for every kind, as data (docs/protocol.md, "SCAN").

``FIELDS`` lists every field with its type, its length limit (text) or lower bound (integers)
and whether it is required.  The limits are the contract's: the edge refuses a scan that breaks
them before the good beep, the hub validates with the same ``validate_scan``, and the hub store's
columns are sized from ``FIELDS`` (``hub.ingest.tables``), so nothing the edge accepts is refused
later.

Codes follow the network file: site codes, staff codes and shift codes are at most 32
characters, station and device ids at most 64, waybill numbers at most 40.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from contract.clock import CLOCK_SANE_MS
from contract.errors import PayloadError
from contract.pickup import check_link

KINDS = ("receive", "dispatch", "arrive", "deliver", "sign", "problem", "hold",
         "bag_build", "bag_open", "load", "unload")
#: Tie-break for events at the same instant: the natural order of a parcel's life.
KIND_RANK = {k: i for i, k in enumerate(("receive", "bag_build", "load", "dispatch", "arrive", "unload", "bag_open",
                                         "problem", "hold", "deliver", "sign"))}
#: Parcel scans that put a parcel into a bag or take it out (``bag`` names the bag).
BAG_KINDS = ("bag_build", "bag_open")
#: Scans of a bag as one unit (its ``waybill`` and ``bag`` are the bag number): a load is the
#: bag's dispatch (``next_site``), an unload its arrival; every parcel in the bag inherits them.
UNIT_KINDS = ("load", "unload")
#: How a parcel was signed for (``sign_type`` of a sign scan).
SIGN_TYPES = ("in_person", "guard_room", "mailroom", "pickup_point", "proxy", "family", "reception",
              "property_management")
#: Movement scans: the ones that say where a parcel is (problem and hold do not move it).
MOVES = ("receive", "dispatch", "arrive", "deliver", "sign")
CLOCKS = ("trusted", "corrected", "unknown")

SITE_LEN = STAFF_LEN = SHIFT_LEN = 32
STATION_LEN = DEVICE_LEN = ID_LEN = 64
WAYBILL_LEN = 40
EPOCH_LEN = 16
SIGNER_LEN = 100
REASON_LEN = 500
BAG_LEN = WAYBILL_LEN
CODE_LEN = 32


@dataclass(frozen=True)
class Field:
    """One field of a scan: ``type`` is ``"text"``, ``"int"`` or ``"object"``; ``limit`` is the
    longest text, or the smallest integer; ``stamped`` fields are set after capture (``seq`` by
    the outbox as it commits, ``event_ms`` and ``clock`` by the uplink as it sends)."""
    name: str
    type: str
    limit: int | None = None
    required: bool = False
    stamped: bool = False
    doc: str = ""


FIELDS: tuple[Field, ...] = (
    Field("kind", "text", 16, True, doc="one of KINDS"),
    Field("clock", "text", 16, stamped=True, doc="one of CLOCKS; absent means trusted"),
    Field("id", "text", ID_LEN, True, doc="stable unique id, the idempotency key"),
    Field("station", "text", STATION_LEN, True, doc="the sending station"),
    Field("epoch", "text", EPOCH_LEN, doc="identity of the station's outbox file"),
    Field("waybill", "text", WAYBILL_LEN, True, doc="the waybill number"),
    Field("site", "text", SITE_LEN, True, doc="site code where the scan was made"),
    Field("courier", "text", STAFF_LEN, doc="receive: receiving courier; deliver/sign: delivery courier"),
    Field("next_site", "text", SITE_LEN, doc="dispatch: next stop"),
    Field("prev_site", "text", SITE_LEN, doc="arrive: previous stop scanned by the operator"),
    Field("dest_site", "text", SITE_LEN, doc="destination site"),
    Field("shift", "text", SHIFT_LEN, doc="line-haul shift"),
    Field("signer", "text", SIGNER_LEN, doc="sign: who signed"),
    Field("sign_type", "text", 24, doc="sign: how it was signed for, one of SIGN_TYPES (checked at the "
          "station; the hub keeps any, so a newer station's type is not refused)"),
    Field("reason", "text", CODE_LEN, doc="problem/hold: reason code from the network file"),
    Field("bag", "text", BAG_LEN, doc="bag_build/bag_open/load/unload: the bag number"),
    Field("seal", "text", CODE_LEN, doc="load/unload: seal number of the truck or cage"),
    Field("operator", "text", STAFF_LEN, doc="staff code of the operator"),
    Field("device", "text", DEVICE_LEN, doc="gun / device id"),
    Field("seq", "int", 1, True, stamped=True, doc="per-station, per-epoch sequence number"),
    Field("chain", "text", 64, stamped=True, doc="hash of this scan and its predecessor's (contract.chain); "
          "absent from stations on older software"),
    Field("edge_ms", "int", None, True, doc="station wall clock at capture, UTC ms"),
    Field("event_ms", "int", CLOCK_SANE_MS, True, stamped=True, doc="corrected event time, UTC ms"),
    Field("weight_g", "int", 0, doc="arrive: stable scale weight, grams"),
    Field("extra", "object", doc="anything else, kept as is"),
)
FIELD = {f.name: f for f in FIELDS}
TEXT_FIELDS = tuple(f for f in FIELDS if f.type == "text")
OPTIONAL_TEXT = tuple(f.name for f in TEXT_FIELDS if not f.required and f.name not in ("clock", "epoch"))
#: What a scan *is*: the fields fixed when it was captured.  ``event_ms`` and ``clock`` are stamped
#: by the uplink at each send and may differ between resends; ``epoch`` and ``seq`` say where the
#: scan sits in its outbox and change when a damaged outbox is salvaged into a new one
#: (``scanhub edge salvage``), while the scan stays the same scan.
CONTENT_FIELDS = tuple(f.name for f in FIELDS
                       if f.name not in ("event_ms", "clock", "extra", "epoch", "seq", "chain")) + ("extra_json",)
_KIND_SET, _CLOCK_SET = frozenset(KINDS), frozenset(CLOCKS)
_BAGGED = frozenset(BAG_KINDS + UNIT_KINDS)
_CAPTURE_TEXT = tuple((f.name, f.limit, f.required) for f in TEXT_FIELDS if not f.stamped)
_ALL_TEXT = tuple((f.name, f.limit, f.required) for f in TEXT_FIELDS)


def _int(scan: Mapping, key: str, required: bool = True, lo: int | None = None) -> int | None:
    v = scan.get(key)
    if v is None:
        if required:
            raise PayloadError(f"missing {key}")
        return None
    if type(v) is not int:
        raise PayloadError(f"{key} must be an integer")
    if lo is not None and v < lo:
        raise PayloadError(f"{key} must be >= {lo}")
    return v


def validate_scan(scan, *, stamped: bool = True) -> dict:
    """Check one scan against the schema and return it as a row: every field of ``FIELDS`` (text
    and integers as given, missing ones None; ``extra`` as canonical JSON in ``extra_json``).

    With ``stamped=False`` (the edge, as it captures: before the outbox gives the scan its
    ``seq`` and the uplink stamps ``event_ms`` and ``clock``) the stamped fields are not checked.  Raises ``PayloadError`` with the reason.  This runs for
    every scan the hub receives, so it is one loop without helper calls per text field."""
    if type(scan) is not dict:
        raise PayloadError("scan must be a JSON object")
    get = scan.get
    row = {}
    for key, limit, required in (_ALL_TEXT if stamped else _CAPTURE_TEXT):
        v = get(key)
        if v is None or v == "":
            if required:
                raise PayloadError(f"missing {key}")
            v = None
        elif type(v) is not str:
            raise PayloadError(f"{key} must be a string")
        elif len(v) > limit:
            raise PayloadError(f"{key} longer than {limit} characters")
        row[key] = v
    if row["kind"] not in _KIND_SET:
        raise PayloadError(f"unknown kind {row['kind']!r}")
    if stamped:
        if row["clock"] is None:
            row["clock"] = "trusted"
        elif row["clock"] not in _CLOCK_SET:
            raise PayloadError(f"unknown clock state {row['clock']!r}")
        row["event_ms"] = event_ms = _int(scan, "event_ms")
        if event_ms < CLOCK_SANE_MS:
            raise PayloadError(f"event_ms {event_ms} is before 2024: the station clock was not corrected")
        row["seq"] = _int(scan, "seq", lo=1)
    row["epoch"] = row["epoch"] or ""
    row["weight_g"] = _int(scan, "weight_g", required=False, lo=0)
    row["edge_ms"] = _int(scan, "edge_ms")
    extra = get("extra")
    if extra is not None and type(extra) is not dict:
        raise PayloadError("extra must be an object")
    row["extra_json"] = json.dumps(extra, sort_keys=True, ensure_ascii=False) if extra else None
    kind = row["kind"]
    if extra:
        check_link(extra, kind)          # extra.pickup: the receive scan closes a pickup task
    if kind == "dispatch" and not (row["next_site"] or row["dest_site"]):
        raise PayloadError("dispatch scan without next_site or dest_site")
    if kind in _BAGGED:
        if not row["bag"]:
            raise PayloadError(f"{kind} scan without bag")
        if kind in UNIT_KINDS and row["bag"] != row["waybill"]:
            raise PayloadError(f"{kind} scan of bag {row['bag']} names another waybill: a bag unit's waybill is its bag")
    return row


def check_text(value, key: str, limit: int, required: bool = False) -> str | None:
    """One text field of a payload: None when absent, the string when it fits, else PayloadError."""
    if value is None or value == "":
        if required:
            raise PayloadError(f"missing {key}")
        return None
    if not isinstance(value, str):
        raise PayloadError(f"{key} must be a string")
    if len(value) > limit:
        raise PayloadError(f"{key} longer than {limit} characters")
    return value


def validate_deletion(d) -> dict:
    """Check one audited deletion (tombstone) ``{"id", "deleted_ms", "operator", "reason",
    "uploaded", "scan": SCAN}``; returns its fields flattened (the deleted scan's station,
    epoch, seq, site, waybill and kind).  Raises ``PayloadError``."""
    if not isinstance(d, dict):
        raise PayloadError("deletion must be a JSON object")
    scan = d.get("scan")
    if not isinstance(scan, dict):
        raise PayloadError("deletion without the deleted scan")
    F = FIELD
    return {
        "scan_id": check_text(d.get("id"), "id", ID_LEN, True),
        "station": check_text(scan.get("station"), "station", F["station"].limit, True),
        "epoch": check_text(scan.get("epoch"), "epoch", EPOCH_LEN) or "",
        "seq": _int(scan, "seq", lo=1),
        "site": check_text(scan.get("site"), "site", SITE_LEN, True),
        "waybill": check_text(scan.get("waybill"), "waybill", WAYBILL_LEN, True),
        "kind": check_text(scan.get("kind"), "kind", 16, True),
        "operator": check_text(d.get("operator"), "operator", STAFF_LEN),
        "reason": check_text(d.get("reason"), "reason", REASON_LEN, True),
        "deleted_ms": _int(d, "deleted_ms"),
        "uploaded": bool(d.get("uploaded")),
        "scan_json": json.dumps(scan, sort_keys=True, ensure_ascii=False),
    }


def event_key(e: Mapping) -> tuple:
    """Sort key of a parcel's events (dicts): corrected time, the natural order of kinds, scan id."""
    return (e["event_ms"], KIND_RANK.get(e["kind"], 99), e["id"])
