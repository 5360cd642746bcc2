"""Batch files that real wireless guns write, read as they come off the gun (docs/scanners.md,
"Vendor batch files").  Pure: text in, records out, no I/O.

Only formats whose vendor publishes them are here, each with its source:

``opticon-scanned``   Opticon OPN-2006 (and the other OPN/PX companions running Opticon's batch
                      demo firmware): ``SCANNED.TXT``, read from the gun mounted as USB storage
                      (USB-MSD) or received over its USB-VCP port with OseComm/NetO.  Default record
                      ``<barcode>,<serial #>,<hh:mm:ss>,<dd/mm/yyyy>`` (Opticon, *OPN-2006 Batch
                      demo Quick Guide*, chapter 4 "Barcode database file", page 7).
``opticon-scanned-qty`` the same file when a quantity field is configured:
                      ``<barcode>,<quantity>,<serial #>,<hh:mm:ss>,<dd/mm/yyyy>`` (Opticon, *OPN-2004 /
                      OPN-2005 / PX-20 Batch demo (v37938) Quick Guide*, chapter 4, page 7).
``opticon-data``      Opticon OPL-9724 with its graphical demo application: ``DATA.TXT``, records of
                      a barcode right-padded with spaces to 50 characters, the code ID right-padded
                      to 18, ``HH:MM:SS`` and ``DD/MM/YYYY``, comma-separated, ending in CR LF
                      (Opticon, *OPL 9724 User guide*, "Graphical demo application", 3. Data format,
                      page 17).

``parse(text, fmt, tz_offset_min)`` returns ``(records, problems)``: every good line as a
``FileRecord`` (times are the gun's local wall clock, turned into UTC epoch ms with the given
offset) and one line per bad line (``"line 3: …"``), so one damaged record never hides the rest.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from drivers.scanner.errors import ScannerError

FORMATS = ("opticon-scanned", "opticon-scanned-qty", "opticon-data")
_TIME = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9])")
_DATE = re.compile(r"(0[1-9]|[12][0-9]|3[01])/(0[1-9]|1[0-2])/([0-9]{4})")
MAX_BARCODE = 128


class VendorFileError(ScannerError, ValueError):
    """A vendor batch file that cannot be read at all (unknown format, not text)."""


@dataclass(frozen=True)
class FileRecord:
    line: int                 # 1-based line of the file
    barcode: str
    time_ms: int              # UTC epoch ms of the gun's local time stamp
    quantity: int = 1         # opticon-scanned-qty: how many times the code was scanned
    serial: str | None = None # the gun's serial number, when the file carries it
    code_id: str | None = None


def _when(time_s: str, date_s: str, tz_offset_min: int) -> int:
    t, d = _TIME.fullmatch(time_s), _DATE.fullmatch(date_s)
    if not t:
        raise ValueError(f"time {time_s!r} is not hh:mm:ss")
    if not d:
        raise ValueError(f"date {date_s!r} is not dd/mm/yyyy")
    try:
        local = dt.datetime(int(d[3]), int(d[2]), int(d[1]), int(t[1]), int(t[2]), int(t[3]),
                            tzinfo=dt.timezone(dt.timedelta(minutes=tz_offset_min)))
    except ValueError:
        raise ValueError(f"date {date_s!r} does not exist") from None
    return int(local.timestamp() * 1000)


def _barcode(v: str) -> str:
    if not v or len(v) > MAX_BARCODE or not v.isprintable():
        raise ValueError(f"barcode {v[:40]!r} is empty, too long or not printable")
    return v


def _record(n: int, line: str, fmt: str, tz: int) -> FileRecord:
    if fmt == "opticon-data":
        # fixed width: 50 + "," + 18 + "," + 8 + "," + 10
        if len(line) != 89 or line[50] != "," or line[69] != "," or line[78] != ",":
            raise ValueError(f"a DATA.TXT record is 89 characters with commas at 51, 70 and 79, not {len(line)}")
        barcode, code_id = line[:50].rstrip(" "), line[51:69].rstrip(" ")
        return FileRecord(n, _barcode(barcode), _when(line[70:78], line[79:], tz), code_id=code_id or None)
    parts = line.split(",")
    want = 5 if fmt == "opticon-scanned-qty" else 4
    if len(parts) != want:
        raise ValueError(f"{len(parts)} fields, the {fmt} record has {want}")
    if fmt == "opticon-scanned-qty":
        barcode, qty, serial, t, d = parts
        if not qty.isdigit() or int(qty) < 1:
            raise ValueError(f"quantity {qty!r} is not a whole number >= 1")
        return FileRecord(n, _barcode(barcode), _when(t, d, tz), int(qty), serial or None)
    barcode, serial, t, d = parts
    return FileRecord(n, _barcode(barcode), _when(t, d, tz), 1, serial or None)


def parse(data: bytes | str, fmt: str, tz_offset_min: int = 480) -> tuple[list[FileRecord], list[str]]:
    """Records of a vendor batch file and a line per problem (see the module docstring).  Raises
    ``VendorFileError`` only for an unknown ``fmt`` or bytes that are not ASCII/UTF-8 text."""
    if fmt not in FORMATS:
        raise VendorFileError(f"unknown batch file format {fmt!r} (one of {', '.join(FORMATS)})")
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise VendorFileError(f"not a text file (byte {e.start} is not UTF-8)") from None
    else:
        text = data
    records, problems = [], []
    for n, raw in enumerate(text.split("\n"), 1):
        line = raw[:-1] if raw.endswith("\r") else raw
        if not line.strip():
            continue
        try:
            records.append(_record(n, line, fmt, tz_offset_min))
        except ValueError as e:
            problems.append(f"line {n}: {e}")
    return records, problems
