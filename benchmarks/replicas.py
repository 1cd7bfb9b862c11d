"""What one app replica pays to catch up with a change another replica wrote to a Chroma server.

A `chroma run` server gets ``--chunks`` synthetic chunks (ingest's metadata, ~1 KB of text,
random unit 384-d vectors: no model is loaded). A reader (``Retriever._lexical_index``, what
every search calls first) then syncs three times, each timed:

1. a fresh replica: no lexical index file yet, every chunk read and indexed (a first start);
2. after another writer added ``--new`` chunks: the incremental sync (ids listed, only the new
   chunks fetched, only they added to the lexical index);
3. the same change again with the store's chunk cache emptied: what each change cost before
   ``Store.all_chunks`` became incremental (every chunk's text and metadata re-read).

    .venv/bin/python benchmarks/replicas.py [--chunks 20000] [--new 10] [--out benchmarks/replicas.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main(argv=None) -> int:
    sys.path.insert(0, str(ROOT))
    import assistant  # noqa: F401

    p = argparse.ArgumentParser()
    p.add_argument("--chunks", type=int, default=20_000)
    p.add_argument("--new", type=int, default=10)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "replicas.json"))
    args = p.parse_args(argv)

    import numpy as np

    from assistant.retrieve import Retriever
    from assistant.schema import Chunk
    from assistant.settings import Settings
    from assistant.store import Store

    work = Path(tempfile.mkdtemp(prefix="bench-replicas-"))
    port = _port()
    chroma = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    server = subprocess.Popen(
        [chroma, "run", "--path", str(work / "chroma"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(5000)]

    def chunks(start: int, n: int) -> list[Chunk]:
        out = []
        for i in range(start, start + n):
            text = " ".join(rng.choice(words, 150))
            out.append(
                Chunk(
                    id=f"doc{i // 10:06d}-v-{i % 10:05d}",
                    source=f"/data/doc{i // 10:06d}.txt",
                    title=f"Document {i // 10}",
                    date="2024-01-01",
                    doc_hash="v",
                    start=0,
                    end=len(text),
                    text=text,
                    context=f"Title: Document {i // 10} | Source: Bench",
                )
            )
        return out

    def write(store: Store, start: int, n: int) -> None:
        for b in range(start, start + n, 1000):
            cs = chunks(b, min(1000, start + n - b))
            vecs = rng.normal(size=(len(cs), 384)).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            store.upsert(cs, vecs, {(c.source, c.doc_hash): 10 for c in cs})
        store.touch()

    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        settings = Settings.load(
            chroma_url=f"http://127.0.0.1:{port}", collection="bench", model_cache=str(work / "cache")
        )
        writer = Store(settings)
        t0 = time.perf_counter()
        write(writer, 0, args.chunks)
        write_s = time.perf_counter() - t0
        load_before = _uptime()

        reader = Retriever(Store(settings), None, settings)  # type: ignore[arg-type]  # no embedder: no search
        t0 = time.perf_counter()
        reader._lexical_index()
        first_s = time.perf_counter() - t0

        write(writer, args.chunks, args.new)
        t0 = time.perf_counter()
        reader._lexical_index()
        incremental_s = time.perf_counter() - t0
        fetched = reader.store.fetched

        t0 = time.perf_counter()
        ids = reader.store.ids()
        listing_s = time.perf_counter() - t0

        write(writer, args.chunks + args.new, args.new)
        reader.store._chunk_cache = {}  # as before: every chunk read again on every change
        t0 = time.perf_counter()
        reader._lexical_index()
        full_read_s = time.perf_counter() - t0
        result = {
            "chunks": args.chunks,
            "new": args.new,
            "write_s": round(write_s, 1),
            "fresh_replica_s": round(first_s, 2),
            "incremental_sync_s": round(incremental_s, 3),
            "incremental_fetched": fetched,
            "id_listing_s": round(listing_s, 3),
            "ids_listed": len(ids),
            "full_read_sync_s": round(full_read_s, 2),
            "load_before": load_before,
            "load_after": _uptime(),
            "cpus": os.cpu_count(),
        }
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
