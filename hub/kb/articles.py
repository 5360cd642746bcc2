"""Articles, categories, versions and standard phrases (the write and read paths of the
knowledge base; search is ``hub.kb.search``).

Every save of an article is a version (``KbVersion``: category, title, body, tags, editor,
note, time); saving the same content again changes nothing.  Categories: the seven of the
call center (product, brand, marketing, logistics, system operation, business, FAQ), the
forwarder's own (company image, customer inquiries, carrier rate inquiries, quotes to
customers, customer retention, internal use), and any a user adds.
"""
from __future__ import annotations

import csv
import time
from pathlib import Path

import peewee

from hub.errors import HubError
from hub.kb import search
from hub.kb.tables import KbArticle, KbCategory, KbPhrase, KbVersion
from hub.store.db import database

BUILTIN_CATEGORIES = (
    ("product", "产品知识"), ("brand", "品牌知识"), ("marketing", "营销知识"), ("logistics", "物流知识"),
    ("system", "系统操作"), ("business", "业务知识"), ("faq", "常见问题 FAQ"),
    ("image", "企业形象"), ("inquiry", "客户询盘"), ("carrier-rates", "船公司询价"), ("quotes", "客户报价"),
    ("retention", "客户维持"), ("internal", "内部使用"),
)
MAX_TITLE, MAX_TAGS = 200, 400


class KbError(HubError, ValueError):
    """A knowledge-base request that cannot be done (unknown article or category, bad input)."""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def ensure_categories() -> None:
    if KbCategory.select().where(KbCategory.builtin == True).count() >= len(BUILTIN_CATEGORIES):  # noqa: E712
        return
    rows = [{"code": c, "name": n, "builtin": True, "position": i} for i, (c, n) in enumerate(BUILTIN_CATEGORIES)]
    KbCategory.insert_many(rows).on_conflict_ignore().execute()


def categories() -> list[dict]:
    ensure_categories()
    counts = {c: n for c, n in KbArticle.select(KbArticle.category, peewee.fn.COUNT(KbArticle.id))
              .where(KbArticle.archived == False).group_by(KbArticle.category).tuples()}  # noqa: E712
    return [{"code": c.code, "name": c.name, "builtin": c.builtin, "articles": counts.get(c.code, 0)}
            for c in KbCategory.select().order_by(KbCategory.position, KbCategory.code)]


def add_category(code: str, name: str) -> None:
    ensure_categories()
    code = code.strip().lower()
    if not code or len(code) > 32 or not all(c.isalnum() or c in "-_" for c in code):
        raise KbError(f"bad category code {code!r} (letters, digits, - and _, at most 32)")
    if not name.strip():
        raise KbError("a category needs a name")
    KbCategory.insert(code=code, name=name.strip(), builtin=False, position=1000).on_conflict(
        conflict_target=[KbCategory.code], update={KbCategory.name: name.strip()}).execute()


def _check(category: str, title: str, body: str, tags: str, editor: str) -> None:
    ensure_categories()
    if not KbCategory.get_or_none(KbCategory.code == category):
        known = ", ".join(c.code for c in KbCategory.select().order_by(KbCategory.position))
        raise KbError(f"unknown category {category!r} (known: {known}; add one with `scanhub kb categories --add`)")
    if not title.strip() or len(title) > MAX_TITLE:
        raise KbError(f"a title is 1-{MAX_TITLE} characters")
    if not body.strip():
        raise KbError("an article needs a body")
    if len(tags) > MAX_TAGS:
        raise KbError(f"tags are at most {MAX_TAGS} characters")
    if not editor.strip():
        raise KbError("say who edits (--editor)")


def _version(a: KbArticle, note: str, at: int) -> None:
    KbVersion.create(article=a.id, version=a.version, category=a.category, title=a.title, body=a.body,
                     tags=a.tags, editor=a.editor, note=note, at_ms=at)


def add(category: str, title: str, body: str, editor: str, tags: str = "", note: str = "created") -> int:
    """A new article (version 1); returns its id."""
    _check(category, title, body, tags, editor)
    at = now_ms()
    with database.atomic():
        a = KbArticle.create(category=category, title=title.strip(), body=body, tags=tags.strip(), version=1,
                             editor=editor.strip(), created_ms=at, updated_ms=at)
        _version(a, note, at)
        search.index_article(a)
    return a.id


def get(article_id: int) -> KbArticle:
    a = KbArticle.get_or_none(KbArticle.id == article_id)
    if a is None:
        raise KbError(f"no article {article_id}")
    return a


def edit(article_id: int, editor: str, *, title: str | None = None, body: str | None = None,
         category: str | None = None, tags: str | None = None, archived: bool | None = None,
         note: str = "") -> int | None:
    """Save a new version with the given fields changed; the new version number, or ``None``
    when nothing changed."""
    with database.atomic():
        a = get(article_id)
        new = {"title": a.title if title is None else title.strip(), "body": a.body if body is None else body,
               "category": a.category if category is None else category,
               "tags": a.tags if tags is None else tags.strip(),
               "archived": a.archived if archived is None else archived}
        if all(getattr(a, k) == v for k, v in new.items()):
            return None
        _check(new["category"], new["title"], new["body"], new["tags"], editor)
        at = now_ms()
        for k, v in new.items():
            setattr(a, k, v)
        a.version += 1
        a.editor = editor.strip()
        a.updated_ms = at
        a.save()
        _version(a, note or ("archived" if archived else "edited"), at)
        search.index_article(a)
    return a.version


def article_dict(a: KbArticle) -> dict:
    return {"id": a.id, "category": a.category, "title": a.title, "body": a.body, "tags": a.tags,
            "version": a.version, "editor": a.editor, "created_ms": a.created_ms, "updated_ms": a.updated_ms,
            "archived": a.archived}


def show(article_id: int, version: int | None = None) -> dict:
    a = get(article_id)
    if version is None or version == a.version:
        return article_dict(a)
    v = KbVersion.get_or_none((KbVersion.article == article_id) & (KbVersion.version == version))
    if v is None:
        raise KbError(f"article {article_id} has no version {version} (latest: {a.version})")
    return {"id": a.id, "category": v.category, "title": v.title, "body": v.body, "tags": v.tags,
            "version": v.version, "editor": v.editor, "created_ms": a.created_ms, "updated_ms": v.at_ms,
            "archived": False}


def listing(category: str | None = None, include_archived: bool = False) -> list[dict]:
    q = KbArticle.select().order_by(KbArticle.category, KbArticle.id)
    if category:
        q = q.where(KbArticle.category == category)
    if not include_archived:
        q = q.where(KbArticle.archived == False)  # noqa: E712
    return [{"id": a.id, "category": a.category, "title": a.title, "version": a.version, "editor": a.editor,
             "updated_ms": a.updated_ms} for a in q]


def history(article_id: int) -> list[dict]:
    """Every version, oldest first, with what changed from the one before."""
    get(article_id)
    out, prev = [], None
    for v in KbVersion.select().where(KbVersion.article == article_id).order_by(KbVersion.version):
        changed = [f for f in ("category", "title", "body", "tags") if prev is None or getattr(prev, f) != getattr(v, f)]
        out.append({"version": v.version, "editor": v.editor, "at_ms": v.at_ms, "note": v.note,
                    "changed": ", ".join(changed) if prev else "created"})
        prev = v
    return out


# --- import -----------------------------------------------------------------------------------
def _upsert(category: str, title: str, body: str, tags: str, editor: str, counts: dict) -> None:
    existing = (KbArticle.select().where((KbArticle.category == category) & (KbArticle.title == title.strip()))
                .order_by(KbArticle.id).first())
    if existing is None:
        add(category, title, body, editor, tags, note="imported")
        counts["added"] += 1
    elif edit(existing.id, editor, body=body, tags=tags, note="imported") is None:
        counts["unchanged"] += 1
    else:
        counts["updated"] += 1


def read_markdown(path: Path) -> tuple[str, str, str]:
    """(title, body, tags) of a Markdown file: the first ``# `` heading is the title (else the
    file name), a ``tags:`` line right after it gives the tags."""
    text = path.read_text(encoding="utf-8-sig")
    lines = text.splitlines()
    title, tags, start = path.stem, "", 0
    for i, line in enumerate(lines):
        if line.strip():
            if line.startswith("# "):
                title, start = line[2:].strip(), i + 1
            break
    rest = lines[start:]
    while rest and not rest[0].strip():
        rest.pop(0)
    if rest and rest[0].lower().startswith("tags:"):
        tags = rest.pop(0)[5:].strip()
    return title, "\n".join(rest).strip(), tags


def import_path(path: str, editor: str, category: str | None = None) -> dict:
    """Import a directory of Markdown files (``*.md``; a subfolder named after a category puts
    its files there, else ``category``) or a CSV file (columns ``category``, ``title``,
    ``body``, ``tags``).  An article with the same category and title is updated (a new version
    when its text changed).  Returns counts: added, updated, unchanged."""
    p = Path(path)
    counts = {"added": 0, "updated": 0, "unchanged": 0}
    ensure_categories()
    with database.atomic():
        if p.is_dir():
            files = sorted(p.rglob("*.md"))
            if not files:
                raise KbError(f"{path}: no *.md files")
            for f in files:
                sub = f.parent.relative_to(p).parts
                cat = sub[0] if sub else category
                if not cat:
                    raise KbError(f"{f}: not in a category folder and no --category given")
                try:
                    title, body, tags = read_markdown(f)
                except (OSError, UnicodeDecodeError) as e:
                    raise KbError(f"{f}: cannot read: {e}") from e
                try:
                    _upsert(cat, title, body, tags, editor, counts)
                except KbError as e:
                    raise KbError(f"{f}: {e}") from e
        elif p.is_file():
            try:
                with open(p, encoding="utf-8-sig", newline="") as fh:
                    rows = list(csv.DictReader(fh))
            except (OSError, UnicodeDecodeError, csv.Error) as e:
                raise KbError(f"{path}: cannot read CSV: {e}") from e
            for n, row in enumerate(rows, 2):
                cat = (row.get("category") or category or "").strip()
                try:
                    _upsert(cat, row.get("title") or "", row.get("body") or "", row.get("tags") or "", editor, counts)
                except KbError as e:
                    raise KbError(f"{path}:{n}: {e}") from e
        else:
            raise KbError(f"{path}: no such file or directory")
    return counts


# --- standard phrases ---------------------------------------------------------------------------
def add_phrase(scene: str, text: str, editor: str = "") -> int:
    if not scene.strip() or len(scene) > 32:
        raise KbError("a phrase needs a scene of 1-32 characters (greeting, apology, closing…)")
    if not text.strip():
        raise KbError("a phrase needs text")
    return KbPhrase.create(scene=scene.strip(), text=text.strip(), editor=editor, updated_ms=now_ms()).id


def phrases(scene: str | None = None) -> list[dict]:
    q = KbPhrase.select().order_by(KbPhrase.scene, KbPhrase.id)
    if scene:
        q = q.where(KbPhrase.scene == scene)
    return [{"id": p.id, "scene": p.scene, "text": p.text} for p in q]


def remove_phrase(phrase_id: int) -> None:
    if not KbPhrase.delete().where(KbPhrase.id == phrase_id).execute():
        raise KbError(f"no phrase {phrase_id}")
