"""A short soak of the web app (benchmarks/soak.py): 30 browser sessions x 4 questions through the
real Gradio queue, real embedder and Chroma, a stand-in LLM. Memory stays bounded: Gradio holds at
most ``max_sessions`` conversations, each at most ``history_turns`` turns, the text cache at most
``text_cache_mb``, and RSS after warm-up grows by less than a runaway bound (not a timing)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.soak import run  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:gradio.queueing")
# RSS growth allowed after warm-up (a fifth of the traffic): a guard against a runaway, not a proof of
# flatness. The full run (benchmarks/soak.json, 600 questions) still grew ~0.35 MiB a question after every
# bound was reached (sessions, turns, text and answer caches): a cause not found yet, see benchmarks/soak.md.
GROWTH_MB = 120


def test_memory_stays_bounded_over_many_sessions(tmp_path, shared_embedder):
    result = run(
        sessions=30,
        questions=4,
        clients=2,
        docs=8,
        history_turns=2,
        max_sessions=10,
        text_cache_mb=0.05,
        sample_every=24,
        work_dir=str(tmp_path),
        shared_embedder=shared_embedder,
        log=lambda *_: None,
    )
    s, samples = result["summary"], result["samples"]
    assert s["errors"] == 0 and s["questions"] == 120 and s["citations_shown"] >= 90, s
    assert max(x["gradio_sessions"] for x in samples) <= 10  # sessions beyond max_sessions forgotten
    assert max(x["most_turns"] for x in samples) == 2  # each keeps its last history_turns turns
    assert max(x["text_cache_kb"] for x in samples) <= 0.05 * 1024
    assert s["max_after_warm_mb"] < GROWTH_MB, samples
