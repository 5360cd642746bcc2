"""Golden frames: byte strings as the vendors' manuals print them (or assembled bit by bit from
their tables where a manual gives tables but no example), decoded by the pure decoders."""
import minimalmodbus
import pytest

from drivers.scale import SCALE_PROTOCOLS, MapError, ScaleError, UnknownProtocol, load_map, make_decoder, to_grams
from drivers.scale.modbus import crc16
from drivers.scale.toledo import toledo_checksum
from drivers.scale.xk3190 import xk3190_request


def one(protocol, data, **opts):
    d = make_decoder(protocol, **opts)
    out = d.feed(data)
    assert len(out) == 1, (out, d.bad_frames)
    assert d.bad_frames == 0
    return out[0]


# --- Mettler Toledo continuous (Wildcat technical manual tables 6-8..6-11; IND445/KERN FTC) -------
def test_toledo_continuous_table_bits():
    # SWA: bits 0-2 = 4 (XXXX.XX), bit 3 = 1 (increment x1), bit 5 always 1 -> 0x2C ','
    # SWB: bit 4 kg, bit 5 always 1 -> 0x30 '0' (gross, positive, in range, no motion)
    # SWC: bit 5 always 1 -> 0x20
    frame = b"\x02,0 001234000000\r"
    assert toledo_checksum(frame) == (-sum(frame)) & 0x7F == 0x2B           # as in docs/devices.md
    r = one("toledo-continuous", frame + bytes([toledo_checksum(frame)]) , checksum=True)
    assert (r.grams, r.stable, r.net, r.overload) == (12340, True, False, False)   # 12.34 kg


def test_toledo_continuous_motion_net_negative_lb_and_parity():
    # SWB 0x3B = always-1 | motion | negative | net, lb (bit 4 clear) -> 0x2B; tare 000250
    frame = bytes([0x02, 0x2B, 0x2B, 0x20]) + b"000500000250\r"   # SWA 0x2B: XXXXX.X
    chk = toledo_checksum(frame)
    with_parity = bytes(b | 0x80 if bin(b).count("1") % 2 else b for b in frame + bytes([chk]))
    r = one("toledo-continuous", with_parity, checksum=True)
    assert r.grams == -to_grams("50.0", "lb") and not r.stable and r.net
    assert r.tare_g == to_grams("25.0", "lb")


def test_toledo_continuous_out_of_range_and_bad_checksum():
    over = b"\x02*4 999999000000\r"       # SWB bit 2 out of range, positive
    r = one("toledo-continuous", over, checksum=False)
    assert r.overload and not r.stable and r.grams == 0
    d = make_decoder("toledo-continuous", checksum=True)
    good = b"\x02*0 000100000000\r"
    assert d.feed(good + bytes([(toledo_checksum(good) + 1) & 0x7F])) == []
    assert d.bad_frames >= 1


def test_toledo_continuous_learns_checksum_presence():
    good = b"\x02*0 000100000000\r"
    d = make_decoder("toledo-continuous")
    assert [r.grams for r in d.feed((good + bytes([toledo_checksum(good)])) * 3)] == [100000, 100000, 100000]
    assert d.checksum is True
    d = make_decoder("toledo-continuous")
    assert [r.grams for r in d.feed(good * 3 + b"\x02")] == [100000] * 3
    assert d.checksum is False


# --- Toledo 8213/8217 demand mode (Transcell PC-150 appendix B, Brecknell 3700LP) -------------
def test_toledo_8217_weight_and_status():
    r = one("toledo-8217", b"\x02001.25\r")
    assert r.grams == 1250 and r.stable
    d = make_decoder("toledo-8217")
    assert d.feed(b"\x02?A\r") == []          # 0x41: always-1 bit 6 + motion
    assert d.replies[-1] == ("status", 0x41)
    over = d.feed(b"\x02?B\r")[0]             # over capacity
    assert over.overload
    under = d.feed(b"\x02?D\r")[0]            # under zero
    assert under.underload
    assert one("toledo-8217", b"\x02012345\r", unit="g").grams == 12345   # grams: 0XXXXX


# --- MT-SICS (New Classic / AT operating instructions) -----------------------------------------
def test_sics_examples():
    r = one("mt-sics", b"S S     100.00 g\r\n")
    assert r.grams == 100 and r.stable
    r = one("mt-sics", b"S D     129.07 g\r\n")
    assert r.grams == 129 and not r.stable
    assert one("mt-sics", b"S +\r\n").overload and one("mt-sics", b"S -\r\n").underload
    d = make_decoder("mt-sics")
    assert d.feed(b"T S     100.00 g\r\nS S      50.00 g\r\nES\r\nZ A\r\nTAC A\r\n")[0].net
    assert d.tare_g is None and ("Z", "A") in d.replies and ("ES", "") in d.replies
    assert one("mt-sics", b"S S      2.500 kg\r\n").grams == 2500


# --- Yaohua XK3190 ----------------------------------------------------------------------------
def test_xk3190_a12_manual_example_and_limits():
    r = one("xk3190-a12", bytes.fromhex("57 47 30 30 34 2E 31 33 39 6B 67 33 44 0D 0A"))  # 4.139 kg
    assert r.grams == 4139 and not r.net
    assert one("xk3190-a12", b" " * 9 + b"OL23\r\n").overload
    assert one("xk3190-a12", b" " * 9 + b"LO23\r\n").underload
    d = make_decoder("xk3190-a12")
    assert d.feed(bytes.fromhex("57 47 30 30 34 2E 31 33 39 6B 67 33 45 0D 0A")) == [] and d.bad_frames == 1


def test_xk3190_formats_1_and_2_manual_examples():
    # A26 manual: 3.000 -> "=000.3000" (format 1) / "=0003.000" (format 2); -1.00 likewise
    assert [r.grams for r in make_decoder("xk3190-reversed").feed(b"=000.3000=00.1000-")] == [3000, -1000]
    assert [r.grams for r in make_decoder("xk3190-plain").feed(b"=0003.000=-0001.00")] == [3000, -1000]


def test_xk3190_format_0():
    # STX '+' '001234' '3' XOR('+001234'+'3') ETX; XOR of bytes 2-9 = 0x1C -> '1' 'C'
    body = b"+0012343"
    x = 0
    for b in body:
        x ^= b
    frame = b"\x02" + body + f"{x:02X}".encode() + b"\x03"
    assert frame == bytes.fromhex("02 2B 30 30 31 32 33 34 33 31 43 03")   # as in docs/devices.md
    assert one("xk3190", frame).grams == 1234
    # the +0x30-only nibble variant (A22 manual): 0x1C -> '1' '<'
    frame_30 = b"\x02" + body + bytes([0x30 + (x >> 4), 0x30 + (x & 15)]) + b"\x03"
    assert one("xk3190", frame_30).grams == 1234


def test_xk3190_command_mode_manual_requests():
    # A23P manual, host commands: handshake / gross / tare / net at address A
    assert xk3190_request("A", "A") == bytes.fromhex("02 41 41 30 30 03")
    assert xk3190_request("A", "B") == bytes.fromhex("02 41 42 30 33 03")
    assert xk3190_request("A", "C") == bytes.fromhex("02 41 43 30 32 03")
    assert xk3190_request("A", "D") == bytes.fromhex("02 41 44 30 35 03")
    body = b"AB+0012503"
    x = 0
    for b in body:
        x ^= b
    r = one("xk3190-cmd", b"\x02" + body + f"{x:02X}".encode() + b"\x03")
    assert r.grams == 1250 and not r.net
    assert make_decoder("xk3190-cmd").poll_request == bytes.fromhex("02 41 42 30 33 03")
    with pytest.raises(ScaleError):
        make_decoder("xk3190-cmd", address="AA")


# --- HID POS (USB HID POS usage tables; Dymo M10/M25 examples) ---------------------------------
def test_hid_pos_dymo_examples():
    assert one("hid-pos-scale", bytes.fromhex("03 04 02 00 14 00")).grams == 20          # 20 g
    r = one("hid-pos-scale", bytes.fromhex("03 04 0B FF 34 19"))                         # 645.2 oz
    assert r.grams == to_grams("645.2", "oz") and r.stable
    assert one("hid-pos-scale", bytes([3, 2, 11, 255, 0, 0])).grams == 0                 # stable at zero
    assert not one("hid-pos-scale", bytes([3, 3, 2, 0, 100, 0])).stable                  # in motion
    assert one("hid-pos-scale", bytes([3, 6, 2, 0, 0, 0])).overload


# --- Modbus RTU -------------------------------------------------------------------------------
def test_modbus_crc_matches_the_spec_and_minimalmodbus():
    assert crc16(bytes.fromhex("01 03 00 00 00 01")) == bytes.fromhex("84 0A")
    for frame in (b"\x01\x03\x00\x00\x00\x05", b"\x11\x03\x00\x6b\x00\x03", bytes(range(40))):
        assert crc16(frame) == minimalmodbus._calculate_crc(frame)


def test_modbus_tuna_block():
    d = make_decoder("modbus", map="tuna-id551pn")
    assert d.request() == bytes.fromhex("01 03 00 00 00 05") + crc16(bytes.fromhex("01 03 00 00 00 05"))
    # 12.345 kg display, 12.345 gross, status: data OK (bit 15), no motion
    regs = [0x4145, 0x851F, 0x4145, 0x851F, 0x8000]
    assert d.response(regs) == bytes.fromhex("01 03 0A 41 45 85 1F 41 45 85 1F 80 00 E4 7E")   # docs
    [r] = d.feed(d.response(regs))
    assert r.grams == 12345 and r.stable and not r.net
    [r] = d.feed(d.response(regs[:4] + [0x8000 | 1 << 12 | 1 << 11]))
    assert not r.stable and r.net
    assert d.feed(d.response(regs[:4] + [0])) == [] and d.bad_frames == 1        # data not OK
    [r] = d.feed(d.response(regs[:4] + [0x8000 | 1 << 10]))
    assert r.overload


def test_modbus_pr5410_integer_and_bits():
    d = make_decoder("modbus", map="fairbanks-pr5410")
    regs = [0] * 16
    regs[0] = 1 << 6                      # word 2: bit 38 "weight is stable"
    regs[14], regs[15] = 0x0001, 0x86A0   # words 16-17: 100000 kg
    [r] = d.feed(d.response(regs))
    assert r.grams == 100_000_000 and r.stable
    regs[0] = 1 << 7                      # below zero or above Max, positive -> over
    assert d.feed(d.response(regs))[0].overload
    regs[0] = 1                           # ADC error
    assert d.feed(d.response(regs)) == []


def test_modbus_maps_are_validated(tmp_path):
    for name in ("tuna-id551pn", "fairbanks-pr5410", "eagle-ei4000"):
        assert load_map(name).count <= 125
    with pytest.raises(MapError, match="weight: missing"):
        load_map({"name": "x"})
    with pytest.raises(MapError, match="unknown type"):
        load_map({"weight": {"register": 0, "type": "int64"}})
    bad = tmp_path / "m.yaml"
    bad.write_text("weight: [unclosed")
    with pytest.raises(MapError, match="not valid YAML"):
        load_map(str(bad))
    with pytest.raises(MapError, match="no register map"):
        load_map("no-such-indicator")
    j = tmp_path / "m.json"
    j.write_text('{"name": "j", "weight": {"register": 0, "type": "int16", "unit": "g"}}')
    assert load_map(str(j)).count == 1


def test_registry_and_errors():
    assert set(SCALE_PROTOCOLS) == {"toledo-continuous", "toledo-8217", "mt-sics", "xk3190", "xk3190-reversed",
                                    "xk3190-plain", "xk3190-a12", "xk3190-cmd", "modbus", "hid-pos-scale"}
    for name, cls in SCALE_PROTOCOLS.items():
        assert cls.name == name and hasattr(cls, "feed")
    with pytest.raises(UnknownProtocol):
        make_decoder("nope")
    with pytest.raises(ScaleError, match="bad option"):
        make_decoder("xk3190", colour="red")
