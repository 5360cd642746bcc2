"""The scan chain verified on ingest (hub.scans.chain_check): every committed batch is checked
against the stored neighbours of its scans, in the commit's transaction, and the verdicts do not
depend on the order or the batching in which the scans arrive (docs/protocol.md, "The scan chain")."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cli
from test_chain import EPOCH, MUTATIONS, T0, make, mutate
from hub.scans import chain_check
from hub.scans.commit import commit_scans
from hub.scans.gaps import gaps, recheck
from hub.schema import connect
from hub.store.db import database

STATION = "st-100-1"


@pytest.fixture
def sqlite_store(tmp_path):
    url = str(tmp_path / "hub.db")
    connect(url, create=True)
    yield url
    database.close()


def stamped(scans):
    return [dict(s, event_ms=T0 + s["seq"], clock="trusted") for s in scans]


def arrive(scans, data):
    """Commit ``scans`` in an order and batching hypothesis draws, as reconnecting stations send them."""
    order = data.draw(st.permutations(scans), label="order")
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(order) - 1)), max_size=4), label="cuts"))
    for lo, hi in zip([0, *cuts], [*cuts, len(order)]):
        if order[lo:hi]:
            committed, rejected = commit_scans(stamped(order[lo:hi]))
            assert rejected == []


def broken() -> dict:
    return {k: v for k, v in chain_check.verdicts().get((STATION, EPOCH), {}).items() if k != chain_check.PENDING}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(3, 10), how=st.sampled_from(MUTATIONS), data=st.data())
def test_any_single_change_is_found_on_ingest_in_any_arrival_order(sqlite_store, n, how, data):
    i = data.draw(st.integers(0, n - 2), label="which")
    with database.atomic() as tx:
        arrive(mutate(make(n), how, i), data)
        assert broken(), (how, i, chain_check.verdicts())
        assert recheck() == []              # the verdicts found batch by batch are those of all the scans
        tx.rollback()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 12), data=st.data())
def test_an_intact_chain_in_any_order_gives_no_break(sqlite_store, n, data):
    with database.atomic() as tx:
        arrive(make(n), data)
        assert chain_check.verdicts() == {}
        assert chain_check.totals() == {k: 0 for k in (*chain_check.BREAKS, chain_check.PENDING)}
        tx.rollback()


def test_the_kind_of_each_break(sqlite_store):
    cases = {"alter": {"altered": [3]},
             "replay": {"replayed": [4], "altered": [5]},      # 4 is a copy of 3: 5 does not follow it
             "swap": {"reordered": [3, 4, 5]},               # 5 follows 3 (now at 4)
             "strip": {"altered": [3, 4]}}                     # no chain on 3, so 4 cannot follow it
    for how, want in cases.items():
        with database.atomic() as tx:
            commit_scans(stamped(mutate(make(6), how, 2)))
            assert broken() == want, how
            tx.rollback()
    with database.atomic() as tx:            # scan 3 removed, 4-6 renumbered 3-5
        commit_scans(stamped(mutate(make(6), "remove_and_renumber", 2)))
        assert broken() == {"missing": [3], "renumbered": [4, 5]}
        tx.rollback()


def test_a_late_predecessor_settles_what_waited_for_it(store_url):
    connect(store_url, create=True)
    scans = make(5)
    commit_scans(stamped(scans[3:]))                       # 4 and 5 first: 4 waits for 3
    assert chain_check.verdicts() == {(STATION, EPOCH): {"pending": [4]}}
    assert gaps(STATION)[0]["unverified"] == [[4, 4]]
    assert chain_check.totals()["pending"] == 1
    commit_scans(stamped(scans[:3]))
    assert chain_check.verdicts() == {}
    commit_scans(stamped(scans))                           # sent again: nothing changes
    assert chain_check.verdicts() == {} and recheck() == []


def test_a_scan_deleted_before_it_was_sent_is_a_link_of_the_chain(sqlite_store):
    scans = make(5)
    tomb = {"id": scans[2]["id"], "deleted_ms": T0, "operator": "1002", "reason": "wrong parcel",
            "uploaded": False, "scan": scans[2]}
    commit_scans(stamped(scans[3:]))
    commit_scans([], [tomb])
    commit_scans(stamped(scans[:2]))
    assert chain_check.verdicts() == {} and recheck() == []
    g = gaps(STATION)[0]
    assert g["missing"] == [] and g["deleted_unuploaded"] == 1 and g["altered"] == []


def test_gaps_status_and_recheck_commands(store_url):
    connect(store_url, create=True)
    bad = mutate(make(6), "alter", 2)
    commit_scans(stamped(bad))
    run = lambda *a: CliRunner().invoke(cli.main, [*a, "--db", store_url])  # noqa: E731
    r = run("hub", "gaps", "--json")
    assert r.exit_code == 0, r.output
    (g,) = json.loads(r.output)
    assert g["chained"] is True and g["breaks"] == {"altered": [[3, 3]]} and g["altered_count"] == 1
    assert "altered 3" in run("hub", "gaps").output
    r = run("hub", "status", "--json")
    assert json.loads(r.output)["chain"]["altered"] == 1
    assert "breaks: 1 altered" in run("hub", "status").output
    r = run("hub", "gaps", "--recheck")
    assert r.exit_code == 0 and "agree" in r.output
    database.obj.execute_sql('DELETE FROM "chain_break"')  # a store from before the check on ingest
    r = run("hub", "gaps", "--recheck", "--json")
    assert r.exit_code == 1 and json.loads(r.output)["differences"] == [
        {"station": STATION, "epoch": EPOCH, "seq": 3, "stored": None, "recomputed": "altered"}]
    assert run("hub", "gaps", "--recheck", "--repair").exit_code == 0
    assert run("hub", "gaps", "--recheck").exit_code == 0
    r = run("hub", "gaps", "--repair")
    assert r.exit_code == 2 and "--repair goes with --recheck" in r.output


HEX = st.text("0123456789abcdef", min_size=64, max_size=64)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), picks=st.lists(st.tuples(st.integers(0, 11), st.sampled_from(["e1", "e2", ""]),
                                               st.integers(1, 14), st.one_of(st.none(), HEX, st.text(max_size=64))),
                                     min_size=1, max_size=25))
def test_whatever_stations_send_the_commit_stands_and_the_verdicts_are_those_of_all_the_scans(sqlite_store, data, picks):
    """Fuzz: any chain text (or none), any seqs and epochs, duplicates, in batches in any order: the
    commit never fails on the chain, and the verdicts found batch by batch equal a recomputation."""
    base = make(12)
    scans = [dict(base[i], id=f"f{k}", epoch=ep, seq=seq, **({} if chain is None else {"chain": chain}))
             for k, (i, ep, seq, chain) in enumerate(picks)]
    with database.atomic() as tx:
        order = data.draw(st.permutations(scans))
        for lo in range(0, len(order), 4):
            commit_scans(stamped(order[lo:lo + 4]))      # a scan the schema refuses is dead-lettered
        assert recheck() == []
        tx.rollback()
