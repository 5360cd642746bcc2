"""Bulk waybill entry at the hub: a CSV or Excel (.xlsx) file, one waybill record per line.

The first row names the columns (English or Chinese, any order, unknown ones refused)::

    waybill,site,dest_site,weight_kg,dims_cm,cod,receiver_name,receiver_phone,receiver_address
    70000000000016,100,200,2.3,40x30x20,500,张三,13800000000,浙江省杭州市西湖区文三路 1 号

``read_rows`` turns each line into a record (``contract.waybill_record``) or the reason it cannot
be one, with its line number; the command commits the good lines and lists the others.  Each
record's id is made from the file's content and the line number, so importing the same file
again changes nothing, while a later file that sets a field again is a correction.  Amounts are
in yuan (``500``, ``12.50``), weights in kg, dimensions ``LxWxH`` in cm.
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
from collections.abc import Iterator

from contract.errors import PayloadError
from contract.waybill_record import FIELD, check_fields, parse_dims, parse_money, parse_weight
from hub.waybills.records import WaybillError

#: column -> (record field, how to read the cell); Chinese headers as clerks write them
COLUMNS = {
    "waybill": (None, str), "site": (None, str), "operator": (None, str),
    "dest_site": ("dest_site", str), "weight_kg": ("weight_g", parse_weight),
    "dims_cm": ("dims_cm", parse_dims), "pieces": ("pieces", int),
    "declared": ("declared_cents", lambda v: parse_money(v, "declared")),
    "cod": ("cod_cents", lambda v: parse_money(v, "cod")),
    "freight_collect": ("freight_collect_cents", lambda v: parse_money(v, "freight_collect")),
    "insured": ("insured", None), "surcharges": ("surcharges", None),
    **{name: (name, str) for name in FIELD if FIELD[name].type == "text" and name != "dest_site"},
}
ALIASES = {"运单号": "waybill", "录单网点": "site", "目的站": "dest_site", "目的网点": "dest_site",
           "重量": "weight_kg", "尺寸": "dims_cm", "件数": "pieces", "声明价值": "declared", "保价": "insured",
           "代收货款": "cod", "到付": "freight_collect", "货物": "goods", "付款方式": "payment", "附加费": "surcharges",
           "寄件人": "sender_name", "寄件电话": "sender_phone", "寄件地址": "sender_address",
           "收件人": "receiver_name", "收件电话": "receiver_phone", "收件地址": "receiver_address",
           "备注": "remark", "录单员": "operator"}
TRUE, FALSE = {"1", "yes", "y", "true", "是", "保价"}, {"0", "no", "n", "false", "否", ""}
MAX_LINES = 1_000_000


def _cells(path: str) -> Iterator[list[str]]:
    """The file's rows as lists of text cells (CSV in UTF-8, with or without BOM, or .xlsx)."""
    if path.lower().endswith((".xlsx", ".xlsm")):
        try:
            import openpyxl
            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as e:          # zipfile, XML and openpyxl's own errors: a file we cannot read
            raise WaybillError(f"{path}: not a readable Excel workbook ({type(e).__name__}: {e})") from None
        try:
            for row in wb.worksheets[0].iter_rows(values_only=True):
                yield [_text(v) for v in row]
        finally:
            wb.close()
        return
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise WaybillError(f"{path}: not UTF-8 text (save the sheet as CSV UTF-8 or .xlsx): {e}") from None
    yield from csv.reader(io.StringIO(text))


def _text(v) -> str:
    """An Excel cell as the text a clerk typed (a number stored as 7.0e13 is 70000000000000)."""
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _column(name: str) -> str:
    key = name.strip().lower().replace(" ", "_")
    return ALIASES.get(name.strip(), key)


def _cell(col: str, value: str):
    field, read = COLUMNS[col]
    value = value.strip()
    if col == "insured":
        if value.lower() not in TRUE | FALSE:
            raise PayloadError(f"insured {value!r}: yes or no")
        return field, value.lower() in TRUE
    if col == "surcharges":
        return field, [s.strip() for s in value.replace("，", ";").replace(",", ";").split(";") if s.strip()]
    if col == "pieces":
        if not value.isdigit():
            raise PayloadError(f"pieces {value!r}: a whole number")
        return field, int(value)
    return field, read(value)


def read_rows(path: str, site: str | None = None, now_ms: int = 0) -> tuple[list[tuple[int, dict]], list[tuple[int, str]]]:
    """``(records, errors)`` of the file at ``path``: ``(line, record)`` for each good line and
    ``(line, reason)`` for each other one.  ``site``: the entering site of lines without a
    ``site`` column.  Raises ``WaybillError`` for a file that cannot be read at all."""
    if not os.path.exists(path):
        raise WaybillError(f"{path}: file not found")
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:20]
    rows = _cells(path)
    header = next(rows, None)
    if not header:
        raise WaybillError(f"{path}: empty file (the first row names the columns, e.g. waybill,dest_site,weight_kg)")
    cols = [_column(h) for h in header]
    unknown = [h for h, c in zip(header, cols) if c not in COLUMNS and h.strip()]
    if unknown:
        raise WaybillError(f"{path}: unknown column {unknown[0]!r} (known: {', '.join(COLUMNS)})")
    if "waybill" not in cols:
        raise WaybillError(f"{path}: no waybill column")
    if "site" not in cols and not site:
        raise WaybillError(f"{path}: no site column: give the entering site with --site")
    records, errors = [], []
    for line, cells in enumerate(rows, start=2):
        if line > MAX_LINES:
            raise WaybillError(f"{path}: more than {MAX_LINES} lines; split the file")
        if not any(c.strip() for c in cells):
            continue
        try:
            if len(cells) > len(cols):
                raise PayloadError(f"{len(cells)} cells but {len(cols)} columns")
            got = {c: v for c, v in zip(cols, cells) if c in COLUMNS}
            fields = {}
            for col, value in got.items():
                if COLUMNS[col][0] is not None and value.strip():
                    k, v = _cell(col, value)
                    fields[k] = v
            waybill = got.get("waybill", "").strip()
            if not waybill:
                raise PayloadError("no waybill number")
            # zero-padded: records of one file apply in line order (ids break the tie of one time)
            rec = {"id": f"import-{digest}-{line:07d}", "waybill": waybill,
                   "site": got.get("site", "").strip() or site, "edge_ms": now_ms, "event_ms": now_ms,
                   "fields": check_fields(fields)}
            if got.get("operator", "").strip():
                rec["operator"] = got["operator"].strip()
            if not fields:
                raise PayloadError("the line sets no field")
            records.append((line, rec))
        except (PayloadError, ValueError) as e:
            errors.append((line, str(e)))
    return records, errors
