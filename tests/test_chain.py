"""The tamper-evident scan journal: each station chains its scans (contract.chain), the hub checks
the chain of every epoch it holds and `hub gaps` shows what broke (docs/protocol.md, "The scan chain")."""
from __future__ import annotations

import json
import sqlite3

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import cli
from conftest import sample_store, wb
from contract.chain import content_digest, link, verify
from contract.scan import validate_scan

T0 = 1_717_200_000_000
EPOCH = "e1"


def make(n: int) -> list[dict]:
    """n scans of one station epoch, chained as the outbox chains them."""
    out, head = [], None
    for seq in range(1, n + 1):
        s = {"id": f"id{seq}", "station": "st-100-1", "epoch": EPOCH, "kind": "receive", "waybill": wb(seq),
             "site": "100", "operator": "1002", "edge_ms": T0 + seq, "seq": seq}
        head = link(head, EPOCH, seq, content_digest(validate_scan(s, stamped=False)))
        out.append(dict(s, chain=head))
    return out


def entries(scans):
    return [(s["seq"], s.get("chain"), content_digest(validate_scan(s, stamped=False))) for s in scans]


def test_an_untouched_chain_verifies_in_any_order():
    scans = make(6)
    assert verify(EPOCH, entries(scans)) == {"chained": True, "first_chained": 1, "verified": 6, "altered": [],
                                             "unverified": []}
    assert verify(EPOCH, entries(scans[::-1])) == verify(EPOCH, entries(scans))
    # a gap: what follows it cannot be checked until the missing scan arrives
    assert verify(EPOCH, entries(scans[:2] + scans[3:]))["unverified"] == [[4, 4]]


def test_stations_without_a_chain_are_accepted_as_before():
    old = [{k: v for k, v in s.items() if k != "chain"} for s in make(4)]
    assert verify(EPOCH, entries(old)) == {"chained": False, "first_chained": None, "verified": 0, "altered": [],
                                           "unverified": []}
    # upgraded in the middle of an epoch: the first chained scan starts from the empty hash
    head, mixed = None, old[:2]
    for s in old[2:]:
        head = link(head, EPOCH, s["seq"], content_digest(validate_scan(s, stamped=False)))
        mixed.append(dict(s, chain=head))
    got = verify(EPOCH, entries(mixed))
    assert got["altered"] == [] and got["first_chained"] == 3 and got["verified"] == 2


MUTATIONS = ("alter", "alter_and_rehash", "remove_and_renumber", "swap", "replay", "strip")


def mutate(scans: list[dict], how: str, i: int) -> list[dict]:
    """The scans as an edited outbox sends them: one change (``how``) at index ``i`` (not the last)."""
    bad = [dict(s) for s in scans]
    if how == "alter":
        bad[i]["waybill"] = wb(500 + i)
    elif how == "alter_and_rehash":
        bad[i]["waybill"] = wb(500 + i)
        prev = bad[i - 1]["chain"] if i else None
        bad[i]["chain"] = link(prev, EPOCH, bad[i]["seq"], content_digest(validate_scan(bad[i], stamped=False)))
    elif how == "remove_and_renumber":
        del bad[i]
        for s in bad[i:]:
            s["seq"] -= 1
    elif how == "swap":
        bad[i], bad[i + 1] = dict(bad[i + 1], seq=bad[i]["seq"]), dict(bad[i], seq=bad[i + 1]["seq"])
    elif how == "replay":                    # an old scan sent again under a later seq
        bad[i + 1] = dict(bad[i], id=bad[i + 1]["id"], seq=bad[i + 1]["seq"])
    elif how == "strip":
        del bad[i]["chain"]
    return bad


@settings(max_examples=300, deadline=None)
@given(n=st.integers(3, 12), data=st.data(), how=st.sampled_from(MUTATIONS))
def test_any_single_altered_removed_reordered_or_replayed_scan_is_detected(n, data, how):
    """What an edited outbox looks like at the hub, one change at a time: the chain fields as the
    station wrote them, the content changed.  (A scan altered *and* given a recomputed chain is
    caught at its successor, so the altered one is never the last here.)"""
    scans = make(n)
    i = data.draw(st.integers(0, n - 2), label="which")
    bad = mutate(scans, how, i)
    shuffled = data.draw(st.permutations(bad))
    got = verify(EPOCH, entries(shuffled))
    assert got["altered"], (how, i, got)
    assert verify(EPOCH, entries(data.draw(st.permutations(scans))))["altered"] == []


# ---------------------------------------------------------------- the station and the hub

def run(*args):
    return CliRunner().invoke(cli.main, list(args))


def station_scans(tmp_path, cfg, n):
    """Scans captured and chained by a real outbox, as the uplink sends them (payload + seq)."""
    from edge.capture import Capture
    from edge.clock import StationClock
    from edge.outbox import Outbox
    meta = {}
    ob = Outbox(str(tmp_path / "st.db"))
    c = Capture("st-100-1", "100", ob, StationClock(lambda k, d=None: meta.get(k, d), meta.__setitem__, boot="b"), cfg)
    c.scan("%KRECEIVE"), c.scan("%P1002")
    assert all(c.scan(wb(k)).accepted for k in range(1, n + 1))
    out = [dict(json.loads(p), seq=seq, event_ms=T0 + seq) for seq, p, *_ in ob.pending_after(0, 100)]
    ob.close()
    return out, str(tmp_path / "st.db")


def test_the_hub_reports_an_edited_outbox(store_url, tmp_path):
    from hub.ingest import pipeline
    from hub.network.station_config import site_slice
    sample_store(store_url)
    scans, path = station_scans(tmp_path, site_slice("100"), 5)
    assert all(len(s["chain"]) == 64 for s in scans)
    # the outbox file keeps its chain head across a restart: the next scan links to the last
    con = sqlite3.connect(path)
    assert con.execute("SELECT value FROM meta WHERE key='chain'").fetchone()[0] == scans[-1]["chain"]
    con.close()
    scans[2]["waybill"] = wb(77)               # edited in the outbox before it was sent
    committed, rejected = pipeline.commit(scans)
    assert rejected == []
    r = run("hub", "gaps", "--json", "--db", store_url)
    assert r.exit_code == 0, r.output
    g = [x for x in json.loads(r.output) if x["station"] == "st-100-1"][0]
    assert g["chained"] is True and g["altered"] == [[3, 3]] and g["altered_count"] == 1 and g["missing"] == []
    assert "3" in run("hub", "gaps", "--db", store_url).output


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(), st.text())))
def test_the_digest_encoder_writes_what_the_protocol_says(values):
    """docs/protocol.md: the content as Python's json.dumps with no spaces and UTF-8 unescaped."""
    from contract.chain import _CANONICAL
    assert _CANONICAL.encode(values) == json.dumps(values, separators=(",", ":"), ensure_ascii=False)
