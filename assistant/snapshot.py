"""One immutable view of the index's chunks, for one search from start to end.

A search looks a chunk up by id (lexical and dense hits), by position (scores, candidates),
by document (the per-document cap, outlet and date filters, a scope): all of these must come
from the same list of chunks. The retriever used to rebuild them field by field under a lock
but read them without it, so an upload during a search could pair the old chunk list with the
new document map (a position of one list read in the other: a wrong chunk, a chunk outside the
scope, or an IndexError). Now a ``Snapshot`` is built whole from one read of the store, never
changed, and the retriever swaps its reference to the newest one under its lock; a search takes
the reference once and uses nothing else, so it sees one version throughout, however many
ingests happen meanwhile. Hits from the lexical index or Chroma (which are live, not
snapshotted) whose ids are not in the snapshot are dropped, so a chunk added meanwhile is
simply not found yet and a chunk removed meanwhile is still served from the snapshot's copy:
its text is that of a version that existed.

The cost is memory: the chunks of the index as Python objects (they were held before too) and
one rebuild per store version, as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .question import mentioned_dates, outlet_aliases
from .schema import Chunk


@dataclass(frozen=True, eq=False)
class Snapshot:
    version: str | None
    chunks: tuple[Chunk, ...]
    pos: dict[str, int]  # chunk id -> position in ``chunks``
    doc_of: np.ndarray  # chunk position -> document number
    doc_chunks: tuple[np.ndarray, ...]  # document number -> chunk positions
    sources: tuple[str, ...]  # document number -> source
    doc_num: dict[str, int]  # source -> document number
    outlets: dict[str, frozenset[int]]  # outlet alias -> documents
    dates: dict[str, frozenset[int]]  # ISO date -> documents
    outlet_rx: re.Pattern | None  # any outlet alias, as a whole word

    @classmethod
    def of(cls, version: str | None, chunks: Iterable[Chunk]) -> Snapshot:
        chunks = tuple(chunks)
        doc_num: dict[str, int] = {}
        doc_of = np.empty(len(chunks), dtype=np.int64)
        outlets: dict[str, set[int]] = {}
        dates: dict[str, set[int]] = {}
        for i, c in enumerate(chunks):
            d = doc_num.get(c.source)
            if d is None:
                d = doc_num[c.source] = len(doc_num)
                for alias in outlet_aliases(c.outlet) if c.outlet else ():
                    outlets.setdefault(alias, set()).add(d)
                if c.date:
                    dates.setdefault(c.date[:10], set()).add(d)
            doc_of[i] = d
        order = np.argsort(doc_of, kind="stable")
        bounds = np.searchsorted(doc_of[order], np.arange(len(doc_num) + 1))
        names = sorted(outlets, key=len, reverse=True)
        doc_of.setflags(write=False)
        return cls(
            version=version,
            chunks=chunks,
            pos={c.id: i for i, c in enumerate(chunks)},
            doc_of=doc_of,
            doc_chunks=tuple(order[bounds[j] : bounds[j + 1]] for j in range(len(doc_num))),
            sources=tuple(doc_num),
            doc_num=doc_num,
            outlets={k: frozenset(v) for k, v in outlets.items()},
            dates={k: frozenset(v) for k, v in dates.items()},
            outlet_rx=re.compile(r"(?<![\w])(" + "|".join(map(re.escape, names)) + r")(?![\w])") if names else None,
        )

    @property
    def n_docs(self) -> int:
        return len(self.sources)

    def named(self, text: str) -> list[tuple[str, set[int]]]:
        """Outlets and dates the text names that some documents carry: [(name, documents)]."""
        found: list[tuple[str, set[int]]] = []
        if self.outlet_rx is not None:
            for m in self.outlet_rx.finditer(text):
                docs = self.outlets.get(m.group(1))
                if docs and all(docs != d for _, d in found):
                    found.append((m.group(1), set(docs)))
        for iso in mentioned_dates(text):
            docs = self.dates.get(iso)
            if docs:
                found.append((iso, set(docs)))
        return found

    def scope(self, docs: Iterable[str] | None) -> set[int] | None:
        """Document numbers of the sources (None: no scope, or one covering the whole index)."""
        if docs is None:
            return None
        scope = {self.doc_num[s] for s in docs if s in self.doc_num}
        return None if len(scope) == len(self.sources) else scope

    def positions(self, docs: set[int]) -> np.ndarray:
        """Chunk positions of the documents, document by document."""
        return np.concatenate([self.doc_chunks[d] for d in sorted(docs)]) if docs else np.zeros(0, dtype=np.int64)

    def source_of(self, doc: int) -> str:
        return self.sources[doc]


EMPTY = Snapshot.of(None, ())
