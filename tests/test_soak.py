"""A short soak of the web app (benchmarks/soak.py): 120 browser sessions x 3 questions through the
real Gradio queue, real embedder and Chroma, a stand-in LLM. Memory stays bounded: Gradio holds at
most ``max_sessions`` conversations, each at most ``history_turns`` turns, the text cache at most
``text_cache_mb``, and RSS after warm-up grows by less than a bound (not a timing)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.soak import run  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:gradio.queueing")
GROWTH_MB = 40  # RSS growth allowed after warm-up; the unbounded control grows well past it (benchmarks/soak.json)


def test_memory_stays_bounded_over_many_sessions(tmp_path, shared_embedder):
    result = run(
        sessions=120,
        questions=3,
        clients=2,
        docs=12,
        history_turns=2,
        max_sessions=20,
        text_cache_mb=0.05,
        sample_every=60,
        work_dir=str(tmp_path),
        shared_embedder=shared_embedder,
        log=lambda *_: None,
    )
    s, samples = result["summary"], result["samples"]
    assert s["errors"] == 0 and s["questions"] == 360 and s["citations_shown"] >= 300, s
    assert max(x["gradio_sessions"] for x in samples) <= 20  # sessions beyond max_sessions forgotten
    assert max(x["most_turns"] for x in samples) == 2  # each keeps its last history_turns turns
    assert max(x["text_cache_kb"] for x in samples) <= 0.05 * 1024
    assert s["max_after_warm_mb"] < GROWTH_MB, samples
