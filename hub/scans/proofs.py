"""Proof-of-delivery images at the hub: chunks in, whole images out (docs/protocol.md, "Proof of
delivery"; the chunk format is ``contract.proof``).

``receive(station, payload)`` takes one chunk and returns the acknowledgement to send back: the
chunk at the offset the hub holds up to is appended, any other is ignored (a resend, or one ahead
of a lost one: the station resends from ``have``).  When the last byte arrives the whole image is
checked against its SHA-256; a mismatch drops what arrived (``error``) and the station starts
over.  An image the hub already holds is complete at once: sent once, stored once.
"""
from __future__ import annotations

from contract import proof as C
from contract.clock import now_ms
from contract.errors import PayloadError
from hub.errors import HubError
from hub.scans import tables as m
from hub.store.db import database


class ProofError(HubError):
    """No proof for that waybill, or not all of it has arrived."""


def receive(station: str, payload: bytes) -> tuple[bytes | None, str | None]:
    """``(ack payload, None)`` for a chunk, or ``(None, reason)`` for a message that is not one
    (dead-lettered by the caller)."""
    try:
        c = C.parse_chunk(payload)
    except PayloadError as e:
        return None, f"malformed proof chunk: {e}"
    sha, now = c["sha256"], now_ms()
    with database.atomic():
        img = m.ProofImage.get_or_none(m.ProofImage.sha256 == sha)
        if img is None:
            img = m.ProofImage.create(sha256=sha, content_type=c["type"], size=c["size"], have=0, first_ms=now)
        elif (img.size, img.content_type) != (c["size"], c["type"]):
            return C.ack(sha, c["waybill"], img.have, img.data is not None,
                         f"this image is held with size {img.size} and type {img.content_type}"), None
        m.ProofLink.insert(waybill=c["waybill"], sha256=sha, scan_id=c["scan"], station=station,
                           linked_ms=now).on_conflict_ignore().execute()
        if img.data is not None:
            return C.ack(sha, c["waybill"], img.size, True), None
        if c["offset"] != img.have:
            return C.ack(sha, c["waybill"], img.have, False), None
        m.ProofChunk.insert(sha256=sha, offset=c["offset"], data=c["data"]).on_conflict_ignore().execute()
        have = img.have + len(c["data"])
        if have < img.size:
            m.ProofImage.update(have=have).where(m.ProofImage.sha256 == sha).execute()
            return C.ack(sha, c["waybill"], have, False), None
        data = b"".join(bytes(r.data) for r in m.ProofChunk.select().where(m.ProofChunk.sha256 == sha)
                        .order_by(m.ProofChunk.offset))
        m.ProofChunk.delete().where(m.ProofChunk.sha256 == sha).execute()
        if C.digest(data) != sha:
            m.ProofImage.update(have=0).where(m.ProofImage.sha256 == sha).execute()
            return C.ack(sha, c["waybill"], 0, False, "the bytes do not match their sha256: send the image again"), None
        m.ProofImage.update(have=have, data=data, complete_ms=now).where(m.ProofImage.sha256 == sha).execute()
        return C.ack(sha, c["waybill"], have, True), None


def proofs_of(waybill: str) -> list[dict]:
    """The images that prove ``waybill``: ``{"sha256", "type", "size", "have", "complete",
    "scan", "station", "linked_ms"}``, oldest link first."""
    out = []
    q = (m.ProofLink.select(m.ProofLink, m.ProofImage.content_type, m.ProofImage.size, m.ProofImage.have,
                            m.ProofImage.complete_ms)
         .join(m.ProofImage, on=(m.ProofLink.sha256 == m.ProofImage.sha256))
         .where(m.ProofLink.waybill == waybill).order_by(m.ProofLink.linked_ms, m.ProofLink.sha256).dicts())
    for r in q:
        out.append({"sha256": r["sha256"], "type": r["content_type"], "size": r["size"], "have": r["have"],
                    "complete": r["complete_ms"] is not None, "scan": r["scan_id"], "station": r["station"],
                    "linked_ms": r["linked_ms"]})
    return out


EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/tiff": ".tif", "application/pdf": ".pdf"}


def image(waybill: str, sha256: str | None = None) -> tuple[dict, bytes]:
    """The latest complete image of ``waybill`` (or the one named by ``sha256``, or its first
    characters): ``(its proofs_of entry, bytes)``.  ``ProofError`` when there is none."""
    done = [p for p in proofs_of(waybill) if p["complete"]]
    if sha256:
        done = [p for p in done if p["sha256"].startswith(sha256.lower())]
    if not done:
        pending = [p for p in proofs_of(waybill) if not p["complete"]]
        if pending and not sha256:
            p = pending[-1]
            raise ProofError(f"the proof of {waybill} is still arriving ({p['have']} of {p['size']} bytes)")
        raise ProofError(f"no proof of delivery for {waybill}" + (f" with sha256 {sha256}…" if sha256 else ""))
    p = done[-1]
    row = m.ProofImage.get(m.ProofImage.sha256 == p["sha256"])
    return p, bytes(row.data)
