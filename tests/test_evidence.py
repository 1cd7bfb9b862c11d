"""evidence.render_sources and label: what the model reads (one heading per document, numbered lines)
and how a quote names its document, from the chunk's structured fields (title, outlet, date)."""

from assistant.evidence import Source, label, render_sources
from assistant.schema import Chunk, Passage


def _chunk(path, text, title="", outlet="", date="2026-04-02", dated=False, titled=True):
    return Chunk(
        id=f"{path}:{len(text)}",
        source=path,
        title=title,
        date=date,
        doc_hash="h",
        start=0,
        end=len(text),
        text=text,
        context="Title: not read | Source: not read either",  # the index prefix is never parsed back
        outlet=outlet,
        titled=titled,
        dated=dated,
    )


def _source(n, chunk):
    return Source(
        n=n, passage=Passage(chunk=chunk, score=1.0), start=0, end=len(chunk.text), text=chunk.text, score=1.0
    )


def test_each_document_heading_is_written_once_with_outlet_and_day():
    a = dict(title="Harbour fees rise in May", outlet="Coast Times", dated=True)
    shown = render_sources(
        [
            _source(1, _chunk("/c/a.txt", "First  fact.", **a)),
            _source(2, _chunk("/c/a.txt", "Second fact.", **a)),
            _source(3, _chunk("/c/b.txt", "Other fact.", title="b", dated=True, titled=False)),  # the file name
            _source(4, _chunk("/c/d.txt", "Last fact.", title="Dock log")),  # a modification date is not shown
        ]
    )
    assert shown.splitlines() == [
        'From "Harbour fees rise in May" (Coast Times, 2026-04-02):',
        "[1] First fact.",
        "[2] Second fact.",
        "From 2026-04-02:",
        "[3] Other fact.",
        'From "Dock log":',
        "[4] Last fact.",
    ]


def test_untitled_snippets_and_provenance_notes_are_not_shown_as_metadata():
    note = "export of the city records office archive, box 12, folder 3"
    shown = render_sources([_source(1, _chunk("/c/r.txt", "The ferry left at noon.", "(no title recorded)", note))])
    assert shown.splitlines() == ["From an untitled document:", "[1] The ferry left at noon."]


def test_a_tagline_or_byline_after_a_bar_is_not_part_of_the_name():
    c = _chunk("/c/p.txt", "Fact.", "Pier closes early | Ann Rook", "Harbour Daily | News Since 1901", dated=True)
    assert render_sources([_source(1, c)]).splitlines()[0] == 'From "Pier closes early" (Harbour Daily, 2026-04-02):'
    assert label(c) == "Harbour Daily (2026-04-02)"
    assert label(_chunk("/c/p.txt", "Fact.", "Pier closes early | Ann Rook")) == '"Pier closes early"'
    assert label(_chunk("/c/pier-notes.txt", "Fact.", "pier-notes", titled=False)) == '"pier-notes"'  # the file name
