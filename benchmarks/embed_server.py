"""Ingest throughput with the in-process embedder vs an OpenAI-compatible embeddings server.

The same documents (the first ``--docs`` of the dev corpus) are ingested twice into fresh
embedded indexes, once with the in-process MiniLM (``Embedder``) and once with
``ASSISTANT_EMBED_URL`` pointing at infinity-emb serving the same packaged MiniLM folder
(``ServerEmbedder``, ``embed_batch`` texts per request). Reported: chunks/s of each full ingest
(read, chunk, embed, write), and how far apart the two indexes' vectors of the same chunks are
(the server must be the same model: cosine ~1). Both runs share this machine's CPUs: the
server's advantage (one model for many app replicas, a GPU) is not what this measures; it says
what the network hop and the server's batching cost or give on one box.

infinity-emb pins sentence-transformers < 4 and numpy < 2, so it lives in its own virtual
environment (``make infinity`` makes ``.venv-infinity``; ``INFINITY_VENV`` points elsewhere).
``Infinity`` starts it on loopback, offline (the model is a local folder, HF_HUB_OFFLINE=1);
tests/test_embed.py uses the same launcher.

    .venv/bin/python benchmarks/embed_server.py [--docs 40] [--out benchmarks/embed-server.json]
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
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("INFINITY_VENV") or ROOT / ".venv-infinity")
SERVED_NAME = "minilm"


def infinity_exe() -> Path | None:
    """The infinity_emb command of its own venv, or None when that venv is not made."""
    exe = VENV / "bin" / "infinity_emb"
    return exe if exe.exists() else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Infinity:
    """``infinity_emb v2`` serving one local sentence-transformers folder on 127.0.0.1, no downloads."""

    def __init__(self, model_dir: str, log_dir: Path, port: int | None = None, name: str = SERVED_NAME):
        self.model_dir, self.name = model_dir, name
        self.port = port or _free_port()
        self.log = Path(log_dir) / f"infinity-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 300) -> Infinity:
        exe = infinity_exe()
        if exe is None:
            raise RuntimeError(f"no infinity-emb venv at {VENV}: run `make infinity`")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANT_", "PYTHON", "VIRTUAL_ENV"))}
        env.update(
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            HF_HUB_DISABLE_TELEMETRY="1",
            INFINITY_ANONYMOUS_USAGE_STATS="0",
            DO_NOT_TRACK="1",
            TOKENIZERS_PARALLELISM="false",
        )
        cmd = [
            str(exe),
            "v2",
            "--model-id",
            self.model_dir,
            "--served-model-name",
            self.name,
            "--engine",
            "torch",
            "--device",
            "cpu",
            "--batch-size",
            "32",
            "--no-model-warmup",  # its warm-up embeds 256-token batches: ~25 s on 2 busy cores, before it serves
            "--no-bettertransformer",  # needs optimum, not installed; plain torch attention on CPU
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"infinity_emb exited with {self.proc.returncode}: {self.tail()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"infinity_emb not up after {timeout_s:.0f} s: {self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=20)


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def main(argv=None) -> int:
    sys.path.insert(0, str(ROOT))
    import assistant  # noqa: F401  (the offline environment, before any model library loads)

    p = argparse.ArgumentParser()
    p.add_argument("--corpus", default=str(ROOT.parent / "shared" / "eval" / "dev" / "corpus"))
    p.add_argument("--docs", type=int, default=40, help="the first N documents of the corpus")
    p.add_argument("--batch", type=int, default=64, help="embed_batch: texts per request to the server")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "embed-server.json"))
    args = p.parse_args(argv)

    import numpy as np

    from assistant.core import Assistant
    from assistant.embed import ServerEmbedder
    from assistant.models import embedding_model_path
    from assistant.settings import Settings

    corpus_dir = Path(args.corpus)
    if not corpus_dir.is_dir():
        corpus_dir = Path("/work/shared/eval/dev/corpus")
    work = Path(tempfile.mkdtemp(prefix="bench-embed-server-"))
    server = None
    try:
        corpus = work / "corpus"
        corpus.mkdir()
        for f in sorted(corpus_dir.glob("*.txt"))[: args.docs]:
            shutil.copy(f, corpus / f.name)
        load_before = _uptime()

        local = Assistant(Settings.load(index_dir=str(work / "local"), chroma_url="", collection="bench"))
        local.embedder.embed(["warm up"] * 32)  # model load outside the timing
        t0 = time.perf_counter()
        r_local = local.ingest(str(corpus), progress=False)
        local_s = time.perf_counter() - t0

        model_dir = embedding_model_path(Settings.load())
        t0 = time.perf_counter()
        server = Infinity(model_dir, work).start()
        start_s = time.perf_counter() - t0
        settings = Settings.load(
            index_dir=str(work / "remote"),
            chroma_url="",
            collection="bench",
            embed_url=server.url,
            embed_name=server.name,
            embed_batch=args.batch,
        )
        remote = Assistant(settings)
        assert isinstance(remote.embedder, ServerEmbedder)
        remote.embedder.embed(["warm up"] * 32)
        t0 = time.perf_counter()
        r_remote = remote.ingest(str(corpus), progress=False)
        remote_s = time.perf_counter() - t0

        a = local.store.collection.get(include=["embeddings"])
        b = remote.store.collection.get(include=["embeddings"])
        va = {i: np.asarray(e) for i, e in zip(a["ids"], a["embeddings"])}
        cos = [float(np.dot(va[i], np.asarray(e))) for i, e in zip(b["ids"], b["embeddings"]) if i in va]
        result = {
            "docs": args.docs,
            "chunks": r_local.chunks,
            "in_process": {"seconds": round(local_s, 2), "chunks_per_s": round(r_local.chunks / local_s, 1)},
            "server": {
                "seconds": round(remote_s, 2),
                "chunks_per_s": round(r_remote.chunks / remote_s, 1),
                "batch": args.batch,
                "start_s": round(start_s, 1),
                "what": "infinity-emb 0.0.78, torch engine, CPU, the packaged all-MiniLM-L6-v2 folder",
            },
            "same_chunks": len(cos),
            "cosine_min": round(min(cos), 6) if cos else None,
            "cosine_mean": round(sum(cos) / len(cos), 6) if cos else None,
            "load_before": load_before,
            "load_after": _uptime(),
            "cpus": os.cpu_count(),
        }
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
