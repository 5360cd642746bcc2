"""Attended transfer against SIPp peers: two calls through us, each answered by a seat; the party
in the middle leaves and the two others are joined, either because the seat sent REFER with
Replaces (RFC 5589 §7, RFC 3891) or because the switch was asked (the agent side of the queues).
Every SIPp scenario must go as written (BYE where due, NOTIFY 100 then 200), one call goes on with
both outside parties and a ``transfer`` event, the other ends; nothing is left busy.  A Replaces
naming no dialog of ours is answered 481 in the NOTIFY and leaves the call as it was."""
from __future__ import annotations

import pytest

from conftest import wait_for
from sip_peers import SCENARIOS, Sipp, free_udp_port, recv_ok, seat_request, variant
from test_telephony_sip import PASSWORD, cdrs, pbx, register, target  # noqa: F401 - the pbx fixture

SECOND = "13800000002"


def trunks(port1: int, port2: int) -> list[dict]:
    return [{"name": "carrier", "kind": "sip", "host": "127.0.0.1", "port": port1},
            {"name": "carrier2", "kind": "sip", "host": "127.0.0.1", "port": port2}]


def caller_hung_up(tmp_path, number: str = SECOND) -> str:
    """caller.xml that is hung up by us (waits for our BYE) instead of hanging up."""
    text = (SCENARIOS / "caller.xml").read_text().replace("13912345678", number)
    head = text.split("  <pause/>")[0]
    path = tmp_path / "caller-hung-up.xml"
    path.write_text(head + recv_ok("BYE") + """  <timewait milliseconds="500"/>
</scenario>
""")
    return str(path)


def notify(status: int) -> str:
    """Scenario text: receive our NOTIFY, whose sipfrag body must carry ``status``, and answer 200."""
    return recv_ok("NOTIFY", f'<ereg regexp="SIP/2.0 {status}" search_in="body" check_it="true" '
                             f'assign_to="f{status}"/><log message="NOTIFY [$f{status}]"/>')


def answered_calls(p) -> int:
    return sum(1 for c in p.snapshot()["calls"] if sum(leg["state"] == "answered" for leg in c["legs"]) == 2)


def _check_the_join(p, kept_caller: str):
    """Two CDRs with an attended transfer each; the kept call (``kept_caller``'s, the call the
    transferor's held leg or consultation joined) was bridged again, caller first."""
    wait_for(lambda: len(cdrs()) == 2, 15, "both CDRs")
    from hub.telephony.cdr import show_call
    shown = [show_call(c["call_id"]) for c in cdrs()]
    kinds = [[e for e in s["events"] if e["kind"] == "transfer"] for s in shown]
    assert all(len(k) == 1 and k[0]["data"]["type"] == "attended" for k in kinds), kinds
    kept = next(s for s, k in zip(shown, kinds) if "joined" in k[0]["data"])
    bridged = [e["data"]["legs"] for e in kept["events"] if e["kind"] == "bridged"]
    assert len(bridged) == 2 and bridged[-1][0] == "a", bridged      # the caller, now with the other party
    assert kept["disposition"] == "answered" and kept["caller"] == kept_caller
    joined = next(e for e in kept["events"] if e["kind"] == "leg-ended" and e["leg"] == bridged[-1][1])
    assert joined["data"]["cause"] == "normal"                       # the joined caller was hung up by us
    return kept


def test_attended_transfer_by_the_switch(tmp_path, pbx):  # noqa: F811
    port1, port2 = free_udp_port(), free_udp_port()
    p = pbx(port1, trunks=trunks(port1, port2))
    s1 = register(tmp_path, p, "8001", PASSWORD)
    s2 = register(tmp_path, p, "8002", "pw-8002")
    seat1 = Sipp(tmp_path, "seat.xml", target(p), port=s1, args=["-m", "1"], name="seat-8001").listening()
    seat2 = Sipp(tmp_path, "seat.xml", target(p), port=s2, args=["-m", "1"], name="seat-8002").listening()
    caller1 = Sipp(tmp_path, "caller.xml", target(p), port=port1, args=["-s", "8001", "-d", "4000", "-m", "1"]).start()
    wait_for(lambda: answered_calls(p) == 1, 20, "the first call answered")
    caller2 = Sipp(tmp_path, caller_hung_up(tmp_path), target(p), port=port2, args=["-s", "8002", "-m", "1"]).start()
    wait_for(lambda: answered_calls(p) == 2, 20, "the second call answered")

    def transfer():
        calls = sorted(p.switch.calls.values(), key=lambda c: c.t_start)
        seat_leg = [next(leg for leg in c.legs if leg.seat) for c in calls]
        statuses = []
        p.switch.attended_transfer(seat_leg[0], seat_leg[1], statuses.append)
        return statuses
    assert p.call(transfer) == [200]
    for s in (seat1, seat2, caller1, caller2):
        s.wait(60)
        s.expect_success()
    _check_the_join(p, "13912345678")


def test_attended_transfer_by_refer_with_replaces(tmp_path, pbx):  # noqa: F811
    """Seat 8001 answers two calls; on the second it sends REFER whose Refer-To replaces its
    dialog of the first: we answer 202, NOTIFY 100 and 200, hang up both of its dialogs, and
    the two callers talk until the first hangs up."""
    port1, port2 = free_udp_port(), free_udp_port()
    p = pbx(port1, trunks=trunks(port1, port2))
    s1 = register(tmp_path, p, "8001", PASSWORD)
    bye_ok = recv_ok("BYE").rstrip("\n")
    refer_headers = ("Refer-To: <sip:8002@[remote_ip]?Replaces=[$g_cid]%3Bto-tag%3D[$g_ftag]%3Bfrom-tag%3D[pid]seat1>\n"
                     "Referred-By: <sip:8001@[local_ip]>")
    transferor = variant(tmp_path, "seat.xml", {
        '<scenario name="scanhub seat answering">':
            '<scenario name="scanhub seat answering">\n  <Global variables="g_cid,g_ftag"/>',
        '<recv request="INVITE" crlf="true"/>': f"""<recv request="INVITE" crlf="true">
    <action>
      <ereg regexp="{SECOND}" search_in="hdr" header="From:" assign_to="second"/>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="remote_from"/>
      <ereg regexp="[^ ]+" search_in="hdr" header="Call-ID:" assign_to="cid"/>
      <ereg regexp="tag=([^;> ]+)" search_in="hdr" header="From:" assign_to="whole,ftag"/>
    </action>
  </recv>
  <nop test="second" next="two"/>
  <nop>
    <action>
      <assignstr assign_to="g_cid" value="[$cid]"/>
      <assignstr assign_to="g_ftag" value="[$ftag]"/>
      <log message="first call [$whole]"/>
    </action>
  </nop>
  <label id="two"/>""",
        bye_ok: f"""  <nop test="second" next="refer"/>
{bye_ok}
  <nop next="end"/>
  <label id="refer"/>
  <pause milliseconds="300"/>
{seat_request("REFER", 1, refer_headers)}  <recv response="202"/>
{notify(100)}{notify(200)}{bye_ok}
  <label id="end"/>"""}, "seat-attended-transfer")
    seat = Sipp(tmp_path, transferor, target(p), port=s1, args=["-m", "2"], name="seat-transferor").listening()
    caller1 = Sipp(tmp_path, "caller.xml", target(p), port=port1, args=["-s", "8001", "-d", "5000", "-m", "1"]).start()
    wait_for(lambda: answered_calls(p) == 1, 20, "the first call answered")
    caller2 = Sipp(tmp_path, caller_hung_up(tmp_path), target(p), port=port2, args=["-s", "8001", "-m", "1"]).start()
    for s in (seat, caller1, caller2):
        s.wait(60)
        s.expect_success()
    _check_the_join(p, SECOND)               # the REFER came on the second call: it goes on


def test_replaces_is_read_from_the_refer_to_uri():
    from hub.telephony.errors import SipParseError
    from hub.telephony.sip import _replaces
    assert _replaces("<sip:8002@h?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>") == ("abc@h", "1", "2")
    assert _replaces("<sip:8002@h>") is None
    with pytest.raises(SipParseError, match="to-tag"):
        _replaces("<sip:8002@h?Replaces=abc>")


def test_a_replaces_naming_no_dialog_of_ours_is_refused_with_481_and_the_call_goes_on(tmp_path, pbx):  # noqa: F811
    """Seat 8001 sends REFER whose Replaces names a dialog we never had: 202, NOTIFY 100, then
    NOTIFY 481 (RFC 3891 §3); the call it came on is untouched and ends when the caller hangs up."""
    port1 = free_udp_port()
    p = pbx(port1)
    s1 = register(tmp_path, p, "8001", PASSWORD)
    bye_ok = recv_ok("BYE").rstrip("\n")
    refer_headers = ("Refer-To: <sip:8002@[remote_ip]?Replaces=no-such-call%40elsewhere%3Bto-tag%3D1%3Bfrom-tag%3D2>\n"
                     "Referred-By: <sip:8001@[local_ip]>")
    refuser = variant(tmp_path, "seat.xml", {
        '<recv request="INVITE" crlf="true"/>': """<recv request="INVITE" crlf="true">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="remote_from"/>
    </action>
  </recv>""",
        bye_ok: f"""  <pause milliseconds="300"/>
{seat_request("REFER", 1, refer_headers)}  <recv response="202"/>
{notify(100)}{notify(481)}{bye_ok}"""}, "seat-unknown-replaces")
    seat = Sipp(tmp_path, refuser, target(p), port=s1, args=["-m", "1"], name="seat-refuser").listening()
    caller = Sipp(tmp_path, "caller.xml", target(p), port=port1, args=["-s", "8001", "-d", "3000", "-m", "1"]).start()
    for s in (seat, caller):
        s.wait(60)
        s.expect_success()
    wait_for(lambda: len(cdrs()) == 1, 15, "the CDR")
    from hub.telephony.cdr import show_call
    [c] = cdrs()
    shown = show_call(c["call_id"])
    assert shown["disposition"] == "answered"
    assert not [e for e in shown["events"] if e["kind"] == "transfer" and "joined" in e["data"]], shown["events"]
