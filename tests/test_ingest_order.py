"""Any interleaving, duplication and delay of the same batches gives the same hub state as a
plain reference model."""
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.ingest import pipeline
from hub.scans import tables as m
from hub.schema import connect
from hub.store.db import database

# written from docs/protocol.md, not taken from the code under test
KINDS = ["receive", "dispatch", "arrive", "deliver", "sign", "problem", "hold"]
LIFE = ["receive", "dispatch", "arrive", "problem", "hold", "deliver", "sign"]   # ties at one instant
SANE_MS = 1_704_067_200_000       # 2024-01-01: an earlier event_ms is refused
T0 = 1_800_000_000_000


@st.composite
def histories(draw):
    n = draw(st.integers(1, 40))
    scans = []
    for seq in range(1, n + 1):
        kind = draw(st.sampled_from(KINDS))
        s = {"id": f"st1-{seq}", "station": "st1", "epoch": "e1", "seq": seq, "kind": kind,
             "waybill": draw(st.sampled_from(["W1", "W2", "W3", "W4"])),
             "site": draw(st.sampled_from(["100", "900", "200"])),
             "edge_ms": T0, "event_ms": T0 + draw(st.integers(0, 5)) * 1000, "operator": "op"}
        clock = draw(st.sampled_from(["trusted", "corrected", "unknown", None]))
        if clock is not None:
            s["clock"] = clock
        if clock in ("corrected", "unknown"):          # the wall clock was wrong: only event_ms counts
            s["edge_ms"] = draw(st.sampled_from([0, 86_400_000, T0 - 3_600_000 * 24 * 400]))
        if kind == "dispatch":
            s["next_site"] = "900"
        if draw(st.integers(0, 9)) == 0:           # now and then a malformed one
            s["event_ms"] = 5                      # a 1970 clock: must be refused
        scans.append(s)
    cuts = sorted(draw(st.sets(st.integers(1, max(1, n - 1)), max_size=5)))
    batches, last = [], 0
    for c in cuts + [n]:
        if c > last:
            batches.append(scans[last:c])
            last = c
    order = list(range(len(batches))) + draw(st.lists(st.integers(0, len(batches) - 1), max_size=6))
    order = draw(st.permutations(order))
    return scans, batches, order


def reference(scans):
    valid = [s for s in scans if s["event_ms"] >= SANE_MS]
    events = {s["id"]: (s["waybill"], s["kind"], s["site"], s["event_ms"]) for s in valid}
    parcels = {}
    for wb in {s["waybill"] for s in valid}:
        evs = sorted((s for s in valid if s["waybill"] == wb),
                     key=lambda s: (s["event_ms"], LIFE.index(s["kind"]), s["id"]))
        origin = next((e["site"] for e in evs if e["kind"] == "receive"), evs[0]["site"])
        parcels[wb] = (evs[-1]["kind"], evs[-1]["site"], evs[-1]["event_ms"], origin, len(evs))
    return events, parcels, len(scans) - len(valid)


def hub_state():
    events = {e.id: (e.waybill, e.kind, e.site, e.event_ms) for e in m.ScanEvent.select()}
    parcels = {p.waybill: (p.status, p.site, p.last_event_ms, p.origin_site, p.events) for p in m.Parcel.select()}
    return events, parcels


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_any_delivery_order_gives_the_reference_state(h):
    scans, batches, order = h
    with tempfile.TemporaryDirectory() as d:
        connect(f"{d}/hub.db", create=True)
        try:
            for i in order:
                pipeline.commit([dict(s) for s in batches[i]])
            events, parcels = hub_state()
            ref_events, ref_parcels, bad = reference(scans)
            assert events == ref_events
            assert parcels == ref_parcels
            # every malformed scan was dead-lettered (once per delivery), none went missing silently
            assert m.DeadLetter.select().count() >= bad
        finally:
            database.close()


def test_same_state_on_postgresql(pg_url):
    scans = [{"id": f"x-{i}", "station": "x", "epoch": "e", "seq": i, "kind": k, "waybill": "W9", "site": "100",
              "edge_ms": T0, "event_ms": T0 + i, "clock": "trusted", **({"next_site": "900"} if k == "dispatch" else {})}
             for i, k in enumerate(["receive", "dispatch", "arrive", "deliver", "sign"], 1)]
    connect(pg_url, create=True)
    try:
        for batch in (scans[3:], scans[:3], scans, scans[1:2]):
            pipeline.commit([dict(s) for s in batch])
        assert m.ScanEvent.select().count() == 5
        p = m.Parcel.get(m.Parcel.waybill == "W9")
        assert (p.status, p.events, p.origin_site) == ("sign", 5, "100")
    finally:
        database.close()


def test_malformed_scans_are_dead_lettered_with_reasons(tmp_path):
    connect(str(tmp_path / "hub.db"), create=True)
    try:
        good = {"id": "a", "station": "s", "seq": 1, "kind": "receive", "waybill": "W", "site": "1",
                "edge_ms": T0, "event_ms": T0}
        bad = [dict(good, id="b", seq=2, kind="teleport"), dict(good, id="c", seq=3, event_ms=1000),
               dict(good, id="d", seq="x"), dict(good, id="e", seq=5, kind="dispatch"), "not an object"]
        committed, rejected = pipeline.commit([good] + bad)
        assert committed == [good]
        reasons = sorted(r for _, r in rejected)
        assert len(reasons) == 5
        assert any("unknown kind" in r for r in reasons) and any("before 2024" in r for r in reasons)
        assert any("seq must be an integer" in r for r in reasons) and any("next_site" in r for r in reasons)
        assert m.DeadLetter.select().count() == 5 and m.ScanEvent.select().count() == 1
    finally:
        database.close()
