"""Hybrid retrieval for multi-part questions: BM25 + dense, per aspect of the question.

News questions hinge on names, numbers and dates, which lexical matching gets right and a
small embedder blurs; paraphrased questions need the embedder. Every candidate gets *both*
scores (BM25 over the whole corpus is one sparse product; the dense score of a lexical hit is
one dot product with its stored vector), each scaled by the best score of its kind, mixed with
``LEXICAL_WEIGHT``.

Questions that span several documents ("Does the Polygon article ... the same way the
Independent article ...", "Which company, reported by TechCrunch and The Verge, ... , ... and
...?") are poorly served by one ranking: the best few chunks all answer the same part. So a
question is analysed into *rankings* (``plan``), each a query text and an optional filter:

- the whole question (always);
- its clauses: the question split at commas, semicolons and connectives ("while", "as opposed
  to", "compared to", ", and does ..."); a clause with too few content words of its own (an
  outlet's name alone) joins its neighbour;
- for a clause that names an outlet (matched against the documents' ``Source:`` headers) or a
  date ("published on October 19, 2023", matched against the documents' dates): that clause
  within those documents (outlet AND date when it names both), and the question's *focus* (the
  clauses that name neither: "was there a change in ...") within the same documents.

Merging: the first ``CONSENSUS_HEAD`` places go by reciprocal-rank fusion over every ranking
(chunks several parts agree on, which keeps MRR high), the rest by weighted round robin (each
ranking's best chunks in turn, so every part of the question is covered), all under a
per-document cap. Chunks of a named outlet or date get a bonus in the whole-question ranking.
A short or single-clause question naming nothing reduces to the original single hybrid ranking.
Every rule is about the question's shape and the documents' own metadata; nothing depends on a
particular corpus. ``Passage.dense`` and ``.lexical`` stay the whole question's scores, so the
evidence gate in ``answer.py`` means what it meant.

The BM25 index is ``assistant/lexical.py``'s ``LexicalIndex``: one SQLite FTS5 file beside
embedded Chroma (``<index_dir>/lexical.sqlite3``; a per-collection cache file for a Chroma
server), written by ingest in the same crash-safe order as the store, with bm25s's scores. It
replaced an in-memory bm25s index rebuilt from every chunk in every process at start and after
every change (~127 s and ~1 GB per 100k chunks; benchmarks/lexical.md). When the store's version
stamp differs from the index's marker (another process ingested, or a crash between two writes)
the retriever *reconciles*: ids the store has and the index lacks are added, extra ones deleted,
then the marker is set; nothing is rebuilt. The chunks' metadata (sources, outlets, dates) is
still read from the store into memory on each change. The index's vocabulary also answers
``unknown_names``: the capitalized names of a question that no document contains, which
``answer.py`` refuses on without calling the model.

**Scope** (``docs=``, "ask within these documents"): the retriever behaves as if the index held
only those sources. The dense leg asks Chroma for the k nearest chunks *within* them (a
``where`` filter applied before the neighbour search, ``Store.nearest_within``), not the top k
of the whole index filtered afterwards, which would come back empty for a small document in a
large index. The lexical leg picks candidates only among the scope's chunks; BM25's IDF stays
the whole index's (one sparse product over all chunks, then a mask), so a scoped chunk scores
what it scores unscoped and the evidence thresholds in ``answer.py`` keep their meaning.
Outlet/date filters of the plan are intersected with the scope, and ``unknown_names`` /
``sources_named`` answer within it too. ``ScopedRetriever`` is that view with the Retriever's
own method names, so the answer pipeline runs unchanged on it.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from . import lexical
from .embed import Embedder
from .errors import InputError
from .schema import Chunk, Passage
from .settings import Settings
from .store import Store
from .text import STOPWORDS

# Tuned on the dev questions (benchmarks/retrieval.py); differences under ~0.01 are one fact.
LEXICAL_WEIGHT = 0.8  # BM25 vs dense in the whole-question ranking (0.6 before: 0.70 -> 0.74 hits@10)
PART_LEXICAL_WEIGHT = 0.8  # the same mix for a clause / filtered ranking
CANDIDATES = 50  # per retriever and ranking, before fusion
PER_DOC_CAP = 4
META_BOOST = 0.3  # whole-question score bonus for a chunk of a named outlet / date
MIN_CLAUSE_TERMS = 3  # content words a clause needs to be searched on its own
MAX_RANKINGS = 12
FILTER_WEIGHT = 0.9  # round-robin weights: a ranking's n-th chunk comes at priority n / weight
FOCUS_WEIGHT = 0.85
CLAUSE_WEIGHT = 0.8
RRF_K = 1  # top-heavy fusion for the consensus head
CONSENSUS_HEAD = 3
FILTER_MAX_SHARE = 0.5  # a name matching more documents than this filters nothing useful


def lexical_terms(text: str) -> list[str]:
    """The stemmed content terms of a text: what BM25 indexes and searches, and what question
    analysis counts (clauses, evidence coverage). ``lexical.index_terms``: words minus stop words,
    English-stemmed; runs of CJK characters as overlapping character bigrams, so a Chinese
    question shares terms with a Chinese passage. Text without CJK characters: unchanged terms."""
    return lexical.index_terms(text)


# --------------------------------------------------------------------------- question analysis

_MONTHS = {
    m: i
    for i, m in enumerate(
        "january february march april may june july august september october november december".split(), 1
    )
}
_MONTHS.update({m[:3]: i for m, i in list(_MONTHS.items())})
_MONTHS["sept"] = 9
_MONTH_RX = (
    r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DATE_MDY = re.compile(_MONTH_RX + r"\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})", re.I)
_DATE_DMY = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+" + _MONTH_RX + r",?\s+(\d{4})", re.I)
_DATE_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_SOURCE_FIELD = re.compile(r"(?:^|\|\s)Source:\s*(.*?)\s*(?=\|\s(?:Author|Date|Category|Title):|$)")
# Where a question changes from one part to the next.
_CLAUSE_SPLIT = re.compile(
    r"\s*[;:?]\s+|\s*,\s+(?:and|but|or|while|whereas|yet)\s+|\s*,\s+|"
    r"\s+(?:while|whereas|as opposed to|in contrast to|in contrast with|compared to|compared with|"
    r"as well as|than (?:the|what|how)|the same (?:way|light) as|similar to how|"
    r"and (?=(?:does|do|did|is|was|are|were|has|have|had|also|then|the other|another)\b))\s+",
    re.I,
)


def mentioned_dates(text: str) -> list[str]:
    """ISO dates (YYYY-MM-DD) written in the text, in order, without repeats."""
    found: list[tuple[int, str]] = []
    for m in _DATE_MDY.finditer(text):
        mon = _MONTHS.get(m.group(1).lower().rstrip(".")[: 4 if m.group(1).lower().startswith("sept") else 3])
        if mon:
            found.append((m.start(), f"{int(m.group(3)):04d}-{mon:02d}-{int(m.group(2)):02d}"))
    for m in _DATE_DMY.finditer(text):
        mon = _MONTHS.get(m.group(2).lower().rstrip(".")[:3])
        if mon:
            found.append((m.start(), f"{int(m.group(3)):04d}-{mon:02d}-{int(m.group(1)):02d}"))
    for m in _DATE_ISO.finditer(text):
        found.append((m.start(), f"{m.group(1)}-{m.group(2)}-{m.group(3)}"))
    return list(dict.fromkeys(d for _, d in sorted(found)))


def _protect_dates(text: str) -> str:
    """Dates without their commas, so that clause splitting does not cut them."""
    return _DATE_DMY.sub(
        lambda m: m.group(0).replace(",", ""), _DATE_MDY.sub(lambda m: m.group(0).replace(",", ""), text)
    )


def outlet_aliases(outlet: str) -> set[str]:
    """Ways a question may name an outlet: 'Cnbc | World Business News Leader' -> also 'Cnbc', 'CNBC'."""
    names = {outlet.strip()}
    for sep in (" | ", " - "):
        if sep in outlet:
            names.add(outlet.split(sep)[0].strip())
    out = set()
    for n in names:
        n = n.strip("'\" ")
        if len(n) >= 3 and n.lower() not in STOPWORDS:
            out |= {n, n.upper(), n.title()}
    return out


_TOKEN = re.compile(r"[\w'’.&-]+")
_NAME_JOINERS = {"of", "de", "van", "von", "der", "la", "&"}


def capitalized_names(text: str) -> list[str]:
    """Runs of capitalized words ("Wall Street Journal", "Times of India"), stop words dropped.

    A run ends at punctuation ("Fortune, Globes" are two names) and after a possessive
    ("OpenAI's GPT-3.5" too). The first word of a sentence is capitalized anyway: it starts a
    name only if a capitalized word follows it ("Sam Altman said" yes, "Considering the" no).
    """
    matches = list(_TOKEN.finditer(text))
    toks = [m.group().strip(".'’-") for m in matches]
    runs: list[str] = []
    run: list[str] = []

    def close():
        if run:
            runs.append(" ".join(run))
            run.clear()

    for i, t in enumerate(toks):
        if i and text[matches[i - 1].end() : matches[i].start()].strip():
            close()  # punctuation between the words
        nxt = toks[i + 1] if i + 1 < len(toks) else ""
        possessive = re.search(r"['’]s$", t) is not None
        word = re.sub(r"['’]s$", "", t)
        cap = bool(word) and word[0].isupper() and word.lower() not in STOPWORDS
        if cap and i == 0 and not (nxt and nxt[0].isupper()):
            cap = False
        if cap:
            run.append(word)
            if possessive:
                close()
        elif run and t.lower() in _NAME_JOINERS and nxt and nxt[0].isupper():
            run.append(t)
        else:
            close()
    close()
    return list(dict.fromkeys(r for r in runs if any(c.isalpha() for c in r)))


def clauses(question: str) -> list[str]:
    """The question's parts, each with enough content words to be searched alone."""
    parts = [p.strip(" ,.;?!'\"") for p in _CLAUSE_SPLIT.split(_protect_dates(question))]
    out: list[str] = []
    carry = ""
    for p in parts:
        if not p:
            continue
        text = (carry + " " + p).strip() if carry else p
        if len(lexical_terms(text)) < MIN_CLAUSE_TERMS:
            carry = text
            continue
        out.append(text)
        carry = ""
    if carry and out:
        out[-1] = out[-1] + " " + carry
    return out


@dataclass
class Ranking:
    query: str
    weight: float = 1.0
    docs: set[int] | None = None  # allowed document numbers (None: all)
    label: str = ""


@dataclass
class Plan:
    rankings: list[Ranking] = field(default_factory=list)
    boost_docs: set[int] = field(default_factory=set)  # documents of a named outlet or date


# --------------------------------------------------------------------------- the retriever


class Retriever:
    def __init__(self, store: Store, embedder: Embedder, settings: Settings):
        self.store, self.embedder, self.settings = store, embedder, settings
        self._lock = threading.Lock()
        self._version: str | None = None
        self._chunks: list[Chunk] = []
        self._lex: lexical.LexicalIndex | None = None
        self._pos: dict[str, int] = {}
        self._doc_of = np.zeros(0, dtype=np.int64)  # chunk position -> document number
        self._doc_chunks: list[np.ndarray] = []  # document number -> chunk positions
        self._outlets: dict[str, set[int]] = {}  # alias -> documents
        self._outlet_rx: re.Pattern | None = None
        self._dates: dict[str, set[int]] = {}  # ISO date -> documents
        self._sources: list[str] = []  # document number -> source
        self._doc_num: dict[str, int] = {}  # source -> document number

    def _lexical_index(self):
        """The lexical index and the store's chunks, brought up to date if the store changed since last time."""
        with self._lock:
            version = self.store.version()
            if version != self._version and self._version is not None and self.store.changed_elsewhere(version):
                self.store.reopen()  # another process wrote: embedded Chroma must reload from disk
                version = self.store.version()
            if version != self._version:
                chunks = self.store.all_chunks()
                if self._lex is None:
                    self._lex = lexical.for_store(self.store)
                if self._lex.marker() != version:  # reconcile: only the difference is written
                    by_id = {c.id: c for c in chunks}

                    def entries(ids):
                        return [(i, by_id[i].context + "\n" + by_id[i].text, by_id[i].source) for i in ids]

                    self._lex.reconcile(by_id, entries, marker=version)
                self._build_metadata(chunks)
                self._chunks, self._version = chunks, version
                self._pos = {c.id: i for i, c in enumerate(chunks)}
            return self._lex, self._chunks, self._pos

    def _lexical_scores(self, lex, text: str, positions) -> np.ndarray:
        """BM25 of the chunks at these positions for the text (zeros without lexical terms)."""
        positions = list(positions)
        if not positions:
            return np.zeros(0)
        got = lex.scores(text, [self._chunks[i].id for i in positions])
        return np.asarray([got[self._chunks[i].id] for i in positions], dtype=np.float64)

    def _build_metadata(self, chunks: list[Chunk]) -> None:
        doc_num: dict[str, int] = {}
        doc_of = np.empty(len(chunks), dtype=np.int64)
        outlets: dict[str, set[int]] = {}
        dates: dict[str, set[int]] = {}
        for i, c in enumerate(chunks):
            d = doc_num.get(c.source)
            if d is None:
                d = doc_num[c.source] = len(doc_num)
                m = _SOURCE_FIELD.search(c.context or "")
                if m and m.group(1) and m.group(1).lower() != "unknown":
                    for alias in outlet_aliases(m.group(1)):
                        outlets.setdefault(alias, set()).add(d)
                if c.date:
                    dates.setdefault(c.date[:10], set()).add(d)
            doc_of[i] = d
        self._doc_of = doc_of
        order = np.argsort(doc_of, kind="stable")
        bounds = np.searchsorted(doc_of[order], np.arange(len(doc_num) + 1))
        self._doc_chunks = [order[bounds[j] : bounds[j + 1]] for j in range(len(doc_num))]
        self._outlets, self._dates = outlets, dates
        self._doc_num, self._sources = doc_num, list(doc_num)
        names = sorted(outlets, key=len, reverse=True)
        self._outlet_rx = re.compile(r"(?<![\w])(" + "|".join(map(re.escape, names)) + r")(?![\w])") if names else None

    # -- analysis --------------------------------------------------------------------------
    def named(self, text: str) -> list[tuple[str, set[int]]]:
        """Outlets and dates the text names that some documents carry: [(name, documents)]."""
        found: list[tuple[str, set[int]]] = []
        if self._outlet_rx is not None:
            for m in self._outlet_rx.finditer(text):
                docs = self._outlets.get(m.group(1))
                if docs and all(docs != d for _, d in found):
                    found.append((m.group(1), docs))
        for iso in mentioned_dates(text):
            docs = self._dates.get(iso)
            if docs:
                found.append((iso, docs))
        return found

    def sources_named(self, text: str, docs: Iterable[str] | None = None) -> set[str] | None:
        """The files of the outlets and dates a text names (outlet AND date when both), or None.

        Within a scope (``docs``), only the scope's files count: a name that matches none of them
        names nothing here (None), so callers fall back to their scoped passages.
        """
        _, chunks, _ = self._lexical_index()
        named = self._narrow(self.named(text))
        scope = self._scope(docs)
        if named is not None and scope is not None:
            named = (named & scope) or None
        if named is None:
            return None
        return {chunks[int(self._doc_chunks[d][0])].source for d in named if len(self._doc_chunks[d])}

    def unknown_names(self, text: str, docs: Iterable[str] | None = None) -> list[str]:
        """Names the text uses that no document mentions ("a BBC article", "Disha Kasat").

        A question that leans on a name the corpus never contains cannot be answered from it,
        however close the nearest passages look; saying which name is missing is also the most
        useful refusal (a typo shows). A name of several words must occur within one chunk.
        Lower-case questions name nothing here, so the check never fires on them. Within a
        scope (``docs``) the name must occur in one of the scope's chunks: asking the chosen
        documents about a name only others contain is refused the same way.
        """
        lex, chunks, _ = self._lexical_index()
        if not chunks:
            return []
        scope = self._scope(docs)
        sources = {self._sources[d] for d in scope} if scope is not None else None
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
        self._lexical_index()
        sources, unknown = set(), []
        for p in paths:
            root = os.path.abspath(os.fspath(p))
            prefix = root.rstrip(os.sep) + os.sep
            hit = {s for s in self._sources if s == root or s.startswith(prefix)}
            if not hit:
                unknown.append(p)
            sources |= hit
        if unknown:
            shown = ", ".join(str(p) for p in unknown)
            raise InputError(f"no indexed document at {shown} (`assistant documents` lists what is indexed)")
        return sorted(sources)

    def scoped(self, sources: Iterable[str]) -> ScopedRetriever:
        return ScopedRetriever(self, sources)

    def _scope(self, docs: Iterable[str] | None) -> set[int] | None:
        """Document numbers of the sources (None: no scope, or one covering the whole index)."""
        if docs is None:
            return None
        scope = {self._doc_num[s] for s in docs if s in self._doc_num}
        return None if len(scope) == len(self._sources) else scope

    def _positions(self, docs: set[int]) -> np.ndarray:
        """Chunk positions of the documents, document by document."""
        return np.concatenate([self._doc_chunks[d] for d in sorted(docs)]) if docs else np.zeros(0, dtype=np.int64)

    @staticmethod
    def _narrow(named: list[tuple[str, set[int]]]) -> set[int] | None:
        """Documents matching everything a clause names (outlet AND date), else any of it."""
        if not named:
            return None
        both = set.intersection(*(d for _, d in named))
        return both or set.union(*(d for _, d in named))

    def plan(self, query: str) -> Plan:
        """The rankings a query is answered from (see the module docstring)."""
        plan = Plan(rankings=[Ranking(query, 1.0, None, "question")])
        n_docs = max(1, len(self._doc_chunks))
        named = self.named(query)
        for _, docs in named:
            plan.boost_docs |= docs
        if len(lexical_terms(query)) < 2 * MIN_CLAUSE_TERMS:
            return plan
        parts = self.clauses(query)
        # A clause that names an outlet or date is searched within those documents; the clauses
        # that name none (the question's focus: "was there a change in ...") are searched both
        # everywhere and within each named clause's documents.
        filtered: list[tuple[str, set[int]]] = []
        focus: list[str] = []
        for p in parts:
            narrowed = self._narrow(self.named(p))
            if narrowed is not None and len(narrowed) <= FILTER_MAX_SHARE * n_docs:
                if all(narrowed != d for _, d in filtered):
                    filtered.append((p, narrowed))
            elif narrowed is None:
                focus.append(p)
        if not filtered and named:  # names spread over clauses: the whole question per name
            filtered = [(query, docs) for _, docs in named if len(docs) <= FILTER_MAX_SHARE * n_docs]
        if len(filtered) >= 2 or (filtered and len(filtered[0][1]) <= 0.05 * n_docs):
            focus_text = " ".join(focus)
            for p, docs in filtered:
                plan.rankings.append(Ranking(p, FILTER_WEIGHT, docs, "filter"))
            if focus_text and len(lexical_terms(focus_text)) >= MIN_CLAUSE_TERMS:
                for _p, docs in filtered:
                    plan.rankings.append(Ranking(focus_text, FOCUS_WEIGHT, docs, "focus"))
        if len(parts) >= 2:
            for p in parts:
                if all(p != r.query or r.docs is not None for r in plan.rankings):
                    plan.rankings.append(Ranking(p, CLAUSE_WEIGHT, None, "clause"))
        plan.rankings = plan.rankings[:MAX_RANKINGS]
        return plan

    def clauses(self, query: str) -> list[str]:
        """``clauses``, where a clause that only names an outlet or date joins its neighbour."""
        parts = clauses(query)
        out: list[str] = []
        for p in parts:
            bare = p
            if self._outlet_rx is not None:
                bare = self._outlet_rx.sub(" ", bare)
            bare = _DATE_ISO.sub(" ", _DATE_DMY.sub(" ", _DATE_MDY.sub(" ", bare)))
            if out and len(lexical_terms(bare)) < MIN_CLAUSE_TERMS:
                out[-1] = out[-1] + ", " + p
            else:
                out.append(p)
        if len(out) >= 2 and len(lexical_terms(out[0])) < MIN_CLAUSE_TERMS:
            out[1] = out[0] + ", " + out[1]
            out = out[1:]
        return out

    # -- search ----------------------------------------------------------------------------
    def search(self, query: str, k: int | None = None, docs: Iterable[str] | None = None) -> list[Passage]:
        """The k best passages for the query; with ``docs`` (sources), only passages of those."""
        k = k or self.settings.top_k
        lex, chunks, pos = self._lexical_index()
        if not chunks:
            return []
        scope = self._scope(docs)
        if scope is not None and not scope:
            return []
        plan = self.plan(query)
        texts = list(dict.fromkeys(r.query for r in plan.rankings))
        qvecs = np.asarray(self.embedder.embed(texts), dtype=np.float32)
        qidx = {t: i for i, t in enumerate(texts)}

        # Candidates: dense neighbours of every query text, and BM25's best (within each filter).
        n_dense = CANDIDATES * (2 if len(plan.rankings) > 1 else 1)
        dense_hits = self._dense(qvecs, n_dense, scope)
        cand_per_ranking: list[list[int]] = []
        all_cands: dict[int, None] = {}
        for r in plan.rankings:
            # The documents this ranking may draw from: its outlet/date filter, within the scope.
            within = r.docs if scope is None else (scope if r.docs is None else r.docs & scope)
            if within is not None:
                allowed = self._positions(within)
                hits = lex.search(r.query, CANDIDATES, sources={self._sources[d] for d in within})
            else:
                hits = lex.search(r.query, CANDIDATES)
            cands = [pos[i] for i, s in hits if s > 0 and i in pos]
            for i in dense_hits[qidx[r.query]]:
                if within is None or int(self._doc_of[i]) in within:
                    cands.append(i)
            cands = list(dict.fromkeys(cands))
            if within is not None and not cands:  # nothing lexical: the filter's first chunks
                cands = [int(i) for i in allowed[:CANDIDATES]]
            cand_per_ranking.append(cands)
            all_cands.update(dict.fromkeys(cands))

        if not all_cands:
            return []
        ids = [chunks[i].id for i in all_cands]
        emb = self._embeddings(ids, qvecs.shape[1])
        dense_all = emb @ qvecs.T  # candidates x query texts
        row = {i: n for n, i in enumerate(all_cands)}
        # BM25 of every candidate for every query text (the same scores bm25s gave over all chunks).
        lex_all = {t: self._lexical_scores(lex, t, all_cands) for t in texts}

        full = qidx[query]
        ranked: list[list[tuple[float, int]]] = []
        for r, cands in zip(plan.rankings, cand_per_ranking):
            if not cands:
                ranked.append([])
                continue
            q = qidx[r.query]
            lx = lex_all[r.query][[row[i] for i in cands]]
            dn = np.maximum(dense_all[[row[i] for i in cands], q], 0.0)
            max_lex = float(lx.max()) if lx.size and lx.max() > 0 else 1.0
            max_dn = float(dn.max()) if dn.size and dn.max() > 0 else 1.0
            w = LEXICAL_WEIGHT if r.label == "question" else PART_LEXICAL_WEIGHT
            s = w * lx / max_lex + (1 - w) * dn / max_dn
            if r.docs is None and plan.boost_docs:
                s = s + META_BOOST * np.isin(self._doc_of[cands], list(plan.boost_docs))
            order = np.argsort(-s, kind="stable")
            ranked.append([(float(s[j]), cands[j]) for j in order])

        self.last_plan = (plan, ranked)  # for debugging and benchmarks
        picked = self._merge(plan, ranked, k)
        # Report scores on the whole question's scale so callers can threshold them.
        q_lex = lex_all[query]
        out = []
        for score, i in picked:
            dense = float(dense_all[row[i], full])
            lexical = round(float(q_lex[row[i]]), 4)
            out.append(Passage(chunk=chunks[i], score=score, dense=round(dense, 4), lexical=lexical))
        return out

    def _merge(self, plan: Plan, ranked: list[list[tuple[float, int]]], k: int) -> list[tuple[float, int]]:
        """Consensus first, then coverage; with a per-document cap.

        The first ``CONSENSUS_HEAD`` places go by reciprocal-rank fusion over all rankings (a
        chunk several parts of the question agree on); the rest by weighted round robin, so
        every part of the question gets its best chunks in.
        """
        if len(ranked) == 1:
            order = ranked[0]
        else:
            fused: dict[int, float] = {}
            for r, lst in zip(plan.rankings, ranked):
                for p, (_s, i) in enumerate(lst):
                    fused[i] = fused.get(i, 0.0) + r.weight / (RRF_K + p + 1)
            best = max(fused.values()) if fused else 1.0
            head = sorted(((v / best, i) for i, v in fused.items()), key=lambda t: -t[0])[:CONSENSUS_HEAD]
            # Position p of ranking r gets priority (p + 1) / weight: ties favour earlier rankings.
            slots = []
            for n, (r, lst) in enumerate(zip(plan.rankings, ranked)):
                for p, (_s, i) in enumerate(lst):
                    slots.append(((p + 1) / r.weight, n, fused[i] / best, i))
            slots.sort(key=lambda t: (t[0], t[1]))
            order = head + [(s, i) for _, _, s, i in slots]
        out: list[tuple[float, int]] = []
        per_doc: dict[int, int] = {}
        seen: set[int] = set()
        for s, i in order:
            d = int(self._doc_of[i])
            if i in seen or per_doc.get(d, 0) >= PER_DOC_CAP:
                continue
            seen.add(i)
            per_doc[d] = per_doc.get(d, 0) + 1
            out.append((s, i))
            if len(out) == k:
                break
        return out

    def _dense(self, qvecs: np.ndarray, n: int, scope: set[int] | None = None) -> list[list[int]]:
        """Chunk positions of the n nearest chunks of each query vector (within the scope's documents)."""
        if scope is not None:
            n = min(n, sum(len(self._doc_chunks[d]) for d in scope))
            ids = self.store.nearest_within(qvecs.tolist(), n, [self._sources[d] for d in sorted(scope)])
            return [[self._pos[i] for i in got if i in self._pos] for got in ids]
        n = min(n, self.store.count())
        if n <= 0:
            return [[] for _ in qvecs]
        try:
            r = self.store.collection.query(query_embeddings=qvecs.tolist(), n_results=n, include=[])
        except Exception:
            r = {"ids": [[c.id for c, _ in self.store.query(v.tolist(), n)] for v in qvecs]}
        return [[self._pos[i] for i in ids if i in self._pos] for ids in r["ids"]]

    def _embeddings(self, ids: list[str], dim: int) -> np.ndarray:
        """Stored vectors of chunks (zeros for one deleted meanwhile)."""
        got = self.store.collection.get(ids=ids, include=["embeddings"])
        vec = {i: e for i, e in zip(got["ids"], got["embeddings"])}
        zero = np.zeros(dim, dtype=np.float32)
        return np.asarray([vec[i] if i in vec else zero for i in ids], dtype=np.float32).reshape(len(ids), dim)


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
