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
import threading
from pathlib import Path

from .evidence import _INJECTION
from .prompts import render
from .retrieve import lexical_terms
from .summarize import main_points

POINTS = 3
MAX_QUESTION_CHARS = 160
_LOCK = threading.Lock()  # one guide computed at a time: each holds the LLM for seconds


def _cache_file(settings, source: str) -> Path:
    key = hashlib.sha1(f"{settings.collection}:{source}".encode()).hexdigest()[:20]
    return Path(settings.index_dir) / "guides" / f"{key}.json"


def cached(settings, source: str, version: str) -> dict | None:
    path = _cache_file(settings, source)
    try:
        guide = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return guide if guide.get("version") == version else None


def _question(llm, sentence: str) -> str | None:
    messages = [{"role": "system", "content": render("suggest")}, {"role": "user", "content": sentence}]
    q = " ".join(llm.complete(messages, max_tokens=48, temperature=0.0).split()).strip('"')
    q = q.split("?")[0].strip() + "?" if "?" in q else ""
    if not (12 <= len(q) <= MAX_QUESTION_CHARS) or _INJECTION.search(q):
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
        path = _cache_file(settings, source)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(guide, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, path)  # readers never see half a file
        return guide


def suggested_questions(store, settings, n: int = 3) -> list[str]:
    """Questions from the guides already computed (no LLM call), one per document in turn."""
    per_doc = []
    for doc in store.documents():
        path = _cache_file(settings, doc["source"])
        try:
            per_doc.append(json.loads(path.read_text(encoding="utf-8")).get("questions", []))
        except (OSError, ValueError):
            continue
    out: list[str] = []
    for i in range(max((len(q) for q in per_doc), default=0)):
        out += [qs[i] for qs in per_doc if i < len(qs)]
    return out[:n]
