"""Messages of the flashing protocol (host ↔ gun), shared by the host tool and the gun simulator.

Every message is one frame (``framing.py``); the frame type is the message type.  Host requests
have the high bit clear, gun replies set it.  Integers are big-endian.

====  ============  ====================================================================
type  name          payload
====  ============  ====================================================================
0x01  HELLO         ``protocol u8`` (1)
0x81  HELLO_REPLY   TLV list (below): who the gun is and what it holds
0x02  BEGIN         ``chunk_size u16`` (the host's wish) ``| manifest`` (``container`` layout)
0x82  BEGIN_ACK     ``session 16s | chunk_size u16 | reuse_mask u32 | next_chunk u32 | total u32``
0x03  DATA          ``chunk u32 | bytes``  (offset and length follow from the transfer plan)
0x83  ACK           ``chunk u32``
0x84  NAK           ``expected_chunk u32 | reason u8`` (1 bad frame, 2 out of order, 3 bad length)
0x04  COMMIT        empty: verify the staged image and switch to it
0x85  COMMIT_OK     TLV list of the new active image
0x05  READ          ``offset u32 | length u16``: read back the active image
0x86  READ_DATA     ``offset u32 | bytes`` (empty past the end)
0x06  ABORT         empty: drop a pending transfer
0x87  ABORT_OK      empty
0x8F  ERROR         ``code_len u8 | code | message`` (UTF-8)
====  ============  ====================================================================

TLV (HELLO_REPLY, COMMIT_OK): ``tag u8 | len u16 | value`` repeated; text is UTF-8, numbers are
u32.  Unknown tags are skipped, so newer guns can say more.

Transfer plan: the bytes from the end of the manifest to the end of the image, minus the
sections the gun reuses from its active image (bit ``i`` of ``reuse_mask`` = section entry ``i``),
cut into ``chunk_size`` pieces in order.  Both sides compute it from the manifest, so a chunk
carries only its number.  A transfer is a *session* named by the first 16 bytes of SHA-256 of the
manifest; a gun keeps a pending session's progress across disconnects and power loss, and a BEGIN
with the same manifest resumes at ``next_chunk``.
"""
from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from firmware_images.container import ImageInfo

PROTOCOL_VERSION = 1

HELLO, BEGIN, DATA, COMMIT, READ, ABORT = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
HELLO_REPLY, BEGIN_ACK, ACK, NAK, COMMIT_OK, READ_DATA, ABORT_OK, ERROR = (
    0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x8F)
NAMES = {HELLO: "HELLO", BEGIN: "BEGIN", DATA: "DATA", COMMIT: "COMMIT", READ: "READ", ABORT: "ABORT",
         HELLO_REPLY: "HELLO_REPLY", BEGIN_ACK: "BEGIN_ACK", ACK: "ACK", NAK: "NAK",
         COMMIT_OK: "COMMIT_OK", READ_DATA: "READ_DATA", ABORT_OK: "ABORT_OK", ERROR: "ERROR"}
NAK_BAD_FRAME, NAK_ORDER, NAK_LENGTH = 1, 2, 3

# TLV tags: name -> (tag, kind)
TAGS = {
    "gun_id": (1, "text"), "model": (2, "text"), "firmware": (3, "text"), "free_bytes": (4, "u32"),
    "max_chunk": (5, "u32"), "active_slot": (6, "text"), "image_version": (7, "text"),
    "image_site": (8, "text"), "image_digest": (9, "bytes"), "image_len": (10, "u32"),
    "data_version": (11, "text"), "pending_session": (12, "bytes"), "pending_next": (13, "u32"),
    "pending_total": (14, "u32"), "key_id": (15, "bytes"), "boot_note": (16, "text"),
}
_BY_TAG = {tag: (name, kind) for name, (tag, kind) in TAGS.items()}
_BEGIN_ACK = struct.Struct(">16sHIII")


class ProtocolError(ValueError):
    """A message payload does not have the layout its type requires."""


def encode_tlv(fields: dict) -> bytes:
    out = bytearray()
    for name, value in fields.items():
        if value is None:
            continue
        tag, kind = TAGS[name]
        if kind == "text":
            raw = str(value).encode("utf-8")
        elif kind == "u32":
            raw = struct.pack(">I", value)
        else:
            raw = bytes(value)
        out += struct.pack(">BH", tag, len(raw)) + raw
    return bytes(out)


def decode_tlv(data: bytes) -> dict:
    out = {}
    pos = 0
    while pos < len(data):
        if pos + 3 > len(data):
            raise ProtocolError("TLV header runs past the payload")
        tag, n = struct.unpack_from(">BH", data, pos)
        pos += 3
        if pos + n > len(data):
            raise ProtocolError(f"TLV tag {tag} runs past the payload")
        raw = data[pos:pos + n]
        pos += n
        if tag not in _BY_TAG:
            continue
        name, kind = _BY_TAG[tag]
        if kind == "text":
            out[name] = raw.decode("utf-8", errors="replace")
        elif kind == "u32":
            if n != 4:
                raise ProtocolError(f"TLV {name} must be 4 bytes")
            out[name] = struct.unpack(">I", raw)[0]
        else:
            out[name] = bytes(raw)
    return out


@dataclass(frozen=True)
class BeginAck:
    session: bytes
    chunk_size: int
    reuse_mask: int
    next_chunk: int
    total: int

    def encode(self) -> bytes:
        return _BEGIN_ACK.pack(self.session, self.chunk_size, self.reuse_mask, self.next_chunk, self.total)

    @classmethod
    def decode(cls, data: bytes) -> "BeginAck":
        if len(data) != _BEGIN_ACK.size:
            raise ProtocolError(f"BEGIN_ACK of {len(data)} bytes, expected {_BEGIN_ACK.size}")
        return cls(*_BEGIN_ACK.unpack(data))


def encode_u32(n: int) -> bytes:
    return struct.pack(">I", n)


def decode_u32(data: bytes, what: str) -> int:
    if len(data) < 4:
        raise ProtocolError(f"{what}: payload shorter than 4 bytes")
    return struct.unpack_from(">I", data)[0]


def encode_error(code: str, message: str) -> bytes:
    c = code.encode()[:255]
    return bytes((len(c),)) + c + message.encode("utf-8")


def decode_error(data: bytes) -> tuple[str, str]:
    if not data or len(data) < 1 + data[0]:
        return "unknown", data.decode("utf-8", errors="replace")
    n = data[0]
    return data[1:1 + n].decode(errors="replace"), data[1 + n:].decode("utf-8", errors="replace")


def session_id(manifest: bytes) -> bytes:
    return hashlib.sha256(manifest).digest()[:16]


def reuse_mask(new: ImageInfo, old: ImageInfo | None) -> int:
    """Sections of ``new`` whose stored bytes the gun already has in ``old`` (same digest)."""
    if old is None:
        return 0
    have = {s.digest for s in old.sections}
    mask = 0
    for i, s in enumerate(new.sections):
        if s.digest in have and s.stored_len:
            mask |= 1 << i
    return mask


def transfer_plan(info: ImageInfo, mask: int, chunk_size: int) -> list[tuple[int, int]]:
    """(offset, length) of every chunk to send, in order."""
    if chunk_size <= 0:
        raise ProtocolError("chunk size must be positive")
    skip = [(s.offset, s.end) for i, s in enumerate(info.sections) if mask >> i & 1]
    extents = []
    pos = info.manifest_len
    for start, end in skip:
        if start > pos:
            extents.append((pos, start))
        pos = max(pos, end)
    if pos < info.image_len:
        extents.append((pos, info.image_len))
    plan = []
    for start, end in extents:
        for off in range(start, end, chunk_size):
            plan.append((off, min(chunk_size, end - off)))
    return plan
