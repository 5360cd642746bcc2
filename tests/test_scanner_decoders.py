"""Pure scanner decoders: golden frames from vendors' manuals, round trips and noise."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.scanner import SCANNER_PROTOCOLS, ScannerOptionError, UnknownProtocolError, decoder_for
from drivers.scanner.aim import split_aim, symbology_of
from drivers.scanner.errors import CommandError, FrameError
from drivers.scanner.hid_keyboard import HidKeyboardDecoder
from drivers.scanner.hid_pos import HidPosDecoder, parse_report
from drivers.scanner.honeywell import HoneywellDecoder, menu_command, parse_reply
from drivers.scanner.serial_gun import SerialGunDecoder
from drivers.scanner.ssi import SsiDecoder, ack, build_packet, nak, parse_packet
from sim.scanner_frames import encode_hid_pos, encode_keyboard, encode_serial, encode_ssi, frames_for

CLOCK = lambda: 1_700_000_000_000  # noqa: E731


def texts(r):
    return [x.text for x in r]


def feed_chunks(dec, data, chunk):
    out = []
    for i in range(0, len(data), chunk):
        out += dec.feed(data[i:i + chunk])
    return out


# -- registry ------------------------------------------------------------------------------------
def test_registry_has_every_protocol_with_a_pure_feed():
    assert set(SCANNER_PROTOCOLS) == {"serial", "hid-keyboard", "hid-pos", "ssi", "honeywell", "batch"}
    for name, cls in SCANNER_PROTOCOLS.items():
        dec = cls("g", clock=CLOCK)
        assert dec.name == name and dec.feed(b"") == []


def test_unknown_protocol_and_bad_options_are_clear_errors():
    with pytest.raises(UnknownProtocolError, match="known: batch, hid-keyboard"):
        decoder_for("laser")
    with pytest.raises(ScannerOptionError, match="colour"):
        decoder_for("serial", colour="red")
    with pytest.raises(ScannerOptionError, match="layout"):
        decoder_for("hid-keyboard", layout="klingon")
    with pytest.raises(TypeError):
        SerialGunDecoder().feed("text")


# -- AIM -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("aim, name", [("]C0", "code128"), ("]C1", "gs1-128"), ("]E0", "ean13"),
                                       ("]E4", "ean8"), ("]A0", "code39"), ("]Q1", "qr"),
                                       ("]d2", "gs1-datamatrix"), ("]Z9", None)])
def test_aim_identifiers(aim, name):
    assert symbology_of(aim) == name


def test_split_aim_leaves_plain_text():
    assert split_aim("]C0YT1") == ("]C0", "YT1")
    assert split_aim("YT1") == (None, "YT1") and split_aim("]") == (None, "]")


# -- serial --------------------------------------------------------------------------------------
def test_serial_golden_lines():
    d = SerialGunDecoder("gun-1", clock=CLOCK)
    r = d.feed(b"YT1234567890123\r\n]E06901234567892\r]C1\x1d0112345\n")
    assert texts(r) == ["YT1234567890123", "6901234567892", "\x1d0112345"]
    assert [x.symbology for x in r] == [None, "ean13", "gs1-128"]
    assert r[0].device == "gun-1" and r[0].time_ms == CLOCK()


def test_serial_prefix_suffix_and_noise():
    d = SerialGunDecoder(prefix="\x02", suffix="\x03", clock=CLOCK)
    r = d.feed(b"junk\x03\x02ABC\x03zz\x02DEF\x03\x02GH")
    assert texts(r) == ["ABC", "DEF"]
    assert d.stats["bad_frames"] == 1
    assert texts(d.feed(b"I\x03")) == ["GHI"]


def test_serial_refuses_what_it_cannot_read():
    d = SerialGunDecoder(clock=CLOCK)
    assert d.feed(b"\xff\xfe\r\nAB\x07C\r\n\x1d\r\n") == []
    assert d.stats["bad_frames"] == 3
    d2 = SerialGunDecoder(aim=True, clock=CLOCK)
    assert d2.feed(b"NOAIM\r") == [] and "AIM" in d2.last_error


def test_serial_overlong_run_is_dropped_and_resyncs():
    d = SerialGunDecoder(max_length=16, clock=CLOCK)
    assert d.feed(b"x" * 100) == []
    assert texts(d.feed(b"xxx\rOK\r")) == ["OK"]


def test_serial_gbk():
    d = SerialGunDecoder(encoding="gbk", clock=CLOCK)
    assert texts(d.feed("张三\r".encode("gbk"))) == ["张三"]


read_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")),
                    min_size=1, max_size=80).filter(lambda s: s.strip() == s and s)


@settings(max_examples=150, deadline=None)
@given(st.lists(read_text, min_size=1, max_size=5), st.sampled_from([b"\r", b"\n", b"\r\n"]),
       st.integers(1, 20), st.sampled_from([None, "code128", "ean13", "qr"]))
def test_serial_round_trip(reads, suffix, chunk, symbology):
    data = b"".join(encode_serial(t, suffix=suffix, aim=symbology is not None, symbology=symbology)
                    for t in reads)
    d = SerialGunDecoder(aim=symbology is not None, clock=CLOCK)
    got = feed_chunks(d, data, chunk)
    assert texts(got) == reads
    assert all(x.symbology == symbology for x in got)


@settings(max_examples=150, deadline=None)
@given(st.lists(read_text, min_size=1, max_size=5),
       st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\x02", b"")), min_size=6, max_size=6))
def test_serial_noise_between_framed_reads_yields_exactly_the_reads(reads, noise):
    data = noise[0] + b"".join(encode_serial(t, prefix=b"\x02", suffix=b"\r") + noise[i + 1]
                               for i, t in enumerate(reads))
    d = SerialGunDecoder(prefix=b"\x02", suffix=b"\r", aim=False, clock=CLOCK)
    assert texts(d.feed(data)) == reads


# -- Zebra SSI -----------------------------------------------------------------------------------
def test_ssi_golden_host_ack_and_nak():
    # SSI Programmer's Guide: checksum = 2's complement of the sum, high byte first.
    assert ack() == bytes.fromhex("04 D0 04 00 FF 28")
    assert nak() == bytes.fromhex("05 D1 04 00 01 FF 25")


def test_ssi_golden_decode_data():
    frame = bytes.fromhex("08 F3 00 00 03 41 42 43 FE 3C")     # Code 128 "ABC"
    p = parse_packet(frame)
    assert (p.name, p.source, p.data) == ("DECODE_DATA", 0, b"\x03ABC")
    d = SsiDecoder("zebra", clock=CLOCK)
    r = d.feed(frame)
    assert texts(r) == ["ABC"] and r[0].symbology == "code128"
    assert d.take_replies() == [ack()]


def test_ssi_bad_checksum_is_naked_and_skipped():
    frame = bytearray(encode_ssi("6901234567892", "ean13"))
    frame[6] ^= 0x01
    d = SsiDecoder(clock=CLOCK)
    assert d.feed(bytes(frame) + encode_ssi("OK", "code39")) == [d._read("OK", "code39")]
    assert d.take_replies() == [nak(), ack()]


def test_ssi_retransmit_of_a_delivered_packet_is_acked_not_repeated():
    d = SsiDecoder(clock=CLOCK)
    assert texts(d.feed(encode_ssi("A1"))) == ["A1"]
    assert d.feed(encode_ssi("A1", retransmit=True)) == []
    assert d.take_replies() == [ack(), ack()]
    assert texts(d.feed(encode_ssi("A1"))) == ["A1"]     # a new scan of the same code is a read


def test_ssi_multi_packet_and_command_replies():
    d = SsiDecoder(clock=CLOCK)
    long = "X" * 600
    assert texts(d.feed(encode_ssi(long, "qr"))) == [long]
    assert len(d.take_replies()) == 3
    d.feed(build_packet(0xD0, source=0))
    assert d.responses[-1].name == "CMD_ACK"


def test_ssi_parse_packet_errors():
    with pytest.raises(FrameError, match="checksum"):
        parse_packet(bytes.fromhex("04 D0 04 00 FF 29"))
    with pytest.raises(FrameError, match="length"):
        parse_packet(bytes.fromhex("05 D0 04 00 FF 28"))
    with pytest.raises(FrameError):
        build_packet(0xF3, b"x" * 300)


ssi_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=300)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(ssi_text, st.sampled_from(["code128", "ean13", "code39", "qr", None])),
                min_size=1, max_size=4),
       st.lists(st.binary(max_size=30), min_size=5, max_size=5), st.integers(1, 64))
def test_ssi_round_trip_with_noise_between_packets(reads, noise, chunk):
    data = noise[0] + b"".join(encode_ssi(t, s) + noise[i + 1] for i, (t, s) in enumerate(reads))
    d = SsiDecoder(clock=CLOCK)
    got = feed_chunks(d, data, chunk)
    assert [(x.text, x.symbology) for x in got] == \
        [(t, s if s in ("code128", "ean13", "code39") else None) for t, s in reads]


# -- HID POS -------------------------------------------------------------------------------------
def manual_report(length, data, more, code_id=0x73):
    r = bytearray(64)
    r[0], r[1], r[2:5] = 2, length, b"]Q0"
    r[5:5 + len(data)] = data
    r[61], r[63] = code_id, more
    return bytes(r)


def test_hid_pos_golden_two_report_read():
    # Access-IS / Honeywell layout: report id 2, length, AIM, 56 data bytes, code id, flags.
    # The second report is the manual's example verbatim: 02 04 ']' 'Q' '0' " 100" … 's' 00 00.
    first = manual_report(56, b"M1GATHERGOOD/MICHAEL  YABCDEF LHRDURAK 3542 052Y003D23  ", 1)
    second = manual_report(4, b" 100", 0)
    assert second[:9] == bytes.fromhex("02 04 5D 51 30 20 31 30 30") and second[61:] == b"s\x00\x00"
    d = HidPosDecoder("pos", clock=CLOCK)
    assert d.feed(first) == []
    r = d.feed(second)
    assert texts(r) == ["M1GATHERGOOD/MICHAEL  YABCDEF LHRDURAK 3542 052Y003D23   100"]
    assert r[0].aim == "]Q0" and r[0].symbology == "qr"


def test_hid_pos_bad_reports_are_skipped():
    d = HidPosDecoder(clock=CLOCK)
    bad_len = bytearray(encode_hid_pos("A"))
    bad_len[1] = 60
    other = bytes([4]) + bytes(63)
    assert texts(d.feed(bytes(bad_len) + other + encode_hid_pos("OK"))) == ["OK"]
    assert d.stats["bad_frames"] >= 2
    with pytest.raises(FrameError, match="64 bytes"):
        parse_report(b"\x02\x00")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)),
                                  min_size=1, max_size=200),
                          st.sampled_from(["code128", "ean13", "qr", "datamatrix"])), min_size=1, max_size=4),
       st.lists(st.lists(st.binary(min_size=63, max_size=63).map(lambda b: bytes([0x04]) + b), max_size=2),
                min_size=5, max_size=5))
def test_hid_pos_round_trip_with_foreign_reports_between(reads, noise):
    data = b"".join(noise[0]) + b"".join(encode_hid_pos(t, s) + b"".join(noise[i + 1])
                                         for i, (t, s) in enumerate(reads))
    d = HidPosDecoder(clock=CLOCK)
    got = d.feed(data)
    assert [(x.text, x.symbology) for x in got] == reads


# -- HID keyboard --------------------------------------------------------------------------------
def kb(mods, *keys):
    return bytes([mods, 0, *keys, *([0] * (6 - len(keys)))])


def test_keyboard_golden_boot_reports():
    # HID Usage Tables, page 0x07: a=4, 1=30, Enter=40; left Shift = modifier bit 1.
    data = kb(0x02, 4) + kb(0) + kb(0, 30) + kb(0) + kb(0, 0x59) + kb(0) + kb(0, 40) + kb(0)
    r = HidKeyboardDecoder(clock=CLOCK).feed(data)
    assert texts(r) == ["A11"]


def test_keyboard_caps_lock_num_lock_and_terminators():
    d = HidKeyboardDecoder(terminators=["kp-enter"], clock=CLOCK)
    data = kb(0, 57) + kb(0) + kb(0, 4) + kb(0) + kb(0x20, 5) + kb(0) + kb(0, 57) + kb(0) + \
        kb(0, 83) + kb(0) + kb(0, 0x55) + kb(0) + kb(0, 88) + kb(0)
    assert texts(d.feed(data)) == ["Ab*"]    # Num Lock off: keypad * still types
    assert d.feed(kb(0, 0x59) + kb(0) + kb(0, 88) + kb(0)) == []   # keypad 1 is End: nothing typed
    # Enter is not a terminator here: an unexpected key spoils the read rather than ending it.
    assert d.feed(kb(0, 4) + kb(0) + kb(0, 40) + kb(0) + kb(0, 88) + kb(0)) == []
    assert "0x28" in d.last_error


def test_keyboard_held_key_is_typed_once_and_rollover_ignored():
    d = HidKeyboardDecoder(clock=CLOCK)
    data = kb(0, 4) + kb(0, 4) + kb(0, 4, 5) + bytes([0, 0, 1, 1, 1, 1, 1, 1]) + kb(0) + kb(0, 43) + kb(0)
    assert texts(d.feed(data)) == ["ab"]


def test_keyboard_untypable_key_spoils_the_read_only():
    d = HidKeyboardDecoder(clock=CLOCK)
    data = kb(0, 4) + kb(0) + kb(0, 0x3A) + kb(0) + kb(0, 40) + kb(0) + kb(0, 5) + kb(0) + kb(0, 40) + kb(0)
    assert texts(d.feed(data)) == ["b"]
    assert "0x3a" in d.last_error


def test_keyboard_ctrl_gs_and_alt_codes():
    d = HidKeyboardDecoder(clock=CLOCK)
    data = kb(0x01, 48) + kb(0) + kb(0x04, 0x62) + kb(0x04) + kb(0x04, 0x5A) + kb(0x04) + \
        kb(0x04, 0x5A) + kb(0x04) + kb(0x04, 0x60) + kb(0x04) + kb(0) + kb(0, 40) + kb(0)
    assert texts(d.feed(data)) == ["\x1d\xe4"]          # Ctrl+] = GS; Alt+0228 = ä (cp1252)


def test_keyboard_report_id_prefix():
    d = HidKeyboardDecoder(report_id=1, clock=CLOCK)
    assert texts(d.feed(encode_keyboard("ab", report_id=1) + b"\x05" + bytes(8))) == ["ab"]


printable_ascii = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=40)
any_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")),
                   min_size=1, max_size=30)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["us", "uk", "de", "fr"]), any_text, st.sampled_from(["enter", "kp-enter", "tab"]))
def test_keyboard_round_trip_any_layout_any_text(layout, text, terminator):
    d = HidKeyboardDecoder(layout=layout, clock=CLOCK)
    assert texts(d.feed(encode_keyboard(text, layout=layout, terminator=terminator))) == [text]


@settings(max_examples=100, deadline=None)
@given(st.lists(printable_ascii, min_size=1, max_size=4), st.integers(1, 13))
def test_keyboard_round_trip_any_chunking(reads, chunk):
    data = b"".join(encode_keyboard(t) for t in reads)
    assert texts(feed_chunks(HidKeyboardDecoder(clock=CLOCK), data, chunk)) == reads


# -- Honeywell menu commands ---------------------------------------------------------------------
def test_honeywell_golden_menu_replies():
    # Honeywell user guide, "Examples of Query Commands".
    assert menu_command("cbrena?", ".") == b"\x16M\rcbrena?."
    r = parse_reply(b"CBRENA1\x06.")
    assert [(i.name, i.data, i.status) for i in r.items] == [("CBRENA", "1", "ack")] and r.ok
    r = parse_reply(b"CBRENA1\x06,SSX0\x06,CK20\x06,CCT1\x06,MIN2\x06.")
    assert [i.name for i in r.items] == ["CBRENA", "CBRSSX", "CBRCK2", "CBRCCT", "CBRMIN"]
    r = parse_reply(b"232BAD9\x15;ABCXYZ\x05!")
    assert [(i.name, i.status) for i in r.items] == [("232BAD", "nak"), ("ABCXYZ", "enq")]
    assert r.storage == "!" and not r.ok


def test_honeywell_menu_command_refuses_bad_items():
    for bad in ("", "23", "232BAD5.", "232BAD\r", "232BAD张"):
        with pytest.raises(CommandError):
            menu_command(bad)
    with pytest.raises(FrameError):
        parse_reply(b"garbage")


def test_honeywell_reply_is_taken_only_when_expected():
    d = HoneywellDecoder(clock=CLOCK)
    assert texts(d.feed(b"AB\x06.C\r")) == []     # control byte: refused as a read, not a reply
    d.expect_reply()
    r = d.feed(b"YT1\r\n\x16M\r232BAD5\x06.YT2\r")
    assert texts(r) == ["YT1", "YT2"]
    assert d.menu_replies[0].items[0].data == "5" and d.awaiting == 0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.from_regex(r"[A-Z0-9]{3}", fullmatch=True),
                          st.from_regex(r"[A-Z0-9]{3}", fullmatch=True),
                          st.from_regex(r"[A-Za-z0-9]{0,6}", fullmatch=True),
                          st.sampled_from([b"\x06", b"\x05", b"\x15"])), min_size=1, max_size=5),
       st.sampled_from([b".", b"!"]))
def test_honeywell_reply_round_trip(items, storage):
    raw = b";".join(f"{t}{s}{v}".encode() + st_ for t, s, v, st_ in items) + storage
    r = parse_reply(raw)
    assert [(i.tag, i.subtag, i.data) for i in r.items] == [(t, s, v) for t, s, v, _ in items]


def test_frames_for_every_live_protocol():
    for proto in ("serial", "ssi", "hid-pos", "hid-keyboard", "honeywell"):
        d = decoder_for(proto, "x", clock=CLOCK)
        assert texts(d.feed(frames_for(proto, "YT1234567890123"))) == ["YT1234567890123"], proto
