"""evidence.render_sources: what the model reads (one heading per document, numbered lines)."""

from assistant.evidence import Source, render_sources
from assistant.schema import Chunk, Passage


def _source(n, path, text, context="", title="", date="2026-04-02"):
    c = Chunk(
        id=f"{path}:{n}",
        source=path,
        title=title,
        date=date,
        doc_hash="h",
        start=0,
        end=len(text),
        text=text,
        context=context,
    )
    return Source(n=n, passage=Passage(chunk=c, score=1.0), start=0, end=len(text), text=text, score=1.0)


def test_each_document_heading_is_written_once_with_outlet_and_day():
    ctx = "Title: Harbour fees rise in May | Source: Coast Times | Author: A | Date: 2026-04-02T10:00:00+00:00"
    shown = render_sources(
        [
            _source(1, "/c/a.txt", "First  fact.", ctx, "Harbour fees rise in May"),
            _source(2, "/c/a.txt", "Second fact.", ctx, "Harbour fees rise in May"),
            _source(3, "/c/b.txt", "Other fact.", "", "b"),  # no header; title is the file name
        ]
    )
    assert shown.splitlines() == [
        'From "Harbour fees rise in May" (Coast Times, 2026-04-02):',
        "[1] First fact.",
        "[2] Second fact.",
        "From 2026-04-02:",
        "[3] Other fact.",
    ]


def test_untitled_snippets_and_unknown_dates_are_not_shown_as_metadata():
    ctx = (
        "Title: (no title recorded) | Source: export of the city records office archive, box 12, folder 3"
        " | Date: unknown"
    )
    shown = render_sources([_source(1, "/c/r.txt", "The ferry left at noon.", ctx, "(no title recorded)")])
    assert shown.splitlines() == ["From an untitled document:", "[1] The ferry left at noon."]
