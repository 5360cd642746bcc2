"""Campaign lists: where the numbers come from, as a registry of sources, deduplicated by the
normalised phone (``contract.phone.e164``).

A source is a function ``(spec, base_dir) -> iterable of row dicts`` (``phone`` required;
``name``, ``customer``, ``tz`` and anything else kept as the record's fields) registered with
``register(name, check)``; the campaign file's ``list: {source: NAME, …}`` picks it.  Built in:

* ``csv``: ``{source: csv, path: list.csv}``, a header row naming ``phone`` (or ``mobile``,
  ``tel``, ``电话``, ``手机``) and any other columns;
* ``signed``: ``{source: signed, sites: [100, 200], day: yesterday}``, the receivers of the
  parcels signed that day (the network's local day) at those sites, by the receiver's phone of
  the entered waybill (``hub.waybills``).

Other packages add theirs (the CRM's customers of a tier, senders with open work orders, the
receivers of parcels signed at given sites) by calling ``register`` when they are imported.
"""
from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable

from contract.phone import PhoneError, e164
from hub.outbound.contacts import Contact
from hub.outbound.errors import OutboundError

PHONE_COLUMNS = ("phone", "mobile", "tel", "number", "电话", "手机")
#: source name -> (rows(spec, base_dir), check(spec, base_dir) -> problems)
SOURCES: dict[str, tuple[Callable[[dict, str], Iterable[dict]], Callable[[dict, str], list[str]]]] = {}


def register(name: str, rows, check=lambda spec, base_dir: []) -> None:
    SOURCES[name] = (rows, check)


def check_spec(spec: dict, base_dir: str = ".") -> list[str]:
    src = spec.get("source")
    if src not in SOURCES:
        return [f"source {src!r} is not one of {', '.join(sorted(SOURCES))}"]
    return SOURCES[src][1](spec, base_dir)


def contacts(rows: Iterable[dict], problems: list[str] | None = None) -> list[Contact]:
    """Rows -> contacts, one per normalised number (the first row wins); rows without a usable
    number are left out, each with its reason in ``problems``."""
    out: dict[str, Contact] = {}
    for i, row in enumerate(rows, 1):
        raw = next((row[k] for k in PHONE_COLUMNS if row.get(k)), None)
        try:
            number = e164(raw or "")
        except PhoneError as e:
            if problems is not None:
                problems.append(f"row {i}: {e}")
            continue
        if number in out:
            if problems is not None:
                problems.append(f"row {i}: {number} is already in the list (kept once)")
            continue
        fields = {k: v for k, v in row.items() if k not in PHONE_COLUMNS and v not in (None, "")}
        out[number] = Contact(number, name=str(fields.pop("name", "") or ""),
                              customer=str(fields.pop("customer", "") or ""), tz=str(fields.pop("tz", "") or ""),
                              fields=fields)
    return list(out.values())


def load(spec: dict, base_dir: str = ".", problems: list[str] | None = None) -> list[Contact]:
    bad = check_spec(spec, base_dir)
    if bad:
        raise OutboundError("list: " + "; ".join(bad))
    return contacts(SOURCES[spec["source"]][0](spec, base_dir), problems)


def _csv_path(spec, base_dir):
    return os.path.join(base_dir, str(spec.get("path", "")))


def _csv_check(spec, base_dir):
    if not spec.get("path"):
        return ["csv needs path (a CSV file with a phone column)"]
    if set(spec) - {"source", "path"}:
        return [f"csv takes source and path, not {', '.join(sorted(set(spec) - {'source', 'path'}))}"]
    return []


def _csv_rows(spec, base_dir):
    path = _csv_path(spec, base_dir)
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or not any(c in reader.fieldnames for c in PHONE_COLUMNS):
                raise OutboundError(f"{path}: no phone column (one of {', '.join(PHONE_COLUMNS)})")
            return [dict(r) for r in reader]
    except FileNotFoundError:
        raise OutboundError(f"{path}: no such list file") from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise OutboundError(f"{path}: not a readable UTF-8 CSV file ({e})") from None


register("csv", _csv_rows, _csv_check)


# ---------------------------------------------------------------- the hub's own data

def _signed_check(spec, base_dir):
    problems = []
    if set(spec) - {"source", "sites", "day"}:
        problems.append(f"signed takes sites and day, not {', '.join(sorted(set(spec) - {'source', 'sites', 'day'}))}")
    sites = spec.get("sites")
    if not isinstance(sites, list) or not sites or not all(isinstance(s, (str, int)) for s in sites):
        problems.append("signed needs sites: a list of site codes")
    day = str(spec.get("day", "yesterday"))
    if day != "yesterday":
        import datetime as dt
        try:
            dt.date.fromisoformat(day)
        except ValueError:
            problems.append(f"signed: day must be yesterday or a date like 2026-12-01, not {day!r}")
    return problems


def _signed_rows(spec, base_dir):
    """The receivers of the parcels signed on ``day`` (network local day; default yesterday) at
    ``sites``, with the receiver's phone and name from the entered waybill."""
    import datetime as dt
    import json

    from contract.clock import now_ms
    from hub.business.localtime import network_offset
    from hub.scans.tables import ScanEvent
    from hub.waybills.tables import WaybillEntry
    off = network_offset() * 60_000
    if str(spec.get("day", "yesterday")) == "yesterday":
        local_today = (now_ms() + off) // 86_400_000
        start = (local_today - 1) * 86_400_000 - off
    else:
        d = dt.date.fromisoformat(str(spec["day"]))
        start = (d - dt.date(1970, 1, 1)).days * 86_400_000 - off
    sites = [str(s) for s in spec["sites"]]
    signed = [r.waybill for r in ScanEvent.select(ScanEvent.waybill).where(
        (ScanEvent.kind == "sign") & ScanEvent.site.in_(sites) & (ScanEvent.event_ms >= start)
        & (ScanEvent.event_ms < start + 86_400_000)).distinct()]
    rows = []
    for e in WaybillEntry.select().where(WaybillEntry.waybill.in_(signed)).order_by(WaybillEntry.waybill):
        f = json.loads(e.fields_json)
        if f.get("receiver_phone"):
            rows.append({"phone": f["receiver_phone"], "name": f.get("receiver_name") or "", "waybill": e.waybill})
    return rows


register("signed", _signed_rows, _signed_check)
