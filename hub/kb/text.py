"""Segmenting Chinese (and mixed) text for search, pure.

* :func:`units` — the text as search units: every CJK character alone, every run of other
  letters and digits as one lower-case word (NFKC first; punctuation and spaces separate).
  A query term matches a field when its units appear there consecutively: so one- and
  two-character Chinese terms match anywhere inside longer words, Latin words match whole.
* :func:`words` — jieba's search segmentation (``cut_for_search``, dictionary words only: no HMM guessing, which costs most of the indexing time), for ranking.
* :func:`query_terms` — what the user typed: split on spaces, each piece cut by jieba into
  words, so ``运费怎么算`` asks for 运费, 怎么 and 算 (all of them).
"""
from __future__ import annotations

import logging
import threading
import unicodedata

_jieba_lock = threading.Lock()
_jieba = None


def _cutter():
    global _jieba
    with _jieba_lock:
        if _jieba is None:
            import jieba
            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()
            _jieba = jieba
    return _jieba


def is_cjk(c: str) -> bool:
    o = ord(c)
    return (0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0x20000 <= o <= 0x2FA1F or 0xF900 <= o <= 0xFAFF
            or 0x3040 <= o <= 0x30FF or 0xAC00 <= o <= 0xD7AF)


def units(text: str) -> list[str]:
    out, word = [], []
    for c in unicodedata.normalize("NFKC", text).lower():
        if is_cjk(c):
            if word:
                out.append("".join(word))
                word = []
            out.append(c)
        elif c.isalnum() and c.isascii():
            word.append(c)
        elif c.isalnum() and unicodedata.category(c)[0] in "LN":
            word.append(c)
        else:
            if word:
                out.append("".join(word))
                word = []
    if word:
        out.append("".join(word))
    return out


def grams_text(text: str) -> str:
    """``units`` joined by spaces, with a space at each end (so ``LIKE '% 运 费 %'`` is exact)."""
    u = units(text)
    return f" {' '.join(u)} " if u else " "


def _segments(us: list[str]) -> list[tuple[bool, str]]:
    """Units grouped: (True, a run of CJK characters) or (False, one other word)."""
    out: list[tuple[bool, str]] = []
    for u in us:
        cjk = len(u) == 1 and is_cjk(u)
        if cjk and out and out[-1][0]:
            out[-1] = (True, out[-1][1] + u)
        else:
            out.append((cjk, u))
    return out


def bigram_text(text: str) -> str:
    """The units as FTS5 tokens: each run of CJK characters as its overlapping pairs and its last
    character alone (one token per character position), other words as they are."""
    toks = []
    for cjk, s in _segments(units(text)):
        toks += [s[i:i + 2] for i in range(len(s) - 1)] + [s[-1]] if cjk else [s]
    return " ".join(toks)


def bigram_phrase(term: list[str]) -> tuple[list[str], bool]:
    """The FTS5 phrase that finds ``term`` (a list of units) in :func:`bigram_text`: its tokens,
    and whether the last one is a prefix.  A run that ends inside the term ends in the text too
    (its last character alone); a run at the term's end may go on in the text (pairs only, or a
    single character as a prefix of whatever token starts with it)."""
    segs = _segments(term)
    toks, prefix = [], False
    for i, (cjk, s) in enumerate(segs):
        last = i == len(segs) - 1
        if not cjk:
            toks.append(s)
        elif len(s) == 1 and last:
            toks.append(s)
            prefix = True
        else:
            toks += [s[j:j + 2] for j in range(len(s) - 1)]
            if not last:
                toks.append(s[-1])
    return toks, prefix


def words(text: str) -> list[str]:
    """jieba's words of ``text`` (search mode), each normalised to its units joined."""
    out = []
    for w in _cutter().cut_for_search(text, HMM=False):
        u = units(w)
        if u:
            out.append("".join(u))
    return out


def query_terms(query: str) -> list[list[str]]:
    """The query as terms, each a list of units; duplicates dropped, order kept."""
    seen, out = set(), []
    for piece in query.split():
        for w in _cutter().cut(piece):
            u = units(w)
            key = " ".join(u)
            if u and key not in seen:
                seen.add(key)
                out.append(u)
    return out


def snippet(text: str, terms: list[list[str]], width: int = 60, mark: tuple[str, str] = ("【", "】")) -> str:
    """A window of ``text`` around the first term found, every term found marked."""
    lowered = unicodedata.normalize("NFKC", text).lower()
    if len(lowered) != len(text):       # NFKC changed the length: find on the plain lower case
        lowered = text.lower() if len(text.lower()) == len(text) else text
    needles = sorted({"".join(t) if all(len(x) == 1 and is_cjk(x) for x in t) else " ".join(t) for t in terms}, key=len, reverse=True)
    first = min((lowered.find(n) for n in needles if lowered.find(n) >= 0), default=0)
    start = max(0, first - width // 3)
    end = min(len(text), start + width)
    piece, low = text[start:end], lowered[start:end]
    spans = []
    for n in needles:
        i = low.find(n)
        while n and i >= 0:
            if not any(a < i + len(n) and i < b for a, b in spans):
                spans.append((i, i + len(n)))
            i = low.find(n, i + len(n))
    out, pos = [], 0
    for a, b in sorted(spans):
        out += [piece[pos:a], mark[0], piece[a:b], mark[1]]
        pos = b
    out.append(piece[pos:])
    return ("…" if start else "") + "".join(out).replace("\n", " ") + ("…" if end < len(text) else "")
