"""The docs say what the code does: docs/gun-image.md and docs/e1.md, read as text and checked.

Each test takes a statement out of a doc (a format, a rule, a worked example, a list of names)
and checks it against the code, so that changing one without the other fails here.
"""
from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import re
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from contract.config import config_hash
from firmware_images import container, keys
from firmware_images import link_protocol as lp
from firmware_images import sections as sec
from firmware_images.flasher import GunLink, open_port
from firmware_images.framing import FrameDecoder, encode_frame
from sim.gun_link import SimulatedGun
from sim.gun_networks import generate_slice

ROOT = Path(__file__).resolve().parent.parent
GUN_DOC = (ROOT / "docs" / "gun-image.md").read_text(encoding="utf-8")
E1_DOC = (ROOT / "docs" / "e1.md").read_text(encoding="utf-8")
PROTOCOL_DOC = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")

KEY = keys.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUB_HEX = keys.public_raw(KEY).hex()


def doc_section(text: str, heading: str) -> str:
    """The text under ``heading`` (a whole Markdown heading line) up to the next heading of the
    same or a higher level."""
    lines = text.splitlines()
    start = lines.index(heading)
    level = len(heading) - len(heading.lstrip("#"))
    out = []
    for line in lines[start + 1:]:
        m = re.match(r"^(#+) ", line)
        if m and len(m.group(1)) <= level:
            break
        out.append(line)
    return "\n".join(out)


def one(pattern: str, text: str, flags: int = 0) -> re.Match:
    """The single match of ``pattern`` in ``text`` (the doc must state it exactly once)."""
    found = list(re.finditer(pattern, text, flags))
    assert len(found) == 1, f"expected the doc to say {pattern!r} once, found {len(found)}"
    return found[0]


def flat(text: str) -> str:
    """Doc prose with its line breaks (and the indentation of list items) as single spaces."""
    return re.sub(r"\s*\n\s*", " ", text)


# ================================================================ gun image: version format

def hub_sample_slice(tmp_path) -> dict:
    from hub.network.basic_data import import_network
    from hub.network.file import load_network
    from hub.network.station_config import site_slice
    from hub.schema import connect

    connect(str(tmp_path / "hub.db"), create=True)
    import_network(load_network(str(ROOT / "sim" / "networks" / "sample.yaml")))
    return site_slice("100")


def test_image_version_is_what_the_doc_says_the_hub_puts_in_the_header(tmp_path, monkeypatch):
    text = flat(GUN_DOC)
    m = one(r"The \*\*image version\*\* is the slice's `version`, exactly as "
            r"`hub\.network\.station_config\.site_slice` gives it: the first (\d+) hex digits of the "
            r"slice hash \(`contract\.config\.config_hash`, the `hash` field; docs/protocol\.md\), "
            r"lower case, e\.g\. `([^`]+)`", text)
    digits, example = int(m.group(1)), m.group(2)
    shape = re.compile(f"[0-9a-f]{{{digits}}}")
    assert shape.fullmatch(example), f"the doc's example {example!r} does not have its own shape"
    # docs/protocol.md says the same of the slice
    proto = one(r"`version` is its first (\d+) hex", flat(PROTOCOL_DOC))
    assert int(proto.group(1)) == digits

    cfg = hub_sample_slice(tmp_path)
    info = container.parse_image(container.build_image(cfg, KEY, 1_700_000_000_000))
    assert info.image_version == cfg["version"] == config_hash(cfg)[:digits] == cfg["hash"][:digits]
    assert shape.fullmatch(info.image_version)
    assert info.data_version == cfg["data_version"]
    # what `scanhub gun build` writes, and the name it gives the file
    assert "`gun build` names its file `gun-<site>-<image version>.img`" in text
    monkeypatch.chdir(tmp_path)
    run_cli("gun", "keys", "init", "--dir", str(tmp_path / "keys"))
    built = json.loads(run_cli("gun", "build", "--site", "100", "--db", str(tmp_path / "hub.db"),
                               "--keys", str(tmp_path / "keys"), "--json")[-1])
    assert built["image_version"] == cfg["version"]
    assert built["file"] == f"gun-100-{cfg['version']}.img" and (tmp_path / built["file"]).exists()


def test_image_version_without_a_slice_version_is_the_documented_fallback():
    text = flat(GUN_DOC)
    m = one(r"gets `<data_version>-<(\d+) hex digits>` instead, the digits being the start of the "
            r"SHA-256 of its canonical JSON \(sorted keys, no spaces\) without `station`, `version` "
            r"and `hash`, e\.g\. `([^`]+)` for `sim\.gun_networks\.generate_slice\(seed=(\d+)\)`", text)
    digits, example, seed = int(m.group(1)), m.group(2), int(m.group(3))
    cfg = generate_slice(seed=seed)
    assert "version" not in cfg
    body = {k: v for k, v in cfg.items() if k not in ("station", "version", "hash")}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    mine = f"{cfg['data_version']}-{hashlib.sha256(canonical.encode()).hexdigest()[:digits]}"
    assert container.image_version_of(cfg) == mine == example
    info = container.parse_image(container.build_image(cfg, KEY, 0))
    assert info.image_version == example


# ================================================================ gun image: the transfer plan
# The doc's rule, written here from the doc's words (byte by byte, not the way the code does it).

def doc_reuse_mask(new: container.ImageInfo, old: container.ImageInfo | None) -> int:
    """Rule 1: a non-empty section whose SHA-256 is that of any section of the active image."""
    if old is None:
        return 0
    old_digests = [s.digest for s in old.sections]
    return sum(1 << i for i, s in enumerate(new.sections) if s.stored_len > 0 and s.digest in old_digests)


def doc_runs(manifest_len: int, image_len: int, reused: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Rule 2: the contiguous runs of bytes after the manifest that no reused section covers."""
    send = [True] * image_len
    for start, end in reused:
        for b in range(start, end):
            send[b] = False
    runs, start = [], None
    for b in range(manifest_len, image_len + 1):
        inside = b < image_len and send[b]
        if inside and start is None:
            start = b
        elif not inside and start is not None:
            runs.append((start, b))
            start = None
    return runs


def doc_plan(manifest_len, image_len, reused, chunk_size) -> list[tuple[int, int]]:
    """Rule 3: each run cut on its own from its first byte; only a run's last chunk is short."""
    plan = []
    for start, end in doc_runs(manifest_len, image_len, reused):
        offset = start
        while offset < end:
            length = chunk_size if end - offset >= chunk_size else end - offset
            plan.append((offset, length))
            offset += length
    return plan


def doc_plan_of(info: container.ImageInfo, mask: int, chunk_size: int):
    reused = [(s.offset, s.offset + s.stored_len) for i, s in enumerate(info.sections) if mask >> i & 1]
    return doc_plan(info.manifest_len, info.image_len, reused, chunk_size)


PLAN_DOC = flat(doc_section(GUN_DOC, "### The transfer plan"))
PLAN_DOC_LINES = doc_section(GUN_DOC, "### The transfer plan")


def worked_example():
    """The worked example's numbers, as the doc gives them."""
    m = one(r"The host asks for (\d+)-byte chunks; the gun's `max_chunk` is (\d+), so BEGIN_ACK says "
            r"`chunk_size` (\d+)\. The manifest ends at (\d+), the image is (\d+) bytes long", PLAN_DOC)
    wish, max_chunk, chunk, manifest_len, image_len = map(int, m.groups())
    rows = re.findall(r"^\| (\d+|–) \| (\w+) \| (\d+) \| (\d+) \| (\d+) \| (yes|no|never) \|$",
                      PLAN_DOC_LINES, re.M)
    chunks = [tuple(map(int, r)) for r in re.findall(r"^\| (\d+) \| (\d+) \| (\d+) \|$", PLAN_DOC_LINES, re.M)]
    mask = int(one(r"`reuse_mask` = bits [\d, ]+ = `0x([0-9A-Fa-f]+)`", PLAN_DOC).group(1), 16)
    total = int(one(r"BEGIN_ACK `total` = (\d+)", PLAN_DOC).group(1))
    return wish, max_chunk, chunk, manifest_len, image_len, rows, chunks, mask, total


#: the worked example is a format-1 image (a network without reason codes)
FORMAT_1 = [s for s in sec.SECTIONS if s.type_id in container.FORMAT_SECTIONS[1]]


def test_worked_example_table_is_a_possible_image():
    wish, max_chunk, chunk, manifest_len, image_len, rows, chunks, mask, total = worked_example()
    assert chunk == max(1, min(wish, max_chunk))        # what the gun answers (step 2)
    sections = [r for r in rows if r[0] != "–"]
    trailer = [r for r in rows if r[0] == "–"]
    assert [int(r[0]) for r in sections] == list(range(len(FORMAT_1)))
    assert [r[1] for r in sections] == [s.name for s in FORMAT_1]
    assert len(trailer) == 1 and trailer[0][1] == "trailer" and int(trailer[0][3]) == container.TRAILER_LEN
    pos = manifest_len
    for _, _, offset, length, end, _ in sections + trailer:
        assert int(offset) == pos and int(offset) + int(length) == int(end)
        pos = int(end)
    assert pos == image_len
    assert mask == sum(1 << int(r[0]) for r in sections if r[5] == "yes")
    assert [c[0] for c in chunks] == list(range(total))


def example_info(manifest_len, image_len, rows) -> container.ImageInfo:
    entries = tuple(container.SectionEntry(s.type_id, s.name, container.CODEC_RAW, 1, int(r[2]), int(r[3]),
                                           int(r[3]), hashlib.sha256(s.name.encode()).digest())
                    for s, r in zip(FORMAT_1, (r for r in rows if r[0] != "–")))
    return container.ImageInfo(1, manifest_len, image_len, 0, bytes(8), "100", "v", "d", "n", entries)


def test_worked_example_plan_is_the_codes_plan():
    wish, max_chunk, chunk, manifest_len, image_len, rows, chunks, mask, total = worked_example()
    info = example_info(manifest_len, image_len, rows)
    documented = [(offset, length) for _, offset, length in chunks]
    assert lp.transfer_plan(info, mask, chunk) == documented
    assert doc_plan_of(info, mask, chunk) == documented
    # the runs the doc names
    runs = [tuple(map(int, r)) for r in re.findall(r"(\d+)-(\d+) \(`", one(r"The runs are [^:]*", PLAN_DOC).group(0))]
    reused = [(int(r[2]), int(r[4])) for r in rows if r[5] == "yes"]
    assert doc_runs(manifest_len, image_len, reused) == runs


def test_worked_example_stream_cut_mistake_gets_the_documented_nak():
    wish, max_chunk, chunk, manifest_len, image_len, rows, chunks, mask, total = worked_example()
    info = example_info(manifest_len, image_len, rows)
    m = one(r"A host that cut the (\d+) bytes as one stream would send chunk (\d+) with (\d+) bytes .*?, "
            r"expect (\d+) chunks where BEGIN_ACK says (\d+), and get `NAK expected (\d+), reason (\d+)`",
            PLAN_DOC)
    stream_len, bad_chunk, bad_len, naive_total, ack_total, expected, reason = map(int, m.groups())
    plan = lp.transfer_plan(info, mask, chunk)
    assert stream_len == sum(n for _, n in plan)
    naive = [min(chunk, stream_len - k) for k in range(0, stream_len, chunk)]
    assert (len(naive), len(plan)) == (naive_total, ack_total)
    first_wrong = next(i for i, (n, (_, want)) in enumerate(zip(naive, plan)) if n != want)
    assert (first_wrong, naive[first_wrong]) == (bad_chunk, bad_len)
    assert expected == bad_chunk and reason == lp.NAK_LENGTH
    assert "NAK reason 3 (bad length)" in PLAN_DOC and "3 bad length" in GUN_DOC


def test_worked_example_full_flash_to_an_empty_gun():
    wish, max_chunk, chunk, manifest_len, image_len, rows, chunks, mask, total = worked_example()
    info = example_info(manifest_len, image_len, rows)
    m = one(r"is one run, (\d+)-(\d+): chunks 0-(\d+) of (\d+) bytes at (\d+) \+ (\d+)·\*n\*, and chunk (\d+) "
            r"of (\d+) bytes at (\d+)\.", PLAN_DOC)
    start, end, last_full, size, base, step, last, last_len, last_at = map(int, m.groups())
    assert (start, end) == (manifest_len, image_len) and size == step == chunk and base == manifest_len
    documented = [(base + step * n, size) for n in range(last_full + 1)] + [(last_at, last_len)]
    assert last == last_full + 1
    assert lp.transfer_plan(info, 0, chunk) == documented == doc_plan_of(info, 0, chunk)


def test_chunk_size_limits_in_the_doc_are_the_hosts(tmp_path):
    from firmware_images import flasher
    from firmware_images.framing import MAX_PAYLOAD

    text = flat(GUN_DOC)
    m = one(r"`scanhub gun flash` asks for `--chunk` \(default (\d+)\) capped at the gun's `max_chunk` and at "
            r"(\d+) \(a DATA payload is at most (\d+) bytes, 4 of them the chunk number\), and at least 1", text)
    default, cap, payload = map(int, m.groups())
    assert (default, cap, payload) == (flasher.DEFAULT_CHUNK, MAX_PAYLOAD - 4, MAX_PAYLOAD)
    assert "Payloads are at most 8192 bytes" in text and MAX_PAYLOAD == 8192
    # a gun that would take more: the host still asks for no more than the cap
    image = container.build_image(generate_slice(sites=300, staff=3000, rules=3000, users=20, seed=3), KEY, 0)
    info = container.parse_image(image)
    assert len(lp.transfer_plan(info, 0, cap)) != len(lp.transfer_plan(info, 0, 30_000))
    g = SimulatedGun(tmp_path / "big", public_key_hex=PUB_HEX, max_chunk=60_000).start()
    try:
        result = GunLink(open_port(g.port), timeout=2.0).flash(image, chunk_size=30_000)
    finally:
        g.stop()
    assert result.chunks_total == len(lp.transfer_plan(info, 0, cap))
    assert f"the {container.TRAILER_LEN}-byte trailer" in text


CFG_A = generate_slice(sites=60, staff=400, rules=600, users=10, seed=1)
CHANGED_SITE = dict(CFG_A["sites"][3], name=CFG_A["sites"][3]["name"] + " (new name)")
VARIANTS = {
    "same data": dict(CFG_A),
    "staff and issuance": dict(CFG_A, staff=CFG_A["staff"][:-3], issuance=CFG_A["issuance"][:-1]),
    "sites only": dict(CFG_A, sites=CFG_A["sites"][:3] + [CHANGED_SITE] + CFG_A["sites"][4:]),
    "next_stop and blocked": dict(CFG_A, next_stop=CFG_A["next_stop"][:-5], blocked_sites=[]),
    "other network": generate_slice(sites=40, staff=100, rules=300, users=5, seed=2),
}
IMAGE_A = container.build_image(CFG_A, KEY, 1_000)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("chunk", [1, 7, 64, 256, 1000, 4096, 8188])
def test_doc_rule_gives_the_codes_plan_for_built_images(variant, chunk):
    old = container.parse_image(IMAGE_A)
    new = container.parse_image(container.build_image(VARIANTS[variant], KEY, 2_000))
    for active in (old, None):
        mask = doc_reuse_mask(new, active)
        assert lp.reuse_mask(new, active) == mask
        assert lp.transfer_plan(new, mask, chunk) == doc_plan_of(new, mask, chunk)


def test_reuse_leaves_gaps_the_plan_does_not_cross():
    """The case the doc's worked example is about, on real images: two runs, each cut on its own."""
    old = container.parse_image(IMAGE_A)
    new = container.parse_image(container.build_image(VARIANTS["staff and issuance"], KEY, 2_000))
    mask = doc_reuse_mask(new, old)
    names = [s.name for i, s in enumerate(new.sections) if not mask >> i & 1]
    assert names == ["staff", "issuance"]
    reused = [(s.offset, s.end) for i, s in enumerate(new.sections) if mask >> i & 1]
    runs = doc_runs(new.manifest_len, new.image_len, reused)
    assert runs == [(new.section("staff").offset, new.section("staff").end),
                    (new.section("issuance").offset, new.image_len)]
    plan = lp.transfer_plan(new, mask, 256)
    short = [i for i, (_, n) in enumerate(plan) if n < 256]
    assert len(short) == 2 and short[-1] == len(plan) - 1      # the last chunk of each run


# ---------------------------------------------------------------- a host written from the doc

class DocHost:
    """The host side of the flashing protocol as docs/gun-image.md tells it, message by message."""

    def __init__(self, port):
        self.port = port
        self.decoder = FrameDecoder()
        self.pending = []

    def exchange(self, type_, payload, timeout=5.0):
        self.port.write(encode_frame(type_, payload))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pending:
                return self.pending.pop(0)
            data = self.port.read(max(1, self.port.in_waiting or 1))
            if data:
                self.pending.extend(self.decoder.feed(data))
        raise AssertionError(f"no answer to message type {type_:#x}")


@pytest.fixture
def gun(tmp_path):
    g = SimulatedGun(tmp_path / "gun", gun_id="G-DOC", public_key_hex=PUB_HEX, max_chunk=256).start()
    yield g
    g.stop()


def test_a_host_written_from_the_doc_delta_flashes_without_a_nak(gun):
    link = GunLink(open_port(gun.port), timeout=1.0, retries=4, commit_timeout=2.0)
    link.flash(IMAGE_A)                                  # the gun now holds image A
    image = container.build_image(VARIANTS["staff and issuance"], KEY, 2_000)
    info = container.parse_image(image)
    old = container.parse_image(IMAGE_A)

    host = DocHost(open_port(gun.port))
    hello = host.exchange(lp.HELLO, bytes((1,)))
    assert hello.type == lp.HELLO_REPLY
    max_chunk = lp.decode_tlv(hello.payload)["max_chunk"]
    wish = 4096
    ack_frame = host.exchange(lp.BEGIN, wish.to_bytes(2, "big") + image[:info.manifest_len])
    assert ack_frame.type == lp.BEGIN_ACK
    ack = lp.BeginAck.decode(ack_frame.payload)
    assert ack.chunk_size == max(1, min(wish, max_chunk))
    assert ack.reuse_mask == doc_reuse_mask(info, old) and ack.next_chunk == 0
    plan = doc_plan_of(info, ack.reuse_mask, ack.chunk_size)
    assert ack.total == len(plan)
    for index, (offset, length) in enumerate(plan):
        reply = host.exchange(lp.DATA, index.to_bytes(4, "big") + image[offset:offset + length])
        assert (reply.type, lp.decode_u32(reply.payload, "reply")) == (lp.ACK, index)
    assert host.exchange(lp.COMMIT, b"", timeout=10.0).type == lp.COMMIT_OK
    assert gun.naks_sent == 0
    assert gun.storage.active_image() == image


def test_a_stream_cut_host_gets_the_length_nak(gun):
    """What the doc warns of: cutting the non-reused bytes as one stream."""
    GunLink(open_port(gun.port), timeout=1.0, retries=4, commit_timeout=2.0).flash(IMAGE_A)
    image = container.build_image(VARIANTS["staff and issuance"], KEY, 2_000)
    info = container.parse_image(image)
    host = DocHost(open_port(gun.port))
    ack = lp.BeginAck.decode(host.exchange(lp.BEGIN, (256).to_bytes(2, "big") + image[:info.manifest_len]).payload)
    plan = doc_plan_of(info, ack.reuse_mask, ack.chunk_size)
    stream = b"".join(image[o:o + n] for o, n in plan)
    for index in range(len(plan)):
        piece = stream[index * ack.chunk_size:(index + 1) * ack.chunk_size]
        reply = host.exchange(lp.DATA, index.to_bytes(4, "big") + piece)
        if len(piece) != plan[index][1]:
            assert reply.type == lp.NAK
            assert (lp.decode_u32(reply.payload, "NAK"), reply.payload[4]) == (index, lp.NAK_LENGTH)
            return
        assert reply.type == lp.ACK
    raise AssertionError("a stream cut matched the plan: the example would not show the mistake")


# ================================================================ e1: the trace command

TRACE_DOC = doc_section(E1_DOC, "### The trace command")
TRACE_FLAT = flat(TRACE_DOC)


def run_cli(*args):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


TRACE_RUNS = [("1/5", "r2-cn"), ("2/5", "r2-cn"), ("1/7", "pri"), ("2/7", "pri"), ("2/17", "r2-cn")]


@pytest.mark.parametrize("target,protocol", TRACE_RUNS)
def test_trace_text_lines_are_the_documented_template_of_the_json_records(target, protocol):
    template = one(r"each record is one line in the text form `([^`]+)`", TRACE_FLAT).group(1)
    assert "ms  {dir" in template, "the template lost its double spaces"
    args = ["e1", "trace", target, "--backend", "sim", "--protocol", protocol]
    text = run_cli(*args)
    records = [json.loads(line) for line in run_cli(*args, "--json")]
    assert len(text) == len(records) > 5
    expected = [template.format(t=r["t"], dir=r["dir"], kind=r["kind"], value=r["value"],
                                meaning=r.get("meaning", "")).rstrip() for r in records]
    assert text == expected


@pytest.mark.parametrize("target,protocol", TRACE_RUNS)
def test_trace_json_records_have_the_documented_keys_and_values(target, protocol):
    name = "R2" if protocol == "r2-cn" else "PRI"
    keys_ = one(rf"^\* {name} records: (.*)$", TRACE_DOC, re.M).group(1)
    documented = set(re.findall(r"`(\w+)`", keys_))
    dirs = set(re.findall(r"`([^`]+)`", one(r"`dir` is ([^(]*)\(a timer\)", TRACE_FLAT).group(1)))
    kinds_text = one(r"`kind` is (`cas`, `mf` or `timer` \(R2\) or `q931` \(PRI\))", TRACE_FLAT).group(1)
    r2_kinds = set(re.findall(r"`(\w+)`", kinds_text.split("(R2)")[0]))
    pri_kinds = set(re.findall(r"`(\w+)`", kinds_text.split("(R2)")[1]))
    records = [json.loads(line) for line in run_cli("e1", "trace", target, "--backend", "sim",
                                                    "--protocol", protocol, "--json")]
    span, chan = map(int, target.split("/"))
    for r in records:
        assert set(r) == documented, r
        assert r["dir"] in dirs and r["kind"] in (r2_kinds if name == "R2" else pri_kinds)
        assert r["span"] == span
        assert r["ch"] in ((chan,) if name == "R2" else (chan, None))
    if target == "2/5":
        assert {r["kind"] for r in records} == r2_kinds      # our side of a call shows every kind


def test_dahdi_trace_records_have_the_documented_keys():
    keys_ = one(r"^\* DAHDI records: (.*)$", TRACE_DOC, re.M).group(1)
    from drivers.e1_card import commands

    src = inspect.getsource(commands._trace_dahdi)
    record = one(r"show\((\{[^}]*\})\)", src).group(1)
    assert set(re.findall(r'"(\w+)":', record)) == set(re.findall(r"`(\w+)`", keys_))


def example_blocks():
    """(command, how, lines) for each example block of the trace section: how is 'starts', 'ends'
    or 'all'; an 'ends' block belongs to the command named before the block it follows."""
    out, command = [], None
    for m in re.finditer(r"(?s)(.*?)```\n(.*?)```", TRACE_DOC):
        before, body = m.group(1), m.group(2)
        named = re.findall(r"`(scanhub e1 trace [^`]+)`", before)
        if named:
            command = named[-1]
        how = "starts" if before.rstrip().endswith("starts:") else "ends" if before.rstrip().endswith("ends:") else "all"
        out.append((command, how, body.splitlines()))
    return out


def test_trace_examples_in_the_doc_are_real_output():
    blocks = example_blocks()
    assert [how for _, how, _ in blocks] == ["starts", "ends", "all"]
    for command, how, lines in blocks:
        output = run_cli(*command.split()[1:])
        if how == "starts":
            assert output[:len(lines)] == lines, command
        elif how == "ends":
            assert output[-len(lines):] == lines, command
        else:
            assert output == lines, command


def test_trace_sim_story_is_what_the_command_does():
    """Span 1 is the carrier placing the call, span 2 the hub answering; clear 500 ms after answer."""
    m = one(r"the carrier clears it about (\d+) ms after the answer", TRACE_FLAT)
    carrier = [json.loads(line) for line in run_cli("e1", "trace", "1/5", "--backend", "sim", "--json")]
    hub = [json.loads(line) for line in run_cli("e1", "trace", "2/5", "--backend", "sim", "--json")]
    assert carrier[0]["dir"] == "tx" and carrier[0]["meaning"] == "seize"
    assert hub[0]["dir"] == "rx" and hub[0]["meaning"] == "seize"
    answered = next(r["t"] for r in carrier if r["kind"] == "cas" and r["meaning"] == "answer")
    cleared = next(r["t"] for r in carrier if r["kind"] == "cas" and r["dir"] == "tx" and r["t"] > answered)
    # it hangs up once that long has passed since it saw the answer; the line changes on a 20 ms step
    assert int(m.group(1)) <= cleared - answered <= int(m.group(1)) + 3 * 20


# ================================================================ e1: names, files, counters

def backticked(text: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", text)


@pytest.mark.parametrize("doc,bases", [(GUN_DOC, [""]), (E1_DOC, ["", "drivers/e1_card/"])],
                         ids=["gun-image.md", "e1.md"])
def test_paths_the_docs_name_exist(doc, bases):
    paths = [t for t in backticked(doc) if re.fullmatch(r"[\w*.-]+(/[\w*.-]+)*(\.py|/)", t)]
    assert paths
    for path in paths:
        assert any(list(ROOT.glob(base + path.rstrip("/"))) for base in bases), f"{path} does not exist"


def resolve(dotted: str):
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


@pytest.mark.parametrize("doc", [GUN_DOC, E1_DOC], ids=["gun-image.md", "e1.md"])
def test_python_names_the_docs_name_exist(doc):
    names = {re.sub(r"\(.*\)$", "", t) for t in backticked(doc)
             if re.fullmatch(r"(contract|hub|drivers|firmware_images|sim)(\.\w+)+(\(.*\))?", t)}
    assert names
    for name in sorted(names):
        try:
            resolve(name)
        except (ModuleNotFoundError, AttributeError) as e:
            raise AssertionError(f"the doc names {name}, which does not exist ({e})") from None


def e1_class(name: str):
    for mod in ("framer", "r2", "pri", "calls", "span", "dahdi", "virtual"):
        m = importlib.import_module(f"drivers.e1_card.{mod}")
        if hasattr(m, name):
            return getattr(m, name)
    raise AssertionError(f"docs/e1.md names {name}, which is in no drivers.e1_card module")


def test_e1_class_attributes_the_doc_names_exist():
    refs = {re.sub(r"\(\)$", "", t) for t in backticked(E1_DOC) if re.fullmatch(r"[A-Z]\w+\.\w+(\(\))?", t)}
    assert {"Deframer.counters", "Call.reason", "R2Channel.trace", "R2Stack.trace_listeners",
            "PriStack.trace", "PriStack.trace_listeners", "Call.trace"} <= refs
    for ref in sorted(refs):
        cls_name, attr = ref.split(".")
        cls = e1_class(cls_name)
        assert (hasattr(cls, attr) or attr in getattr(cls, "__dataclass_fields__", {})
                or re.search(rf"self\.{attr}\s*(:|=[^=])", inspect.getsource(cls))), ref


def test_e1_module_map_names_are_in_their_modules():
    table = doc_section(E1_DOC, "## Module map")
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert len(rows) > 10
    for row in rows:
        files, holds = row.strip("|").split(" | ", 1)
        modules = [importlib.import_module("drivers.e1_card." + f[:-3].replace("/", "."))
                   for f in re.findall(r"`([\w/]+\.py)`", files)]
        assert modules, row
        for name in re.findall(r"`([A-Za-z_]\w*)(?:\([^`]*\))?`", holds):
            if not (name[0].isupper() or "(" in holds.split(name, 1)[1][:1]):
                continue
            assert any(hasattr(m, name) for m in modules), f"{name} is not in {files}"
    # the virtual span is in the driver; the carrier load generator stays in sim/
    virtual = next(r for r in rows if r.startswith("| `virtual.py`"))
    for name in ("VirtualSpanPair", "VirtualSpan", "virtual_pair"):
        assert f"`{name}" in virtual
    text = flat(E1_DOC)
    for path, name in re.findall(r"`(sim/\w+\.py)` is the [^(`]*\(`(\w+)`", text):
        assert hasattr(importlib.import_module(path[:-3].replace("/", ".")), name), (path, name)
    assert "`sim/e1_carrier.py` is the carrier load generator (`run_calls`" in text


def signature_text(func) -> str:
    out, star = [], False
    for p in inspect.signature(func).parameters.values():
        if p.name == "self":
            continue
        if p.kind is p.KEYWORD_ONLY and not star:
            out.append("*")
            star = True
        out.append(p.name if p.default is p.empty else f"{p.name}={p.default!r}")
    return ", ".join(out)


def test_virtual_span_signatures_in_the_doc():
    from drivers.e1_card.virtual import VirtualSpanPair, virtual_pair

    text = flat(E1_DOC)
    for name, func in (("VirtualSpanPair", VirtualSpanPair.__init__), ("virtual_pair", virtual_pair)):
        documented = one(rf"`{name}\(([^`]*\*[^`]*)\)`", text).group(1)     # the form with every parameter
        assert documented == signature_text(func), name
    pair, carrier, hub = virtual_pair("r2-cn")
    assert (pair.a.number, pair.a.config.name, pair.b.number, pair.b.config.name) == (1, "carrier", 2, "hub")
    assert carrier.glare_wins and not hub.glare_wins


def test_line_faults_in_the_doc_are_the_ones_the_line_takes():
    from drivers.e1_card.errors import BackendError
    from drivers.e1_card.virtual import SimLine

    m = one(r"`pair\.line_ab\.inject\(fault, n=1\)`, faults (.*?)\.(?: |$)", flat(E1_DOC))
    documented = re.findall(r"`(\w+)`", re.sub(r"\([^)]*\)", "", m.group(1)))
    for fault in documented:
        SimLine("hdb3").inject(fault, 1)
    with pytest.raises(BackendError) as err:
        SimLine("hdb3").inject("no-such-fault")
    assert str(err.value).split(": ", 1)[1].split(", ") == documented


def test_crc4_loss_of_alignment_rule_and_its_counter():
    from drivers.e1_card.framer import Deframer

    text = flat(E1_DOC)
    stated = set(re.findall(r"(\d+) or more errored CRC-4 blocks of (\d+)", text))
    assert len(stated) == 1, stated
    errored, window = stated.pop()
    src = inspect.getsource(Deframer._crc_check_smf)
    assert f">= {window}" in src and f">= {errored}" in src and "self.crc4_lof_events += 1" in src
    assert "adds one to `crc4_lof_events`" in text
    d = Deframer()
    assert d.crc4_lof_events == 0
    assert d.counters()["crc4_lof_events"] == 0          # visible in span status and `e1 status`


def test_counters_the_doc_lists_are_the_deframers_and_the_status_lines():
    from drivers.e1_card.framer import Deframer

    text = flat(E1_DOC)
    listed = one(r"\*\*Counters\*\* \(`Deframer\.counters\(\)`\): ([^.]*)\.", text).group(1)
    assert re.findall(r"`(\w+)`", listed) == list(Deframer().counters())
    status = one(r"`scanhub e1 status` prints ([^.]*)\.", text).group(1)
    output = run_cli("e1", "status", "--backend", "sim")
    counter_line = next(line for line in output if "crc4_errors=" in line)
    assert re.findall(r"(\w+)=", counter_line) == re.findall(r"`(\w+)`", status)
    spans = [json.loads(line) for line in run_cli("e1", "status", "--backend", "sim", "--json")]
    added = one(r"A simulated span's status adds (.*?); `scanhub e1 status`", text).group(1)
    added = re.findall(r"`(\w+)`", added)
    assert set(spans[0]["counters"]) == set(Deframer().counters()) | {"bpv", "underruns"}
    assert set(added) - {"hdlc_fcs_errors"} == {"bpv", "underruns"}


# ================================================================ docs/callcenter.md

CC_DOC = (ROOT / "docs" / "callcenter.md").read_text(encoding="utf-8")


def test_callcenter_doc_lists_every_strategy_and_queue_log_event():
    from hub.acd.config import STRATEGIES
    from hub.acd.queue_log import EVENTS
    table = doc_section(CC_DOC, "### Strategies")
    assert re.findall(r"^\| `([a-z-]+)` \|", table, re.M) == list(STRATEGIES)
    log = doc_section(CC_DOC, "## The queue log")
    named = set(re.findall(r"\b([A-Z]{4,})\b", log)) - {"NONE"}
    assert named == set(EVENTS), named ^ set(EVENTS)


def test_callcenter_doc_staffing_and_ahp_examples_are_what_the_code_says():
    from hub.acd import ahp, erlang
    text = flat(CC_DOC)
    m = one(r"→ \*\*(\d+) agents\*\*, P\(wait\) ([\d.]+), SL ([\d.]+), ASA ([\d.]+) s, occupancy ([\d.]+)", text)
    f = erlang.agents_needed(100, 1800, 180, 0.80, 20)
    assert (f["agents"], round(f["p_wait"], 3), round(f["service_level"], 3), round(f["asa_s"], 1),
            round(f["occupancy"], 3)) == (int(m[1]), float(m[2]), float(m[3]), float(m[4]), float(m[5]))
    spec = yaml_block_after(CC_DOC, "Worked example (`inbound.yaml`):")
    r = ahp.from_spec(spec)
    m = one(r"gives weights greeting ([\d.]+), accuracy ([\d.]+), empathy ([\d.]+), resolution ([\d.]+); "
            r"λmax ([\d.]+), CI ([\d.]+), RI ([\d.]+), CR ([\d.]+)", text)
    w = r["weights"]
    for name, got in zip(("greeting", "accuracy", "empathy", "resolution"), m.groups()[:4]):
        assert round(w[name], len(got.split(".")[1])) == float(got), name
    assert (round(r["lambda_max"], 4), round(r["ci"], 4), r["ri"], round(r["cr"], 4)) == tuple(map(float, m.groups()[4:]))


def yaml_block_after(text: str, marker: str):
    import yaml
    rest = text[text.index(marker):]
    block = re.search(r"```yaml\n(.*?)```", rest, re.S)[1]
    return yaml.safe_load(block)


def test_callcenter_doc_queue_file_and_fuzzy_tree_are_valid():
    from hub.acd import fuzzy
    from hub.acd.config import parse_queues
    centre = parse_queues(yaml_block_after(CC_DOC, "## Queues as data"))
    assert set(centre.queues) == {"service", "backup"}
    r = fuzzy.evaluate(yaml_block_after(CC_DOC, "### Fuzzy comprehensive evaluation"))
    assert r["grade"] in r["grades"]
# ================================================================ ivr.md: the example flow, names, actions

IVR_DOC = (ROOT / "docs" / "ivr.md").read_text(encoding="utf-8")


def test_the_ivr_docs_full_example_and_calendar_pass_the_checker(tmp_path):
    from hub.ivr.flow import load_flow
    blocks = re.findall(r"```yaml\n(.*?)```", IVR_DOC, re.S)
    flow_text = next(b for b in blocks if "nodes:" in b)
    (tmp_path / "holidays.yaml").write_text(next(b for b in blocks if b.startswith("holidays:")), encoding="utf-8")
    (tmp_path / "flow.yaml").write_text(flow_text, encoding="utf-8")
    flow = load_flow(str(tmp_path / "flow.yaml"))
    assert {n["type"] for n in flow.nodes.values()} >= {"schedule", "announce", "menu", "collect", "service",
                                                        "voicemail", "transfer", "hangup"}
    import datetime as dt
    assert dt.date(2026, 10, 3) in flow.schedules["office"].calendar.holidays


def test_the_ivr_docs_node_table_is_the_checkers():
    from hub.ivr.flow import FIELDS
    section = IVR_DOC.split("### Node types")[1].split("###")[0]
    rows = re.findall(r"^\| `(\w+)` \| (.*?) \|", section, re.M)
    table = {kind: set(re.findall(r"`(\w+)`", fields)) for kind, fields in rows if kind in FIELDS}
    assert set(table) == set(FIELDS)
    for kind, fields in FIELDS.items():
        assert set(fields) <= table[kind], (kind, set(fields) - table[kind])
        required = {f for f, req in fields.items() if req}
        documented = set(re.findall(r"\*\*`(\w+)`\*\*", dict(rows)[kind]))
        assert documented == required, (kind, documented, required)


def test_the_ivr_docs_events_and_actions_are_the_engines():
    from hub.ivr.engine import Engine
    events = re.findall(r"^\| `(\w+)\(", IVR_DOC, re.M)
    assert events == ["start", "digit", "prompt_done", "timeout", "recorded", "hangup"]
    assert all(callable(getattr(Engine, e)) for e in events)
    section = IVR_DOC.split("| action |")[1].split("\n\n")[0]
    actions = set(re.findall(r"^\| `(\w+)` \|", section, re.M))
    src = (ROOT / "hub" / "ivr" / "engine.py").read_text(encoding="utf-8")
    assert actions == set(re.findall(r'"action": "(\w+)"', src))


def test_the_ivr_docs_paths_and_names_exist():
    for path in [t for t in backticked(IVR_DOC) if re.fullmatch(r"[\w*.-]+(/[\w*.-]+)*(\.py|\.yaml|/)", t)
                 and "/" in t and not t.startswith("prompts/")]:
        assert list(ROOT.glob(path.rstrip("/"))), f"{path} does not exist"
    for name in {re.sub(r"\(.*\)$", "", t) for t in backticked(IVR_DOC) if re.fullmatch(r"hub(\.\w+)+(\(.*\))?", t)}:
        resolve(name)
