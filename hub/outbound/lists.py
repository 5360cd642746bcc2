"""Campaign lists: where the numbers come from, as a registry of sources, deduplicated by the
normalised phone (``contract.phone.e164``).

A source is a function ``(spec, base_dir) -> iterable of row dicts`` (``phone`` required;
``name``, ``customer``, ``tz`` and anything else kept as the record's fields) registered with
``register(name, check)``; the campaign file's ``list: {source: NAME, …}`` picks it.  Built in:

* ``csv``: ``{source: csv, path: list.csv}``, a header row naming ``phone`` (or ``mobile``,
  ``tel``, ``电话``, ``手机``) and any other columns.

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
