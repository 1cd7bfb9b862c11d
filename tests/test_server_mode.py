"""Server mode for real: a `chroma run` server and an OpenAI-compatible LLM server on loopback.

Everything here goes through the same switches a deployment uses (``ASSISTANT_CHROMA_URL``,
``ASSISTANT_LLM_URL``), with the ``assistant`` command in a subprocess and the Python API.
The tiny SmolLM2 serves most questions; one test (``llm``) asks the seed question of the
packaged 1.5B model behind ``python -m assistant.llm_server`` and wants a cited answer.

The helpers (``ChromaServer``, ``LLMServer``, ``run_cli``, ``index_problems``) are reused by
test_faults.py and test_bad_input.py.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from conftest import ROOT, SEED_FILE, SEED_QUESTION, SHARED, free_port

BIN = Path(sys.executable).parent
DEV_CORPUS = SHARED / "eval" / "dev" / "corpus"


# --------------------------------------------------------------------------- helpers


def _wait_http(url: str, deadline_s: float, proc: subprocess.Popen | None = None, log: Path | None = None) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not up after {deadline_s}s: {_tail(log)}")


def _tail(log: Path | None) -> str:
    if log is None or not log.exists():
        return ""
    return log.read_text(errors="replace")[-2000:]


def _stop(proc: subprocess.Popen | None, kill: bool = False) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)


class ChromaServer:
    """`chroma run --path DIR --host 127.0.0.1 --port PORT`; restartable on the same dir and port."""

    def __init__(self, path: Path, port: int | None = None):
        self.path = Path(path)
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.log = self.path.parent / f"chroma-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ChromaServer:
        exe = BIN / "chroma" if (BIN / "chroma").exists() else shutil.which("chroma")
        assert exe, "the chroma CLI (chromadb) is not installed"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [str(exe), "run", "--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=_env(),
            )
        _wait_http(self.url + "/api/v2/heartbeat", 30, self.proc, self.log)
        return self

    def stop(self, kill: bool = False) -> None:
        _stop(self.proc, kill)

    def client(self):
        import chromadb

        return chromadb.HttpClient(host="127.0.0.1", port=self.port)


class LLMServer:
    """`python -m assistant.llm_server --model GGUF --port PORT`; restartable on the same port."""

    def __init__(self, model: str, log_dir: Path, port: int = 0, n_ctx: int = 4096):
        self.model, self.port, self.n_ctx = model, port, n_ctx
        self.log = Path(log_dir) / "llm-server.log"
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self, timeout_s: float = 120) -> LLMServer:
        cmd = [
            sys.executable,
            "-m",
            "assistant.llm_server",
            "--model",
            self.model,
            "--port",
            str(self.port),
            "--threads",
            "2",
            "--n-ctx",
            str(self.n_ctx),
        ]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, env=_env(), cwd=ROOT
            )
        end = time.monotonic() + timeout_s
        line = b""
        while time.monotonic() < end and b"\n" not in line:
            if self.proc.poll() is not None:
                raise RuntimeError(f"LLM server exited with {self.proc.returncode}: {_tail(self.log)}")
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if ready:
                line += os.read(self.proc.stdout.fileno(), 4096)
        text = line.decode(errors="replace").strip()
        assert text.startswith("serving ") and " at http" in text, f"unexpected first line {text!r}: {_tail(self.log)}"
        self.url = text.rsplit(" at ", 1)[1]
        self.port = int(self.url.rsplit(":", 1)[1].split("/")[0])  # a restart reuses the port
        _wait_http(self.url.removesuffix("/v1") + "/health", timeout_s, self.proc, self.log)
        return self

    def stop(self, kill: bool = False) -> None:
        _stop(self.proc, kill)


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        ANONYMIZED_TELEMETRY="False",
        GRADIO_ANALYTICS_ENABLED="False",
        TOKENIZERS_PARALLELISM="false",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_cli(*args: str, env: dict, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """The installed `assistant` command (falls back to `python -m assistant.cli`)."""
    exe = [str(BIN / "assistant")] if (BIN / "assistant").exists() else [sys.executable, "-m", "assistant.cli"]
    return subprocess.run(
        exe + list(args),
        env=_env(**env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """Non-zero exit, no traceback, and the last stderr line is `error: ...` naming what failed."""
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def index_problems(store, folder: Path | None = None) -> list[str]:
    """Everything that makes an index inconsistent with the files (empty list = consistent).

    Each source has exactly one version (doc_hash), that version is the file's current
    sha256 as chunked with the store's settings (identity.version_key), it has exactly
    n_chunks chunks, no two chunks share (source, start, end), and
    with ``folder`` given the indexed sources are exactly the readable files under it.
    """
    from assistant.documents import UnreadableFile, iter_files, read_document
    from assistant.identity import version_key
    from assistant.ingest import file_hash

    problems: list[str] = []
    hashes: dict[str, set[str]] = defaultdict(set)
    counts: Counter = Counter()
    expected: dict[tuple[str, str], set[int]] = defaultdict(set)
    spans: Counter = Counter()
    for _, _, metas in store._pages(include=["metadatas"]):
        for m in metas:
            hashes[m["source"]].add(m["doc_hash"])
            counts[(m["source"], m["doc_hash"])] += 1
            expected[(m["source"], m["doc_hash"])].add(int(m["n_chunks"]))
            spans[(m["source"], int(m["start"]), int(m["end"]))] += 1
    for source, hs in hashes.items():
        if len(hs) != 1:
            problems.append(f"{source}: {len(hs)} versions")
        if not os.path.exists(source):
            problems.append(f"{source}: stale (file is gone)")
        elif version_key(file_hash(Path(source)), store.settings) not in hs:
            problems.append(f"{source}: stale version (file changed)")
    for key, n in counts.items():
        if expected[key] != {n}:
            problems.append(f"{key[0]}: {n} chunks, n_chunks says {sorted(expected[key])}")
    problems += [f"{s}: duplicate span {a}-{b} x{n}" for (s, a, b), n in spans.items() if n > 1]
    if folder is not None:
        readable = set()
        for f in iter_files(str(folder)):
            try:
                read_document(f)
                readable.add(os.path.abspath(f))
            except UnreadableFile:
                pass
        missing = readable - set(hashes)
        problems += [f"{s}: not indexed" for s in sorted(missing)]
    return problems


def small_corpus(dest: Path, n_dev: int = 3) -> Path:
    """The seed article plus a few short documents of the dev corpus."""
    if not DEV_CORPUS.is_dir():
        pytest.skip("shared dev corpus not present")
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(SEED_FILE, dest / SEED_FILE.name)
    dev = sorted(DEV_CORPUS.glob("rgb-*.txt"))[:n_dev]
    for f in dev:
        shutil.copy(f, dest / f.name)
    return dest


def check_citations(answer) -> None:
    from assistant.documents import text_of

    for c in answer.citations:
        assert text_of(c.source)[c.start : c.end] == c.quote


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def chroma(tmp_path_factory):
    server = ChromaServer(tmp_path_factory.mktemp("chroma") / "data").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tiny_server(tmp_path_factory):
    from assistant.models import tiny_llm_path

    server = LLMServer(tiny_llm_path(), tmp_path_factory.mktemp("tiny-llm"), n_ctx=4096).start()
    yield server
    server.stop()


def _assistant(shared_embedder, **settings):
    from assistant import Assistant
    from assistant.settings import Settings

    a = Assistant(Settings.load(**settings))
    a.embedder = shared_embedder
    return a


# --------------------------------------------------------------------------- tests


def test_ingest_and_incremental_sync_against_chroma_server(chroma, tmp_path, shared_embedder):
    corpus = small_corpus(tmp_path / "corpus")
    cfg = {
        "ASSISTANT_CHROMA_URL": chroma.url,
        "ASSISTANT_INDEX_DIR": str(tmp_path / "local"),
        "ASSISTANT_COLLECTION": "sync",
    }

    # First ingest through the real command, against the server.
    proc = run_cli("ingest", str(corpus), "--json", env=cfg, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert len(report["added"]) == 4 and report["chunks"] > 0
    assert chroma.client().get_collection("sync").count() == report["chunks"]  # the records live in the server
    assert not (tmp_path / "local").exists()  # nothing was written to an embedded index

    a = _assistant(shared_embedder, chroma_url=chroma.url, index_dir=str(tmp_path / "local"), collection="sync")
    assert index_problems(a.store, corpus) == []

    # Unchanged: nothing embedded.
    r = a.ingest(str(corpus))
    assert (len(r.unchanged), r.chunks, r.added, r.updated, r.removed) == (4, 0, [], [], [])

    # A changed file is replaced, not duplicated.
    changed = corpus / SEED_FILE.name
    changed.write_text(
        changed.read_text(encoding="utf-8") + "\n\nA late paragraph about zeppelins.\n", encoding="utf-8"
    )
    r = a.ingest(str(corpus))
    assert r.updated == [str(changed)] and len(r.unchanged) == 3 and r.chunks > 0
    assert index_problems(a.store, corpus) == []
    assert any("zeppelins" in p.chunk.text for p in a.search("zeppelins", 3))

    # A deleted file's chunks are gone from the server.
    gone = sorted(corpus.glob("rgb-*.txt"))[0]
    gone.unlink()
    r = a.ingest(str(corpus))
    assert r.removed == [str(gone)] and r.chunks == 0
    assert chroma.client().get_collection("sync").get(where={"source": str(gone)})["ids"] == []
    assert index_problems(a.store, corpus) == []

    # Another client (the CLI) sees the same state.
    proc = run_cli("documents", "--json", env=cfg, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(d["source"] for d in json.loads(proc.stdout)) == sorted(str(p) for p in corpus.iterdir())


def test_ask_through_chroma_server_and_llm_server(chroma, tiny_server, tmp_path, shared_embedder):
    from assistant.llm import OpenAICompatibleLLM

    corpus = small_corpus(tmp_path / "corpus", n_dev=1)
    a = _assistant(
        shared_embedder,
        chroma_url=chroma.url,
        llm_url=tiny_server.url,
        index_dir=str(tmp_path / "local"),
        collection="ask",
    )
    a.ingest(str(corpus))
    assert isinstance(a.llm, OpenAICompatibleLLM) and a.llm.url == tiny_server.url

    answer = a.ask(SEED_QUESTION)
    assert answer.question == SEED_QUESTION and answer.answer.strip()
    check_citations(answer)
    assert a.llm.complete([{"role": "user", "content": "Say hello."}], max_tokens=8).strip()

    cfg = {
        "ASSISTANT_CHROMA_URL": chroma.url,
        "ASSISTANT_LLM_URL": tiny_server.url,
        "ASSISTANT_INDEX_DIR": str(tmp_path / "local"),
        "ASSISTANT_COLLECTION": "ask",
    }
    proc = run_cli("ask", SEED_QUESTION, "--json", env=cfg, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["question"] == SEED_QUESTION and isinstance(got["refused"], bool) and got["answer"].strip()
    assert not (tmp_path / "local").exists()


@pytest.mark.llm
def test_default_model_behind_llm_server_answers_the_seed_question(chroma, tmp_path, shared_embedder):
    from assistant.models import llm_model_path
    from assistant.settings import Settings

    server = LLMServer(llm_model_path(Settings.load()), tmp_path).start()
    try:
        a = _assistant(
            shared_embedder,
            chroma_url=chroma.url,
            llm_url=server.url,
            index_dir=str(tmp_path / "local"),
            collection="seed15b",
        )
        a.ingest(str(small_corpus(tmp_path / "corpus", n_dev=2)))
        answer = a.ask(SEED_QUESTION)
    finally:
        server.stop()
    assert not answer.refused, answer.answer
    assert answer.citations, answer.answer
    assert any(w in answer.answer.lower() for w in ("not", "no")), answer.answer
    assert any("authoriz" in c.quote.lower() for c in answer.citations)
    check_citations(answer)


def test_chroma_server_going_away_is_one_clear_error_and_restart_recovers(tmp_path, shared_embedder):
    from assistant.store import StoreError

    server = ChromaServer(tmp_path / "chroma").start()
    try:
        corpus = small_corpus(tmp_path / "corpus", n_dev=1)
        a = _assistant(shared_embedder, chroma_url=server.url, index_dir=str(tmp_path / "local"))
        a.ingest(str(corpus))
        before = a.documents()
        assert a.search("strikes")

        server.stop(kill=True)  # mid-use: the Assistant keeps its client
        for call in (lambda: a.search("strikes"), a.documents, lambda: a.ingest(str(corpus))):
            with pytest.raises(StoreError) as err:
                call()
            message = str(err.value)
            assert server.url in message and "\n" not in message

        cfg = {"ASSISTANT_CHROMA_URL": server.url, "ASSISTANT_INDEX_DIR": str(tmp_path / "local")}
        assert_one_line_error(run_cli("ask", SEED_QUESTION, env=cfg, cwd=tmp_path), server.url)
        assert_one_line_error(run_cli("ingest", str(corpus), env=cfg, cwd=tmp_path), server.url)

        server.start()  # same data dir, same port
        assert a.documents() == before  # the data survived, and the same client reconnects
        assert "strikes" in " ".join(p.chunk.text for p in a.search("strikes", 3)).lower()
        assert a.ingest(str(corpus)).chunks == 0
        proc = run_cli("documents", "--json", env=cfg, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert len(json.loads(proc.stdout)) == len(before)
    finally:
        server.stop()


def test_llm_server_down_is_one_clear_cli_error(chroma, tmp_path, shared_embedder):
    a = _assistant(shared_embedder, chroma_url=chroma.url, index_dir=str(tmp_path / "local"), collection="down")
    a.ingest(str(small_corpus(tmp_path / "corpus", n_dev=0)))
    dead = f"http://127.0.0.1:{free_port()}/v1"
    cfg = {
        "ASSISTANT_CHROMA_URL": chroma.url,
        "ASSISTANT_LLM_URL": dead,
        "ASSISTANT_COLLECTION": "down",
        "ASSISTANT_INDEX_DIR": str(tmp_path / "local"),
    }
    assert_one_line_error(run_cli("ask", SEED_QUESTION, "--json", env=cfg, cwd=tmp_path), dead, "unreachable")


@pytest.mark.skipif(not (ROOT / "assistant" / "web.py").exists(), reason="assistant/web.py not there yet")
def test_load_benchmark_smoke(tmp_path):
    """benchmarks/load.py end to end at toy size: 2 users for 20 s against a real server, tiny LLM."""
    from assistant.models import tiny_llm_path

    out = tmp_path / "load.md"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "load.py"),
            "--users",
            "2",
            "--seconds",
            "20",
            "--llm-model",
            tiny_llm_path(),
            "--corpus",
            str(SEED_FILE.parent),
            "--out",
            str(out),
            "--work-dir",
            str(tmp_path / "work"),
        ],
        env=_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=420,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = out.read_text()
    assert "p50" in text and "p95" in text


def test_a_rebuild_by_one_client_is_followed_by_another(chroma, tmp_path, shared_embedder):
    """A rebuild swaps a new collection in under the name: another client's handle must follow it."""
    corpus = small_corpus(tmp_path / "corpus", n_dev=1)
    kw = {"chroma_url": chroma.url, "collection": "rebuilt", "index_dir": str(tmp_path / "local")}
    a = _assistant(shared_embedder, model_cache=str(tmp_path / "a"), **kw)
    b = _assistant(shared_embedder, model_cache=str(tmp_path / "b"), **kw)
    a.ingest(str(corpus))
    assert "strike" in " ".join(p.chunk.text for p in b.search("strikes", 3)).lower()
    old = b.store.collection.id
    a.ingest(str(corpus), rebuild=True)
    assert chroma.client().get_collection("rebuilt").id != old
    assert "strike" in " ".join(p.chunk.text for p in b.search("strikes", 3)).lower()
    assert b.store.collection.id == chroma.client().get_collection("rebuilt").id


# --------------------------------------------------------------------------- several app processes


class AppServer:
    """`assistant serve` in its own process, configured only by ASSISTANT_* variables (one replica)."""

    def __init__(self, home: Path, env: dict, watch: Path | None = None):
        self.home, self.env, self.watch = Path(home), dict(env), watch
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.out, self.err = self.home / "serve.out", self.home / "serve.err"
        self.proc: subprocess.Popen | None = None
        self.client = None  # gradio_client's, made on the first search after a start

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AppServer:
        self.client = None
        exe = [str(BIN / "assistant")] if (BIN / "assistant").exists() else [sys.executable, "-m", "assistant.cli"]
        cmd = exe + ["serve", "--port", str(self.port)] + (["--watch", str(self.watch)] if self.watch else [])
        with open(self.out, "ab") as out, open(self.err, "ab") as err:
            self.proc = subprocess.Popen(
                cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=_env(**self.env), cwd=self.home
            )
        _wait_http(self.url + "/", 180, self.proc, self.err)
        return self

    def stop(self) -> None:
        _stop(self.proc)

    def search(self, query: str, k: int = 5) -> list[dict]:
        from gradio_client import Client

        if self.client is None:
            self.client = Client(self.url, verbose=False)
        return self.client.predict(query, k, api_name="/search")

    def wait_output(self, needle: str, timeout_s: float = 120) -> float:
        """Wait until the process's stdout holds the line; the time it was seen."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if needle in self.out.read_text(errors="replace"):
                return time.monotonic()
            assert self.proc is not None and self.proc.poll() is None, _tail(self.err)
            time.sleep(0.05)
        raise AssertionError(f"{needle!r} not printed in {timeout_s} s: {_tail(self.out)} {_tail(self.err)}")


def _lexical_rows(path: str) -> dict[str, int]:
    """A lexical index file's chunk ids and their SQLite rowids (a rebuild would write new rows)."""
    import sqlite3

    db = sqlite3.connect(path, timeout=30)
    try:
        return dict(db.execute("SELECT id, rowid FROM chunks").fetchall())
    finally:
        db.close()


def _found_within(app: AppServer, word: str, seconds: float) -> tuple[float, list[dict]]:
    """Search the app for the word until a passage holds it; (seconds it took, passages)."""
    t0 = time.monotonic()
    while True:
        hits = app.search(word)
        if any(word in h["text"] for h in hits):
            return time.monotonic() - t0, hits
        if time.monotonic() - t0 > seconds:
            return time.monotonic() - t0, hits
        time.sleep(0.1)


def test_two_app_processes_on_one_chroma_server_see_each_others_ingest(chroma, tmp_path):
    """Two `assistant serve` replicas on one `chroma run`, each with its own lexical index file
    (as on two machines): a file A ingests (its --watch folder) is found by a lexical search in B
    within 5 s; B only adds the new chunks to its lexical index (the rows it had keep their
    rowids and the marker is the store's version), also across a restart of B."""
    from assistant import lexical
    from assistant.settings import Settings

    corpus = small_corpus(tmp_path / "corpus", n_dev=2)
    drop = tmp_path / "drop"
    drop.mkdir()
    common = {
        "ASSISTANT_CHROMA_URL": chroma.url,
        "ASSISTANT_COLLECTION": "replicas",
        "ASSISTANT_LLM_URL": f"http://127.0.0.1:{free_port()}/v1",  # no LLM: search only, nothing loads one
        "ASSISTANT_THREADS": "1",
    }

    def replica(name: str) -> dict:
        home = tmp_path / name
        return {**common, "ASSISTANT_INDEX_DIR": str(home / "index"), "ASSISTANT_MODEL_CACHE": str(home / "cache")}

    cfg_a, cfg_b = replica("a"), replica("b")
    proc = run_cli("ingest", str(corpus), "--json", env=cfg_a, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lex_a, lex_b = (
        lexical.index_path(Settings.load(chroma_url=chroma.url, model_cache=c["ASSISTANT_MODEL_CACHE"]), "replicas")
        for c in (cfg_a, cfg_b)
    )
    assert lex_a != lex_b

    a = AppServer(tmp_path / "a", cfg_a, watch=drop).start()
    b = AppServer(tmp_path / "b", cfg_b).start()
    try:
        assert any("strike" in h["text"].lower() for h in b.search("strikes"))  # B built its index once
        before = _lexical_rows(lex_b)
        assert len(before) == chroma.client().get_collection("replicas").count()

        # A file ingested by A (its watcher) is found by a lexical search in B within 5 s.
        (drop / "otters.md").write_text(
            "# River survey\n\nVolunteers counted eleven otters near the weir; the rarest word here is "
            "quillthorpe, a name no other document uses.\n",
            encoding="utf-8",
        )
        ingested = a.wait_output("otters.md")
        took, hits = _found_within(b, "quillthorpe", 5.0)
        assert any("quillthorpe" in h["text"] for h in hits), f"not found in B after {took:.1f} s"
        assert took < 5.0, took
        assert hits[0]["lexical"] > 0  # found by its word: the lexical leg knows the new chunk
        print(f"B found A's new file {took:.2f} s after A's watcher reported it ({time.monotonic() - ingested:.2f} s)")

        # B did not rebuild: every row it had keeps its rowid; only the new file's chunks were added.
        after = _lexical_rows(lex_b)
        assert {i: after[i] for i in before} == before
        new = set(after) - set(before)
        assert new and all(i in _lexical_rows(lex_a) for i in new)
        assert len(after) == chroma.client().get_collection("replicas").count()

        # Across a restart: B, stopped while A ingests another file, adds only that file's chunks.
        b.stop()
        kept = _lexical_rows(lex_b)
        (drop / "kites.md").write_text(
            "# Kite festival\n\nThe prize went to a box kite called marrowlark, flown from the north dune.\n",
            encoding="utf-8",
        )
        a.wait_output("kites.md")
        b.start()
        took, hits = _found_within(b, "marrowlark", 30.0)
        assert any("marrowlark" in h["text"] for h in hits), f"not found in B after a restart ({took:.1f} s)"
        restarted = _lexical_rows(lex_b)
        assert {i: restarted[i] for i in kept} == kept  # nothing rebuilt at start
        assert len(restarted) - len(kept) == len(
            chroma.client().get_collection("replicas").get(where={"source": str(drop / "kites.md")})["ids"]
        )
        # And the other way: B's marker is the version A's last write stamped.
        import sqlite3

        db = sqlite3.connect(lex_b)
        marker = db.execute("SELECT value FROM meta WHERE key = 'marker'").fetchone()[0]
        db.close()
        coll = chroma.client().get_collection("replicas")
        assert marker == f"{coll.metadata['version']}:{coll.count()}"
    finally:
        a.stop()
        b.stop()
