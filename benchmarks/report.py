"""Render benchmarks/results.md (and results.json) from the JSON each benchmark part wrote."""

from __future__ import annotations

import json
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _load(name: str):
    p = HERE / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def _f(v, nd=3):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def _machine(m: dict | None) -> str:
    if not m:
        return "?"
    return (
        f"{m.get('cpu', '?')}, {m.get('cpus')} CPUs, {m.get('mem_gib')} GiB RAM, Python {m.get('python')}; "
        f"load average at start {_f(m.get('loadavg_at_start'), 1)}"
    )


def render() -> str:
    retrieval, baseline, ingest, scale = (_load(n) for n in ("retrieval", "baseline", "ingest", "scale"))
    notes = HERE / "notes.md"
    out = [
        "# Benchmark results",
        "",
        f"Rendered {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `.venv/bin/python -m benchmarks.run` "
        "(parts: `--only retrieval baseline ingest scale report`).",
        "All timings are wall-clock on a 2-core VM. Each part gives the load average when it started: "
        "parts that started at a load of 5 or more shared the machine with other jobs, so read their "
        "absolute latencies as upper bounds with +-50% noise (see the notes at the end); ratios measured "
        "back to back in one run are firmer.",
        "",
    ]
    if retrieval:
        out += [
            "## Retrieval on the dev questions (no LLM)",
            "",
            f"Machine: {_machine(retrieval.get('machine'))}.",
            "",
            "hits@k = share of a question's evidence sentences in the top k chunks (MultiHop-RAG paper's definition); "
            "hits_any@10 = any evidence sentence in the top 10 (its reference script); averaged over the "
            f"{next(iter(retrieval['rankers'].values()))['n_with_evidence_sentences']} MultiHop-RAG questions that "
            "list evidence sentences. doc_recall@10 over all answerable questions.",
            "",
            "| ranker | hits@4 | hits@10 | hits_any@10 | MRR@10 | doc recall@10 | p50 ms | p95 ms |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, r in retrieval["rankers"].items():
            out.append(
                f"| {name} | {_f(r['hits@4'])} | {_f(r['hits@10'])} | {_f(r['hits_any@10'])} | {_f(r['mrr@10'])} | "
                f"{_f(r['doc_recall@10'])} | {_f(r['p50_ms'], 0)} | {_f(r['p95_ms'], 0)} |"
            )
        ours = retrieval["rankers"].get("ours")
        if ours:
            out += ["", "By type (ours):", "", "| type | hits@10 | MRR@10 | doc recall@10 |", "|---|---|---|---|"]
            for t, r in ours["by_type"].items():
                out.append(f"| {t} | {_f(r['hits@10'])} | {_f(r['mrr@10'])} | {_f(r['doc_recall@10'])} |")
        out.append("")
    if baseline:
        out += [
            "## Plain llama-index pipeline against ours (same questions, same LLM)",
            "",
            f"Machine: {_machine(baseline.get('machine'))}. Questions: the first {baseline.get('limit')} of "
            f"dev/questions.jsonl ({', '.join(baseline.get('question_ids', []))}).",
            "",
            "| metric | plain llama-index | ours |",
            "|---|---|---|",
        ]
        keys = (
            "n_questions",
            "n_errors",
            "hits@10",
            "mrr@10",
            "doc_recall@10",
            "context_hits",
            "accuracy",
            "refusal_rate",
            "false_refusal_rate",
            "n_citations",
            "citation_exact_rate",
            "citation_in_evidence_rate",
            "p50_retrieval_s",
            "p50_first_token_s",
            "p50_first_text_s",
            "p50_total_s",
            "p95_total_s",
        )
        b = (baseline.get("baseline") or {}).get("overall", {})
        o = (baseline.get("ours") or {}).get("overall", {})
        for k in keys:
            out.append(f"| {k} | {_f(b.get(k))} | {_f(o.get(k))} |")
        out.append(
            f"| index build s | {_f((baseline.get('baseline') or {}).get('index_build_s'), 1)} | "
            f"{_f((baseline.get('ours') or {}).get('index_build_s'), 1)} |"
        )
        out += [
            "",
            "The plain pipeline has no refusal path and shows no citations; its answer counts as a refusal "
            "when its first sentence says the context lacks the answer. Its first token comes after the whole "
            "prompt (10 chunks of 256 tokens) is read; ours reads ~8 selected sentences and streams verified "
            "sentences (first_text is when the user sees the first one).",
            "",
        ]
    if ingest:
        out += [
            "## Ingestion",
            "",
            f"Machine: {_machine(ingest.get('machine'))}.",
            "",
            "| measure | value |",
            "|---|---|",
            f"| documents / chunks | {ingest['documents']} / {ingest['chunks']} |",
            f"| raw sentence-transformers encode of the same chunk texts | {ingest['raw_encode_s']} s "
            f"({_f(ingest['raw_chunks_per_s'], 1)} chunks/s) |",
            f"| full ingest (read, hash, chunk, embed, write Chroma) | {_f(ingest['ingest_s'], 1)} s "
            f"({_f(ingest['ingest_chunks_per_s'], 1)} chunks/s) |",
            f"| overhead over raw encode (target <= 0.15) | {_f(ingest['overhead'])} |",
            f"| re-ingest of the unchanged corpus | {_f(ingest['reingest_s'], 2)} s, "
            f"{ingest['reingest_embedded']} chunks embedded |",
            f"| re-ingest / first ingest (target <= 0.05) | {_f(ingest['reingest_share'], 4)} |",
            "",
        ]
    if scale:
        out += [
            "## Scale",
            "",
            f"Machine: {_machine(scale.get('machine'))}.",
            "",
            scale.get("method", ""),
            "",
            "| chunks | mode | hybrid search p50 / p95 ms | dense query p50 / p95 ms | lexical index build s | "
            "lexical index MiB | process RSS MiB | server RSS MiB | index on disk MiB | store build s |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in scale["results"]:
            for mode in ("embedded", "server"):
                m = r.get(mode)
                if not m:
                    continue
                out.append(
                    f"| {r['size']:,} | {mode} | "
                    f"{_f(m['hybrid_search_p50_ms'], 0)} / {_f(m['hybrid_search_p95_ms'], 0)} | "
                    f"{_f(m['dense_query_p50_ms'], 0)} / {_f(m['dense_query_p95_ms'], 0)} | "
                    f"{_f(m['lexical_index_build_s'], 1)} | {_f(m['lexical_index_rss_mib'], 0)} | "
                    f"{_f(m['process_rss_mib'], 0)} | {_f(m.get('server_rss_mib'), 0)} | {_f(r['disk_mib'], 0)} | "
                    f"{_f(r['build_s'], 0)} |"
                )
        measured = {r["size"] for r in scale["results"]}
        missing = [n for n in (10_000, 100_000, 1_000_000) if n not in measured]
        if missing:
            out += ["", f"Not measured: {', '.join(f'{n:,}' for n in missing)} chunks (see notes below)."]
        out.append("")
    dev = HERE / "eval-dev" / "summary.json"
    if dev.exists():
        e = json.loads(dev.read_text())
        run_ = e.get("run", {})
        out += [
            "## Full `assistant eval` on dev (60 questions, embedded Qwen2.5-1.5B)",
            "",
            f"Machine: {_machine(run_.get('machine'))}. Started {run_.get('started')}, no other job running; "
            "index reused (a fresh build of the 300 documents, 4,122 chunks, took 195 s on the idle machine "
            "in `assistant eval --retrieval-only`). "
            "Full per-question report: `benchmarks/eval-dev/report.md`, chart `report.png`.",
            "",
            "| type | n | hits@10 | MRR@10 | context hits | accuracy | refusal | false refusal | "
            "citations exact | citations in evidence | p50 first token s | p50 total s |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for t, m in list(e["by_type"].items()) + [("**overall**", e["overall"])]:
            out.append(
                f"| {t} | {m['n_questions']} | {_f(m['hits@10'])} | {_f(m['mrr@10'])} | {_f(m['context_hits'])} | "
                f"{_f(m['accuracy'])} | {_f(m['refusal_rate'])} | {_f(m['false_refusal_rate'])} | "
                f"{_f(m['citation_exact_rate'])} | {_f(m['citation_in_evidence_rate'])} | "
                f"{_f(m['p50_first_token_s'], 1)} | {_f(m['p50_total_s'], 1)} |"
            )
        out.append("")
    if notes.exists():
        out += [notes.read_text().strip(), ""]
    return "\n".join(out)


def main():
    (HERE / "results.md").write_text(render())
    combined = {n: _load(n) for n in ("retrieval", "baseline", "ingest", "scale")}
    (HERE / "results.json").write_text(json.dumps(combined, indent=1, default=str))


if __name__ == "__main__":
    main()
