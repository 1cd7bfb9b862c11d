"""Ingestion against the real embedder and a real embedded Chroma."""

import os
import time

import pytest
from conftest import SHARED

from assistant.documents import read_document, text_of
from assistant.embed import Embedder
from assistant.ingest import ingest
from assistant.store import Store


@pytest.fixture
def sync(settings, shared_embedder):
    store = Store(settings)

    def run(*paths):
        return ingest([str(p) for p in paths], store, shared_embedder, settings, progress=False)

    run.store = store
    return run


def consistent(store):
    """Every file present once: one version per source, complete, no duplicate spans."""
    states = store.doc_states()
    for source, versions in states.items():
        assert len(versions) == 1, f"{source} has {len(versions)} versions"
        ((present, expected),) = versions.values()
        assert present == expected, f"{source}: {present} of {expected} chunks"
    spans = [(c.source, c.start, c.end) for c in store.all_chunks()]
    assert len(spans) == len(set(spans))
    return states


def test_chunks_slice_the_document_text_exactly(sync, corpus):
    report = sync(corpus)
    assert len(report.added) == 1 and report.chunks > 0
    for c in sync.store.all_chunks():
        assert text_of(c.source)[c.start : c.end] == c.text
        assert os.path.isabs(c.source)


def test_unchanged_reingest_embeds_nothing(sync, corpus, monkeypatch):
    sync(corpus)
    monkeypatch.setattr(Embedder, "embed", lambda *a, **k: pytest.fail("re-embedded an unchanged file"))
    report = sync(corpus)
    assert report.chunks == 0 and len(report.unchanged) == 1 and not report.added + report.updated + report.removed


def test_changed_file_is_replaced_and_removed_file_deleted(sync, corpus):
    sync(corpus)
    extra = corpus / "notes.md"
    extra.write_text("# Harbour notes\n\nThe ferry to Texel leaves at 07:15 every morning.\n", encoding="utf-8")
    assert sync(corpus).added == [str(extra)]
    extra.write_text("# Harbour notes\n\nThe ferry to Texel now leaves at 08:40.\n", encoding="utf-8")
    report = sync(corpus)
    assert report.updated == [str(extra)]
    texts = " ".join(c.text for c in sync.store.chunks_of(str(extra)))
    assert "08:40" in texts and "07:15" not in texts
    consistent(sync.store)
    extra.unlink()
    report = sync(corpus)
    assert report.removed == [str(extra)]
    assert sync.store.chunks_of(str(extra)) == []
    assert set(consistent(sync.store)) == {str(p) for p in corpus.iterdir()}


def test_formats_titles_dates_and_unreadable_files(sync, tmp_path):
    import docx

    d = tmp_path / "mixed"
    (d / "sub" / "deeper").mkdir(parents=True)
    (d / "a.md").write_text("# Lighthouse log\n\nThe lamp at Cape Wrath was lit at dusk.\n", encoding="utf-8")
    (d / "sub" / "b.html").write_text(
        "<html><head><title>Bakery</title></head><body><p>The sourdough rises for 14 hours.</p></body></html>"
    )
    doc = docx.Document()
    doc.add_paragraph("The orchard holds 312 apple trees.")
    doc.save(d / "sub" / "deeper" / "c.docx")
    (d / "news.txt").write_text(
        "Title: Harbour reopens\nDate: 2023-11-27T10:00:00+00:00\n\nThe harbour reopened on Monday.\n", encoding="utf-8"
    )
    (d / "empty.txt").write_bytes(b"")
    (d / "blob.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    report = sync(d)
    assert len(report.added) == 4
    reasons = dict(report.skipped)
    assert reasons[str(d / "empty.txt")] == "empty file"
    assert "PDF" in reasons[str(d / "blob.pdf")]
    by_source = {r["source"]: r for r in sync.store.documents()}
    assert by_source[str(d / "news.txt")]["title"] == "Harbour reopens"
    assert by_source[str(d / "news.txt")]["date"] == "2023-11-27"
    assert by_source[str(d / "a.md")]["title"] == "Lighthouse log"
    for c in sync.store.all_chunks():
        assert text_of(c.source)[c.start : c.end] == c.text


def test_dev_corpus_first_and_second_ingest(sync):
    corpus = SHARED / "eval" / "dev" / "corpus"
    if not corpus.is_dir():
        pytest.skip("shared eval corpus not present")
    t0 = time.perf_counter()
    first = sync(corpus)
    t1 = time.perf_counter()
    second = sync(corpus)
    t2 = time.perf_counter()
    print(f"\ndev corpus: first ingest {t1 - t0:.1f}s ({first.chunks} chunks), unchanged re-ingest {t2 - t1:.2f}s")
    assert len(first.added) == 300 and second.chunks == 0 and len(second.unchanged) == 300
    assert (t2 - t1) < 0.2 * (t1 - t0)
    consistent(sync.store)


def test_chunks_know_their_page_and_section(shared_embedder, tmp_path):
    """Page and section are Chroma metadata of each chunk, and survive the round trip through the store."""
    from test_documents import make_pdf

    from assistant.settings import Settings

    settings = Settings.load(index_dir=str(tmp_path / "index"), chunk_tokens=64)
    store = Store(settings)
    d = tmp_path / "docs"
    d.mkdir()
    page = [
        "The pottery club fires its kiln every second Thursday of the month, and the",
        "members glaze their bowls the week before. Clay is bought in bulk from a",
        "quarry near the coast, which keeps the price low for beginners.",
    ]
    (d / "club.pdf").write_bytes(make_pdf([page, page[::-1], page]))
    (d / "kiln.md").write_text(
        "Kiln rules for everyone.\n\n# Loading\n\nStack the shelves from the bottom up and leave a "
        "finger's width between pots so the heat can flow.\n\n## Cooling\n\nNever open the lid "
        "above two hundred degrees, because the glaze may crack.\n",
        encoding="utf-8",
    )
    ingest([str(d)], store, shared_embedder, settings, progress=False)
    pdf = store.chunks_of(str(d / "club.pdf"))
    doc = read_document(d / "club.pdf")
    assert len(pdf) >= 3 and {c.page for c in pdf} == {1, 2, 3}
    assert any(c.page_starts for c in pdf)  # a chunk running over a page break knows where it is
    for c in pdf:
        assert c.page == doc.page_at(c.start) and c.section == ""
        assert c.page_starts == [p for p in doc.pages if c.start < p < c.end]
        assert c.page_at(c.end - 1) == doc.page_at(c.end - 1)
    md = sorted(store.chunks_of(str(d / "kiln.md")), key=lambda c: c.start)
    text = text_of(d / "kiln.md")
    assert md[0].section == "" and md[0].page is None
    for c in md:
        assert c.section == read_document(d / "kiln.md").section_at(c.start)
        for word, section in (("Stack", "Loading"), ("Never", "Cooling")):
            at = text.find(word, c.start, c.end)
            if at != -1:
                assert c.section_at(at) == section
    # what Chroma itself holds: page only where the format has pages, section always
    raw = store.collection.get(where={"source": str(d / "club.pdf")}, include=["metadatas"])["metadatas"]
    assert all(isinstance(m["page"], int) and m["section"] == "" for m in raw)
    raw = store.collection.get(where={"source": str(d / "kiln.md")}, include=["metadatas"])["metadatas"]
    assert all("page" not in m and isinstance(m["section"], str) for m in raw)


def test_on_progress_reports_reading_and_each_embedded_slice(settings, shared_embedder, tmp_path, monkeypatch):
    """What the web app's upload bar shows for one large file: reading, then chunks embedded so far
    (slices of 4 here, so that a small file has several)."""
    import numpy as np

    from assistant import ingest as ingest_module

    monkeypatch.setattr(ingest_module, "EMBED_SLICE", 4)
    docs = tmp_path / "long"
    docs.mkdir()
    sentences = [f"Ferry {i} leaves pier {i % 7} at {i % 24:02d}:15 for the island of Texel." for i in range(100)]
    (docs / "timetable.txt").write_text("\n".join(sentences) + "\n", encoding="utf-8")
    calls = []
    store = Store(settings)
    report = ingest(
        [str(docs)], store, shared_embedder, settings, progress=False, on_progress=lambda *a: calls.append(a)
    )
    n = report.chunks
    assert n > 8 and report.added == [str(docs / "timetable.txt")]
    assert calls[0] == ("reading", 0, 1)
    done = [d for stage, d, total in calls if stage == "embedding" and total == n]
    assert done == [0, *range(4, n, 4), n]
    # The vectors are those one call embeds without a callback (equal up to float rounding).
    got = store.collection.get(include=["embeddings", "metadatas"])
    chunks = sorted(store.chunks_of(str(docs / "timetable.txt")), key=lambda c: got["ids"].index(c.id))
    plain = shared_embedder.embed([c.context + "\n" + c.text for c in chunks])
    assert np.allclose(np.array(got["embeddings"]), plain, atol=1e-5)


NEWS = (
    "Title: Harbour reopens\nSource: Coast Times | Local News\nAuthor: unknown\nDate: 2023-11-27T10:00:00+00:00\n"
    "Category: travel\nURL: https://example.org/harbour\n\nThe harbour reopened on Monday after the storm.\n"
)


def test_the_prefix_is_every_front_matter_field_but_links_and_fields_are_chroma_metadata(sync, tmp_path):
    d = tmp_path / "fm"
    d.mkdir()
    (d / "news.txt").write_text(NEWS, encoding="utf-8")
    (d / "kiln.txt").write_text(
        "Title: Kiln log\nPublisher: Clay Monthly\nRegion: North Coast\nLink: www.example.org/kiln\n\n"
        "The kiln was fired on Thursday.\n",
        encoding="utf-8",
    )
    (d / "plain.txt").write_text("A line about sourdough bread and nothing else.\n", encoding="utf-8")
    sync(d)
    by = {os.path.basename(c.source): c for c in sync.store.all_chunks()}
    news, kiln, plain = by["news.txt"], by["kiln.txt"], by["plain.txt"]
    # what the fixed key list (Title, Source, Author, Date, Category) wrote, byte for byte
    assert news.context == (
        "Title: Harbour reopens | Source: Coast Times | Local News | Author: unknown"
        " | Date: 2023-11-27T10:00:00+00:00 | Category: travel"
    )
    assert news.text.startswith("The harbour") and (news.outlet, news.date, news.dated) == (
        "Coast Times | Local News",
        "2023-11-27",
        True,
    )
    assert kiln.context == "Title: Kiln log | Publisher: Clay Monthly | Region: North Coast"  # any keys
    assert kiln.text.startswith("The kiln") and kiln.outlet == "Clay Monthly" and not kiln.dated
    assert plain.context == f"A line about sourdough bread and nothing else. | {plain.date}" and not plain.outlet
    metas = sync.store.collection.get(include=["metadatas"])["metadatas"]
    assert {(m["source"].rsplit("/", 1)[1], m["outlet"], m["titled"], m["dated"]) for m in metas} == {
        ("news.txt", "Coast Times | Local News", True, True),
        ("kiln.txt", "Clay Monthly", True, False),
        ("plain.txt", "", True, False),  # its first line is its title
    }
