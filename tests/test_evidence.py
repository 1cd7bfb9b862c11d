"""evidence.render_sources: what the model reads (one heading per document, numbered lines)."""

from assistant.evidence import Source, render_sources
from assistant.schema import Chunk, Passage


def _source(n, path, text, context="", title="", date="2023-10-02"):
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
    ctx = "Title: SBF offered $5B to Trump | Source: TechCrunch | Author: A | Date: 2023-10-02T10:00:00+00:00"
    shown = render_sources(
        [
            _source(1, "/c/a.txt", "First  fact.", ctx, "SBF offered $5B to Trump"),
            _source(2, "/c/a.txt", "Second fact.", ctx, "SBF offered $5B to Trump"),
            _source(3, "/c/b.txt", "Other fact.", "", "b"),  # no header; title is the file name
        ]
    )
    assert shown.splitlines() == [
        'From "SBF offered $5B to Trump" (TechCrunch, 2023-10-02):',
        "[1] First fact.",
        "[2] Second fact.",
        "From 2023-10-02:",
        "[3] Other fact.",
    ]


def test_untitled_snippets_and_unknown_dates_are_not_shown_as_metadata():
    ctx = (
        "Title: (untitled web search result snippet) | Source: RGB benchmark (Chen et al. 2023), data/en_fact.json"
        " | Date: unknown"
    )
    shown = render_sources([_source(1, "/c/r.txt", "Spain won.", ctx, "(untitled web search result snippet)")])
    assert shown.splitlines() == ["From an untitled document:", "[1] Spain won."]
