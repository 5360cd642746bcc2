"""Full-text search of the knowledge base, the same hits on SQLite and PostgreSQL.

A query is cut into terms (``hub.kb.text.query_terms``); an article is a hit when *every* term's
units appear consecutively in its title or its body (tags count as body).  The two backends
find that set from the same segmented text (``KbIndex``) and differ only in how they rank it:

* **SQLite**: an FTS5 table ``kb_fts`` (``unicode61``, a one-character prefix index) over the
  segmented text written as overlapping character pairs (``text.bigram_text``: 物流信息 is
  物流 流信 信息 息), so a term is a phrase of pairs (short posting lists) and a one-character
  term a prefix query (``text.bigram_phrase``); ranked by ``bm25`` (title weighted 4, body 1,
  and jieba's words of the query matched against the article's words, weight 2).
* **PostgreSQL**: ``LIKE '% 运 费 %'`` on the segmented columns, served by ``pg_trgm`` GIN
  indexes, ranked by ``ts_rank`` of a ``tsvector`` over jieba's words plus a bonus per term in
  the title.

Snippets are cut from the original text around the first term found, the terms marked
``【…】``, by one function for both backends (FTS5's ``highlight()`` would work on the
segmented tokens, which overlap and lose the original spacing).
"""
from __future__ import annotations

import peewee

from hub.errors import HubError
from hub.kb import text as seg
from hub.kb.tables import KbArticle, KbIndex
from hub.store.db import database

_ready: set[int] = set()


class SearchError(HubError):
    """A query with nothing to search for, or a store that cannot hold the index."""


def is_postgres() -> bool:
    return isinstance(database.obj, peewee.PostgresqlDatabase)


def ensure_index(force: bool = False) -> None:
    """Make the backend's full-text structures (idempotent; writes always check, searches once
    per connection)."""
    db = database.obj
    if id(db) in _ready and not force:
        return
    if is_postgres():
        try:
            with db.atomic():
                db.execute_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
                for col in ("title_grams", "body_grams"):
                    db.execute_sql(f'CREATE INDEX IF NOT EXISTS "kbindex_{col}_trgm" ON "kbindex" '
                                   f'USING gin ("{col}" gin_trgm_ops)')
                db.execute_sql('CREATE INDEX IF NOT EXISTS "kbindex_words_tsv" ON "kbindex" '
                               "USING gin (to_tsvector('simple', \"words\"))")
        except peewee.DatabaseError as e:
            raise SearchError(f"cannot make the knowledge base's search index (pg_trgm): {e}".strip()) from e
    else:
        db.execute_sql("CREATE VIRTUAL TABLE IF NOT EXISTS kb_fts USING fts5(title_bi, body_bi, words, "
                       "tokenize = 'unicode61 remove_diacritics 0', prefix = '1')")
    _ready.add(id(db))


def index_article(a: KbArticle) -> None:
    """(Re)index one article; an archived one leaves the index."""
    ensure_index(force=True)
    _index(a)


def _index(a: KbArticle) -> None:
    unindex(a.id)
    if a.archived:
        return
    title, body = seg.grams_text(a.title), seg.grams_text(f"{a.body}\n{a.tags}")
    words = " ".join(seg.words(f"{a.title} {a.body} {a.tags}"))
    KbIndex.insert(article=a.id, title_grams=title, body_grams=body, words=words).execute()
    if not is_postgres():
        database.obj.execute_sql("INSERT INTO kb_fts(rowid, title_bi, body_bi, words) VALUES (?, ?, ?, ?)",
                                 (a.id, seg.bigram_text(a.title), seg.bigram_text(f"{a.body}\n{a.tags}"), words))


def unindex(article_id: int) -> None:
    KbIndex.delete().where(KbIndex.article == article_id).execute()
    if not is_postgres():
        database.obj.execute_sql("DELETE FROM kb_fts WHERE rowid = ?", (article_id,))


def rebuild() -> int:
    """Reindex every live article (after an upgrade of the segmenter); returns how many."""
    ensure_index(force=True)
    with database.atomic():
        KbIndex.delete().execute()
        if not is_postgres():
            database.obj.execute_sql("DELETE FROM kb_fts")
        n = 0
        for a in KbArticle.select().where(KbArticle.archived == False):  # noqa: E712
            _index(a)
            n += 1
    return n


def _phrase(term: list[str]) -> str:
    toks, prefix = seg.bigram_phrase(term)
    return f'"{" ".join(toks)}"' + (" *" if prefix else "")


def _need(terms: list[list[str]]) -> str:
    """The FTS5 expression of the hits: every term in the title or the body."""
    return " AND ".join(f"{{title_bi body_bi}} : {_phrase(t)}" for t in terms)


def _fts_expr(terms: list[list[str]]) -> str:
    """The hits (``_need``) with jieba's words of the query as extra phrases for ``bm25``."""
    need = _need(terms)
    ranked = [f'words : "{"".join(t)}"' for t in terms if len(t) > 1 or not seg.is_cjk(t[0][0])]
    if not ranked:
        return need
    return f"({need}) AND ({need} OR {' OR '.join(ranked)})"


def hit_ids(query: str, category: str | None = None, limit: int | None = 20) -> list[tuple[int, float]]:
    """(article id, score) of the hits, best first (scores compare within one backend only)."""
    terms = seg.query_terms(query)
    if not terms:
        raise SearchError(f"nothing to search for in {query!r} (type words or characters)")
    ensure_index()
    db = database.obj
    lim = "" if limit is None else f" LIMIT {int(limit)}"
    if is_postgres():
        conds, params = [], []
        for t in terms:
            pat = f"% {' '.join(t)} %"
            conds.append('(i."title_grams" LIKE %s OR i."body_grams" LIKE %s)')
            params += [pat, pat]
        tsq = " | ".join(f"'{''.join(t)}'" for t in terms)
        bonus = " + ".join('(CASE WHEN i."title_grams" LIKE %s THEN 1.0 ELSE 0 END)' for _ in terms)
        bonus_params = [f"% {' '.join(t)} %" for t in terms]
        cat = ' AND a."category" = %s' if category else ""
        sql = (f"SELECT i.\"article\", ts_rank(to_tsvector('simple', i.\"words\"), to_tsquery('simple', %s)) + {bonus} "
               f'AS score FROM "kbindex" i JOIN "kbarticle" a ON a."id" = i."article" '
               f"WHERE {' AND '.join(conds)}{cat} ORDER BY score DESC, i.\"article\"{lim}")
        rows = db.execute_sql(sql, [tsq, *bonus_params, *params, *([category] if category else [])]).fetchall()
        return [(r[0], float(r[1])) for r in rows]
    return _sqlite_hits(terms, category, limit)


#: Above this many hits a ranked search scores a bounded candidate set (``_sqlite_hits``).
CANDIDATES = 1000
_SCORE = "bm25(kb_fts, 4.0, 1.0, 2.0)"


def _sqlite_hits(terms: list[list[str]], category: str | None, limit: int | None) -> list[tuple[int, float]]:
    """The SQLite ranking.  ``bm25`` costs about a microsecond per hit, so a broad query (费 hits
    most of a large knowledge base) cannot score them all within an agent's patience: with a
    ``limit`` and more than ``CANDIDATES`` hits (in the category, when one is asked for), only the
    ``CANDIDATES`` newest hits with a query term in their title and the ``CANDIDATES`` newest hits
    are scored (the same ``bm25`` of the same expression, so a
    candidate's score is what it would have been), and the best ``limit`` of those are returned.
    Walking the hits is cheap, and the walk that scores starts at the oldest candidate (FTS5 seeks
    to a rowid), so it passes over the older hits not at all."""
    db = database.obj
    expr = _fts_expr(terms)
    cat_join = ' JOIN "kbarticle" a ON a."id" = f.rowid AND a."category" = ?' if category else ""
    cat = [category] if category else []
    order = f" ORDER BY score, f.rowid{'' if limit is None else f' LIMIT {int(limit)}'}"
    newest = None
    if limit is not None:
        need = _need(terms)
        row = db.execute_sql(f"SELECT f.rowid FROM kb_fts f{cat_join} WHERE kb_fts MATCH ? "
                             f"ORDER BY f.rowid DESC LIMIT 1 OFFSET {CANDIDATES}", [*cat, need]).fetchone()
        newest = None if row is None else row[0]
    if newest is None:                   # few enough hits: score them all
        sql = f"SELECT f.rowid, {_SCORE} AS score FROM kb_fts f{cat_join} WHERE kb_fts MATCH ?{order}"
        rows = db.execute_sql(sql, [*cat, expr]).fetchall()
    else:
        title_any = " OR ".join(f"{{title_bi}} : {_phrase(t)}" for t in terms)
        sql = (f"WITH cand(id) AS MATERIALIZED (SELECT * FROM (SELECT f.rowid FROM kb_fts f{cat_join} "
               f"WHERE kb_fts MATCH ? ORDER BY f.rowid DESC LIMIT {CANDIDATES}) UNION "
               f"SELECT f.rowid FROM kb_fts f{cat_join} WHERE kb_fts MATCH ? AND f.rowid > ?) "
               f"SELECT f.rowid, {_SCORE} AS score FROM kb_fts f CROSS JOIN cand c ON c.id = f.rowid{cat_join} "
               f"WHERE kb_fts MATCH ? AND f.rowid >= (SELECT min(id) FROM cand){order}")
        rows = db.execute_sql(sql, [*cat, f"({need}) AND ({title_any})", *cat, need, newest, *cat, expr]).fetchall()
    return [(r[0], -float(r[1])) for r in rows]


def search(query: str, category: str | None = None, limit: int = 20) -> list[dict]:
    """The best ``limit`` hits: id, category, title, snippet, score."""
    hits = hit_ids(query, category, limit)
    terms = seg.query_terms(query)
    arts = {a.id: a for a in KbArticle.select().where(KbArticle.id.in_([h for h, _ in hits]))} if hits else {}
    return [{"id": i, "category": arts[i].category, "title": arts[i].title,
             "snippet": seg.snippet(arts[i].body, terms), "score": round(s, 4)} for i, s in hits if i in arts]
