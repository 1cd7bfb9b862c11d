"""Incremental, crash-safe sync of files into the chunk store.

The unit of change is a file, identified by its absolute path and the sha256 of its bytes.
Each chunk records which version of its file it belongs to (``doc_hash``) and how many
chunks that version has (``n_chunks``), so the store alone says whether a version is
complete. A sync therefore:

1. skips a file whose current hash is already complete in the store (no read, no embedding);
2. otherwise writes the new version's chunks (deterministic ids, so a retry overwrites),
   and only then deletes the file's other versions;
3. deletes the chunks of files that vanished from a folder being synced.

A crash (even kill -9) between steps leaves at worst an extra or partial version of one
file, which the next sync completes or removes: nothing is lost, nothing stays duplicated.
The lexical index (``assistant/lexical.py``) is written in the same order, each step right
after Chroma's (new chunks, then the other versions' deletion); a crash between the two writes
leaves it short or long by one step, which the next reader's reconcile fixes (the store's
version stamp includes its chunk count, so such a store never looks unchanged).
Documents are embedded in groups so the encoder sees full batches across small files.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import identity, lexical
from .documents import UnreadableFile, iter_files, read_document
from .embed import Embedder
from .schema import Chunk, Document
from .settings import Settings
from .store import Store
from .text import chunk_spans, shown_path

_LINK = re.compile(r"[a-z][a-z0-9+.-]*://|www\.", re.IGNORECASE)
GROUP_CHUNKS = 128  # chunks embedded together; also the most work a crash can throw away
EMBED_SLICE = 32  # with ``on_progress``: chunks per embedding call, one report after each


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    chunks: int = 0  # chunks embedded in this run
    seconds: float = 0.0

    def summary(self) -> str:
        s = (
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.unchanged)} unchanged, "
            f"{len(self.removed)} removed, {len(self.skipped)} skipped; "
            f"{self.chunks} chunks embedded in {self.seconds:.1f}s"
        )
        return s


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def index_prefix(doc: Document) -> str:
    """What every chunk of a document is embedded and matched with besides its own text.

    A chunk deep in an article rarely names the article's subject, outlet or date; news
    questions do ("reported by TechCrunch in November"). Prefixing the front matter fixes that
    for dense and lexical retrieval alike, without touching the text citations slice. Every
    field is written, in the file's order, as ``Key: value`` joined by `` | ``, except empty
    ones and links (a URL holds no word a question asks with); without front matter, the title
    (when it is not just the file name) and the date. For the shared news corpora (``Title,
    Source, Author, Date, Category, URL``) this is byte for byte the prefix of the fixed key list
    it replaced, so their stored vectors stay valid (see ``store._chunk_from`` for old chunks).
    """
    parts = [
        f"{key.replace('_', ' ').title()}: {value}"
        for key, value in doc.front_matter.items()
        if value and not _LINK.match(value)
    ]
    if not parts:
        stem = Path(doc.source).stem
        parts = [p for p in (doc.title if doc.title != stem else "", doc.date) if p]
    return " | ".join(parts)


def chunk_document(doc: Document, settings: Settings) -> list[Chunk]:
    key = hashlib.sha1(doc.source.encode()).hexdigest()[:16]
    version = identity.version_key(doc.hash, settings)
    context = index_prefix(doc)
    spans = chunk_spans(doc.text, settings.chunk_tokens, body_start=doc.body_start) or chunk_spans(
        doc.text, settings.chunk_tokens
    )
    return [
        Chunk(
            id=f"{key}-{version[:16]}-{i:05d}",
            source=doc.source,
            title=doc.title,
            date=doc.date,
            doc_hash=version,
            start=s.start,
            end=s.end,
            text=doc.text[s.start : s.end],
            context=context,
            outlet=doc.outlet,
            titled=doc.titled,
            dated=doc.dated,
            page=doc.page_at(s.start),
            section=doc.section_at(s.start),
            page_starts=[p for p in doc.pages if s.start < p < s.end],
            section_starts=[h for h in doc.headings if s.start < h[0] < s.end],
        )
        for i, s in enumerate(spans)
    ]


def _under(source: str, root: str) -> bool:
    return source == root or source.startswith(root.rstrip(os.sep) + os.sep)


def ingest(
    paths,
    store: Store,
    embedder: Embedder,
    settings: Settings,
    progress: bool | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> IngestReport:
    """Bring the store in line with the given files and folders.

    ``progress``: the terminal bar (None: when stderr is a terminal). ``on_progress(stage, done,
    total)``, when given, is called as the work goes (the web app's upload shows it): ``("reading",
    i, n)`` before file i of n is read (only files that changed are), and ``("embedding", done,
    total)`` before and after each ``EMBED_SLICE`` chunks of a group are embedded (done of the group's total),
    so that one large file shows movement. Only then is a group embedded in slices (the same
    vectors up to float rounding); without it nothing differs.
    """
    t0 = time.perf_counter()
    report = IngestReport()
    roots = [os.path.abspath(p) for p in paths]
    states = store.doc_states()
    files = list(iter_files(roots))
    seen: set[str] = set()
    group: list[tuple[Document, list[Chunk], bool]] = []
    checked = False
    if states:  # even when nothing is to be embedded, another model's name must not pass as "unchanged"
        identity.check_name(store, embedder, settings)
    # An internal side collection (NAME--rebuild) gets none: NAME's index reconciles once it is swapped in.
    lex = lexical.for_store(store) if "--" not in store.name else None

    def flush():
        nonlocal checked
        chunks = [c for _, cs, _ in group for c in cs]
        if chunks:
            if not checked:  # before the first write: never mix two embedders' vectors in one index
                identity.check(store, embedder, settings)
                checked = True
            texts = [c.context + "\n" + c.text for c in chunks]
            if on_progress is None:
                vectors = embedder.embed(texts)
            else:
                parts = []
                on_progress("embedding", 0, len(texts))
                for i in range(0, len(texts), EMBED_SLICE):
                    parts.extend(embedder.embed(texts[i : i + EMBED_SLICE]))
                    on_progress("embedding", min(i + EMBED_SLICE, len(texts)), len(texts))
                vectors = parts
            store.upsert(chunks, vectors, {(d.source, cs[0].doc_hash): len(cs) for d, cs, _ in group if cs})
            if lex is not None:
                lex.upsert([(c.id, text, c.source) for c, text in zip(chunks, texts)])
            report.chunks += len(chunks)
        for doc, cs, existed in group:
            store.delete_source(doc.source, keep_hash=identity.version_key(doc.hash, settings))
            if lex is not None:
                lex.delete_source(doc.source, keep=[c.id for c in cs])
            (report.updated if existed else report.added).append(doc.source)
        group.clear()

    from tqdm import tqdm

    bar = tqdm(
        files,
        unit="file",
        desc="ingest",
        file=sys.stderr,
        disable=(not sys.stderr.isatty()) if progress is None else not progress,
    )
    for n, path in enumerate(bar):
        source = str(path)
        seen.add(source)
        try:
            source.encode("utf-8")
        except UnicodeEncodeError:  # the index stores names as UTF-8 text; such a file cannot be addressed
            report.skipped.append((shown_path(source), "the file name is not valid UTF-8: rename the file"))
            continue
        versions = states.get(source, {})
        try:
            digest = file_hash(path)
        except OSError as e:
            report.skipped.append((source, e.strerror or str(e)))
            continue
        present, expected = versions.get(identity.version_key(digest, settings), (0, -1))
        if present == expected and len(versions) == 1:
            report.unchanged.append(source)
            continue
        if on_progress is not None:
            on_progress("reading", n, len(files))
        try:
            doc = read_document(path)
        except UnreadableFile as e:
            report.skipped.append((source, str(e)))
            if versions:  # the old version is stale now; keep no chunks of a file we can't read
                store.delete_source(source)
                if lex is not None:
                    lex.delete_source(source)
                report.removed.append(source)
            continue
        chunks = chunk_document(doc, settings)
        group.append((doc, chunks, bool(versions)))
        if sum(len(cs) for _, cs, _ in group) >= GROUP_CHUNKS:
            flush()
    flush()
    bar.close()

    for source in states:  # files gone from a folder being synced
        if source not in seen and any(_under(source, r) for r in roots):
            store.delete_source(source)
            if lex is not None:
                lex.delete_source(source)
            report.removed.append(source)
    if report.added or report.updated or report.removed:
        store.touch()
    report.seconds = time.perf_counter() - t0
    return report
