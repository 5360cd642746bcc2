"""Flash storage of a simulated wireless gun: two image slots, an active-slot pointer and the
progress of a pending transfer, all kept in one directory so that a restart ("power loss")
finds exactly what a real gun's flash would hold.

Files::

    identity.json   gun id, model, firmware, provisioned public key (hex)
    slot-a.img      image slot A     slot-b.img  image slot B
    active          "a" or "b": the slot the gun boots (replaced atomically)
    session.json    pending transfer: session id, slot, manifest, reuse mask, chunk size, next chunk

Invariant: ``active`` only ever names a slot whose image verified completely (checksums and
signature with the provisioned key), and a transfer only ever writes the *other* slot.  Whatever
moment power is lost at, the gun boots a valid image (or none, if it never had one).

``crash_points`` lets tests cut the power at named moments: ``chunk-written`` (data written,
progress not yet saved), ``before-switch`` (new image verified, pointer not yet moved) and
``after-switch`` (pointer moved, reply not yet sent).
"""
from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from firmware_images import container, keys
from firmware_images import link_protocol as lp
from firmware_images.errors import ImageFormatError


class PowerLoss(Exception):
    """Raised at a crash point: the simulated gun stops dead, with no clean-up."""


class StorageRefused(Exception):
    """The gun refuses a request; ``code`` is the reason code sent in the ERROR reply."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


@dataclass
class Session:
    session: bytes
    slot: str
    manifest: bytes
    mask: int
    chunk_size: int
    next_chunk: int
    plan: list[tuple[int, int]]
    info: container.ImageInfo


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class GunStorage:
    """The gun's non-volatile memory.  ``capacity`` is the size of one slot in bytes."""

    def __init__(self, directory: str | Path, gun_id: str | None = None, model: str = "SG-200",
                 public_key_hex: str | None = None, capacity: int = 64 << 20, max_chunk: int = 4096,
                 crash_points: set[str] | None = None):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.capacity = capacity
        self.max_chunk = max_chunk
        self.crash_points = set(crash_points or ())
        ident_path = self.dir / "identity.json"
        ident = json.loads(ident_path.read_text()) if ident_path.exists() else {}
        if gun_id:
            ident["gun_id"] = gun_id
        ident.setdefault("gun_id", "GUN-" + secrets.token_hex(3).upper())
        ident["model"] = model if model else ident.get("model", "SG-200")
        ident.setdefault("firmware", "1.4.2")
        if public_key_hex:
            keys.public_from_hex(public_key_hex)  # refuse a bad key at provisioning time
            ident["public_key"] = public_key_hex.strip().lower()
        _write_atomic(ident_path, json.dumps(ident, sort_keys=True).encode())
        self.identity = ident
        self.public_key = keys.public_from_hex(ident["public_key"]) if ident.get("public_key") else None
        self.boot_note = ""
        self.active_slot: str | None = None
        self.active_info: container.ImageInfo | None = None
        self.session: Session | None = None
        self._boot()

    # ------------------------------------------------------------ boot

    def _slot_path(self, slot: str) -> Path:
        return self.dir / f"slot-{slot}.img"

    def _check_slot(self, slot: str) -> container.ImageInfo | None:
        try:
            data = self._slot_path(slot).read_bytes()
            return container.parse_image(data, self.public_key)
        except (OSError, ImageFormatError):
            return None

    def _boot(self) -> None:
        pointer = self.dir / "active"
        wanted = pointer.read_text().strip() if pointer.exists() else None
        if wanted in ("a", "b"):
            info = self._check_slot(wanted)
            if info is not None:
                self.active_slot, self.active_info = wanted, info
            else:  # cannot happen through the protocol; a damaged flash falls back to the other slot
                other = "b" if wanted == "a" else "a"
                info = self._check_slot(other)
                if info is not None:
                    self.active_slot, self.active_info = other, info
                    _write_atomic(pointer, other.encode())
                    self.boot_note = f"slot {wanted} failed its check at boot; fell back to slot {other}"
                else:
                    self.boot_note = f"slot {wanted} failed its check at boot and no other image is valid"
        self._load_session()

    def _load_session(self) -> None:
        path = self.dir / "session.json"
        if not path.exists():
            return
        try:
            s = json.loads(path.read_text())
            manifest = bytes.fromhex(s["manifest"])
            info = container.parse_manifest(manifest)
            if s["slot"] == self.active_slot:
                raise ValueError("pending transfer targets the active slot")
            plan = lp.transfer_plan(info, s["mask"], s["chunk_size"])
            self.session = Session(bytes.fromhex(s["session"]), s["slot"], manifest, s["mask"],
                                   s["chunk_size"], min(int(s["next_chunk"]), len(plan)), plan, info)
        except (ValueError, KeyError, ImageFormatError, lp.ProtocolError):
            path.unlink(missing_ok=True)
            self.session = None

    def _save_session(self) -> None:
        s = self.session
        _write_atomic(self.dir / "session.json", json.dumps({
            "session": s.session.hex(), "slot": s.slot, "manifest": s.manifest.hex(), "mask": s.mask,
            "chunk_size": s.chunk_size, "next_chunk": s.next_chunk}).encode())

    def _crash(self, point: str) -> None:
        if point in self.crash_points:
            raise PowerLoss(point)

    # ------------------------------------------------------------ queries

    def active_image(self) -> bytes | None:
        if self.active_slot is None:
            return None
        return self._slot_path(self.active_slot).read_bytes()

    def describe(self) -> dict:
        """The HELLO reply's fields."""
        info = self.active_info
        s = self.session
        return {
            "gun_id": self.identity["gun_id"], "model": self.identity["model"],
            "firmware": self.identity["firmware"], "free_bytes": self.capacity,
            "max_chunk": self.max_chunk, "active_slot": self.active_slot,
            "image_version": info.image_version if info else None,
            "image_site": info.site if info else None, "image_digest": info.digest if info else None,
            "image_len": info.image_len if info else None, "data_version": info.data_version if info else None,
            "key_id": keys.key_id(keys.public_raw(self.public_key)) if self.public_key else None,
            "pending_session": s.session if s else None, "pending_next": s.next_chunk if s else None,
            "pending_total": len(s.plan) if s else None, "boot_note": self.boot_note or None,
        }

    # ------------------------------------------------------------ transfer

    def begin(self, manifest: bytes, chunk_size: int) -> lp.BeginAck:
        """Start (or resume) staging the image whose manifest is ``manifest``."""
        if self.public_key is None:
            raise StorageRefused("not-provisioned", "gun has no public key: provision it first")
        try:
            info = container.parse_manifest(manifest)
        except ImageFormatError as e:
            raise StorageRefused(e.reason, str(e)) from None
        if len(manifest) != info.manifest_len:
            raise StorageRefused("malformed", "BEGIN must carry exactly the manifest")
        if info.image_len > self.capacity:
            raise StorageRefused("no-space", f"image of {info.image_len} bytes, slot holds {self.capacity}")
        if info.key_id != keys.key_id(keys.public_raw(self.public_key)):
            raise StorageRefused("signature", f"image signed with key {info.key_id.hex()}, "
                                 "this gun trusts another key")
        sid = lp.session_id(manifest)
        s = self.session
        if s is not None and s.session == sid:
            return lp.BeginAck(sid, s.chunk_size, s.mask, s.next_chunk, len(s.plan))
        chunk_size = max(1, min(chunk_size, self.max_chunk))
        slot = "b" if self.active_slot == "a" else "a"
        mask = lp.reuse_mask(info, self.active_info)
        path = self._slot_path(slot)
        with open(path, "wb") as f:   # erase the inactive slot and lay the manifest down
            f.write(manifest)
            f.truncate(info.image_len)
            if mask:
                old = self.active_image()
                for i, sec in enumerate(info.sections):
                    if mask >> i & 1:
                        src = next(o for o in self.active_info.sections if o.digest == sec.digest)
                        f.seek(sec.offset)
                        f.write(old[src.offset:src.end])
            f.flush()
            os.fsync(f.fileno())
        plan = lp.transfer_plan(info, mask, chunk_size)
        self.session = Session(sid, slot, manifest, mask, chunk_size, 0, plan, info)
        self._save_session()
        return lp.BeginAck(sid, chunk_size, mask, 0, len(plan))

    def write_chunk(self, index: int, data: bytes) -> None:
        s = self.session
        offset, length = s.plan[index]
        if len(data) != length:
            raise StorageRefused("length", f"chunk {index} has {len(data)} bytes, plan says {length}")
        with open(self._slot_path(s.slot), "r+b") as f:
            f.seek(offset)
            f.write(data)
        self._crash("chunk-written")
        s.next_chunk = index + 1
        self._save_session()

    def commit(self) -> container.ImageInfo:
        """Verify the staged image and make it the active one (raises ``StorageRefused``)."""
        s = self.session
        if s is None:
            raise StorageRefused("no-session", "nothing staged: send BEGIN and the data first")
        if s.next_chunk < len(s.plan):
            raise StorageRefused("incomplete", f"only {s.next_chunk} of {len(s.plan)} chunks received")
        data = self._slot_path(s.slot).read_bytes()
        try:
            info = container.parse_image(data, self.public_key)
            container.decode_config(data, info)
        except ImageFormatError as e:
            self.abort()  # resending the same bytes cannot help
            raise StorageRefused(e.reason, str(e)) from None
        self._crash("before-switch")
        _write_atomic(self.dir / "active", s.slot.encode())
        self.active_slot, self.active_info = s.slot, info
        self._crash("after-switch")
        self.abort()
        return info

    def abort(self) -> None:
        self.session = None
        (self.dir / "session.json").unlink(missing_ok=True)
