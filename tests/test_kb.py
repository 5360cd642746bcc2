"""The knowledge base on the real store: versions, import, and Chinese search whose hits are the
same on SQLite and PostgreSQL (both checked against a plain-Python reference of the rule)."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st

from cli import main
from hub.kb import articles as ka
from hub.kb import search as ks
from hub.kb import text as seg
from hub.schema import connect
from hub.store.db import database

ARTICLES = [
    ("faq", "运费怎么计算", "运费按重量和距离计算，首重1公斤12元，续重每公斤2元。", "运费 价格"),
    ("logistics", "快件丢失怎么办", "如果快件丢失，请联系客服登记工单，我们将在三个工作日内答复。", ""),
    ("system", "系统登录 Login", "使用工号和密码登录系统，忘记密码请联系管理员。", ""),
    ("business", "代收货款结算", "代收货款在签收后三个工作日内结算到寄件人账户。", "COD"),
    ("faq", "物流信息查询", "输入运单号即可查询物流信息，也可以拨打客服电话。", ""),
]


def fill():
    return [ka.add(c, t, b, "王芳", tags) for c, t, b, tags in ARTICLES]


def reference_hits(query: str, docs: dict[int, tuple[str, str]]) -> set[int]:
    """The rule, written plainly: every term's units appear consecutively in the title or the body."""
    terms = seg.query_terms(query)

    def has(text, t):
        u = seg.units(text)
        return any(u[i:i + len(t)] == t for i in range(len(u) - len(t) + 1))
    return {i for i, (title, body) in docs.items() if all(has(title, t) or has(body, t) for t in terms)}


@pytest.fixture
def kb_store(store_url):
    connect(store_url, create=True)
    ks._ready.clear()
    yield store_url
    database.close()


@pytest.mark.parametrize("query,titles", [
    ("费", {"运费怎么计算"}),                                   # one character, inside a word
    ("运费", {"运费怎么计算"}),                                 # two characters
    ("丢失", {"快件丢失怎么办"}),
    ("工作日", {"快件丢失怎么办", "代收货款结算"}),              # three
    ("物流信息", {"物流信息查询"}),
    ("运费怎么算", {"运费怎么计算"}),                           # a sentence: every word must appear
    ("login", {"系统登录 Login"}),                             # Latin, any case
    ("cod 结算", {"代收货款结算"}),                             # tags count as body
    ("客服 电话", {"物流信息查询"}),
    ("赔偿", set()),
])
def test_chinese_queries_of_one_two_and_more_characters(kb_store, query, titles):
    fill()
    assert {h["title"] for h in ks.search(query)} == titles


def test_snippets_mark_the_terms_in_the_original_text(kb_store):
    fill()
    (hit,) = ks.search("丢失")
    assert hit["snippet"] == "如果快件【丢失】，请联系客服登记工单，我们将在三个工作日内答复。"


def test_a_title_hit_ranks_before_a_body_hit(kb_store):
    ka.add("faq", "其他问题", "这里也提到了运费。", "a")
    best = ka.add("faq", "运费说明", "说明。", "a")
    assert ks.search("运费")[0]["id"] == best


def test_versions_record_who_changed_what_and_search_follows_the_latest(kb_store):
    a = ka.add("faq", "运费怎么计算", "运费按重量计算。", "王芳")
    assert ka.edit(a, "王芳", body="运费按重量计算。") is None            # same content: no version
    assert ka.edit(a, "李明", body="资费按体积计算。", note="new rates") == 2
    assert ks.search("体积")[0]["id"] == a and ks.search("重量") == []
    assert ka.show(a, version=1)["body"] == "运费按重量计算。"
    assert [(h["version"], h["editor"], h["changed"]) for h in ka.history(a)] == [(1, "王芳", "created"), (2, "李明", "body")]
    ka.edit(a, "李明", archived=True)
    assert ks.search("体积") == [] and ka.listing() == []


def test_bad_input_is_one_clear_error(kb_store):
    with pytest.raises(ka.KbError, match="unknown category"):
        ka.add("nope", "t", "b", "e")
    with pytest.raises(ka.KbError, match="no article 99"):
        ka.edit(99, "e", body="x")
    with pytest.raises(ks.SearchError, match="nothing to search"):
        ks.search(" ，。 ")


CJK = "运费快件丢失物流信息查询签收工作日客服"
TEXT = st.text(st.sampled_from(CJK + "ab1 ，"), min_size=1, max_size=30)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(docs=st.lists(st.tuples(TEXT, TEXT), min_size=1, max_size=8),
       queries=st.lists(st.text(st.sampled_from(CJK + "ab1 "), min_size=1, max_size=6)
                        .filter(lambda q: seg.query_terms(q)), min_size=1, max_size=5))
def test_hits_are_the_rules_on_this_backend(kb_store, docs, queries):
    with database.atomic() as tx:
        ids = {ka.add("faq", title.strip() or "题", body.strip() or "文", "e"): None for title, body in docs}
        stored = {a.id: (a.title, f"{a.body}\n{a.tags}") for a in ka.KbArticle.select().where(ka.KbArticle.id.in_(list(ids)))}
        for q in queries:
            assert {i for i, _ in ks.hit_ids(q, limit=None)} == reference_hits(q, stored), q
        tx.rollback()


def test_both_backends_return_the_same_hit_sets(tmp_path, pg_url):
    queries = ["费", "运费", "工作日", "运费怎么算", "login", "客服 电话", "三个", "信息", "赔偿", "cod"]
    extra = [("faq", f"问题{i}", f"第{i}条：{ARTICLES[i % 5][2]}", "") for i in range(30)]
    hits = {}
    for url in (str(tmp_path / "kb.db"), pg_url):
        connect(url, create=True)
        ks._ready.clear()
        for c, t, b, tags in ARTICLES + extra:
            ka.add(c, t, b, "e", tags)
        hits[url] = {q: {i for i, _ in ks.hit_ids(q, limit=None)} for q in queries}
        database.close()
    a, b = hits.values()
    assert a == b and any(a.values())


def test_the_commands(tmp_path):
    db = str(tmp_path / "hub.db")
    r = CliRunner()
    assert r.invoke(main, ["hub", "init", "--db", db]).exit_code == 0
    folder = tmp_path / "kb" / "faq"
    folder.mkdir(parents=True)
    (folder / "fee.md").write_text("# 运费怎么计算\ntags: 价格\n\n运费按重量计算。\n", encoding="utf-8")
    (tmp_path / "kb" / "other.md").write_text("# 营业时间\n每天八点到二十点。\n", encoding="utf-8")
    res = r.invoke(main, ["kb", "import", str(tmp_path / "kb"), "--editor", "王芳", "--category", "business", "--db", db, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output) == {"added": 2, "updated": 0, "unchanged": 0}
    res = r.invoke(main, ["kb", "import", str(tmp_path / "kb"), "--editor", "王芳", "--category", "business", "--db", db, "--json"])
    assert json.loads(res.output)["unchanged"] == 2
    csv_path = tmp_path / "a.csv"
    csv_path.write_text("category,title,body,tags\nlogistics,快件丢失,请登记工单,丢件\n", encoding="utf-8")
    assert r.invoke(main, ["kb", "import", str(csv_path), "--editor", "e", "--db", db]).exit_code == 0
    res = r.invoke(main, ["kb", "search", "价格", "--db", db, "--json"])
    assert [h["title"] for h in json.loads(res.output)] == ["运费怎么计算"]
    res = r.invoke(main, ["kb", "edit", "1", "--editor", "李明", "--body", "运费按体积计算。", "--db", db])
    assert res.exit_code == 0 and "version 2" in res.output
    res = r.invoke(main, ["kb", "show", "1", "--version", "1", "--db", db, "--json"])
    assert json.loads(res.output)["body"] == "运费按重量计算。"
    res = r.invoke(main, ["kb", "history", "1", "--db", db, "--format", "csv"])
    assert "李明" in res.output
    res = r.invoke(main, ["kb", "list", "--category", "business", "--db", db, "--json"])
    assert [a["title"] for a in json.loads(res.output)] == ["营业时间"]
    res = r.invoke(main, ["kb", "phrases", "--add", "greeting", "您好，很高兴为您服务。", "--db", db, "--json"])
    assert json.loads(res.output)[0]["text"] == "您好，很高兴为您服务。"
    res = r.invoke(main, ["kb", "categories", "--add", "ports", "港口资料", "--db", db, "--json"])
    assert "ports" in {c["code"] for c in json.loads(res.output)}
    res = r.invoke(main, ["kb", "reindex", "--db", db, "--json"])
    assert json.loads(res.output) == {"articles": 3}
    assert [h["title"] for h in json.loads(r.invoke(main, ["kb", "search", "体积", "--db", db, "--json"]).output)] == ["运费怎么计算"]
    res = r.invoke(main, ["kb", "add", "--category", "nope", "--title", "t", "--body", "b", "--editor", "e", "--db", db])
    assert res.exit_code == 1 and "unknown category" in res.output


@pytest.fixture
def filled(tmp_path):
    """One SQLite store with the articles, shared by every example of a property test."""
    connect(str(tmp_path / "hub.db"), create=True)
    ks._ready.clear()
    fill()
    yield
    database.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=st.text(max_size=20))
def test_any_query_gives_hits_or_one_clear_error(filled, q):
    try:
        hits = ks.search(q)
    except ks.SearchError:
        assert not seg.query_terms(q)
        return
    assert all(h["title"] for h in hits)


def test_bad_imports_name_the_file_and_keep_nothing(tmp_path, kb_store):
    folder = tmp_path / "kb"
    (folder / "faq").mkdir(parents=True)
    (folder / "faq" / "a.md").write_text("# 好\n正文\n", encoding="utf-8")
    (folder / "nope").mkdir()
    (folder / "nope" / "b.md").write_text("# 坏\n正文\n", encoding="utf-8")
    with pytest.raises(ka.KbError, match=r"b\.md: unknown category 'nope'"):
        ka.import_path(str(folder), "e")
    assert ka.listing() == []
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"category,title,body\nfaq,\xff\xfe,x\n")
    with pytest.raises(ka.KbError, match="cannot read CSV"):
        ka.import_path(str(bad), "e")
    (tmp_path / "empty.csv").write_text("category,title,body\nfaq,,x\n", encoding="utf-8")
    with pytest.raises(ka.KbError, match=r"empty\.csv:2: a title"):
        ka.import_path(str(tmp_path / "empty.csv"), "e")
