"""The persistent lexical index (assistant/lexical.py): updates, persistence, scope, CJK, crashes."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import bm25s
import numpy as np

from assistant.lexical import LexicalIndex, index_terms
from assistant.retrieve import lexical_terms

DOCS = [
    ("a1", "Title: Strikes | Source: NBC News\nThe strikes on Venezuela were not authorized by Congress.", "/d/a.txt"),
    ("a2", "Title: Strikes | Source: NBC News\nOfficials said more strikes could follow in the Caribbean.", "/d/a.txt"),
    ("b1", "Title: Bakery\nThe Van Aken bakery sells 4,180 loaves a week.", "/d/b.txt"),
    ("c1", "Title: Oil\nVenezuela's oil exports rose in October, the ministry said.", "/d/c.txt"),
]


def test_search_matches_bm25s_scores(tmp_path):
    ix = LexicalIndex(tmp_path / "l.sqlite3")
    ix.upsert(DOCS)
    ref = bm25s.BM25()
    ref.index([lexical_terms(t) for _, t, _ in DOCS], show_progress=False)
    want = ref.get_scores(lexical_terms("strikes in Venezuela"))
    got = dict(ix.search("strikes in Venezuela", 10))
    assert list(got)[0] == "a1"
    for (cid, _, _), w in zip(DOCS, want):
        assert abs(got.get(cid, 0.0) - w) < 1e-5
    assert ix.scores("strikes in Venezuela", ["b1", "c1", "nope"]) == {"b1": 0.0, "c1": got["c1"], "nope": 0.0}
    assert ix.search("the of and", 5) == [] and ix.search("", 5) == []


def test_add_change_delete_and_reopen(tmp_path):
    path = tmp_path / "l.sqlite3"
    ix = LexicalIndex(path)
    ix.upsert(DOCS, marker="v1")
    assert len(ix) == 4 and ix.has_term("venezuela") and not ix.has_term("zeppelin")
    ix.upsert([("b1", "Title: Bakery\nThe zeppelin hangar reopened.", "/d/b.txt")])  # changed text, same id
    assert len(ix) == 4 and ix.search("loaves", 5) == [] and ix.search("zeppelin", 5)[0][0] == "b1"
    assert ix.delete(["a2", "missing"]) == 1
    assert ix.delete_source("/d/a.txt", keep=["a1"]) == 0
    ix.close()
    ix = LexicalIndex(path)  # persistence
    assert ix.ids() == {"a1", "b1", "c1"} and ix.marker() == "v1" and len(ix) == 3
    assert ix.document_frequency("strike") == 1 and ix.document_frequency("caribbean") == 0
    assert ix.delete_source("/d/a.txt") == 1 and ix.ids() == {"b1", "c1"}
    # statistics stay right after the changes: scores equal a fresh index of the same chunks
    fresh = LexicalIndex(tmp_path / "fresh.sqlite3")
    fresh.upsert([("b1", "Title: Bakery\nThe zeppelin hangar reopened.", "/d/b.txt"), DOCS[3]])
    assert ix.search("Venezuela oil zeppelin", 5) == fresh.search("Venezuela oil zeppelin", 5)


def test_sources_filter_keeps_whole_index_scores(tmp_path):
    ix = LexicalIndex(tmp_path / "l.sqlite3")
    ix.upsert(DOCS)
    everywhere = dict(ix.search("Venezuela", 10))
    within = ix.search("Venezuela", 10, sources={"/d/c.txt"})
    assert [i for i, _ in within] == ["c1"] and within[0][1] == everywhere["c1"]
    assert ix.search("Venezuela", 10, sources=set()) == []
    assert ix.search("Venezuela", 10, sources={"/d/b.txt"}) == []
    assert ix.contains_all(["van", "aken"]) and not ix.contains_all(["aken", "venezuela"])
    assert not ix.contains_all(["van", "aken"], sources={"/d/a.txt"})
    assert ix.contains_all(index_terms("strikes Venezuela"), sources={"/d/a.txt"})


def test_chinese_text_is_searchable(tmp_path):
    ix = LexicalIndex(tmp_path / "l.sqlite3")
    ix.upsert(
        DOCS
        + [
            ("z1", "标题：港口\n新的集装箱码头将于明年在宁波开放，预计每年处理三百万个集装箱。", "/d/z.txt"),
            ("z2", "标题：天气\n北京今天下雪了，气温降到零下五度。", "/d/w.txt"),
        ]
    )
    assert ix.search("宁波的集装箱码头什么时候开放？", 5)[0][0] == "z1"
    assert ix.search("北京下雪", 5)[0][0] == "z2"
    assert ix.has_term("宁波") and ix.contains_all(index_terms("宁波"))
    assert index_terms("Strikes in 北京") == ["strike", "北京"]
    assert index_terms("strikes and U.S. officials' comments") == lexical_terms("strikes and U.S. officials' comments")


def test_threads_read_while_one_writes(tmp_path):
    import threading

    ix = LexicalIndex(tmp_path / "l.sqlite3")
    ix.upsert(DOCS)
    errors = []

    def read():
        try:
            for _ in range(50):
                assert ix.search("Venezuela", 3)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    readers = [threading.Thread(target=read) for _ in range(4)]
    for t in readers:
        t.start()
    for i in range(50):
        ix.upsert([(f"n{i}", f"note {i} about Venezuela", "/d/n.txt")])
    for t in readers:
        t.join()
    assert not errors and len(ix) == 54


CHILD = textwrap.dedent("""
    import sys
    from assistant.lexical import LexicalIndex
    ix = LexicalIndex(sys.argv[1])
    batch = [(f"k{i:06d}", f"word{i % 97} kill test chunk number {i}", f"/k/{i // 20}.txt") for i in range(200000)]
    print("ready", flush=True)
    ix.upsert(batch, marker="never")  # killed in the middle of this one transaction
""")


def test_kill_9_in_a_batch_leaves_a_consistent_index(tmp_path):
    path = tmp_path / "l.sqlite3"
    ix = LexicalIndex(path)
    ix.upsert(DOCS, marker="v1")
    ix.close()
    env = {**os.environ, "PYTHONPATH": os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True, env=env)
    assert p.stdout.readline().strip() == "ready"
    time.sleep(4.0)  # tokenizing and inserting 200k entries takes longer than this
    assert p.poll() is None, "the batch finished before the kill"
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    ix = LexicalIndex(path)
    assert ix.ids() == {c for c, _, _ in DOCS} and ix.marker() == "v1" and len(ix) == 4
    assert ix.search("strikes Venezuela", 3)[0][0] == "a1"
    # reconcile to what a store says it holds: only the difference is written
    store = {c: (c, t, s) for c, t, s in DOCS if c != "a2"}
    store["e1"] = ("e1", "Title: Election\nTurnout was 61 percent.", "/d/e.txt")
    added, deleted = ix.reconcile(store, lambda ids: [store[i] for i in ids], marker="v2")
    assert (added, deleted) == (1, 1) and ix.ids() == set(store) and ix.marker() == "v2"
    assert ix.search("turnout", 3)[0][0] == "e1"
    assert ix.reconcile(store, lambda ids: [store[i] for i in ids], marker="v2") == (0, 0)
    assert np.isclose(dict(ix.search("Venezuela", 5))["c1"], ix.scores("Venezuela", ["c1"])["c1"])


def test_ingest_writes_the_index_and_a_reader_reconciles_only_the_difference(settings, shared_embedder, corpus):
    from assistant import lexical
    from assistant.ingest import ingest
    from assistant.retrieve import Retriever
    from assistant.store import Store

    store = Store(settings)
    ingest([str(corpus)], store, shared_embedder, settings, progress=False)
    path = os.path.join(settings.index_dir, "lexical.sqlite3")
    assert os.path.exists(path)
    ix = lexical.for_store(store)
    stored = {c.id for c in store.all_chunks()}
    assert ix.ids() == stored  # ingest wrote every chunk, in step with Chroma
    # A crash between Chroma's write and the index's: one chunk missing, one stale extra.
    gone = sorted(stored)[0]
    ix.delete([gone])
    ix.upsert([("stale", "zeppelin hangar", "/nowhere.txt")])
    r = Retriever(store, shared_embedder, settings)
    hits = r.search("strikes on Venezuela", 3)
    assert hits and ix.ids() == stored and ix.marker() == store.version()
    assert "zeppelin" not in " ".join(p.chunk.text for p in r.search("zeppelin hangar", 3))
    # Another file: ingest adds its chunks; the old version of a changed file goes
    (corpus / "z.txt").write_text("The zeppelin hangar in Friedrichshafen reopened for visitors.", encoding="utf-8")
    ingest([str(corpus)], Store(settings), shared_embedder, settings, progress=False)
    assert "zeppelin" in r.search("zeppelin hangar", 1)[0].chunk.text
    assert ix.ids() == {c.id for c in store.all_chunks()}
    (corpus / "z.txt").unlink()
    ingest([str(corpus)], Store(settings), shared_embedder, settings, progress=False)
    assert ix.ids() == stored


def test_each_collection_has_its_own_file(tmp_path):
    from assistant.lexical import index_path
    from assistant.settings import Settings

    s = Settings.load(index_dir=str(tmp_path / "index"))
    other = s.model_copy(update={"collection": "papers"})
    assert index_path(s, s.collection) == str(tmp_path / "index" / "lexical.sqlite3")
    assert index_path(other, other.collection) == str(tmp_path / "index" / "lexical-papers.sqlite3")
    served = s.model_copy(update={"chroma_url": "http://127.0.0.1:8000", "model_cache": str(tmp_path / "cache")})
    a, b = index_path(served, "documents"), index_path(served, "papers")
    assert a != b and a.startswith(str(tmp_path / "cache" / "lexical"))
