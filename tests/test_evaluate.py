"""`assistant eval`: metric functions against hand-computed values, and real end-to-end runs."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pytest
from conftest import SHARED

from assistant import evaluate as ev

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SEED_QUESTIONS = SHARED / "eval" / "seed_questions.jsonl"

OVERALL_KEYS = {
    "hits@10",
    "mrr@10",
    "doc_recall@10",
    "context_hits",
    "accuracy",
    "refusal_rate",
    "false_refusal_rate",
    "citation_exact_rate",
    "citation_in_evidence_rate",
    "p50_first_token_s",
    "p50_total_s",
    "n_questions",
}


# --------------------------------------------------------------------------- retrieval metrics

CHUNKS = [
    "Nothing relevant here.",
    "The cat sat\n on the mat. Then it slept.",  # holds fact A across a line break
    "More filler.",
    "Filler again.",
    "Here the dog   barked loudly.",  # fact B, extra spaces
]
FACT_A = "The cat sat on the mat."
FACT_B = "the dog barked loudly."
FACT_MISSING = "A sentence no chunk has."


def test_fact_ranks_ignore_whitespace_like_multihop_rag():
    assert ev.fact_ranks([FACT_A, FACT_B, FACT_MISSING], CHUNKS) == [2, 5, None]


def test_fact_ranks_are_case_sensitive_like_the_reference():
    assert ev.fact_ranks(["the cat sat on the mat."], CHUNKS) == [None]


def test_hits_are_the_share_of_evidence_sentences_found():
    ranks = [2, 5, None]
    assert ev.hits_at(ranks, 4) == pytest.approx(1 / 3)
    assert ev.hits_at(ranks, 10) == pytest.approx(2 / 3)
    assert ev.hits_any_at(ranks, 1) == 0.0
    assert ev.hits_any_at(ranks, 4) == 1.0
    assert ev.hits_at([], 10) is None and ev.hits_any_at([], 10) is None


def test_mrr_is_reciprocal_rank_of_first_evidence_chunk_within_k():
    assert ev.mrr_at([2, 5, None], 10) == pytest.approx(0.5)
    assert ev.mrr_at([5, 3], 10) == pytest.approx(1 / 3)
    assert ev.mrr_at([11, None], 10) == 0.0
    assert ev.mrr_at([], 10) is None


def test_doc_recall():
    assert ev.doc_recall(["a.txt", "b.txt"], ["b.txt", "c.txt", "b.txt"]) == 0.5
    assert ev.doc_recall(["a.txt", "a.txt"], ["a.txt"]) == 1.0
    assert ev.doc_recall([], ["a.txt"]) is None


def test_share_found_in_context():
    assert ev.share_found([FACT_A, FACT_B], ["The cat sat on the mat.", "x"]) == 0.5
    assert ev.share_found([], ["x"]) is None


def test_merge_spans_joins_adjacent_sentences_of_one_document():
    text = "First one. Second one. Third one."
    texts = {"d": text}
    # "First one." [0,10) and "Second one." [11,22) are adjacent (a space between): one context text.
    merged = ev.merge_spans([("d", 11, 22), ("d", 0, 10)], texts)
    assert merged == ["First one. Second one."]
    assert ev.share_found(["one. Second"], merged) == 1.0
    # A gap with words in it is not bridged.
    assert ev.merge_spans([("d", 0, 10), ("d", 23, 33)], texts) == ["First one.", "Third one."]


# --------------------------------------------------------------------------- answer scoring


def test_contains_gold_or_variant_case_insensitive():
    assert ev.is_correct("It was google, according to [1].", "Google")
    assert ev.is_correct("Released on Nov. 21, 1998 [2].", "November 21, 1998", ["Nov. 21, 1998"])
    assert not ev.is_correct("Released in 1998 [2].", "November 21, 1998", ["Nov. 21, 1998"])
    assert ev.is_correct("These are sportsbooks [1].", "Sportsbooks.")  # gold's trailing period is not required


def test_yes_no_gold_needs_the_first_yes_no_word():
    assert ev.is_correct("Yes, both reports agree [1].", "Yes")
    assert ev.is_correct("No. The later report differs [2].", "no")
    assert not ev.is_correct("No, they did not; yes in part [1].", "Yes")  # hedging: first word decides
    assert not ev.is_correct("Yes ... no, the second did not [1].", "no")
    assert not ev.is_correct("The reports agree [1].", "Yes")  # no yes/no word at all
    assert not ev.is_correct("Nobody knows [1].", "no")  # 'no' must be a whole word
    assert ev.is_correct("They are similar [1].", "Similar")


def test_must_contain_any_wins_for_seed_questions():
    assert ev.is_correct("Four sources spoke to NBC [1].", "Four", must_contain_any=["four", "4"])
    assert ev.is_correct("4 officials [1].", "Four", must_contain_any=["four", "4"])
    assert not ev.is_correct("Several sources [1].", "Four", must_contain_any=["four", "4"])


def test_citation_exactness(tmp_path):
    f = tmp_path / "doc.txt"
    f.write_text("Title: T\n\nAlpha beta gamma. Delta epsilon.\n", encoding="utf-8")
    text = f.read_text(encoding="utf-8")
    start = text.index("Delta")
    end = start + len("Delta epsilon.")
    cache: dict = {}
    assert ev.citation_exact("Delta epsilon.", str(f), start, end, cache)
    assert not ev.citation_exact("Delta epsilon", str(f), start, end, cache)  # paraphrase/trim
    assert not ev.citation_exact("Delta epsilon.", str(f), start + 1, end + 1, cache)  # wrong offsets
    assert not ev.citation_exact("x", str(tmp_path / "gone.txt"), 0, 1, cache)


def test_percentiles():
    assert ev.percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert ev.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert ev.percentile([0.0, 10.0], 95) == pytest.approx(9.5)
    assert ev.percentile([None, 5.0], 50) == 5.0
    assert ev.percentile([], 50) is None


def _row(**kw):
    base = {"id": "x", "type": "t", "answerable": True, "asked": True, "error": None, "citations": []}
    base.update(kw)
    return base


def test_aggregate_by_hand():
    rows = [
        _row(
            correct=True,
            refused=False,
            **{"hits@10": 1.0, "mrr@10": 1.0},
            total_s=2.0,
            first_token_s=1.0,
            citations=[{"exact": True, "in_evidence": True}, {"exact": True, "in_evidence": False}],
        ),
        _row(correct=False, refused=True, **{"hits@10": 0.5, "mrr@10": 0.25}, total_s=4.0, first_token_s=None),
        _row(answerable=False, correct=True, refused=True, total_s=0.5, citations=[]),
        _row(
            answerable=False,
            correct=False,
            refused=False,
            total_s=6.0,
            first_token_s=3.0,
            citations=[{"exact": False, "in_evidence": None}],
        ),
        _row(correct=False, error="RuntimeError: boom", refused=None),
    ]
    m = ev.aggregate(rows)  # rounded to 4 decimals
    approx = lambda v: pytest.approx(v, abs=1e-4)  # noqa: E731
    assert m["n_questions"] == 5 and m["n_answerable"] == 3 and m["n_unanswerable"] == 2 and m["n_errors"] == 1
    assert m["accuracy"] == approx(1 / 3)  # the error counts as wrong
    assert m["false_refusal_rate"] == approx(0.5)  # of the answerable ones that got an answer
    assert m["refusal_rate"] == approx(0.5)
    assert m["hits@10"] == approx(0.75) and m["mrr@10"] == approx(0.625)
    assert m["citation_exact_rate"] == approx(2 / 3)
    assert m["citation_in_evidence_rate"] == approx(0.5)
    assert m["p50_total_s"] == approx(3.0)
    assert m["p50_first_token_s"] == approx(2.0)
    assert m["context_hits"] is None and m["doc_recall@10"] is None  # nothing to measure: null


def test_load_questions_defaults_and_limit(tmp_path):
    p = tmp_path / "q.jsonl"
    p.write_text(
        '{"question": "A?", "must_contain_any": ["a"]}\n\n{"id": "b", "question": "B?", "type": "x",'
        ' "answerable": false}\n',
        encoding="utf-8",
    )
    qs = ev.load_questions(str(p))
    assert [q["id"] for q in qs] == ["q1", "b"]
    assert qs[0]["type"] == "seed" and qs[0]["answerable"] is True and qs[1]["type"] == "x"
    assert len(ev.load_questions(str(p), limit=1)) == 1
    p.write_text("not json\n", encoding="utf-8")
    with pytest.raises(ValueError, match="q.jsonl:1"):
        ev.load_questions(str(p))


# --------------------------------------------------------------------------- end to end


def _args(tmp_path, **kw):
    if not SEED_QUESTIONS.exists():
        pytest.skip("shared seed questions not present")
    ns = argparse.Namespace(corpus=str(SEEDS), questions=str(SEED_QUESTIONS), out=str(tmp_path / "out"), limit=None)
    for k, v in kw.items():
        setattr(ns, k, v)
    return ns


def _check_files(out: Path) -> dict:
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert OVERALL_KEYS <= set(report["overall"])
    assert set(report["by_type"]) and all(OVERALL_KEYS <= set(m) for m in report["by_type"].values())
    assert (out / "report.md").read_text(encoding="utf-8").startswith("# Evaluation report")
    assert (out / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return report


def test_retrieval_only_end_to_end_on_seed(tmp_path, monkeypatch):
    report = ev.main(_args(tmp_path, retrieval_only=True))
    on_disk = _check_files(tmp_path / "out")
    assert on_disk["overall"] == json.loads(json.dumps(report["overall"]))
    o = report["overall"]
    assert o["n_questions"] == 4 and o["n_errors"] == 0
    assert o["doc_recall@10"] == 1.0  # one document: it is always found
    assert o["accuracy"] is None and o["p50_total_s"] is None  # nothing asked: null, not 0
    assert o["hits@10"] is None  # seed questions carry no evidence sentences
    assert report["run"]["index_chunks_embedded"] > 0
    # The private index lives under --out, in its own collection: never the user's index.
    assert Path(report["run"]["index_dir"]).is_relative_to(tmp_path / "out")


def test_a_failing_question_is_recorded_not_fatal(tmp_path, monkeypatch):
    from assistant.core import Assistant

    real = Assistant.search

    def flaky(self, query, k=None):
        if "capital" in query:
            raise RuntimeError("boom")
        return real(self, query, k)

    monkeypatch.setattr(Assistant, "search", flaky)
    report = ev.main(_args(tmp_path, retrieval_only=True))
    bad = [r for r in report["questions"] if r["error"]]
    assert len(bad) == 1 and "boom" in bad[0]["error"]
    assert report["overall"]["n_errors"] == 1 and report["overall"]["n_questions"] == 4


@pytest.mark.llm
def test_full_eval_on_seed_questions_with_the_real_llm(tmp_path):
    report = ev.main(_args(tmp_path))
    _check_files(tmp_path / "out")
    o = report["overall"]
    assert o["n_errors"] == 0
    assert o["accuracy"] is not None and o["refusal_rate"] is not None
    assert o["refusal_rate"] == 1.0  # "capital of Australia" is not in the seed article
    assert o["accuracy"] >= 2 / 3
    if o["citation_exact_rate"] is not None:
        assert o["citation_exact_rate"] == 1.0
        assert o["citation_in_evidence_rate"] == 1.0  # one document, and it is the evidence
    assert o["p50_total_s"] is not None and o["p50_total_s"] > 0
    for r in report["questions"]:
        assert r["asked"] and isinstance(r["answer"], str) and r["answer"]
        assert r["total_s"] >= r["retrieval_s"] * 0  # recorded
        assert math.isfinite(r["total_s"])
