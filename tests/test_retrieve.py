"""Hybrid retrieval over the real embedder and Chroma."""
import pytest

from assistant.ingest import ingest
from assistant.retrieve import Retriever, capitalized_names
from assistant.store import Store


@pytest.fixture
def retriever(settings, shared_embedder, corpus):
    (corpus / "bakery.md").write_text(
        "# Bakery news\n\nThe Van Aken bakery sells 4,180 loaves a week.\n\n"
        "Its owner says slow fermentation gives the bread a deeper flavour.\n", encoding="utf-8")
    store = Store(settings)
    ingest([str(corpus)], store, shared_embedder, settings, progress=False)
    return Retriever(store, shared_embedder, settings)


def test_a_name_finds_its_paragraph(retriever):
    top = retriever.search("What did Sanchez Ismayel say?", 3)
    assert "Sanchez Ismayel" in top[0].chunk.text
    assert top[0].lexical > 0 and top[0].dense is not None


def test_a_number_is_found_lexically(retriever):
    top = retriever.search("4,180", 2)
    assert "4,180" in top[0].chunk.text


def test_a_paraphrase_is_found_densely(retriever):
    top = retriever.search("why does long proofing make bread tastier", 2)
    assert "fermentation" in top[0].chunk.text


def test_scores_are_ranked_and_k_is_respected(retriever):
    got = retriever.search("strikes on Venezuela", 3)
    assert len(got) == 3
    assert [p.score for p in got] == sorted((p.score for p in got), reverse=True)


def test_another_writer_is_seen_without_restart(retriever, settings, shared_embedder, tmp_path):
    assert "zeppelin" not in " ".join(p.chunk.text for p in retriever.search("zeppelin hangar", 5))
    d = tmp_path / "late"
    d.mkdir()
    (d / "z.txt").write_text("The zeppelin hangar in Friedrichshafen reopened for visitors.", encoding="utf-8")
    ingest([str(d)], Store(settings), shared_embedder, settings, progress=False)  # a second client
    assert "zeppelin" in retriever.search("zeppelin hangar", 1)[0].chunk.text


def test_capitalized_names_are_read_as_whole_names():
    q = "Did the Wall Street Journal and Fortune, Globes English report that OpenAI's GPT-3.5 beat the Times of India?"
    assert capitalized_names(q) == ["Wall Street Journal", "Fortune", "Globes English", "OpenAI", "GPT-3.5", "Times of India"]
    assert capitalized_names("Considering the report, who won?") == []  # a capitalized first word alone is no name
    assert capitalized_names("has trump authorized the strikes?") == []


def test_names_no_document_mentions_are_reported(retriever):
    assert retriever.unknown_names("Has Trump authorized the strikes?") == []
    assert retriever.unknown_names("What does NBC News report about Venezuela?") == []
    assert retriever.unknown_names("Has the U. S. military approved strikes in Venezuela?") == []
    assert retriever.unknown_names("What did Angela Merkel say about the strikes?") == ["Angela Merkel"]
    assert retriever.unknown_names("Does the Van Aken bakery sell bread?") == []
    # each word is in some document, but no chunk has both: nobody is called "Aken Trump"
    assert retriever.unknown_names("What did Aken Trump say?") == ["Aken Trump"]
