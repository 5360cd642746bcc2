"""A station trusts no acknowledgement for scans it did not send in that batch.

No hub runs here: a plain MQTT client answers the station's clock probes as docs/protocol.md says
the hub does, watches the batches it sends, and plays the attacker with forged acks."""
from __future__ import annotations

import json
import time

import paho.mqtt.client as mqtt

from conftest import wait_for
from contract import protocol as P


def peer(broker, station, batches):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="peer")

    def on_message(cl, u, msg):
        what = P.parse_topic(msg.topic)[1]
        body = json.loads(msg.payload)
        if what == P.TIME:
            cl.publish(P.topic(station, P.TIME_REPLY),
                       P.encode({"t0": body["t0"], "m0": body["m0"], "hub_ms": int(time.time() * 1000)}))
        elif what == P.SCANS:
            batches.append(body)
    c.on_message = on_message
    c.connect("127.0.0.1", broker.port)
    c.subscribe([(P.topic(station, P.TIME), 0), (P.topic(station, P.SCANS), 1)])
    c.loop_start()
    return c


def test_forged_and_stray_acks_settle_nothing(make_edge, broker):
    batches = []
    c = peer(broker, "st-100-1", batches)
    try:
        edge = make_edge(batch_size=5)
        for i in range(8):
            assert edge.capture.scan(f"W{i:05d}", kind="receive", operator="1002").accepted
        wait_for(lambda: sum(len(b["scans"]) for b in batches) >= 8, what="the station to send its scans")
        first = batches[0]
        sent = sorted(s["seq"] for s in first["scans"])
        ack = P.topic("st-100-1", P.ACK)
        # a batch the station never sent, claiming every seq there could be
        c.publish(ack, P.encode({"batch": "forged", "committed": [[1, 10 ** 9]], "rejected": [],
                                 "deletions": [], "deletions_rejected": []}), qos=1)
        # the right batch id, but seqs outside it
        others = P.seq_ranges(set(range(1, 1000)) - set(sent))
        c.publish(ack, P.encode({"batch": first["batch"], "committed": others,
                                 "rejected": [], "deletions": [], "deletions_rejected": []}), qos=1)
        wait_for(lambda: edge.uplink.stats["ignored_acks"] >= 1, what="the forged ack to be seen")
        wait_for(lambda: first["batch"] not in edge.uplink.inflight, what="the real batch's ack to be seen")
        assert edge.outbox.counts()["pending"] == 8                 # nothing settled
        # the real answer for the first batch settles exactly its scans
        last = next(b for b in reversed(batches) if b["batch"] in edge.uplink.inflight)
        mine = {s["seq"] for s in last["scans"]}
        c.publish(ack, P.encode({"batch": last["batch"], "committed": [[1, 10 ** 9]], "rejected": [],
                                 "deletions": [], "deletions_rejected": []}), qos=1)
        wait_for(lambda: last["batch"] not in edge.uplink.inflight, what="the last batch's ack applied")
        from edge.outbox import PENDING
        pending = {s["seq"] for s in edge.outbox.scans(state=PENDING)}
        assert pending == set(range(1, 9)) - mine                   # exactly that batch's scans settled
    finally:
        c.loop_stop()
        c.disconnect()
