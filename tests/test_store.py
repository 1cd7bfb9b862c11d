"""Collections: named sets of documents in one index, isolated from each other (real embedder, real Chroma)."""

from __future__ import annotations

import pytest

from assistant import Assistant, Settings
from assistant.errors import IndexNotReady, InputError
from assistant.store import Store, collection_names

ORCHARD = "Title: Orchard notes\n\nThe Lindenhof orchard grows fourteen kinds of pear on the south slope.\n"
FERRY = "Title: Ferry timetable\n\nThe Vellmar ferry crosses the lake every forty minutes in summer.\n"


@pytest.fixture
def two_collections(tmp_path, shared_embedder):
    """The default collection holds an orchard note, 'reports' a ferry timetable."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "orchard.txt").write_text(ORCHARD, encoding="utf-8")
    (tmp_path / "b" / "ferry.txt").write_text(FERRY, encoding="utf-8")
    a = Assistant(Settings.load(index_dir=str(tmp_path / "index")))
    a.embedder = shared_embedder
    reports = a.using("reports")
    a.ingest(str(tmp_path / "a"), progress=False)
    reports.ingest(str(tmp_path / "b"), progress=False)
    return a, reports, tmp_path


def test_a_search_in_one_collection_never_returns_the_others_chunks(two_collections):
    a, reports, tmp = two_collections
    assert {p.chunk.source for p in a.search("How often does the ferry cross the lake?", 5)} == {
        str(tmp / "a" / "orchard.txt")
    }
    assert {p.chunk.source for p in reports.search("pear orchard south slope", 5)} == {str(tmp / "b" / "ferry.txt")}
    assert [d["title"] for d in a.documents()] == ["Orchard notes"]
    assert [d["title"] for d in reports.documents()] == ["Ferry timetable"]
    # Removing from one collection leaves the other alone; a path of the other collection is not in this one.
    with pytest.raises(InputError, match="not in the index"):
        a.remove(str(tmp / "b" / "ferry.txt"))
    assert reports.documents()


def test_using_shares_the_embedder_and_llm_and_a_setting_override_is_the_same_collection(two_collections, tmp_path):
    a, reports, tmp = two_collections
    assert reports.embedder is a.embedder and a.using("reports") is reports and reports.using(None) is a
    assert reports.using("documents") is a and reports.collection == "reports"
    a._llm = sentinel = object()  # loaded once, by whichever collection asks first
    assert reports.llm is sentinel
    same = Assistant(index_dir=str(tmp / "index"), collection="reports")
    same.embedder = a.embedder
    assert [d["title"] for d in same.documents()] == ["Ferry timetable"]


def test_collections_are_listed_with_counts_and_internal_ones_hidden(two_collections):
    a, reports, tmp = two_collections
    Store(a.settings, collection="reports--rebuild")  # what an interrupted rebuild leaves behind
    assert collection_names(a.settings) == ["documents", "reports"]
    rows = a.collections()
    assert (
        rows
        == reports.collections()
        == [
            {"name": "documents", "documents": 1, "chunks": a.store.count()},
            {"name": "reports", "documents": 1, "chunks": reports.store.count()},
        ]
    )
    assert all(r["chunks"] >= 1 for r in rows)


@pytest.mark.parametrize("name", ["ab", "my reports", "-reports", "reports.", "über", "x" * 513, "old--rebuild", ""])
def test_an_invalid_collection_name_is_a_one_line_input_error(tmp_path, name):
    for make in (
        lambda: Assistant(index_dir=str(tmp_path / "index"), collection=name),
        lambda: Assistant(Settings.load(index_dir=str(tmp_path / "index"))).using(name or " "),
    ):
        with pytest.raises(InputError) as err:
            make()
        assert "collection name" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "index").exists()  # nothing was created


def test_a_collection_that_does_not_exist_is_index_not_ready_and_is_not_created(two_collections):
    a, _, _ = two_collections
    missing = a.using("minutes")
    for call in (lambda: missing.search("ferry"), lambda: missing.ask("When does the ferry leave?"), missing.documents):
        with pytest.raises(IndexNotReady) as err:
            call()
        assert "assistant ingest DIR --collection minutes" in str(err.value) and "\n" not in str(err.value)
    assert "minutes" not in collection_names(a.settings)


def test_all_chunks_reads_only_what_changed_and_matches_a_full_read(tmp_path, shared_embedder):
    """A long-lived Store (a replica's) re-reads only new chunks; the result equals a fresh Store's full read."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "orchard.txt").write_text(ORCHARD, encoding="utf-8")
    a = Assistant(Settings.load(index_dir=str(tmp_path / "index")))
    a.embedder = shared_embedder
    a.ingest(str(docs), progress=False)
    store = a.store

    def full():
        return [(c.id, c.source, c.text, c.context, c.start, c.end) for c in Store(a.settings).all_chunks()]

    first = store.all_chunks()
    assert store.fetched == len(first) == store.count() > 0  # nothing cached yet: everything read
    store.all_chunks()
    assert store.fetched == 0  # nothing changed: nothing read but the ids

    (docs / "ferry.txt").write_text(FERRY, encoding="utf-8")
    a.ingest(str(docs), progress=False)
    got = store.all_chunks()
    assert store.fetched == len(store.chunks_of(str(docs / "ferry.txt"))) >= 1  # only the new file's chunks
    assert [(c.id, c.source, c.text, c.context, c.start, c.end) for c in got] == full()

    (docs / "orchard.txt").unlink()
    a.ingest(str(docs), progress=False)
    got = store.all_chunks()
    assert store.fetched == 0 and {c.source for c in got} == {str(docs / "ferry.txt")}
    assert [(c.id, c.source, c.text, c.context, c.start, c.end) for c in got] == full()


def test_chunks_written_before_outlets_were_fields_are_read_from_their_old_prefix(tmp_path, shared_embedder):
    """An index written by the previous ingest (no outlet/dated metadata) keeps working unchanged."""
    from assistant.evidence import label

    (tmp_path / "docs").mkdir()
    path = tmp_path / "docs" / "pier.txt"
    path.write_text(
        "Title: Pier closes early\nSource: Harbour Daily | News Since 1901\nAuthor: Ann Rook\nDate: 2024-03-04\n\n"
        "The pier at Gannet Point closed early for repairs.\n",
        encoding="utf-8",
    )
    a = Assistant(Settings.load(index_dir=str(tmp_path / "index")))
    a.embedder = shared_embedder
    a.ingest(str(tmp_path / "docs"), progress=False)
    col = a.store.collection
    got = col.get(include=["documents", "metadatas", "embeddings"])
    old = [{k: v for k, v in m.items() if k not in ("outlet", "titled", "dated")} for m in got["metadatas"]]
    col.delete(ids=got["ids"])
    col.add(ids=got["ids"], documents=got["documents"], metadatas=old, embeddings=got["embeddings"])
    assert all("outlet" not in m for m in col.get(include=["metadatas"])["metadatas"])
    (chunk,) = a.store.all_chunks()
    assert (chunk.outlet, chunk.titled, chunk.dated) == ("Harbour Daily | News Since 1901", True, True)
    assert label(chunk) == "Harbour Daily (2024-03-04)"
    a.store.touch()
    assert a.retriever.sources_named("What did Harbour Daily report about the pier?") == {str(path)}
