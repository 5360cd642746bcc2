"""Outbound calls over the real telephony path: the dialer's Dial actions placed through
hub.telephony (originate) to a SIPp callee on a SIP trunk that answers; every dialled number's
outcome is in the CDR and in the campaign's records."""
from __future__ import annotations

import pytest

from conftest import wait_for
from sip_peers import Sipp, free_udp_port


@pytest.fixture
def pbx(tmp_path):
    from hub.schema import connect
    from hub.store.db import database
    from hub.telephony.config import check_pbx
    from hub.telephony.service import Pbx
    connect(str(tmp_path / "hub.db"), create=True)
    trunk_port = free_udp_port()
    media = 33000 + 200 * (hash(str(tmp_path)) % 50)
    cfg = check_pbx({"sip": {"listen": f"127.0.0.1:{free_udp_port()}", "media_ports": f"{media}-{media + 99}"},
                     "trunks": [{"name": "carrier", "kind": "sip", "host": "127.0.0.1", "port": trunk_port}],
                     "dialplan": [{"prefix": "+", "to": "trunk carrier", "ring_s": 10}]}, "test")
    cfg.recording_dir = str(tmp_path / "rec")
    p = Pbx(cfg, worker="test").start()
    yield p, trunk_port
    wait_for(lambda: not p.snapshot()["calls"], 15, "every call to end")
    p.stop()
    database.close()


def test_progressive_calls_placed_through_the_pbx_land_in_the_cdr_and_the_records(tmp_path, pbx):
    from contract.clock import now_ms
    from hub.outbound import store
    from hub.outbound.campaign import check_campaign
    from hub.outbound.contacts import Contact
    from hub.outbound.engine import Connect, Dial, Dialer
    from hub.telephony import originate
    from hub.telephony.cdr import list_calls
    p, trunk_port = pbx
    callee = Sipp(tmp_path, "seat.xml", f"{p.address[0]}:{p.address[1]}", port=trunk_port,
                  args=["-m", "3"]).listening()
    c = check_campaign({"name": "live", "mode": "progressive", "window": {"mon-sun": ["00:00-24:00"]},
                        "agents": ["a1"], "min_spacing_min": 0, "wrapup_s": 0,
                        "dispositions": [{"code": "done", "final": True}]})
    records = []
    sink = store.sink(c)

    def log(batch):
        records.extend(batch)
        sink(batch)
    numbers = ["+8613800000001", "+8613800000002", "+8613800000003"]
    dialer = Dialer(c, [Contact(n) for n in numbers], now_ms, log=log)
    calls = {}

    def carry_out(actions):
        for a in actions:
            if isinstance(a, Dial):
                calls[a.call] = originate.originate(p.switch, a.number, caller="4000",
                                                    on_event=lambda c, ev, a=a: event(a.call, c, ev))
            elif isinstance(a, Connect):         # the agent talks a moment, then hangs up with a disposition
                call = calls[a.call]
                p.loop.call_later(0.5, lambda call=call, cid=a.call: (originate.hangup(p.switch, call),
                                                                     done_with(cid)))

    def done_with(cid):
        carry_out(dialer.hangup(cid, "done"))

    def event(cid, call, ev):
        if ev.kind == "leg-answered" and ev.leg != "a":
            carry_out(dialer.answered(cid))
        elif ev.kind == "call-end" and cid in dialer.calls and dialer.calls[cid].state == "dialing":
            carry_out(dialer.failed(cid, call.disposition or "failed"))

    p.call(lambda: carry_out(dialer.login("a1")))      # the dialer lives on the PBX's loop from here on
    wait_for(lambda: len([r for r in records if r["kind"] == "attempt"]) == 3, 60, "three calls to end")
    callee.expect_success(30)
    attempts = {r["number"]: r for r in records if r["kind"] == "attempt"}
    assert set(attempts) == set(numbers) and all(r["outcome"] == "done" for r in attempts.values())
    wait_for(lambda: len(list_calls()) == 3, 15, "three CDRs")
    cdr = {r["callee"]: r for r in list_calls()}
    assert set(cdr) == set(numbers)
    assert all(r["disposition"] == "answered" for r in cdr.values())
    from hub.outbound.tables import CampaignAttempt
    assert CampaignAttempt.select().where(CampaignAttempt.campaign == "live").count() == 3
