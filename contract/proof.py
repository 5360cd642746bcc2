"""Proof of delivery: a photo or scanned receipt attached to a parcel, sent to the hub in chunks
after the scans (docs/protocol.md, "Proof of delivery").

A station sends an image on ``…/proof`` one chunk at a time, each a JSON object::

    {"v": 1, "sha256": "<64 hex>", "waybill": "7000…", "scan": "<sign scan id or null>",
     "type": "image/jpeg", "size": 183004, "offset": 0, "data": "<base64 of the chunk's bytes>"}

and the hub answers each on ``…/proof/ack`` with ``{"v": 1, "sha256", "waybill", "have": <bytes
held from the start>, "complete": bool, "error": <one line or null>}``.  The station sends the
chunk at ``have`` next: so an interrupted upload resumes where the hub stopped, a chunk sent twice
or out of order changes nothing, and an image the hub already holds (same SHA-256) is acknowledged
complete at its first chunk: sent once, stored once, whatever number of waybills it proves.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re

from contract.errors import PayloadError
from contract.scan import ID_LEN, WAYBILL_LEN

#: bytes of image per chunk (about 64 KiB of JSON with base64: well inside any broker's limit)
CHUNK_BYTES = 48 * 1024
#: the largest image accepted (a phone photo is 2-5 MB; bigger is a mistake, not a receipt)
MAX_BYTES = 16 * 1024 * 1024
#: what a proof may be, by its magic bytes (checked at both ends)
TYPES = {"image/jpeg": (b"\xff\xd8\xff",), "image/png": (b"\x89PNG\r\n\x1a\n",),
         "image/tiff": (b"II*\x00", b"MM\x00*"), "application/pdf": (b"%PDF-",)}
_HEX64 = re.compile(r"[0-9a-f]{64}")


def sniff(data: bytes) -> str | None:
    """The proof type of ``data`` from its first bytes, or None when it is none of ``TYPES``."""
    for kind, magics in TYPES.items():
        if any(data.startswith(m) for m in magics):
            return kind
    return None


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def chunk(meta: dict, data: bytes, offset: int) -> bytes:
    """The chunk message of ``data[offset:offset + CHUNK_BYTES]`` (``meta``: sha256, waybill,
    scan, type, size)."""
    piece = data[offset:offset + CHUNK_BYTES]
    body = {"v": 1, "sha256": meta["sha256"], "waybill": meta["waybill"], "scan": meta.get("scan"),
            "type": meta["type"], "size": meta["size"], "offset": offset,
            "data": base64.b64encode(piece).decode("ascii")}
    return json.dumps(body, separators=(",", ":")).encode()


def _int(body: dict, key: str, lo: int, hi: int) -> int:
    v = body.get(key)
    if type(v) is not int or not lo <= v <= hi:
        raise PayloadError(f"{key} must be a whole number from {lo} to {hi}")
    return v


def parse_chunk(payload: bytes) -> dict:
    """A checked chunk: ``{"sha256", "waybill", "scan", "type", "size", "offset", "data": bytes}``.
    Raises ``PayloadError`` with the reason (one line) for anything else."""
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise PayloadError("proof chunk is not JSON") from None
    if not isinstance(body, dict):
        raise PayloadError("proof chunk must be a JSON object")
    if body.get("v") != 1:
        raise PayloadError(f"unknown proof chunk version {body.get('v')!r}")
    sha = body.get("sha256")
    if not isinstance(sha, str) or not _HEX64.fullmatch(sha):
        raise PayloadError("sha256 must be 64 lowercase hex digits")
    waybill = body.get("waybill")
    if not isinstance(waybill, str) or not 0 < len(waybill) <= WAYBILL_LEN:
        raise PayloadError(f"waybill must be text of 1-{WAYBILL_LEN} characters")
    scan = body.get("scan")
    if scan is not None and (not isinstance(scan, str) or not 0 < len(scan) <= ID_LEN):
        raise PayloadError(f"scan must be a scan id of 1-{ID_LEN} characters, or null")
    kind = body.get("type")
    if kind not in TYPES:
        raise PayloadError(f"type must be one of {', '.join(TYPES)}")
    size = _int(body, "size", 1, MAX_BYTES)
    offset = _int(body, "offset", 0, size - 1)
    raw = body.get("data")
    if not isinstance(raw, str):
        raise PayloadError("data must be base64 text")
    try:
        data = base64.b64decode(raw.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise PayloadError("data is not valid base64") from None
    if not data or len(data) > CHUNK_BYTES:
        raise PayloadError(f"a chunk holds 1-{CHUNK_BYTES} bytes, not {len(data)}")
    if offset + len(data) > size:
        raise PayloadError(f"chunk at {offset} of {len(data)} bytes runs past the size {size}")
    if offset == 0 and sniff(data) != kind:
        raise PayloadError(f"the image does not start like {kind}")
    return {"sha256": sha, "waybill": waybill, "scan": scan, "type": kind, "size": size, "offset": offset,
            "data": data}


def ack(sha256: str, waybill: str, have: int, complete: bool, error: str | None = None) -> bytes:
    return json.dumps({"v": 1, "sha256": sha256, "waybill": waybill, "have": have, "complete": complete,
                       "error": error}, separators=(",", ":")).encode()
