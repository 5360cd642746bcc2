"""The pure parts of the telephony: SIP messages, SDP, digest, RTP and telephone events, the PBX file.
Hypothesis hammers every parser: whatever the bytes, it returns or raises the package's error."""
from __future__ import annotations

import hashlib
import socket

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from hub.errors import HubError
from hub.telephony import digest, rtp, sdp, sipmsg
from hub.telephony.config import check_pbx
from hub.telephony.errors import PbxConfigError, SipParseError

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

INVITE = (b"INVITE sip:8001@10.0.0.1 SIP/2.0\r\n"
          b"Via: SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bK776asdhds;rport\r\n"
          b"v: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKother\r\n"
          b"Max-Forwards: 70\r\n"
          b"To: <sip:8001@10.0.0.1>\r\n"
          b"f: \"Wang, Fang\" <sip:13912345678@10.0.0.2:5070;user=phone>;tag=1928301774\r\n"
          b"i: a84b4c76e66710@10.0.0.2\r\n"
          b"CSeq: 314159 INVITE\r\n"
          b"Contact: <sip:13912345678@10.0.0.2:5070>\r\n"
          b"Subject: folded\r\n  continued\r\n"
          b"Content-Type: application/sdp\r\n"
          b"l: 4\r\n\r\nv=0\r\nextra-ignored")


def test_a_request_with_compact_and_folded_headers():
    m = sipmsg.parse(INVITE)
    assert (m.method, m.uri, m.call_id, m.cseq) == ("INVITE", "sip:8001@10.0.0.1", "a84b4c76e66710@10.0.0.2",
                                                   (314159, "INVITE"))
    assert len(m.get_all("Via")) == 2 and m.branch == "z9hG4bK776asdhds"
    f = m.from_addr()
    assert (f.display, f.uri.user, f.uri.port, f.tag, f.uri.params) == ("Wang, Fang", "13912345678", 5070,
                                                                        "1928301774", {"user": "phone"})
    assert m.get("Subject") == "folded continued" and m.body == b"v=0\r"
    again = sipmsg.parse(m.encode())
    assert again.headers == m.headers and again.body == m.body


def test_a_response_copies_what_rfc3261_says():
    req = sipmsg.parse(INVITE)
    r = sipmsg.response(req, 486, to_tag="abc")
    m = sipmsg.parse(r.encode())
    assert (m.status, m.reason, m.call_id, m.cseq) == (486, "Busy Here", req.call_id, req.cseq)
    assert m.get_all("Via") == req.get_all("Via") and m.to_addr().tag == "abc"
    assert sipmsg.parse(sipmsg.response(req, 100).encode()).to_addr().tag == ""


@pytest.mark.parametrize("bad,why", [
    (b"", "blank line"),
    (b"INVITE sip:a@b SIP/2.0\r\n\r\n", "missing Via"),
    (INVITE.replace(b"CSeq: 314159 INVITE", b"CSeq: 314159 BYE"), "CSeq method"),
    (INVITE.replace(b"CSeq: 314159", b"CSeq: 99999999999"), "bad CSeq"),
    (INVITE.replace(b"l: 4", b"l: 400"), "Content-Length"),
    (INVITE.replace(b"INVITE sip:8001@10.0.0.1 SIP/2.0", b"INVITE sip:8001@10.0.0.1 SIP/3.0"), "request line"),
    (INVITE.replace(b"Max-Forwards: 70", b"Max-Forwards: many"), "Max-Forwards"),
    (INVITE.replace(b"<sip:8001@10.0.0.1>", b"<sip:8001@10.0.0.1"), "'>'"),
    (INVITE.replace(b"Via: SIP/2.0/UDP 10.0.0.2:5070", b"Via: SIP/2.0/UDP 10.0.0.2:99999"), "port"),
    (b"SIP/2.0 2000 OK\r\n\r\n", "status line"),
])
def test_malformed_messages_say_why(bad, why):
    with pytest.raises(SipParseError, match=why):
        sipmsg.parse(bad)


def test_a_malformed_request_keeps_what_a_400_needs():
    with pytest.raises(SipParseError) as e:
        sipmsg.parse(INVITE.replace(b"l: 4", b"l: 400"))
    assert e.value.partial is not None and e.value.partial.call_id == "a84b4c76e66710@10.0.0.2"


@SETTINGS
@given(st.binary(max_size=600))
def test_any_bytes_parse_or_raise_sip_parse_error(data):
    try:
        sipmsg.parse(data)
    except SipParseError:
        pass


@SETTINGS
@given(st.integers(0, len(INVITE)), st.binary(min_size=1, max_size=8), st.booleans())
def test_mutated_invites_parse_or_raise_sip_parse_error(pos, junk, replace):
    data = INVITE[:pos] + junk + INVITE[pos + (len(junk) if replace else 0):]
    try:
        m = sipmsg.parse(data)
    except SipParseError:
        return
    sipmsg.parse(m.encode())          # whatever we accepted, we can write and read again


SDP_OFFER = (b"v=0\r\no=- 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\n"
             b"m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n")


def test_sdp_answer_keeps_the_offerers_preference_and_telephone_event():
    offer = sdp.parse(SDP_OFFER)
    assert (offer.host, offer.port, offer.payloads, offer.telephone_event) == ("10.0.0.2", 4000, [0, 8, 101], 101)
    body, pt, te = sdp.answer(offer, "10.0.0.1", 20000)
    ans = sdp.parse(body)
    assert (pt, te, ans.payloads, ans.codec(0), ans.port) == (0, 101, [0, 101], "PCMU", 20000)
    body, pt, _ = sdp.answer(offer, "10.0.0.1", 20000, allowed=("PCMA",))
    assert pt == 8
    with pytest.raises(SipParseError, match="G.711"):
        sdp.answer(sdp.parse(SDP_OFFER.replace(b"0 8 101", b"9 101")), "10.0.0.1", 20000)


@SETTINGS
@given(st.binary(max_size=300))
def test_any_sdp_parses_or_raises(data):
    try:
        sdp.parse(data)
    except SipParseError:
        pass


def test_digest_matches_rfc2617_and_refuses_wrong_passwords():
    # RFC 2617 §3.5's worked example
    assert digest.response_hash("Mufasa", "testrealm@host.com", "Circle Of Life", "GET", "/dir/index.html",
                                "dcd98b7102dd2f0e8b11d0f600bfb0c093", "auth", "00000001",
                                "0a4f113b") == "6629fae49393a05397450978507c4ef1"
    ch = digest.Challenger("scanhub")
    chal = ch.challenge()
    good = digest.authorization(chal, "8001", "pw", "REGISTER", "sip:hub")
    assert ch.verify(good, "REGISTER", {"8001": "pw"}.get) == ("8001", False)
    bad = digest.authorization(chal, "8001", "nope", "REGISTER", "sip:hub")
    assert ch.verify(bad, "REGISTER", {"8001": "pw"}.get) == (None, False)
    assert ch.verify(good, "INVITE", {"8001": "pw"}.get) == (None, False)        # another method
    forged = good.replace(digest.parse_params(chal)["nonce"], "0" * 40)
    assert ch.verify(forged, "REGISTER", {"8001": "pw"}.get) == (None, False)
    old = digest.Challenger("scanhub", max_age_s=-1, secret=b"k")
    stale = digest.authorization(old.challenge(), "8001", "pw", "REGISTER", "sip:hub")
    assert old.verify(stale, "REGISTER", {"8001": "pw"}.get) == (None, True)


@SETTINGS
@given(st.text(max_size=200))
def test_any_authorization_header_is_refused_quietly(text):
    assert digest.Challenger("r").verify(text, "REGISTER", lambda u: "pw")[0] is None


def test_rtp_and_telephone_events_round_trip():
    pkt = rtp.parse(rtp.build(101, 65535, 2 ** 32 - 1, 0xDEADBEEF, rtp.build_event("#", True, 800), marker=True))
    assert (pkt.pt, pkt.seq, pkt.ts, pkt.ssrc, pkt.marker) == (101, 65535, 2 ** 32 - 1, 0xDEADBEEF, True)
    ev = rtp.parse_event(pkt.payload)
    assert (ev.key, ev.end, ev.duration) == ("#", True, 800)
    assert rtp.ULAW_DECODE[0xFF] == 0 and rtp.ULAW_DECODE[0x00] == -32124 and rtp.ULAW_DECODE[0x80] == 32124


@SETTINGS
@given(st.binary(max_size=80))
def test_any_datagram_is_rtp_or_rtp_error(data):
    try:
        rtp.parse_event(rtp.parse(data).payload)
    except rtp.RtpError:
        pass


# ------------------------------------------------------------------ the PBX file
GOOD = {"sip": {"listen": "127.0.0.1:5060"},
        "trunks": [{"name": "carrier", "kind": "sip", "host": "10.0.0.2", "port": 5070},
                   {"name": "ct-bj-1", "kind": "e1", "span": 1, "protocol": "r2-cn", "max_dnis": 4}],
        "seats": [{"extension": "8001", "password": "s3cret"}],
        "dialplan": [{"number": "8001", "to": "seat 8001", "on_busy": "hangup busy"},
                     {"prefix": "9", "strip": 1, "to": "trunk carrier"},
                     {"pattern": "^400", "to": "number 8001", "from": ["ct-bj-1"]}]}


def test_a_good_file_routes_as_written():
    cfg = check_pbx(GOOD)
    assert cfg.route("8001", "carrier").to.arg == "8001"
    r = cfg.route("913912345678", "seats")
    assert (r.to.kind, r.to.arg, "913912345678"[r.strip:]) == ("trunk", "carrier", "13912345678")
    assert cfg.route("4008123", "carrier") is None and cfg.route("4008123", "ct-bj-1").to.kind == "number"
    assert cfg.trunk_at("10.0.0.2", 5070).name == "carrier" and cfg.trunk_at("10.0.0.2", 5071) is None


def test_every_problem_is_listed_with_its_place():
    bad = {"sip": {"listen": "nowhere", "media_ports": "5-6", "colour": 1},
           "trunks": [{"name": "carrier", "kind": "sip"}, {"name": "carrier", "kind": "pots"},
                      {"name": "e1", "kind": "e1", "span": 1, "protocol": "r2-xx"}],
           "seats": [{"extension": "8a", "password": "x"}, {"extension": "8001", "password": "x"}],
           "dialplan": [{"number": "8001", "prefix": "8", "to": "seat 8001"}, {"number": "8002", "to": "seat 9999"},
                        {"pattern": "(", "to": "trunk nowhere"}, {"number": "1", "to": "hangup loudly", "ring_s": 0},
                        {"number": "2", "to": "play nosuch.wav"}],
           "extra": 1}
    with pytest.raises(PbxConfigError) as e:
        check_pbx(bad, "pbx.yaml")
    text = "\n".join(e.value.problems)
    for expected in ("unknown section 'extra'", "sip.listen: 'nowhere' is not host:port", "sip.media_ports",
                     "sip: unknown key 'colour'", "trunks[0] carrier: missing host", "trunks[1] carrier: duplicate",
                     "kind must be sip or e1", "trunks[2] e1:", "seats[0]: extension '8a'",
                     "seats[1] 8001: password must have at least 4", "dialplan[0]: give exactly one of",
                     "dialplan[1]: to names seat 9999", "dialplan[2]: pattern", "dialplan[2]: to names trunk 'nowhere'",
                     "dialplan[3]: to cause 'loudly'", "dialplan[3]: ring_s",
                     "dialplan[4]: to 'nosuch.wav': no such file"):
        assert expected in text, (expected, text)
    assert isinstance(e.value, HubError) and str(e.value).startswith("pbx.yaml: ")


@SETTINGS
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(
                        ["sip", "trunks", "seats", "dialplan", "name", "kind", "to", "number", "extension",
                         "password", "host", "listen", "span", "prefix", "recording"]), c, max_size=4), max_leaves=12))
def test_any_document_is_checked_or_refused(doc):
    try:
        check_pbx(doc)
    except PbxConfigError:
        pass


# ------------------------------------------------------------------ the live transport, fuzzed
@pytest.fixture(scope="module")
def live_pbx(tmp_path_factory):
    from hub.telephony.service import Pbx
    from sip_peers import free_udp_port
    cfg = check_pbx({"sip": {"listen": f"127.0.0.1:{free_udp_port()}", "media_ports": "31000-31099"},
                     "seats": [{"extension": "8001", "password": "s3cret"}],
                     "dialplan": [{"number": "8001", "to": "seat 8001"}]})
    p = Pbx(cfg, store=False).start()
    yield p
    p.stop()


def _exchange(p, data: bytes, wait: float = 2.0, n: int | None = None) -> list[bytes]:
    """What the PBX answers to ``data``: ``n`` datagrams, or all that come within ``wait`` s."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(wait)
    s.sendto(data, p.address)
    out = []
    try:
        while n is None or len(out) < n:
            out.append(s.recv(65535))
    except socket.timeout:
        pass
    s.close()
    return out


def _options(branch: str, extra: bytes = b"") -> bytes:
    return (b"OPTIONS sip:hub@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK" + branch.encode()
            + b"\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:hub@127.0.0.1>\r\nCall-ID: " + branch.encode()
            + b"\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n" + extra + b"Content-Length: 0\r\n\r\n")


def test_options_and_a_400_for_a_readable_but_bad_request(live_pbx):
    (ok,) = _exchange(live_pbx, _options("opt1"), n=1)
    assert sipmsg.parse(ok).status == 200 and "REGISTER" in sipmsg.parse(ok).get("Allow")
    (bad,) = _exchange(live_pbx, _options("opt2", b"Max-Forwards: lots\r\n"), n=1)
    m = sipmsg.parse(bad)
    assert m.status == 400 and "Max-Forwards" in m.reason and m.call_id == "opt2"
    assert _exchange(live_pbx, b"\x00\x01garbage", 0.3) == []          # not SIP at all: dropped
    (again,) = _exchange(live_pbx, _options("opt3"), n=1)                 # and still serving
    assert sipmsg.parse(again).status == 200


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 200), st.binary(min_size=1, max_size=6))
def test_fuzzed_requests_never_stop_the_pbx(live_pbx, pos, junk):
    branch = hashlib.sha1(bytes([pos]) + junk).hexdigest()[:12]
    data = _options(branch)
    data = data[:pos] + junk + data[pos + len(junk):]
    for reply in _exchange(live_pbx, data, 0.05):
        # an answer is a status line (a 400 echoes the headers it was sent, bad ones too)
        status = reply.split(b"\r\n", 1)[0].split(b" ")
        assert status[0] == b"SIP/2.0" and int(status[1]) in (200, 400, 405, 481, 483, 501), reply[:80]
    (ok,) = _exchange(live_pbx, _options("alive" + branch), n=1)
    assert sipmsg.parse(ok).status == 200
