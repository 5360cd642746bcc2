"""``scanhub kb``: the knowledge base — articles, versions, search, standard phrases."""
from __future__ import annotations

import sys

import click

from hub.cli.common import db_option, done, echo_json, emit, format_option, json_option, utc_option, with_store


@click.group("kb")
def kb():
    """The knowledge base agents answer from: articles in categories, versions, Chinese search.

    \b
    Examples:
      scanhub kb add --category faq --title 运费怎么计算 --editor 王芳 --body "运费按重量计算…"
      scanhub kb search 运费                   one- and two-character words match too
      scanhub kb search "丢失 赔偿" --category logistics --json
      scanhub kb edit 12 --editor 李明 --body-file answer.md --note "new rates"
      scanhub kb history 12
      scanhub kb import ./kb-folder --editor 王芳       (Markdown files, or a CSV file)
      scanhub kb phrases --add greeting "您好，很高兴为您服务。"
    """


def _body(body, body_file):
    if body is not None and body_file is not None:
        raise click.UsageError("give --body or --body-file, not both")
    if body_file is None:
        return body
    try:
        return sys.stdin.read() if body_file == "-" else open(body_file, encoding="utf-8").read()
    except (OSError, UnicodeDecodeError) as e:
        raise click.ClickException(f"{body_file}: cannot read: {e}") from e


@kb.command("add")
@click.option("--category", required=True, help="Category code (see `scanhub kb categories`).")
@click.option("--title", required=True, help="The article's title.")
@click.option("--body", help="The article's text.")
@click.option("--body-file", type=click.Path(dir_okay=False, allow_dash=True), help="Read the text from a file ('-' = stdin).")
@click.option("--tags", default="", help="Extra words to find it by, space separated.")
@click.option("--editor", required=True, help="Who writes it (kept in its history).")
@json_option
@db_option
@with_store
def kb_add(category, title, body, body_file, tags, editor, fmt):
    """Add an article (its version 1)."""
    from hub.kb import articles
    text = _body(body, body_file)
    if text is None:
        raise click.UsageError("give the text with --body or --body-file")
    n = articles.add(category, title, text, editor, tags)
    done({"id": n, "version": 1}, f"article {n} added", fmt)


@kb.command("edit")
@click.argument("article_id", type=int)
@click.option("--editor", required=True, help="Who changes it (kept in its history).")
@click.option("--title", help="A new title.")
@click.option("--body", help="A new text.")
@click.option("--body-file", type=click.Path(dir_okay=False, allow_dash=True), help="Read the new text from a file ('-' = stdin).")
@click.option("--category", help="Move it to this category.")
@click.option("--tags", help="New tags.")
@click.option("--archive/--restore", default=None, help="Take it out of search (kept, with its history), or put it back.")
@click.option("--note", default="", help="What changed and why, for the history.")
@json_option
@db_option
@with_store
def kb_edit(article_id, editor, title, body, body_file, category, tags, archive, note, fmt):
    """Save a new version of ARTICLE_ID with the given fields changed (same content: no version)."""
    from hub.kb import articles
    v = articles.edit(article_id, editor, title=title, body=_body(body, body_file), category=category, tags=tags,
                      archived=archive, note=note)
    done({"id": article_id, "version": v, "changed": v is not None},
         f"article {article_id}: version {v}" if v else f"article {article_id}: nothing changed", fmt)


@kb.command("show")
@click.argument("article_id", type=int)
@click.option("--version", type=int, help="An earlier version (default: the latest).")
@json_option
@utc_option
@db_option
@with_store
def kb_show(article_id, version, fmt):
    """Print an article (or one of its versions)."""
    from hub.business.localtime import format_ms
    from hub.kb import articles
    a = articles.show(article_id, version)
    if fmt == "json":
        echo_json(a)
        return
    click.echo(f"# {a['title']}\n[{a['category']}] version {a['version']} by {a['editor']}, "
               f"{format_ms(a['updated_ms'])}" + (" (archived)" if a["archived"] else "")
               + (f"\ntags: {a['tags']}" if a["tags"] else "") + f"\n\n{a['body']}")


@kb.command("list")
@click.option("--category", help="Only this category.")
@click.option("--archived", is_flag=True, help="Include archived articles.")
@format_option
@utc_option
@db_option
@with_store
def kb_list(category, archived, fmt):
    """Articles: id, category, title, version, last editor."""
    from hub.kb import articles
    emit(articles.listing(category, archived), fmt, "knowledge base" + (f": {category}" if category else ""))


@kb.command("history")
@click.argument("article_id", type=int)
@format_option
@utc_option
@db_option
@with_store
def kb_history(article_id, fmt):
    """Every version of ARTICLE_ID: who, when, what changed."""
    from hub.kb import articles
    emit(articles.history(article_id), fmt, f"article {article_id}: history", totals=False)


@kb.command("search")
@click.argument("query")
@click.option("--category", help="Only this category.")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True, help="At most this many hits.")
@format_option
@db_option
@with_store
def kb_search(query, category, limit, fmt):
    """Find articles: every word of QUERY must appear (a sentence is cut into words by jieba);
    Chinese words of one or two characters match inside longer ones.  Best first, with a snippet."""
    from hub.kb import search
    emit(search.search(query, category, limit), fmt, f"search: {query}", columns=["id", "category", "title", "snippet"],
         totals=False)


@kb.command("categories")
@click.option("--add", "add", nargs=2, metavar="CODE NAME", help="Add a category (or rename one): its code and name.")
@format_option
@db_option
@with_store
def kb_categories(add, fmt):
    """The categories (the built-in ones and your own) with their article counts."""
    from hub.kb import articles
    if add:
        articles.add_category(*add)
    emit(articles.categories(), fmt, "knowledge base categories", totals=False)


@kb.command("phrases")
@click.option("--scene", help="Only this scene (greeting, apology, closing…).")
@click.option("--add", "add", nargs=2, metavar="SCENE TEXT", help="Add a phrase for SCENE.")
@click.option("--remove", type=int, metavar="ID", help="Remove the phrase with this id.")
@click.option("--editor", default="", help="Who adds it.")
@format_option
@db_option
@with_store
def kb_phrases(scene, add, remove, editor, fmt):
    """Standard phrases agents say or paste, by scene."""
    from hub.kb import articles
    if add:
        articles.add_phrase(add[0], add[1], editor)
    if remove is not None:
        articles.remove_phrase(remove)
    emit(articles.phrases(scene), fmt, "standard phrases", totals=False)


@kb.command("import")
@click.argument("path", type=click.Path(exists=True))
@click.option("--editor", required=True, help="Who imports (kept in each article's history).")
@click.option("--category", help="Category of Markdown files outside a category folder, or of CSV rows without one.")
@json_option
@db_option
@with_store
def kb_import(path, editor, category, fmt):
    """Import a folder of Markdown files or a CSV file; same category and title = an update.

    Markdown: the first '# ' heading is the title (else the file name), an optional 'tags:'
    line after it, the rest is the body; files in a folder named after a category go there.
    CSV: columns category, title, body, tags."""
    from hub.kb import articles
    c = articles.import_path(path, editor, category)
    done(c, f"added {c['added']}, updated {c['updated']}, unchanged {c['unchanged']}", fmt)


@kb.command("reindex")
@json_option
@db_option
@with_store
def kb_reindex(fmt):
    """Rebuild the search index from the articles (after upgrading jieba or its dictionary)."""
    from hub.kb import search
    n = search.rebuild()
    done({"articles": n}, f"{n} article(s) reindexed", fmt)
