"""The CDR writer writes each batch as its net effect (hub.telephony.cdr.CdrWriter._write): how
the changes of a busy minute are cut into batches must never change what the store holds after
each batch.  Reference: the changes applied one by one, in order, to plain dicts."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from hub.schema import connect
    from hub.store.db import database
    connect(str(tmp_path_factory.mktemp("cdr") / "hub.db"), create=True)
    yield
    database.close()


def leg_row(call: str, leg: str, state: str, t: int) -> dict:
    return {"key": f"{call}/{leg}", "call_id": call, "leg": leg, "kind": "sip", "trunk": None, "seat": "8001",
            "channel": f"ch-{call}-{leg}-{state}", "peer": "4000", "direction": "out", "state": state,
            "since_ms": t, "worker": "w1"}


def cdr(call: str, t: int) -> dict:
    return {"call_id": call, "origin": "seats", "direction": "internal", "caller": "4000", "callee": "8001",
            "trunk": None, "channel": None, "seat": "8001", "start_ms": t, "answer_ms": None, "end_ms": t,
            "duration_s": 0, "billable_s": 0, "disposition": "failed", "legs": 2, "recording": None, "worker": "w1"}


@st.composite
def changes(draw):
    """Changes as the switch queues them: each call's legs go offered -> ringing -> answered (a
    prefix of it), may end, and the call may end after its legs; calls interleave at random.
    Seat registrations come in between."""
    scripts = []
    for c in range(draw(st.integers(1, 4))):
        call, script = f"c{c}", []
        for leg in ("a", "b", "c")[:draw(st.integers(1, 3))]:
            for state in ("offered", "ringing", "answered")[:draw(st.integers(1, 3))]:
                script.append(("live", (call, leg, state)))
            if draw(st.booleans()):
                script.append(("gone", f"{call}/{leg}"))
        if draw(st.booleans()):
            script.append(("call", call))
        scripts.append(script)
    scripts.append([("seats", draw(st.lists(st.sampled_from(["8001", "8002", "8003"]), max_size=3)))
                    for _ in range(draw(st.integers(0, 2)))])
    out = []
    while any(scripts):
        i = draw(st.sampled_from([i for i, s in enumerate(scripts) if s]))
        out.append(scripts[i].pop(0))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(out) - 1)), max_size=5)))
    return out, cuts


def items(script):
    for t, (kind, what) in enumerate(script, 1):
        if kind == "live":
            yield ("live", leg_row(*what, t=t))
        elif kind == "gone":
            yield ("gone", what)
        elif kind == "call":
            yield ("call", (cdr(what, t), [{"call_id": what, "seq": 0, "t_ms": t, "kind": "end", "leg": None,
                                             "data": "{}"}], None))
        else:
            yield ("seats", [(ext, f"sip:{ext}@127.0.0.1", 10_000 + t, "ua") for ext in what])


def stored():
    from hub.telephony.tables import CallEvent, CallLiveLeg, CallRecord, CallSeat
    return ({r.key: (r.channel, r.state, r.since_ms) for r in CallLiveLeg.select()},
            {r.call_id for r in CallRecord.select()}, {(r.call_id, r.seq) for r in CallEvent.select()},
            {r.seat: (r.contact, r.worker) for r in CallSeat.select()})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes())
def test_any_cut_into_batches_leaves_what_one_by_one_leaves(store, case):
    from hub.telephony.cdr import CdrWriter
    from hub.telephony.tables import CallSeat, TABLES
    for t in TABLES:
        t.delete().execute()
    CallSeat.insert(seat="8003", contact="sip:8003@elsewhere", expires_ms=1, user_agent="ua",
                    worker="w2").execute()                    # another worker's seat, taken over below
    script, cuts = case
    all_items = list(items(script))
    live, calls, events = {}, set(), set()
    seats = {"8003": ("sip:8003@elsewhere", "w2")}
    writer = CdrWriter("w1")
    for lo, hi in zip([0] + cuts, cuts + [len(all_items)]):
        batch = all_items[lo:hi]
        writer._write(batch)
        for kind, payload in batch:                          # the reference, one change at a time
            if kind == "live":
                old = live.get(payload["key"])
                live[payload["key"]] = (old[0] if old else payload["channel"], payload["state"], payload["since_ms"])
            elif kind == "gone":
                live.pop(payload, None)
            elif kind == "call":
                row, evs, _ = payload
                calls.add(row["call_id"])
                events |= {(e["call_id"], e["seq"]) for e in evs}
                live = {k: v for k, v in live.items() if not k.startswith(row["call_id"] + "/")}
            else:
                seats = {k: v for k, v in seats.items() if v[1] != "w1"}
                seats.update({ext: (contact, "w1") for ext, contact, _, _ in payload})
        assert stored() == (live, calls, events, seats), f"after the batch {lo}:{hi} of {all_items}"
    assert writer.written == len(calls)
