"""Pure E1 codecs: HDB3/AMI, A-law, CRC-4, TS0 words, TS16 CAS, framer/deframer alignment."""
from __future__ import annotations

import os
import warnings

import pytest
from hypothesis import given, settings, strategies as st

from drivers.e1_card import alaw, cas, frame
from drivers.e1_card.crc4 import crc4, crc4_reference
from drivers.e1_card.errors import CasError, CodecError, FrameError
from drivers.e1_card.framer import Deframer, Framer
from drivers.e1_card.hdb3 import (AmiEncoder, Hdb3Encoder, LineDecoder, ami_decode, ami_encode,
                                  hdb3_decode, hdb3_encode)

SETTINGS = settings(max_examples=80, deadline=None)


def _chunks(data: bytes, sizes: list[int]):
    i = 0
    for n in sizes:
        if i >= len(data):
            break
        yield data[i:i + n]
        i += n
    if i < len(data):
        yield data[i:]


# ----------------------------------------------------------------------------- HDB3 / AMI
def test_hdb3_known_sequence():
    # 1 then fifteen zeros: one mark (odd) -> 000V, then B00V twice, three zeros left
    sym = hdb3_encode(bytes([0x80, 0x00]))
    assert sym.hex() == "01" + "000000" + "01" + "ff0000ff" + "01000001" + "000000"
    assert sym[:5] == bytes([1, 0, 0, 0, 1])  # 000V repeats the + mark


@SETTINGS
@given(st.binary(max_size=300), st.lists(st.integers(1, 40), max_size=20),
       st.lists(st.integers(1, 300), max_size=20))
def test_hdb3_round_trip_any_chunking(data, enc_sizes, dec_sizes):
    enc = Hdb3Encoder()
    sym = b"".join(enc.encode(c) for c in _chunks(data, enc_sizes)) + enc.flush()
    assert len(sym) == 8 * len(data)
    assert b"\x00\x00\x00\x00" not in sym  # HDB3 never sends four zeros
    dec = LineDecoder()
    out = b"".join(dec.decode(c) for c in _chunks(sym, dec_sizes)) + dec.flush()
    assert out == data
    assert dec.bpv == 0 and dec.exz == 0


@SETTINGS
@given(st.binary(min_size=1, max_size=200))
def test_hdb3_no_dc_and_alternating_violations(data):
    sym = hdb3_encode(data)
    signed = [s - 256 if s > 127 else s for s in sym]
    assert abs(sum(signed)) <= 2
    # polarity of violations alternates
    last, viol = 0, []
    for s in signed:
        if s:
            if s == last:
                viol.append(s)
            last = s
    assert all(a != b for a, b in zip(viol, viol[1:]))


@SETTINGS
@given(st.binary(max_size=200))
def test_ami_round_trip(data):
    enc = AmiEncoder()
    sym = enc.encode(data)
    assert ami_decode(sym) == (data, 0)
    assert ami_encode(data) == sym


def test_line_decoder_counts_bpv_and_los():
    sym = bytearray(hdb3_encode(bytes([0xAA] * 4)))
    first = sym.index(1)
    nxt = sym.index(0xFF, first)
    sym[nxt] = 1  # a mark of the wrong polarity: it and the mark after it both violate
    data, bpv = hdb3_decode(bytes(sym))
    assert bpv == 2
    dec = LineDecoder()
    dec.decode(bytes(300))
    assert dec.los and dec.los_events == 1
    dec.decode(hdb3_encode(bytes(64)))
    assert not dec.los


def test_line_decoder_rejects_non_symbols():
    with pytest.raises(CodecError):
        LineDecoder().decode(b"\x02")


# ----------------------------------------------------------------------------- A-law
def test_alaw_against_reference_tables():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")
    codes = bytes(range(256))
    ref = audioop.alaw2lin(codes, 2)
    assert alaw.decode(codes).tobytes() == ref
    samples = alaw.decode(codes)
    assert alaw.encode(samples) == codes
    import array
    ramp = array.array("h", range(-32768, 32768, 7))
    assert alaw.encode(ramp) == audioop.lin2alaw(ramp.tobytes(), 2)


def test_alaw_silence_and_errors():
    assert alaw.decode(bytes([alaw.SILENCE]))[0] == 8
    with pytest.raises(CodecError):
        alaw.encode([40000])
    with pytest.raises(CodecError):
        alaw.encode(["x"])
    assert [len(b) for b in alaw.blocks(bytes(400))] == [160, 160]


# ----------------------------------------------------------------------------- CRC-4
@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=256, max_size=256))
def test_crc4_fast_equals_reference(smf):
    assert crc4(smf) == crc4_reference(smf)


def test_crc4_ignores_c_bits_and_checks_size():
    smf = bytearray(os.urandom(256))
    base = crc4(bytes(smf))
    for off in (0, 64, 128, 192):
        smf[off] ^= 0x80
    assert crc4(bytes(smf)) == base
    assert crc4(bytes(256)) == 0
    with pytest.raises(FrameError):
        crc4(bytes(255))


# ----------------------------------------------------------------------------- TS0 / TS16
def test_ts0_words():
    assert frame.fas_word(1) == 0x9B and frame.fas_word(0) == 0x1B
    assert frame.nfas_word(1, a=1) == 0xFF
    assert frame.nfas_word(0, a=0, sa=0) == 0x40
    seq = frame.ts0_sequence((0b1010, 0b0101))
    si = [b >> 7 for b in seq]
    assert si[0::2] == [1, 0, 1, 0, 0, 1, 0, 1]
    assert si[1::2] == [0, 0, 1, 0, 1, 1, 1, 1]
    with pytest.raises(FrameError):
        frame.nfas_word(sa=0x20)


def test_cas_multiframe_layout():
    ts16 = cas.build_ts16({1: 0b1011, 17: 0b0011, 15: 0b0001, 31: 0b1111}, remote_mf_alarm=True)
    assert ts16[0] == 0b00001111  # 0000 x y x x with y = 1
    assert ts16[1] == 0xB3 and ts16[15] == 0x1F
    abcd, y = cas.parse_ts16(ts16)
    assert y and abcd[1] == 0b1011 and abcd[17] == 0b0011 and abcd[2] == cas.DEFAULT_IDLE
    with pytest.raises(CasError):
        cas.build_ts16({5: 0})
    with pytest.raises(CasError):
        cas.build_ts16({16: 1})
    with pytest.raises(FrameError):
        cas.parse_ts16(b"\xff" * 16)
    assert cas.parse_abcd("1011") == 11 and cas.format_abcd(3) == "0011"
    with pytest.raises(CasError):
        cas.parse_abcd("10x1")


# ----------------------------------------------------------------------------- framer
def _line(n_mf: int, payload: bytes | None = None, **kw) -> bytes:
    f = Framer()
    return b"".join(f.multiframe(payload, **kw) for _ in range(n_mf))


def _shift_bits(data: bytes, offset: int) -> bytes:
    """Prefix ``offset`` one bits so the frames sit at an arbitrary bit position (ones cannot
    imitate a FAS, so the first alignment found is the real one)."""
    if not offset:
        return data
    v = int.from_bytes(data, "big")
    prefix = (1 << offset) - 1
    total = 8 * len(data) + offset
    pad = (-total) % 8
    return ((((prefix << 8 * len(data)) | v)) << pad).to_bytes((total + pad) // 8, "big")


@SETTINGS
@given(st.binary(min_size=512, max_size=512), st.integers(0, 300),
       st.lists(st.integers(1, 700), max_size=12))
def test_framing_round_trip_any_payload_offset_chunking(payload, offset, sizes):
    f = Framer()
    mfs = [f.multiframe(payload, abcd={3: 0b1011, 20: 0b0101}) for _ in range(12)]
    line = _shift_bits(b"".join(mfs), offset)
    d = Deframer()
    for c in _chunks(line, sizes):
        d.feed(c)
    assert d.alarms() == []
    assert d.fas_errors == 0 and d.crc4_errors == 0
    assert d.rx_abcd[3] == 0b1011 and d.rx_abcd[20] == 0b0101
    got = d.read_frames()
    sent = b"".join(mfs)
    assert len(got) >= 6 * 512 and got == sent[len(sent) - len(got):]
    # voice timeslots carry the payload untouched
    assert sent[5::32] == payload[5::32] * 12


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 11), st.integers(0, 511), st.integers(0, 7))
def test_every_single_bit_error_in_a_smf_is_detected(mf_index, byte_index, bit):
    mfs = bytearray(_line(14, os.urandom(512)))
    d = Deframer()
    d.feed(bytes(mfs[:512 * 8]))
    assert d.crc_mf_aligned and d.crc4_errors == 0
    pos = 512 * (8 + mf_index % 4) + byte_index
    mfs[pos] ^= 0x80 >> bit
    d.feed(bytes(mfs[512 * 8:]))
    assert d.crc4_errors >= 1
    assert not d.lof


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 600), st.booleans(), st.integers(20, 200))
def test_alignment_regained_after_any_slip(nbits, insert, at_frame):
    line = _line(60, os.urandom(512))
    v = int.from_bytes(line, "big")
    total = 8 * len(line)
    cut = total - (160 + at_frame) * 256 - 37  # bits after the slip point
    head, tail = v >> cut, v & ((1 << cut) - 1)
    if insert:
        head = (head << nbits) | (int.from_bytes(os.urandom(nbits // 8 + 1), "big") & ((1 << nbits) - 1))
        hbits = total - cut + nbits
    else:
        head >>= nbits
        hbits = total - cut - nbits
    slipped = (head << cut) | tail
    nb = hbits + cut
    pad = (-nb) % 8
    data = (slipped << pad).to_bytes((nb + pad) // 8, "big")
    d = Deframer()
    d.feed(data[:512 * 10])
    assert not d.lof
    d.feed(data[512 * 10:])
    assert not d.lof, d.alarms()
    if nbits % 512:  # the frame phase moved: lost, found again, counted as a slip
        assert d.lof_events == 1 and d.slips == 1


def test_alarms_ais_lof_rai_los_and_ebits():
    d = Deframer()
    d.feed(_line(8))
    assert d.alarms() == []
    d.feed(b"\xff" * 2048)  # unframed all ones
    assert "AIS" in d.alarms() and "LOF" in d.alarms()
    d.feed(_line(10))
    assert d.alarms() == []
    d.feed(_line(4, rai=True))
    assert "RAI" in d.alarms()
    d.feed(_line(4, remote_mf_alarm=True))
    assert "MFRAI" in d.alarms() and "RAI" not in d.alarms()
    d.feed(_line(4, e_bits=(0, 1)))
    assert d.ebit_errors >= 3
    d.set_los(True)
    assert d.alarms()[:1] == ["LOS"]
    kinds = [e[1] for e in d.events if e[0] == "alarm"]
    assert {"AIS", "LOF", "RAI", "MFRAI", "LOS"} <= set(kinds)


def test_pop_e_bits_reports_received_crc_errors():
    line = bytearray(_line(12))
    line[512 * 9 + 100] ^= 1
    d = Deframer()
    d.feed(bytes(line))
    assert d.crc4_errors == 1
    assert d.pop_e_bits() == (0, 1)
    assert d.pop_e_bits() == (1, 1)


def test_no_crc4_far_end_gives_interworking_after_400ms():
    f = Framer(crc4=False)
    d = Deframer(crc4=True)
    for _ in range(260):  # 520 ms
        d.feed(f.multiframe())
    assert d.crc4_interworking and not d.lof
    d2 = Deframer(crc4=False)
    d2.feed(b"".join(f.multiframe() for _ in range(4)))
    assert not d2.lof


def test_cas_multiframe_loss_and_ts16_ais():
    d = Deframer()
    d.feed(_line(8))
    f = Framer(cas=False)
    mf = bytearray(f.multiframe())
    mf[16::32] = b"\xff" * 16
    d.feed(bytes(mf) * 3)
    assert "TS16AIS" in d.alarms() and "MFLOF" in d.alarms()
    d.feed(_line(4))
    assert "MFLOF" not in d.alarms() and "TS16AIS" not in d.alarms()


def test_framer_rejects_bad_payload():
    with pytest.raises(FrameError):
        Framer().multiframe(bytes(100))
    with pytest.raises(CasError):
        Framer().multiframe(abcd={1: 0})


def test_915_errored_crc4_blocks_of_1000_lose_alignment_and_search_again():
    """G.706 4.3.2 (docs/e1.md): correct FAS words but every CRC-4 block errored."""
    f = Framer()
    payload = os.urandom(512)
    mfs = bytearray(b"".join(f.multiframe(payload) for _ in range(1300)))   # 2,600 sub-multiframes
    for smf in range(2, 2600):                                                # after alignment
        mfs[smf * 256 + 40] ^= 0x01                                           # a voice bit per SMF
    d = Deframer()
    d.feed(bytes(mfs[:512 * 4]))
    assert d.crc_mf_aligned and not d.lof
    d.feed(bytes(mfs[512 * 4:]))
    assert d.crc4_errors >= 2_389
    assert d.crc4_lof_events >= 2 and d.lof_events >= 2
    assert ("alarm", "LOF", True) in d.events
    assert not d.lof          # the FAS words are good: a new search finds alignment again
