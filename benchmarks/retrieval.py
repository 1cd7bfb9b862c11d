"""Retrieval only, on the dev questions: MultiHop-RAG Hits@4/Hits@10/MRR@10 and evidence-doc recall@10.

Rankers, all over the same index (our chunks, <= 256 word pieces, packaged MiniLM, Chroma):
- ``dense``: Chroma nearest neighbours of the question (what a plain vector index does);
- ``bm25``: BM25 over the same chunks (our tokenizer: stemmed words minus stop words);
- ``rrf``: reciprocal-rank fusion (k=60) of the two;
- ``hybrid_v0``: our retriever before question analysis (benchmarks/legacy_retrieve.py);
- ``ours``: ``assistant.retrieve.Retriever`` (what ``Assistant.search`` runs).

Metrics as in ``assistant.evaluate``: hits@k is the share of a question's evidence sentences
found in the top k chunks (the paper's definition); hits_any@k the reference script's "any
evidence sentence in the top k"; mrr@10 the reciprocal rank of the first chunk holding one.

    .venv/bin/python benchmarks/retrieval.py [--out benchmarks/retrieval.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import assistant  # noqa: E402,F401  (sets the offline environment before any model library loads)
from benchmarks.common import CACHE, DEV, machine, percentile  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--corpus", default=str(DEV / "corpus"))
    p.add_argument("--questions", default=str(DEV / "questions.jsonl"))
    p.add_argument("--index", default=str(CACHE / "dev-index"), help="private index (synced, so reused when unchanged)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "retrieval.json"))
    p.add_argument("-v", action="store_true", help="print each question's evidence ranks")
    args = p.parse_args(argv)

    from assistant import evaluate as ev
    from assistant.core import Assistant
    from assistant.question import lexical_terms
    from assistant.settings import Settings
    from benchmarks.legacy_retrieve import Retriever as LegacyRetriever

    a = Assistant(Settings.load(index_dir=args.index, chroma_url="", collection="eval"))
    a.ingest(args.corpus, progress=False)
    ours = a.retriever
    legacy = LegacyRetriever(a.store, a.embedder, a.settings)
    bm25, chunks, pos = legacy._lexical_index()  # bm25s over the same chunks: the lexical-only baseline
    qs = ev.load_questions(args.questions)

    def dense(q):
        return [c for c, _ in a.store.query(a.embedder.embed_one(q), 10)]

    def lexical(q):
        s = bm25.get_scores(lexical_terms(q))
        return [chunks[i] for i in np.argsort(-s)[:10] if s[i] > 0]

    def rrf(q):
        d = [c for c, _ in a.store.query(a.embedder.embed_one(q), 50)]
        s = bm25.get_scores(lexical_terms(q))
        lx = [chunks[i] for i in np.argsort(-s)[:50] if s[i] > 0]
        score: dict[str, float] = {}
        by_id = {}
        for lst in (d, lx):
            for r, c in enumerate(lst):
                score[c.id] = score.get(c.id, 0.0) + 1.0 / (60 + r + 1)
                by_id[c.id] = c
        return [by_id[i] for i in sorted(score, key=lambda i: -score[i])[:10]]

    rankers = {
        "dense": dense,
        "bm25": lexical,
        "rrf": rrf,
        "hybrid_v0": lambda q: [p.chunk for p in legacy.search(q, 10)],
        "ours": lambda q: [p.chunk for p in ours.search(q, 10)],
    }
    for fn in rankers.values():
        fn("warm up")
    result = {"machine": machine(), "n_questions": len(qs), "rankers": {}}
    for name, fn in rankers.items():
        rows, times = [], []
        for q in qs:
            facts = [f["fact"] for f in q["meta"].get("evidence_facts") or []]
            t0 = time.perf_counter()
            got = fn(q["question"])
            times.append(time.perf_counter() - t0)
            ranks = ev.fact_ranks(facts, [c.text for c in got])
            files = [os.path.basename(c.source) for c in got]
            rows.append(
                {
                    "type": q["type"],
                    "hits@4": ev.hits_at(ranks, 4),
                    "hits@10": ev.hits_at(ranks, 10),
                    "hits_any@10": ev.hits_any_at(ranks, 10),
                    "mrr@10": ev.mrr_at(ranks, 10),
                    "doc_recall@10": ev.doc_recall([os.path.basename(e) for e in q["evidence"]], files)
                    if q["answerable"]
                    else None,
                }
            )
            if args.v and facts and name == "ours":
                print(q["id"], q["type"], ranks, file=sys.stderr)

        def agg(rs):
            out = {}
            for k in ("hits@4", "hits@10", "hits_any@10", "mrr@10", "doc_recall@10"):
                vs = [r[k] for r in rs if r[k] is not None]
                out[k] = round(sum(vs) / len(vs), 3) if vs else None
            out["n_with_evidence_sentences"] = sum(1 for r in rs if r["hits@10"] is not None)
            return out

        entry = agg(rows)
        entry["p50_ms"] = round(1000 * percentile(times, 50), 1)
        entry["p95_ms"] = round(1000 * percentile(times, 95), 1)
        entry["by_type"] = {t: agg([r for r in rows if r["type"] == t]) for t in sorted({r["type"] for r in rows})}
        result["rankers"][name] = entry
        print(
            f"{name:10s} hits@4={entry['hits@4']} hits@10={entry['hits@10']} hits_any@10={entry['hits_any@10']} "
            f"mrr@10={entry['mrr@10']} doc_recall@10={entry['doc_recall@10']} p50={entry['p50_ms']}ms",
            file=sys.stderr,
        )
    Path(args.out).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
