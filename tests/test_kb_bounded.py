"""Ranking a broad query (docs/kb.md, "Broad queries"): with more hits than ``CANDIDATES``, SQLite
scores the newest hits with a query term in the title and the newest hits, and returns the best of
those; with fewer it scores every hit.  The hit set itself never changes."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from hub.kb import articles as ka
from hub.kb import search as ks
from hub.schema import connect
from hub.store.db import database


@pytest.fixture
def sqlite_kb(tmp_path):
    connect(str(tmp_path / "kb.db"), create=True)
    ks._ready.clear()
    yield
    database.close()


def candidates(hits: list[int], titled: set[int], n: int) -> set[int]:
    """The rule, written plainly: the n newest title hits and the n newest hits."""
    return set(sorted(titled, reverse=True)[:n]) | set(sorted(hits, reverse=True)[:n])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(docs=st.lists(st.tuples(st.booleans(), st.integers(0, 3), st.integers(0, 40), st.sampled_from(["faq", "system"])),
                    min_size=1, max_size=30),
       cap=st.integers(1, 8), limit=st.integers(1, 6), category=st.sampled_from([None, "faq"]))
def test_a_broad_query_ranks_the_best_of_its_candidates(sqlite_kb, monkeypatch, docs, cap, limit, category):
    monkeypatch.setattr(ks, "CANDIDATES", cap)
    with database.atomic() as tx:
        titled = set()
        for in_title, times, pad, cat in docs:
            body = "说明" + "运费" * times + "其他" * pad
            i = ka.add(cat, "运费问题" if in_title else "其他问题", body, "e")
            if in_title and category in (None, cat):
                titled.add(i)
        every = ks.hit_ids("运费", category, limit=None)          # unbounded: every hit, all scored
        hits = [i for i, _ in every]
        got = ks.hit_ids("运费", category, limit=limit)
        score = dict(every)
        assert [s for _, s in got] == sorted((s for _, s in got), reverse=True)
        assert all(abs(score[i] - s) < 1e-9 for i, s in got)             # the score it has unbounded
        pool = set(hits) if len(hits) <= cap else candidates(hits, titled, cap)
        best = sorted(pool, key=lambda i: (-score[i], i))[:limit]
        assert [i for i, _ in got] == best
        tx.rollback()


def test_few_hits_are_ranked_exactly_as_before(sqlite_kb):
    other = ka.add("faq", "其他问题", "这里也提到了运费。", "a")
    best = ka.add("faq", "运费说明", "说明。", "a")
    assert [i for i, _ in ks.hit_ids("运费", limit=20)] == [best, other]
    assert ks.hit_ids("运费", limit=20) == ks.hit_ids("运费", limit=None)
