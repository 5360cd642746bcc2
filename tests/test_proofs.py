"""Proof of delivery: images attached at the station, sent after the scans in resumable,
deduplicated chunks on their own topic, stored at the hub, shown by `track`, exported by `pod`."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import cli
from conftest import RULES, raw_station, wait_for
from contract import proof as C
from contract import protocol as P
from contract.errors import PayloadError

JPEG = b"\xff\xd8\xff\xe0" + os.urandom(C.CHUNK_BYTES * 2 + 1000)     # three chunks
WB = RULES.make("std14", "7000000000031")


def run(*args):
    return CliRunner().invoke(cli.main, list(args))


def chunks(data, waybill=WB, kind="image/jpeg", scan=None):
    meta = {"sha256": C.digest(data), "waybill": waybill, "scan": scan, "type": kind, "size": len(data)}
    return [C.chunk(meta, data, off) for off in range(0, len(data), C.CHUNK_BYTES)]


def rows(db, sql):
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


# ---------------------------------------------------------------- the chunk format

def test_a_chunk_round_trips_and_bad_ones_say_why():
    first = C.parse_chunk(chunks(JPEG)[0])
    assert first["data"] == JPEG[:C.CHUNK_BYTES] and first["size"] == len(JPEG) and first["offset"] == 0
    body = json.loads(chunks(JPEG)[0])
    for change, why in ((dict(sha256="XY"), "sha256 must be 64"), (dict(type="text/plain"), "type must be one of"),
                        (dict(size=0), "size must be"), (dict(offset=len(JPEG)), "offset must be"),
                        (dict(data="!!"), "not valid base64"), (dict(v=2), "unknown proof chunk version"),
                        (dict(data=base64.b64encode(b"GIF89a").decode()), "does not start like image/jpeg"),
                        (dict(waybill=""), "waybill must be text")):
        with pytest.raises(PayloadError, match=why):
            C.parse_chunk(json.dumps(dict(body, **change)).encode())


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300),
                 st.dictionaries(st.sampled_from(["v", "sha256", "waybill", "scan", "type", "size", "offset", "data"]),
                                 st.one_of(st.none(), st.integers(-5, 10**8), st.text(max_size=80), st.booleans()))
                 .map(lambda d: json.dumps(d).encode())))
def test_any_message_on_the_proof_topic_is_a_chunk_or_a_clear_refusal(payload):
    try:
        c = C.parse_chunk(payload)
    except PayloadError as e:
        assert str(e) and "\n" not in str(e)
    else:
        assert 0 < len(c["data"]) <= C.CHUNK_BYTES and c["offset"] + len(c["data"]) <= c["size"]


# ---------------------------------------------------------------- the hub, with a hand-driven station

def test_a_stranger_sends_an_image_out_of_order_and_twice(hub_store, hub_service, broker, tmp_path):
    """What docs/protocol.md tells someone writing their own station: publish the chunks, follow `have`."""
    acks = []
    with raw_station(broker, "st-200-1") as (client, _):
        client.message_callback_add(P.topic("st-200-1", P.PROOF_ACK), lambda c, u, m: acks.append(json.loads(m.payload)))
        client.subscribe(P.topic("st-200-1", P.PROOF_ACK), qos=1)
        parts = chunks(JPEG)
        # the second chunk first: ignored, the hub says it holds 0 bytes
        client.publish(P.topic("st-200-1", P.PROOF), parts[1], qos=1)
        wait_for(lambda: len(acks) == 1, what="an answer")
        assert acks[0]["have"] == 0 and not acks[0]["complete"]
        for i, part in enumerate(parts + [parts[0]]):          # in order, then the first again
            client.publish(P.topic("st-200-1", P.PROOF), part, qos=1)
            wait_for(lambda: len(acks) == i + 2, what=f"answer {i + 2}")
        assert [a["have"] for a in acks[1:]] == [C.CHUNK_BYTES, 2 * C.CHUNK_BYTES, len(JPEG), len(JPEG)]
        assert acks[-2]["complete"] and acks[-1]["complete"]
        # the same image for another parcel: complete at once, stored once
        other = RULES.make("std14", "7000000000032")
        client.publish(P.topic("st-200-1", P.PROOF), chunks(JPEG, waybill=other)[0], qos=1)
        wait_for(lambda: len(acks) == 6, what="the answer for the second parcel")
        assert acks[-1]["complete"] and acks[-1]["have"] == len(JPEG)
        # not a chunk at all: dead-lettered, not answered
        client.publish(P.topic("st-200-1", P.PROOF), b"hello", qos=1)
        wait_for(lambda: rows(hub_store, "SELECT COUNT(*) FROM deadletter WHERE reason LIKE 'malformed proof%'")[0][0] == 1,
                 what="the dead letter")
    assert rows(hub_store, "SELECT COUNT(*), SUM(LENGTH(data)) FROM proof_image") == [(1, len(JPEG))]
    assert rows(hub_store, "SELECT COUNT(*) FROM proof_chunk") == [(0,)]

    out = tmp_path / "pod.jpg"
    r = run("pod", WB, "--out", str(out), "--db", hub_store, "--json")
    assert r.exit_code == 0, r.output
    assert out.read_bytes() == JPEG and json.loads(r.output)["sha256"] == hashlib.sha256(JPEG).hexdigest()
    again = run("pod", WB, "--out", str(out), "--db", hub_store)
    assert again.exit_code == 1 and "exists" in again.output
    missing = run("pod", RULES.make("std14", "7000000000049"), "--db", hub_store)
    assert missing.exit_code == 1 and "no proof of delivery" in missing.output


def test_a_corrupted_image_is_refused_whole_and_sent_again(hub_store, hub_service, broker):
    acks = []
    bad = JPEG[:-1] + bytes([JPEG[-1] ^ 1])
    meta = {"sha256": C.digest(JPEG), "waybill": WB, "scan": None, "type": "image/jpeg", "size": len(JPEG)}
    with raw_station(broker, "st-200-1") as (client, _):
        client.message_callback_add(P.topic("st-200-1", P.PROOF_ACK), lambda c, u, m: acks.append(json.loads(m.payload)))
        client.subscribe(P.topic("st-200-1", P.PROOF_ACK), qos=1)
        for i, off in enumerate(range(0, len(JPEG), C.CHUNK_BYTES)):
            client.publish(P.topic("st-200-1", P.PROOF), C.chunk(meta, bad, off), qos=1)
            wait_for(lambda: len(acks) == i + 1, what="an answer")
    assert acks[-1]["have"] == 0 and not acks[-1]["complete"] and "do not match their sha256" in acks[-1]["error"]
    assert "still arriving (0 of" in run("pod", WB, "--db", hub_store).output


# ---------------------------------------------------------------- the station

def test_the_station_sends_the_image_after_the_scans(hub_store, hub_service, make_edge, tmp_path):
    edge = make_edge(station="st-200-1", site="200")
    assert edge.config_event.wait(15)
    c = edge.capture
    c.scan("%KSIGN"), c.scan("%P2001"), c.scan("%GZhang San"), c.scan("%TRECEPTION")
    v = c.scan(WB)
    assert v.accepted
    image = tmp_path / "receipt.jpg"
    image.write_bytes(JPEG)
    cfg = tmp_path / "station.yaml"
    cfg.write_text(f"station: st-200-1\nsite: '200'\nbroker: {edge.cfg.broker}\noutbox: {edge.cfg.outbox}\n")
    r = run("edge", "attach", "--config", str(cfg), WB, str(image), "--scan", v.scan["id"], "--json")
    assert r.exit_code == 0, r.output
    assert run("edge", "attach", "--config", str(cfg), WB, str(image)).exit_code == 0     # the same: kept once
    not_image = tmp_path / "notes.txt"
    not_image.write_text("signed by the guard")
    bad = run("edge", "attach", "--config", str(cfg), WB, str(not_image))
    assert bad.exit_code == 1 and "not a JPEG, PNG, TIFF or PDF" in bad.output
    edge.uplink.wake()
    wait_for(lambda: edge.proofs.pending() == 0, timeout=30, what="the image to reach the hub")
    assert edge.outbox.counts()["acked"] == 1
    assert rows(hub_store, "SELECT LENGTH(data) FROM proof_image") == [(len(JPEG),)]
    t = json.loads(run("track", WB, "--json", "--db", hub_store).output)
    assert t["status"] == "signed" and t["events"][0]["sign_type"] == "reception"
    assert [(p["complete"], p["scan"], p["station"]) for p in t["proofs"]] == [(True, v.scan["id"], "st-200-1")]
    assert "proof of delivery: image/jpeg" in run("track", WB, "--db", hub_store).output
