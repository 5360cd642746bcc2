"""Derivation lag (hub.scans.lag): counted from the store's dirty marks, shown by `hub status` and
`hub stations`; a property test holds the counts against a plain model over any interleaving of
commits and (partial) derivations."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import sample_store, wb
from contract.clock import now_ms
from hub.ingest import pipeline
from hub.scans.lag import derivation_lag, lag_text, underived_by_station

T = 1_800_000_000_000


def scan(i: int, waybill: str, station: str = "st-100-1", kind: str = "receive") -> dict:
    return {"id": f"s{i}", "station": station, "epoch": "e", "seq": i, "kind": kind, "waybill": waybill,
            "site": "100", "operator": "1002", "edge_ms": T + i, "event_ms": T + i, "clock": "trusted"}


def run(*args):
    import cli
    return CliRunner().invoke(cli.main, list(args), catch_exceptions=False)


@pytest.fixture
def store(tmp_path):
    from hub.store.db import database
    path = sample_store(str(tmp_path / "hub.db"))
    yield path
    database.close()


def test_lag_counts_waybills_scans_and_the_oldest_mark(store):
    assert derivation_lag() == {"waybills": 0, "scans": 0, "oldest_ms": None, "age_s": None}
    assert lag_text(derivation_lag()) == "up to date"
    now = now_ms()
    pipeline.commit([scan(1, wb(1)), scan(2, wb(2))], received_ms=now - 9000, derive=False)
    assert pipeline.commit([scan(3, wb(1))], received_ms=now - 4000, derive=False)[1] == []
    lag = derivation_lag(now=now)
    assert lag == {"waybills": 2, "scans": 3, "oldest_ms": now - 9000, "age_s": 9.0}
    assert derivation_lag(now=now, count_scans=False)["scans"] is None
    assert lag_text(lag) == "2 waybills (3 scans) behind, oldest 9.0 s"
    assert pipeline.derive_dirty(10) == 2
    assert derivation_lag(now=now)["waybills"] == 0
    # scans derived before the new mark are not counted again
    pipeline.commit([scan(4, wb(1), station="st-100-2")], received_ms=now - 1000, derive=False)
    assert derivation_lag(now=now) == {"waybills": 1, "scans": 1, "oldest_ms": now - 1000, "age_s": 1.0}
    assert underived_by_station() == {"st-100-2": 1}


def test_inline_derivation_leaves_no_lag(store):
    pipeline.commit([scan(1, wb(1))])
    assert derivation_lag()["waybills"] == 0


_EXAMPLES = [0]
ops = st.lists(st.one_of(
    st.tuples(st.just("commit"), st.lists(st.tuples(st.integers(0, 4), st.sampled_from(["a", "b"])),
                                          min_size=1, max_size=5)),
    st.tuples(st.just("derive"), st.integers(1, 5))), max_size=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=ops)
def test_lag_is_what_a_plain_model_says(store, ops):
    """Model: per waybill, the scans committed since its derived state was last brought up to
    date; derivations take the oldest marks first, ``limit`` at a time."""
    from hub.scans import tables as m
    while pipeline.derive_dirty(1000):       # what the examples before left
        pass
    base = _EXAMPLES[0] = _EXAMPLES[0] + 1000    # fresh waybills and scan ids for each example
    pending: dict[str, list[tuple[int, str]]] = {}      # waybill -> [(received, station)] not derived
    first: dict[str, int] = {}                          # waybill -> received of its mark
    n = 0
    for step, (what, arg) in enumerate(ops):
        received = T + step * 1000
        if what == "commit":
            batch = []
            for w, station in arg:
                n += 1
                batch.append(scan(base * 10 + n, wb(base + w), station=f"st-100-{1 if station == 'a' else 2}"))
                pending.setdefault(wb(base + w), []).append((received, batch[-1]["station"]))
                first.setdefault(wb(base + w), received)
            committed, rejected = pipeline.commit(batch, received_ms=received, derive=False)
            assert len(committed) == len(batch) and not rejected
        else:
            assert pipeline.derive_dirty(arg) == min(arg, len(first))
            left = {w for (w,) in m.DirtyWaybill.select(m.DirtyWaybill.waybill).tuples()}
            oldest = set(first) - left                  # ties in age: the store picks among them
            assert len(oldest) == min(arg, len(first))
            assert all(first[k] <= first[j] for k in oldest for j in left)
            for k in oldest:
                pending.pop(k, None)
                first.pop(k)
        lag = derivation_lag(now=received)
        assert lag["waybills"] == len(first)
        assert lag["scans"] == sum(len(v) for v in pending.values())
        assert lag["oldest_ms"] == (min(first.values()) if first else None)
        by_station: dict[str, int] = {}
        for v in pending.values():
            for _, s in v:
                by_station[s] = by_station.get(s, 0) + 1
        assert underived_by_station() == by_station


def test_hub_status_shows_the_lag_and_max_lag_fails(store):
    now = now_ms()
    pipeline.commit([scan(1, wb(1)), scan(2, wb(2))], received_ms=now - 60_000, derive=False)
    res = run("hub", "status", "--db", store, "--json")
    assert res.exit_code == 0, res.output
    st_ = json.loads(res.output)
    assert st_["scans"] == 2 and st_["dead_letters"] == 0
    assert st_["derivation_lag"]["waybills"] == 2 and st_["derivation_lag"]["scans"] == 2
    assert st_["derivation_lag"]["age_s"] >= 60
    assert st_["stations"]["total"] == st_["stations"]["never"] > 0
    table = run("hub", "status", "--db", store)
    assert "2 waybills (2 scans) behind" in table.output
    late = run("hub", "status", "--db", store, "--max-lag", "30")
    assert late.exit_code == 1 and "over --max-lag 30 s" in late.output
    assert run("hub", "status", "--db", store, "--max-lag", "3600").exit_code == 0
    pipeline.derive_dirty()
    assert run("hub", "status", "--db", store, "--max-lag", "0").exit_code == 0
    assert "up to date" in run("hub", "status", "--db", store).output


def test_hub_stations_shows_what_each_station_has_not_derived(store):
    pipeline.commit([scan(1, wb(1)), scan(2, wb(2), station="st-200-1")], derive=False)
    pipeline.commit([scan(3, wb(3), station="st-200-1")], derive=False)
    rows = {r["station"]: r for r in json.loads(run("hub", "stations", "--db", store, "--json").output)}
    assert rows["st-100-1"]["underived_scans"] == 1 and rows["st-200-1"]["underived_scans"] == 2
    assert all(r["underived_scans"] == 0 for k, r in rows.items() if k not in ("st-100-1", "st-200-1"))
    out = run("hub", "stations", "--db", store).output
    assert "not derived" in out and "derivation: 3 waybills (3 scans) behind" in out
