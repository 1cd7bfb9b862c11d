"""Fusion: which rankings a question is answered from (``plan``), how each ranking scores its
candidates (``score``), and how the rankings are merged into one list (``merge``).

Questions that span several documents ("Does the Polygon article ... the same way the
Independent article ...", "Which company, reported by TechCrunch and The Verge, ... , ... and
...?") are poorly served by one ranking: the best few chunks all answer the same part. So a
question is analysed into *rankings* (``plan``), each a query text and an optional filter:

- the whole question (always);
- its clauses (``question.search_clauses``): the question split at commas, semicolons and
  connectives ("while", "as opposed to", "compared to", ", and does ..."); a clause with too few
  content words of its own (an outlet's name alone) joins its neighbour;
- for a clause that names an outlet (matched against the documents' outlets) or a date
  ("published on October 19, 2023", matched against the documents' dates): that clause within
  those documents (outlet AND date when it names both), and the question's *focus* (the clauses
  that name neither: "was there a change in ...") within the same documents.

Every candidate of a ranking gets *both* scores (BM25 and dense), each scaled by the best score
of its kind among the ranking's candidates, mixed with ``LEXICAL_WEIGHT``; chunks of a named
outlet or date get a bonus in the whole-question ranking (``score``).

Merging (``merge``): the first ``CONSENSUS_HEAD`` places go by reciprocal-rank fusion over every
ranking (chunks several parts agree on, which keeps MRR high), the rest by weighted round robin
(each ranking's best chunks in turn, so every part of the question is covered), all under a
per-document cap. A short or single-clause question naming nothing reduces to the original
single hybrid ranking. Every rule is about the question's shape and the documents' own
metadata; nothing depends on a particular corpus. Everything here reads one ``Snapshot``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .question import MIN_CLAUSE_TERMS, lexical_terms, search_clauses
from .snapshot import Snapshot

# Tuned on the dev questions (benchmarks/retrieval.py); differences under ~0.01 are one fact.
LEXICAL_WEIGHT = 0.8  # BM25 vs dense in the whole-question ranking (0.6 before: 0.70 -> 0.74 hits@10)
PART_LEXICAL_WEIGHT = 0.8  # the same mix for a clause / filtered ranking
PER_DOC_CAP = 4
META_BOOST = 0.3  # whole-question score bonus for a chunk of a named outlet / date
MAX_RANKINGS = 12
FILTER_WEIGHT = 0.9  # round-robin weights: a ranking's n-th chunk comes at priority n / weight
FOCUS_WEIGHT = 0.85
CLAUSE_WEIGHT = 0.8
RRF_K = 1  # top-heavy fusion for the consensus head
CONSENSUS_HEAD = 3
FILTER_MAX_SHARE = 0.5  # a name matching more documents than this filters nothing useful


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


def narrow(named: list[tuple[str, set[int]]]) -> set[int] | None:
    """Documents matching everything a clause names (outlet AND date), else any of it."""
    if not named:
        return None
    both = set.intersection(*(d for _, d in named))
    return both or set.union(*(d for _, d in named))


def plan(query: str, snap: Snapshot) -> Plan:
    """The rankings a query is answered from (see the module docstring)."""
    out = Plan(rankings=[Ranking(query, 1.0, None, "question")])
    n_docs = max(1, len(snap.doc_chunks))
    named = snap.named(query)
    for _, docs in named:
        out.boost_docs |= docs
    if len(lexical_terms(query)) < 2 * MIN_CLAUSE_TERMS:
        return out
    parts = search_clauses(query, snap.outlet_rx)
    # A clause that names an outlet or date is searched within those documents; the clauses
    # that name none (the question's focus: "was there a change in ...") are searched both
    # everywhere and within each named clause's documents.
    filtered: list[tuple[str, set[int]]] = []
    focus: list[str] = []
    for p in parts:
        narrowed = narrow(snap.named(p))
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
            out.rankings.append(Ranking(p, FILTER_WEIGHT, docs, "filter"))
        if focus_text and len(lexical_terms(focus_text)) >= MIN_CLAUSE_TERMS:
            for _p, docs in filtered:
                out.rankings.append(Ranking(focus_text, FOCUS_WEIGHT, docs, "focus"))
    if len(parts) >= 2:
        for p in parts:
            if all(p != r.query or r.docs is not None for r in out.rankings):
                out.rankings.append(Ranking(p, CLAUSE_WEIGHT, None, "clause"))
    out.rankings = out.rankings[:MAX_RANKINGS]
    return out


def score(
    ranking: Ranking, cands: list[int], lex: np.ndarray, dense: np.ndarray, boost_docs: set[int], snap: Snapshot
) -> list[tuple[float, int]]:
    """One ranking's candidates (chunk positions), best first: BM25 and dense scores (``lex``,
    ``dense``: one per candidate) each scaled by its best, mixed, plus the named-document bonus."""
    if not cands:
        return []
    dn = np.maximum(dense, 0.0)
    max_lex = float(lex.max()) if lex.size and lex.max() > 0 else 1.0
    max_dn = float(dn.max()) if dn.size and dn.max() > 0 else 1.0
    w = LEXICAL_WEIGHT if ranking.label == "question" else PART_LEXICAL_WEIGHT
    s = w * lex / max_lex + (1 - w) * dn / max_dn
    if ranking.docs is None and boost_docs:
        s = s + META_BOOST * np.isin(snap.doc_of[cands], list(boost_docs))
    order = np.argsort(-s, kind="stable")
    return [(float(s[j]), cands[j]) for j in order]


def merge(plan: Plan, ranked: list[list[tuple[float, int]]], k: int, snap: Snapshot) -> list[tuple[float, int]]:
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
        d = int(snap.doc_of[i])
        if i in seen or per_doc.get(d, 0) >= PER_DOC_CAP:
            continue
        seen.add(i)
        per_doc[d] = per_doc.get(d, 0) + 1
        out.append((s, i))
        if len(out) == k:
            break
    return out
