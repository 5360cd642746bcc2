"""The GSM modem driver: PDUs checked against two independent decoders (smspdudecoder, MIT, and
python-gsmmodem-new, LGPL, both test-only), the AT
decoder fuzzed, and the whole dialogue against the simulated modem over a pseudo-terminal."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st
from smspdudecoder.easy import read_outgoing_sms
from smspdudecoder.fields import SMSSubmit
from io import StringIO

from drivers.gsm_modem import ModemError, ModemPool, NoModem, PduError, decode_status_report, encode_submit, open_modem
from drivers.gsm_modem.at import ATDecoder, Item, parse_creg, parse_csq
from drivers.gsm_modem.pdu import GSM7, GSM7_EXT, decode_deliver, gsm7_septets, is_gsm7, pack_septets
from gsmmodem.pdu import decodeSmsPdu          # python-gsmmodem-new (LGPL), a test-only oracle
from drivers.gsm_modem.modem import SETUP
from smspdudecoder.easy import read_incoming_sms
from sim.gsm_modem import SimModem, deliver_pdu, read_submit, status_report_pdu
from tests.conftest import wait_for

GSM_CHARS = st.sampled_from([c for c in GSM7 if c != "\x1b"] + list(GSM7_EXT))
CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
NUMBERS = st.from_regex(r"\+?[0-9]{3,15}", fullmatch=True)


def oracle(parts) -> tuple[str, str]:
    """Recipient and text of submitted parts as smspdudecoder reads them.  (It slices GSM-7 text
    by septets after mapping escapes to characters, so a text with extension characters can come
    back with the padding septet: those go to the second oracle, python-gsmmodem-new.)"""
    texts, recipient = [], None
    for p in parts:
        d = read_outgoing_sms(p.hex)
        recipient = d["recipient"]
        texts.append(d["content"])
    return recipient, "".join(texts)


@settings(max_examples=150, deadline=None)
@given(number=NUMBERS, text=st.text(GSM_CHARS, min_size=1, max_size=500), ref=st.integers(0, 255))
def test_gsm7_messages_read_back_by_the_independent_decoder(number, text, ref):
    parts = encode_submit(number, text, reference=ref)
    if not any(c in GSM7_EXT for c in text):
        assert oracle(parts) == (number, text)
    if "\f" not in text and "§" not in text:        # python-gsmmodem-new: ÿ for the page break, ` for §
        decoded = [decodeSmsPdu(p.hex) for p in parts]
        assert "".join(d["text"] for d in decoded) == text
        assert {d["number"] for d in decoded} == {number}
    assert all(p.text for p in parts) and "".join(p.text for p in parts) == text
    if len(gsm7_septets(text)) <= 160:
        assert len(parts) == 1
    for p in parts:
        assert p.tpdu_length == len(p.hex) // 2 - 1
        assert len(gsm7_septets(p.text)) <= (153 if len(parts) > 1 else 160)


@settings(max_examples=150, deadline=None)
@given(number=NUMBERS, text=st.text(st.one_of(CJK, GSM_CHARS, st.characters(min_codepoint=0x1F600, max_codepoint=0x1F64F)),
                                    min_size=1, max_size=400).filter(lambda t: not is_gsm7(t)),
       ref=st.integers(0, 255))
def test_ucs2_messages_read_back_by_the_independent_decoder(number, text, ref):
    parts = encode_submit(number, text, reference=ref)
    assert oracle(parts) == (number, text)
    for i, p in enumerate(parts, 1):
        sms = SMSSubmit.decode(StringIO(p.hex))
        assert sms["dcs"]["encoding"] == "ucs2"
        assert len(p.text.encode("utf-16-be")) // 2 <= (67 if len(parts) > 1 else 70)
        if len(parts) > 1:
            (el,) = sms["user_data"]["header"]["elements"]
            assert el["iei"] == 0 and el["data"] == {"reference": ref, "parts_count": len(parts), "part_number": i}
        assert sms["header"]["srr"] is True


def test_worked_example_81_chinese_characters_make_two_parts():
    parts = encode_submit("13800138000", "快" * 81)
    assert [len(p.text) for p in parts] == [67, 14]


def test_septet_packing_matches_the_specs_example():
    # TS 23.038 6.1.2.1.1: "hellohello" packs to E8329BFD4697D9EC37
    assert pack_septets(gsm7_septets("hellohello")).hex().upper() == "E8329BFD4697D9EC37"


@pytest.mark.parametrize("number,text", [("", "x"), ("12a", "x"), ("+", "x"), ("123", "")])
def test_bad_input_is_a_pdu_error(number, text):
    with pytest.raises(PduError):
        encode_submit(number, text)


@given(st.text(max_size=300))
def test_pdu_decoders_raise_only_pdu_error(s):
    for fn in (decode_status_report, decode_deliver):
        try:
            fn(s)
        except PduError:
            pass


@given(st.binary(max_size=80))
def test_pdu_decoders_raise_only_pdu_error_on_any_bytes(b):
    for fn in (decode_status_report, decode_deliver):
        try:
            fn(b.hex())
        except PduError:
            pass


@given(mr=st.integers(0, 255), number=NUMBERS, status=st.integers(0, 255))
def test_status_reports_from_the_simulator_decode(mr, number, status):
    da = read_submit(bytes.fromhex(encode_submit(number, "x")[0].hex[2:]))["da"]
    r = decode_status_report(status_report_pdu(mr, da, status))
    assert (r.reference, r.recipient, r.code) == (mr, number, status)
    assert r.status == ("delivered" if status < 0x20 else "pending" if status < 0x40 else "failed")


# --- the AT decoder -------------------------------------------------------------------------
DIALOGUE = (b"AT+CSQ\r\r\n+CSQ: 20,99\r\n\r\nOK\r\n\r\n> \r\n+CMGS: 7\r\n\r\nOK\r\n"
            b"\r\n+CDS: 25\r\n0006070D91688131080083F0426010800000234260108000002300\r\n"
            b"\r\n+CREG: 5\r\n\r\n+CMS ERROR: 500\r\nRING\r\n")


def test_the_dialogue_decodes_to_the_documented_items():
    items = ATDecoder().feed(DIALOGUE)
    assert items == [Item("line", "AT+CSQ"), Item("line", "+CSQ: 20,99"), Item("final", "OK"), Item("prompt", "> "),
                     Item("line", "+CMGS: 7"), Item("final", "OK"),
                     Item("cds", "0006070D91688131080083F0426010800000234260108000002300", length=25),
                     Item("unsolicited", "+CREG: 5"), Item("final", "+CMS ERROR: 500", code=500),
                     Item("unsolicited", "RING")]


@given(st.lists(st.integers(1, len(DIALOGUE) - 1), max_size=12, unique=True))
def test_any_split_of_the_stream_decodes_the_same(cuts):
    d, items, prev = ATDecoder(), [], 0
    for c in sorted(cuts) + [len(DIALOGUE)]:
        items += d.feed(DIALOGUE[prev:c])
        prev = c
    assert items == ATDecoder().feed(DIALOGUE)


@given(st.lists(st.binary(max_size=64), max_size=20))
def test_the_decoder_never_raises(chunks):
    d = ATDecoder()
    for c in chunks:
        for item in d.feed(c):
            assert item.kind in ("final", "prompt", "line", "cds", "cmt", "unsolicited")


def test_signal_and_registration_lines():
    assert parse_csq("+CSQ: 20,99") == (-73, None)
    assert parse_csq("+CSQ: 99,99") == (None, None)
    assert parse_creg("+CREG: 1,5") == 5 and parse_creg("+CREG: 2") == 2
    assert parse_creg("+CREG: 2,1,\"1A2B\",\"01C3\"") == 1


# --- against the simulated modem -----------------------------------------------------------
@pytest.fixture
def sim():
    s = SimModem()
    yield s
    s.close()


def test_200_chinese_characters_go_as_concatenated_ucs2_and_every_part_is_reported(sim):
    text = ("尊敬的客户您好，您的快件已到达目的网点，请凭取件码前往领取。" * 8)[:200]
    assert len(text) == 200
    reports = []
    with open_modem(sim.path, on_report=reports.append) as m:
        assert m.wait_connected()
        sent = m.send("+8613800138000", text)
        assert sent.parts == 3 and len(set(sent.references)) == 3
        wait_for(lambda: len(reports) == 3, what="three delivery reports")
    assert sorted(r.reference for r in reports) == sorted(sent.references)
    assert {(r.recipient, r.status) for r in reports} == {("+8613800138000", "delivered")}
    decoded = [read_outgoing_sms("00" + h) for h in sim.sent]
    assert "".join(d["content"] for d in decoded) == text
    assert {d["recipient"] for d in decoded} == {"+8613800138000"}
    # the set-up the driver documents, in order, before the first send
    assert sim.commands[:5] == list(SETUP)


def test_a_failed_delivery_is_reported_failed(sim):
    sim.report_status["13900000000"] = 0x41
    reports = []
    with open_modem(sim.path, on_report=reports.append) as m:
        m.wait_connected()
        sent = m.send("13900000000", "test")
        wait_for(lambda: reports, what="a report")
    assert reports[0].reference == sent.references[0] and reports[0].status == "failed"


def test_an_error_answer_is_a_modem_error_with_its_code(sim):
    sim.fail_next.append(500)
    with open_modem(sim.path) as m:
        m.wait_connected()
        with pytest.raises(ModemError) as e:
            m.send("13800138000", "x")
        assert e.value.code == 500
        assert m.send("13800138000", "x").parts == 1      # the next one goes


def test_signal_and_registration_change(sim):
    with open_modem(sim.path) as m:
        m.wait_connected()
        assert m.signal() == {"dbm": -73, "ber": None, "registration": 1, "registered": True}
        sim.set_registration(2)
        wait_for(lambda: m.registration == 2, what="+CREG: 2")


def test_the_pool_skips_an_unregistered_modem_and_fails_over():
    a, b = SimModem(registration=3), SimModem()
    try:
        with open_modem(a.path, name="a") as ma, open_modem(b.path, name="b") as mb:
            ma.wait_connected() and mb.wait_connected()
            pool = ModemPool([ma, mb], cool_down_s=60)
            names = {pool.send("13800138000", f"n{i}")[0] for i in range(4)}
            assert names == {"b"} and len(b.sent) == 4 and not a.sent
            b.set_registration(3)
            wait_for(lambda: mb.registration == 3, what="b unregistered")
            with pytest.raises(NoModem):
                pool.send("13800138000", "x")
    finally:
        a.close()
        b.close()


def test_an_incoming_reply_reaches_on_message(sim):
    got = []
    with open_modem(sim.path, on_message=got.append) as m:
        m.wait_connected()
        m.signal()                                   # runs the set-up (AT+CNMI … mt=2)
        assert sim.receive("+8613800138000", "退订")
        wait_for(lambda: got, what="the +CMT message")
    assert (got[0].sender, got[0].text, got[0].concat) == ("+8613800138000", "退订", None)


@given(sender=NUMBERS, text=st.text(st.one_of(CJK, GSM_CHARS), min_size=1, max_size=70))
def test_incoming_pdus_decode_as_the_independent_decoder_reads_them(sender, text):
    pdu = deliver_pdu(sender, text)
    mine, theirs = decode_deliver(pdu), read_incoming_sms(pdu)
    assert (mine.sender, mine.text) == (theirs["sender"], theirs["content"]) == (sender, text)
