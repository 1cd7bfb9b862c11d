"""fusion: the plan of rankings for a question, one ranking's scores, and the merge (no index:
a Snapshot of chunks written here)."""

import numpy as np
import pytest

from assistant import fusion
from assistant.fusion import Plan, Ranking
from assistant.schema import Chunk
from assistant.snapshot import Snapshot

DOCS = [  # (source, outlet, date, chunks)
    ("/n/pier.txt", "Coast Weekly", "2024-03-04", 3),
    ("/n/orchard.txt", "Valley Post", "2024-05-10", 2),
    *[(f"/n/other{i}.txt", "", "2023-01-01", 1) for i in range(20)],
]


def snapshot() -> Snapshot:
    chunks = [
        Chunk(
            id=f"{src}#{j}", source=src, title="", date=date, doc_hash="h", start=j, end=j + 1, text="x", outlet=outlet
        )
        for src, outlet, date, n in DOCS
        for j in range(n)
    ]
    return Snapshot.of("v1", reversed(chunks))  # store order need not be document order


def test_a_short_question_naming_nothing_is_one_ranking():
    plan = fusion.plan("Why do ferries run late?", snapshot())
    assert [r.label for r in plan.rankings] == ["question"] and not plan.boost_docs


def test_clauses_naming_two_outlets_are_searched_within_their_documents():
    snap = snapshot()
    q = (
        "Did Coast Weekly report that the pier closed early for repairs, while Valley Post "
        "reported that the orchard harvest was smaller this year?"
    )
    plan = fusion.plan(q, snap)
    pier, orchard = snap.doc_num["/n/pier.txt"], snap.doc_num["/n/orchard.txt"]
    assert plan.boost_docs == {pier, orchard}
    filters = [r for r in plan.rankings if r.label == "filter"]
    assert [r.docs for r in filters] == [{pier}, {orchard}]
    assert "pier closed" in filters[0].query and "orchard harvest" in filters[1].query
    assert plan.rankings[0].label == "question" and any(r.label == "clause" for r in plan.rankings)


def test_a_date_filters_like_an_outlet():
    snap = snapshot()
    named = snap.named("What happened at the pier on March 4, 2024?")
    assert named == [("2024-03-04", {snap.doc_num["/n/pier.txt"]})]


def test_score_mixes_scaled_lexical_and_dense_and_boosts_named_documents():
    snap = snapshot()
    cands = [snap.pos["/n/other0.txt#0"], snap.pos["/n/pier.txt#0"]]
    lex, dense = np.array([1.5, 1.0]), np.array([0.5, 1.0])
    plain = fusion.score(Ranking("q", label="question"), cands, lex, dense, set(), snap)
    w = fusion.LEXICAL_WEIGHT
    assert [i for _, i in plain] == cands
    assert [s for s, _ in plain] == pytest.approx([w + (1 - w) * 0.5, w / 1.5 + (1 - w)])
    boosted = fusion.score(Ranking("q", label="question"), cands, lex, dense, {snap.doc_num["/n/pier.txt"]}, snap)
    assert boosted[0][1] == cands[1] and boosted[0][0] == pytest.approx(w / 1.5 + (1 - w) + fusion.META_BOOST)


def test_merge_puts_consensus_first_then_takes_turns_under_the_per_document_cap():
    snap = snapshot()
    p = [snap.pos[f"/n/pier.txt#{j}"] for j in range(3)] + [snap.pos[f"/n/other{i}.txt#0"] for i in range(3)]
    plan = Plan(rankings=[Ranking("a", 1.0), Ranking("b", 0.8)])
    ranked = [[(1.0, p[3]), (0.9, p[0]), (0.8, p[1])], [(1.0, p[0]), (0.9, p[4]), (0.8, p[2])]]
    got = [i for _, i in fusion.merge(plan, ranked, 5, snap)]
    assert got[0] == p[0]  # second in one ranking and first in the other: the consensus
    assert set(got) == {p[0], p[3], p[1], p[4], p[2]}
    fusion_cap, fusion.PER_DOC_CAP = fusion.PER_DOC_CAP, 2
    try:
        capped = [i for _, i in fusion.merge(plan, ranked, 5, snap)]
    finally:
        fusion.PER_DOC_CAP = fusion_cap
    assert sum(int(snap.doc_of[i]) == snap.doc_num["/n/pier.txt"] for i in capped) == 2
