"""The typed sections of a gun image, described as data, and their table codec.

Each section is one table of the hub's per-site configuration slice (``hub.station_config``).
Rows are sorted by the section's key before encoding, so the same data always gives the same
bytes whatever order it came in.  References to sites and shifts are stored as indices into the
``sites`` and ``shifts`` sections (index + 1; 0 = none / any shift), which is both smaller and
what a gun needs to route without string compares.

Section payload (before compression)::

    u32 rows | u8 columns | per column: u8 encoding (1 int, 2 text, 3 bytes) | u32 length | data

Column value types (how a slice value maps to an encoded column):

=========  ======================================================  ========
type       slice value                                             encoding
=========  ======================================================  ========
text       str (or None where nullable)                            text
site       site code, stored as its index in ``sites`` + 1         int
shift      shift code or "" (any), index in ``shifts`` + 1 or 0    int
int        non-negative integer                                    int
bool       bool                                                    int
hhmm       "HH:MM" local time, stored as minutes after midnight    int
hex        lowercase hex string (PIN salts and hashes)             bytes
kinds      list of scan kinds, stored comma-joined                 text
json       a dict, stored as canonical JSON (sorted keys)          text
=========  ======================================================  ========
"""
from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from operator import itemgetter, lt

from firmware_images import columns as col
from firmware_images.errors import ImageBuildError, MalformedImage

ENC_INT, ENC_TEXT, ENC_BYTES = 1, 2, 3
_ENCODING = {"text": ENC_TEXT, "site": ENC_INT, "shift": ENC_INT, "int": ENC_INT, "bool": ENC_INT,
             "hhmm": ENC_INT, "hex": ENC_BYTES, "kinds": ENC_TEXT, "json": ENC_TEXT}
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_HEX = re.compile(r"^(?:[0-9a-f]{2})*$")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool = False
    delta: bool = False   # store differences (for columns that rise along the sort order)


@dataclass(frozen=True)
class Section:
    type_id: int
    name: str
    key: tuple[str, ...]            # sort key and uniqueness key
    columns: tuple[Column, ...]
    scalar: str | None = None       # the slice holds bare values, not dicts (blocked_sites)


SECTIONS: tuple[Section, ...] = (
    Section(1, "sites", ("code",), (
        Column("code", "text"), Column("name", "text"), Column("kind", "text"),
        Column("center", "site", nullable=True), Column("province", "text", nullable=True),
        Column("city", "text", nullable=True), Column("district", "text", nullable=True),
        Column("blocked", "bool"))),
    Section(2, "staff", ("code",), (
        Column("code", "text"), Column("name", "text"), Column("site", "site"), Column("role", "text"))),
    Section(3, "gun_users", ("login",), (
        Column("login", "text"), Column("staff", "text"), Column("site", "site"),
        Column("pin_salt", "hex"), Column("pin_hash", "hex"), Column("kinds", "kinds"))),
    Section(4, "shifts", ("code",), (
        Column("code", "text"), Column("from", "site"), Column("to", "site"),
        Column("depart", "hhmm"), Column("transit_min", "int"))),
    Section(5, "next_stop", ("site", "dest", "shift"), (
        Column("site", "site", delta=True), Column("dest", "site", delta=True),
        Column("shift", "shift"), Column("next", "site"))),
    Section(6, "waybill_rules", ("name", "rule"), (Column("rule", "json"),)),
    Section(7, "blocked_sites", ("code",), (Column("code", "site", delta=True),), scalar="code"),
    Section(8, "issuance", ("first", "last"), (
        Column("site", "site"), Column("first", "text"), Column("last", "text"))),
    # added with the bag and problem scans (docs/gun-image.md, "Sections"): a reader that does not
    # know a section type skips it, so older guns still load an image that carries it
    Section(9, "reasons", ("code",), (
        Column("code", "text"), Column("name", "text"), Column("kinds", "kinds"))),
)
BY_TYPE = {s.type_id: s for s in SECTIONS}
BY_NAME = {s.name: s for s in SECTIONS}


class Context:
    """Site and shift indices shared by the sections of one image."""

    def __init__(self, site_codes: list[str], shift_codes: list[str]):
        self.site_codes = site_codes
        self.shift_codes = shift_codes
        self.site_index = {c: i for i, c in enumerate(site_codes)}
        self.shift_index = {c: i for i, c in enumerate(shift_codes)}


# ---------------------------------------------------------------- encoding

def _rows_of(section: Section, data) -> list[dict]:
    if data is None:
        return []
    if not isinstance(data, list):
        raise ImageBuildError(f"{section.name}: must be a list, got {type(data).__name__}")
    if section.scalar:
        return [{section.scalar: v} for v in data]
    if section.name == "waybill_rules":
        out = []
        for i, r in enumerate(data):
            if not isinstance(r, dict) or not isinstance(r.get("name"), str):
                raise ImageBuildError(f"waybill_rules[{i}]: must be a mapping with a name")
            out.append({"name": r["name"], "rule": r})
        return out
    for i, r in enumerate(data):
        if not isinstance(r, dict):
            raise ImageBuildError(f"{section.name}[{i}]: must be a mapping, got {r!r}")
    return data


def _sort_value(v):
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True, ensure_ascii=False)
    return "" if v is None else v


def sorted_rows(section: Section, data) -> list[dict]:
    """The section's rows in canonical order; raises ``ImageBuildError`` on duplicate keys."""
    rows = _rows_of(section, data)
    if section.name == "waybill_rules":
        key_of = lambda r: tuple(_sort_value(r[k]) for k in section.key)  # noqa: E731
    else:
        key_of = itemgetter(*section.key)
    try:
        keys = list(map(key_of, rows))
        if all(map(lt, keys, keys[1:])):      # already in order (the hub sends sorted slices)
            return rows
        order = sorted(range(len(rows)), key=keys.__getitem__)
    except KeyError as e:
        raise ImageBuildError(f"{section.name}: a row is missing {e.args[0]!r}") from None
    except TypeError:
        raise ImageBuildError(f"{section.name}: key fields {', '.join(section.key)} must be text") from None
    for a, b in zip(order, order[1:]):
        if keys[a] == keys[b]:
            k = keys[a] if isinstance(keys[a], tuple) else (keys[a],)
            raise ImageBuildError(f"{section.name}: duplicate entry for {'/'.join(map(str, k))}")
    return [rows[i] for i in order]


def _values(section: Section, column: Column, rows: list[dict], ctx: Context):
    where = f"{section.name}.{column.name}"
    try:
        raw = [r[column.name] for r in rows]
    except KeyError:
        i = next(i for i, r in enumerate(rows) if column.name not in r)
        raise ImageBuildError(f"{section.name} row {i}: missing {column.name!r}") from None

    def bad(i, why):
        return ImageBuildError(f"{where} (row {i}, {raw[i]!r}): {why}")

    t = column.type
    if not column.nullable or t == "shift":
        for i, v in enumerate(raw):
            if v is None and t != "shift":
                raise bad(i, "must not be empty")
    if t == "text":
        for i, v in enumerate(raw):
            if v is not None and not isinstance(v, str):
                raise bad(i, "must be text")
        return col.encode_texts(raw)
    if t == "site":
        idx = ctx.site_index
        try:
            return col.encode_ints([0 if v is None else idx[v] + 1 for v in raw], delta=column.delta)
        except KeyError:
            i = next(i for i, v in enumerate(raw) if v is not None and v not in idx)
            raise bad(i, "unknown site (not in the sites section)") from None
    if t == "shift":
        idx = ctx.shift_index
        try:
            return col.encode_ints([idx[v] + 1 if v else 0 for v in raw])
        except KeyError:
            i = next(i for i, v in enumerate(raw) if v and v not in idx)
            raise bad(i, "unknown shift (not in the shifts section)") from None
    if t in ("int", "bool"):
        for i, v in enumerate(raw):
            if t == "bool" and not isinstance(v, bool):
                raise bad(i, "must be true or false")
            if t == "int" and (not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 1 << 63):
                raise bad(i, "must be a non-negative whole number")
        return col.encode_ints([int(v) for v in raw])
    if t == "hhmm":
        for i, v in enumerate(raw):
            if not isinstance(v, str) or not _HHMM.match(v):
                raise bad(i, "must be HH:MM (00:00-23:59)")
        return col.encode_ints([int(v[:2]) * 60 + int(v[3:]) for v in raw])
    if t == "hex":
        for i, v in enumerate(raw):
            if not isinstance(v, str) or not _HEX.match(v):
                raise bad(i, "must be lowercase hex with an even number of digits")
        return col.encode_blobs([bytes.fromhex(v) for v in raw])
    if t == "kinds":
        for i, v in enumerate(raw):
            if not isinstance(v, list) or not all(isinstance(k, str) and k and "," not in k for k in v):
                raise bad(i, "must be a list of scan kind names")
        return col.encode_texts([",".join(v) for v in raw])
    if t == "json":
        return col.encode_texts([json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                                 for v in raw])
    raise AssertionError(f"unknown column type {t}")


def encode_section(section: Section, rows: list[dict], ctx: Context) -> bytes:
    """The raw (uncompressed) payload of ``section`` for rows already in canonical order."""
    parts = [struct.pack("<IB", len(rows), len(section.columns))]
    for column in section.columns:
        data = _values(section, column, rows, ctx)
        parts.append(struct.pack("<BI", _ENCODING[column.type], len(data)))
        parts.append(data)
    return b"".join(parts)


# ---------------------------------------------------------------- decoding

def section_rows(payload: bytes) -> int:
    if len(payload) < 5:
        raise MalformedImage("section payload shorter than its 5-byte table header")
    return struct.unpack_from("<I", payload)[0]


def decode_section(section: Section, payload: bytes, ctx: Context | None) -> list:
    """Rows (dicts, or bare values for scalar sections) of ``section`` from its raw payload.

    ``ctx`` is None while decoding ``sites`` and ``shifts`` themselves (their references are
    resolved by the caller once the code lists are known)."""
    rows, ncols = struct.unpack_from("<IB", payload) if len(payload) >= 5 else (None, None)
    if rows is None:
        raise MalformedImage(f"{section.name}: payload shorter than its 5-byte table header")
    if ncols != len(section.columns):
        raise MalformedImage(f"{section.name}: {ncols} columns, format 1 has {len(section.columns)}")
    pos = 5
    values: dict[str, list] = {}
    for column in section.columns:
        where = f"{section.name}.{column.name}"
        if pos + 5 > len(payload):
            raise MalformedImage(f"{where}: column header runs past the section's end")
        enc, length = struct.unpack_from("<BI", payload, pos)
        pos += 5
        if enc != _ENCODING[column.type]:
            raise MalformedImage(f"{where}: encoding {enc}, expected {_ENCODING[column.type]}")
        if pos + length > len(payload):
            raise MalformedImage(f"{where}: column runs past the section's end")
        data = payload[pos:pos + length]
        pos += length
        values[column.name] = _decode_values(section, column, data, rows, ctx, where)
    if pos != len(payload):
        raise MalformedImage(f"{section.name}: {len(payload) - pos} stray bytes after the last column")
    names = [c.name for c in section.columns]
    out = [dict(zip(names, vals)) for vals in zip(*(values[n] for n in names))] if rows else []
    if section.scalar:
        return [r[section.scalar] for r in out]
    if section.name == "waybill_rules":
        return [r["rule"] for r in out]
    return out


def _decode_values(section, column, data, rows, ctx, where):
    t = column.type
    enc = _ENCODING[t]
    if enc == ENC_TEXT:
        vals = col.decode_texts(data, rows, where)
    elif enc == ENC_BYTES:
        vals = col.decode_blobs(data, rows, where)
    else:
        vals = col.decode_ints(data, rows, where)
    if not column.nullable and t not in ("shift",) and any(v is None for v in vals):
        raise MalformedImage(f"{where}: empty value in a column that must not be empty")
    if t == "text":
        return vals
    if t == "site":
        if ctx is None:
            return vals  # raw indices; resolved by the caller
        codes = ctx.site_codes
        if any(not 0 <= v <= len(codes) for v in vals) or (not column.nullable and 0 in vals):
            raise MalformedImage(f"{where}: site index out of range")
        return [None if v == 0 else codes[v - 1] for v in vals]
    if t == "shift":
        codes = ctx.shift_codes if ctx else []
        if any(not 0 <= v <= len(codes) for v in vals):
            raise MalformedImage(f"{where}: shift index out of range")
        return ["" if v == 0 else codes[v - 1] for v in vals]
    if t == "int":
        return vals
    if t == "bool":
        if any(v > 1 for v in vals):
            raise MalformedImage(f"{where}: boolean value other than 0 or 1")
        return [bool(v) for v in vals]
    if t == "hhmm":
        if any(v >= 24 * 60 for v in vals):
            raise MalformedImage(f"{where}: time of day past 23:59")
        return [f"{v // 60:02d}:{v % 60:02d}" for v in vals]
    if t == "hex":
        return [v.hex() for v in vals]
    if t == "kinds":
        return [v.split(",") if v else [] for v in vals]
    if t == "json":
        try:
            out = [json.loads(v) for v in vals]
        except ValueError as e:
            raise MalformedImage(f"{where}: not valid JSON ({e})") from None
        if not all(isinstance(v, dict) for v in out):
            raise MalformedImage(f"{where}: every value must be a JSON object")
        return out
    raise AssertionError(t)


def resolve_site_refs(rows: list[dict], section: Section, ctx: Context) -> list[dict]:
    """Turn the raw site indices of ``sites`` / ``shifts`` rows into codes once ``ctx`` is known."""
    for column in section.columns:
        if column.type != "site":
            continue
        n = len(ctx.site_codes)
        for r in rows:
            v = r[column.name]
            if not 0 <= v <= n or (v == 0 and not column.nullable):
                raise MalformedImage(f"{section.name}.{column.name}: site index {v} out of range")
            r[column.name] = None if v == 0 else ctx.site_codes[v - 1]
    return rows


def raw_columns(section: Section, payload: bytes) -> tuple[int, dict[str, tuple[int, bytes]]]:
    """(rows, {column name: (encoding, column bytes)}) without interpreting values: for readers
    such as a gun that work on the stored indices directly."""
    if len(payload) < 5:
        raise MalformedImage(f"{section.name}: payload shorter than its 5-byte table header")
    rows, ncols = struct.unpack_from("<IB", payload)
    if ncols != len(section.columns):
        raise MalformedImage(f"{section.name}: {ncols} columns, format 1 has {len(section.columns)}")
    pos, out = 5, {}
    for column in section.columns:
        if pos + 5 > len(payload):
            raise MalformedImage(f"{section.name}.{column.name}: column header runs past the section's end")
        enc, length = struct.unpack_from("<BI", payload, pos)
        pos += 5
        if enc != _ENCODING[column.type] or pos + length > len(payload):
            raise MalformedImage(f"{section.name}.{column.name}: bad column header")
        out[column.name] = (enc, payload[pos:pos + length])
        pos += length
    return rows, out
