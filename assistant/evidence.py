"""Pick the few sentences the LLM sees, and number them as its sources.

A 1.5B model on two cores reads ~90 tokens/s, so every passage in the prompt costs seconds
before the first word. Instead of whole chunks we hand it the best *sentences* of the top
chunks (each a few dozen tokens), scored by question-term overlap (IDF-weighted), dense
similarity and the rank of the chunk they came from, with at most a few per document so a
question about two articles sees both. A question in several parts ("Does X report ..., while
Y ...?", see ``question.clauses``) is scored per part too, and the picks go round robin over
the whole question and its parts, so each part gets its best sentences in. Only the lexically
most promising ``MAX_EMBEDDED`` sentences are embedded, which bounds the cost per question.
A sentence that leans on the one before it (starts with a pronoun, or is very short) carries
that sentence along, so a quote makes sense alone.

Each source is an exact span of its document, so a citation of source n is already an exact
quote; the verifier only has to check that the claim is what the span says.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import untrusted
from .question import clauses, lexical_terms
from .schema import Passage
from .text import sentences

_LEANS_BACK = re.compile(
    r"^(he|she|it|they|this|that|these|those|his|her|its|their|but|however|the company|the move)\b", re.I
)
MAX_PER_DOC = 3
PART_WEIGHT = 1.0  # a part of the question against the whole, in the round robin
MAX_EMBEDDED = 32  # candidate sentences embedded per question (the rest rank last)


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
    # Sentences of the text a reader sees (untrusted.visible blanks a Markdown comment at the same
    # offsets); a sentence with a hidden part inside it is not a quote of what the reader saw.
    seen = untrusted.visible(c.text, c.source)
    spans = [s for s in sentences(seen) if seen[s.start : s.end] == c.text[s.start : s.end]]
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
            if untrusted.keep(text):  # documents are data: a sentence addressed to the model never reaches it
                cands.append((rank, p, start, end, text))
    if not cands:
        return []
    # The question and, for a question in several parts, each part: every part should get its
    # best sentences in (a comparison of two articles needs a sentence from each).
    parts = clauses(question)
    queries = [question] + (parts if len(parts) >= 2 else [])
    weights = [1.0] + [PART_WEIGHT] * (len(queries) - 1)
    # Document frequencies over the candidates give a local IDF: rare question terms weigh more.
    q_terms = [set(lexical_terms(q)) for q in queries]
    cand_terms = [set(lexical_terms(c[4])) for c in cands]
    all_terms = set().union(*q_terms)
    df = {t: sum(t in ts for ts in cand_terms) for t in all_terms}
    idf = {t: math.log(1 + len(cands) / (1 + df[t])) for t in all_terms}
    top_score = passages[0].score or 1.0
    prior = np.array([max(c[1].score, 0.0) / top_score for c in cands])
    lex = np.array(
        [[sum(idf[t] for t in qt & ts) / (sum(idf[t] for t in qt) or 1.0) for ts in cand_terms] for qt in q_terms]
    )  # queries x candidates
    # Embedding every sentence costs ~10 ms each on 2 cores: embed only the lexically promising.
    keep = np.argsort(-(lex.max(axis=0) + 0.2 * prior), kind="stable")[:MAX_EMBEDDED]
    vecs = embedder.embed(queries + [cands[i][4] for i in keep])
    dense = np.zeros((len(queries), len(cands)))
    dense[:, keep] = vecs[: len(queries)] @ vecs[len(queries) :].T
    scores = 0.5 * lex + 0.3 * dense + 0.2 * prior  # queries x candidates
    scores[:, np.setdiff1d(np.arange(len(cands)), keep)] -= 1.0  # never before an embedded one

    # Weighted round robin over the queries' orderings.
    slots = []
    for j, w in enumerate(weights):
        for pos, i in enumerate(np.argsort(-scores[j], kind="stable")):
            slots.append(((pos + 1) / w, j, int(i)))
    slots.sort()
    chosen: list = []
    per_doc: dict[str, int] = {}
    spans_taken: list[tuple[str, int, int]] = []
    seen: set[int] = set()
    for _, _j, i in slots:
        if i in seen:
            continue
        seen.add(i)
        rank, p, start, end, text = cands[i]
        src = p.chunk.source
        if per_doc.get(src, 0) >= MAX_PER_DOC:
            continue
        if any(s == src and a < end and start < b for s, a, b in spans_taken):
            continue  # overlapping windows of the same text (chunk overlap or lean-back)
        spans_taken.append((src, start, end))
        per_doc[src] = per_doc.get(src, 0) + 1
        chosen.append((float(scores[:, i].max()), rank, p, start, end, text))
        if len(chosen) == n:
            break
    # Present sources grouped by document, in reading order: easier for a small model to follow.
    doc_order = {s: i for i, s in enumerate(dict.fromkeys(c[2].chunk.source for c in chosen))}
    chosen.sort(key=lambda c: (doc_order[c[2].chunk.source], c[3]))
    return [
        Source(n=i + 1, passage=p, start=start, end=end, text=text, score=round(score, 4))
        for i, (score, rank, p, start, end, text) in enumerate(chosen)
    ]


def render_sources(sources: list[Source]) -> str:
    """The sources as the model reads them: one heading per document, then its numbered lines.

    The heading (title, outlet, date) is written once per document rather than on every line:
    prompt tokens are the first-token latency on a CPU (~70 tokens/s), and a multi-hop question
    ("the TechCrunch report of October 2") needs the outlet and date beside each sentence's number.
    """
    lines, last = [], None
    for s in sources:
        c = s.passage.chunk
        if c.source != last:
            heading = _heading(c)
            lines.append(f"From {heading}:" if heading else "From an untitled document:")
            last = c.source
        lines.append(f"[{s.n}] {untrusted.for_model(' '.join(s.text.split()))}")
    return "\n".join(lines)


def _name(value: str) -> str:
    """A title or outlet without what follows a '|': "Cnbc | World Business News Leader" -> "Cnbc",
    "Headline | Author Name" -> "Headline" (taglines and bylines, not names)."""
    return value.split("|", 1)[0].strip()


def _title(chunk) -> str:
    """The document's title; '' for a file name standing in for one or a placeholder in parentheses."""
    title = _name(chunk.title) if chunk.titled else ""
    return "" if title.startswith("(") and title.endswith(")") else title  # "(untitled web search result snippet)"


def _heading(chunk) -> str:
    title = _title(chunk)
    if len(title) > 90:
        title = title[:90].rsplit(" ", 1)[0] + "…"
    outlet = _name(chunk.outlet)
    outlet = "" if len(outlet) > 40 else outlet  # a provenance note, not an outlet name
    date = chunk.date[:10] if chunk.dated else ""
    meta = ", ".join(x for x in (outlet, date) if x)
    return f'"{title}" ({meta})' if title and meta else (f'"{title}"' if title else meta)


def label(chunk) -> str:
    """A short name for where a sentence comes from: the outlet, else the title, else the file."""
    outlet = _name(chunk.outlet)
    date = chunk.date[:10] if chunk.dated else ""
    if outlet and len(outlet) <= 40:
        return f"{outlet} ({date})" if re.fullmatch(r"\d{4}-\d\d-\d\d", date) else outlet
    title = _title(chunk) or Path(chunk.source).stem
    if len(title) > 70:
        title = title[:70].rsplit(" ", 1)[0] + "…"
    return f'"{title}"'
