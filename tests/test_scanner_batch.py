"""Wireless gun batch uploads (SHB1): format, checksums, de-duplication, interleaving."""
import json
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.scanner import SCANNER_PROTOCOLS, BatchRecordError
from drivers.scanner.batch import KINDS, BatchDecoder, crc_of, record_problem
from sim.batch_gun import batch_lines, encode_batch

BASE = {"gun": "G1", "seq": 1, "kind": "receive", "waybill": "YT1234567890123",
        "scanned_ms": 1_717_200_000_000, "operator": "1001", "site": "100"}


def rec(**kw):
    return dict(BASE, **kw)


def decoder(**kw):
    return BatchDecoder("cradle-1", clock=lambda: 42, **kw)


def records_of(reads):
    return [r.record for r in reads if r.record is not None]


def test_golden_upload_bytes():
    """The exact bytes of a documented example (docs/scanners.md): a stranger can check the CRC."""
    data = encode_batch("G1", [rec(signer="张三")], image_version="3-9c1d")
    lines = data.decode("ascii").split("\r\n")
    assert lines[0] == "~SHB1 H gun=G1 n=1 img=3-9c1d~"
    assert lines[1] == ('~SHB1 R {"gun":"G1","kind":"receive","operator":"1001",'
                        '"scanned_ms":1717200000000,"seq":1,"signer":"\\u5f20\\u4e09","site":"100",'
                        '"waybill":"YT1234567890123"}~')
    crc = zlib.crc32((lines[0] + "\n" + lines[1] + "\n").encode())
    assert lines[2] == f"~SHB1 T n=1 crc32={crc:08x}~"
    assert lines[2] == "~SHB1 T n=1 crc32=66cc4c20~"
    assert lines[3] == ""


def test_records_become_reads_with_their_own_scan_time():
    d = decoder()
    reads = d.feed(encode_batch("G1", [rec(seq=1, scanned_ms=1_700_000_000_000),
                                       rec(seq=2, kind="dispatch", next_site="900", shift="S1")]))
    assert [r.text for r in reads] == ["YT1234567890123"] * 2
    assert [r.time_ms for r in reads] == [1_700_000_000_000, 1_717_200_000_000]
    assert reads[1].record["next_site"] == "900"
    assert all(r.device == "cradle-1" and r.symbology is None for r in reads)
    assert d.take_replies() == [b"~SHB1 ACK gun=G1 n=2 crc32=%08x~\r\n" % crc_of(
        batch_lines("G1", [rec(seq=1, scanned_ms=1_700_000_000_000),
                           rec(seq=2, kind="dispatch", next_site="900", shift="S1")])[:-1])]


def test_repeated_uploads_deliver_each_record_once():
    d = decoder()
    up = encode_batch("G1", [rec(seq=1), rec(seq=2)])
    up2 = encode_batch("G1", [rec(seq=1), rec(seq=2), rec(seq=3)])
    reads = d.feed(up) + d.feed(up) + d.feed(up2)
    assert [r.record["seq"] for r in reads] == [1, 2, 3]
    assert d.stats["duplicates"] == 4 and d.stats["uploads"] == 3


def test_same_seq_different_content_keeps_the_first():
    d = decoder()
    d.feed(encode_batch("G1", [rec(seq=5)]))
    assert d.feed(encode_batch("G1", [rec(seq=5, waybill="YT9999999999999")])) == []
    assert d.stats["conflicts"] == 1 and "seq 5" in d.last_error


def test_seq_is_per_gun():
    d = decoder()
    reads = d.feed(encode_batch("G1", [rec(seq=1)]) + encode_batch("G2", [rec(gun="G2", seq=1)]))
    assert [(r.record["gun"], r.record["seq"]) for r in reads] == [("G1", 1), ("G2", 1)]


def test_live_reads_between_lines_of_an_upload():
    d = decoder()
    lines = encode_batch("G1", [rec(seq=1), rec(seq=2)]).split(b"\r\n")
    stream = lines[0] + b"\r\n]C0LIVE-1\r\n" + lines[1] + b"\n" + lines[2] + b"\rLIVE-2\r\n" + \
        b"\r\n".join(lines[3:])
    reads = d.feed(stream)
    assert [(r.text, r.record is None) for r in reads] == [
        ("LIVE-1", True), ("LIVE-2", True), ("YT1234567890123", False), ("YT1234567890123", False)]
    assert reads[0].aim == "]C0" and reads[0].symbology == "code128" and reads[0].time_ms == 42


def test_truncated_upload_is_rejected_and_the_next_one_accepted():
    d = decoder()
    up = encode_batch("G1", [rec(seq=1), rec(seq=2)])
    cut = up[: up.index(b"~SHB1 T")]            # trailer lost
    reads = d.feed(cut + up)
    assert [r.record["seq"] for r in reads] == [1, 2]
    assert d.stats["uploads_rejected"] == 1
    replies = d.take_replies()
    assert replies[0].startswith(b"~SHB1 NAK gun=G1 reason=upload truncated")
    assert replies[1].startswith(b"~SHB1 ACK gun=G1 n=2")


def test_missing_record_line_is_rejected():
    lines = encode_batch("G1", [rec(seq=1), rec(seq=2)]).split(b"\r\n")
    d = decoder()
    assert d.feed(b"\r\n".join(lines[:1] + lines[2:])) == []
    assert "truncated" in d.last_error


def test_checksum_mismatch_is_rejected():
    up = encode_batch("G1", [rec(seq=1)]).replace(b"1001", b"1002")
    d = decoder()
    assert d.feed(up) == []
    assert "crc32 mismatch" in d.last_error


def test_bad_record_in_a_valid_upload_is_refused_alone():
    lines = batch_lines("G1", [rec(seq=1), rec(seq=2)])
    lines[2] = '~SHB1 R {"gun":"G1","seq":2,"kind":"teleport"}~'
    lines[-1] = f"~SHB1 T n=2 crc32={crc_of(lines[:-1]):08x}~"
    d = decoder()
    reads = d.feed("\n".join(lines).encode() + b"\n")
    assert [r.record["seq"] for r in reads] == [1]
    assert d.stats["bad_records"] == 1


@pytest.mark.parametrize("bad, why", [
    (dict(kind="teleport"), "kind"), (dict(seq=-1), "seq"), (dict(seq=True), "seq"),
    (dict(scanned_ms=1_700_000_000), "scanned_ms"), (dict(weight_g=-5), "weight_g"),
    (dict(waybill=""), "waybill"), (dict(colour="red"), "unknown"), (dict(operator=None), "operator"),
])
def test_encoder_refuses_bad_records(bad, why):
    with pytest.raises(BatchRecordError, match=why):
        encode_batch("G1", [rec(**bad)])


def test_encoder_refuses_foreign_gun_and_bad_ids():
    with pytest.raises(BatchRecordError, match="belongs to gun G2"):
        encode_batch("G1", [rec(gun="G2")])
    with pytest.raises(BatchRecordError, match="gun id"):
        encode_batch("G 1", [])
    with pytest.raises(BatchRecordError, match="image version"):
        encode_batch("G1", [], image_version="v 1")


def test_empty_upload_is_valid():
    d = decoder()
    assert d.feed(encode_batch("G1", [])) == [] and d.stats["uploads"] == 1


def test_live_line_with_tilde_is_damage_not_a_read():
    d = decoder()
    assert d.feed(b"ABC~DEF\r\n") == [] and d.stats["bad_frames"] == 1


def test_registry_name():
    assert SCANNER_PROTOCOLS["batch"] is BatchDecoder


# -- hypothesis ----------------------------------------------------------------------------------
text = st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs")), min_size=1,
               max_size=20).filter(lambda s: s.isprintable())
code = st.from_regex(r"[0-9A-Z]{1,8}", fullmatch=True)


@st.composite
def records(draw, gun="G1"):
    n = draw(st.integers(0, 6))
    seqs = draw(st.lists(st.integers(0, 2**40), min_size=n, max_size=n, unique=True))
    out = []
    for seq in seqs:
        r = {"gun": gun, "seq": seq, "kind": draw(st.sampled_from(KINDS)),
             "waybill": draw(code), "scanned_ms": draw(st.integers(946_684_800_000, 4_102_444_799_999)),
             "operator": draw(code), "site": draw(code)}
        for key, strat in (("shift", code), ("dest", code), ("next_site", code), ("prev_site", code),
                           ("courier", code), ("signer", text), ("weight_g", st.integers(0, 10_000_000))):
            if draw(st.booleans()):
                r[key] = draw(strat)
        out.append(r)
    return out


@settings(max_examples=60, deadline=None)
@given(records(), st.sampled_from([b"\r\n", b"\n", b"\r"]), st.integers(1, 64))
def test_round_trip_any_records_any_terminator_any_chunking(recs, eol, chunk):
    data = b"".join(line.encode() + eol for line in batch_lines("G1", recs, "img-1"))
    d = decoder()
    reads = []
    for i in range(0, len(data), chunk):
        reads += d.feed(data[i:i + chunk])
    assert records_of(reads) == recs
    assert [r.time_ms for r in reads] == [r["scanned_ms"] for r in recs]
    assert all(record_problem(r) is None for r in records_of(reads))


@settings(max_examples=60, deadline=None)
@given(records(), st.data())
def test_any_single_byte_damage_never_yields_a_wrong_read(recs, data):
    up = bytearray(encode_batch("G1", recs))
    pos = data.draw(st.integers(0, len(up) - 1))
    new = data.draw(st.integers(0, 255).filter(lambda b: b != up[pos]))
    up[pos] = new
    d = decoder()
    reads = d.feed(bytes(up))
    got = records_of(reads)
    assert got in ([], recs), "an upload is delivered whole or not at all"
    assert [r for r in reads if r.record is None] == [], "damage never becomes a live read"


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(records(), min_size=1, max_size=4), st.lists(st.binary(max_size=30), min_size=5, max_size=5))
def test_noise_between_uploads_never_changes_the_records(uploads, noise):
    # Different guns so de-duplication does not hide anything.
    uploads = [[dict(r, gun=f"G{i}") for r in recs] for i, recs in enumerate(uploads)]
    stream = b""
    for i, recs in enumerate(uploads):
        stream += noise[i] + b"\r\n" + encode_batch(f"G{i}", recs)
    stream += noise[-1]
    d = decoder()
    reads = d.feed(stream)
    got = records_of(reads)
    want = [r for recs in uploads for r in recs]
    assert all(r in want for r in got)
    if not any(b"~" in n for n in noise):
        assert got == want
    for r in reads:
        if r.record is None:
            assert any(r.text.encode() in n for n in noise)


@settings(max_examples=100, deadline=None)
@given(records(), st.integers(1, 3))
def test_persistent_resends_in_any_order_deliver_each_record_once(recs, times):
    d = decoder()
    reads = []
    for _ in range(times):
        reads += d.feed(encode_batch("G1", recs))
        reads += d.feed(encode_batch("G1", list(reversed(recs))))
    assert sorted(json.dumps(r, sort_keys=True) for r in records_of(reads)) == \
        sorted(json.dumps(r, sort_keys=True) for r in recs)


def test_documented_example_is_what_the_encoder_writes():
    import os
    doc = open(os.path.join(os.path.dirname(__file__), "..", "docs", "scanners.md"), encoding="utf-8").read()
    recs = [rec(gun="W7", seq=41, kind="arrive", site="900", weight_g=1250),
            rec(gun="W7", seq=42, kind="dispatch", waybill="YT1234567890130", site="900",
                scanned_ms=1_717_200_005_000, shift="S1", dest="200")]
    for line in batch_lines("W7", recs, "3-9c1d"):
        assert line in doc
