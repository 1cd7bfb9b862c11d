"""A source guide per document: its main points and three questions it answers.

What a new user of a corpus lacks is a way in: what is in this document, and what can I ask?
The guide answers both. Its summary is the extractive one of ``summarize.main_points`` (the
document's own central sentences, so nothing in it is unstated). Its questions are written by
the LLM, one per main point, from that sentence alone, and kept only when they look like a
question about it (a question mark, a sensible length, a content word of the sentence, no
instructions copied from the document): a suggested question should be one the assistant can
answer, so it is made from a sentence the assistant will find.

Guides cost an LLM call per question (a few seconds each on 2 cores), so they are computed once
per document version, in the background by ``assistant serve`` or on first request, and cached
as small JSON files under ``<index_dir>/guides/`` keyed by the document's stored version: a
changed file gets a new guide, an unchanged one never costs again. The cache is local to the
machine even when the index is a Chroma server; it is derived data and safe to delete.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from pathlib import Path

from . import untrusted
from .prompts import render
from .question import lexical_terms
from .summarize import main_points

POINTS = 3
MAX_QUESTION_CHARS = 160
SUGGESTIONS = 3  # suggested questions the chat offers
MEMO_SECONDS = 30.0  # suggested_questions answers from memory this long while nothing changed
_LOCK = threading.Lock()  # one guide computed at a time: each holds the LLM for seconds
_MEMO: dict[tuple, tuple[float, list[str]]] = {}


def _cache_file(settings, source: str) -> Path:
    key = hashlib.sha1(f"{settings.collection}:{source}".encode()).hexdigest()[:20]
    return Path(settings.index_dir) / "guides" / f"{key}.json"


def cached(settings, source: str, version: str) -> dict | None:
    path = _cache_file(settings, source)
    try:
        guide = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return guide if isinstance(guide, dict) and guide.get("version") == version else None


def _question(llm, sentence: str) -> str | None:
    messages = [{"role": "system", "content": render("suggest")}, {"role": "user", "content": sentence}]
    q = " ".join(llm.complete(messages, max_tokens=48, temperature=0.0).split()).strip('"')
    q = q.split("?")[0].strip() + "?" if "?" in q else ""
    if not (12 <= len(q) <= MAX_QUESTION_CHARS) or not untrusted.keep(q):
        return None
    if not set(lexical_terms(q)) & set(lexical_terms(sentence)):
        return None  # about something else
    return q


def build(store, embedder, llm, settings, source: str) -> dict:
    """The guide of one indexed document (computed now, or read from the cache)."""
    chunks = store.chunks_of(source)
    if not chunks:
        raise KeyError(source)
    version = chunks[0].doc_hash
    with _LOCK:
        guide = cached(settings, source, version)
        if guide:
            return guide
        points = main_points(chunks, embedder, k=POINTS)
        questions = [q for q in (_question(llm, p.text) for p in points) if q]
        guide = {
            "source": source,
            "title": chunks[0].title,
            "version": version,
            "summary": [
                {"quote": p.text, "start": p.start, "end": p.end, "page": p.passage.chunk.page_at(p.start)}
                for p in points
            ],
            "questions": list(dict.fromkeys(questions)),
        }
        save(settings, guide)
        return guide


def save(settings, guide: dict) -> Path:
    """Cache a guide (``source``, ``version``, ``title``, ``summary``, ``questions``) for its document."""
    path = _cache_file(settings, guide["source"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(guide, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)  # readers never see half a file
    return path


def cached_of(store, settings, source: str) -> dict | None:
    """The guide of the indexed document ``source`` if one is cached for its current version; None
    when it is not computed yet (or was computed for an earlier version). Never an LLM call."""
    versions = {c.doc_hash for c in store.chunks_of(source)}
    if not versions:
        raise KeyError(source)
    for version in versions:  # one, except while a changed file is being re-ingested
        guide = cached(settings, source, version)
        if guide:
            return guide
    return None


def _question_key(question: str) -> str:
    """What two suggested questions must differ in: words, ignoring case, spacing and punctuation."""
    return " ".join(re.findall(r"\w+", question.casefold()))


def pick_questions(guides: list[dict], n: int = SUGGESTIONS) -> list[str]:
    """The questions the chat offers from these guides (in the given order of documents): each
    document's first question, then each one's next, and so on, so that ``n`` questions come from
    ``n`` different documents when there are that many; a question already picked (from any
    document, up to case, spacing and punctuation) is not offered twice, and the document offers its
    next one instead; blanks never."""
    queues = [
        [" ".join(q.split()) for q in g.get("questions") or [] if isinstance(q, str) and _question_key(q)]
        for g in guides
    ]
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n and any(queues):
        for queue in queues:  # one round: each document's next question not offered yet
            while queue and _question_key(queue[0]) in seen:
                queue.pop(0)
            if queue and len(out) < n:
                q = queue.pop(0)
                seen.add(_question_key(q))
                out.append(q)
    return out


def suggested_questions(store, settings, n: int = SUGGESTIONS) -> list[str]:
    """``pick_questions`` over the guides already cached for the documents' current versions (a
    stale guide's questions may not be answered any more), documents in order of their path. No LLM
    call, and cheap to ask again: the answer is remembered while the index version and the guides
    folder are unchanged (at most ``MEMO_SECONDS``), so the app can poll it."""
    folder = Path(settings.index_dir) / "guides"
    try:
        stamp = folder.stat().st_mtime_ns  # a guide written or replaced changes its folder's time
    except OSError:
        return []  # no guide computed yet
    key = (str(folder), settings.collection, store.version(), stamp, n)
    now = time.monotonic()
    hit = _MEMO.get(key)
    if hit and now - hit[0] < MEMO_SECONDS:
        return list(hit[1])
    guides = []
    for source, versions in sorted(store.doc_states().items()):
        guide = next((g for g in (cached(settings, source, v) for v in versions) if g), None)
        if guide:
            guides.append(guide)
    out = pick_questions(guides, n)
    if len(_MEMO) > 32:  # old versions' entries
        _MEMO.clear()
    _MEMO[key] = (now, out)
    return list(out)
