"""Which support signal tells a supported claim from an unsupported one? Measured on labelled pairs.

``benchmarks/support_pairs.jsonl``: 120 claim/quote pairs written for this benchmark over the dev
corpora (45 supported, many of them paraphrases; 45 unsupported that share the quote's words;
30 contradicted). Each signal predicts "supported"; we report precision, recall and accuracy
of that prediction, and the share of contradicted pairs it lets through:

- ``word overlap``: ``verify.check``, the verifier answers were gated on before the judge;
- ``grounded``: ``verify.grounded``, the exact checks kept in front of the judge;
- ``embedding >= t``: cosine similarity of claim and quote (MiniLM);
- ``judge >= t``: the local LLM's P(yes) (``judge.Judge.claim``);
- ``grounded + judge >= t``: the combination the answer path uses.

    python -m benchmarks.support            # writes benchmarks/support.json and support.md

It needs the shared dev set beside the checkout (the pairs' quotes are read from its files to
check they are exact). ~2 s a pair with the embedded 1.5B model on two cores.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from .common import DEV, ROOT, machine

PAIRS = ROOT / "benchmarks" / "support_pairs.jsonl"
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def _source(quote: str, file: str):
    """A judge Source for a pair's quote (its chunk carries only what the judge shows)."""
    from assistant.evidence import Source
    from assistant.schema import Chunk, Passage

    chunk = Chunk(
        id="pair", source=file, title=Path(file).stem, date="", doc_hash="", start=0, end=len(quote), text=quote
    )
    return Source(n=1, passage=Passage(chunk=chunk, score=1.0), start=0, end=len(quote), text=quote, score=1.0)


def _scores(pred: list[bool], gold: list[str]) -> dict:
    sup = [g == "supported" for g in gold]
    tp = sum(p and s for p, s in zip(pred, sup))
    fp = sum(p and not s for p, s in zip(pred, sup))
    fn = sum(not p and s for p, s in zip(pred, sup))
    contra = [p for p, g in zip(pred, gold) if g == "contradicted"]
    unsup = [p for p, g in zip(pred, gold) if g == "unsupported"]
    return {
        "precision": round(tp / (tp + fp), 3) if tp + fp else None,
        "recall": round(tp / (tp + fn), 3) if tp + fn else None,
        "accuracy": round(sum(p == s for p, s in zip(pred, sup)) / len(sup), 3),
        "unsupported_passed": round(sum(unsup) / len(unsup), 3) if unsup else None,
        "contradicted_passed": round(sum(contra) / len(contra), 3) if contra else None,
    }


def main() -> dict:
    from assistant.embed import Embedder
    from assistant.judge import Judge
    from assistant.llm import load_llm
    from assistant.settings import Settings
    from assistant.verify import check, grounded

    pairs = [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines() if line.strip()]
    shared_eval = DEV.parent
    for p in pairs:  # a pair whose quote is not in its file measures nothing
        text = (shared_eval / p["file"]).read_text(encoding="utf-8")
        assert p["quote"] in text, f"{p['id']}: quote not in {p['file']}"
    settings = Settings.load()
    judge = Judge(load_llm(settings))
    embedder = Embedder(settings)
    t0 = time.perf_counter()
    rows = []
    for p in pairs:
        src = _source(p["quote"], p["file"])
        vecs = embedder.embed([p["claim"], p["quote"]])
        rows.append(
            {
                "id": p["id"],
                "label": p["label"],
                "kind": p["kind"],
                "overlap": check(p["claim"], p["quote"], p["question"]).ok,
                "grounded": grounded(p["claim"], p["quote"], p["question"]).ok,
                "cosine": float(vecs[0] @ vecs[1]),
                "judge": judge.claim(p["question"], p["claim"], [src]).p,
            }
        )
    judge_s = (time.perf_counter() - t0) / len(pairs)
    gold = [r["label"] for r in rows]
    table = {
        "word overlap (verify.check, before)": _scores([r["overlap"] for r in rows], gold),
        "grounded (verify.grounded)": _scores([r["grounded"] for r in rows], gold),
    }
    for t in (0.3, 0.4, 0.5, 0.6):
        table[f"embedding cosine >= {t}"] = _scores([r["cosine"] >= t for r in rows], gold)
    for t in THRESHOLDS:
        table[f"judge P(yes) >= {t}"] = _scores([r["judge"] >= t for r in rows], gold)
    for t in THRESHOLDS:
        table[f"grounded + judge >= {t}"] = _scores([r["grounded"] and r["judge"] >= t for r in rows], gold)
    for t in (0.4, 0.5, 0.6):
        table[f"word overlap + judge >= {t}"] = _scores([r["overlap"] and r["judge"] >= t for r in rows], gold)
    result = {
        "pairs": len(rows),
        "labels": {g: gold.count(g) for g in sorted(set(gold))},
        "seconds_per_pair": round(judge_s, 2),
        "machine": machine(),
        "table": table,
        "rows": rows,
    }
    out = ROOT / "benchmarks"
    (out / "support.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    lines = [
        "# Support signals on labelled claim/quote pairs",
        "",
        f"{len(rows)} pairs ({', '.join(f'{v} {k}' for k, v in result['labels'].items())}), "
        f"written for this benchmark over the dev corpora (`benchmarks/support_pairs.jsonl`). "
        f"Positive class: supported. {judge_s:.2f} s a pair (embedding + judge), load average "
        f"{result['machine']['loadavg_at_start']:.1f} at start. Reproduce: `python -m benchmarks.support`.",
        "",
        "| signal | precision | recall | accuracy | unsupported passed | contradicted passed |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in table.items():
        lines.append(
            f"| {name} | {m['precision']} | {m['recall']} | {m['accuracy']} | "
            f"{m['unsupported_passed']} | {m['contradicted_passed']} |"
        )
    (out / "support.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return result


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(0 if main() else 1)
