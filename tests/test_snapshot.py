"""One consistent snapshot per search, over the real embedder and a real embedded Chroma.

The retriever's view of the chunks (positions, documents, outlets, dates) must never mix two
versions of the index: an upload or removal during searches used to pair the old chunk list
with the new document map.
"""

import random
import threading
import time
from collections import defaultdict

from assistant.documents import text_of
from assistant.ingest import ingest
from assistant.retrieve import Retriever
from assistant.settings import Settings
from assistant.store import Store

TOPICS = [
    ("pier", "Coast Weekly", "The pier at Gannet Point closed for repairs after the winter storms."),
    ("orchard", "Valley Post", "Hollowbrook orchard picked nine tonnes of quince this autumn."),
    ("ferry", "Island Courier", "The Vellmar ferry crosses the lake every forty minutes in summer."),
    ("kiln", "Clay Monthly", "The pottery club fires its kiln every second Thursday of the month."),
]
QUESTIONS = [
    "When does the ferry cross the lake?",
    "Why did the pier at Gannet Point close, and what did Valley Post say about the quince harvest?",
    "How often is the kiln fired according to Clay Monthly?",
    "What changed in version 3 of the harbour notice?",
    "Which notice mentions the storm damage on the north quay?",
]


def _article(topic: str, outlet: str, lede: str, n: int) -> str:
    body = " ".join(f"{lede.rstrip('.')} (note {k} of {n})." for k in range(n))
    return f"Title: {topic.title()} news\nSource: {outlet}\nDate: 2024-0{1 + n % 9}-1{n % 10}\n\n{body}\n"


def _notice(i: int, version: int) -> str:
    """Harbour notice i in its given version: more sentences each time, so offsets shift."""
    intro = " ".join(
        f"Revision {version} paragraph {k} of notice {i} about the north quay." for k in range(version % 4)
    )
    facts = " ".join(
        f"Notice {i} version {version}: the storm damage on berth {k} will be repaired by crew {version + k}."
        for k in range(2 + version % 5)
    )
    return f"Title: Harbour notice {i}\nSource: Port Authority\n\n{intro}\n\n{facts}\n"


def test_searches_during_adds_changes_and_removes_see_one_version(tmp_path, shared_embedder):
    settings = Settings.load(index_dir=str(tmp_path / "index"), chunk_tokens=48)
    root = tmp_path / "docs"
    root.mkdir()
    texts: dict[str, set[str]] = defaultdict(set)  # source -> the text of every version it had
    lock = threading.Lock()

    def write(name: str, text: str) -> str:
        path = root / name
        path.write_text(text, encoding="utf-8")
        with lock:
            texts[str(path)].add(text_of(path))  # recorded before it is ingested
        return str(path)

    def versions() -> dict[str, set[str]]:
        with lock:
            return {k: set(v) for k, v in texts.items()}

    stable = [write(f"{t}.txt", _article(t, o, lede, 6)) for t, o, lede in TOPICS]
    store = Store(settings)
    ingest([str(root)], store, shared_embedder, settings, progress=False)
    retriever = Retriever(store, shared_embedder, settings)
    stop = threading.Event()
    failures: list[str] = []
    searches = [0]

    def check(query, passages, scope):
        known = versions()
        for p in passages:
            c = p.chunk
            if not any(t[c.start : c.end] == c.text for t in known.get(c.source, ())):
                failures.append(f"{query!r}: chunk {c.id} is no version's text[{c.start}:{c.end}]")
            if scope is not None and c.source not in scope:
                failures.append(f"{query!r}: {c.source} is outside the scope {sorted(scope)}")
        ids = [p.chunk.id for p in passages]
        if len(ids) != len(set(ids)):
            failures.append(f"{query!r}: a chunk twice in {ids}")

    def searcher(seed: int):
        rnd = random.Random(seed)
        while not stop.is_set():
            q = rnd.choice(QUESTIONS)
            scope = None
            if rnd.random() < 0.5:
                notices = sorted(s for s in versions() if "notice" in s)
                scope = set(rnd.sample(stable, 2) + rnd.sample(notices, min(2, len(notices))))
            try:
                check(q, retriever.search(q, 8, docs=scope), scope)
                retriever.unknown_names(q, docs=scope)
                retriever.sources_named(q, docs=scope)
            except Exception as e:  # noqa: BLE001 - any error here is a mixed view
                failures.append(f"{q!r}: {type(e).__name__}: {e}")
            searches[0] += 1

    threads = [threading.Thread(target=searcher, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    rnd = random.Random(7)
    live: dict[int, int] = {}  # notice number -> its current version
    try:
        for step in range(36):
            action = step % 3 if live else 0
            if action == 0 or len(live) < 2:  # add a notice
                i = len(versions())
                live[i] = 0
                write(f"notice{i}.txt", _notice(i, 0))
            elif action == 1:  # change one
                i = rnd.choice(sorted(live))
                live[i] += 1
                write(f"notice{i}.txt", _notice(i, live[i]))
            else:  # remove one
                i = rnd.choice(sorted(live))
                del live[i]
                (root / f"notice{i}.txt").unlink()
            ingest([str(root)], store, shared_embedder, settings, progress=False)
            time.sleep(0.05)
            if failures:
                break
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert not failures, f"{len(failures)} of {searches[0]} searches saw a mixed index, e.g.: " + "; ".join(
        failures[:3]
    )
    assert searches[0] >= 30  # the searches really ran alongside the changes
    # after the last change, the retriever sees exactly the files that are there
    assert set(retriever.snapshot().sources) == {str(p) for p in root.iterdir()}


def test_a_snapshot_is_never_changed_and_ids_it_lacks_are_ignored(settings, shared_embedder, corpus):
    (corpus / "zeppelin.txt").write_text(
        "Title: Airship news\nSource: Sky Gazette\n\nThe zeppelin hangar in Friedrichshafen reopened for visitors.\n",
        encoding="utf-8",
    )
    store = Store(settings)
    ingest([str(corpus)], store, shared_embedder, settings, progress=False)
    retriever = Retriever(store, shared_embedder, settings)
    before = retriever.snapshot()
    assert retriever.snapshot() is before  # unchanged store: the same snapshot
    assert before.outlets["Sky Gazette"] == {before.doc_num[str(corpus / "zeppelin.txt")]}
    # an id only the lexical index has (written behind the store's back) is never returned
    retriever.lexical_index().upsert([("ghost-00001", "zeppelin hangar zeppelin hangar", "/nowhere/ghost.txt")])
    got = retriever.search("zeppelin hangar", 5)
    assert got[0].chunk.source == str(corpus / "zeppelin.txt")
    assert all(p.chunk.id != "ghost-00001" for p in got)
    (corpus / "zeppelin.txt").unlink()
    ingest([str(corpus)], store, shared_embedder, settings, progress=False)
    after = retriever.snapshot()
    assert after is not before and str(corpus / "zeppelin.txt") not in after.doc_num
    assert str(corpus / "zeppelin.txt") in before.doc_num and len(before.chunks) > len(after.chunks)  # untouched
