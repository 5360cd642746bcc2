"""``ledger.reconcile_many`` (the fee step of the set-based derivation) books exactly what one
``ledger.reconcile`` per source books, in the same order, on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.business import ledger
from hub.business import tables as bm
from test_hub_reference import wipe

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
ACCOUNTS = ["site:100", "site:200", "site:900", "courier:1001", "cod:100"]


@pytest.fixture
def store(model_store):
    from hub.schema import connect
    connect(model_store)
    return model_store


@st.composite
def lines(draw):
    if draw(st.booleans()):
        return None                                             # the fee's inputs are gone
    accs = draw(st.lists(st.sampled_from(ACCOUNTS), min_size=2, max_size=3, unique=True))
    amounts = [draw(st.integers(-500, 500)) for _ in accs[:-1]]
    return dict(zip(accs, amounts + [-sum(amounts)]))


rounds = st.lists(st.dictionaries(st.integers(0, 4), lines(), max_size=5), min_size=1, max_size=6)


def journal(prefix: str) -> dict:
    E = bm.JournalEntry
    out = {}
    for e in E.select().where(E.source.startswith(prefix)).order_by(E.id):
        out.setdefault(e.source[len(prefix):], []).append(
            (e.rev, e.action, e.purpose, e.memo, e.waybill, e.value_ms, sorted((p.account, p.amount_cents) for p in e.postings)))
    return out


@settings(max_examples=20, **SETTINGS)
@given(rounds=rounds)
def test_reconcile_many_books_what_reconcile_books(store, rounds):
    wipe([bm.JournalEntry, bm.Posting])
    for r in rounds:
        items = [{"source": f"bulk:{src}", "lines": want, "purpose": "fee", "memo": f"m{src}",
                  "waybill": f"w{src}", "value_ms": 1000 + src} for src, want in sorted(r.items())]
        touched = ledger.reconcile_many(items)
        changed = set()
        for it in items:
            before = ledger.active_lines(f"one:{it['source'][5:]}")
            if ledger.reconcile(f"one:{it['source'][5:]}", it["lines"], purpose="fee", memo=it["memo"],
                                waybill=it["waybill"], value_ms=it["value_ms"]):
                changed |= set(before) | set(ledger.normalise(it["lines"] or {}))
        assert touched == changed
    assert journal("bulk:") == journal("one:")
    for src in {s for r in rounds for s in r}:
        assert ledger.active_lines(f"bulk:{src}") == ledger.active_lines(f"one:{src}")
    assert ledger.total() == 0
