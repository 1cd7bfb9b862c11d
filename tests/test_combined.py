"""Questions over several collections at once (assistant/combined.py).

The merge is checked on passages written here (a unit test of one function); everything else runs
over two real collections of one embedded Chroma index with the real embedder and the real
Retrievers: a private one with a note of its own and a shared one with two notes. The LLM is a
stand-in that repeats the first source sentence it is given, cited, so what an answer can cite is
exactly what retrieval let through.
"""

from __future__ import annotations

import pytest
from conftest import EchoLLM

from assistant import Assistant, Settings, combined
from assistant.combined import CombinedAssistant, merge
from assistant.errors import InputError
from assistant.queueing import gate
from assistant.schema import Chunk, Passage

ORCHARD = "Title: Orchard ledger\n\nThe walnut orchard behind the mill yielded 212 crates this autumn.\n"
FERRY = "Title: Ferry timetable\n\nThe island ferry leaves the harbour at twenty past nine every morning.\n"
BAKERY = "Title: Bakery rota\n\nThe bakery bakes rye loaves on Tuesdays and Fridays only.\n"


def _p(cid: str, lexical: float, dense: float, score: float = 1.0) -> Passage:
    chunk = Chunk(id=cid, source=f"/{cid}.txt", title=cid, date="", doc_hash="h", start=0, end=1, text="x")
    return Passage(chunk=chunk, score=score, dense=dense, lexical=lexical)


def test_merge_takes_the_best_head_on_one_scale_and_keeps_each_lists_order():
    # A's list matches the words strongly; B's barely. B's second passage scores higher than its first
    # on the whole-question scale, but B's own order (its coverage choice) is kept.
    a = [_p("a1", 9.0, 0.7), _p("a2", 6.0, 0.6), _p("a3", 0.5, 0.2)]
    b = [_p("b1", 1.0, 0.3), _p("b2", 2.0, 0.4)]
    got = [p.chunk.id for p in merge([a, b], 4)]
    assert got == ["a1", "a2", "b1", "b2"], got
    assert [p.chunk.id for p in merge([a, b], 10)] == ["a1", "a2", "b1", "b2", "a3"]
    # A passage the two lists share (the same file in both collections) is shown once.
    assert [p.chunk.id for p in merge([[_p("s", 3, 0.5)], [_p("s", 3, 0.5), _p("t", 1, 0.1)]], 5)] == ["s", "t"]
    assert merge([[], []], 3) == [] and merge([a], 2) == a[:2]


def test_the_notation_and_its_errors():
    assert combined.parts("user-alice+documents") == ("user-alice", "documents")
    assert combined.check(" user-alice + documents ") == "user-alice+documents"
    assert combined.check("documents+documents") == "documents" and not combined.is_combined("documents")
    with pytest.raises(InputError, match="invalid collection name 'x'"):
        combined.check("documents+x")


@pytest.fixture(scope="module")
def two_collections(tmp_path_factory, shared_embedder):
    root = tmp_path_factory.mktemp("combined")
    for name, text in (("orchard.txt", ORCHARD), ("ferry.txt", FERRY), ("bakery.txt", BAKERY)):
        (root / name).write_text(text, encoding="utf-8")
    a = Assistant(Settings.load(index_dir=str(root / "index")))
    a.embedder = shared_embedder
    a._llm = EchoLLM()
    a.ingest(str(root / "ferry.txt"), str(root / "bakery.txt"))  # the shared collection, "documents"
    a.using("user-alice").ingest(str(root / "orchard.txt"))  # the private one
    return root, a


def test_one_question_reaches_both_collections_and_cites_either(two_collections):
    root, a = two_collections
    both = a.using("user-alice+documents")
    assert isinstance(both, CombinedAssistant) and a.using("user-alice+documents") is both  # cached per name
    assert both.collection == "user-alice+documents"
    assert sorted(d["title"] for d in both.documents()) == ["Bakery rota", "Ferry timetable", "Orchard ledger"]

    private = both.search("How many crates did the walnut orchard yield?", 3)
    shared = both.search("When does the island ferry leave the harbour?", 3)
    assert private[0].chunk.source == str(root / "orchard.txt")
    assert shared[0].chunk.source == str(root / "ferry.txt")
    assert {p.chunk.source for p in private} == {str(root / n) for n in ("orchard.txt", "ferry.txt", "bakery.txt")}

    mine = both.ask("How many crates did the walnut orchard yield?")
    theirs = both.ask("When does the island ferry leave the harbour?")
    assert "212 crates" in mine.answer and [c.source for c in mine.citations] == [str(root / "orchard.txt")]
    assert "twenty past nine" in theirs.answer and [c.source for c in theirs.citations] == [str(root / "ferry.txt")]


def test_names_scope_and_writes_over_the_combination(two_collections):
    root, a = two_collections
    both = a.using("user-alice+documents")
    # A name only one member knows is not unknown; one nobody knows is.
    assert both.retriever.unknown_names("Did Walnut Orchard and Quuxley Farm trade?") == ["Quuxley Farm"]
    assert a.using("user-alice").retriever.unknown_names("What about the Bakery?") == ["Bakery"]
    assert both.retriever.unknown_names("What about the Bakery?") == []
    a.using("user-carol")._writable_store()  # an empty private collection knows no names: it is left out
    assert a.using("user-carol+documents").retriever.unknown_names("Did Quuxley Farm bake?") == ["Quuxley Farm"]

    # "Ask within": paths in either member; one in neither is the usual one-line error.
    assert both.scope([str(root / "orchard.txt"), str(root / "bakery.txt")]) == sorted(
        [str(root / "bakery.txt"), str(root / "orchard.txt")]
    )
    within = both.search("When does the island ferry leave?", 5, docs=[str(root / "orchard.txt")])
    assert {p.chunk.source for p in within} == {str(root / "orchard.txt")}
    with pytest.raises(InputError, match="no indexed document at .*nowhere.txt"):
        both.search("ferry", 3, docs=[str(root / "nowhere.txt")])

    for write in (
        lambda: both.ingest(str(root / "orchard.txt")),
        lambda: both.remove(str(root / "ferry.txt")),
    ):
        with pytest.raises(InputError, match="combines collections"):
            write()
    assert [d["title"] for d in a.using("user-alice").documents()] == ["Orchard ledger"]


def test_the_answer_cache_key_changes_when_either_member_changes(two_collections, tmp_path):
    root, a = two_collections
    g = gate(a)
    question = "How many crates did the walnut orchard yield?"
    before = g.key(question, None, None, "user-alice+documents")
    assert before is not None and "user-alice+documents" in before
    assert g.key(question, None, None, "user-alice") != before  # not the same answer as one member's
    extra = tmp_path / "extra.txt"
    extra.write_text("Title: Extra\n\nThe mill pond froze in January.\n", encoding="utf-8")
    a.using("user-alice").ingest(str(extra))
    try:
        assert g.key(question, None, None, "user-alice+documents") != before
    finally:
        a.using("user-alice").remove(str(extra))
