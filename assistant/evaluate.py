"""``assistant eval``: measure retrieval, answers, citations and speed on a question set.

The run ingests the corpus into a private index (``<out>/index``, collection ``eval``, wiped
first so the build time is honest; never the user's index) and asks every question through
``Assistant.stream``, the path the CLI and the web app use. It writes:

- ``report.json``: ``{"overall": {...}, "by_type": {type: {...}}, "questions": [...], "run": {...}}``;
  every metric is a number, or null when there was nothing to measure (e.g. refusal rate on a
  set with no unanswerable question);
- ``report.md``: the same, for people;
- ``report.png``: per question type, accuracy / refusal / retrieval hits.

Metric definitions (all per question type and overall):

Retrieval, on ``Assistant.search(question, k=10)`` (our chunks are <= 256 word pieces, as in
MultiHop-RAG's evaluation):
- ``hits@4`` / ``hits@10``: share of a question's evidence sentences (``meta.evidence_facts``)
  found in the top 4 / 10 chunks, averaged over questions. A sentence is found when a chunk
  contains it once all whitespace is removed from both (MultiHop-RAG's matching rule). This is
  the paper's wording ("the fraction of evidence that appears in the top-K"); its reference
  script instead counts a question as hit when *any* sentence is found: that variant is
  reported as ``hits_any@4`` / ``hits_any@10``.
- ``mrr@10``: 1 / rank of the first chunk holding any evidence sentence (0 if none in top 10).
- ``doc_recall@10``: share of a question's evidence documents among the top-10 chunks' sources.
- ``context_hits``: share of evidence sentences inside the sources the LLM was given (the
  sentences ``evidence.select`` picked; adjacent picked spans of one document are merged).
  ``context_doc_recall``: share of evidence documents represented in that context.

Answers:
- ``accuracy`` (answerable questions): the answer contains the gold answer or one of
  ``meta.answer_variants`` (case-insensitive, MultiHop-RAG's rule), or one of
  ``must_contain_any`` when the question has that field. Stricter than the paper: when the gold
  answer is Yes or No, the answer's *first* yes/no word must be it ("Yes ... no" hedging is
  wrong). A refused or failed answer is wrong.
- ``accuracy_yes_no`` / ``accuracy_open``: the same, over answerable questions whose gold is
  Yes/No and over the others.
- ``supported_rate`` (answerable questions): the answer is right AND one of its cited quotes
  itself contains the gold answer (a variant counts); for a Yes/No gold, right and cited.
- ``wrong_shown_rate`` (all questions): an answer was shown (not refused) and it is wrong, an
  answer to an unanswerable question included.
- ``refusal_rate`` (unanswerable questions) and ``false_refusal_rate`` (answerable ones).

Citations, pooled over every citation shown:
- ``citation_exact_rate``: the quote is exactly ``text_of(source)[start:end]``;
- ``citation_in_evidence_rate``: the cited file is one of the question's gold evidence files
  (answerable questions that list evidence only).

Speed: p50/p95 of retrieval (``search`` wall time), first LLM token (``Answer.timings``, for
questions that reached the LLM), first visible text, and whole answer (wall time of the stream);
the index build time. A question that raises is recorded with its error and counts as wrong.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import sys
import time
import traceback
from collections import defaultdict
from pathlib import Path
from typing import Any

from .errors import InputError

K = 10
_WS = re.compile(r"\s+")
_YES_NO_WORD = re.compile(r"\b(yes|no)\b", re.I)

# The keys report.json's "overall" and each "by_type" entry always carry (null when unmeasured).
METRIC_KEYS = (
    "n_questions",
    "n_answerable",
    "n_unanswerable",
    "n_errors",
    "hits@4",
    "hits@10",
    "hits_any@4",
    "hits_any@10",
    "mrr@10",
    "doc_recall@10",
    "context_hits",
    "context_doc_recall",
    "accuracy",
    "accuracy_yes_no",
    "accuracy_open",
    "supported_rate",
    "wrong_shown_rate",
    "refusal_rate",
    "false_refusal_rate",
    "n_citations",
    "citation_exact_rate",
    "citation_in_evidence_rate",
    "p50_retrieval_s",
    "p95_retrieval_s",
    "p50_first_token_s",
    "p95_first_token_s",
    "p50_first_text_s",
    "p95_first_text_s",
    "p50_total_s",
    "p95_total_s",
)


# --------------------------------------------------------------------------- metric functions


def squash(text: str) -> str:
    """Text with all whitespace removed: MultiHop-RAG's rule for 'a chunk contains a sentence'."""
    return _WS.sub("", text or "")


def fact_ranks(facts: list[str], chunk_texts: list[str]) -> list[int | None]:
    """For each evidence sentence, the 1-based rank of the first chunk containing it (or None)."""
    chunks = [squash(t) for t in chunk_texts]
    out: list[int | None] = []
    for fact in facts:
        f = squash(fact)
        out.append(next((i + 1 for i, c in enumerate(chunks) if f and f in c), None))
    return out


def hits_at(ranks: list[int | None], k: int) -> float | None:
    """Share of evidence sentences found within the top k (None when there are none)."""
    if not ranks:
        return None
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks)


def hits_any_at(ranks: list[int | None], k: int) -> float | None:
    """1.0 when any evidence sentence is within the top k (MultiHop-RAG's reference script)."""
    if not ranks:
        return None
    return 1.0 if any(r is not None and r <= k for r in ranks) else 0.0


def mrr_at(ranks: list[int | None], k: int) -> float | None:
    """Reciprocal rank of the first chunk holding any evidence sentence, 0 beyond k."""
    if not ranks:
        return None
    found = [r for r in ranks if r is not None and r <= k]
    return 1.0 / min(found) if found else 0.0


def doc_recall(evidence_files: list[str], retrieved_files: list[str]) -> float | None:
    if not evidence_files:
        return None
    got = set(retrieved_files)
    return sum(1 for e in set(evidence_files) if e in got) / len(set(evidence_files))


def share_found(facts: list[str], texts: list[str]) -> float | None:
    """Share of facts contained (whitespace-insensitively) in at least one of texts."""
    if not facts:
        return None
    squashed = [squash(t) for t in texts]
    return sum(1 for f in facts if any(squash(f) in t for t in squashed)) / len(facts)


def _clean_gold(g: str) -> str:
    return " ".join(str(g).split()).strip().rstrip(".").strip().lower()


def first_yes_no(answer: str) -> str | None:
    m = _YES_NO_WORD.search(answer or "")
    return m.group(1).lower() if m else None


def is_correct(
    answer: str, gold: str, variants: list[str] | None = None, must_contain_any: list[str] | None = None
) -> bool:
    """The answer-scoring rule described in the module docstring (case-insensitive)."""
    text = " ".join((answer or "").split()).lower()
    if must_contain_any:
        return any(m.lower() in text for m in must_contain_any if m)
    golds = [g for g in (_clean_gold(x) for x in [gold, *(variants or [])]) if g]
    if not golds:
        return False
    if golds[0] in ("yes", "no"):
        return first_yes_no(text) == golds[0]
    return any(g in text for g in golds)


def supported(answer, q: dict) -> bool:
    """A right answer whose cited quotes themselves hold the gold answer (Yes/No gold: any citation)."""
    golds = [
        g
        for g in (_clean_gold(x) for x in [q.get("answer", ""), *((q.get("meta") or {}).get("answer_variants") or [])])
        if g
    ]
    if golds and golds[0] in ("yes", "no"):
        return bool(answer.citations)
    quotes = [" ".join(c.quote.split()).lower() for c in answer.citations]
    return any(g in qt for g in golds for qt in quotes)


def citation_exact(quote: str, source: str, start: int, end: int, text_cache: dict) -> bool:
    from .documents import UnreadableFile, text_of

    if source not in text_cache:
        try:
            text_cache[source] = text_of(source)
        except (UnreadableFile, OSError):
            text_cache[source] = None
    text = text_cache[source]
    return text is not None and 0 <= start <= end <= len(text) and text[start:end] == quote


def percentile(values: list[float | None], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100) of the non-null values, or None."""
    vs = sorted(v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v)))
    if not vs:
        return None
    if len(vs) == 1:
        return vs[0]
    pos = (len(vs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return vs[lo] + (vs[hi] - vs[lo]) * (pos - lo)


def _mean(values) -> float | None:
    vs = [v for v in values if v is not None]
    return sum(vs) / len(vs) if vs else None


def _rate(flags) -> float | None:
    fs = [bool(f) for f in flags if f is not None]
    return sum(fs) / len(fs) if fs else None


def merge_spans(spans: list[tuple[str, int, int]], texts: dict[str, str | None]) -> list[str]:
    """Texts of (source, start, end) spans, joining spans of one document separated only by space."""
    out: list[str] = []
    by_src: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for src, a, b in spans:
        by_src[src].append((a, b))
    for src, ss in by_src.items():
        text = texts.get(src)
        ss.sort()
        merged: list[list[int]] = []
        for a, b in ss:
            if merged and text is not None and a <= merged[-1][1] + 3 and not text[merged[-1][1] : a].strip():
                merged[-1][1] = max(merged[-1][1], b)
            elif merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        for a, b in merged:
            out.append(text[a:b] if text is not None else "")
    return out


def aggregate(rows: list[dict]) -> dict:
    """The metrics of a set of per-question rows (see METRIC_KEYS)."""
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    asked = [r for r in rows if r.get("asked")]
    cits = [c for r in rows for c in r.get("citations") or []]
    m = {
        "n_questions": len(rows),
        "n_answerable": len(answerable),
        "n_unanswerable": len(unanswerable),
        "n_errors": sum(1 for r in rows if r.get("error")),
        "hits@4": _mean(r.get("hits@4") for r in rows),
        "hits@10": _mean(r.get("hits@10") for r in rows),
        "hits_any@4": _mean(r.get("hits_any@4") for r in rows),
        "hits_any@10": _mean(r.get("hits_any@10") for r in rows),
        "mrr@10": _mean(r.get("mrr@10") for r in rows),
        "doc_recall@10": _mean(r.get("doc_recall@10") for r in rows),
        "context_hits": _mean(r.get("context_hits") for r in rows),
        "context_doc_recall": _mean(r.get("context_doc_recall") for r in rows),
        "accuracy": _rate(r.get("correct") for r in answerable if r.get("asked")),
        "accuracy_yes_no": _rate(r.get("correct") for r in answerable if r.get("asked") and r.get("yes_no_gold")),
        "accuracy_open": _rate(r.get("correct") for r in answerable if r.get("asked") and not r.get("yes_no_gold")),
        "supported_rate": _rate(r.get("supported") for r in answerable if r.get("asked")),
        "wrong_shown_rate": _rate((r.get("refused") is False and not r.get("correct")) for r in asked),
        "refusal_rate": _rate(r.get("refused") for r in unanswerable if r.get("asked")),
        "false_refusal_rate": _rate(r.get("refused") for r in answerable if r.get("asked")),
        "n_citations": len(cits) if asked else None,
        "citation_exact_rate": _rate(c["exact"] for c in cits),
        "citation_in_evidence_rate": _rate(c["in_evidence"] for c in cits),
        "p50_retrieval_s": percentile([r.get("retrieval_s") for r in rows], 50),
        "p95_retrieval_s": percentile([r.get("retrieval_s") for r in rows], 95),
        "p50_first_token_s": percentile([r.get("first_token_s") for r in rows], 50),
        "p95_first_token_s": percentile([r.get("first_token_s") for r in rows], 95),
        "p50_first_text_s": percentile([r.get("first_text_s") for r in rows], 50),
        "p95_first_text_s": percentile([r.get("first_text_s") for r in rows], 95),
        "p50_total_s": percentile([r.get("total_s") for r in rows], 50),
        "p95_total_s": percentile([r.get("total_s") for r in rows], 95),
    }
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in m.items()}


# --------------------------------------------------------------------------- questions


def load_questions(path: str, limit: int | None = None) -> list[dict]:
    qs = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                q = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"{path}:{n}: not a JSON object ({e.msg})") from None
            if not isinstance(q, dict) or not q.get("question"):
                raise InputError(f"{path}:{n}: each line needs at least a 'question'")
            q.setdefault("id", f"q{n}")
            q.setdefault("answerable", True)
            q.setdefault("evidence", [])
            q.setdefault("meta", {})
            q["type"] = q.get("type") or ("seed" if "must_contain_any" in q else "question")
            qs.append(q)
    return qs[:limit] if limit else qs


def _rel(source: str, corpus: str) -> str:
    try:
        rel = os.path.relpath(source, corpus)
    except ValueError:
        rel = source
    return rel if not rel.startswith("..") else os.path.basename(source)


def _evidence_set(q: dict) -> set[str]:
    """Evidence file names as given, and their base names (questions name files either way)."""
    out = set()
    for e in q.get("evidence") or []:
        out.add(e)
        out.add(os.path.basename(e))
    return out


def _in_evidence(source_rel: str, ev: set[str]) -> bool:
    return source_rel in ev or os.path.basename(source_rel) in ev


# --------------------------------------------------------------------------- the run


def build_assistant(out: Path, corpus: str, fresh: bool = True, settings_overrides: dict | None = None):
    """An Assistant over a private index under out/ (never the user's), and the ingest report."""
    from .core import Assistant
    from .settings import Settings

    index = out / "index"
    if fresh and index.exists():
        shutil.rmtree(index)
    overrides = {"index_dir": str(index), "chroma_url": "", "collection": "eval"}
    overrides.update(settings_overrides or {})
    a = Assistant(Settings.load(**overrides))
    t0 = time.perf_counter()
    report = a.ingest(corpus, progress=sys.stderr.isatty())
    build_s = time.perf_counter() - t0
    return a, report, build_s


def evaluate_question(a, q: dict, corpus: str, retrieval_only: bool, texts: dict) -> dict:
    """Ask one question; return its row of measurements. Never raises."""
    from .answer import has_evidence
    from .evidence import select

    facts = [f["fact"] for f in (q.get("meta") or {}).get("evidence_facts") or [] if f.get("fact")]
    ev = _evidence_set(q)
    row: dict = {
        "id": q["id"],
        "type": q.get("type", "question"),
        "question": q["question"],
        "answerable": bool(q.get("answerable", True)),
        "gold": q.get("answer"),
        "evidence": q.get("evidence") or [],
        "asked": False,
        "error": None,
        "yes_no_gold": _clean_gold(q.get("answer") or "") in ("yes", "no"),
    }
    try:
        t0 = time.perf_counter()
        passages = a.search(q["question"], k=K)
        row["retrieval_s"] = round(time.perf_counter() - t0, 4)
        files = [_rel(p.chunk.source, corpus) for p in passages]
        row["retrieved"] = [
            {"file": f, "start": p.chunk.start, "end": p.chunk.end, "score": round(p.score, 4)}
            for f, p in zip(files, passages)
        ]
        ranks = fact_ranks(facts, [p.chunk.text for p in passages])
        row["fact_ranks"] = ranks if facts else None
        row["hits@4"], row["hits@10"] = hits_at(ranks, 4), hits_at(ranks, K)
        row["hits_any@4"], row["hits_any@10"] = hits_any_at(ranks, 4), hits_any_at(ranks, K)
        row["mrr@10"] = mrr_at(ranks, K)
        gold_docs = [e for e in q.get("evidence") or []]
        row["doc_recall@10"] = (
            doc_recall([os.path.basename(e) for e in gold_docs], [os.path.basename(f) for f in files])
            if row["answerable"]
            else None
        )

        if retrieval_only:  # the context the LLM would be given, from the same passages
            _context_metrics(a, q, row, passages, facts, corpus, texts, select, has_evidence)
            return row

        t0 = time.perf_counter()
        first_text = None
        answer = None
        seen_passages = None
        for event in a.stream(q["question"]):
            if event.kind == "passages":
                seen_passages = event.data
            elif event.kind == "text" and first_text is None:
                first_text = time.perf_counter() - t0
            elif event.kind == "answer":
                answer = event.data
        row["total_s"] = round(time.perf_counter() - t0, 4)
        row["first_text_s"] = round(first_text, 4) if first_text is not None else None
        if answer is None:
            raise RuntimeError("the answer stream ended without an answer")
        row["asked"] = True
        row["answer"] = answer.answer
        row["refused"] = bool(answer.refused)
        row["first_token_s"] = answer.timings.get("first_token_s")
        row["timings"] = answer.timings
        row["removed_claims"] = answer.removed_claims
        row["checks"] = getattr(answer, "checks", [])
        _context_metrics(
            a,
            q,
            row,
            seen_passages if seen_passages is not None else passages,
            facts,
            corpus,
            texts,
            select,
            has_evidence,
            answer=answer,
        )
        if row["answerable"]:
            row["correct"] = (not answer.refused) and is_correct(
                answer.answer,
                q.get("answer", ""),
                (q.get("meta") or {}).get("answer_variants"),
                q.get("must_contain_any"),
            )
            row["supported"] = supported(answer, q) if row["correct"] else False
        else:
            row["correct"] = bool(answer.refused)
        row["citations"] = []
        for c in answer.citations:
            rel = _rel(c.source, corpus)
            row["citations"].append(
                {
                    "n": c.n,
                    "file": rel,
                    "start": c.start,
                    "end": c.end,
                    "exact": citation_exact(c.quote, c.source, c.start, c.end, texts),
                    "in_evidence": _in_evidence(rel, ev) if (row["answerable"] and ev) else None,
                }
            )
    except Exception as e:  # recorded, not fatal
        row["error"] = f"{type(e).__name__}: {e}"
        row["traceback"] = traceback.format_exc(limit=5)
        if row["answerable"]:
            row["correct"] = False
        if not retrieval_only:
            row["asked"] = True
            row.setdefault("refused", None)
    return row


def _context_metrics(a, q, row, passages, facts, corpus, texts, select, has_evidence, answer=None):
    """context_hits: evidence sentences inside the sources the LLM saw.

    Recomputes ``evidence.select`` exactly as ``answer.Answerer`` does (same passages, same
    settings); when ``Answer`` carries its context this should read it from there instead.
    """
    context_attr = getattr(answer, "context", None) if answer is not None else None
    if context_attr is not None:  # Answer.context: [(source, start, end, text)] or objects with those fields
        spans = [
            (s[0], s[1], s[2]) if isinstance(s, (tuple, list)) else (s.source, s.start, s.end) for s in context_attr
        ]
    else:
        sources = []
        if passages and has_evidence(q["question"], passages):
            sources = select(q["question"], passages, a.embedder, a.settings.context_sentences)
        spans = [(s.passage.chunk.source, s.start, s.end) for s in sources]
    from .documents import UnreadableFile, text_of

    for src, _, _ in spans:
        if src not in texts:
            try:
                texts[src] = text_of(src)
            except (UnreadableFile, OSError):
                texts[src] = None
    ctx_texts = merge_spans(spans, texts)
    row["context"] = [{"file": _rel(s, corpus), "start": st, "end": en} for s, st, en in spans]
    row["context_hits"] = share_found(facts, ctx_texts)
    row["context_doc_recall"] = (
        doc_recall([os.path.basename(e) for e in q.get("evidence") or []], [os.path.basename(s) for s, _, _ in spans])
        if row["answerable"]
        else None
    )


def run(
    corpus: str,
    questions: str,
    out: str,
    limit: int | None = None,
    retrieval_only: bool = False,
    reuse_index: bool = False,
    progress: bool = True,
    settings_overrides: dict | None = None,
) -> dict:
    """Run the evaluation and write report.json / report.md / report.png under out; return the report."""
    if not os.path.isdir(corpus):
        raise InputError(f"corpus folder not found: {corpus}")
    qs = load_questions(questions, limit)
    if not qs:
        raise InputError(f"no questions in {questions}")
    outp = Path(out)
    outp.mkdir(parents=True, exist_ok=True)
    corpus = os.path.abspath(corpus)
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")

    a, ingest_report, build_s = build_assistant(
        outp, corpus, fresh=not reuse_index, settings_overrides=settings_overrides
    )
    llm_load_s = None
    if not retrieval_only:
        t0 = time.perf_counter()
        llm = a.llm
        if hasattr(llm, "load"):
            llm.load()  # so the first question's timings do not include loading the model
        llm_load_s = round(time.perf_counter() - t0, 3)
    a.search("warm up", k=1)  # builds the lexical index and loads the embedder once, untimed

    from tqdm import tqdm

    rows = []
    texts: dict = {}
    partial = outp / "questions.partial.jsonl"  # each question as it finishes: a long run can be inspected
    partial.write_text("", encoding="utf-8")
    bar = tqdm(qs, desc="eval", unit="q", file=sys.stderr, disable=not progress, dynamic_ncols=True)
    for q in bar:
        row = evaluate_question(a, q, corpus, retrieval_only, texts)
        rows.append(row)
        with open(partial, "a", encoding="utf-8") as f:
            f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        done = [r for r in rows if r.get("correct") is not None]
        if done:
            bar.set_postfix(
                ok=f"{sum(bool(r['correct']) for r in done)}/{len(done)}", err=sum(1 for r in rows if r.get("error"))
            )
    bar.close()

    by_type: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_type[r["type"]].append(r)
    report: dict[str, Any] = {
        "overall": aggregate(rows),
        "by_type": {t: aggregate(rs) for t, rs in sorted(by_type.items())},
        "questions": rows,
        "run": {
            "started": started,
            "corpus": corpus,
            "questions_file": os.path.abspath(questions),
            "limit": limit,
            "retrieval_only": retrieval_only,
            "k": K,
            "index_dir": str(outp / "index"),
            "index_build_s": round(build_s, 3),
            "index_chunks_embedded": ingest_report.chunks,
            "index_documents": len(ingest_report.added) + len(ingest_report.updated) + len(ingest_report.unchanged),
            "index_skipped": ingest_report.skipped,
            "llm_load_s": llm_load_s,
            "llm": getattr(a._llm, "name", None) if a._llm is not None else None,
            "settings": {
                k: getattr(a.settings, k)
                for k in (
                    "chunk_tokens",
                    "top_k",
                    "context_sentences",
                    "max_answer_tokens",
                    "embed_model",
                    "llm_model",
                    "llm_url",
                    "threads",
                )
            },
            "machine": machine(),
        },
    }
    report["overall"]["index_build_s"] = report["run"]["index_build_s"]
    write_reports(report, outp)
    partial.unlink(missing_ok=True)
    return report


def machine() -> dict:
    import platform

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            info["mem_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    try:  # other jobs on the machine slow every timing: say how busy it was
        info["loadavg_at_start"] = round(os.getloadavg()[0], 2)
    except OSError:
        pass
    return info


# --------------------------------------------------------------------------- writing


def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


_MD_COLUMNS = (
    "n_questions",
    "hits@10",
    "mrr@10",
    "doc_recall@10",
    "context_hits",
    "accuracy",
    "accuracy_yes_no",
    "accuracy_open",
    "supported_rate",
    "refusal_rate",
    "false_refusal_rate",
    "citation_exact_rate",
    "citation_in_evidence_rate",
    "p50_first_token_s",
    "p50_total_s",
)


def write_reports(report: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "report.json.tmp"
    tmp.write_text(json.dumps(report, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(tmp, out / "report.json")
    (out / "report.md").write_text(render_markdown(report), encoding="utf-8")
    try:
        write_chart(report, out / "report.png")
    except Exception as e:  # a chart must never lose the numbers
        print(f"warning: could not draw the chart: {e}", file=sys.stderr)


def render_markdown(report: dict) -> str:
    run_ = report.get("run", {})
    lines = ["# Evaluation report", ""]
    lines.append(
        f"- corpus: `{run_.get('corpus')}`; questions: `{run_.get('questions_file')}`"
        f"{' (first ' + str(run_['limit']) + ')' if run_.get('limit') else ''}"
    )
    lines.append(
        f"- index build: {_fmt(run_.get('index_build_s'))} s for {run_.get('index_chunks_embedded')} chunks"
        f" of {run_.get('index_documents')} documents; LLM load {_fmt(run_.get('llm_load_s'))} s"
        f"{'; retrieval only (no LLM)' if run_.get('retrieval_only') else ''}"
    )
    m = run_.get("machine") or {}
    lines.append(
        f"- machine: {m.get('cpu', '?')}, {m.get('cpus')} CPUs, {m.get('mem_gib')} GiB; started {run_.get('started')}"
    )
    lines += ["", "## Overall", "", "| metric | value |", "|---|---|"]
    for k, v in report["overall"].items():
        lines.append(f"| {k} | {_fmt(v)} |")
    lines += [
        "",
        "## By question type",
        "",
        "| type | " + " | ".join(_MD_COLUMNS) + " |",
        "|---|" + "---|" * len(_MD_COLUMNS),
    ]
    for t, mt in report["by_type"].items():
        lines.append(f"| {t} | " + " | ".join(_fmt(mt.get(c)) for c in _MD_COLUMNS) + " |")
    lines += [
        "",
        "## Questions",
        "",
        "| id | type | ok | refused | hits@10 | mrr@10 | ctx | total s | answer / error |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["questions"]:
        text = r.get("error") or (r.get("answer") or "").split("\n")[0]
        text = " ".join(text.split()).replace("|", "\\|")
        text = text[:160] + ("…" if len(text) > 160 else "")
        lines.append(
            f"| {r['id']} | {r['type']} | {_fmt(r.get('correct'))} | {_fmt(r.get('refused'))} | "
            f"{_fmt(r.get('hits@10'))} | {_fmt(r.get('mrr@10'))} | {_fmt(r.get('context_hits'))} | "
            f"{_fmt(r.get('total_s'))} | {text} |"
        )
    lines.append("")
    return "\n".join(lines)


def write_chart(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    groups = dict(report["by_type"])
    groups["overall"] = report["overall"]
    names = list(groups)
    series = [
        ("accuracy", "accuracy (answerable)"),
        ("refusal_rate", "refusal (unanswerable)"),
        ("hits@10", "retrieval hits@10"),
        ("context_hits", "context hits"),
    ]
    x = np.arange(len(names))
    w = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(7, 1.5 * len(names)), 4.5))
    for i, (key, label) in enumerate(series):
        vals = [groups[n].get(key) for n in names]
        ax.bar(x + (i - (len(series) - 1) / 2) * w, [v if v is not None else 0 for v in vals], w, label=label)
        for j, v in enumerate(vals):
            if v is None:
                ax.text(
                    x[j] + (i - (len(series) - 1) / 2) * w,
                    0.01,
                    "n/a",
                    rotation=90,
                    ha="center",
                    va="bottom",
                    fontsize=7,
                    color="gray",
                )
    ax.set_xticks(x, [f"{n}\n(n={groups[n].get('n_questions')})" for n in names], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share")
    ax.set_title("assistant eval by question type")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1, 1))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------- entry points


def main(args) -> dict:
    """Called by ``assistant eval`` with args.corpus, args.questions, args.out, args.limit."""
    report = run(
        args.corpus,
        args.questions,
        getattr(args, "out", None) or "eval-out",
        limit=getattr(args, "limit", None),
        retrieval_only=bool(getattr(args, "retrieval_only", False)),
        reuse_index=bool(getattr(args, "reuse_index", False)),
    )
    o = report["overall"]
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
        "citation_exact_rate",
        "citation_in_evidence_rate",
        "p50_first_token_s",
        "p50_total_s",
        "index_build_s",
    )
    print("  ".join(f"{k}={_fmt(o.get(k))}" for k in keys))
    out = getattr(args, "out", None) or "eval-out"
    print(f"wrote {os.path.join(out, 'report.json')}, report.md, report.png")
    return report


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m assistant.evaluate", description=__doc__.split("\n")[0])
    p.add_argument("--corpus", required=True)
    p.add_argument("--questions", required=True)
    p.add_argument("--out", default="eval-out")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--retrieval-only", action="store_true", help="measure retrieval and context only (no LLM)")
    p.add_argument(
        "--reuse-index",
        action="store_true",
        help="keep <out>/index from an earlier run (build time is then not measured)",
    )
    return p


if __name__ == "__main__":
    main(_parser().parse_args())
