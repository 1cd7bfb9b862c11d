"""A persistent, incrementally updated lexical (BM25) index: one SQLite file with FTS5.

Why: the retriever used to build an in-memory BM25 index (bm25s) from *every* chunk in every
process at start and after every change: about 127 s and 1 GB per 100k chunks, repeated by each
app process. This index lives on disk beside the store, is updated by ingest chunk by chunk, and
a reader only has to open it (milliseconds) and reconcile the few ids that differ from the store.
``benchmarks/lexical.py`` compares it with tantivy and bm25s (``benchmarks/lexical.md``).

Design and trade-offs:

- **SQLite FTS5** (stdlib ``sqlite3``, no new dependency, no server): one file, transactions, so a
  batch is all-or-nothing even under kill -9; WAL mode, so one writer and many readers (threads or
  processes) proceed together. Each thread gets its own connection; writes in this process also
  take a lock, and other processes wait on SQLite's busy timeout.
- **Our tokenizer, not SQLite's**: the text is tokenized in Python by ``index_terms``, which *is*
  ``question.lexical_terms`` (``text.words``, stop words out, PyStemmer's English stemmer), and
  stored as space-separated terms; FTS5's ``unicode61`` tokenizer is configured to split on
  whitespace only (every other character category is a token character), so FTS5 terms are
  exactly our terms and "u.s", "don't" or "4,180"'s parts mean what they mean to the rest of the
  pipeline (question analysis, evidence coverage in ``answer.py``).
- **CJK text as character bigrams** (Lucene's CJKAnalyzer approach; no segmenter, no model):
  Chinese and Japanese have no spaces between words and Korean attaches particles to words, so
  each run of Han, kana or Hangul is indexed as its overlapping character bigrams ("发行总量" ->
  发行 行总 总量; a lone character as itself), NFKC-normalized. The same function analyses
  questions, so a Chinese question shares terms with a Chinese passage and its coverage counts.
  Measured (Rust by Example's zh/ja translations, a 4-character phrase of a random paragraph as
  the query, 200 each): SQLite's own tokenizers do not do this. ``unicode61`` keeps a whole run
  up to the next punctuation as one token (a phrase matches nothing: 0.98 / 0.97 of queries found
  nothing), and ``trigram`` finds no two-character word (most Chinese words) and would turn
  English into substrings; no ICU tokenizer in Python's SQLite. Bigrams put the phrase's
  paragraph first for 0.81 (zh) / 0.59 (ja) of queries, in the top 10 for 0.99 / 0.90, single
  characters for 0.53 / 0.29 and 0.94 / 0.74. The trade-off is recall over precision: a
  passage holding the bigrams apart (发行 ... 总量) also matches, and bigrams that straddle two
  words (的发) are noise terms (the top hit held the exact phrase for 0.95 / 0.93 of queries;
  single characters 0.65 / 0.54). And size: about one term per character, so CJK text takes
  about 10 bytes per character on disk (1.4x a whole-run index, and ~1.9x the English original
  of the same book's paragraphs). Text without CJK characters tokenizes exactly as before.
  ``TOKENIZER`` stamps the index: an index written by another version drops and re-adds (by
  reconcile, from the store) only its chunks with CJK terms.
- **Scores are bm25s's** ("lucene" BM25, k1 = 1.5, b = 0.75: a term adds idf * tf / (tf + k1 (1 -
  b + b dl / avgdl)), idf = ln(1 + (N - df + 0.5) / (df + 0.5))), so the mix with dense scores
  means what it meant. FTS5's own ``bm25()`` (Okapi, k1 = 1.2, an idf near 0 for a term in over
  half the chunks) only picks candidates: ``search`` matches the query's rarest terms (while their
  postings stay under ``POSTINGS_BUDGET``: FTS5 ranks *every* match, so a very common term would
  make a query cost the whole index), takes FTS5's best ``max(4k, 200)`` and rescores them exactly
  from their stored terms, N, the average length and each term's document frequency (FTS5's
  vocabulary table), every query term counting. On a small index that is exact; on a large one a
  chunk with none of the rare terms can be missed (benchmarks/lexical.md measures the overlap
  with bm25s's top 100).
- **Filtering by source** happens inside the query (a join on the chunk table), so a search within
  a few documents of a large index returns their best chunks, not the index's top k filtered.
- **Sync marker**: ``marker``/``set_marker`` store which store version the index reflects. A reader
  whose store version differs calls ``reconcile`` with the store's ids: ids only the store has are
  added (the caller supplies their text), ids only the index has are deleted: work proportional to
  the difference, plus one listing of ids, never a rebuild.

Costs (benchmarks/lexical.md): roughly 2.5x the raw text on disk; queries scan the postings of
their terms, so a query of very common words is slower than one of names. A search server
(Elasticsearch/OpenSearch, or tantivy behind a service) could replace this class behind the same
methods for indexes that outgrow one machine's disk or need many writers.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import sqlite3
import threading
import unicodedata
from collections.abc import Iterable

from .text import STOPWORDS, words


def _stemmer():
    try:
        import Stemmer

        return Stemmer.Stemmer("english").stemWords
    except ImportError:  # PyStemmer is optional; exact words still work
        return lambda ws: ws


_stem = _stemmer()  # one stemmer for indexing and querying (``question.lexical_terms`` is ``index_terms``)

K1, B = 1.5, 0.75  # bm25s's defaults (method "lucene")
MIN_CANDIDATES = 200  # FTS5 matches rescored per search, at least
POSTINGS_BUDGET = 20_000  # matches FTS5 ranks per search, about (see _selective)
DEFAULT_COLLECTION = "documents"  # Settings.collection's default
SCOPE_SCAN = 5_000  # a scope of at most this many chunks is scored chunk by chunk, exactly
_BATCH = 500  # ids per IN (...) list: well under SQLite's variable limit

#: The tokenizer's version, stamped in the index (meta 'tokenizer'). When ``index_terms`` changes
#: what it gives for some text, bump it: an index opened with another stamp drops the chunks whose
#: stored terms hold a CJK character (the only ones a change has touched so far) and clears its
#: marker, so the next reader's reconcile re-adds them from the store. English chunks stay.
#: 1 (no stamp): Han, kana and Hangul syllables bigrammed. 2: also 々〆〇, halfwidth katakana,
#: Hangul Jamo, Han extensions B-H; runs NFKC-normalized; terms in text order.
TOKENIZER = "2"

# Characters written without spaces between words: each run of them is indexed as bigrams.
_CJK_RANGES = (
    ("\u1100", "\u11ff"),  # Hangul Jamo
    ("\u3005", "\u3007"),  # 々 〆 〇
    ("\u3040", "\u30ff"),  # hiragana, katakana
    ("\u3130", "\u318f"),  # Hangul compatibility Jamo
    ("\u31f0", "\u31ff"),  # katakana phonetic extensions
    ("\u3400", "\u4dbf"),  # Han extension A
    ("\u4e00", "\u9fff"),  # Han
    ("\ua960", "\ua97f"),  # Hangul Jamo extended A
    ("\uac00", "\ud7ff"),  # Hangul syllables, Jamo extended B
    ("\uf900", "\ufaff"),  # Han compatibility ideographs
    ("\uff66", "\uff9f"),  # halfwidth katakana
    ("\U00020000", "\U000323af"),  # Han extensions B-H, compatibility supplement
)
_CJK_CLASS = "".join(f"{a}-{b}" for a, b in _CJK_RANGES)
_CJK = re.compile(f"[{_CJK_CLASS}]+")


def _bigrams(run: str) -> list[str]:
    run = unicodedata.normalize("NFKC", run)  # halfwidth kana as fullwidth, compatibility Han as unified
    return [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]


def index_terms(text: str) -> list[str]:
    """The terms a text is indexed and searched by (``question.lexical_terms`` is this function).

    ``text.words`` lower-cased, stop words out, PyStemmer's English stemmer; a word holding CJK
    characters gives its other parts as words and each CJK run as its overlapping character
    bigrams (a lone character as itself), in text order. Text without CJK characters takes the
    first branch only: exactly the terms of the word-only tokenizer before CJK support.
    """
    if text.isascii() or not _CJK.search(text):
        return _stem([w for w in words(text) if w not in STOPWORDS])
    plain: list[str] = []  # the words to stem, in order
    slots: list[str | None] = []  # a CJK term, or None where the next stemmed word goes

    def word(w: str) -> None:
        if w and w not in STOPWORDS:
            plain.append(w)
            slots.append(None)

    for w in words(text):
        if not _CJK.search(w):
            word(w)
            continue
        pos = 0
        for m in _CJK.finditer(w):
            word(w[pos : m.start()].strip("_.'’"))
            slots.extend(_bigrams(m.group()))
            pos = m.end()
        word(w[pos:].strip("_.'’"))
    stemmed = iter(_stem(plain))
    return [next(stemmed) if t is None else t for t in slots]


def index_path(settings, collection: str) -> str:
    """Where a collection's lexical index lives.

    Embedded Chroma: beside it, ``<index_dir>/lexical.sqlite3`` for the default collection
    ("documents"), ``<index_dir>/lexical-<name>.sqlite3`` for any other (one index folder holds
    several named collections: each needs its own statistics). A Chroma server: a per-server,
    per-collection cache file under ``model_cache`` (else ``index_dir``); it is only a cache,
    reconciled with the server's ids whenever the collection's version stamp moves.
    """
    if settings.chroma_url:
        key = hashlib.sha1(f"{settings.chroma_url}|{collection}".encode()).hexdigest()[:16]
        return os.path.join(settings.model_cache or settings.index_dir, "lexical", f"{key}.sqlite3")
    if collection == DEFAULT_COLLECTION:
        return os.path.join(settings.index_dir, "lexical.sqlite3")
    safe = re.sub(r"[^\w.-]", "_", collection)
    return os.path.join(settings.index_dir, f"lexical-{safe}.sqlite3")


_OPEN: dict[str, LexicalIndex] = {}
_OPEN_LOCK = threading.Lock()


def for_store(store) -> LexicalIndex:
    """The lexical index of a ``Store``'s collection, one instance per file in this process."""
    path = os.path.abspath(index_path(store.settings, store.name))
    with _OPEN_LOCK:
        ix = _OPEN.get(path)
        if ix is None:
            ix = _OPEN[path] = LexicalIndex(path)
        return ix


def _quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


class LexicalIndex:
    """BM25 over chunks, in one SQLite file; see the module docstring.

    Entries are ``(id, text, source)``: ``text`` is what is matched (the chunk's context prefix and
    text, as ``retrieve.py`` indexes them), ``source`` the file it belongs to.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        os.makedirs(os.path.dirname(os.path.abspath(self.path)) or ".", exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        db = self._db()
        with self._write_lock:
            db.execute("BEGIN IMMEDIATE")
            try:
                for sql in (
                    "CREATE TABLE IF NOT EXISTS chunks (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
                    " source TEXT NOT NULL, length INTEGER NOT NULL)",
                    "CREATE INDEX IF NOT EXISTS chunks_source ON chunks(source)",
                    "CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(terms, tokenize = "
                    "\"unicode61 remove_diacritics 0 categories 'L* N* Co M* P* S*'\")",
                    "CREATE VIRTUAL TABLE IF NOT EXISTS vocab USING fts5vocab(fts, row)",
                    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value)",
                    "INSERT OR IGNORE INTO meta VALUES ('n', 0), ('total', 0), ('marker', NULL)",
                ):
                    db.execute(sql)
                self._retokenize(db)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    @staticmethod
    def _retokenize(db) -> int:
        """Bring an index written by another ``TOKENIZER`` version up to this one; chunks dropped.

        Only chunks whose stored terms hold a CJK character can tokenize differently, so only they
        are dropped, and the marker is cleared: the next reader's reconcile re-adds them from the
        store's text under this tokenizer (embeddings are not touched). An English index is only
        stamped, after one scan of its vocabulary (about 1 s per 100k chunks, once); the stored
        terms are scanned only when the vocabulary has CJK terms (about 3 s per 100k chunks).
        """
        row = db.execute("SELECT value FROM meta WHERE key = 'tokenizer'").fetchone()
        if row is not None and str(row[0]) == TOKENIZER:
            return 0
        stale: list[int] = []
        cur = db.execute("SELECT term FROM vocab")
        cjk = any(_CJK.search(t) for (t,) in cur)
        cur.close()
        if cjk:
            stale = [r for r, terms in db.execute("SELECT rowid, terms FROM fts").fetchall() if _CJK.search(terms)]
        n = total = 0
        for b in range(0, len(stale), _BATCH):
            batch = stale[b : b + _BATCH]
            marks = ",".join("?" * len(batch))
            for (length,) in db.execute(f"SELECT length FROM chunks WHERE rowid IN ({marks})", batch).fetchall():
                n, total = n - 1, total - length
            db.execute(f"DELETE FROM fts WHERE rowid IN ({marks})", batch)
            db.execute(f"DELETE FROM chunks WHERE rowid IN ({marks})", batch)
        LexicalIndex._count(db, n, total)
        if stale:
            db.execute("UPDATE meta SET value = NULL WHERE key = 'marker'")
        db.execute("INSERT OR REPLACE INTO meta VALUES ('tokenizer', ?)", (TOKENIZER,))
        return len(stale)

    # -- connections ---------------------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at checkpoints, never corrupt
            db.execute("PRAGMA busy_timeout=60000")
            self._local.db = db
            with self._conns_lock:
                self._conns.append(db)
        return db

    def close(self) -> None:
        with self._conns_lock:
            for db in self._conns:
                try:
                    db.close()
                except sqlite3.Error:
                    pass
            self._conns.clear()
        self._local = threading.local()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _write(self, fn):
        """Run fn(db) in one IMMEDIATE transaction (all or nothing, even under kill -9)."""
        db = self._db()
        with self._write_lock:
            db.execute("BEGIN IMMEDIATE")
            try:
                out = fn(db)
                db.execute("COMMIT")
                return out
            except BaseException:
                db.execute("ROLLBACK")
                raise

    # -- writes ----------------------------------------------------------------------------
    def upsert(self, chunks: Iterable[tuple[str, str, str]], marker: str | None = None) -> int:
        """Add or replace entries ``(id, text, source)``; optionally set the marker in the same transaction."""
        rows = {cid: (index_terms(text), source) for cid, text, source in chunks}

        def run(db):
            n = total = 0
            ids = list(rows)
            for b in range(0, len(ids), _BATCH):
                batch = ids[b : b + _BATCH]
                old = db.execute(
                    f"SELECT rowid, length FROM chunks WHERE id IN ({','.join('?' * len(batch))})", batch
                ).fetchall()
                for rowid, length in old:
                    db.execute("DELETE FROM fts WHERE rowid = ?", (rowid,))
                    db.execute("DELETE FROM chunks WHERE rowid = ?", (rowid,))
                    n, total = n - 1, total - length
                for cid in batch:
                    terms, source = rows[cid]
                    cur = db.execute(
                        "INSERT INTO chunks (id, source, length) VALUES (?, ?, ?)", (cid, source, len(terms))
                    )
                    db.execute("INSERT INTO fts (rowid, terms) VALUES (?, ?)", (cur.lastrowid, " ".join(terms)))
                    n, total = n + 1, total + len(terms)
            self._count(db, n, total)
            if marker is not None:
                db.execute("UPDATE meta SET value = ? WHERE key = 'marker'", (marker,))
            return len(ids)

        return self._write(run)

    def delete(self, ids: Iterable[str], marker: str | None = None) -> int:
        """Remove entries by id (unknown ids are ignored); the number removed."""
        ids = list(dict.fromkeys(ids))

        def run(db):
            n = total = 0
            for b in range(0, len(ids), _BATCH):
                batch = ids[b : b + _BATCH]
                sql = f"SELECT rowid, length FROM chunks WHERE id IN ({','.join('?' * len(batch))})"
                for rowid, length in db.execute(sql, batch).fetchall():
                    db.execute("DELETE FROM fts WHERE rowid = ?", (rowid,))
                    db.execute("DELETE FROM chunks WHERE rowid = ?", (rowid,))
                    n, total = n - 1, total - length
            self._count(db, n, total)
            if marker is not None:
                db.execute("UPDATE meta SET value = ? WHERE key = 'marker'", (marker,))
            return -n

        return self._write(run)

    def delete_source(self, source: str, keep: Iterable[str] = ()) -> int:
        """Remove a file's entries, all of them or all but the ids in ``keep`` (ingest's 'other versions')."""
        keep = set(keep)
        ids = [i for (i,) in self._db().execute("SELECT id FROM chunks WHERE source = ?", (source,)) if i not in keep]
        return self.delete(ids) if ids else 0

    def clear(self) -> None:
        def run(db):
            db.execute("DELETE FROM fts")
            db.execute("DELETE FROM chunks")
            db.execute("UPDATE meta SET value = 0 WHERE key IN ('n', 'total')")
            db.execute("UPDATE meta SET value = NULL WHERE key = 'marker'")

        self._write(run)

    @staticmethod
    def _count(db, dn: int, dtotal: int) -> None:
        if dn or dtotal:
            db.execute("UPDATE meta SET value = value + ? WHERE key = 'n'", (dn,))
            db.execute("UPDATE meta SET value = value + ? WHERE key = 'total'", (dtotal,))

    # -- sync ------------------------------------------------------------------------------
    def marker(self) -> str | None:
        row = self._db().execute("SELECT value FROM meta WHERE key = 'marker'").fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def set_marker(self, marker: str | None) -> None:
        self._write(lambda db: db.execute("UPDATE meta SET value = ? WHERE key = 'marker'", (marker,)))

    def ids(self) -> set[str]:
        return {i for (i,) in self._db().execute("SELECT id FROM chunks")}

    def reconcile(self, wanted: Iterable[str], fetch, marker: str | None = None) -> tuple[int, int]:
        """Make the index hold exactly the ids in ``wanted``: (added, deleted).

        ``fetch(ids)`` returns the entries ``(id, text, source)`` of ids the index lacks (only
        those are read from the store). The marker is set with the last write, so an interrupted
        reconcile is simply redone.
        """
        wanted = set(wanted)
        have = self.ids()
        extra, missing = have - wanted, sorted(wanted - have)
        if extra:
            self.delete(extra)
        added = 0
        for b in range(0, len(missing), 5000):
            added += self.upsert(fetch(missing[b : b + 5000]))
        self.set_marker(marker)
        return added, len(extra)

    # -- reads -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._db().execute("SELECT value FROM meta WHERE key = 'n'").fetchone()[0])

    def _stats(self, db) -> tuple[int, float]:
        n, total = (int(v) for (v,) in db.execute("SELECT value FROM meta WHERE key IN ('n', 'total') ORDER BY key"))
        return n, (total / n if n else 1.0)

    def document_frequency(self, term: str) -> int:
        """Chunks containing an index term (as ``index_terms`` gives it)."""
        row = self._db().execute("SELECT doc FROM vocab WHERE term = ?", (term,)).fetchone()
        return int(row[0]) if row else 0

    def has_term(self, term: str) -> bool:
        return self.document_frequency(term) > 0

    @staticmethod
    def _df(db, terms: list[str]) -> dict[str, int]:
        out = {}
        for t in terms:
            row = db.execute("SELECT doc FROM vocab WHERE term = ?", (t,)).fetchone()
            if row and row[0]:
                out[t] = int(row[0])
        return out

    @staticmethod
    def _idf(df: dict[str, int], n: int, query: list[str]) -> dict[str, float]:
        """Each known query term's weight: its IDF times how often the query says it (as bm25s)."""
        return {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) * query.count(t) for t, d in df.items()}

    @staticmethod
    def _selective(idf: dict[str, float], df: dict[str, int]) -> list[str]:
        """The terms candidates are matched on: the rarest, while their postings stay under a budget.

        FTS5 ranks *every* chunk that matches; a term in most chunks would make a query cost the
        whole index and adds little to BM25. Candidates are the chunks having one of the rarer
        terms; the common ones still count in the exact rescoring.
        """
        picked: list[str] = []
        total = 0
        for t in sorted(idf, key=lambda t: df[t]):
            if picked and total + df[t] > POSTINGS_BUDGET:
                break
            picked.append(t)
            total += df[t]
        return picked

    @staticmethod
    def _bm25(stored: str, idf: dict[str, float], avgdl: float) -> float:
        toks = stored.split(" ") if stored else []
        norm = K1 * (1 - B + B * len(toks) / avgdl)
        score = 0.0
        for t, w in idf.items():
            f = toks.count(t)
            if f:
                score += w * f / (f + norm)
        return score

    def _sources_table(self, db, sources: set[str]) -> None:
        db.execute("CREATE TEMP TABLE IF NOT EXISTS scope (source TEXT PRIMARY KEY)")
        db.execute("DELETE FROM scope")
        db.executemany("INSERT OR IGNORE INTO scope VALUES (?)", [(s,) for s in sources])

    def search(self, query: str, k: int, sources: set[str] | None = None) -> list[tuple[str, float]]:
        """The k best chunks for the query: [(id, BM25 score)], best first, scores > 0.

        With ``sources``, only chunks of those files; the scores stay the whole index's (IDF and
        average length over all chunks), so a chunk scores the same in and out of a scope.
        """
        terms = index_terms(query)
        if not terms or k <= 0 or (sources is not None and not sources):
            return []
        db = self._db()
        db.execute("BEGIN")  # one snapshot for the statistics and the matches
        try:
            n, avgdl = self._stats(db)
            df = self._df(db, list(dict.fromkeys(terms)))
            idf = self._idf(df, n, terms)
            if not idf:
                return []
            limit = max(4 * k, MIN_CANDIDATES)
            rows = None
            if sources is not None:
                self._sources_table(db, set(sources))
                small = (
                    db.execute(
                        "SELECT count(*) FROM (SELECT 1 FROM chunks c JOIN scope s ON s.source = c.source LIMIT ?)",
                        (SCOPE_SCAN + 1,),
                    ).fetchone()[0]
                    <= SCOPE_SCAN
                )
                if small:  # a few documents: score every one of their chunks, exactly
                    rows = db.execute(
                        "SELECT f.rowid, f.terms FROM chunks c JOIN scope s ON s.source = c.source"
                        " JOIN fts f ON f.rowid = c.rowid"
                    ).fetchall()
            if rows is None:
                match = " OR ".join(_quote(t) for t in self._selective(idf, df))
                if sources is None:
                    rows = db.execute(
                        "SELECT rowid, terms FROM fts WHERE fts MATCH ? ORDER BY rank LIMIT ?", (match, limit)
                    ).fetchall()
                else:
                    rows = db.execute(
                        "SELECT rowid, terms FROM fts WHERE fts MATCH ? AND rowid IN "
                        "(SELECT c.rowid FROM chunks c JOIN scope s ON s.source = c.source) ORDER BY rank LIMIT ?",
                        (match, limit),
                    ).fetchall()
            scored = sorted(((self._bm25(t, idf, avgdl), r) for r, t in rows), key=lambda x: -x[0])[:k]
            ids = self._ids_of(db, [r for _, r in scored])
        finally:
            db.execute("COMMIT")
        return [(ids[r], s) for s, r in scored if s > 0 and r in ids]

    def _ids_of(self, db, rowids: list[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        for b in range(0, len(rowids), _BATCH):
            batch = rowids[b : b + _BATCH]
            out.update(db.execute(f"SELECT rowid, id FROM chunks WHERE rowid IN ({','.join('?' * len(batch))})", batch))
        return out

    def scores(self, query: str, ids: Iterable[str]) -> dict[str, float]:
        """BM25 of the given chunks for the query (0.0 for a chunk without its terms, or unknown)."""
        ids = list(dict.fromkeys(ids))
        out = dict.fromkeys(ids, 0.0)
        terms = index_terms(query)
        if not terms or not ids:
            return out
        db = self._db()
        db.execute("BEGIN")
        try:
            n, avgdl = self._stats(db)
            idf = self._idf(self._df(db, list(dict.fromkeys(terms))), n, terms)
            if idf:
                for b in range(0, len(ids), _BATCH):
                    batch = ids[b : b + _BATCH]
                    for cid, stored in db.execute(
                        "SELECT c.id, f.terms FROM chunks c JOIN fts f ON f.rowid = c.rowid "
                        f"WHERE c.id IN ({','.join('?' * len(batch))})",
                        batch,
                    ):
                        out[cid] = self._bm25(stored, idf, avgdl)
        finally:
            db.execute("COMMIT")
        return out

    def contains_all(self, terms: Iterable[str], sources: set[str] | None = None) -> bool:
        """Does one chunk (of ``sources``, if given) contain every one of the index terms?"""
        terms = list(dict.fromkeys(terms))
        if not terms or (sources is not None and not sources):
            return False
        db = self._db()
        match = " AND ".join(_quote(t) for t in terms)
        if sources is None:
            return db.execute("SELECT 1 FROM fts WHERE fts MATCH ? LIMIT 1", (match,)).fetchone() is not None
        db.execute("BEGIN")
        try:
            self._sources_table(db, set(sources))
            return (
                db.execute(
                    "SELECT 1 FROM fts WHERE fts MATCH ? AND rowid IN "
                    "(SELECT c.rowid FROM chunks c JOIN scope s ON s.source = c.source) LIMIT 1",
                    (match,),
                ).fetchone()
                is not None
            )
        finally:
            db.execute("COMMIT")

    def sources(self) -> set[str]:
        return {s for (s,) in self._db().execute("SELECT DISTINCT source FROM chunks")}
