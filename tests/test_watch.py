"""`--watch`: the index follows a folder while it changes (real embedder, real Chroma, real inotify)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest

from assistant.cli import build_parser, main
from assistant.watch import Watcher

QUIET_MS = 200  # the debounce window in these tests (default 500)


def wait_for(predicate, timeout=15.0, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


@pytest.fixture
def watched(tmp_path, settings, shared_embedder):
    """An Assistant on a fresh index, and a watcher on tmp_path/docs running in a thread."""
    from assistant import Assistant

    settings.watch_debounce_ms = QUIET_MS
    a = Assistant(settings)
    a.embedder = shared_embedder
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "start.md").write_text("# Start\n\nThe lighthouse keeper logs every passing ship.\n")
    lines: list[str] = []
    w = Watcher(a, [str(docs)], echo=lines.append).start()
    assert w.ready.wait(60), lines
    yield a, w, docs, lines
    w.stop()


def sources(hits):
    return [os.path.basename(p.chunk.source) for p in hits]


def test_watch_adds_changes_removes_and_survives_a_bad_file(watched):
    a, w, docs, lines = watched
    assert lines[-2].startswith("1 added,") and lines[-1].startswith("watching ")
    assert sources(a.search("lighthouse keeper", k=1)) == ["start.md"]  # the retriever exists before the changes

    # a new file becomes searchable, through the same Assistant's retriever (as in serve --watch)
    t0 = time.monotonic()
    (docs / "birds.md").write_text("# Birds\n\nThe zebrafinch sings at dawn in the aviary.\n")
    assert wait_for(lambda: any(line.startswith("added ") and "birds.md" in line for line in lines)), lines
    assert wait_for(lambda: sources(a.search("zebrafinch aviary", k=1)) == ["birds.md"], timeout=5)
    latency = time.monotonic() - t0
    assert latency < 5, latency
    print(f"searchable {latency:.2f}s after the write")
    assert [line for line in lines if "birds.md" in line] == [f"added {docs / 'birds.md'} (1 chunk)"]

    # a burst of changes is one sync
    before = w.syncs
    for i in range(4):
        (docs / f"note{i}.txt").write_text(f"Note {i}: the harbour crane lifts container number {i}.\n")
    assert wait_for(lambda: sum(line.startswith("added ") and "note" in line for line in lines) == 4), lines
    time.sleep(3 * QUIET_MS / 1000)
    assert w.syncs == before + 1

    # a changed file is re-embedded: the new words are found, the old ones are gone
    (docs / "birds.md").write_text("# Birds\n\nThe okapi is not a bird at all.\n")
    assert wait_for(lambda: f"changed {docs / 'birds.md'} (1 chunk)" in lines), lines
    texts = [c.text for c in a.store.chunks_of(str(docs / "birds.md"))]
    assert len(texts) == 1 and "okapi" in texts[0] and "zebrafinch" not in texts[0]
    assert sources(a.search("okapi", k=1)) == ["birds.md"]

    # a deleted file leaves the index
    (docs / "birds.md").unlink()
    assert wait_for(lambda: f"removed {docs / 'birds.md'}" in lines), lines
    assert "birds.md" not in {os.path.basename(d["source"]) for d in a.documents()}
    assert "birds.md" not in sources(a.search("okapi bird", k=10))

    # an unreadable file is one line; watching goes on, and the line is not repeated by later syncs
    (docs / "broken.pdf").write_bytes(b"this is not a PDF")
    assert wait_for(lambda: any("broken.pdf" in line for line in lines)), lines
    (docs / "after.md").write_text("Written after the broken file: the albatross glides.\n")
    assert wait_for(lambda: f"added {docs / 'after.md'} (1 chunk)" in lines), lines
    assert [line for line in lines if "broken.pdf" in line] == [
        f"skipped {docs / 'broken.pdf'}: corrupt PDF: not a PDF file (no %PDF header)"
    ]
    assert sources(a.search("albatross", k=1)) == ["after.md"]

    # editor droppings and hidden files trigger nothing
    syncs = w.syncs
    (docs / "after.md.swp").write_text("swap")
    (docs / ".hidden.md").write_text("hidden")
    time.sleep(4 * QUIET_MS / 1000)
    assert w.syncs == syncs

    w.stop()
    assert lines[-1] == "stopped watching" and not w._thread.is_alive()


def test_a_failing_sync_is_one_line_and_the_next_change_retries(watched):
    a, w, docs, lines = watched
    real = a.ingest
    calls = []

    def flaky(*paths, **kw):
        calls.append(paths)
        if len(calls) == 1:
            raise OSError("disk full")
        return real(*paths, **kw)

    a.ingest = flaky
    (docs / "one.md").write_text("The first file after the failure: the ibis wades.\n")
    assert wait_for(lambda: any(line.startswith("error:") for line in lines)), lines
    assert [line for line in lines if line.startswith("error:")] == [
        "error: unexpected OSError: disk full (still watching)"
    ]
    (docs / "two.md").write_text("The second file: the heron waits.\n")
    assert wait_for(lambda: any("two.md" in line for line in lines)), lines
    assert any(line == f"added {docs / 'one.md'} (1 chunk)" for line in lines)  # the retry caught up


def test_cli_flags(tmp_path, monkeypatch, capsys):
    assert build_parser().parse_args(["serve", "--watch", "a", "b"]).watch == ["a", "b"]
    assert build_parser().parse_args(["ingest", "--watch", "a"]).watch is True
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(tmp_path / "index"))
    assert main(["ingest", "--watch", "--json", str(tmp_path)]) == 1
    assert "--json" in capsys.readouterr().err
    assert main(["ingest", "--watch", str(tmp_path / "typo")]) == 1
    assert "no such file or folder" in capsys.readouterr().err


def test_ingest_watch_command_prints_a_line_per_change_and_stops_on_ctrl_c(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    env = dict(
        os.environ,
        ASSISTANT_INDEX_DIR=str(tmp_path / "index"),
        ASSISTANT_WATCH_DEBOUNCE_MS=str(QUIET_MS),
        PYTHONUNBUFFERED="1",
    )
    p = subprocess.Popen(
        [sys.executable, "-m", "assistant", "ingest", "--watch", "docs"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [out.put(line.rstrip("\n")) for line in p.stdout], daemon=True).start()

    def next_line(timeout):
        try:
            return out.get(timeout=timeout)
        except queue.Empty:
            p.kill()
            pytest.fail(f"no line within {timeout}s; stderr: {p.stderr.read()}")

    try:
        assert next_line(120).startswith("0 added,")
        assert next_line(30) == "watching docs for changes (Ctrl-C to stop)"
        (docs / "x.md").write_text("# X\n\nThe cormorant dives for fish.\n")
        assert next_line(60) == "added docs/x.md (1 chunk)"
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=90) == 0  # exit after Ctrl-C: slow under load (torch teardown), not a timing test
        assert next_line(5) == "stopped watching"
        err = p.stderr.read()
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    finally:
        if p.poll() is None:
            p.kill()
