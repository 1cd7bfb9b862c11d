"""Scale: retrieval latency and memory at 10k / 100k / 1M chunks, embedded Chroma and a Chroma server.

The chunks are built from real text: the dev corpus articles re-chunked into windows of 3-10
consecutive sentences at every sentence offset (about 175k distinct single-article windows),
and beyond that, windows of two different articles joined (so every chunk differs). Embedding
a million chunks with MiniLM on 2 cores would take ~8 hours, so each *sentence* is embedded
once (cached under ~/.cache/assistant-bench/) and a chunk's vector is the normalised mean of
its sentences' vectors: real-text vectors with a realistic spread, though not exactly what
encoding the chunk would give. Queries are the 60 dev questions, embedded for real at query time.

For each size: build (or reuse) an embedded Chroma collection and its SQLite FTS5 lexical index
under ~/.cache/assistant-bench/ (written together, batch by batch, as ``assistant ingest`` does).
Then, in a fresh process: the time from process start to the first search's result and the
retriever's open (lexical index opened and reconciled, chunk metadata loaded: nothing is
rebuilt), the full ``Retriever.search`` (hybrid BM25 + dense + question analysis, k=10) and a
bare dense ``Store.query`` (k=50) over the 60 dev questions, memory (this process's RSS and what
the open added), a one-file incremental ingest (a new Markdown file, really embedded) and the
time until a search finds it, and the index's size on disk. Then the same folder is served by
``chroma run`` and measured again through ``ASSISTANT_CHROMA_URL``.

    .venv/bin/python benchmarks/scale.py --sizes 10000 100000 [--server] [--out benchmarks/scale.json]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import random
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import assistant  # noqa: E402,F401  (sets the offline environment before any model library loads)
from benchmarks.common import CACHE, DEV, machine, percentile, rss_mib  # noqa: E402


def sentence_table(corpus: Path):
    """[(doc number, sentence text)], doc headers, and the per-doc sentence index ranges."""
    from assistant.documents import read_document
    from assistant.ingest import index_prefix
    from assistant.text import sentences

    sents: list[str] = []
    docs: list[tuple[str, str, str, str, int, int]] = []  # (title, date, context, outlet, first sentence, end)
    for f in sorted(corpus.iterdir()):
        if f.suffix != ".txt":
            continue
        d = read_document(f)
        body = d.body_start
        first = len(sents)
        sents += [d.text[s.start : s.end] for s in sentences(d.text, body)]
        if len(sents) > first:
            docs.append((d.title, d.date, index_prefix(d), d.outlet, first, len(sents)))
    return sents, docs


def sentence_vectors(sents: list[str]) -> np.ndarray:
    key = hashlib.sha1("\n".join(sents).encode()).hexdigest()[:16]
    path = CACHE / f"sentences-{key}.npy"
    if path.exists():
        return np.load(path)
    from assistant.embed import Embedder
    from assistant.settings import Settings

    t0 = time.perf_counter()
    vecs = Embedder(Settings.load()).embed(sents, batch_size=64).astype(np.float32)
    print(f"  embedded {len(sents)} sentences in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vecs)
    return vecs


class ChunkMaker:
    """Chunk i (a Chunk and its vector), the same on every run: sentence windows of one article,
    then, past the ~175k distinct windows, two windows of different articles joined."""

    PER_DOC = 20  # synthetic documents of 20 chunks, so per-document caps behave as usual

    def __init__(self, sents, docs, svecs, seed: int = 7):
        self.sents, self.docs, self.svecs = sents, docs, svecs
        self.windows = [
            (d, s, w) for d, (*_, a, b) in enumerate(docs) for s in range(a, b) for w in range(3, 11) if s + w <= b
        ]
        random.Random(seed).shuffle(self.windows)

    def make(self, start: int, end: int):
        from assistant.schema import Chunk

        chunks, vecs = [], np.empty((end - start, self.svecs.shape[1]), dtype=np.float32)
        nw = len(self.windows)
        for k, i in enumerate(range(start, end)):
            if i < nw:
                parts = [self.windows[i]]
            else:
                rng = random.Random(i)
                a, b = self.windows[rng.randrange(nw)], self.windows[rng.randrange(nw)]
                parts = [a, b] if a[0] != b[0] else [a]
            text = " ".join(" ".join(self.sents[s : s + w]) for _, s, w in parts)
            v = np.sum([self.svecs[s : s + w].sum(axis=0) for _, s, w in parts], axis=0)
            vecs[k] = v / (np.linalg.norm(v) or 1.0)
            title, date, context, outlet, _, _ = self.docs[parts[0][0]]
            doc = i // self.PER_DOC
            chunks.append(
                Chunk(
                    id=f"b{i:07d}",
                    source=f"/bench/doc{doc:06d}.txt",
                    title=title,
                    date=date,
                    doc_hash=f"h{doc}",
                    start=0,
                    end=len(text),
                    text=text,
                    context=context,
                    outlet=outlet,
                )
            )
        return chunks, vecs


def build(index_dir: Path, n: int, sents, docs, svecs) -> float:
    from assistant.settings import Settings
    from assistant.store import Store

    marker = index_dir / f"complete-{n}"
    if marker.exists():
        return json.loads(marker.read_text())["build_s"]
    shutil.rmtree(index_dir, ignore_errors=True)
    from assistant import lexical

    store = Store(Settings.load(index_dir=str(index_dir), chroma_url="", collection="bench"))
    lex = lexical.for_store(store)  # written beside Chroma in the same batches, as ingest does
    maker = ChunkMaker(sents, docs, svecs)
    t0 = time.perf_counter()
    batch = 4000
    for start in range(0, n, batch):
        chunks, vecs = maker.make(start, min(n, start + batch))
        store.upsert(chunks, vecs, {(c.source, c.doc_hash): ChunkMaker.PER_DOC for c in chunks})
        lex.upsert([(c.id, c.context + "\n" + c.text, c.source) for c in chunks])
        print(f"  {start + len(chunks)}/{n} chunks stored ({time.perf_counter() - t0:.0f}s)", file=sys.stderr)
    store.touch()
    build_s = time.perf_counter() - t0
    marker.write_text(json.dumps({"build_s": build_s}))
    del store
    _release_chroma()
    return build_s


def _release_chroma():
    try:
        from chromadb.api.shared_system_client import SharedSystemClient

        SharedSystemClient.clear_system_cache()
    except Exception:
        pass
    gc.collect()


RARE = "Zorblatt"  # a word no bench chunk holds: the one-file ingest's document is the only match


def one_file_ingest(r, store, emb, settings) -> tuple[float, float]:
    """(seconds to ingest one new file, seconds until a search finds it), then the file is removed."""
    import tempfile

    from assistant.ingest import ingest

    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "new-report.md"
        f.write_text(f"Title: The {RARE} survey\n\nThe {RARE} survey counted 412 nesting terns on the spit.\n")
        t0 = time.perf_counter()
        ingest([tmp], store, emb, settings, progress=False)
        ingest_s = time.perf_counter() - t0
        found = any(p.chunk.source == str(f) for p in r.search(f"{RARE} survey terns", 10))
        searchable_s = time.perf_counter() - t0
        f.unlink()
        ingest([tmp], store, emb, settings, progress=False)  # removed again: the next run sees the same index
    if not found:
        raise RuntimeError("the ingested file was not found by a search")
    return ingest_s, searchable_s


def measure(settings, questions: list[str], label: str, server_pid: int | None = None, spawned: float = 0.0) -> dict:
    from assistant.embed import Embedder
    from assistant.retrieve import Retriever
    from assistant.store import Store

    emb = Embedder(settings)
    emb.embed_one("warm up")
    rss0 = rss_mib()
    store = Store(settings)
    r = Retriever(store, emb, settings)
    t0 = time.perf_counter()
    r.snapshot()  # opens the lexical index and loads the chunks' metadata; rebuilds nothing
    lexical_build_s = time.perf_counter() - t0
    rss1 = rss_mib()
    r.search(questions[0], 10)
    first_search_s = time.time() - spawned if spawned else None
    qv = [emb.embed_one(q) for q in questions]
    hybrid, dense = [], []
    for q, v in zip(questions, qv):
        t0 = time.perf_counter()
        r.search(q, 10)
        hybrid.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        store.query(v, 50)
        dense.append(time.perf_counter() - t0)
    out = {
        "mode": label,
        "chunks": store.count(),
        "hybrid_search_p50_ms": round(1000 * percentile(hybrid, 50), 1),
        "hybrid_search_p95_ms": round(1000 * percentile(hybrid, 95), 1),
        "dense_query_p50_ms": round(1000 * percentile(dense, 50), 1),
        "dense_query_p95_ms": round(1000 * percentile(dense, 95), 1),
        "open_s": round(lexical_build_s, 1),
        "process_start_to_first_search_s": round(first_search_s, 1) if first_search_s else None,
        "process_rss_mib": round(rss_mib(), 0),
        "open_rss_mib": round(rss1 - rss0, 0),
    }
    ingest_s, searchable_s = one_file_ingest(r, store, emb, settings)
    out["one_file_ingest_s"], out["one_file_searchable_s"] = round(ingest_s, 2), round(searchable_s, 2)
    if server_pid:
        out["server_rss_mib"] = round(rss_mib(server_pid), 0)
    del r, store
    _release_chroma()
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_server(index_dir: Path):
    port = _free_port()
    exe = Path(sys.executable).with_name("chroma")
    proc = subprocess.Popen(
        [str(exe), "run", "--path", str(index_dir), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import urllib.request

    for _ in range(600):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1)
            return proc, port
        except Exception:
            if proc.poll() is not None:
                raise RuntimeError("chroma run exited") from None
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("chroma server did not start")


def dir_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def _measure_in_child(settings: dict, questions_file: str, label: str, server_pid: int | None = None) -> dict:
    spec = json.dumps(
        {
            "settings": settings,
            "questions": questions_file,
            "label": label,
            "server_pid": server_pid,
            "spawned": time.time(),
        }
    )
    out = subprocess.run([sys.executable, __file__, "--measure", spec], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _child(spec: str) -> None:
    from assistant.settings import Settings

    s = json.loads(spec)
    questions = [json.loads(line)["question"] for line in open(s["questions"], encoding="utf-8") if line.strip()]
    result = measure(
        Settings.load(collection="bench", **s["settings"]), questions, s["label"], s["server_pid"], s["spawned"]
    )
    print(json.dumps(result))


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--server", action="store_true", help="also measure through a `chroma run` server")
    p.add_argument("--questions", default=str(DEV / "questions.jsonl"))
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "scale.json"))
    args = p.parse_args(argv)

    sents, docs = sentence_table(DEV / "corpus")
    svecs = sentence_vectors(sents)
    results = []
    prior = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else {}
    for n in args.sizes:
        index_dir = CACHE / f"scale-{n}"
        print(f"[{n}] building", file=sys.stderr)
        build_s = build(index_dir, n, sents, docs, svecs)
        row = {"size": n, "build_s": round(build_s, 1), "disk_mib": round(dir_mib(index_dir), 0)}
        # Each measurement in a fresh process, so that its memory figures are its own.
        print(f"[{n}] measuring embedded", file=sys.stderr)
        row["embedded"] = _measure_in_child({"index_dir": str(index_dir), "chroma_url": ""}, args.questions, "embedded")
        if args.server:
            print(f"[{n}] measuring server", file=sys.stderr)
            proc, port = run_server(index_dir)
            try:
                row["server"] = _measure_in_child(
                    {"chroma_url": f"http://127.0.0.1:{port}"}, args.questions, "server", proc.pid
                )
            finally:
                proc.terminate()
                proc.wait(timeout=30)
        print(json.dumps(row), file=sys.stderr)
        results.append(row)
        done = {r["size"]: r for r in prior.get("results", [])}
        done.update({r["size"]: r for r in results})
        Path(args.out).write_text(
            json.dumps(
                {
                    "machine": machine(),
                    "results": sorted(done.values(), key=lambda r: r["size"]),
                    "method": __doc__.split("\n\n")[1],
                },
                indent=1,
            )
        )
    return results


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--measure":
        _child(sys.argv[2])
    else:
        main()
