"""Faults: `assistant ingest` killed with SIGKILL mid-way, and the LLM server dying mid-question.

Ingest promises (ingest.py) that a crash at any point leaves at worst an extra or partial
version of a file, which the next sync completes or removes. Here a real `assistant ingest`
over a few hundred files is killed -9 twice, at two different points (during the first
build, and during a re-sync that updates, deletes and adds files), and the next run must
leave an index where every file is present exactly once and nothing is stale.
"""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SEED_FILE, SEED_QUESTION
from test_server_mode import DEV_CORPUS, LLMServer, _env, index_problems, run_cli

N_FILES = 360
BIN = Path(sys.executable).parent


def _paragraphs() -> list[str]:
    """Real news prose cut into ~500-character pieces at sentence ends: one chunk per file."""
    out: list[str] = []
    for f in sorted(DEV_CORPUS.glob("mhr-*.txt")):
        body = f.read_text(encoding="utf-8").split("\n\n", 1)[-1]
        piece = ""
        for sentence in re.split(r"(?<=[.!?])\s+", " ".join(body.split())):
            piece = f"{piece} {sentence}".strip()
            if len(piece) > 500:
                out.append(piece)
                piece = ""
        if len(out) >= 2 * N_FILES:
            break
    return out


def _write_corpus(folder: Path, n: int) -> list[Path]:
    if not DEV_CORPUS.is_dir():
        pytest.skip("shared dev corpus (real news prose for the files) not present")
    paras = _paragraphs()
    files = []
    for i in range(n):
        sub = folder / f"part{i % 7}" / ("deep" if i % 3 == 0 else "")
        sub.mkdir(parents=True, exist_ok=True)
        f = sub / f"doc{i:04d}.txt"
        f.write_text(
            f"Title: Fault test document {i}\nDate: 2024-01-{1 + i % 28:02d}\n\n{paras[i]}\n", encoding="utf-8"
        )
        files.append(f)
    return files


def _writes(index_dir: Path) -> int:
    """Records written so far (Chroma's write-ahead log), read without disturbing the writer."""
    try:
        with sqlite3.connect(f"file:{index_dir / 'chroma.sqlite3'}?mode=ro", uri=True, timeout=0.2) as db:
            queued = db.execute("SELECT COALESCE(MAX(seq_id), 0) FROM embeddings_queue").fetchone()[0]
            applied = db.execute("SELECT COALESCE(MAX(seq_id), 0) FROM max_seq_id").fetchone()[0]
            return max(int(queued), int(applied))
    except (sqlite3.Error, TypeError, ValueError):  # no index yet, or a schema we do not know
        return 0


def _ingest_and_kill(folder: Path, index_dir: Path, cwd: Path, after_writes: int, timeout: float = 300) -> int:
    """Start `assistant ingest folder`, SIGKILL it once more than `after_writes` records are in."""
    exe = [str(BIN / "assistant")] if (BIN / "assistant").exists() else [sys.executable, "-m", "assistant.cli"]
    proc = subprocess.Popen(
        exe + ["ingest", str(folder)],
        env=_env(ASSISTANT_INDEX_DIR=str(index_dir)),
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            if proc.poll() is not None:
                pytest.fail(
                    f"ingest finished (rc {proc.returncode}) before it could be killed: "
                    f"{proc.stderr.read().decode(errors='replace')[-500:]}"
                )
            written = _writes(index_dir)
            if written > after_writes:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
                assert proc.returncode == -signal.SIGKILL
                return written
            time.sleep(0.05)
        pytest.fail(f"ingest wrote nothing past {after_writes} records in {timeout}s")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def _store(index_dir: Path):
    """A fresh view of an embedded index another process wrote (Chroma caches one client per path)."""
    from chromadb.api.shared_system_client import SharedSystemClient

    from assistant.settings import Settings
    from assistant.store import Store

    SharedSystemClient.clear_system_cache()
    return Store(Settings.load(index_dir=str(index_dir)))


def _sync(folder: Path, index_dir: Path, cwd: Path) -> dict:
    import json

    proc = run_cli("ingest", str(folder), "--json", env={"ASSISTANT_INDEX_DIR": str(index_dir)}, cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_ingest_killed_at_two_points_then_resynced_is_consistent(tmp_path):
    folder, index_dir = tmp_path / "big", tmp_path / "index"
    files = _write_corpus(folder, N_FILES)

    # Kill 1: during the first build, after the first batch of chunks is in.
    _ingest_and_kill(folder, index_dir, tmp_path, after_writes=0)
    partial = index_problems(_store(index_dir), folder)
    assert any(p.endswith("not indexed") for p in partial), "the kill came too late to test anything"

    # Change the folder under the half-built index: update, delete and add files.
    for f in files[:40]:
        f.write_text(f.read_text(encoding="utf-8") + "\nA correction was appended to this article.\n", encoding="utf-8")
    for f in files[-20:]:
        f.unlink()
    extra = folder / "late"
    extra.mkdir()
    for i in range(10):
        (extra / f"late{i}.md").write_text(
            f"# Late note {i}\n\nThe late note number {i} mentions zeppelins.\n", encoding="utf-8"
        )

    # Kill 2: in the middle of the re-sync (new versions written, old ones not yet deleted).
    _ingest_and_kill(folder, index_dir, tmp_path, after_writes=_writes(index_dir))
    assert index_problems(_store(index_dir), folder), "the second kill came too late to test anything"

    # The next sync repairs everything; one more finds nothing to do.
    report = _sync(folder, index_dir, tmp_path)
    assert report["skipped"] == []
    store = _store(index_dir)
    assert index_problems(store, folder) == []
    docs = store.documents()
    assert len(docs) == N_FILES - 20 + 10
    assert all(d["chunks"] >= 1 for d in docs)
    again = _sync(folder, index_dir, tmp_path)
    assert again["chunks"] == 0 and len(again["unchanged"]) == N_FILES - 20 + 10


# --------------------------------------------------------------------------- LLM server faults


@pytest.fixture
def tiny_llm_server(tmp_path):
    from assistant.models import tiny_llm_path

    server = LLMServer(tiny_llm_path(), tmp_path).start()
    yield server
    server.stop()


def test_llm_server_dying_mid_answer_is_an_llm_error_and_restart_recovers(tmp_path, tiny_llm_server, shared_embedder):
    from assistant import Assistant
    from assistant.llm import LLMError
    from assistant.settings import Settings

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / SEED_FILE.name).write_bytes(SEED_FILE.read_bytes())
    a = Assistant(
        Settings.load(
            index_dir=str(tmp_path / "index"), llm_url=tiny_llm_server.url, llm_timeout_s=20, max_answer_tokens=32
        )
    )
    a.embedder = shared_embedder
    a.ingest(str(corpus))

    # Mid-stream: the connection drops while tokens are arriving.
    story = [{"role": "user", "content": "Write a very long story about a dragon, at least 1000 words."}]
    pieces = 0
    with pytest.raises(LLMError) as err:
        for _ in a.llm.stream(story, max_tokens=2000):
            pieces += 1
            if pieces == 3:
                tiny_llm_server.stop(kill=True)
    assert pieces >= 3
    assert tiny_llm_server.url in str(err.value) and "\n" not in str(err.value)

    # Mid-question: retrieval done, then the LLM is gone.
    with pytest.raises(LLMError) as err:
        for event in a.stream(SEED_QUESTION):
            assert event.kind == "passages" and event.data  # the LLM is only needed after retrieval
    assert "unreachable" in str(err.value)

    tiny_llm_server.start()  # same port
    assert a.llm.complete([{"role": "user", "content": "Say hello."}], max_tokens=8).strip()
    answer = a.ask(SEED_QUESTION)
    assert answer.question == SEED_QUESTION and answer.answer.strip()


# --------------------------------------------------------------------------- two processes, one embedded index


def _hash(path, settings) -> str:
    """The version key the index stores for this file's current bytes."""
    from assistant.identity import version_key
    from assistant.ingest import file_hash

    return version_key(file_hash(path), settings)


def test_embedded_index_written_by_another_process_is_seen_by_a_running_assistant(tmp_path, shared_embedder):
    from assistant import Assistant
    from assistant.settings import Settings

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    seed = corpus / SEED_FILE.name
    seed.write_bytes(SEED_FILE.read_bytes())
    a = Assistant(Settings.load(index_dir=str(tmp_path / "index")))  # stands for `assistant serve`
    a.embedder = shared_embedder
    a.ingest(str(corpus))
    assert a.search("strikes on Venezuela")

    # `assistant ingest` in another process: one new file, one changed file.
    (corpus / "zeppelin.txt").write_text("The zeppelin hangar in Friedrichshafen reopened for visitors.\n")
    seed.write_text(seed.read_text(encoding="utf-8") + "\nA late paragraph.\n", encoding="utf-8")
    report = _sync(corpus, tmp_path / "index", tmp_path)
    assert report["added"] and report["updated"]

    hits = a.search("zeppelin hangar Friedrichshafen", 3)  # must not raise, and must find the new file
    assert hits and "zeppelin" in hits[0].chunk.text
    # The replaced file is searchable in its new version only, and this process can still write.
    hits = a.search("strikes on Venezuela", 10)
    assert hits and {p.chunk.doc_hash for p in hits if p.chunk.source == str(seed)} == {_hash(seed, a.settings)}
    (corpus / "late.txt").write_text("The lighthouse keeper retired after forty years.\n")
    a.ingest(str(corpus))
    assert "lighthouse" in a.search("lighthouse keeper retired", 1)[0].chunk.text
