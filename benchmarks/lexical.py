"""Lexical index candidates: SQLite FTS5 (assistant/lexical.py), tantivy, and bm25s (today's baseline).

Synthetic chunks of ~150 words (120-180) drawn from a fixed vocabulary of 50,000 pseudo-words
with a Zipf distribution (s = 1.1, seeded; ranks 101-50,100 of it: the 100
most frequent words of real text are stop words, which every engine drops), 20 chunks per source
file. Every engine gets the same
terms: the text goes through ``assistant.lexical.index_terms`` (retrieve.py's tokenizer) first, and
that time is part of its build. Measured per engine and size, each in its own process:

- build: index every chunk from nothing (persistent engines: committed to disk);
- update: one file changes: delete its 20 chunks and add 20 new ones, visible to the next search
  (bm25s cannot update: a full rebuild, which is what retrieve.py did, so its build time);
- open: a fresh process opening the built index (bm25s: none, it is the build);
- query: p50 / p95 of 200 queries of 3-6 terms (drawn from the same Zipf distribution), top 100;
- RSS growth of the building process and of a fresh reader process after its queries;
- disk size of the index;
- how much of bm25s's top 100 an engine's top 100 shares (1.0 = the same chunks).

    .venv/bin/python benchmarks/lexical.py --sizes 100000 1000000 [--engines fts5 tantivy bm25s]

Results go to benchmarks/lexical.json and a table in benchmarks/lexical.md. A candidate that
takes more than ``--limit`` seconds (default 600) to build is stopped and recorded as such.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VOCAB = 50_000
ZIPF_S = 1.1
STOP = 100
PER_SOURCE = 20
N_QUERIES = 200
TOP = 100
SEED = 7


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def vocabulary() -> list[str]:
    rng = np.random.default_rng(SEED)
    cons, vows = list("bcdfghjklmnprstvwz"), list("aeiou")
    out, seen = [], set()
    while len(out) < VOCAB:
        n = int(rng.integers(2, 5))
        w = "".join(cons[int(rng.integers(len(cons)))] + vows[int(rng.integers(len(vows)))] for _ in range(n))
        w += cons[int(rng.integers(len(cons)))]
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out


def _probs() -> np.ndarray:
    """Zipf over ranks STOP+1 .. STOP+VOCAB: the top STOP ranks stand for stop words, which every engine drops."""
    p = 1.0 / np.arange(STOP + 1, STOP + VOCAB + 1) ** ZIPF_S
    return p / p.sum()


def chunks(n: int, start: int = 0, tag: str = ""):
    """(id, text, source) for chunks start..n-1, generated in deterministic batches of 10,000."""
    vocab, p = np.array(vocabulary()), _probs()
    batch = 10_000
    for b0 in range(start - start % batch, n, batch):
        rng = np.random.default_rng([SEED, b0, len(tag)])
        lens = rng.integers(120, 181, size=batch)
        words = rng.choice(VOCAB, size=int(lens.sum()), p=p)
        pos = 0
        for j in range(batch):
            i = b0 + j
            w = words[pos : pos + lens[j]]
            pos += lens[j]
            if start <= i < n:
                yield f"{tag}c{i:08d}", " ".join(vocab[w]), f"/docs/{tag}f{i // PER_SOURCE:06d}.txt"


def queries() -> list[str]:
    vocab, p = vocabulary(), _probs()
    rng = np.random.default_rng(SEED + 1)
    return [
        " ".join(vocab[int(i)] for i in rng.choice(VOCAB, size=int(rng.integers(3, 7)), p=p)) for _ in range(N_QUERIES)
    ]


def dir_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _timed_queries(search, dump: Path | None = None) -> dict:
    qs = queries()
    for q in qs[:5]:
        search(q)  # warm up
    lat, tops = [], []
    for q in qs:
        t = time.perf_counter()
        got = search(q)
        lat.append((time.perf_counter() - t) * 1000)
        tops.append([i for i, _ in got])
    if dump is not None:  # the top ids, to compare the rankings with bm25s's
        dump.write_text(json.dumps(tops))
    return {
        "query_p50_ms": round(float(np.percentile(lat, 50)), 2),
        "query_p95_ms": round(float(np.percentile(lat, 95)), 2),
    }


def overlap(a: Path, b: Path) -> float | None:
    """Mean share of bm25s's top 100 that an engine's top 100 also has."""
    if not (a.exists() and b.exists()):
        return None
    ta, tb = json.loads(a.read_text()), json.loads(b.read_text())
    return round(float(np.mean([len(set(x) & set(y)) / max(1, len(y)) for x, y in zip(ta, tb)])), 4)


# --------------------------------------------------------------------------- engines
class FTS5:
    def __init__(self, path: Path):
        from assistant.lexical import LexicalIndex

        self.path = path / "lexical.sqlite3"
        self.ix = LexicalIndex(self.path)

    def build(self, n: int):
        batch = []
        for c in chunks(n):
            batch.append(c)
            if len(batch) == 5000:
                self.ix.upsert(batch)
                batch = []
        self.ix.upsert(batch)

    def update(self, n: int, new):
        src = f"/docs/f{(n // 2) // PER_SOURCE:06d}.txt"
        self.ix.delete_source(src)
        self.ix.upsert([(i, t, src) for i, t, _ in new])

    def search(self, q: str):
        return self.ix.search(q, TOP)

    def size(self) -> int:
        return sum(
            dir_size(Path(str(self.path) + s)) for s in ("", "-wal", "-shm") if Path(str(self.path) + s).exists()
        )


class Tantivy:
    def __init__(self, path: Path):
        import tantivy

        self.tv, self.path = tantivy, path / "tantivy"
        self.path.mkdir(exist_ok=True)
        sb = tantivy.SchemaBuilder()
        sb.add_text_field("id", stored=True, tokenizer_name="raw")
        sb.add_text_field("source", stored=False, tokenizer_name="raw")
        sb.add_text_field("terms", stored=False, tokenizer_name="whitespace", index_option="freq")
        self.schema = sb.build()
        self.index = tantivy.Index(self.schema, path=str(self.path))

    def build(self, n: int):
        from assistant.lexical import index_terms

        w = self.index.writer(heap_size=256_000_000, num_threads=2)
        for cid, text, src in chunks(n):
            w.add_document(self.tv.Document(id=cid, source=src, terms=" ".join(index_terms(text))))
        w.commit()
        w.wait_merging_threads()

    def update(self, n: int, new):
        from assistant.lexical import index_terms

        src = f"/docs/f{(n // 2) // PER_SOURCE:06d}.txt"
        w = self.index.writer(heap_size=50_000_000, num_threads=1)
        w.delete_documents("source", src)
        for cid, text, _ in new:
            w.add_document(self.tv.Document(id=cid, source=src, terms=" ".join(index_terms(text))))
        w.commit()
        w.wait_merging_threads()
        self.index.reload()

    def search(self, q: str):
        from assistant.lexical import index_terms

        tv = self.tv
        terms = list(dict.fromkeys(index_terms(q)))
        query = tv.Query.boolean_query([(tv.Occur.Should, tv.Query.term_query(self.schema, "terms", t)) for t in terms])
        searcher = self.index.searcher()
        hits = searcher.search(query, TOP).hits
        return [(searcher.doc(a)["id"][0], s) for s, a in hits]

    def size(self) -> int:
        return dir_size(self.path)


class BM25S:
    def __init__(self, path: Path):
        self.n = 0

    def build(self, n: int):
        import bm25s

        from assistant.lexical import index_terms

        self.ids, toks = [], []
        for cid, text, _ in chunks(n):
            self.ids.append(cid)
            toks.append(index_terms(text))
        self.bm = bm25s.BM25()
        self.bm.index(toks, show_progress=False)
        self.n = n

    def update(self, n: int, new):  # retrieve.py today: everything again
        self.build(n)

    def search(self, q: str):
        from assistant.lexical import index_terms

        s = self.bm.get_scores(index_terms(q))
        top = np.argpartition(-s, TOP)[:TOP]
        return [(self.ids[i], float(s[i])) for i in top[np.argsort(-s[top])]]

    def size(self) -> int:
        return 0


ENGINES = {"fts5": FTS5, "tantivy": Tantivy, "bm25s": BM25S}


def child(engine: str, n: int, phase: str, where: Path) -> dict:
    """One measurement in this process: phase 'build' (build + update) or 'query' (open + queries)."""
    out: dict = {}
    r0 = rss_mib()
    t = time.perf_counter()
    e = ENGINES[engine](where)
    if phase == "build":
        e.build(n)
        out["build_s"] = round(time.perf_counter() - t, 1)
        out["build_rss_growth_mib"] = round(rss_mib() - r0, 1)
        new = list(chunks(PER_SOURCE, 0, tag="new"))
        if engine == "bm25s":  # its update is the build again (as retrieve.py did): not run twice
            out["update_s"] = out["build_s"]
        else:
            t = time.perf_counter()
            e.update(n, new)
            out["update_s"] = round(time.perf_counter() - t, 3)
        out["disk_mib"] = round(e.size() / 2**20, 1)
        if engine == "bm25s":  # nothing on disk: query in the building process
            out.update(_timed_queries(e.search, where.parent / f"top-{engine}-{n}.json"))
            out["reader_rss_growth_mib"] = round(rss_mib() - r0, 1)
    else:
        out["open_s"] = round(time.perf_counter() - t, 3)
        out.update(_timed_queries(e.search, where.parent / f"top-{engine}-{n}.json"))
        out["reader_rss_growth_mib"] = round(rss_mib() - r0, 1)
    return out


def run(engine: str, n: int, limit: float, work: Path) -> dict:
    where = work / f"{engine}-{n}"
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    res: dict = {"engine": engine, "chunks": n, "loadavg_1min": round(os.getloadavg()[0], 2)}
    for phase in ("build", "query") if engine != "bm25s" else ("build",):
        cmd = [sys.executable, __file__, "--child", engine, str(n), phase, str(where)]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
        except subprocess.TimeoutExpired:
            res["error"] = f"{phase} did not finish within {limit:.0f} s"
            break
        if p.returncode != 0:
            res["error"] = f"{phase} failed: " + (p.stderr.strip().splitlines() or ["?"])[-1][:300]
            break
        res.update(json.loads(p.stdout.strip().splitlines()[-1]))
    shutil.rmtree(where, ignore_errors=True)
    print(json.dumps(res), flush=True)
    return res


def table(results: list[dict]) -> str:
    cols = [
        ("engine", "engine"),
        ("chunks", "chunks"),
        ("loadavg_1min", "load"),
        ("build_s", "build s"),
        ("update_s", "1-file update s"),
        ("open_s", "open s"),
        ("query_p50_ms", "query p50 ms"),
        ("query_p95_ms", "query p95 ms"),
        ("build_rss_growth_mib", "build RSS +MiB"),
        ("reader_rss_growth_mib", "reader RSS +MiB"),
        ("disk_mib", "disk MiB"),
        ("overlap_with_bm25s_top100", "top-100 overlap with bm25s"),
        ("error", "note"),
    ]
    lines = ["| " + " | ".join(h for _, h in cols) + " |", "|" + "---|" * len(cols)]
    for r in results:
        lines.append("| " + " | ".join(str(r.get(k, "")) for k, _ in cols) + " |")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _, _, engine, n, phase, where = sys.argv
        print(json.dumps(child(engine, int(n), phase, Path(where))))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--engines", nargs="+", default=list(ENGINES), choices=list(ENGINES))
    ap.add_argument("--limit", type=float, default=600)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "lexical.json"))
    ap.add_argument("--work", default=None, help="scratch folder (default: a temporary one)")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="lexical-bench-"))
    from benchmarks.common import machine

    info = machine()
    results = []
    for n in args.sizes:
        mine = [run(engine, n, args.limit, work) for engine in args.engines]
        for r in mine:
            r["overlap_with_bm25s_top100"] = overlap(work / f"top-{r['engine']}-{n}.json", work / f"top-bm25s-{n}.json")
        results.extend(mine)
    info["loadavg_at_end"] = os.getloadavg()[0]
    Path(args.out).write_text(
        json.dumps(
            {"machine": info, "vocab": VOCAB, "zipf_s": ZIPF_S, "queries": N_QUERIES, "top": TOP, "results": results},
            indent=2,
        )
        + "\n"
    )
    print(table(results))


if __name__ == "__main__":
    main()
