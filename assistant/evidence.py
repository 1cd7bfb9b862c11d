"""Pick the few sentences the LLM sees, and number them as its sources.

A 1.5B model on two cores reads ~90 tokens/s, so every passage in the prompt costs seconds
before the first word. Instead of whole chunks we hand it the best *sentences* of the top
chunks (each a few dozen tokens), scored by question-term overlap (IDF-weighted), dense
similarity and the rank of the chunk they came from, with at most a few per document so a
question about two articles sees both. A sentence that leans on the one before it (starts
with a pronoun, or is very short) carries that sentence along, so a quote makes sense alone.

Each source is an exact span of its document, so a citation of source n is already an exact
quote; the verifier only has to check that the claim is what the span says.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from dataclasses import dataclass

import numpy as np

from .retrieve import lexical_terms
from .schema import Passage
from .text import sentences

_LEANS_BACK = re.compile(r"^(he|she|it|they|this|that|these|those|his|her|its|their|but|however|the company|the move)\b", re.I)
MAX_PER_DOC = 4
# Sentences that address the model instead of stating facts (prompt injection planted in a
# document). The prompt also says sources are untrusted, but a 1.5B model obeys "say X" when
# the question points at it, and the verifier passes "X" because the source contains it.
_INJECTION = re.compile(
    r"\b(ignore|disregard|forget|override)\b[^.!?\n]{0,40}\b(instructions?|prompts?|rules)\b|\bsystem prompt\b",
    re.I,
)


@dataclass
class Source:
    n: int
    passage: Passage
    start: int  # offsets into the document's text
    end: int
    text: str
    score: float

    @property
    def source(self) -> str:
        return self.passage.chunk.source


def _spans(p: Passage):
    c = p.chunk
    spans = sentences(c.text)
    for i, s in enumerate(spans):
        first = s
        words = c.text[s.start : s.end].split()
        if i > 0 and (_LEANS_BACK.match(c.text[s.start : s.end]) or len(words) < 6):
            first = spans[i - 1]
        yield c.start + first.start, c.start + s.end, c.text[first.start : s.end]


def select(question: str, passages: list[Passage], embedder, n: int) -> list[Source]:
    if not passages:
        return []
    cands = []
    for rank, p in enumerate(passages):
        for start, end, text in _spans(p):
            if not _INJECTION.search(text):  # documents are data: orders to the model never reach it
                cands.append((rank, p, start, end, text))
    # Document frequencies over the candidates give a local IDF: rare question terms weigh more.
    q_terms = set(lexical_terms(question))
    cand_terms = [set(lexical_terms(c[4])) for c in cands]
    df = {t: sum(t in ts for ts in cand_terms) for t in q_terms}
    idf = {t: math.log(1 + len(cands) / (1 + df[t])) for t in q_terms}
    total_idf = sum(idf.values()) or 1.0
    vecs = embedder.embed([question] + [c[4] for c in cands])
    dense = vecs[1:] @ vecs[0]

    scored = []
    top_score = passages[0].score or 1.0
    for (rank, p, start, end, text), ts, dn in zip(cands, cand_terms, dense):
        lex = sum(idf[t] for t in q_terms & ts) / total_idf
        score = 0.5 * lex + 0.3 * float(dn) + 0.2 * (p.score / top_score)
        scored.append((score, rank, p, start, end, text))
    scored.sort(key=lambda s: -s[0])

    chosen, per_doc, spans_taken = [], {}, []
    for score, rank, p, start, end, text in scored:
        src = p.chunk.source
        if per_doc.get(src, 0) >= MAX_PER_DOC:
            continue
        if any(s == src and a < end and start < b for s, a, b in spans_taken):
            continue  # overlapping windows of the same text (chunk overlap or lean-back)
        spans_taken.append((src, start, end))
        per_doc[src] = per_doc.get(src, 0) + 1
        chosen.append((score, rank, p, start, end, text))
        if len(chosen) == n:
            break
    # Present sources grouped by document, in reading order: easier for a small model to follow.
    doc_order = {s: i for i, s in enumerate(dict.fromkeys(c[2].chunk.source for c in chosen))}
    chosen.sort(key=lambda c: (doc_order[c[2].chunk.source], c[3]))
    return [Source(n=i + 1, passage=p, start=start, end=end, text=text, score=round(score, 4))
            for i, (score, rank, p, start, end, text) in enumerate(chosen)]


def render_sources(sources: list[Source]) -> str:
    lines = []
    for s in sources:
        c = s.passage.chunk
        title = c.title if c.title != Path(c.source).stem else ""  # a file name tells the model nothing
        label = ", ".join(x for x in (title, c.date) if x)
        body = " ".join(s.text.split())
        lines.append(f"[{s.n}] ({label}) {body}" if label else f"[{s.n}] {body}")
    return "\n".join(lines)
