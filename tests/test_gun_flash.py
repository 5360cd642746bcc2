"""Flashing over a pseudo-terminal to the simulated gun: framing, transfer, resume, power loss."""
from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_images import container, keys
from firmware_images import link_protocol as lp
from firmware_images.errors import GunRefused, LinkError
from firmware_images.flasher import GunLink, open_port
from firmware_images.framing import Frame, FrameDecoder, encode_frame
from sim.gun_link import SimulatedGun
from sim.gun_networks import generate_slice
from conftest import KEY, OTHER, wait_for

PUB_HEX = keys.public_raw(KEY).hex()


# ---------------------------------------------------------------- framing (pure)

frames_st = st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=300)), max_size=8)


@settings(max_examples=200)
@given(frames_st, st.lists(st.binary(max_size=40), max_size=9), st.lists(st.integers(1, 64), max_size=30))
def test_decoder_finds_every_frame_among_garbage_in_any_split(frames, garbage, cuts):
    stream = b""
    for i, (t, p) in enumerate(frames):
        stream += (garbage[i] if i < len(garbage) else b"") + encode_frame(t, p)
    dec = FrameDecoder()
    got, pos = [], 0
    for n in cuts + [len(stream)]:
        got += dec.feed(stream[pos:pos + n])
        pos += n
    got += dec.feed(stream[pos:])
    assert [(f.type, f.payload) for f in got] == frames


@settings(max_examples=200)
@given(frames_st.filter(bool), st.data())
def test_a_damaged_byte_never_yields_a_wrong_frame(frames, data):
    encoded = [encode_frame(t, p) for t, p in frames]
    stream = bytearray(b"".join(encoded))
    pos = data.draw(st.integers(0, len(stream) - 1))
    stream[pos] ^= data.draw(st.integers(1, 255))
    damaged, start = 0, 0
    while start + len(encoded[damaged]) <= pos:
        start += len(encoded[damaged])
        damaged += 1
    dec = FrameDecoder()
    got = dec.feed(bytes(stream))
    assert [(f.type, f.payload) for f in got] == frames[:damaged] + frames[damaged + 1:]


@settings(max_examples=100)
@given(st.integers(0, 255), st.integers(1, 600))
def test_transfer_plan_covers_exactly_the_bytes_not_reused(mask, chunk):
    info = container.parse_image(IMAGE_A)
    plan = lp.transfer_plan(info, mask, chunk)
    covered = set()
    for off, n in plan:
        assert 0 < n <= chunk
        covered.update(range(off, off + n))
    reused = set()
    for i, s in enumerate(info.sections):
        if mask >> i & 1:
            reused.update(range(s.offset, s.end))
    assert covered == set(range(info.manifest_len, info.image_len)) - reused


# ---------------------------------------------------------------- over a pty

CFG_A = generate_slice(sites=60, staff=400, rules=600, users=10, seed=1)
CFG_B = dict(CFG_A, staff=CFG_A["staff"][:-3], data_version="gen0002")
IMAGE_A = container.build_image(CFG_A, KEY, 1_000)
IMAGE_B = container.build_image(CFG_B, KEY, 2_000)


@pytest.fixture
def gun(tmp_path):
    g = SimulatedGun(tmp_path / "gun", gun_id="G-7", public_key_hex=PUB_HEX, max_chunk=256).start()
    yield g
    g.stop()


def link_to(g, timeout=1.0, retries=4):
    return GunLink(open_port(g.port), timeout=timeout, retries=retries, commit_timeout=max(timeout, 0.5))


def test_clean_flash_read_back_and_restart(gun, tmp_path):
    link = link_to(gun)
    hello = link.hello()
    assert (hello.gun_id, hello.model, hello.image_version) == ("G-7", "SG-200", None)
    assert hello.free_bytes > len(IMAGE_A) and hello.max_chunk == 256
    seen = []
    result = link.flash(IMAGE_A, progress=lambda done, total: seen.append((done, total)))
    assert result.resumed_from == 0 and result.chunks_sent == result.chunks_total > 10
    assert seen[-1] == (result.chunks_total, result.chunks_total)
    assert result.gun.image_version == CFG_A["data_version"] + IMAGE_VERSION_SUFFIX(CFG_A)
    assert link.read_back() == IMAGE_A
    gun.stop()
    again = SimulatedGun(tmp_path / "gun").start()   # boots from its directory
    try:
        assert again.storage.active_image() == IMAGE_A
        assert again.active_config()["staff"] == CFG_A["staff"]
        assert link_to(again).hello().gun_id == "G-7"
    finally:
        again.stop()


def IMAGE_VERSION_SUFFIX(cfg):
    return container.image_version_of(cfg)[len(cfg["data_version"]):]


def test_update_reuses_unchanged_sections(gun):
    link = link_to(gun)
    link.flash(IMAGE_A)
    result = link.flash(IMAGE_B)
    assert "next_stop" in result.reused_sections and "staff" not in result.reused_sections
    # only the changed section and the trailer travel
    assert result.bytes_sent == container.parse_image(IMAGE_B).section("staff").stored_len + container.TRAILER_LEN
    assert link.read_back() == IMAGE_B


@pytest.mark.parametrize("seed", range(4))
def test_cable_pulled_at_a_random_chunk_then_resumed(gun, seed):
    link = link_to(gun)
    link.flash(IMAGE_A)
    total = update_chunks()
    cut = random.Random(seed).randrange(0, total)
    gun.cut_after_chunks = gun.chunks_received + cut
    with pytest.raises(LinkError, match="resume|no answer"):
        link_to(gun, timeout=0.2, retries=1).flash(IMAGE_B)
    assert gun.storage.active_info.digest == container.parse_image(IMAGE_A).digest
    gun.cut_after_chunks = None                        # cable back in
    result = link_to(gun).flash(IMAGE_B)
    assert result.resumed_from == cut
    assert result.chunks_sent == total - cut
    assert link_to(gun).read_back() == IMAGE_B


def update_chunks() -> int:
    new, old = container.parse_image(IMAGE_B), container.parse_image(IMAGE_A)
    return len(lp.transfer_plan(new, lp.reuse_mask(new, old), 256))


@pytest.mark.parametrize("point, where", [("chunk-written", 0.0), ("chunk-written", 0.5), ("chunk-written", 1.0),
                                          ("before-switch", None), ("after-switch", None)])
def test_power_lost_mid_flash_leaves_one_valid_active_image(tmp_path, point, where):
    g = SimulatedGun(tmp_path / "gun", public_key_hex=PUB_HEX, max_chunk=256).start()
    link_to(g).flash(IMAGE_A)
    at = None if where is None else min(int(where * update_chunks()), update_chunks() - 1)
    if at is None:
        g.storage.crash_points = {point}
        progress = None
    else:
        def progress(done, total):
            if done == at:
                g.storage.crash_points = {point}
    with pytest.raises(LinkError):
        link_to(g, timeout=0.2, retries=1).flash(IMAGE_B, progress=progress)
    assert wait_for(g.dead.is_set) and g.crashed_at == point
    g.stop()
    g = SimulatedGun(tmp_path / "gun").start()        # power back on
    try:
        expect = IMAGE_B if point == "after-switch" else IMAGE_A
        assert g.storage.active_image() == expect
        container.read_image(g.storage.active_image(), keys.public_from_hex(PUB_HEX))
        if point == "chunk-written":
            assert g.storage.session.next_chunk == at   # the chunk that was being written is redone
        result = link_to(g).flash(IMAGE_B)
        # resumes where the power went: at the chunk being written, or (verified, not switched) at
        # the end with only the commit left; after the switch there is nothing to resume
        expect_resume = {"chunk-written": at, "before-switch": update_chunks(), "after-switch": 0}[point]
        assert result.resumed_from == expect_resume
        assert link_to(g).read_back() == IMAGE_B
    finally:
        g.stop()


class NoisyPort:
    """Wraps a pyserial port and damages some of the frames the host writes."""

    def __init__(self, port, rnd, rate):
        self.port, self.rnd, self.rate, self.damaged_data = port, rnd, rate, 0

    def write(self, data):
        if len(data) > 20 and self.rnd.random() < self.rate:
            self.damaged_data += data[2] == lp.DATA
            data = bytearray(data)
            data[self.rnd.randrange(len(data))] ^= 1 << self.rnd.randrange(8)
        return self.port.write(bytes(data))

    def __getattr__(self, name):
        return getattr(self.port, name)


@settings(max_examples=6, deadline=None)
@given(st.integers(0, 10 ** 6))
def test_damaged_chunks_are_nakked_and_resent(tmp_path_factory, seed):
    g = SimulatedGun(tmp_path_factory.mktemp("gun"), public_key_hex=PUB_HEX, max_chunk=256).start()
    try:
        noisy = NoisyPort(open_port(g.port), random.Random(seed), 0.2)
        result = GunLink(noisy, timeout=0.3, retries=8, commit_timeout=1.0).flash(IMAGE_A)
        assert result.retries >= noisy.damaged_data   # every damaged chunk was sent again
        assert g.storage.active_image() == IMAGE_A
    finally:
        g.stop()


def test_gun_refuses_images_it_cannot_trust(gun):
    link = link_to(gun)
    link.flash(IMAGE_A)
    foreign = container.build_image(CFG_B, OTHER, 5)
    with pytest.raises(GunRefused, match="signature"):
        link.flash(foreign)
    # same key id, forged content with every checksum recomputed: refused at the final verify
    from tests.test_gun_image_format import reseal

    info = container.parse_image(IMAGE_B)
    bad = bytearray(IMAGE_B)
    bad[info.section("staff").offset + 5] ^= 0x10
    forged = reseal(bad)
    with pytest.raises(GunRefused, match="signature"):
        link.flash(forged)
    assert gun.storage.active_image() == IMAGE_A and gun.storage.session is None


def test_gun_without_an_image_and_garbage_requests(gun):
    link = link_to(gun)
    with pytest.raises(GunRefused, match="no-image"):
        link.read_back()
    with pytest.raises(GunRefused, match="incomplete|no-session"):
        link.request(lp.COMMIT, b"", (lp.COMMIT_OK,))
    with pytest.raises(GunRefused, match="unknown-request"):
        link.request(0x7E, b"", (lp.ACK,))
    with pytest.raises(GunRefused, match="bad-magic"):
        link.request(lp.BEGIN, b"\x01\x00" + b"x" * 60, (lp.BEGIN_ACK,))


def test_no_gun_on_the_port_is_a_clear_error(tmp_path):
    import os
    import tty

    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        with pytest.raises(LinkError, match="no answer to HELLO"):
            GunLink(open_port(os.ttyname(slave)), retries=2).hello()
    finally:
        os.close(master)
        os.close(slave)
    with pytest.raises(LinkError, match="cannot open"):
        open_port(str(tmp_path / "nope"))


# ---------------------------------------------------------------- golden frames (docs/gun-image.md)

def crc32_bitwise(data: bytes) -> int:
    """CRC-32/IEEE written out bit by bit, independent of zlib."""
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


GOLDEN = [
    (lp.HELLO, bytes([1]), "a5 5a 01 00 01 ff fe 01 81 82 dd 2b"),
    (lp.COMMIT, b"", "a5 5a 04 00 00 ff ff 8d 84 43 22"),
    (lp.ACK, lp.encode_u32(5), "a5 5a 83 00 04 ff fb 00 00 00 05 e6 d4 32 38"),
    (lp.NAK, lp.encode_u32(5) + b"\x01", "a5 5a 84 00 05 ff fa 00 00 00 05 01 68 cb 7b f5"),
    (lp.READ, lp.encode_u32(0) + (4096).to_bytes(2, "big"), "a5 5a 05 00 06 ff f9 00 00 00 00 10 00 f4 a5 0f 99"),
    (lp.DATA, lp.encode_u32(0) + b"\xab\xcd", "a5 5a 03 00 06 ff f9 00 00 00 00 ab cd fe f4 0c a4"),
]


@pytest.mark.parametrize("type_, payload, wire", GOLDEN)
def test_documented_frames(type_, payload, wire):
    raw = bytes.fromhex(wire)
    assert encode_frame(type_, payload) == raw
    assert int.from_bytes(raw[-4:], "big") == crc32_bitwise(raw[2:-4])
    (frame,) = FrameDecoder().feed(raw)
    assert (frame.type, frame.payload) == (type_, payload)


def test_documented_hello_reply_tlv():
    raw = bytes.fromhex("a5 5a 81 00 24 ff db 01 00 02 47 31 02 00 06 53 47 2d 32 30 30 03 00 05 31 2e 34 2e 32"
                        "04 00 04 00 01 00 00 05 00 04 00 00 10 00 93 7d 4f e7")
    (frame,) = FrameDecoder().feed(raw)
    assert lp.decode_tlv(frame.payload) == {"gun_id": "G1", "model": "SG-200", "firmware": "1.4.2",
                                            "free_bytes": 65536, "max_chunk": 4096}


# ---------------------------------------------------------------- the gun side never breaks

requests = st.one_of(
    st.tuples(st.sampled_from([lp.HELLO, lp.COMMIT, lp.ABORT, 0x00, 0x7F, 0xFF]), st.binary(max_size=8)),
    st.tuples(st.just(lp.BEGIN), st.sampled_from([b"\x01\x00" + IMAGE_B[:container.parse_image(IMAGE_B).manifest_len],
                                                  b"\x00\x10" + IMAGE_B[:40], b""])),
    st.tuples(st.just(lp.DATA), st.tuples(st.integers(0, 40), st.binary(max_size=300)).map(
        lambda t: lp.encode_u32(t[0]) + t[1])),
    st.tuples(st.just(lp.READ), st.binary(min_size=0, max_size=7)),
)


@settings(max_examples=30, deadline=None)
@given(st.lists(requests, max_size=25))
def test_any_request_sequence_gets_an_answer_and_keeps_the_active_image(tmp_path_factory, reqs):
    from sim.gun_storage import GunStorage

    d = tmp_path_factory.mktemp("g")
    g = SimulatedGun(d, public_key_hex=PUB_HEX, max_chunk=256)
    sent = []
    g._send = lambda t, p=b"": sent.append((t, p))
    # give the gun image A through its own storage calls
    info = container.parse_image(IMAGE_A)
    ack = g.storage.begin(IMAGE_A[:info.manifest_len], 4096)
    for i, (off, n) in enumerate(lp.transfer_plan(info, ack.reuse_mask, ack.chunk_size)):
        g.storage.write_chunk(i, IMAGE_A[off:off + n])
    g.storage.commit()
    for t, p in reqs:
        before = len(sent)
        g._handle(Frame(t, p))
        assert len(sent) == before + 1            # exactly one answer to every request
        assert sent[-1][0] & 0x80
    # whatever happened, the gun boots a valid image
    again = GunStorage(d)
    assert again.active_image() in (IMAGE_A, IMAGE_B)
    container.parse_image(again.active_image(), keys.public_from_hex(PUB_HEX))


# ---------------------------------------------------------------- soak (make test-all)

@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["cut", "chunk-written", "before-switch", "after-switch"]),
                          st.floats(0, 1)), min_size=1, max_size=4))
def test_soak_any_mix_of_pulled_cables_and_power_cuts(tmp_path_factory, events):
    d = tmp_path_factory.mktemp("soak")
    g = SimulatedGun(d, public_key_hex=PUB_HEX, max_chunk=128).start()
    try:
        link_to(g).flash(IMAGE_A)
        for what, where in events:
            total = update_chunks() * 2
            at = int(where * total)
            if what == "cut":
                g.cut_after_chunks = g.chunks_received + at
            elif what == "chunk-written":
                def progress(done, _total, g=g, at=at):
                    if done >= at:
                        g.storage.crash_points = {"chunk-written"}
            else:
                g.storage.crash_points = {what}
            try:
                link_to(g, timeout=0.2, retries=1).flash(IMAGE_B, progress=progress if what == "chunk-written" else None)
            except LinkError:
                pass
            g.stop()
            g = SimulatedGun(d).start()
            assert g.storage.active_image() in (IMAGE_A, IMAGE_B)
            container.read_image(g.storage.active_image(), keys.public_from_hex(PUB_HEX))
        link_to(g).flash(IMAGE_B)
        assert link_to(g).read_back() == IMAGE_B
    finally:
        g.stop()
