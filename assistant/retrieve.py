"""Hybrid retrieval for multi-part questions: BM25 + dense, per aspect of the question.

News questions hinge on names, numbers and dates, which lexical matching gets right and a
small embedder blurs; paraphrased questions need the embedder. Every candidate gets *both*
scores (BM25 over the whole corpus is one sparse product; the dense score of a lexical hit is
one dot product with its stored vector). This module composes the parts, one idea each:

- ``question.py``: what the question's terms, names, dates and clauses are;
- ``fusion.py``: the rankings a question is answered from (``plan``), how each scores its
  candidates and how they merge into one list;
- ``dense.py``: nearest neighbours in Chroma; ``lexical.py``: the BM25 index;
- ``snapshot.py``: the one immutable view of the chunks a search uses.

``Passage.dense`` and ``.lexical`` stay the whole question's scores, so the evidence gate in
``answer.py`` means what it meant.

**The lexical index's life cycle.** ``assistant/lexical.py``'s ``LexicalIndex`` is one SQLite
FTS5 file beside embedded Chroma (``<index_dir>/lexical.sqlite3``; a per-collection cache file
for a Chroma server), written by ingest in the same crash-safe order as the store. When the
store's version stamp differs from the index's marker (another process ingested, or a crash
between two writes) the retriever *reconciles*: ids the store has and the index lacks are
added, extra ones deleted, then the marker is set; nothing is rebuilt. The index's vocabulary
also answers ``unknown_names``: the capitalized names of a question that no document contains,
which ``answer.py`` refuses on without calling the model.

**One snapshot per search.** On each change of the store's version the chunks are read once
into a new ``Snapshot`` (positions, documents, outlets, dates) and the retriever's reference is
swapped under its lock; every public method takes that reference once and reads nothing else,
so an ingest or removal during a search never mixes two versions (see ``snapshot.py``).

**Scope** (``docs=``, "ask within these documents"): the retriever behaves as if the index held
only those sources. The dense leg asks Chroma for the k nearest chunks *within* them
(``dense.nearest``). The lexical leg picks candidates only among the scope's chunks; BM25's IDF
stays the whole index's, so a scoped chunk scores what it scores unscoped and the evidence
thresholds in ``answer.py`` keep their meaning. Outlet/date filters of the plan are intersected
with the scope, and ``unknown_names`` / ``sources_named`` answer within it too.
``ScopedRetriever`` is that view with the Retriever's own method names, so the answer pipeline
runs unchanged on it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable

import numpy as np

from . import dense, fusion, lexical
from .embed import Embedder
from .errors import InputError
from .question import capitalized_names, search_clauses
from .schema import Passage
from .settings import Settings
from .snapshot import EMPTY, Snapshot
from .store import Store

CANDIDATES = 50  # per retriever and ranking, before fusion


class Retriever:
    def __init__(self, store: Store, embedder: Embedder, settings: Settings):
        self.store, self.embedder, self.settings = store, embedder, settings
        self._lock = threading.Lock()
        self._snap: Snapshot = EMPTY
        self._lex: lexical.LexicalIndex | None = None

    def snapshot(self) -> Snapshot:
        """The chunks as of the store's current version: a new snapshot after a change, else the last one.

        The lexical index is reconciled with the store first (only the difference is written),
        then the snapshot is built whole and only then published: a search holding the previous
        one keeps using it undisturbed.
        """
        with self._lock:
            version = self.store.version()
            current = self._snap.version
            if version != current and current is not None and self.store.changed_elsewhere(version):
                self.store.reopen()  # another process wrote: embedded Chroma must reload from disk
                version = self.store.version()
            if version != current:
                chunks = self.store.all_chunks()
                lex = self.lexical_index()
                if lex.marker() != version:
                    by_id = {c.id: c for c in chunks}

                    def entries(ids):
                        return [(i, by_id[i].context + "\n" + by_id[i].text, by_id[i].source) for i in ids]

                    lex.reconcile(by_id, entries, marker=version)
                self._snap = Snapshot.of(version, chunks)
            return self._snap

    def lexical_index(self) -> lexical.LexicalIndex:
        """This store's lexical index (opened once)."""
        if self._lex is None:
            self._lex = lexical.for_store(self.store)
        return self._lex

    # -- analysis --------------------------------------------------------------------------
    def named(self, text: str) -> list[tuple[str, set[int]]]:
        """Outlets and dates the text names that some documents carry: [(name, documents)]."""
        return self.snapshot().named(text)

    def plan(self, query: str) -> fusion.Plan:
        return fusion.plan(query, self.snapshot())

    def clauses(self, query: str) -> list[str]:
        """``question.clauses``, where a clause that only names an outlet or date joins its neighbour."""
        return search_clauses(query, self.snapshot().outlet_rx)

    def sources_named(self, text: str, docs: Iterable[str] | None = None) -> set[str] | None:
        """The files of the outlets and dates a text names (outlet AND date when both), or None.

        Within a scope (``docs``), only the scope's files count: a name that matches none of them
        names nothing here (None), so callers fall back to their scoped passages.
        """
        snap = self.snapshot()
        named = fusion.narrow(snap.named(text))
        scope = snap.scope(docs)
        if named is not None and scope is not None:
            named = (named & scope) or None
        if named is None:
            return None
        return {snap.sources[d] for d in named}

    def unknown_names(self, text: str, docs: Iterable[str] | None = None) -> list[str]:
        """Names the text uses that no document mentions ("a BBC article", "Disha Kasat").

        A question that leans on a name the corpus never contains cannot be answered from it,
        however close the nearest passages look; saying which name is missing is also the most
        useful refusal (a typo shows). A name of several words must occur within one chunk.
        Lower-case questions name nothing here, so the check never fires on them. Within a
        scope (``docs``) the name must occur in one of the scope's chunks: asking the chosen
        documents about a name only others contain is refused the same way.
        """
        snap = self.snapshot()
        if not snap.chunks:
            return []
        lex = self.lexical_index()
        scope = snap.scope(docs)
        sources = {snap.sources[d] for d in scope} if scope is not None else None
        missing = []
        for name in capitalized_names(text):
            # Initials ("U. S.", "J. Smith") are too short to say anything about the corpus.
            terms = list(dict.fromkeys(t for t in lexical.index_terms(name) if len(t) > 1))
            if not terms:
                continue
            if not all(lex.has_term(t) for t in terms):
                missing.append(name)
            elif (len(terms) > 1 or sources is not None) and not lex.contains_all(terms, sources):
                missing.append(name)
        return missing

    # -- scope -----------------------------------------------------------------------------
    def resolve(self, paths: Iterable[str]) -> list[str]:
        """The indexed sources the given files and folders stand for, sorted.

        A folder stands for every indexed document under it (absolute path prefix plus a
        separator, as ingest's ``_under``: ``/a/news`` does not include ``/a/newsletter.txt``).
        A path matching no indexed document is an error naming it: a typo must not quietly
        widen or empty the scope.
        """
        indexed = self.snapshot().sources
        sources, unknown = set(), []
        for p in paths:
            root = os.path.abspath(os.fspath(p))
            prefix = root.rstrip(os.sep) + os.sep
            hit = {s for s in indexed if s == root or s.startswith(prefix)}
            if not hit:
                unknown.append(p)
            sources |= hit
        if unknown:
            shown = ", ".join(str(p) for p in unknown)
            raise InputError(f"no indexed document at {shown} (`assistant documents` lists what is indexed)")
        return sorted(sources)

    def scoped(self, sources: Iterable[str]) -> ScopedRetriever:
        return ScopedRetriever(self, sources)

    # -- search ----------------------------------------------------------------------------
    def search(self, query: str, k: int | None = None, docs: Iterable[str] | None = None) -> list[Passage]:
        """The k best passages for the query; with ``docs`` (sources), only passages of those."""
        k = k or self.settings.top_k
        snap = self.snapshot()  # the only view of the chunks this search uses
        if not snap.chunks:
            return []
        lex = self.lexical_index()
        scope = snap.scope(docs)
        if scope is not None and not scope:
            return []
        plan = fusion.plan(query, snap)
        texts = list(dict.fromkeys(r.query for r in plan.rankings))
        qvecs = np.asarray(self.embedder.embed(texts), dtype=np.float32)
        qidx = {t: i for i, t in enumerate(texts)}

        # Candidates: dense neighbours of every query text, and BM25's best (within each filter).
        n_dense = CANDIDATES * (2 if len(plan.rankings) > 1 else 1)
        dense_hits = dense.nearest(self.store, snap, qvecs, n_dense, scope)
        cand_per_ranking: list[list[int]] = []
        all_cands: dict[int, None] = {}
        for r in plan.rankings:
            # The documents this ranking may draw from: its outlet/date filter, within the scope.
            within = r.docs if scope is None else (scope if r.docs is None else r.docs & scope)
            if within is not None:
                allowed = snap.positions(within)
                hits = lex.search(r.query, CANDIDATES, sources={snap.sources[d] for d in within})
            else:
                hits = lex.search(r.query, CANDIDATES)
            cands = [snap.pos[i] for i, s in hits if s > 0 and i in snap.pos]  # ids added meanwhile: not yet
            for i in dense_hits[qidx[r.query]]:
                if within is None or int(snap.doc_of[i]) in within:
                    cands.append(i)
            cands = list(dict.fromkeys(cands))
            if within is not None and not cands:  # nothing lexical: the filter's first chunks
                cands = [int(i) for i in allowed[:CANDIDATES]]
            cand_per_ranking.append(cands)
            all_cands.update(dict.fromkeys(cands))

        if not all_cands:
            return []
        ids = [snap.chunks[i].id for i in all_cands]
        dense_all = dense.stored_vectors(self.store, ids, qvecs.shape[1]) @ qvecs.T  # candidates x query texts
        row = {i: n for n, i in enumerate(all_cands)}
        # BM25 of every candidate for every query text (the same scores bm25s gave over all chunks).
        lex_all = {t: self._lexical_scores(lex, snap, t, all_cands) for t in texts}

        ranked = []
        for r, cands in zip(plan.rankings, cand_per_ranking):
            rows = [row[i] for i in cands]
            lx, dn = lex_all[r.query][rows], dense_all[rows, qidx[r.query]]
            ranked.append(fusion.score(r, cands, lx, dn, plan.boost_docs, snap))

        self.last_plan = (plan, ranked)  # for debugging and benchmarks
        picked = fusion.merge(plan, ranked, k, snap)
        # Report scores on the whole question's scale so callers can threshold them.
        full, q_lex = qidx[query], lex_all[query]
        return [
            Passage(
                chunk=snap.chunks[i],
                score=score,
                dense=round(float(dense_all[row[i], full]), 4),
                lexical=round(float(q_lex[row[i]]), 4),
            )
            for score, i in picked
        ]

    @staticmethod
    def _lexical_scores(lex, snap: Snapshot, text: str, positions) -> np.ndarray:
        """BM25 of the chunks at these positions for the text (zeros without lexical terms)."""
        positions = list(positions)
        if not positions:
            return np.zeros(0)
        got = lex.scores(text, [snap.chunks[i].id for i in positions])
        return np.asarray([got[snap.chunks[i].id] for i in positions], dtype=np.float64)


class ScopedRetriever:
    """The retriever limited to some documents, with the Retriever's own method names.

    The answer pipeline (``answer.py``) only calls ``search``, ``unknown_names``,
    ``sources_named``, ``clauses`` and ``embedder``; handing it this view scopes every lookup
    at once, so nothing downstream can reach past the scope and no signature there changes.
    It delegates nothing else on purpose: a new lookup added to the pipeline fails loudly here
    instead of silently searching the whole index.
    """

    def __init__(self, retriever: Retriever, sources: Iterable[str]):
        self.retriever = retriever
        self.sources = sorted(set(sources))
        self.embedder, self.settings = retriever.embedder, retriever.settings

    def search(self, query: str, k: int | None = None) -> list[Passage]:
        return self.retriever.search(query, k, docs=self.sources)

    def unknown_names(self, text: str) -> list[str]:
        return self.retriever.unknown_names(text, docs=self.sources)

    def sources_named(self, text: str) -> set[str] | None:
        return self.retriever.sources_named(text, docs=self.sources)

    def clauses(self, query: str) -> list[str]:
        return self.retriever.clauses(query)  # text analysis only: the same in any scope
