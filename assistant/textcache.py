"""A cache of document texts bounded by bytes, not by entries: what the evidence panel reads.

Showing a citation in its document needs the document's whole text (``documents.text_of``: the
text citation offsets index into), which for a PDF or a DOCX costs a parse of the file. The web
app keeps recent texts in memory. A bound on the number of entries (``lru_cache(maxsize=32)``,
before) bounds nothing useful: 32 book-length PDFs are gigabytes. So the bound is the texts'
size, ``text_cache_mb`` (Python ``str`` of mostly ASCII text: about a byte a character, 2 or 4 for
other scripts; ``sys.getsizeof`` measures what the interpreter really holds).

Design and trade-offs:

* **LRU by bytes.** Least recently used texts leave first until the total fits. A text larger
  than the whole budget is returned but not kept (it would evict everything, then itself).
* **Keyed by (path, mtime, size).** A changed file is a new key: its old text is never shown for
  it, and ages out. Reading happens outside the lock (parsing a PDF takes a while; two sessions
  asking for the same new file may both parse it once, which is cheaper than serialising every
  reader behind one slow parse).
"""

from __future__ import annotations

import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable


class TextCache:
    """Document texts by (path, mtime, size), at most ``max_bytes`` of them in memory."""

    def __init__(self, max_bytes: int, read: Callable[[str], str]):
        self.max_bytes = max(0, int(max_bytes))
        self.read = read
        self._items: OrderedDict[tuple[str, int, int], tuple[str, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.bytes = 0
        self.hits = self.misses = 0

    def text(self, source: str) -> str:
        """The document's text, from memory when its file is unchanged since it was read."""
        st = os.stat(source)
        key = (source, st.st_mtime_ns, st.st_size)
        with self._lock:
            got = self._items.get(key)
            if got is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return got[0]
            self.misses += 1
        text = self.read(source)
        self._put(key, text)
        return text

    def _put(self, key: tuple[str, int, int], text: str) -> None:
        size = sys.getsizeof(text)
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.bytes -= old[1]
            for stale in [k for k in self._items if k[0] == key[0]]:  # an older version of the same file
                self.bytes -= self._items.pop(stale)[1]
            self._items[key] = (text, size)
            self.bytes += size
            while self.bytes > self.max_bytes and self._items:
                _, (_, gone) = self._items.popitem(last=False)
                self.bytes -= gone

    def __len__(self) -> int:
        return len(self._items)
