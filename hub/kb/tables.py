"""The knowledge base's tables.  The search index (``KbIndex``) holds each article's segmented
text; on SQLite an FTS5 table over it and on PostgreSQL its GIN indexes are made by
``hub.kb.search.ensure_index`` (idempotent, on first use)."""
from __future__ import annotations

import peewee as pw

from hub.store.db import Base


class KbCategory(Base):
    code = pw.CharField(primary_key=True, max_length=32)
    name = pw.CharField(max_length=64)
    builtin = pw.BooleanField(default=False)
    position = pw.IntegerField(default=100)


class KbArticle(Base):
    id = pw.AutoField()
    category = pw.CharField(max_length=32, index=True)
    title = pw.CharField(max_length=200)
    body = pw.TextField()
    tags = pw.CharField(max_length=400, default="")
    version = pw.IntegerField(default=1)
    editor = pw.CharField(max_length=64)
    created_ms = pw.BigIntegerField()
    updated_ms = pw.BigIntegerField()
    archived = pw.BooleanField(default=False)


class KbVersion(Base):
    """Every saved state of an article, the first included: who changed what, when."""
    id = pw.AutoField()
    article = pw.IntegerField(index=True)
    version = pw.IntegerField()
    category = pw.CharField(max_length=32)
    title = pw.CharField(max_length=200)
    body = pw.TextField()
    tags = pw.CharField(max_length=400, default="")
    editor = pw.CharField(max_length=64)
    note = pw.CharField(max_length=200, default="")
    at_ms = pw.BigIntegerField()

    class Meta:
        indexes = ((("article", "version"), True),)


class KbIndex(Base):
    """The segmented text of a live article: ``*_grams`` one unit per CJK character or Latin
    word, space separated with a space at both ends (substring search); ``words`` jieba's
    words (ranking)."""
    article = pw.IntegerField(primary_key=True)
    title_grams = pw.TextField()
    body_grams = pw.TextField()
    words = pw.TextField()


class KbPhrase(Base):
    """A standard phrase agents say or paste (greeting, apology, closing…)."""
    id = pw.AutoField()
    scene = pw.CharField(max_length=32, index=True)
    text = pw.TextField()
    editor = pw.CharField(max_length=64, default="")
    updated_ms = pw.BigIntegerField()


TABLES = (KbCategory, KbArticle, KbVersion, KbIndex, KbPhrase)
