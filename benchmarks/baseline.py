"""Plain llama-index RAG against ours, side by side on the same dev questions and the same LLM.

Baseline: ``VectorStoreIndex`` over Chroma (its own collection in a private folder), the same
packaged MiniLM through llama-index's ``HuggingFaceEmbedding(model_name=<packaged path>)``,
llama-index's ``SentenceSplitter`` at 256 tokens (MultiHop-RAG's chunk size; overlap 32), dense
top-10, llama-index's default text-QA prompt, and the same embedded Qwen2.5-1.5B GGUF wrapped
in a ``CustomLLM``. ``Settings.llm`` and ``Settings.embed_model`` are both set (unset they
reach for OpenAI). It has no refusal mechanism and no citations: an answer counts as a refusal
when its first sentence says the context lacks the answer.

Ours: ``assistant.evaluate.run`` on the same questions (the user path: ``Assistant.stream``).

Both are scored with the same functions (``assistant.evaluate``).

    .venv/bin/python benchmarks/baseline.py --limit 10 [--out benchmarks/baseline.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import assistant  # noqa: E402,F401  (sets the offline environment before any model library loads)
from benchmarks.common import CACHE, DEV, machine  # noqa: E402


def wrap_llm(llm, context_window: int, num_output: int):
    """Our LLM (``assistant.llm.LLM``) as a llama-index ``CustomLLM``."""
    from llama_index.core.llms import CompletionResponse, CustomLLM, LLMMetadata
    from llama_index.core.llms.callbacks import llm_completion_callback
    from pydantic import PrivateAttr

    class Wrapped(CustomLLM):
        context_window: int = 4096
        num_output: int = 256
        model_name: str = "assistant-llm"
        _llm: Any = PrivateAttr()

        def __init__(self, inner, **kw):
            super().__init__(**kw)
            self._llm = inner

        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata(
                context_window=self.context_window, num_output=self.num_output, model_name=self.model_name
            )

        @llm_completion_callback()
        def complete(self, prompt: str, formatted: bool = False, **kwargs) -> CompletionResponse:
            text = self._llm.complete([{"role": "user", "content": prompt}], max_tokens=self.num_output)
            return CompletionResponse(text=text)

        @llm_completion_callback()
        def stream_complete(self, prompt: str, formatted: bool = False, **kwargs):
            def gen():
                acc = ""
                for piece in self._llm.stream([{"role": "user", "content": prompt}], max_tokens=self.num_output):
                    acc += piece
                    yield CompletionResponse(text=acc, delta=piece)

            return gen()

    return Wrapped(llm, context_window=context_window, num_output=num_output, model_name=getattr(llm, "name", "llm"))


def looks_like_refusal(answer: str) -> bool:
    from assistant.text import sentences
    from assistant.verify import is_refusal

    text = (answer or "").strip()
    if not text:
        return True
    first = sentences(text)
    head = text[first[0].start : first[0].end] if first else text
    return is_refusal(head) or "insufficient information" in head.lower()


def run_baseline(corpus: Path, questions: list[dict], work: Path, k: int = 10, max_tokens: int = 200) -> dict:
    import chromadb
    from llama_index.core import Settings as LI
    from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from assistant import evaluate as ev
    from assistant.llm import EmbeddedLLM, load_llm
    from assistant.models import embedding_model_path
    from assistant.settings import Settings

    settings = Settings.load()
    LI.embed_model = HuggingFaceEmbedding(model_name=embedding_model_path(settings), device="cpu")
    inner = load_llm(settings)
    t0 = time.perf_counter()
    if isinstance(inner, EmbeddedLLM):
        inner.load()
    llm_load_s = time.perf_counter() - t0
    LI.llm = wrap_llm(inner, settings.n_ctx, max_tokens)
    LI.node_parser = SentenceSplitter(chunk_size=256, chunk_overlap=32)

    t0 = time.perf_counter()
    work.mkdir(parents=True, exist_ok=True)
    marker = work / "complete.json"
    client = chromadb.PersistentClient(path=str(work / "chroma"))
    if not marker.exists():
        try:
            client.delete_collection("baseline")
        except Exception:
            pass
    collection = client.get_or_create_collection("baseline")
    store = ChromaVectorStore(chroma_collection=collection)
    if marker.exists():
        index = VectorStoreIndex.from_vector_store(store)
        build_s = json.loads(marker.read_text())["build_s"]
    else:
        docs = SimpleDirectoryReader(str(corpus), required_exts=[".txt"]).load_data()
        index = VectorStoreIndex.from_documents(docs, storage_context=StorageContext.from_defaults(vector_store=store))
        build_s = time.perf_counter() - t0
        marker.write_text(json.dumps({"build_s": build_s, "chunks": collection.count()}))
    engine = index.as_query_engine(similarity_top_k=k, streaming=True)
    retriever = index.as_retriever(similarity_top_k=k)

    rows = []
    for q in questions:
        facts = [f["fact"] for f in (q.get("meta") or {}).get("evidence_facts") or []]
        row = {
            "id": q["id"],
            "type": q.get("type"),
            "answerable": bool(q.get("answerable", True)),
            "asked": True,
            "error": None,
            "citations": [],
        }
        try:
            t0 = time.perf_counter()
            nodes = retriever.retrieve(q["question"])
            row["retrieval_s"] = time.perf_counter() - t0
            ranks = ev.fact_ranks(facts, [n.node.get_content() for n in nodes])
            row["hits@4"], row["hits@10"] = ev.hits_at(ranks, 4), ev.hits_at(ranks, 10)
            row["hits_any@4"], row["hits_any@10"] = ev.hits_any_at(ranks, 4), ev.hits_any_at(ranks, 10)
            row["mrr@10"] = ev.mrr_at(ranks, 10)
            files = [os.path.basename(n.node.metadata.get("file_name", "")) for n in nodes]
            row["doc_recall@10"] = (
                ev.doc_recall([os.path.basename(e) for e in q.get("evidence") or []], files)
                if row["answerable"]
                else None
            )
            row["context_hits"] = ev.share_found(facts, [n.node.get_content() for n in nodes])  # all k go to the LLM

            t0 = time.perf_counter()
            response = engine.query(q["question"])
            first = None
            text = ""
            for piece in response.response_gen:
                if first is None and piece:
                    first = time.perf_counter() - t0
                text += piece
            row["total_s"] = time.perf_counter() - t0
            row["first_token_s"] = first
            row["first_text_s"] = first
            row["answer"] = text.strip()
            row["refused"] = looks_like_refusal(text)
            if row["answerable"]:
                row["correct"] = (not row["refused"]) and ev.is_correct(
                    text, q.get("answer", ""), (q.get("meta") or {}).get("answer_variants"), q.get("must_contain_any")
                )
            else:
                row["correct"] = row["refused"]
        except Exception as e:  # recorded, not fatal
            row["error"] = f"{type(e).__name__}: {e}"
            row["correct"] = False if row["answerable"] else None
        rows.append(row)
        print(
            f"  baseline {q['id']}: correct={row.get('correct')} refused={row.get('refused')} "
            f"total={row.get('total_s', 0):.1f}s",
            file=sys.stderr,
        )
    agg = ev.aggregate(rows)
    agg["n_citations"] = 0  # the plain pipeline shows none
    return {
        "overall": agg,
        "by_type": {t: ev.aggregate([r for r in rows if r["type"] == t]) for t in sorted({r["type"] for r in rows})},
        "index_build_s": round(build_s, 1),
        "llm_load_s": round(llm_load_s, 1),
        "questions": rows,
    }


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--corpus", default=str(DEV / "corpus"))
    p.add_argument("--questions", default=str(DEV / "questions.jsonl"))
    p.add_argument("--limit", type=int, default=10)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "baseline.json"))
    p.add_argument("--skip-ours", action="store_true", help="keep the 'ours' part of an existing --out file")
    p.add_argument("--skip-baseline", action="store_true", help="keep the 'baseline' part of an existing --out file")
    p.add_argument(
        "--index-cache",
        default=str(CACHE / "baseline-index"),
        help="the baseline's Chroma folder, kept between runs (its build time is recorded once)",
    )
    args = p.parse_args(argv)

    from assistant import evaluate as ev

    questions = ev.load_questions(args.questions, args.limit)
    work = Path(tempfile.mkdtemp(prefix="bench-baseline-"))
    prior = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else {}
    if prior.get("limit") != args.limit:
        prior = {}
    result = {"machine": machine(), "limit": args.limit, "question_ids": [q["id"] for q in questions]}
    for part in ("ours", "baseline"):
        if getattr(args, f"skip_{part}") and part in prior:
            result[part] = prior[part]
    try:
        if not args.skip_ours:
            t0 = time.perf_counter()
            # A private index kept between runs (synced: an unchanged corpus costs a hash per file);
            # a fresh build's time is what `assistant eval` and benchmarks/ingest.py report.
            ours = ev.run(
                args.corpus,
                args.questions,
                str(CACHE / "ours-eval"),
                limit=args.limit,
                progress=False,
                reuse_index=True,
            )
            result["ours"] = {
                "overall": ours["overall"],
                "by_type": ours["by_type"],
                "index_build_s": ours["run"]["index_build_s"],
                "llm_load_s": ours["run"]["llm_load_s"],
                "wall_s": round(time.perf_counter() - t0, 1),
                "questions": [
                    {
                        k: r.get(k)
                        for k in ("id", "type", "correct", "refused", "answer", "total_s", "first_token_s", "error")
                    }
                    for r in ours["questions"]
                ],
            }
            print(f"ours: {json.dumps(ours['overall'])}", file=sys.stderr)
            from assistant.llm import EmbeddedLLM  # noqa: F401  (free our model before loading the baseline's)

            del ours
        if not args.skip_baseline:
            t0 = time.perf_counter()
            base = run_baseline(Path(args.corpus), questions, Path(args.index_cache))
            base["wall_s"] = round(time.perf_counter() - t0, 1)
            result["baseline"] = base
            print(f"baseline: {json.dumps(base['overall'])}", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    Path(args.out).write_text(json.dumps(result, indent=1, default=str))
    return result


if __name__ == "__main__":
    main()
