"""Whole-document requests: recognised, resolved to indexed documents, summarized by their own sentences."""

from __future__ import annotations

import pytest

from assistant.summarize import parse

DOCS = [
    {"source": "/data/notes/harbour-report.md", "title": "Harbour Authority annual report 2024"},
    {"source": "/data/notes/bakery.txt", "title": "Linden Street bakery"},
]

REPORT = """Title: Harbour Authority annual report 2024

The harbour handled ships from twelve countries during the year, a record for the port.
The new breakwater on the north side was finished in March after two years of construction work.
Cargo volumes grew by eight percent, led by timber and grain shipments to the Baltic states.
The board met four times and approved a new fee schedule for small fishing boats.
A storm in November damaged the old ferry pier, which will be rebuilt next spring.
The authority hired six new pilots to guide large vessels through the narrow channel.
Passenger numbers on the island ferries fell slightly because of the pier closure.
"""
BAKERY = """Title: Linden Street bakery

The bakery on Linden Street bakes rye bread on Tuesdays and Fridays for the market.
Its sourdough starter has been kept alive by the same family for over forty years now.
On Sundays the shop stays closed so the bakers can rest and clean the big stone oven.
"""


@pytest.mark.parametrize(
    "question,kind,sources",
    [
        ("Summarize /data/notes/harbour-report.md", "summary", ["/data/notes/harbour-report.md"]),
        ("summarise harbour-report.md", "summary", ["/data/notes/harbour-report.md"]),
        ('What are the main points of the document "Linden Street bakery"?', "summary", ["/data/notes/bakery.txt"]),
        ("Give me a summary of Harbour Authority annual report", "summary", ["/data/notes/harbour-report.md"]),
        (
            "Compare bakery.txt and harbour-report.md",
            "compare",
            ["/data/notes/bakery.txt", "/data/notes/harbour-report.md"],
        ),
    ],
)
def test_requests_naming_indexed_documents(question, kind, sources):
    request = parse(question, DOCS)
    assert request is not None and request.kind == kind and request.sources == sources


@pytest.mark.parametrize(
    "question",
    [
        "Summarize the debate about fishing fees",  # names no document: a normal question
        "Summarize nothing.md",
        "How long is the breakwater?",
        "Compare the bakery and the bakery",
    ],
)
def test_other_questions_are_not_whole_document_requests(question):
    assert parse(question, DOCS) is None


@pytest.fixture
def two_docs(tmp_path, shared_embedder):
    from assistant import Assistant
    from assistant.settings import Settings

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "harbour-report.md").write_text(REPORT, encoding="utf-8")
    (docs / "bakery.txt").write_text(BAKERY, encoding="utf-8")
    a = Assistant(Settings.load(index_dir=str(tmp_path / "index")))
    a.embedder = shared_embedder
    a.ingest(str(docs))
    return a, docs


def test_summary_is_the_documents_own_sentences_cited_in_order(two_docs):
    a, docs = two_docs
    answer = a.ask(f"Summarize {docs / 'harbour-report.md'}")
    assert not answer.refused and len(answer.citations) == 5
    text = a.text_of(str(docs / "harbour-report.md"))
    starts = [c.start for c in answer.citations]
    assert starts == sorted(starts) and len(set(starts)) == 5  # reading order, five different points
    for c in answer.citations:
        assert text[c.start : c.end] == c.quote and f"[{c.n}]" in answer.answer
        assert c.source == str(docs / "harbour-report.md")
    assert "Title:" not in " ".join(c.quote for c in answer.citations)  # the header is not a point


def test_compare_shows_both_documents(two_docs):
    a, _ = two_docs
    answer = a.ask("Compare bakery.txt with harbour-report.md")
    sources = {c.source.rsplit("/", 1)[-1] for c in answer.citations}
    assert sources == {"bakery.txt", "harbour-report.md"}
    assert answer.answer.index("Linden Street bakery") < answer.answer.index("Harbour Authority")
