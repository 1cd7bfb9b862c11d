"""Whole-document requests: "Summarize X", "What are the main points of X", "Compare X and Y".

Retrieval answers questions about a few passages; a summary needs the whole document, so these
requests skip retrieval. ``parse`` recognises the request and finds the named documents among
the indexed ones (by path, file name or title); anything it cannot resolve to a document goes
on to the normal question path ("Summarize the debate about tariffs" is a question).

Design: the summary is *extractive*, a map-reduce over the document's chunks without the LLM.
Map: every whole sentence of every chunk is embedded. Reduce: the sentences closest to the
document's centroid (its overall topic) are chosen with maximal marginal relevance, so that
the points differ from each other, and shown in reading order, each quoted and cited. Trade-offs:
every point is the document's own sentence, so a summary can never state what the document does
not (the product's rule: every fact shown is a quotation), and it costs seconds instead of the
minutes an LLM map-reduce takes on 2 cores (about 10 ms per sentence to embed: ~4 s for a 20-page
report); the price is prose that reads as a list of key sentences rather than a retelling.
A comparison shows each document's main points side by side; it does not write the comparison.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from . import untrusted
from .evidence import Source
from .schema import Answer, Citation, Passage
from .text import sentences

POINTS = 5  # sentences in a summary (per document in a comparison)
MAX_SENTENCES = 1500  # embedded per document; a longer one is sampled evenly (about 15 s)
MIN_WORDS = 6  # shorter "sentences" are headings, captions or fragments
DIVERSITY = 0.35  # MMR weight of "unlike the points already chosen" against "central to the document"

_LEAD = r"^\s*(?:please\s+|can you\s+|could you\s+)?"
_SUMMARY = re.compile(
    _LEAD + r"(?:summari[sz]e|sum up|give (?:me )?(?:a |an )?(?:summary|overview) of|"
    r"what (?:are|is) the (?:main|key) (?:points?|ideas?|takeaways?) (?:of|in)|"
    r"what is the gist of|(?:a |an )?(?:summary|overview) of)\s+(?P<a>.+?)[\s?.!]*$",
    re.I,
)
_COMPARE = re.compile(_LEAD + r"compare\s+(?P<a>.+?)\s+(?:and|with|to|versus|vs\.?)\s+(?P<b>.+?)[\s?.!]*$", re.I)
_ARTICLE = re.compile(r"^(?:the\s+)?(?:document|article|file|report|paper|text|page)s?\s+", re.I)


@dataclass
class Request:
    kind: str  # "summary" or "compare"
    sources: list[str]  # the indexed documents named, in the order named


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def _resolve(name: str, documents: list[dict]) -> str | None:
    """The indexed document a name stands for: a path, a file name, or (part of) a title."""
    name = _ARTICLE.sub("", name.strip().strip("\"'“”‘’").strip())
    name = name.strip("\"'“”‘’").strip()
    if not name:
        return None
    path = os.path.abspath(name)
    for d in documents:
        if d["source"] == path or os.path.basename(d["source"]) == name:
            return d["source"]
    wanted = _norm(name)
    if not wanted:
        return None
    stems = [d for d in documents if _norm(os.path.splitext(os.path.basename(d["source"]))[0]) == wanted]
    titles = [d for d in documents if _norm(d.get("title", "")) == wanted]
    prefixes = [d for d in documents if len(wanted) >= 4 and _norm(d.get("title", "")).startswith(wanted)]
    for found in (stems, titles, prefixes):
        if len(found) == 1:
            return found[0]["source"]
    return None


def parse(question: str, documents: list[dict]) -> Request | None:
    """A whole-document request whose documents are all indexed, else None (a normal question)."""
    m = _COMPARE.match(question)
    if m:
        a, b = _resolve(m["a"], documents), _resolve(m["b"], documents)
        if a and b and a != b:
            return Request("compare", [a, b])
    m = _SUMMARY.match(question)
    if m:
        a = _resolve(m["a"], documents)
        if a:
            return Request("summary", [a])
    return None


def _candidates(chunks) -> list[Source]:
    """Every whole sentence of a document once (chunks overlap), in reading order."""
    seen: set[int] = set()
    out: list[Source] = []
    for chunk in chunks:
        passage = Passage(chunk=chunk, score=1.0)
        for s in sentences(chunk.text):
            start, end = chunk.start + s.start, chunk.start + s.end
            text = chunk.text[s.start : s.end]
            if start in seen or len(text.split()) < MIN_WORDS or not untrusted.keep(text):
                continue
            seen.add(start)
            out.append(Source(n=0, passage=passage, start=start, end=end, text=text, score=0.0))
    out.sort(key=lambda s: s.start)
    if len(out) > MAX_SENTENCES:
        step = len(out) / MAX_SENTENCES
        out = [out[int(i * step)] for i in range(MAX_SENTENCES)]
    return out


def main_points(chunks, embedder, k: int = POINTS) -> list[Source]:
    """The k most central, mutually different sentences of a document, in reading order."""
    cands = _candidates(chunks)
    if len(cands) <= k:
        return cands
    vecs = np.asarray(embedder.embed([c.text for c in cands]))
    centroid = vecs.mean(axis=0)
    centroid /= np.linalg.norm(centroid) or 1.0
    central = vecs @ centroid
    chosen: list[int] = []
    while len(chosen) < k:
        redundancy = (vecs @ vecs[chosen].T).max(axis=1) if chosen else np.zeros(len(cands))
        score = (1 - DIVERSITY) * central - DIVERSITY * redundancy
        score[chosen] = -np.inf
        chosen.append(int(np.argmax(score)))
    picked = [cands[i] for i in sorted(chosen, key=lambda i: cands[i].start)]
    for i, s in zip(sorted(chosen, key=lambda i: cands[i].start), picked):
        s.score = round(float(central[i]), 4)
    return picked


def _citation(n: int, s: Source) -> Citation:
    from .answer import Answerer  # the shared constructor (page and section of the quote itself)

    return Answerer._citation(n, s, score=s.score)


def stream(request: Request, question: str, store, embedder) -> Iterator:
    """Events like ``Answerer.stream``: passages, then per document its cited points, then the Answer."""
    from .answer import Event

    t0 = time.perf_counter()
    citations: list[Citation] = []
    lines: list[str] = []
    documents = [(source, store.chunks_of(source)) for source in request.sources]
    passages = [Passage(chunk=c, score=1.0) for _, chunks in documents for c in chunks[:3]]
    yield Event("passages", passages)
    for source, chunks in documents:
        points = main_points(chunks, embedder)
        title = chunks[0].title if chunks else os.path.basename(source)
        if not points:
            lines.append(f'"{title}" has no whole sentences to summarize.')
            continue
        head = f'Main points of "{title}" ({len(points)} key sentences, in reading order):'
        block = [head]
        for s in points:
            citation = _citation(len(citations) + 1, s)
            citations.append(citation)
            yield Event("citation", citation)
            block.append(f'- "{" ".join(s.text.split())}" [{citation.n}]')
        lines.append("\n".join(block))
        yield Event("text", ("\n\n" if len(lines) > 1 else "") + "\n".join(block))
    if request.kind == "compare":
        tail = "The documents' own sentences are shown side by side; compare them point by point."
        lines.append(tail)
        yield Event("text", "\n\n" + tail)
    total = round(time.perf_counter() - t0, 3)
    answer = Answer(
        question=question,
        answer="\n\n".join(lines),
        refused=not citations,
        citations=citations,
        passages=passages,
        timings={"retrieve_s": None, "first_token_s": None, "total_s": total},
    )
    answer.scope = list(request.sources)
    yield Event("answer", answer)
