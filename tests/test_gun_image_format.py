"""Gun image container: round trip, determinism, and precise rejection of damaged images."""
from __future__ import annotations

import hashlib
import random
import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_images import container, keys
from conftest import KEY, OTHER, sample_store
from firmware_images.errors import (BadMagic, ChecksumMismatch, ImageBuildError, ImageFormatError,
                                    MalformedImage, SignatureInvalid, TruncatedImage, UnknownVersion)

PUB = KEY.public_key()


def sample_slice(site="100") -> dict:
    """The hub's real slice of the sample network, through the store."""
    import tempfile

    from hub.network.station_config import site_slice
    sample_store(f"{tempfile.mkdtemp()}/hub.db")
    return site_slice(site)


@pytest.fixture(scope="module")
def sample():
    return sample_slice()


@pytest.fixture(scope="module")
def image(sample):
    return container.build_image(sample, KEY, 1_700_000_000_000)


def comparable(cfg: dict) -> dict:
    return {k: v for k, v in cfg.items() if k not in ("hash", "station")}


def test_sample_round_trip_from_the_hub_store(sample, image):
    got = container.read_image(image, PUB)
    assert comparable(got.config) == comparable(sample)
    assert got.info.site == "100" and got.info.image_version == sample["version"]
    assert got.info.key_id == keys.key_id(keys.public_raw(PUB))


# ---------------------------------------------------------------- generated networks

codes = st.text("0123456789ABC", min_size=1, max_size=5)
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
hexes = st.binary(max_size=33).map(bytes.hex)


@st.composite
def slices(draw):
    site_codes = sorted(draw(st.sets(codes, min_size=1, max_size=12)))
    centers = [c for c in site_codes if draw(st.booleans())]
    sites = [{"code": c, "name": draw(texts), "kind": "center" if c in centers else "site",
              "center": draw(st.sampled_from([None] + centers)) if centers else None,
              "province": draw(st.none() | texts), "city": draw(st.none() | texts),
              "district": draw(st.none() | texts), "blocked": draw(st.booleans())} for c in site_codes]
    pick = st.sampled_from(site_codes)
    shift_codes = sorted(draw(st.sets(codes, max_size=6)))
    shifts = [{"code": c, "from": draw(pick), "to": draw(pick),
               "depart": f"{draw(st.integers(0, 23)):02d}:{draw(st.integers(0, 59)):02d}",
               "transit_min": draw(st.integers(0, 10 ** 6))} for c in shift_codes]
    rules = {}
    for _ in range(draw(st.integers(0, 30))):
        key = (draw(pick), draw(pick), draw(st.sampled_from([""] + shift_codes)))
        rules[key] = draw(pick)
    staff = {c: {"code": c, "name": draw(texts), "site": draw(pick), "role": draw(texts)}
             for c in draw(st.sets(codes, max_size=8))}
    users = [{"login": c, "staff": draw(codes), "site": draw(pick), "pin_salt": draw(hexes),
              "pin_hash": draw(hexes), "kinds": draw(st.lists(st.sampled_from(
                  ["receive", "dispatch", "arrive", "deliver", "sign", "problem", "hold"]), max_size=7))}
             for c in draw(st.sets(codes, max_size=5))]
    rules_wb = [{"name": n, "pattern": "^7[0-9]{13}$", "check": "mod10-31"}
                for n in draw(st.sets(codes, max_size=3))]
    issuance = {}
    for _ in range(draw(st.integers(0, 4))):
        first = draw(st.text("0123456789", min_size=1, max_size=14))
        issuance[first] = {"site": draw(pick), "first": first, "last": first}
    return {"v": 1, "network": draw(texts), "site": draw(pick), "data_version": draw(codes),
            "version": draw(codes), "sites": sites, "staff": sorted(staff.values(), key=lambda s: s["code"]),
            "gun_users": users, "shifts": shifts,
            "next_stop": [{"site": a, "dest": b, "shift": c, "next": n} for (a, b, c), n in sorted(rules.items())],
            "waybill_rules": sorted(rules_wb, key=lambda r: r["name"]),
            "blocked_sites": [s["code"] for s in sites if s["blocked"]],
            "issuance": sorted(issuance.values(), key=lambda r: r["first"])}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(slices(), st.randoms(use_true_random=False))
def test_round_trip_and_determinism_for_generated_networks(cfg, rnd):
    img = container.build_image(cfg, KEY, 42)
    got = container.read_image(img, PUB).config
    for name in ("sites", "staff", "gun_users", "shifts", "next_stop", "waybill_rules",
                 "blocked_sites", "issuance"):
        expected = cfg[name]
        if name == "gun_users":
            expected = sorted(expected, key=lambda u: u["login"])
        assert got[name] == expected, name
    assert (got["site"], got["version"], got["network"]) == (cfg["site"], cfg["version"], cfg["network"])
    shuffled = dict(cfg)
    for name in ("sites", "staff", "gun_users", "shifts", "next_stop", "issuance", "blocked_sites"):
        rows = list(cfg[name])
        rnd.shuffle(rows)
        shuffled[name] = rows
    assert container.build_image(shuffled, KEY, 42) == img


# ---------------------------------------------------------------- damage

def test_every_single_byte_corruption_is_detected(image):
    rnd = random.Random(5)
    for pos in range(len(image)):
        bad = bytearray(image)
        bad[pos] ^= rnd.randrange(1, 256)
        with pytest.raises(ImageFormatError) as e:
            container.read_image(bytes(bad), PUB)
        assert e.value.reason in ("bad-magic", "unknown-version", "truncated", "checksum", "signature",
                                  "malformed"), pos


def test_every_truncation_is_detected(image):
    for n in range(len(image)):
        with pytest.raises((TruncatedImage, BadMagic)):
            container.read_image(image[:n], PUB)


def test_extra_bytes_after_the_image_are_refused(image):
    with pytest.raises(MalformedImage, match="stray bytes"):
        container.read_image(image + b"\0", PUB)


def reseal(data: bytearray) -> bytes:
    """Recompute every checksum of a modified image (what a forger would do), not the signature."""
    info = container.parse_manifest(bytes(data[:4]) + bytes(data[4:]))  # manifest still valid
    pos = info.manifest_len - 4 - container._ENTRY.size * len(info.sections)
    for i, s in enumerate(info.sections):
        digest = hashlib.sha256(bytes(data[s.offset:s.end])).digest()
        data[pos + i * container._ENTRY.size + 20:pos + (i + 1) * container._ENTRY.size] = digest
    data[info.manifest_len - 4:info.manifest_len] = struct.pack(">I", zlib.crc32(bytes(data[:info.manifest_len - 4])))
    body_end = info.image_len - container.TRAILER_LEN
    data[body_end:body_end + 32] = hashlib.sha256(bytes(data[:body_end])).digest()
    return bytes(data)


def test_tampered_image_with_recomputed_checksums_fails_only_on_the_signature(sample, image):
    info = container.parse_image(image)
    rules = info.section("next_stop")
    cfg = dict(sample, next_stop=[dict(r, next="901") for r in sample["next_stop"]])
    forged_payload = container.build_image(cfg, OTHER, 1_700_000_000_000)
    # simplest forgery: flip one stored byte of a raw section and reseal everything
    bad = bytearray(image)
    bad[rules.offset] ^= 0x01
    forged = reseal(bad)
    container.parse_image(forged)  # every checksum is consistent again …
    with pytest.raises(SignatureInvalid):  # … but the signature is not
        container.read_image(forged, PUB)
    # a whole image signed by another key is refused too, naming both key ids
    with pytest.raises(SignatureInvalid, match="signed with key"):
        container.read_image(forged_payload, PUB)


def test_precise_reasons(image):
    with pytest.raises(BadMagic, match="not a gun image"):
        container.read_image(b"PK\x03\x04" + image[4:], PUB)
    with pytest.raises(UnknownVersion, match="version 3"):
        container.read_image(image[:4] + b"\x00\x03" + image[6:], PUB)
    info = container.parse_image(image)
    staff = info.section("staff")
    with pytest.raises(TruncatedImage, match="section staff"):
        container.read_image(image[:staff.offset + 3], PUB)
    bad = bytearray(image)
    bad[staff.offset + 2] ^= 0xFF
    with pytest.raises(ChecksumMismatch, match="section staff"):
        container.read_image(bytes(bad), PUB)
    bad = bytearray(image)
    bad[10] ^= 0x40
    with pytest.raises(ImageFormatError):
        container.read_image(bytes(bad), PUB)
    bad = bytearray(image)
    bad[-1] ^= 0x01
    with pytest.raises(SignatureInvalid):
        container.read_image(bytes(bad), PUB)
    bad = bytearray(image)
    bad[-70] ^= 0x01
    with pytest.raises(ChecksumMismatch, match="whole-image"):
        container.read_image(bytes(bad), PUB)


@pytest.mark.parametrize("change, message", [
    (lambda c: c["staff"].append({"code": "X", "name": "n", "site": "nowhere", "role": "r"}), "unknown site"),
    (lambda c: c["staff"].append(dict(c["staff"][0])), "duplicate"),
    (lambda c: c["shifts"].append({"code": "Z", "from": "100", "to": "900", "depart": "25:00",
                                   "transit_min": 1}), "HH:MM"),
    (lambda c: c["next_stop"].append({"site": "100", "dest": "900", "shift": "nope", "next": "900"}),
     "unknown shift"),
    (lambda c: c["gun_users"][0].update(pin_hash="XYZ"), "hex"),
    (lambda c: c["sites"][0].update(name=None), "must not be empty"),
    (lambda c: c.update(site="x" * 300), "at most 255"),
])
def test_bad_data_is_a_clear_build_error(sample, change, message):
    import copy

    cfg = copy.deepcopy(sample)
    change(cfg)
    with pytest.raises(ImageBuildError, match=message):
        container.build_image(cfg, KEY, 1)
