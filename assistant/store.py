"""The chunk store: one Chroma collection, embedded (PersistentClient) or on a server (HttpClient).

We talk to chromadb directly rather than through llama-index's ChromaVectorStore because
incremental sync needs metadata-level reads and deletes (which files, which content hashes,
are they complete?) that the vector-store abstraction hides. Chunks carry everything needed
to cite them (source, title, date, start, end) and the document's outlet as metadata fields, so
the store is the single source of truth:
the lexical index (``assistant/lexical.py``, a file beside it) is a derived copy that readers
reconcile with the store's ids whenever the version stamp moves, so it cannot drift for long.

A ``version`` stamp in the collection's metadata changes on every write, so long-lived
readers (the web app) notice an ingest and refresh their lexical index. Embedded Chroma caches
its state per process, so when the stamp comes from another process (an ``assistant ingest``
beside a running ``assistant serve``) the reader reopens the folder (``reopen``). A Chroma server
(``ASSISTANT_CHROMA_URL``) needs none of this: every client sees every write.

Several app processes on one Chroma server (replicas) each keep their own lexical index file;
what they must not do is re-read the whole collection on every change. ``all_chunks`` is
incremental: a chunk id names immutable content, so a reader lists the ids (a few bytes each),
fetches only the new ones and drops the gone ones. Chroma keeps no change feed, and deletions
leave no trace, so a change counter written by the writers (chunks tagged with a sequence
number, tombstones for deletions) would make a reader's work proportional to the change alone,
but a writer that dies between its delete and its tombstone would leave every reader wrong
until a full rebuild; the id listing is self-healing and costs one cheap read per change
(``benchmarks/replicas.py`` measures it).
"""

from __future__ import annotations

import re
import threading
import uuid
from collections import defaultdict
from pathlib import PurePath
from urllib.parse import urlparse

from . import frontmatter
from .errors import InputError, StoreError
from .schema import Chunk
from .settings import Settings

# Version stamps this process wrote, or found when it opened a folder: a stamp outside this set
# was written by another process since (see Store.reopen).
_KNOWN_STAMPS: set[str] = set()
IN_BATCH = 1000  # sources per ``$in`` filter (see Store.nearest_within)
INTERNAL = "--"  # in a collection name: the assistant's own (``NAME--rebuild``), never listed or chosen
_NAME = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9._-]{1,510})[a-zA-Z0-9]")  # Chroma's rule


def check_name(name: str) -> str:
    """A collection name as Chroma takes it (3-512 of a-z A-Z 0-9 . _ -, alphanumeric at both ends), else InputError."""
    name = "" if name is None else str(name)
    if not _NAME.fullmatch(name):
        raise InputError(
            f"invalid collection name {name!r}: use 3-512 letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit"
        )
    if INTERNAL in name:
        raise InputError(f"invalid collection name {name!r}: '{INTERNAL}' is reserved for the assistant's own ones")
    return name


def _client(settings: Settings):
    """The Chroma client for the settings: a server's (``chroma_url``) or the embedded folder's."""
    import chromadb

    if settings.chroma_url:
        url = urlparse(settings.chroma_url if "//" in settings.chroma_url else "http://" + settings.chroma_url)
        client = chromadb.HttpClient(host=url.hostname or "127.0.0.1", port=url.port or 8000, ssl=url.scheme == "https")
        client.heartbeat()
        return client
    return chromadb.PersistentClient(path=settings.index_dir)


def collection_names(settings: Settings) -> list[str]:
    """The collections in the index, sorted; internal ones (``NAME--rebuild``) left out. Creates nothing."""
    where = settings.chroma_url or settings.index_dir
    try:
        names = {getattr(c, "name", c) for c in _client(settings).list_collections()}
    except Exception as e:  # chromadb raises many types; the user needs one clear line
        raise StoreError(f"cannot open the index at {where}: {_short(e)}") from e
    return sorted(str(n) for n in names if INTERNAL not in str(n))


# How ingest wrote the outlet and date into a chunk's prefix before they were fields of their own.
_OLD_OUTLET = re.compile(r"(?:^|\|\s)Source:\s*(.*?)\s*(?=\|\s(?:Author|Date|Category|Title):|$)")
_OLD_DATE = re.compile(r"(?:^|\|\s)Date:\s*([^|]*?)\s*(?=\||$)")


def _old_fields(context: str, title: str, source: str) -> tuple[str, bool, bool]:
    """(outlet, titled, dated) of a chunk written before they were stored as fields.

    Such chunks are kept, not re-chunked: their text, offsets and prefix are what ingest writes
    today for the same file (the prefix is byte-identical for the fixed keys it used to index),
    so re-embedding every existing index would buy nothing. Only these two fields are missing,
    and that old ingest wrote them into ``context`` in one fixed shape, read here and nowhere else.
    """
    m = _OLD_OUTLET.search(context)
    outlet = m.group(1) if m and m.group(1).lower() not in frontmatter.PLACEHOLDERS else ""
    d = _OLD_DATE.search(context)
    titled = context.startswith("Title: ") or title != PurePath(source).stem
    return outlet, titled, bool(d and frontmatter.normalize_date(d.group(1)))


def _chunk_from(id_: str, text: str, meta: dict) -> Chunk:
    context = meta.get("context", "")
    if "outlet" in meta:
        outlet, titled, dated = meta["outlet"], bool(meta.get("titled")), bool(meta.get("dated"))
    else:
        outlet, titled, dated = _old_fields(context, meta.get("title", ""), meta["source"])
    return Chunk(
        id=id_,
        source=meta["source"],
        title=meta.get("title", ""),
        date=meta.get("date", ""),
        doc_hash=meta["doc_hash"],
        start=int(meta["start"]),
        end=int(meta["end"]),
        text=text,
        context=context,
        outlet=outlet,
        titled=titled,
        dated=dated,
        page=meta.get("page"),
        section=meta.get("section", ""),
        page_starts=[int(x) for x in meta.get("page_starts") or []],
        section_starts=list(zip(map(int, meta.get("section_starts") or []), meta.get("section_titles") or [])),
    )


def _structure(c: Chunk) -> dict:
    """Page and heading fields of a chunk's metadata; Chroma takes no None and no empty list, so those are left out."""
    meta: dict = {"section": c.section}
    if c.page is not None:
        meta["page"] = c.page
    if c.page_starts:
        meta["page_starts"] = list(c.page_starts)
    if c.section_starts:
        meta["section_starts"] = [o for o, _ in c.section_starts]
        meta["section_titles"] = [t for _, t in c.section_starts]
    return meta


class Store:
    def __init__(self, settings: Settings, collection: str | None = None):
        self.settings = settings
        self.name = collection or settings.collection
        self.where = settings.chroma_url or settings.index_dir
        self._chunk_cache: dict[str, Chunk] = {}  # id -> chunk, as last listed by all_chunks
        self._cache_lock = threading.Lock()
        self.fetched = 0
        self._open()

    def _open(self) -> None:
        settings = self.settings
        try:
            self.client = _client(settings)
            self._finish_interrupted_rebuild()
            self.collection = _Guarded(
                self.client.get_or_create_collection(
                    self.name, metadata={"hnsw:space": "cosine"}, embedding_function=None
                ),
                self.where,
            )
            _KNOWN_STAMPS.add(self._stamp())  # what this process's fresh view already reflects
        except Exception as e:  # chromadb raises many types; the user needs one clear line
            raise StoreError(f"cannot open the index at {self.where}: {_short(e)}") from e

    # -- rebuilds ------------------------------------------------------------------------
    @property
    def rebuild_name(self) -> str:
        return f"{self.name}--rebuild"

    def _finish_interrupted_rebuild(self) -> None:
        """A crash between dropping the old collection and renaming the new one: finish the rename."""
        names = {getattr(c, "name", c) for c in self.client.list_collections()}
        if self.name not in names and self.rebuild_name in names:
            new = self.client.get_collection(self.rebuild_name)
            if (new.metadata or {}).get("rebuild_complete"):
                new.modify(name=self.name)

    def replace_with(self, rebuilt: Store) -> None:
        """Make a fully written rebuild collection this store's collection (old one dropped)."""
        rebuilt.update_metadata({"rebuild_complete": True})
        self.client.delete_collection(self.name)
        self.client.get_collection(rebuilt.name).modify(name=self.name)
        self._open()
        self.touch()

    def drop(self) -> None:
        try:
            self.client.delete_collection(self.name)
        except Exception:  # already gone
            pass

    # -- collection metadata -----------------------------------------------------------
    def metadata(self) -> dict:
        """The collection's own metadata (Chroma's ``hnsw:*`` creation options left out: they cannot be modified)."""
        meta = self.client.get_collection(self.name).metadata or {}
        return {k: v for k, v in meta.items() if not k.startswith("hnsw:")}

    def update_metadata(self, values: dict) -> None:
        """Merge into the collection's metadata (Chroma's modify replaces it whole)."""
        self.collection.modify(metadata={**self.metadata(), **values})

    def _stamp(self) -> str:
        return str((self.client.get_collection(self.name).metadata or {}).get("version", ""))

    def changed_elsewhere(self, version: str) -> bool:
        """Did another process write this version? Only matters for embedded Chroma (see reopen)."""
        return not self.settings.chroma_url and version.split(":")[0] not in _KNOWN_STAMPS

    def reopen(self) -> None:
        """Drop this process's cached embedded Chroma and read the folder afresh.

        Embedded Chroma keeps one in-process system per folder (chromadb's SharedSystemClient)
        whose vector segments do not learn of ids another process added: lookups of those ids
        fail. Evicting the cached system makes the next client load what is on disk. Threads
        still holding the old collection finish on it; it is not stopped under them.
        """
        if self.settings.chroma_url:
            return
        from chromadb.api.shared_system_client import SharedSystemClient

        SharedSystemClient._identifier_to_system.pop(getattr(self.client, "_identifier", ""), None)
        self._open()

    # -- reads -------------------------------------------------------------------------
    def version(self) -> str:
        """The collection's version stamp and chunk count: any write by any process changes it.

        A rebuild in another process (``replace_with``) swaps in a new collection under the same
        name; this Store's handle would still point at the dropped one, so it follows the name.
        """
        try:
            current = self.client.get_collection(self.name)
        except Exception as e:
            raise StoreError(f"cannot read the index at {self.where}: {_short(e)}") from e
        if current.id != self.collection.id:
            with self._cache_lock:
                self.collection, self._chunk_cache = _Guarded(current, self.where), {}
        return str((current.metadata or {}).get("version", "")) + f":{self.collection.count()}"

    def count(self) -> int:
        return self.collection.count()

    def doc_states(self, page: int = 5000) -> dict[str, dict[str, tuple[int, int]]]:
        """{source: {doc_hash: (chunks present, chunks expected)}} — what sync compares against."""
        states: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
        for _ids, _, metas in self._pages(include=["metadatas"], page=page):
            for m in metas:
                s = states[m["source"]][m["doc_hash"]]
                s[0] += 1
                s[1] = int(m.get("n_chunks", 0))
        return {src: {h: (v[0], v[1]) for h, v in hs.items()} for src, hs in states.items()}

    def documents(self) -> list[dict]:
        """One row per indexed document: source, title, date, chunks."""
        rows: dict[str, dict] = {}
        for _ids, _, metas in self._pages(include=["metadatas"]):
            for m in metas:
                r = rows.setdefault(
                    m["source"],
                    {"source": m["source"], "title": m.get("title", ""), "date": m.get("date", ""), "chunks": 0},
                )
                r["chunks"] += 1
        return sorted(rows.values(), key=lambda r: (r["title"].lower(), r["source"]))

    def all_chunks(self) -> list[Chunk]:
        """Every chunk, in the store's order; after the first call only the chunks added since are read.

        A long-lived reader (each app replica's retriever) calls this whenever the version stamp
        moves. Reading every chunk's text and metadata each time costs the whole collection per
        change (over HTTP, for a Chroma server); but an id names one immutable chunk (it holds the
        file's version key, see ``ingest.chunk_document``), so a listing of the ids (no text, no
        metadata: a few bytes each) says what changed: ids not seen before are fetched, ids gone
        are dropped, the rest come from this Store's memory. A first call, or one where most ids
        are new, pages through the collection as before.
        """
        with self._cache_lock:
            cache = self._chunk_cache
            ids = self.ids() if cache else []
            missing = [i for i in ids if i not in cache]
            if not cache or len(missing) > len(ids) // 2:
                fresh: dict[str, Chunk] = {}
                for page_ids, docs, metas in self._pages(include=["documents", "metadatas"]):
                    fresh.update((i, _chunk_from(i, d, m)) for i, d, m in zip(page_ids, docs, metas))
                ids = missing = list(fresh)  # the paged read is the newer listing; all of it was read
            else:
                fresh = {i: cache[i] for i in ids if i in cache}
                for b in range(0, len(missing), IN_BATCH):
                    got = self.collection.get(ids=missing[b : b + IN_BATCH], include=["documents", "metadatas"])
                    rows = zip(got["ids"], got["documents"], got["metadatas"])
                    fresh.update((i, _chunk_from(i, d, m)) for i, d, m in rows)
            self._chunk_cache = fresh
            self.fetched = len(missing)  # chunks read in full by this call (tests and benchmarks look)
            return [fresh[i] for i in ids if i in fresh]  # an id deleted between listing and fetch is left out

    def ids(self, page: int = 20_000) -> list[str]:
        """Every chunk id, in the store's order (ids only: the cheap listing ``all_chunks`` diffs)."""
        out: list[str] = []
        while True:
            got = self.collection.get(include=[], limit=page, offset=len(out))["ids"]
            if not got:
                return list(dict.fromkeys(out))  # a write between two pages can repeat an id
            out.extend(got)

    def chunks_of(self, source: str) -> list[Chunk]:
        got = self.collection.get(where={"source": source}, include=["documents", "metadatas"])
        chunks = [_chunk_from(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])]
        return sorted(chunks, key=lambda c: c.start)

    def query(self, embedding: list[float], n: int) -> list[tuple[Chunk, float]]:
        """Nearest chunks by cosine similarity (1 - cosine distance)."""
        n = min(n, self.count())
        if n <= 0:
            return []
        try:
            r = self.collection.query(
                query_embeddings=[embedding], n_results=n, include=["documents", "metadatas", "distances"]
            )
        except Exception as e:
            raise StoreError(f"cannot query the index at {self.where}: {_short(e)}") from e
        return [
            (_chunk_from(i, d, m), 1.0 - float(dist))
            for i, d, m, dist in zip(r["ids"][0], r["documents"][0], r["metadatas"][0], r["distances"][0])
        ]

    def nearest_within(self, embeddings: list[list[float]], n: int, sources: list[str]) -> list[list[str]]:
        """Ids of the n nearest chunks of each embedding among the chunks of ``sources``.

        Chroma applies the ``where`` filter before the nearest-neighbour search, so this is the n
        best *within* the sources, not the index's top n filtered afterwards (which would come
        back empty for a small document in a large index). Embedded Chroma binds each ``$in``
        value as an SQL variable and fails past SQLite's limit ("too many SQL variables", ~32k),
        so a long list is queried in batches of ``IN_BATCH`` and the hits merged by distance:
        the same result, one query per batch.
        """
        if n <= 0 or not sources:
            return [[] for _ in embeddings]
        hits: list[list[tuple[float, str]]] = [[] for _ in embeddings]
        for b in range(0, len(sources), IN_BATCH):
            batch = sources[b : b + IN_BATCH]
            where = {"source": batch[0]} if len(batch) == 1 else {"source": {"$in": batch}}
            try:
                r = self.collection.query(query_embeddings=embeddings, n_results=n, where=where, include=["distances"])
            except StoreError:
                raise
            except Exception as e:
                raise StoreError(f"cannot query the index at {self.where}: {_short(e)}") from e
            for q, (ids, dists) in enumerate(zip(r["ids"], r["distances"])):
                hits[q].extend(zip(map(float, dists), ids))
        return [[i for _, i in sorted(h)[:n]] for h in hits]

    def _pages(self, include: list[str], page: int = 5000):
        offset = 0
        while True:
            got = self.collection.get(include=include, limit=page, offset=offset)
            if not got["ids"]:
                return
            yield got["ids"], got.get("documents") or [None] * len(got["ids"]), got["metadatas"]
            offset += len(got["ids"])

    # -- writes ------------------------------------------------------------------------
    def upsert(self, chunks: list[Chunk], embeddings, n_chunks: dict[tuple[str, str], int]) -> None:
        if not chunks:
            return
        self.collection.upsert(
            ids=[c.id for c in chunks],
            embeddings=[list(map(float, e)) for e in embeddings],
            documents=[c.text for c in chunks],
            metadatas=[
                {
                    "source": c.source,
                    "title": c.title,
                    "date": c.date,
                    "doc_hash": c.doc_hash,
                    "start": c.start,
                    "end": c.end,
                    "context": c.context,
                    "outlet": c.outlet,
                    "titled": c.titled,
                    "dated": c.dated,
                    "n_chunks": n_chunks[(c.source, c.doc_hash)],
                    **_structure(c),
                }
                for c in chunks
            ],
        )

    def has_source(self, source: str) -> bool:
        return bool(self.collection.get(where={"source": source}, limit=1, include=[])["ids"])

    def delete_source(self, source: str, keep_hash: str | None = None) -> None:
        """Delete a file's chunks, all of them or all but one version."""
        where: dict = {"source": source}
        if keep_hash is not None:
            where = {"$and": [{"source": source}, {"doc_hash": {"$ne": keep_hash}}]}
        self.collection.delete(where=where)

    def touch(self) -> None:
        """Stamp a new version so other readers refresh their lexical index."""
        stamp = uuid.uuid4().hex
        _KNOWN_STAMPS.add(stamp)
        meta = {k: v for k, v in self.metadata().items() if k != "rebuild_complete"}
        self.collection.modify(metadata={**meta, "version": stamp})  # the space lives in the configuration


class _Guarded:
    """A Chroma collection whose calls turn a lost connection into a one-line StoreError.

    A long-lived process (the web app) keeps its client; when a Chroma server goes away
    mid-use, httpx's errors would otherwise escape as tracebacks. Other errors pass through.
    """

    def __init__(self, collection, where: str):
        self._collection, self._where = collection, where

    def __getattr__(self, name):
        attr = getattr(self._collection, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            try:
                return attr(*args, **kwargs)
            except Exception as e:
                if _is_connection_error(e):
                    raise StoreError(
                        f"lost the connection to the index at {self._where}: "
                        f"{_short(e)} (is the Chroma server running?)"
                    ) from e
                raise

        return call


def _is_connection_error(e: BaseException) -> bool:
    try:
        import httpx

        if isinstance(e, httpx.TransportError):
            return True
    except ImportError:  # pragma: no cover
        pass
    return isinstance(e, ConnectionError)


def _short(e: Exception) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return msg[:200]
