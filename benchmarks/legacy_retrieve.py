"""The retriever as it was before question analysis (commit 61e60b6), kept for before/after benchmarks.

Hybrid retrieval: BM25 and dense cosine similarity, fused by normalized score.

News questions hinge on names, numbers and dates, which lexical matching gets right and a
small embedder blurs; paraphrased questions need the embedder. Reciprocal-rank fusion throws
away how far ahead the best hit is, so instead every candidate from either retriever gets
*both* scores (BM25 over the whole corpus is one sparse product; the dense score of a lexical
hit is one dot product with its stored vector), each is scaled to [0, 1] by the best score of
its kind, and the two are mixed with ``LEXICAL_WEIGHT``. A per-document cap keeps one long
article from filling every slot, which matters for questions that span several articles.

The BM25 index lives in memory, built from the store's chunks, and is rebuilt when the
store's version stamp changes (another process ingested). That costs O(corpus) memory and a
rebuild per change: fine to ~10^5-10^6 chunks, see benchmarks/ for where it stops.
"""

from __future__ import annotations

import threading

import numpy as np

from assistant.embed import Embedder
from assistant.schema import Chunk, Passage
from assistant.settings import Settings
from assistant.store import Store
from assistant.text import STOPWORDS, words

LEXICAL_WEIGHT = 0.6
CANDIDATES = 50  # per retriever, before fusion
PER_DOC_CAP = 3


def _stemmer():
    try:
        import Stemmer

        return Stemmer.Stemmer("english").stemWords
    except ImportError:  # PyStemmer is optional; exact words still work
        return lambda ws: ws


_stem = _stemmer()


def lexical_terms(text: str) -> list[str]:
    return _stem([w for w in words(text) if w not in STOPWORDS])


class Retriever:
    def __init__(self, store: Store, embedder: Embedder, settings: Settings):
        self.store, self.embedder, self.settings = store, embedder, settings
        self._lock = threading.Lock()
        self._version: str | None = None
        self._chunks: list[Chunk] = []
        self._bm25 = None
        self._pos: dict[str, int] = {}

    def _lexical_index(self):
        """The BM25 index and its chunks, rebuilt if the store changed since last time."""
        with self._lock:
            version = self.store.version()
            if version != self._version:
                import bm25s

                chunks = self.store.all_chunks()
                bm25 = bm25s.BM25()
                if chunks:
                    bm25.index([lexical_terms(c.context + "\n" + c.text) for c in chunks], show_progress=False)
                self._chunks, self._bm25, self._version = chunks, bm25 if chunks else None, version
                self._pos = {c.id: i for i, c in enumerate(chunks)}
            return self._bm25, self._chunks, self._pos

    def search(self, query: str, k: int | None = None) -> list[Passage]:
        k = k or self.settings.top_k
        bm25, chunks, pos = self._lexical_index()
        if not chunks:
            return []
        qvec = np.asarray(self.embedder.embed_one(query), dtype=np.float32)
        dense_hits = self.store.query(qvec.tolist(), CANDIDATES)
        lex = bm25.get_scores(lexical_terms(query)) if bm25 is not None else np.zeros(len(chunks))
        top_lex = [int(i) for i in np.argsort(-lex)[:CANDIDATES] if lex[i] > 0]

        dense: dict[str, float] = {c.id: s for c, s in dense_hits}
        by_id: dict[str, Chunk] = {c.id: c for c, _ in dense_hits}
        missing = [chunks[i].id for i in top_lex if chunks[i].id not in dense]
        if missing:
            got = self.store.collection.get(ids=missing, include=["embeddings"])
            for id_, emb in zip(got["ids"], got["embeddings"]):
                dense[id_] = float(np.dot(qvec, np.asarray(emb, dtype=np.float32)))
        for i in top_lex:
            by_id.setdefault(chunks[i].id, chunks[i])

        max_lex = float(lex.max()) if len(lex) and lex.max() > 0 else 1.0
        max_dense = max([v for v in dense.values()] + [1e-6])
        scored = []
        for id_, chunk in by_id.items():
            lx = float(lex[pos[id_]]) if id_ in pos else 0.0
            dn = dense.get(id_, 0.0)
            fused = LEXICAL_WEIGHT * lx / max_lex + (1 - LEXICAL_WEIGHT) * max(dn, 0.0) / max_dense
            scored.append(Passage(chunk=chunk, score=fused, dense=round(dn, 4), lexical=round(lx, 4)))
        scored.sort(key=lambda p: -p.score)

        out, per_doc = [], {}
        for p in scored:
            if per_doc.get(p.chunk.source, 0) < PER_DOC_CAP:
                per_doc[p.chunk.source] = per_doc.get(p.chunk.source, 0) + 1
                out.append(p)
            if len(out) == k:
                break
        return out
