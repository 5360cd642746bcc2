"""Hypothesis: simulator encoders -> driver decoders, for any weight, sign, decimals and status; and
noise around valid frames yields exactly the valid readings (never a crash, never a wrong value)."""
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.scale import SCALE_PROTOCOLS, make_decoder, to_grams
from sim import scale_devices as sim

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def grams(counts, decimals, unit):
    return to_grams(Decimal(counts).scaleb(-decimals), unit)


# Each case: strategy -> (decoder options, frame bytes, expected (grams, stable, net, overload, underload))
@st.composite
def toledo_continuous(draw):
    counts = draw(st.integers(-999_999, 999_999))
    dec, unit = draw(st.integers(0, 5)), draw(st.sampled_from(["kg", "lb", "g"]))
    motion, net, chk, parity = (draw(st.booleans()) for _ in range(4))
    tare = draw(st.integers(0, 999_999))
    frame = sim.toledo_continuous_frame(counts, dec, unit, motion=motion, net=net, tare_counts=tare,
                                        checksum=chk, parity=parity)
    return {"checksum": chk}, frame, (grams(counts, dec, unit), not motion, net, False, False)


@st.composite
def toledo_8217(draw):
    dec = draw(st.integers(0, 3))
    counts = draw(st.integers(0, 999_999))
    return {}, sim.toledo_8217_weight(counts, dec), (grams(counts, dec, "kg"), True, False, False, False)


@st.composite
def mt_sics(draw):
    dec, unit = draw(st.integers(0, 4)), draw(st.sampled_from(["g", "kg", "lb", "mg"]))
    counts, stable = draw(st.integers(-10_000_000, 10_000_000)), draw(st.booleans())
    cmd = draw(st.sampled_from(["S", "SI"]))
    return {}, sim.sics_weight(counts, dec, unit, stable=stable, cmd=cmd), (grams(counts, dec, unit), stable,
                                                                             False, False, False)


@st.composite
def xk3190(draw):
    counts, dec = draw(st.integers(-999_999, 999_999)), draw(st.integers(0, 4))
    return {}, sim.xk3190_frame(counts, dec), (grams(counts, dec, "kg"), True, False, False, False)


@st.composite
def xk_equals(draw, reversed_order):
    dec = draw(st.integers(0, 4))
    counts = draw(st.integers(-(10 ** (6 if dec else 7) - 1), 10 ** (6 if dec else 7) - 1))
    frame = sim.xk3190_equals(counts, dec, reversed_order=reversed_order)
    return {}, frame, (grams(counts, dec, "kg"), True, False, False, False)


@st.composite
def xk3190_a12(draw):
    kind = draw(st.sampled_from(["w", "w", "w", "over", "under"]))
    if kind != "w":
        return {}, sim.xk3190_a12(0, over=kind == "over", under=kind == "under"), (
            0, False, False, kind == "over", kind == "under")
    dec, net = draw(st.integers(0, 3)), draw(st.booleans())
    counts = draw(st.integers(-99_999, 99_999))
    return {}, sim.xk3190_a12(counts, dec, net=net), (grams(counts, dec, "kg"), True, net, False, False)


@st.composite
def xk3190_cmd(draw):
    counts, dec = draw(st.integers(-999_999, 999_999)), draw(st.integers(0, 4))
    address, cmd = draw(st.sampled_from("ABZ")), draw(st.sampled_from("BD"))
    return {"address": address}, sim.xk3190_reply(address, cmd, counts, dec), (
        grams(counts, dec, "kg"), True, cmd == "D", False, False)


@st.composite
def hid_pos(draw):
    counts, exp = draw(st.integers(0, 65535)), draw(st.integers(-3, 2))
    unit, status = draw(st.sampled_from(["g", "kg", "oz", "lb"])), draw(st.sampled_from([2, 3, 4]))
    return {}, sim.hid_report(counts, exp, unit, status=status), (grams(counts, -exp, unit), status != 3,
                                                                   False, False, False)


@st.composite
def modbus_pr5410(draw):
    dec = draw(st.integers(0, 3))
    counts, stable = draw(st.integers(-2**31, 2**31 - 1)), draw(st.booleans())
    m = {"name": "t", "weight": {"register": 16, "type": "int32", "unit": "kg", "decimals": dec},
         "status": {"register": 2, "bits": {"stable": 6}}}
    d = make_decoder("modbus", map=m)
    regs = [0] * 16
    regs[0] = stable << 6
    regs[14], regs[15] = (counts & 0xFFFFFFFF) >> 16, counts & 0xFFFF
    return {"map": m}, d.response(regs), (grams(counts, dec, "kg"), stable, False, False, False)


@st.composite
def modbus_tuna(draw):
    counts, motion, net = draw(st.integers(-999_999, 999_999)), draw(st.booleans()), draw(st.booleans())
    s = sim.SimScale("modbus", modbus_map="tuna-id551pn", start=False, capacity_g=10**9)
    try:
        s.decimals, s.unit = 3, "kg"
        s.load_g, s.tare_g = counts, (1 if net else 0)
        s.load_g += s.tare_g
        if motion:
            s._settle_until = float("inf")
            s.settle_s = 0
        regs = s.modbus_registers()
    finally:
        s.close()
    if motion:  # the wobble moved the value: take what the registers say for the expectation
        import struct
        counts = round(struct.unpack(">f", bytes.fromhex(f"{regs[0]:04x}{regs[1]:04x}"))[0] * 1000)
    d = make_decoder("modbus", map="tuna-id551pn")
    frame = d.response([regs.get(i, 0) for i in range(5)])
    return {"map": "tuna-id551pn"}, frame, (grams(counts, 3, "kg"), not motion, net, False, False)


CASES = {
    "toledo-continuous": toledo_continuous(), "toledo-8217": toledo_8217(), "mt-sics": mt_sics(),
    "xk3190": xk3190(), "xk3190-reversed": xk_equals(True), "xk3190-plain": xk_equals(False),
    "xk3190-a12": xk3190_a12(), "xk3190-cmd": xk3190_cmd(), "modbus": modbus_pr5410(), "hid-pos-scale": hid_pos(),
}


def test_every_protocol_has_a_case():
    assert set(CASES) == set(SCALE_PROTOCOLS)


def fields(r):
    return (r.grams, r.stable, r.net, r.overload, r.underload)


@SETTINGS
@given(st.sampled_from(sorted(CASES)).flatmap(lambda p: st.tuples(st.just(p), CASES[p])))
def test_encode_decode_round_trip(case):
    protocol, (opts, frame, expected) = case
    d = make_decoder(protocol, **opts)
    out = d.feed(frame)
    assert [fields(r) for r in out] == [expected], frame
    seven_bit = protocol == "toledo-continuous"  # parity is stripped before framing
    assert out[0].raw == (frame.translate(bytes(b & 0x7F for b in range(256))) if seven_bit else frame)
    assert d.bad_frames == 0


@SETTINGS
@given(modbus_tuna())
def test_modbus_float_map_round_trip(case):
    opts, frame, expected = case
    assert [fields(r) for r in make_decoder("modbus", **opts).feed(frame)] == [expected]


@SETTINGS
@given(st.sampled_from(sorted(CASES)).flatmap(lambda p: st.tuples(st.just(p), CASES[p])),
       st.integers(1, 17))
def test_any_split_of_the_stream_gives_the_same_readings(case, chunk):
    protocol, (opts, frame, expected) = case
    d = make_decoder(protocol, **opts)
    stream = frame * 3
    out = []
    for i in range(0, len(stream), chunk):
        out += d.feed(stream[i:i + chunk])
    assert [fields(r) for r in out] == [expected] * 3


NOISY = sorted(set(CASES) - {"hid-pos-scale"})  # HID reports come whole from hidapi: no byte noise there
LINE_PROTOCOLS = {"mt-sics"}                     # noise glued to a line corrupts that line: give it its own


@st.composite
def noisy_stream(draw):
    protocol = draw(st.sampled_from(NOISY))
    frames = draw(st.lists(CASES[protocol], min_size=1, max_size=5))
    opts = frames[0][0]
    if "checksum" in opts:
        opts = {"checksum": True}
        frames = [draw(toledo_continuous().filter(lambda c: c[0]["checksum"])) for _ in frames]
    if protocol == "xk3190-cmd":
        frames = [f for f in frames if f[0] == opts] or frames[:1]
    if protocol == "modbus":
        frames = [f for f in frames if f[0] == opts] or frames[:1]
    stream, expected = b"", []
    for _, frame, exp in frames:
        noise = draw(st.binary(max_size=40))
        if protocol in LINE_PROTOCOLS:
            noise = noise.replace(b"\r", b"").replace(b"\n", b"") + b"\r\n" if noise else b""
        stream += noise + frame
        expected.append(exp)
    tail = draw(st.binary(max_size=40))
    if protocol in LINE_PROTOCOLS and tail:
        tail = tail.replace(b"\r", b"").replace(b"\n", b"") + b"\r\n"
    return protocol, opts, stream + tail, expected


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(noisy_stream(), st.integers(1, 64))
def test_noise_between_frames_yields_exactly_the_valid_readings(case, chunk):
    protocol, opts, stream, expected = case
    d = make_decoder(protocol, **opts)
    out = []
    for i in range(0, len(stream), chunk):
        out += d.feed(stream[i:i + chunk])
    assert [fields(r) for r in out] == expected


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(CASES)), st.binary(max_size=300))
def test_garbage_never_crashes(protocol, garbage):
    """Never raises, and how the bytes are sliced changes nothing: the same readings and the same
    count of bad frames whether they come 7 bytes at a time or all at once."""
    d = make_decoder(protocol)
    out = []
    for i in range(0, len(garbage), 7):
        out += d.feed(garbage[i:i + 7])
    if protocol == "hid-pos-scale":          # HID reports are messages: their boundaries count
        return
    whole = make_decoder(protocol)
    assert [fields(r) for r in out] == [fields(r) for r in whole.feed(garbage)]
    assert d.bad_frames == whole.bad_frames


def test_wrong_baud_rate_is_counted_not_decoded():
    # the same frames read at the wrong speed: every byte becomes something else
    frames = sim.xk3190_frame(1234, 3) * 20
    garbled = bytes(((b * 7) ^ 0x5A) & 0xFF for b in frames)
    d = make_decoder("xk3190")
    assert d.feed(garbled) == []
    frames = sim.toledo_continuous_frame(1234, 3) * 20
    d = make_decoder("toledo-continuous", checksum=True)
    assert d.feed(bytes(((b * 7) ^ 0x5A) & 0xFF for b in frames)) == []


def test_hid_bad_reports_are_counted():
    d = make_decoder("hid-pos-scale")
    assert d.feed(bytes([4, 4, 2, 0, 1, 0])) == [] and d.bad_frames >= 1
    bad_unit = make_decoder("hid-pos-scale")
    assert bad_unit.feed(bytes([3, 4, 99, 0, 1, 0])) == [] and bad_unit.bad_frames == 1
    fault = make_decoder("hid-pos-scale")
    assert fault.feed(bytes([3, 1, 2, 0, 0, 0])) == [] and fault.replies[-1] == ("status", 1)


def test_a_line_of_spaces_between_sics_frames_is_skipped():
    """Found by the noise property above: a blank line crashed the MT-SICS decoder."""
    d = make_decoder("mt-sics")
    out = []
    for b in b"S D          0 g\r\n \r\nS S     1.250 kg\r\n":
        out += d.feed(bytes([b]))
    assert [fields(r) for r in out] == [(0, False, False, False, False), (1250, True, False, False, False)]
    assert d.bad_frames == 0
