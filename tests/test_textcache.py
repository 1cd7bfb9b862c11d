"""The document-text cache (assistant/textcache.py): bounded by bytes, least recently used out first,
a changed file read again. Real files; the reader is the project's own ``documents.text_of``."""

from __future__ import annotations

import os
import sys

from assistant.documents import text_of
from assistant.textcache import TextCache


def _doc(folder, name: str, n: int) -> str:
    path = folder / name
    path.write_text(f"Title: {name}\n\n" + "The river rose by a metre overnight. " * n, encoding="utf-8")
    return str(path)


def test_the_cache_holds_at_most_its_bytes_and_drops_the_least_recently_used(tmp_path):
    a, b, c = (_doc(tmp_path, f"{x}.txt", 300) for x in "abc")  # ~11 KB of text each
    size = sys.getsizeof(text_of(a))
    cache = TextCache(int(2.5 * size), text_of)
    assert cache.text(a) == text_of(a) and cache.text(b) == text_of(b)
    assert len(cache) == 2 and cache.bytes <= cache.max_bytes
    cache.text(a)  # a is now the most recent: c pushes b out
    cache.text(c)
    assert len(cache) == 2 and cache.bytes <= cache.max_bytes
    hits = cache.hits
    cache.text(a)
    cache.text(c)
    assert cache.hits == hits + 2  # both still cached
    misses = cache.misses
    cache.text(b)
    assert cache.misses == misses + 1  # b was the one dropped


def test_a_changed_file_is_read_again_and_a_text_larger_than_the_budget_is_not_kept(tmp_path):
    a = _doc(tmp_path, "a.txt", 50)
    cache = TextCache(1_000_000, text_of)
    first = cache.text(a)
    with open(a, "a", encoding="utf-8") as f:
        f.write("A new last sentence.")
    st = os.stat(a)
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert cache.text(a).endswith("A new last sentence.") and cache.text(a) != first
    assert len(cache) == 1  # the old version left with its bytes
    assert cache.bytes == sys.getsizeof(cache.text(a))
    big = _doc(tmp_path, "big.txt", 5_000)  # ~185 KB
    small = TextCache(50_000, text_of)
    assert small.text(big) == text_of(big) and len(small) == 0 and small.bytes == 0
