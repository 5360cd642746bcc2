"""The gun configuration image: a signed, checksummed container of typed sections.

Layout (all header integers big-endian; ``docs/gun-image.md`` has the byte-level table)::

    manifest   fixed header (34 bytes) | 4 length-prefixed strings | section table | CRC-32
    payloads   one per section, back to back, zlib-compressed where that is smaller
    trailer    SHA-256 of everything before it (32 bytes) | Ed25519 signature of everything
               before it, digest included (64 bytes)

Fixed header: ``magic "SGIM" | format u16 | manifest_len u32 | image_len u32 | build_ms u64 |
section_count u16 | flags u16 | key_id 8s``, then the strings ``site``, ``image_version``,
``data_version``, ``network`` (u8 length + UTF-8 each), then one 52-byte entry per section:
``type u8 | codec u8 (0 raw, 1 zlib) | reserved u16 | rows u32 | offset u32 | stored_len u32 |
raw_len u32 | sha256 of the stored bytes (32)``, then the CRC-32 of all manifest bytes before it.

``parse_image`` checks, in this order, and raises the first failure with its reason: magic,
format version, truncation (header, each section, trailer), manifest checksum, section checksums,
whole-image checksum, then (given a public key) the signature.  Only then are sections decoded.
"""
from __future__ import annotations

import hashlib
import json
import struct
import zlib
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from firmware_images import keys as keymod
from firmware_images import sections as sec
from firmware_images.errors import (BadMagic, ChecksumMismatch, ImageBuildError, MalformedImage,
                                    SignatureInvalid, TruncatedImage, UnknownVersion)

MAGIC = b"SGIM"
#: The newest format this reader and builder know.  Format 2 adds the ``reasons`` section (reason
#: codes of problem and hold scans); an image is built in format 1 when its slice has no reasons,
#: so guns with a format-1 reader still load the images of networks that do not use them.
FORMAT_VERSION = 2
#: format -> the section type ids it carries, in order
FORMAT_SECTIONS = {1: (1, 2, 3, 4, 5, 6, 7, 8), 2: (1, 2, 3, 4, 5, 6, 7, 8, 9)}
_FIXED = struct.Struct(">4sHIIQHH8s")
_ENTRY = struct.Struct(">BBHIIII32s")
DIGEST_LEN = 32
TRAILER_LEN = DIGEST_LEN + keymod.SIGNATURE_LEN
CODEC_RAW, CODEC_ZLIB = 0, 1
CODECS = {CODEC_RAW: "raw", CODEC_ZLIB: "zlib"}
ZLIB_LEVEL = 6   # level 9 costs 4x the time for ~1.5 % on the big text sections
HEADER_STRINGS = ("site", "image_version", "data_version", "network")


@dataclass(frozen=True)
class SectionEntry:
    type_id: int
    name: str
    codec: int
    rows: int
    offset: int
    stored_len: int
    raw_len: int
    digest: bytes          # SHA-256 of the stored bytes: the section's checksum and identity

    @property
    def end(self) -> int:
        return self.offset + self.stored_len


@dataclass(frozen=True)
class ImageInfo:
    """What the manifest of a checked image says about it."""
    format_version: int
    manifest_len: int
    image_len: int
    build_ms: int
    key_id: bytes
    site: str
    image_version: str
    data_version: str
    network: str
    sections: tuple[SectionEntry, ...]
    digest: bytes = b""    # whole-image SHA-256 from the trailer

    def section(self, name: str) -> SectionEntry:
        return next(s for s in self.sections if s.name == name)

    def summary(self) -> dict:
        """A JSON-able description (for ``gun inspect --json`` and the fleet)."""
        return {"format": self.format_version, "site": self.site, "image_version": self.image_version,
                "data_version": self.data_version, "network": self.network, "build_ms": self.build_ms,
                "image_len": self.image_len, "key_id": self.key_id.hex(), "digest": self.digest.hex(),
                "sections": [{"name": s.name, "rows": s.rows, "codec": CODECS[s.codec],
                              "stored_len": s.stored_len, "raw_len": s.raw_len,
                              "digest": s.digest.hex()} for s in self.sections]}


@dataclass
class GunImage:
    info: ImageInfo
    config: dict = field(default_factory=dict)   # the slice, in hub.station_config format


# ---------------------------------------------------------------- building

def _header_string(name: str, value) -> bytes:
    if not isinstance(value, str):
        raise ImageBuildError(f"header field {name} must be text, got {value!r}")
    raw = value.encode("utf-8")
    if len(raw) > 255:
        raise ImageBuildError(f"header field {name} is {len(raw)} bytes long (at most 255)")
    return bytes((len(raw),)) + raw


def image_version_of(config: dict) -> str:
    """The slice's own ``version``, else the data version plus 8 hex digits of its content hash."""
    if config.get("version"):
        return str(config["version"])
    body = {k: v for k, v in config.items() if k not in ("station", "version", "hash")}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"),
                                       ensure_ascii=False, default=str).encode()).hexdigest()
    return f"{config.get('data_version', '0')}-{digest[:8]}"


def format_of(config: dict) -> int:
    """The oldest format that holds everything in ``config``: 2 with reason codes, else 1."""
    return 2 if config.get("reasons") else 1


def encode_payloads(config: dict) -> list[tuple[sec.Section, int, bytes, int]]:
    """(section, rows, raw payload, …) for every section of ``config``'s format, in type order."""
    if not isinstance(config, dict):
        raise ImageBuildError("the configuration must be a mapping (a hub.station_config slice)")
    sites = sec.sorted_rows(sec.BY_NAME["sites"], config.get("sites"))
    shifts = sec.sorted_rows(sec.BY_NAME["shifts"], config.get("shifts"))
    ctx = sec.Context([s["code"] for s in sites], [s["code"] for s in shifts])
    out = []
    wanted = FORMAT_SECTIONS[format_of(config)]
    for section in sec.SECTIONS:
        if section.type_id not in wanted:
            continue
        if section.name == "sites":
            rows = sites
        elif section.name == "shifts":
            rows = shifts
        else:
            rows = sec.sorted_rows(section, config.get(section.name))
        out.append((section, len(rows), sec.encode_section(section, rows, ctx)))
    return out


def build_image(config: dict, key: Ed25519PrivateKey, build_ms: int) -> bytes:
    """Encode and sign ``config`` (a per-site slice).  Same config, key and ``build_ms`` → same bytes.

    ``build_ms`` is the build time in UTC epoch milliseconds; the hub passes the time its data last
    changed, so rebuilding unchanged data reproduces the image byte for byte.
    """
    if "site" not in config:
        raise ImageBuildError("the configuration has no target site")
    if not isinstance(build_ms, int) or not 0 <= build_ms < 1 << 63:
        raise ImageBuildError(f"build time must be epoch milliseconds, got {build_ms!r}")
    strings = b"".join(_header_string(n, v) for n, v in (
        ("site", config["site"]), ("image_version", image_version_of(config)),
        ("data_version", str(config.get("data_version", "0"))), ("network", str(config.get("network", "")))))
    payloads = encode_payloads(config)
    stored = []
    for section, rows, raw in payloads:
        packed = zlib.compress(raw, ZLIB_LEVEL)
        codec, data = (CODEC_ZLIB, packed) if len(packed) < len(raw) else (CODEC_RAW, raw)
        stored.append((section, rows, codec, data, len(raw)))
    manifest_len = _FIXED.size + len(strings) + _ENTRY.size * len(stored) + 4
    offset = manifest_len
    entries = []
    for section, rows, codec, data, raw_len in stored:
        entries.append(_ENTRY.pack(section.type_id, codec, 0, rows, offset, len(data), raw_len,
                                   hashlib.sha256(data).digest()))
        offset += len(data)
    image_len = offset + TRAILER_LEN
    if image_len >= 1 << 32:
        raise ImageBuildError(f"image would be {image_len} bytes (format 1 allows < 4 GiB)")
    fixed = _FIXED.pack(MAGIC, format_of(config), manifest_len, image_len, build_ms, len(stored), 0,
                        keymod.key_id(keymod.public_raw(key)))
    manifest = fixed + strings + b"".join(entries)
    manifest += struct.pack(">I", zlib.crc32(manifest))
    body = manifest + b"".join(s[3] for s in stored)
    body += hashlib.sha256(body).digest()
    return body + keymod.sign(key, body)


# ---------------------------------------------------------------- reading

def parse_manifest(data: bytes) -> ImageInfo:
    """Check and decode the manifest at the start of ``data`` (which may be only the manifest)."""
    if len(data) < len(MAGIC) or data[:4] != MAGIC:
        raise BadMagic(f"bad magic {bytes(data[:4])!r}: not a gun image (expected {MAGIC!r})")
    if len(data) < 6:
        raise TruncatedImage(f"image truncated in its header ({len(data)} bytes)")
    (version,) = struct.unpack_from(">H", data, 4)
    if version not in FORMAT_SECTIONS:
        raise UnknownVersion(f"unknown image format version {version} (this reader knows "
                             f"{', '.join(map(str, FORMAT_SECTIONS))})")
    if len(data) < _FIXED.size:
        raise TruncatedImage(f"image truncated in its header ({len(data)} of {_FIXED.size} bytes)")
    _, _, manifest_len, image_len, build_ms, count, flags, kid = _FIXED.unpack_from(data)
    if manifest_len < _FIXED.size + 4 or manifest_len > 1 << 20:
        raise MalformedImage(f"manifest length {manifest_len} is impossible")
    if len(data) < manifest_len:
        raise TruncatedImage(f"image truncated in its manifest ({len(data)} of {manifest_len} bytes)")
    (crc,) = struct.unpack_from(">I", data, manifest_len - 4)
    if zlib.crc32(data[:manifest_len - 4]) != crc:
        raise ChecksumMismatch("manifest checksum mismatch (header or section table damaged)")
    if flags:
        raise MalformedImage(f"unknown header flags 0x{flags:04x}")
    pos = _FIXED.size
    strings = []
    for name in HEADER_STRINGS:
        if pos >= manifest_len - 4:
            raise MalformedImage(f"header string {name} runs past the manifest")
        n = data[pos]
        if pos + 1 + n > manifest_len - 4:
            raise MalformedImage(f"header string {name} runs past the manifest")
        try:
            strings.append(bytes(data[pos + 1:pos + 1 + n]).decode("utf-8"))
        except UnicodeDecodeError:
            raise MalformedImage(f"header string {name} is not UTF-8") from None
        pos += 1 + n
    if pos + count * _ENTRY.size != manifest_len - 4:
        raise MalformedImage(f"section table of {count} entries does not fill the manifest")
    entries = []
    expected_offset = manifest_len
    for i in range(count):
        t, codec, reserved, rows, offset, stored_len, raw_len, digest = _ENTRY.unpack_from(data, pos)
        pos += _ENTRY.size
        section = sec.BY_TYPE.get(t)
        if section is None:
            raise MalformedImage(f"unknown section type {t} (entry {i})")
        if codec not in CODECS:
            raise MalformedImage(f"section {section.name}: unknown codec {codec}")
        if reserved:
            raise MalformedImage(f"section {section.name}: reserved field is {reserved}, not 0")
        if offset != expected_offset:
            raise MalformedImage(f"section {section.name} starts at {offset}, expected {expected_offset}")
        if codec == CODEC_RAW and raw_len != stored_len:
            raise MalformedImage(f"section {section.name}: raw section with two different lengths")
        entries.append(SectionEntry(t, section.name, codec, rows, offset, stored_len, raw_len, digest))
        expected_offset = offset + stored_len
    want = FORMAT_SECTIONS[version]
    if tuple(e.type_id for e in entries) != want:
        raise MalformedImage("sections missing, repeated or out of order "
                             f"(have {[e.name for e in entries]}, format {version} has "
                             f"{[sec.BY_TYPE[t].name for t in want]})")
    if image_len != expected_offset + TRAILER_LEN:
        raise MalformedImage(f"image length {image_len} in the header, the sections need {expected_offset + TRAILER_LEN}")
    return ImageInfo(version, manifest_len, image_len, build_ms, kid, *strings, sections=tuple(entries))


def parse_image(data: bytes, public_key: Ed25519PublicKey | None = None) -> ImageInfo:
    """Check every byte of ``data`` (see the module docstring); returns the manifest's facts.

    Without ``public_key`` the signature is not checked (the rest is)."""
    data = bytes(data)
    info = parse_manifest(data)
    for s in info.sections:
        if s.end > len(data):
            raise TruncatedImage(f"image truncated in section {s.name} (needs bytes up to {s.end}, has {len(data)})")
    if len(data) < info.image_len:
        raise TruncatedImage(f"image truncated in its trailer ({len(data)} of {info.image_len} bytes)")
    if len(data) > info.image_len:
        raise MalformedImage(f"{len(data) - info.image_len} stray bytes after the image's end")
    for s in info.sections:
        if hashlib.sha256(data[s.offset:s.end]).digest() != s.digest:
            raise ChecksumMismatch(f"section {s.name} checksum mismatch")
    body_end = info.image_len - TRAILER_LEN
    digest = data[body_end:body_end + DIGEST_LEN]
    if hashlib.sha256(data[:body_end]).digest() != digest:
        raise ChecksumMismatch("whole-image checksum mismatch")
    info = ImageInfo(**{**info.__dict__, "digest": digest})
    if public_key is not None:
        check_signature(data, info, public_key)
    return info


def check_signature(data: bytes, info: ImageInfo, public_key: Ed25519PublicKey) -> None:
    signed_len = info.image_len - keymod.SIGNATURE_LEN
    if not keymod.verify(public_key, data[signed_len:info.image_len], data[:signed_len]):
        have = keymod.key_id(keymod.public_raw(public_key))
        extra = "" if have == info.key_id else (
            f" (signed with key {info.key_id.hex()}, checked with key {have.hex()})")
        raise SignatureInvalid("signature does not verify" + extra)


def section_payload(data: bytes, entry: SectionEntry) -> bytes:
    """The raw (decompressed) payload of one section of a checked image."""
    stored = data[entry.offset:entry.end]
    if entry.codec == CODEC_RAW:
        return bytes(stored)
    d = zlib.decompressobj()
    try:
        raw = d.decompress(stored, entry.raw_len)
    except zlib.error as e:
        raise MalformedImage(f"section {entry.name}: does not decompress ({e})") from None
    if len(raw) != entry.raw_len or d.unconsumed_tail or not d.eof:
        raise MalformedImage(f"section {entry.name}: decompresses to a length other than {entry.raw_len}")
    return raw


def decode_config(data: bytes, info: ImageInfo) -> dict:
    """The slice held by a checked image (same format as ``hub.station_config.site_slice``)."""
    payload = {e.name: section_payload(data, e) for e in info.sections}
    for e in info.sections:
        if sec.section_rows(payload[e.name]) != e.rows:
            raise MalformedImage(f"section {e.name}: table says {sec.section_rows(payload[e.name])} rows, "
                                 f"manifest {e.rows}")
    sites_sec, shifts_sec = sec.BY_NAME["sites"], sec.BY_NAME["shifts"]
    sites = sec.decode_section(sites_sec, payload["sites"], None)
    ctx = sec.Context([s["code"] for s in sites], [])
    sites = sec.resolve_site_refs(sites, sites_sec, ctx)
    shifts = sec.decode_section(shifts_sec, payload["shifts"], ctx)
    ctx = sec.Context(ctx.site_codes, [s["code"] for s in shifts])
    config = {"v": 1, "network": info.network, "site": info.site, "data_version": info.data_version,
              "version": info.image_version, "sites": sites, "shifts": shifts}
    for section in sec.SECTIONS:
        if section.name not in config and section.name in payload:
            config[section.name] = sec.decode_section(section, payload[section.name], ctx)
    return config


def read_image(data: bytes, public_key: Ed25519PublicKey | None = None) -> GunImage:
    """Check and decode an image: ``GunImage(info, config)``; raises ``ImageFormatError`` subclasses."""
    data = bytes(data)
    info = parse_image(data, public_key)
    return GunImage(info, decode_config(data, info))
